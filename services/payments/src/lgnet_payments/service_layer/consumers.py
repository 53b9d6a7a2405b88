"""What payments learns from other services' events. Each handler runs inside the consumer's transaction with
the inbox record (lgnet_shared.consumer): a redelivered event has no effect. Intake's case handlers are registered
pipelined (entrypoints.consumers): one write each, never reading `execute`'s status nor catching a failing statement
— keep them so, or register them plain."""

from __future__ import annotations

from collections.abc import Callable

from lgnet_shared import clock, partner_sharing, pii
from lgnet_shared.consumer import EventHandler
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev

from lgnet_payments.adapters import repository as repo
from lgnet_payments.service_layer import contributions, erasure
from lgnet_payments.service_layer.context import SYSTEM, Context, UnitOfWork


async def case_opened(conn: Conn, env: Envelope, event: Event) -> None:
    assert isinstance(event, iev.CaseOpened)
    await repo.upsert_case(conn, event.case_id, event.household_id, event.city, event.partner, event.opened_on)


async def case_transferred(conn: Conn, env: Envelope, event: Event) -> None:
    assert isinstance(event, iev.CaseTransferred)
    await conn.execute("update cases set partner = $2 where case_id = $1", event.case_id, event.to_partner)


async def case_closed(conn: Conn, env: Envelope, event: Event) -> None:
    assert isinstance(event, iev.CaseClosed)
    await repo.close_case(conn, event.case_id, event.closed_on)


async def consent_recorded(conn: Conn, env: Envelope, event: Event) -> None:
    """A person's consent to sharing with partners, given or withdrawn: what a partner may read of her households'
    payments follows it from now on (`Context.on_case`). Consents for other purposes are not payments' concern."""
    assert isinstance(event, iev.ConsentRecorded)
    if event.purpose is iev.ConsentPurpose.PARTNER_SHARING:
        await partner_sharing.record(conn, event.person_id, event.granted, event.recorded_on)


def household_formed(keys: Callable[[], pii.KeyStore | None]) -> EventHandler:
    """A household's members; one erased before this fact was read shreds its bank data (erasure)."""

    async def handle(conn: Conn, env: Envelope, event: Event) -> None:
        assert isinstance(event, iev.HouseholdFormed)
        members = [event.reference_person_id, *event.member_ids]
        await repo.upsert_household(conn, event.household_id, event.city, members)
        await erasure.erase_if_a_member_was_erased(conn, _started(keys), event.household_id, members)

    return handle


def household_member_joined(keys: Callable[[], pii.KeyStore | None]) -> EventHandler:
    """A new member; one erased before this fact was read shreds the household's bank data (erasure)."""

    async def handle(conn: Conn, env: Envelope, event: Event) -> None:
        assert isinstance(event, iev.HouseholdMemberJoined)
        await repo.add_members(conn, event.household_id, [event.person_id])
        await erasure.erase_if_a_member_was_erased(conn, _started(keys), event.household_id, [event.person_id])

    return handle


def person_erased(keys: Callable[[], pii.KeyStore | None]) -> EventHandler:
    """A person's erasure shreds their households' bank data here (erasure.erase_person)."""

    async def handle(conn: Conn, env: Envelope, event: Event) -> None:
        assert isinstance(event, iev.PersonErased)
        await erasure.erase_person(conn, _started(keys), event.person_id, event.erased_on)

    return handle


def _started(keys: Callable[[], pii.KeyStore | None]) -> pii.KeyStore:
    """The started runtime's key store (consumers are declared before it starts)."""
    store = keys()
    assert store is not None, "the runtime is started before its consumers run"
    return store


async def lease_signed(conn: Conn, env: Envelope, event: Event) -> None:
    """The city's policy: a signed lease creates a lease-activation request (and one for the deposit)."""
    assert isinstance(event, hev.LeaseSigned)
    ctx = Context(SYSTEM, clock.today(), cause=env)
    await contributions.requests_for_signed_lease(
        UnitOfWork(conn),
        ctx,
        lease_id=event.lease_id,
        case_id=event.case_id,
        household_id=event.household_id,
        city=event.city,
        monthly_rent_cents=event.monthly_rent_cents,
        deposit_cents=event.deposit_cents,
        signed_on=event.signed_on,
    )
