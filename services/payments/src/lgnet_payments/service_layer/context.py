"""What every payments use case needs: the transaction's connection, the key store, who acts and when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from lgnet_shared import outbox, pii, tracing
from lgnet_shared.access import Actor, Role, may_read_city, may_write_in_city
from lgnet_shared.codec import caused_by, to_envelope
from lgnet_shared.db import Conn, checked_then_locked
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import ContractError, Forbidden, NotFound
from lgnet_shared.events import Event

SOURCE = "/lgnet/payments"
IBAN_INDEX = "payments-iban-index"  # the purpose its secret is derived for (docs/payments.md, "Duplicates")
# What intake answers a partner for a household without its consent to sharing (intake's transfer to a partner): the
# desk says it in Italian (lgnet_desk.domain.refusals).
NOT_SHARED = "the household has not consented to sharing data with partners"


@dataclass(frozen=True)
class Context:
    """Who acts and when; `cause` is the consumed event when a use case runs from Kafka."""

    actor: Actor
    today: date
    cause: Envelope | None = None

    @property
    def city(self) -> str:
        if self.actor.city is None:
            raise Forbidden("", "the national role is read-only")
        return self.actor.city

    def write(self, city: str, field: str = "city") -> None:
        may_write_in_city(self.actor, city, field)

    def staff(self, city: str, what: str, field: str = "city") -> None:
        """Money decisions (budgets, approvals, batches, reconciliation) are the city's staff's."""
        self.write(city, field)
        if self.actor.role is not Role.STAFF:
            raise Forbidden("", f"only the city's staff may {what}")

    def read(self, city: str, field: str = "city") -> None:
        """Staff and partners read their own city; the national role reads nothing here: it sees only the
        suppressed national aggregate (reporting)."""
        if self.actor.role is Role.NATIONAL:
            raise Forbidden(field, "the national role sees only the suppressed national aggregate (reporting)")
        may_read_city(self.actor, city, field)

    def read_aggregates(self, city: str, field: str = "city") -> None:
        """A city's budget lines and their balances: its staff and partners, and the national role (money
        totals of the grant, no case, household or person in them)."""
        may_read_city(self.actor, city, field)

    def city_read(self, city: str | None) -> str:
        """The city whose totals are read: the one named, else the caller's; the national role (no city) names it."""
        if city is None and self.actor.role is Role.NATIONAL:
            raise ContractError("query.city", "the national role names the city whose totals it reads (?city=…)")
        return city or self.city

    def acts_in_a_city(self) -> None:
        """Every route but the cities' money totals: the national role is refused by role, before anything it names
        is looked up (a 403 for an id that exists and a 404 for one that does not told it which ids exist)."""
        if self.actor.role is Role.NATIONAL:
            raise Forbidden("", "the national role reads the cities' money totals only (budget lines, balances)")

    def elsewhere(self, city: str) -> bool:
        """The object is another city's: answered as absent (404, the reason of an id that does not exist), since a
        403 would tell a caller of another city that the id exists. The national role (no city) is refused by
        role instead, before the lookup (`acts_in_a_city`)."""
        return self.actor.city is not None and self.actor.city != city

    def on_case(
        self,
        case: Mapping[str, Any] | None,
        field: str = "case_id",
        *,
        read: bool = False,
        absent: NotFound | None = None,
    ) -> None:
        """Staff act on every case of their city; a partner only on a case assigned to it. A case whose partner
        payments has not learnt yet (no case_opened seen) is no partner's: denied, never assumed. Another city's
        case, and to a partner another partner's, is answered `absent`, word for word as the id the caller named
        (a case, a request, a voucher …) when it exists nowhere: a 403 told them which ids exist. A partner reads
        (`read`) its case's payments only while every member of the household has consented to sharing with partners
        (`partner_sharing` of `repository.case`: 403 else, as intake answers); its writes on the case are not refused
        so (intake's rule too)."""
        absent = absent or NotFound(field, "unknown case")
        if case is None or self.elsewhere(case["city"]):
            raise absent
        self.read(case["city"], field) if read else self.write(case["city"], field)
        if self.actor.role is Role.PARTNER and case["partner"] != self.actor.id:
            raise absent
        if read and self.actor.role is Role.PARTNER and not case.get("partner_sharing", False):
            raise Forbidden(field, NOT_SHARED)

    def on_household(self, cases: Sequence[Mapping[str, Any]], field: str = "household_id") -> None:
        """A household named by a caller who knows it: the city's staff (a case of the household in their city), a
        partner (a case of the household assigned to it). Any other — unknown, another city's, only other partners'
        cases — is one 404 said the same way: a household is people, and housing's household routes answer so too
        (docs/partners.md, "What is not yours"). A partner reads it only while every member has consented to
        sharing with partners (403 else, as `on_case` for a read)."""
        known = [c for c in cases if c["city"] == self.city and self.partner in (None, c["partner"])]
        if not known:
            raise NotFound(field, "unknown household")
        if self.partner is not None and not any(c.get("partner_sharing", False) for c in known):
            raise Forbidden(field, NOT_SHARED)

    @property
    def partner(self) -> str | None:
        """The partner whose cases a listing is limited to (None: staff see the whole city)."""
        return self.actor.id if self.actor.role is Role.PARTNER else None


SYSTEM = Actor("payments-policy", Role.STAFF, None)


@dataclass
class UnitOfWork:
    """One transaction: state changes and the events they cause, committed together (outbox)."""

    conn: Conn
    keys: pii.KeyStore | None = None

    async def emit(self, ctx: Context, city: str, *events: Event) -> None:
        if ctx.cause is not None:
            envs = [caused_by(ctx.cause, e, source=SOURCE) for e in events]
        else:
            tp = tracing.current_traceparent()
            envs = [to_envelope(e, source=SOURCE, city=city, partner=ctx.actor.partner, traceparent=tp) for e in events]
        await outbox.append(self.conn, envs)

    def iban_index(self, iban: str) -> str:
        """The keyed blind index of an IBAN in electronic form: compares payees without keeping the IBAN."""
        return self.key_store().blind_index(IBAN_INDEX, iban)

    def key_store(self) -> pii.KeyStore:
        if self.keys is None:
            raise RuntimeError("this use case needs the key store")
        return self.keys


# The rows of a city that its staff change, by their key: `staffs_row`'s tables.
STAFFS_ROWS = {"providers": ("provider_id", "provider"), "batches": ("batch_id", "batch")}


async def staffs_row(uow: UnitOfWork, ctx: Context, table: str, value: str, what: str) -> dict[str, Any]:
    """A row of `table` (`STAFFS_ROWS`: a provider, a batch) that the city's staff change (`what` they do), locked
    once the caller is seen to be its city's staff (`checked_then_locked`): locked first, another city's staff,
    refused, held it until its transaction ended and the city's staff waited for it. Another city's row is answered
    as one that does not exist."""
    key, noun = STAFFS_ROWS[table]

    def check(row: Any) -> None:
        ctx.staff(ctx.city, what)  # by role first: a partner is told nothing of which ids exist
        if row is None or ctx.elsewhere(row["city"]):
            raise NotFound(key, f"no {noun} {value}")
        ctx.staff(row["city"], what)

    def read(lock: bool) -> Any:
        return uow.conn.fetchrow(f"select * from {table} where {key} = $1" + (" for update" if lock else ""), value)

    return dict(await checked_then_locked(read, check))
