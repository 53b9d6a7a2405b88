"""Rights before row locks, against real PostgreSQL. A write locks the rows it changes (a case, a household, a
person, an appointment, a street person) so that two writers at once each see the other's; the lock was taken
before the caller's rights were checked, so a caller refused — a partner of another city, another partner's case,
another city's staff — held the row locked until its own transaction ended, and the rightful writer waited for it.
Here the refused call's transaction is left open (as a gatekeeper's batch or a slow request would): the rightful
writer, under a short `lock_timeout`, must not wait for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Actor, Role
from lgnet_intake.service_layer import commands as cmd
from lgnet_intake.service_layer import outreach as uc
from lgnet_intake.service_layer.handlers import Context, Intake
from lgnet_shared import clock
from lgnet_shared.errors import Forbidden, NotFound
from lgnet_shared.events import outreach as oev
from lgnet_shared.events import partner as inbound
from test_registration_store import KEYS, SECRET, intake_pool, the_second_waits_for_the_first

pytestmark = pytest.mark.integration

# The callers, of those conftest provisions (`intake_actors`)
CITIES = {"staff-torino": "torino", "staff-trieste": "trieste", "coop-aurora": "torino", "coop-borgo": "torino",
          "coop-carso": "trieste"}  # fmt: skip


def as_(name: str) -> Context:
    """The caller acting today (the city's, when it acts: a run may cross Rome's midnight)."""
    return Context(Actor(name, Role.STAFF if name.startswith("staff") else Role.PARTNER, CITIES[name]), clock.today())


@pytest.fixture
async def pool(
    database_url: str, pg_schema: str, intake_actors: list[tuple[str, Role, str | None]]
) -> AsyncIterator[Any]:
    """Torino: Amina (p-1), Omar (p-2) and Ada (p-3), registered by coop-aurora, household h-1 of Amina with case c-1
    (coop-aurora's), household h-2 of Ada (no case), an appointment with Amina booked by coop-aurora, a street
    contact ct-1 of coop-aurora's unit; Trieste: Yusuf (t-1), registered by coop-carso."""
    async with intake_pool(database_url, pg_schema) as pool:
        async with pool.acquire() as conn, conn.transaction():
            for name, role, city in intake_actors:
                await credentials.add_actor(conn, name, role, city, name)
            intake = Intake(conn, KEYS, SECRET)
            for ctx, pid in [(as_("coop-aurora"), p) for p in ("p-1", "p-2", "p-3")] + [(as_("coop-carso"), "t-1")]:
                await intake.register_person(
                    ctx, cmd.RegisterPerson(person_id=pid, birth_date=date(1990, 1, 1), sex="female", nationality="SN")
                )
            aurora = as_("coop-aurora")
            await intake.form_household(
                aurora,
                inbound.HouseholdFormationSubmitted(household_id="h-1", reference_person_id="p-1", member_ids=["p-1"]),
            )
            await intake.form_household(
                aurora,
                inbound.HouseholdFormationSubmitted(household_id="h-2", reference_person_id="p-3", member_ids=["p-3"]),
            )
            opening = cmd.OpenCase(
                case_id="c-1",
                household_id="h-1",
                action_area="taking_charge",
                channel="desk",
                opened_on=clock.today() - timedelta(days=30),
            )
            await intake.open_case(aurora, opening)
            await outreach(intake).book(aurora, booking("apt-1"))
            unit = uc.RegisterMobileUnit(unit_id="u-1", name="Nord", area="Centro", partner="coop-aurora", team_size=2)
            await outreach(intake).register_unit(as_("staff-torino"), unit)
            met = clock.today() - timedelta(days=2)
            outing = oev.OutingSubmitted(
                outing_id="o-1", unit_id="u-1", on=met, start_time=time(20), end_time=time(23), places=["Stazione"],
                staff=["op-marco"],
            )  # fmt: skip
            await outreach(intake).record_outing(aurora, outing)
            contact = uc.RecordStreetContact(
                contact_id="ct-1", outing_id="o-1", contacted_on=met, age_band="30_44", sex="male", place="Stazione",
                nickname="il Rosso",
            )  # fmt: skip
            await outreach(intake).record_contact(aurora, contact)
        yield pool


def outreach(intake: Intake) -> uc.Outreach:
    return uc.Outreach(intake, b"nickname-secret")


def booking(appointment_id: str) -> oev.AppointmentBookingSubmitted:
    starts = datetime.combine(clock.today() + timedelta(days=3), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    return oev.AppointmentBookingSubmitted(
        appointment_id=appointment_id, agenda="desk", operator="op-giulia", person_id="p-1",
        purpose="first_interview", starts_at=starts, ends_at=starts + timedelta(minutes=30),
    )  # fmt: skip


Call = Callable[[Intake], Awaitable[Any]]


def closing(on: date) -> inbound.CaseClosureSubmitted:
    return inbound.CaseClosureSubmitted(case_id="c-1", outcome="other", closed_on=on)


def joining(person_id: str) -> inbound.HouseholdMemberChangeSubmitted:
    return inbound.HouseholdMemberChangeSubmitted(
        household_id="h-1", person_id=person_id, change="joined", reason="reunification", on=clock.today()
    )


def corrected(ctx: Context, person_id: str) -> Call:
    return lambda i: i.update_person(ctx, person_id, cmd.UpdatePerson(languages=["fr"]))


def cancelled() -> uc.CancelAppointment:
    return uc.CancelAppointment(reason="by_person", on=clock.today())


async def street_id(i: Intake) -> str:
    return str(await i.conn.fetchval("select street_id from street_contacts where contact_id = 'ct-1'"))


async def street_person_erased_by_another_city(i: Intake) -> Any:
    return await outreach(i).erase_street_person(as_("staff-trieste"), await street_id(i))


async def street_person_read_by_another_partner(i: Intake) -> Any:
    return await outreach(i).street_person(as_("coop-borgo"), await street_id(i))


def linked(i: Intake) -> Awaitable[Any]:
    return outreach(i).link_contact(
        as_("coop-aurora"), "ct-1", uc.LinkStreetContact(person_id="p-1", linked_on=clock.today())
    )


# (what the refused caller tries, what the rightful writer does at that moment): each pair locks the same row
RACES: dict[str, tuple[Call, Call]] = {
    # a case (every step of a case: `_case_for_write`)
    "another partner's case": (
        lambda i: i.close_case(as_("coop-borgo"), closing(clock.today())),
        lambda i: i.close_case(as_("coop-aurora"), closing(clock.today())),
    ),
    "another city's partner on a case": (
        lambda i: i.close_case(as_("coop-carso"), closing(clock.today())),
        lambda i: i.close_case(as_("coop-aurora"), closing(clock.today())),
    ),
    "another city's staff on a case": (
        lambda i: i.close_case(as_("staff-trieste"), closing(clock.today())),
        lambda i: i.close_case(as_("coop-aurora"), closing(clock.today())),
    ),
    # a household (its members' changes, a case opened on it)
    "another partner's household": (
        lambda i: i.change_household(as_("coop-borgo"), joining("p-2")),
        lambda i: i.change_household(as_("coop-aurora"), joining("p-2")),
    ),
    "another city's partner on a household": (
        lambda i: i.change_household(as_("coop-carso"), joining("t-1")),
        lambda i: i.change_household(as_("coop-aurora"), joining("p-2")),
    ),
    "another partner naming a household's reference person": (
        lambda i: i.change_reference_person(
            as_("coop-borgo"),
            inbound.HouseholdReferencePersonChangeSubmitted(
                household_id="h-1", person_id="p-2", reason="moved", on=clock.today()
            ),
        ),
        lambda i: i.change_household(as_("coop-aurora"), joining("p-2")),
    ),
    "a case opened on another partner's household": (
        lambda i: i.open_case(
            as_("coop-borgo"),
            cmd.OpenCase(
                case_id="c-2",
                household_id="h-1",
                action_area="housing_inclusion",
                channel="desk",
                opened_on=clock.today(),
            ),
        ),
        lambda i: i.change_household(as_("coop-aurora"), joining("p-2")),
    ),
    # a person (her update, her erasure, a merge)
    "another partner's person": (corrected(as_("coop-borgo"), "p-1"), corrected(as_("coop-aurora"), "p-1")),
    "another city's partner on a person": (corrected(as_("coop-carso"), "p-1"), corrected(as_("coop-aurora"), "p-1")),
    "another city's staff erasing a person": (
        lambda i: i.erase_person(as_("staff-trieste"), "p-1"),
        corrected(as_("coop-aurora"), "p-1"),
    ),
    "another city's person merged": (
        lambda i: i.merge_persons(as_("staff-torino"), "p-2", cmd.MergePersons(merged_person_id="t-1")),
        corrected(as_("coop-carso"), "t-1"),
    ),
    # an appointment
    "an appointment booked by another partner": (
        lambda i: outreach(i).cancel(as_("coop-borgo"), "apt-1", cancelled()),
        lambda i: outreach(i).cancel(as_("coop-aurora"), "apt-1", cancelled()),
    ),
    "another city's appointment": (
        lambda i: outreach(i).cancel(as_("coop-carso"), "apt-1", cancelled()),
        lambda i: outreach(i).cancel(as_("coop-aurora"), "apt-1", cancelled()),
    ),
    # a street person (its erasure; a read, which locked it too)
    "another city's staff erasing a street person": (street_person_erased_by_another_city, linked),
    "another partner reading a street person": (street_person_read_by_another_partner, linked),
}


@pytest.mark.parametrize("race", RACES)
async def test_a_refused_caller_does_not_hold_the_row_the_rightful_writer_needs(pool: Any, race: str) -> None:
    refused, rightful = RACES[race]
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            with pytest.raises((Forbidden, NotFound)):  # another city's object: as one that exists nowhere
                await refused(Intake(conn, KEYS, SECRET))
            # its transaction still open: the rightful writer does not wait for it (it waited until it ended)
            async with pool.acquire() as other, other.transaction():
                await other.execute("set local lock_timeout = '500ms'")
                await rightful(Intake(other, KEYS, SECRET))
        finally:
            await tx.rollback()


async def transferred_to_borgo(i: Intake) -> Any:
    staff = as_("staff-torino")
    consent = inbound.ConsentReported(
        person_id="p-1", purpose="partner_sharing", granted=True, recorded_on=clock.today()
    )
    await i.record_consent(staff, consent)
    return await i.transfer_case(staff, "c-1", cmd.TransferCase(to_partner="coop-borgo", on=clock.today()))


async def borgos_case_opened_on_h2(i: Intake) -> Any:
    staff = as_("staff-torino")
    opening = cmd.OpenCase(
        case_id="c-2", household_id="h-2", action_area="taking_charge", channel="desk", opened_on=clock.today(),
        partner="coop-borgo",
    )  # fmt: skip
    return await i.open_case(staff, opening)


SEEN_ONCE_LOCKED: dict[str, tuple[Call, Call, str]] = {
    "a transfer": (
        transferred_to_borgo,
        lambda i: i.close_case(as_("coop-aurora"), closing(clock.today())),
        "no case c-1",  # no longer its case: as a case that exists nowhere
    ),
    "a case opened by another partner": (
        borgos_case_opened_on_h2,
        lambda i: i.change_household(
            as_("coop-aurora"),
            inbound.HouseholdMemberChangeSubmitted(
                household_id="h-2", person_id="p-1", change="joined", reason="reunification", on=clock.today()
            ),
        ),
        "the household's case is assigned to another partner",
    ),
}


@pytest.mark.parametrize("meanwhile", SEEN_ONCE_LOCKED)
async def test_a_writer_that_waited_for_the_lock_is_checked_again_on_what_it_finds(pool: Any, meanwhile: str) -> None:
    """The rights are checked before the lock and again once it is held: a writer allowed when it asked, that waited
    for a change taking its right away (the case transferred, a case of another partner opened on the household), is
    refused, as when the lock was taken first."""
    first, second, reason = SEEN_ONCE_LOCKED[meanwhile]

    async def run(call: Call) -> Callable[[Any], Awaitable[None]]:
        async def step(conn: Any) -> None:
            await call(Intake(conn, KEYS, SECRET))

        return step

    with pytest.raises((Forbidden, NotFound)) as refused:
        await the_second_waits_for_the_first(pool, await run(first), await run(second))
    assert refused.value.reason == reason
