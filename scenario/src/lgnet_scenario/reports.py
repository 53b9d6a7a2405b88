"""Reading what reporting made of the scenario: wait until its projections have caught up, publish the city
reports and the national aggregate, and say it in a few lines."""

from __future__ import annotations

import asyncio
from typing import Any

from lgnet_scenario import outreach_steps
from lgnet_scenario.driver import CityTruth, Truth
from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Platform


async def caught_up(platform: Platform, truth: Truth, timeout: float = 180) -> dict[str, dict[str, Any]]:
    """Reporting consumes the log asynchronously: wait until each city's counts reach the scenario's. At least
    reach: records someone else sent meanwhile (a partner trying docs/partners.md during the first `make up`) count
    too — `make up` failed on them, "170 of 164 persons", and the scheduler and the desk never started; `beyond` says
    what they add (the end-to-end tests compare the figures exactly, on a platform nobody else writes to)."""
    deadline = asyncio.get_running_loop().time() + timeout
    reports: dict[str, dict[str, Any]] = {}
    for city, t in truth.cities.items():
        staff = platform.http("reporting", f"staff-{city}")
        while True:
            body = await call(staff, "GET", f"/reports/city_summary?city={city}")
            ind = body["indicators"]
            if reached(t, ind):
                reports[city] = body
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"reporting for {city} has {ind['persons']['total']} of {t.persons} persons")
            await asyncio.sleep(1)
    for city, street in truth.outreach.items():  # #19: then the street figures
        await outreach_steps.wait_reported(platform, city, street, timeout)
        reports[city] = await call(
            platform.http("reporting", f"staff-{city}"), "GET", f"/reports/city_summary?city={city}"
        )
    return reports


# What the wait compares: (the report's indicator, its measure, the scenario's truth) — each at least the scenario's.
COUNTS = (
    ("persons", "total", "persons"),
    ("households", "total", "households"),
    ("cases", "closed", "cases_closed"),
    ("placements", "started", "placements"),
)


def reached(t: CityTruth, ind: dict[str, Any]) -> bool:
    """Whether a city's report counts at least what the scenario made."""
    return all(ind[i][m] >= getattr(t, want) for i, m, want in COUNTS) and _civic_caught_up(ind, t.civic)


def beyond(t: CityTruth, ind: dict[str, Any]) -> list[str]:
    """What a city's report counts beyond the scenario's own records ("170 persons, the scenario's 164"): another
    party's records, sent while it played."""
    return [
        f"{ind[i][m]} {want.replace('_', ' ')}, the scenario's {getattr(t, want)}"
        for i, m, want in COUNTS
        if ind[i][m] > getattr(t, want)
    ]


def _civic_caught_up(ind: dict[str, Any], civic: dict[str, dict[str, int]]) -> bool:
    """Civic facts arrive on their own partitions: wait until sessions, registers and certificates are all in."""
    if not civic:
        return True
    got = ind.get("civic_engagement") or {}
    want = civic["total"]
    return all(got.get(f, 0) >= want[f] for f in ("sessions", "participation_minutes", "completed"))


async def publish(platform: Platform, cities: list[str], run_id: str) -> dict[str, Any]:
    published = {}
    for city in cities:
        published[city] = await call(
            platform.http("reporting", f"staff-{city}"),
            "POST",
            "/reports/city_summary/publish",
            {"city": city},
            key=f"publish-{run_id}-{city}",
        )
    published["national"] = await call(
        platform.http("reporting", "coordination"),
        "POST",
        "/reports/national/publish",
        {},
        key=f"publish-{run_id}-national",
    )
    return published


def headline(city: str, body: dict[str, Any]) -> str:
    ind = body["indicators"]
    p, h = ind["persons"], ind["households"]
    paid = ind["contributions_paid"]["amount_cents"]
    return (
        f"{city.title():8} {p['total']:4} beneficiaries in {h['total']:3} households, {p['minors']:3} minors, "
        f"{h['single_person']:3} single persons; {ind['placements']['started']:3} placements, "
        f"{sum(ind['leases_by_type'].values()):3} leases; contributions paid EUR {paid / 100:,.2f}"
    ) + _civic_headline(ind)


def _civic_headline(ind: dict[str, Any]) -> str:
    c = ind.get("civic_engagement")
    if not c:
        return ""
    hours = (c["participation_minutes"] or 0) / 60
    return (
        f"\n           civic engagement: {c['activities']} activities, {c['sessions']} sessions, "
        f"{c['participants']} participants, {hours:,.0f} hours of participation, {c['completed']} certificates, "
        f"{c['cefr_improved']} up one CEFR level"
    )
