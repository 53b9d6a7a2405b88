"""Benchmark: city-wide housing matching, 10,000 waiting households x 5,000 open opportunities.

Measures the time to proposals (the optimal assignment plus an explanation for every proposal) and compares
its total priority-weighted fit with a greedy first-come baseline computed in the same run on the same data.

    .venv/bin/python bench/bench_housing_matching.py [--households 10000] [--opportunities 5000] [--runs 3]
        [--cities 1]

Goal: under 5 s to proposals. Prints medians over the runs and the ratio optimal / greedy. By default every
household and opportunity is in one city (the worst case: one city-wide assignment); `--cities 16` spreads them
over the programme's 16 cities, matched city by city as the service does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, timedelta
from typing import TypeVar

from lgnet_housing.domain import explain, matching
from lgnet_housing.domain.model import RESTRICTIONS, Household, Member, Opportunity
from lgnet_housing.domain.rules import CityRules
from lgnet_shared.events.housing import HousingKind, SupportLevel

TODAY = date(2026, 11, 23)
T = TypeVar("T", Household, Opportunity)
LANGS = ("it", "en", "fr", "ar", "ti", "bn", "ur", "es")
VULNERABILITIES = ("psychiatric", "addiction", "elderly", "illiterate", "single_parent", "disability", "victim")
SITUATIONS = ("homeless", "reception_project", "emergency_shelter", "precarious", "facing_eviction", "overcrowded")


CITIES = (
    "torino",
    "trieste",
    "roma",
    "milano",
    "napoli",
    "bologna",
    "firenze",
    "genova",
    "palermo",
    "bolzano",
    "caserta",
    "latina",
    "perugia",
    "potenza",
    "sassari",
    "taranto",
)


def household(rng: random.Random, i: int, city: str = "torino") -> Household:
    size = rng.choices([1, 2, 3, 4, 5, 6], weights=[35, 15, 20, 15, 10, 5])[0]
    adults = rng.randint(1, min(size, 2))
    female_only = rng.random() < 0.2
    members = tuple(
        Member(
            f"p{i}-{k}",
            TODAY - timedelta(days=rng.randint(19 * 365, 70 * 365) if k < adults else rng.randint(0, 17 * 365)),
            "female" if female_only or rng.random() < 0.5 else "male",
            (rng.choice(LANGS),),
        )
        for k in range(size)
    )
    eviction = TODAY + timedelta(days=rng.randint(-10, 200)) if rng.random() < 0.15 else None
    return Household(
        household_id=f"h{i:05d}",
        case_id=f"c{i:05d}",
        city=city,
        partner="coop",
        members=members,
        waiting_since=TODAY - timedelta(days=rng.randint(0, 900)),
        monthly_income_cents=rng.choice([0, 0, 40_000, 80_000, 120_000, 160_000]),
        accessibility_needs=rng.random() < 0.08,
        specialist_support=rng.random() < 0.1,
        eviction_date=eviction,
        vulnerabilities=tuple(rng.sample(VULNERABILITIES, rng.randint(0, 3))),
        housing_situation=rng.choice(SITUATIONS),
    )


def opportunity(rng: random.Random, j: int, city: str = "torino") -> Opportunity:
    kind = rng.choice(list(HousingKind))
    capacity = rng.randint(1, 6)
    return Opportunity(
        opportunity_id=f"o{j:05d}",
        city=city,
        partner="coop",
        kind=kind,
        capacity=capacity,
        bedrooms=rng.randint(0, 3),
        accessible=rng.random() < 0.3,
        monthly_rent_cents=rng.choice([0, 20_000, 35_000, 50_000, 70_000]),
        available_from=TODAY + timedelta(days=rng.randint(-30, 90)),
        available_until=None if rng.random() < 0.7 else TODAY + timedelta(days=rng.randint(-5, 365)),
        support_level=rng.choice(list(SupportLevel)),
        restrictions=frozenset(rng.sample(RESTRICTIONS, 1)) if rng.random() < 0.25 else frozenset(),
        languages=frozenset(rng.sample(LANGS, 2)),
    )


def in_city(items: list[T], city: str) -> list[T]:
    return [x for x in items if x.city == city]


def combine(parts: list[matching.Assignment]) -> matching.Assignment:
    return matching.Assignment(
        [p for a in parts for p in a.proposals],
        [u for a in parts for u in a.unmatched],
        round(sum(a.total_weight for a in parts), 6),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=10_000)
    ap.add_argument("--opportunities", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cities", type=int, default=1, choices=range(1, 17), metavar="1..16")
    args = ap.parse_args()
    cities = CITIES[: args.cities]
    rules = CityRules(planned_contribution_cents=25_000)
    times, greedy_times, ratios, proposed, greedy_n = [], [], [], [], []
    for run in range(args.runs):
        rng = random.Random(run)
        hs = [household(rng, i, cities[i % len(cities)]) for i in range(args.households)]
        os = [opportunity(rng, j, cities[j % len(cities)]) for j in range(args.opportunities)]
        hmap, omap = {h.household_id: h for h in hs}, {o.opportunity_id: o for o in os}
        started = time.perf_counter()
        result = combine([matching.assign(in_city(hs, c), in_city(os, c), rules, TODAY) for c in cities])
        for p in result.proposals:  # every proposal carries its explanation
            explain.explain(hmap[p.household_id], omap[p.opportunity_id], rules, TODAY)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        greedy = combine([matching.greedy_first_come(in_city(hs, c), in_city(os, c), rules, TODAY) for c in cities])
        greedy_times.append(time.perf_counter() - started)
        ratios.append(result.total_weight / greedy.total_weight)
        proposed.append(len(result.proposals))
        greedy_n.append(len(greedy.proposals))
        print(
            f"run {run}: optimal {times[-1]:.2f} s, {len(result.proposals)} proposals, total {result.total_weight:.1f}"
            f" | greedy {greedy_times[-1]:.2f} s, {len(greedy.proposals)} proposals, total {greedy.total_weight:.1f}"
            f" | ratio {ratios[-1]:.4f}",
            flush=True,
        )
    print(
        f"median over {args.runs} runs ({args.households} households x {args.opportunities} opportunities,"
        f" {args.cities} city(ies)):"
        f" time to proposals {statistics.median(times):.2f} s (goal < 5 s);"
        f" proposals {statistics.median(proposed):.0f} vs greedy {statistics.median(greedy_n):.0f};"
        f" total weighted fit optimal/greedy = {statistics.median(ratios):.4f}"
    )


if __name__ == "__main__":
    main()
