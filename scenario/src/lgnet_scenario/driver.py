"""The scenario from start to end: two cities' partners take households in charge, house them, pay for them,
close cases, answer an erasure request; a few bad partner events are refused; the reports are published.

`Truth` is what the scenario knows it did; the end-to-end tests compare the published reports with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lgnet_shared.events import partner as inbound

from lgnet_scenario import civic_steps, housing_steps, intake_steps, outreach_steps, payments_steps
from lgnet_scenario.platform import Actors, Endpoints, Platform, provision
from lgnet_scenario.population import DEFAULT_CITIES, CityPlan, Household, population

Progress = Callable[[str], None]


@dataclass
class CityTruth:
    persons: int
    minors: int
    households: int
    single_persons: int
    cases_opened: int
    cases_closed: int
    placements: int
    leases: int
    contributions_paid_cents: int
    vouchers_issued: int
    civic: dict[str, dict[str, int]] = field(default_factory=dict)  # activity kind (and `total`) -> figures
    # The households' changes during the year, as sent: household_id, case_id, person_id, change, reason, on
    household_changes: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Truth:
    cities: dict[str, CityTruth] = field(default_factory=dict)
    rejections_expected: dict[str, tuple[str, str]] = field(default_factory=dict)  # event id -> (partner, kind)
    erased_person_id: str | None = None
    published: dict[str, Any] = field(default_factory=dict)  # scope -> published report
    outreach: dict[str, outreach_steps.OutreachTruth] = field(default_factory=dict)  # #19: street outreach, agenda
    seconds: float = 0.0


def city_truth(households: list[Household]) -> dict[str, int]:
    return {
        "persons": sum(len(h.members) for h in households),
        "minors": sum(h.minors for h in households),
        "households": len(households),
        "single_persons": sum(len(h.members) == 1 for h in households),
        "cases_opened": len(households),
    }


async def run(
    ep: Endpoints,
    *,
    cities: tuple[CityPlan, ...] = DEFAULT_CITIES,
    seed: int = 2026,
    progress: Progress = print,
    actors: Actors | None = None,
) -> Truth:
    """Play the scenario. `actors`: already provisioned for these cities (`platform.provision`), e.g. by a caller
    that reads the reports afterwards; provisioning again would register every partner's key once more."""
    started = time.monotonic()
    people = population(cities, seed=seed)
    partners = {p.city: p.partners for p in cities}
    platform = Platform(ep, actors or await provision(ep, partners))
    truth = Truth()
    try:
        progress(f"provisioned actors of {', '.join(partners)} in the four services")
        await _take_in_charge(platform, people, cities, progress)
        truth.rejections_expected = await _misbehave(platform, people, cities)
        progress(f"sent {len(truth.rejections_expected)} malformed or unauthorised partner events")
        civic: dict[str, dict[str, dict[str, int]]] = {}
        for plan in cities:  # a year of civic engagement: courses, orientation, community, peer groups
            year = civic_steps.plan(plan.city, plan.partners, people[plan.city], seed)
            await civic_steps.play(platform, year, progress)
            civic[plan.city] = year.truth()
        for plan in cities:  # the city funds its budget lines first: a signed lease then asks for its grant
            await payments_steps.setup_city(platform, plan.city)
        for plan in cities:
            households = people[plan.city]
            housing = await housing_steps.play(platform, plan.city, plan.partners, households, seed, progress)
            payments = await payments_steps.play(platform, plan.city, households, housing, progress)
            closed = await _close_cases(platform, plan.city, households, housing)
            changes = _changes_made(households, housing_steps.today())
            progress(f"{plan.city}: {closed} cases closed with outcomes; {len(changes)} household changes")
            truth.cities[plan.city] = CityTruth(
                **city_truth(households),
                cases_closed=closed,
                placements=len(housing.placements),
                leases=len(housing.leases),
                contributions_paid_cents=sum(payments.paid.values()),
                vouchers_issued=payments.vouchers_issued,
                civic=civic[plan.city],
                household_changes=changes,
            )
        for plan in cities:
            street = await outreach_steps.play(platform, plan.city, plan.partners, plan.persons, seed)
            truth.outreach[plan.city] = street
            progress(
                f"{plan.city}: {street.outings} outings, {street.contacts} street contacts, {street.taken_in_charge}"
                f" taken in charge, {street.appointments_booked + street.appointments_cancelled} appointments"
            )
        truth.erased_person_id = await _erase_one(platform, people[cities[0].city])
        progress(f"erased person {truth.erased_person_id} on request (identifying data destroyed, counts kept)")
    finally:
        await platform.close()
    truth.seconds = time.monotonic() - started
    return truth


