"""What every payments use case needs: the transaction's connection, the key store, who acts and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lgnet_shared import outbox, pii, tracing
from lgnet_shared.access import Actor, Role, may_read_city, may_write_in_city
from lgnet_shared.codec import caused_by, to_envelope
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import Forbidden
from lgnet_shared.events import Event

SOURCE = "/lgnet/payments"


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

    def staff(self, city: str, what: str) -> None:
        """Money decisions (budgets, approvals, batches, reconciliation) are the city's staff's."""
        self.write(city)
        if self.actor.role is not Role.STAFF:
            raise Forbidden("", f"only the city's staff may {what}")

    def read(self, city: str, field: str = "city") -> None:
        may_read_city(self.actor, city, field)


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

    def key_store(self) -> pii.KeyStore:
        if self.keys is None:
            raise RuntimeError("this use case needs the key store")
        return self.keys
