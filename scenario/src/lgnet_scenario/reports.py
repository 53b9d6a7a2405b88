"""Reading what reporting made of the scenario: wait until its projections have caught up, publish the city
reports and the national aggregate, and say it in a few lines."""

from __future__ import annotations

import asyncio
from typing import Any

from lgnet_scenario import outreach_steps
from lgnet_scenario.driver import Truth
from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Platform


async def caught_up(platform: Platform, truth: Truth, timeout: float = 180) -> dict[str, dict[str, Any]]:
    """Reporting consumes the log asynchronously: wait until each city's counts reach the scenario's."""
    deadline = asyncio.get_running_loop().time() + timeout
    reports: dict[str, dict[str, Any]] = {}
    for city, t in truth.cities.items():
        staff = platform.http("reporting", f"staff-{city}")
        while True:
            body = await call(staff, "GET", f"/reports/city_summary?city={city}")
            ind = body["indicators"]
            if (
                (ind["persons"]["total"], ind["households"]["total"], ind["cases"]["closed"])
                == (
                    t.persons,
                    t.households,
                    t.cases_closed,
                )
                and ind["placements"]["started"] >= t.placements
                and _civic_caught_up(ind, t.civic)
            ):
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


def _civic_caught_up(ind: dict[str, Any], civic: dict[str, dict[str, int]]) -> bool:
    """Civic facts arrive on their own partitions: wait until sessions, registers and certificates are all in."""
    if not civic:
        return True
    got = ind.get("civic_engagement") or {}
    want = civic["total"]
    return all(got.get(f) == want[f] for f in ("sessions", "participation_minutes", "completed"))


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
