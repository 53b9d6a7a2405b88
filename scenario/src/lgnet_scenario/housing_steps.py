"""Housing through housing's HTTP API: partners list opportunities, the city matches, households accept (a few
decline first), placements start, leases are signed, some placements end with autonomy."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lgnet_shared import clock

from lgnet_scenario.platform import Platform
from lgnet_scenario.population import Household


def today() -> date:
    return clock.today()


KINDS = ["private_rental", "sub_lease", "social_housing", "solidarity_cohousing", "host_family", "non_hotel_room"]
LEASED = {"private_rental": "lease", "social_housing": "lease", "sub_lease": "sub_lease"}


@dataclass
class HousingOutcome:
    placements: dict[str, dict[str, Any]] = field(default_factory=dict)  # household id -> placement
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)  # household id -> lease
    declined: int = 0
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # household id -> reasons


async def call(client: Any, method: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    answer = await client.request(method, path, json=body, headers=headers)
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} {client.base_url}{path} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json() if answer.content else None


def opportunities_for(
    city: str, partners: tuple[str, ...], households: list[Household], seed: int
) -> list[dict[str, Any]]:
    """About one opportunity for every five households in need, sized and priced for them, plus a few."""
    rng = random.Random(f"{seed}:{city}:housing")
    needing = [h for h in households if h.housing_need]
    out = []
    for i, h in enumerate(sorted(needing, key=lambda h: h.household_id)[: max(1, len(needing) * 4 // 5)]):
        size = len(h.members)
        kind = "collective_facility" if h.specialist_support else rng.choice(KINDS)
        out.append(
            {
                "opportunity_id": f"opp-{city}-{i:03d}",
                "partner": partners[i % len(partners)],
                "kind": kind,
                "capacity": size + rng.choice([0, 0, 1, 2]),
                "bedrooms": max(1, (size + 1) // 2),
                "accessible": h.accessibility_needs or rng.random() < 0.2,
                "monthly_rent_cents": rng.randrange(25_000, 65_000, 5_000)
                if kind in LEASED
                else rng.randrange(0, 30_000, 5_000),
                "available_from": str(date(2026, 2, 1) + timedelta(days=rng.randrange(0, 90))),
                "support_level": "specialist_team" if h.specialist_support else rng.choice(["none", "light"]),
                "restrictions": [],
            }
        )
    return out


async def play(
    platform: Platform, city: str, partners: tuple[str, ...], households: list[Household], seed: int, progress: Any
) -> HousingOutcome:
    staff = platform.http("housing", f"staff-{city}")
    outcome = HousingOutcome()
    # The city plans up to EUR 400 a month of rent support, so rent may exceed 40 % of income by that much.
    await call(staff, "PUT", "/rules", {"planned_contribution_cents": 40_000})
    await _wait_for_waiting_list(platform, city, households)
    for opp in opportunities_for(city, partners, households, seed):
        owner = platform.http("housing", opp["partner"])
        await call(
            owner, "POST", "/opportunities", {k: v for k, v in opp.items() if k != "partner"}, key=opp["opportunity_id"]
        )
    progress(f"{city}: opportunities listed")
    by_id = {h.household_id: h for h in households}
    declined_once: set[str] = set()
    for _round in range(3):
        await call(staff, "POST", "/matching/runs")  # the city re-matches by itself too (auto_match)
        proposals = [p for p in await call(staff, "GET", "/proposals?status=proposed") if p["household_id"] in by_id]
        if not proposals:
            break
        for p in proposals:
            h = by_id.get(p["household_id"])
            if h is None:
                continue
            if h.will_decline_first and h.household_id not in declined_once:
                declined_once.add(h.household_id)
                await call(
                    platform.http("housing", h.partner),
                    "POST",
                    f"/matches/{p['match_id']}/decline",
                    {"by": "household", "reason": "too_far"},
                )
                outcome.declined += 1
                continue
            await _place(platform, h, p, outcome)
    for h in households:
        if h.housing_need and h.household_id not in outcome.placements:
            why = await call(staff, "GET", f"/households/{h.household_id}/why")
            outcome.unmatched[h.household_id] = [f"{r['code']}: {r.get('detail', '')}" for r in why.get("reasons", [])]
    progress(f"{city}: {len(outcome.placements)} placements, {len(outcome.leases)} leases, {outcome.declined} declined")
    for household_id, reasons in list(outcome.unmatched.items())[:2]:
        first = reasons[-1] if reasons else "no reason given"
        progress(f"{city}: why isn't household {household_id[:8]} matching? {first[:110]}")
    return outcome


async def _place(platform: Platform, h: Household, proposal: dict[str, Any], outcome: HousingOutcome) -> None:
    partner = platform.http("housing", h.partner)
    match_id = proposal["match_id"]
    await call(partner, "POST", f"/matches/{match_id}/acceptance", {})
    start = today()  # housing dates each step on the day it happens
    placement = await call(
        partner, "POST", f"/matches/{match_id}/placement", {"started_on": str(start)}, key=f"place-{match_id}"
    )
    outcome.placements[h.household_id] = placement
    opp = await call(partner, "GET", f"/opportunities/{proposal['opportunity_id']}")
    lease_type = LEASED.get(opp["kind"])
    if lease_type is None:
        return  # a room, a host family or a facility: no lease
    lease = await call(
        partner,
        "POST",
        f"/placements/{placement['placement_id']}/lease",
        {
            "lease_type": lease_type,
            "monthly_rent_cents": opp["monthly_rent_cents"],
            "deposit_cents": 2 * opp["monthly_rent_cents"],
            "start_date": str(start),
            "end_date": str(start + timedelta(days=4 * 365)),
            "signed_on": str(start),
        },
        key=f"lease-{placement['placement_id']}",
    )
    outcome.leases[h.household_id] = lease


NOT_READY = ("household_unknown", "composition_incomplete", "needs_not_assessed", "not_waiting")


async def _wait_for_waiting_list(
    platform: Platform, city: str, households: list[Household], timeout: float = 120
) -> None:
    """Housing learns of cases from intake's events: wait until it knows every household in need, its members
    and its assessment (whether or not the city's automatic matching has already proposed something)."""
    staff = platform.http("housing", f"staff-{city}")
    deadline = asyncio.get_running_loop().time() + timeout
    for h in (h for h in households if h.housing_need):
        while True:
            answer = await staff.get(f"/households/{h.household_id}/why")
            codes = [r.get("code") for r in answer.json().get("reasons", [])] if answer.status_code == 200 else []
            if answer.status_code == 200 and not any(c in NOT_READY for c in codes):
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{city}: housing is not ready for household {h.household_id}: {answer.text[:300]}")
            await asyncio.sleep(0.5)


async def end_placement(platform: Platform, h: Household, placement: dict[str, Any], on: date) -> None:
    reason = {"housing_autonomy": "autonomy_reached", "moved_away": "moved", "dropped_out": "dropped_out"}.get(
        h.outcome, "other"
    )
    await call(
        platform.http("housing", h.partner),
        "POST",
        f"/placements/{placement['placement_id']}/end",
        {"reason": reason, "ended_on": str(on)},
    )