async def _take_in_charge(
    platform: Platform, people: dict[str, list[Household]], cities: tuple[CityPlan, ...], progress: Progress
) -> None:
    """Each partner sends its households; one in five comes as raw JSON, one in five through the desk (HTTP)."""

    async def partner_work(plan: CityPlan, partner: str) -> None:
        mine = [h for h in people[plan.city] if h.partner == partner]
        raw = intake_steps.RawPartner(platform, partner, plan.city)
        await raw.producer.start()
        try:
            async with await platform.partner_client(partner, plan.city) as client:
                for i, h in enumerate(mine):
                    if i % 5 == 3:
                        await raw.send(h)
                    elif i % 5 == 4:
                        await intake_steps.via_http(platform, h)
                    else:
                        await intake_steps.via_sdk(client, h)
        finally:
            await raw.producer.stop()

    await asyncio.gather(*(partner_work(plan, p) for plan in cities for p in plan.partners))
    everyone = [h for plan in cities for h in people[plan.city]]
    await intake_steps.wait_for_cases(platform, everyone)
    await intake_steps.wait_for_members(platform, everyone)
    joined = [c for h in everyone for c in h.changes if c.change == "joined"]
    progress(
        f"intake: {sum(len(h.members) for h in everyone)} persons in {len(everyone)} households taken in charge"
        f" ({sum(c.reason == 'birth' for c in joined)} born and {sum(c.reason != 'birth' for c in joined)} reunited"
        " during the year)"
    )


async def _misbehave(
    platform: Platform, people: dict[str, list[Household]], cities: tuple[CityPlan, ...]
) -> dict[str, tuple[str, str]]:
    """What goes wrong in real life: a partner acting on another city's case, a record with a wrong date, an
    unsigned record, an unknown event type. Each signed one must come back as a rejection naming the field; the
    unsigned one is dead-lettered, never answered (anyone could have sent it in the partner's name)."""
    first, second = cities[0], cities[1]
    other_case = people[first.city][0]
    partner = second.partners[0]
    raw = intake_steps.RawPartner(platform, partner, second.city)
    await raw.producer.start()
    expected: dict[str, tuple[str, str]] = {}
    try:
        closure = inbound.CaseClosureSubmitted(case_id=other_case.case_id, outcome="other", closed_on=date(2026, 6, 1))
        eid = await raw.send_raw(closure.type, closure.model_dump(mode="json"), signed=True)
        expected[eid] = (partner, "not_found")  # another city's case: as one that exists nowhere (docs/partners.md)
        bad = {"person_id": "p-bad-date", "birth_date": "31/02/1990", "sex": "female", "nationality": "NG"}
        eid = await raw.send_raw(inbound.PersonRegistrationSubmitted.type, bad, signed=True)
        expected[eid] = (partner, "invalid_data")
        eid = await raw.send_raw("lgnet.partner.no_such_event", {"x": 1}, signed=True)
        expected[eid] = (partner, "unknown_type")
        await raw.send_raw(
            inbound.EmploymentReported.type,
            {"person_id": "x", "status": "training", "as_of": "2026-05-01"},
            signed=False,
        )
    finally:
        await raw.producer.stop()
    return expected


async def _close_cases(
    platform: Platform, city: str, households: list[Household], housing: housing_steps.HousingOutcome
) -> int:
    """An adult leaves her household (today), placements end, employment at close is recorded and cases close, each
    partner through one SDK client."""
    closed = 0
    on = housing_steps.today()
    for partner in sorted({h.partner for h in households}):
        async with await platform.partner_client(partner, city) as client:
            for h in (h for h in households if h.partner == partner):  # an adult leaves, reaching autonomy
                for c in (c for c in h.changes if c.change == "left"):
                    await client.emit(intake_steps.member_change(h, c, on))
            for h in (h for h in households if h.partner == partner and h.closes):
                if h.household_id in housing.placements:
                    await housing_steps.end_placement(platform, h, housing.placements[h.household_id], on)
                for event in intake_steps.closing_events(h, on):
                    await client.emit(event)
                closed += 1
    return closed


def _changes_made(households: list[Household], today: date) -> list[dict[str, str]]:
    return [
        {"household_id": h.household_id, "case_id": h.case_id, "person_id": c.person.person_id, "change": c.change,
         "reason": c.reason, "on": str(c.on or today)}
        for h in households
        for c in h.changes
    ]  # fmt: skip


async def _erase_one(platform: Platform, households: list[Household]) -> str:
    person = households[-1].members[-1]
    staff = platform.http("intake", f"staff-{households[-1].city}")
    answer = await staff.post(f"/persons/{person.person_id}/erasure")
    if answer.status_code >= 300:
        raise RuntimeError(f"erasure answered {answer.status_code}: {answer.text}")
    return person.person_id
