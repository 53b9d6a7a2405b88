"""A year of street outreach and of the agenda (issue #19), through intake's HTTP API as the units' operators use it
(the desk's own calls). Plausible figures, stated in scenario/README.md:

- Torino runs two mobile units (one per partner): an evening unit around the stations (Tuesday and Friday,
  20:30-00:30) and a morning unit in the parks (Monday and Thursday, 9:00-13:00); Trieste one evening unit
  (Wednesday and Saturday, 19:00-23:00) run by its first partner.
- Each outing meets 3 to 7 people (Torino) or 2 to 6 (Trieste) among a pool of 230 (Torino) and 95 (Trieste) people
  living on the street; a third are regulars, met far more often. The unit gives everyone it meets a code
  (`TO-017`), so repeated contacts are one street person.
- About one in six of the people met is later taken in charge (registered, the first contact linked to them), 5 to
  90 days after their first contact; each then has two appointments at the desk (about 75 % attended, 15 % no-shows,
  10 % cancelled), and four appointments are booked for tomorrow, whose reminders are sent today.
`OutreachTruth` is what the scenario did; the end-to-end test checks the city reports against it.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lgnet_scenario.housing_steps import call, today
from lgnet_scenario.platform import Platform

LOCAL = ZoneInfo("Europe/Rome")
NEEDS = ["food", "shelter", "health_care", "hygiene", "clothing", "documents", "work", "information"]
SERVICES = ["food", "information", "health_referral", "shelter_referral", "clothing", "hygiene_kit", "listening"]
AGE_BANDS = ["18_29", "30_44", "45_64", "65_plus", "unknown"]
NATIONALITIES = ["MA", "TN", "SN", "NG", "PK", "AF", "RO", None]


@dataclass(frozen=True)
class UnitPlan:
    name: str
    area: str
    weekdays: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    places: tuple[str, ...]
    partner_index: int


@dataclass(frozen=True)
class CityOutreach:
    pool: int
    contacts_per_outing: tuple[int, int]
    units: tuple[UnitPlan, ...]
    code: str


PLANS = {
    "torino": CityOutreach(
        pool=230,
        contacts_per_outing=(3, 7),
        code="TO",
        units=(
            UnitPlan(
                "Unità di strada Stazioni",
                "Porta Nuova, Porta Susa, Dora",
                (1, 4),
                time(20, 30),
                time(0, 30),
                ("Stazione Porta Nuova", "Stazione Porta Susa", "Parco Dora"),
                0,
            ),
            UnitPlan(
                "Unità di strada Parchi",
                "Valentino, Colletta, Pellerina",
                (0, 3),
                time(9),
                time(13),
                ("Parco del Valentino", "Parco Colletta", "Parco della Pellerina"),
                1,
            ),
        ),
    ),
    "trieste": CityOutreach(
        pool=95,
        contacts_per_outing=(2, 6),
        code="TS",
        units=(
            UnitPlan(
                "Unità di strada Trieste",
                "Centro, Silos, Porto Vecchio",
                (2, 5),
                time(19),
                time(23),
                ("Silos", "Piazza della Libertà", "Porto Vecchio"),
                0,
            ),
        ),
    ),
}
TAKEN_IN_CHARGE = 1 / 6
DEFAULT_PERSONS = {"torino": 164, "trieste": 106}  # population.DEFAULT_CITIES: the scale of the outreach too


@dataclass
class OutreachTruth:
    outings: int = 0
    outing_minutes: int = 0
    contacts: int = 0
    persons_contacted: int = 0
    taken_in_charge: int = 0
    days_to_taking_in_charge_median: float | None = None
    appointments_booked: int = 0
    appointments_attended: int = 0
    appointments_no_show: int = 0
    appointments_cancelled: int = 0
    reminders_sent: int = 0
    services_offered: dict[str, int] = field(default_factory=dict)


def _minutes(start: time, end: time) -> int:
    length = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    return length if length > 0 else length + 24 * 60


async def play(platform: Platform, city: str, partners: tuple[str, ...], persons: int, seed: int) -> OutreachTruth:
    """The city's year of outreach; `persons` scales it like the rest of the scenario."""
    plan = PLANS.get(city)
    truth = OutreachTruth()
    if plan is None:
        return truth
    rng = random.Random(f"{seed}:{city}:outreach")
    run = uuid.uuid4().hex[:6]
    scale = persons / DEFAULT_PERSONS.get(city, persons)
    pool = max(4, round(plan.pool * scale))
    weights = [5 if i < pool // 3 else 1 for i in range(pool)]
    staff = platform.http("intake", f"staff-{city}")
    last = today() - timedelta(days=1)
    first_day = last - timedelta(days=364)
    contacts_of: dict[int, list[tuple[date, str, str]]] = {}  # pool index -> (day, contact id, partner)

    async def unit_year(u: int, unit: UnitPlan) -> None:
        # Its own sequence: the units play side by side, and one shared sequence would hand each unit whatever
        # draws the order of the services' answers left it (a different year at every play).
        rng = random.Random(f"{seed}:{city}:outreach:{u}")
        partner = partners[unit.partner_index % len(partners)]
        unit_id = f"unit-{city}-{u}-{run}"
        body = {
            "unit_id": unit_id,
            "name": unit.name,
            "vehicle": "furgone attrezzato",
            "area": unit.area,
            "partner": partner,
            "team_size": 3,
        }
        await call(staff, "POST", "/mobile-units", body, key=f"unit-{unit_id}")
        client = platform.http("intake", partner)
        day = first_day
        n = 0
        while day <= last:
            if day.weekday() in unit.weekdays and rng.random() < max(scale, 0.15):
                n += 1
                oid = f"out-{city}-{u}-{n}-{run}"
                outing = {
                    "outing_id": oid,
                    "unit_id": unit_id,
                    "on": day.isoformat(),
                    "start_time": unit.start.isoformat("minutes"),
                    "end_time": unit.end.isoformat("minutes"),
                    "places": list(unit.places),
                    "staff": [f"op-{city}-{u}a", f"op-{city}-{u}b"],
                }
                await call(client, "POST", "/outings", outing, key=oid)
                truth.outings += 1
                truth.outing_minutes += _minutes(unit.start, unit.end)
                want = rng.randint(*plan.contacts_per_outing)
                met: set[int] = set()
                while len(met) < min(want, pool):
                    met.add(rng.choices(range(pool), weights)[0])
                for k, who in enumerate(sorted(met)):
                    cid = f"ct-{oid}-{k}"
                    services = sorted(set(rng.sample(SERVICES, rng.randint(1, 3))))
                    contact = {
                        "contact_id": cid,
                        "outing_id": oid,
                        "contacted_on": day.isoformat(),
                        "age_band": AGE_BANDS[who % len(AGE_BANDS)],
                        "sex": "female" if who % 7 == 0 else "male",
                        "nationality": NATIONALITIES[who % len(NATIONALITIES)],
                        "needs_observed": sorted(set(rng.sample(NEEDS, rng.randint(1, 3)))),
                        "services_offered": services,
                        "place": rng.choice(unit.places),
                        "nickname": f"{plan.code}-{who:03d}",
                    }
                    await call(client, "POST", "/street-contacts", contact, key=cid)
                    truth.contacts += 1
                    for s in services:
                        truth.services_offered[s] = truth.services_offered.get(s, 0) + 1
                    contacts_of.setdefault(who, []).append((day, cid, partner))
            day += timedelta(days=1)

    await asyncio.gather(*(unit_year(u, unit) for u, unit in enumerate(plan.units)))
    truth.persons_contacted = len(contacts_of)

    # About one in six taken in charge, 5 to 90 days after the first contact: registered, then linked.
    days: list[int] = []
    linked: list[tuple[str, date]] = []
    for who in sorted(contacts_of):
        if rng.random() >= TAKEN_IN_CHARGE:
            continue
        first, cid, partner = min(contacts_of[who])
        on = min(first + timedelta(days=rng.randint(5, 90)), today())
        client = platform.http("intake", partner)
        pid = f"p-street-{city}-{who}-{run}"
        person = {
            "person_id": pid,
            "birth_date": f"{1960 + who % 40}-0{1 + who % 9}-1{who % 9}",
            "sex": "female" if who % 7 == 0 else "male",
            "nationality": NATIONALITIES[who % 7] or "MA",
        }
        await call(client, "POST", "/persons", person, key=f"reg-{pid}")
        await call(
            client,
            "POST",
            f"/street-contacts/{cid}/link",
            {"person_id": pid, "linked_on": on.isoformat()},
            key=f"link-{pid}",
        )
        days.append((on - first).days)
        linked.append((pid, on))
    truth.taken_in_charge = len(linked)
    truth.days_to_taking_in_charge_median = float(statistics.median(days)) if days else None
    await _agenda(platform, city, linked, rng, run, truth)
    return truth


async def _agenda(
    platform: Platform, city: str, linked: list[tuple[str, date]], rng: random.Random, run: str, truth: OutreachTruth
) -> None:
    """Two desk appointments per person taken in charge (3 and 10 days after), four for tomorrow, reminders today."""
    staff = platform.http("intake", f"staff-{city}")
    slots: dict[tuple[str, date], int] = {}
    now = datetime.now(LOCAL)

    def slot(operator: str, day: date) -> tuple[str, str]:
        k = slots.get((operator, day), 0)
        slots[(operator, day)] = k + 1
        start = datetime.combine(day, time(9), tzinfo=LOCAL) + timedelta(minutes=45 * k)
        return start.isoformat(), (start + timedelta(minutes=30)).isoformat()

    async def book(aid: str, pid: str, day: date, n: int) -> None:
        operator = f"op-desk-{city}-{n % 3}"
        starts_at, ends_at = slot(operator, day)
        body = {
            "appointment_id": aid,
            "agenda": "desk",
            "operator": operator,
            "person_id": pid,
            "purpose": "first_interview" if n % 2 == 0 else "needs_assessment",
            "starts_at": starts_at,
            "ends_at": ends_at,
            # the year's past appointments are recorded afterwards (intake books none in the past)
            "recorded_afterwards": day < now.date(),
        }
        await call(staff, "POST", "/appointments", body, key=aid)

    n = 0
    for pid, on in linked:
        for after in (3, 10):
            day = on + timedelta(days=after)
            if day >= now.date():
                continue
            n += 1
            aid = f"apt-{city}-{n}-{run}"
            await book(aid, pid, day, n)
            roll = rng.random()
            if roll < 0.10:
                await call(
                    staff,
                    "POST",
                    f"/appointments/{aid}/cancel",
                    {"reason": "by_person", "on": today().isoformat()},
                    key=f"cancel-{aid}",
                )
                truth.appointments_cancelled += 1
                continue
            truth.appointments_booked += 1
            outcome = "no_show" if roll < 0.25 else "attended"
            await call(
                staff,
                "POST",
                f"/appointments/{aid}/outcome",
                {"outcome": outcome, "on": today().isoformat()},
                key=f"outcome-{aid}",
            )
            truth.appointments_no_show += outcome == "no_show"
            truth.appointments_attended += outcome == "attended"
    tomorrow = now.date() + timedelta(days=1)
    for pid, _ in linked[:4]:
        n += 1
        await book(f"apt-{city}-{n}-{run}", pid, tomorrow, n)
    sent = await call(staff, "POST", "/appointments/reminders", {"day": now.date().isoformat()})
    truth.reminders_sent = len(sent["emitted"])


async def wait_reported(platform: Platform, city: str, truth: OutreachTruth, timeout: float = 180) -> dict[str, Any]:
    """Reporting consumes the log asynchronously: wait until the city's street figures reach the scenario's."""
    staff = platform.http("reporting", f"staff-{city}")
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ind = (await call(staff, "GET", f"/reports/city_summary?city={city}"))["indicators"]
        street = ind.get("outreach", {})
        if (street.get("contacts"), street.get("taken_in_charge")) == (truth.contacts, truth.taken_in_charge):
            return ind  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"reporting for {city} has {street.get('contacts')} of {truth.contacts} contacts")
        await asyncio.sleep(1)


def headline(city: str, body: dict[str, Any]) -> str:
    street = body["indicators"].get("outreach")
    if street is None:
        return f"{city.title():8} street outreach: not in this report"
    share, median = street["taken_in_charge_share"], street["days_to_taking_in_charge_median"]
    taken = f"{street['taken_in_charge']} taken in charge"
    if median is not None:  # nobody taken in charge yet: no share, no median to show
        taken += f" ({(share or 0) * 100:.0f} %, median {median:g} days after first contact)"
    return (
        f"{city.title():8} street outreach: {street['outings']} outings, {street['contacts']} contacts, "
        f"{street['persons_contacted']} people met, {taken}"
    )
