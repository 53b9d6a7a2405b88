"""Intake's events in: they build the waiting list (households, members, cases, needs) and take households off
it (case closed, person erased). Each handler runs in the consumer's transaction with the inbox record, then
re-runs the city's matching when the city's rules ask for it (`auto_match`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lgnet_shared import clock, partner_sharing
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as ev

from lgnet_housing.adapters import repository as repo
from lgnet_housing.domain import explain
from lgnet_housing.service_layer.handlers import Context, Housing, lock_city

Handler = Callable[[Conn, Envelope, Event], Awaitable[None]]


def _ctx(env: Envelope) -> Context:
    return Context(today=clock.today(), cause=env)


async def _changed(conn: Conn, env: Envelope, household_ids: list[str]) -> None:
    """A household changed: withdraw proposals it no longer fits, then match the city again."""
    if not household_ids:
        return  # e.g. a person registered before their household is formed: nothing to match yet
    housing, ctx = Housing(conn), _ctx(env)
    for hid in household_ids:
        await housing.recheck_household(ctx, hid)
    await housing.rematch_if_auto(ctx, env.city)


async def _leave(conn: Conn, env: Envelope, household_id: str, why: str) -> None:
    """The household leaves the waiting list: a proposed or accepted match is withdrawn (by the household)."""
    housing, ctx = Housing(conn), _ctx(env)
    live = await repo.live_match_of(conn, household_id)
    if live is not None and live["status"] in ("proposed", "accepted"):
        await housing.end_match(ctx, live, "cancelled", hev.DeclinedBy.HOUSEHOLD, why, ctx.today)
    await housing.rematch_if_auto(ctx, env.city)


async def person_registered(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.upsert_person(
        conn, e.person_id, e.household_id, e.birth_date, e.sex.value, list(e.languages), minor=e.minor
    )
    await _changed(conn, env, await repo.households_with(conn, e.person_id))


async def person_updated(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.update_person(conn, e.person_id, e.birth_date, e.sex.value if e.sex else None, minor=e.minor)
    await _changed(conn, env, await repo.households_with(conn, e.person_id))


async def household_formed(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.upsert_household(conn, e.household_id, e.city, list(e.member_ids))
    if await repo.erased_member(conn, e.household_id):  # intake forms none with an erased person: it came late
        await _erased_in(conn, env, e.household_id)
        return
    await _changed(conn, env, [e.household_id])


async def member_joined(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.change_member(conn, e.household_id, e.person_id, joined=True)
    if await repo.erased_member(conn, e.household_id):
        await _erased_in(conn, env, e.household_id)
        return
    await _changed(conn, env, [e.household_id])


async def member_left(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.change_member(conn, e.household_id, e.person_id, joined=False)
    await _changed(conn, env, [e.household_id])


async def case_opened(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.set_minors(conn, e.minors or {})
    existing = await repo.case(conn, e.case_id)
    if existing is None:
        await repo.upsert_case(conn, e.case_id, e.household_id, e.city, e.partner, e.opened_on, e.housing_need)
    else:  # needs were assessed before the opening reached us
        await repo.open_case_opened(conn, e.case_id, e.household_id, e.city, e.partner, e.opened_on, e.housing_need)
    if await repo.erased_member(conn, e.household_id, e.opened_on):  # opened before a member's erasure
        await _erased_in(conn, env, e.household_id)
    elif e.housing_need:
        await _changed(conn, env, [e.household_id])


async def needs_assessed(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.assess_case(
        conn,
        e.case_id,
        e.household_id,
        {
            "monthly_income_cents": e.monthly_income_cents,
            "accessibility_needs": e.accessibility_needs,
            "specialist_support": e.specialist_support,
            "eviction_date": e.eviction_date,
            "vulnerabilities": list(e.vulnerabilities),
            "housing_situation": e.housing_situation.value,
        },
    )
    if await repo.erased_member(conn, e.household_id, e.assessed_on):  # it said the erased member's needs
        await _erased_in(conn, env, e.household_id)
        return
    await _changed(conn, env, [e.household_id])


async def case_transferred(conn: Conn, env: Envelope, e: Any) -> None:
    await repo.transfer_case(conn, e.case_id, e.to_partner)


async def case_closed(conn: Conn, env: Envelope, e: Any) -> None:
    case = await repo.case(conn, e.case_id)
    if case is None:
        return
    await repo.close_case(conn, e.case_id, e.closed_on)
    await _leave(conn, env, case["household_id"], "case_closed")


async def persons_merged(conn: Conn, env: Envelope, e: Any) -> None:
    """The households naming the merged record name her survivor. The merged record is kept: a partner whose
    registration was merged into another party's person forms its household with its own registration's id after the
    merge (intake, docs/partners.md "What is not yours"), and housing, having deleted her, blocked that household for
    good as `composition_incomplete`. Her erasure erases every record of hers (intake's `person_erased` for each)."""
    households = await repo.replace_member(conn, e.merged_person_id, e.surviving_person_id)
    await _changed(conn, env, households)


async def consent_recorded(conn: Conn, env: Envelope, e: Any) -> None:
    """A person's consent to sharing with partners, given or withdrawn: what a partner may read of her households
    (handlers.Housing's reads) follows it from now on. Consents for other purposes are not housing's concern."""
    if e.purpose is ev.ConsentPurpose.PARTNER_SHARING:
        await partner_sharing.record(conn, e.person_id, e.granted, e.recorded_on)


async def person_erased(conn: Conn, env: Envelope, e: Any) -> None:
    """The person is gone from housing's tables; their household leaves the waiting list, and what housing kept of
    its needs (which it cannot tell apart by member) goes: from its cases, and from its proposals' explanations as
    anyone outside the case reads them (the rules and whether each passed, the fit; not the priority's terms)."""
    await repo.delete_person(conn, e.person_id)
    await repo.record_erasure(conn, e.person_id, e.erased_on)
    for hid in await repo.households_with(conn, e.person_id):
        await _erased_in(conn, env, hid)


async def _erased_in(conn: Conn, env: Envelope, household_id: str) -> None:
    """The erasure's treatment of a household, also for its facts of before the erasure that reach housing after
    it (intake's topics and partitions are read apart: a lagging consumer, a rebuild from the log)."""
    await repo.remove_from_list(conn, household_id, "person_erased: a member of the household was erased")
    await _leave(conn, env, household_id, "person_erased")
    await repo.forget_needs(conn, household_id)
    for m in await repo.explanations_of(conn, household_id):
        await repo.replace_explanation(
            conn, m["match_id"], *explain.outside_the_case(m["explanation"], m["score_breakdown"])
        )


def _serialised(handler: Callable[[Conn, Envelope, Any], Awaitable[None]]) -> Handler:
    """Locks first, always in the same order: the consumer's own lock, then the city's (see Housing.lock_city).
    The consumer works on several partitions at once, each in one transaction that may meet several cities;
    taking the consumer's lock first keeps two such transactions from locking two cities in opposite orders."""

    async def handle(conn: Conn, env: Envelope, event: Event) -> None:
        await conn.execute("select pg_advisory_xact_lock(hashtext('housing-intake-consumer'))")
        await lock_city(conn, env.city)
        await handler(conn, env, event)

    return handle


HANDLERS: dict[str, Handler] = {
    ev.PersonRegistered.type: _serialised(person_registered),
    ev.PersonUpdated.type: _serialised(person_updated),
    ev.HouseholdFormed.type: _serialised(household_formed),
    ev.HouseholdMemberJoined.type: _serialised(member_joined),
    ev.HouseholdMemberLeft.type: _serialised(member_left),
    ev.CaseOpened.type: _serialised(case_opened),
    ev.NeedsAssessed.type: _serialised(needs_assessed),
    ev.CaseTransferred.type: _serialised(case_transferred),
    ev.CaseClosed.type: _serialised(case_closed),
    ev.PersonsMerged.type: _serialised(persons_merged),
    ev.PersonErased.type: _serialised(person_erased),
    ev.ConsentRecorded.type: _serialised(consent_recorded),
}
