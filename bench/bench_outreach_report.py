"""What street outreach adds to a city's report (issue #19, method 3): the city summary computed with method 3
(outreach and appointments) against method 2 (without), same facts, same run. Prints medians and the ratio.

    .venv/bin/python bench/bench_outreach_report.py [--contacts 200000]

The facts: a city with the scenario's cases (none: the outreach alone is timed against an empty method-2 report
would say nothing, so both run over the same street facts) — a year of outings, `--contacts` street contacts among
a pool of a fifth as many people, one in six linked, two appointments per link.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, timedelta
from typing import Any

from lgnet_reporting.domain import outreach
from lgnet_reporting.domain.indicators import Window, summary
from lgnet_reporting.domain.projection import TABLES


def facts(contacts: int, seed: int = 19) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    outings = max(1, contacts // 5)
    for i in range(outings):
        out[outreach.OUTINGS].append(
            {
                "outing_id": f"o{i}",
                "unit_id": "u",
                "city": "torino",
                "on_date": start + timedelta(days=i % 365),
                "minutes": 240,
            }
        )
    pool = max(1, contacts // 5)
    first: dict[int, date] = {}
    for i in range(contacts):
        who = rng.randrange(pool)
        day = start + timedelta(days=rng.randrange(365))
        first[who] = min(first.get(who, day), day)
        out[outreach.CONTACTS].append(
            {
                "contact_id": f"c{i}",
                "street_id": f"s{who}",
                "city": "torino",
                "contacted_on": day,
                "services_offered": ["food", "information"],
            }
        )
    for who, day in first.items():
        if rng.random() < 1 / 6:
            linked = day + timedelta(days=rng.randint(5, 90))
            out[outreach.LINKS].append(
                {"street_id": f"s{who}", "person_id": f"p{who}", "city": "torino", "linked_on": linked}
            )
            for k in (3, 10):
                out[outreach.APPOINTMENTS].append(
                    {
                        "appointment_id": f"a{who}-{k}",
                        "city": "torino",
                        "agenda": "desk",
                        "starts_on": linked + timedelta(days=k),
                        "cancelled": False,
                        "outcome": "attended",
                    }
                )
    return out


def timed(f: dict[str, list[dict[str, Any]]], method: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        summary(f, Window(date(2027, 3, 31), method=method), "torino")
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    f = facts(args.contacts)
    base = statistics.median(timed(f, 2, args.runs))
    with_outreach = statistics.median(timed(f, 3, args.runs))
    print(
        f"city summary over {args.contacts} contacts, {len(f[outreach.OUTINGS])} outings, "
        f"{len(f[outreach.LINKS])} links: method 2 {base * 1000:.1f} ms, method 3 {with_outreach * 1000:.1f} ms "
        f"(median of {args.runs}); outreach adds {(with_outreach - base) * 1000:.1f} ms, "
        f"x{with_outreach / base:.2f}"
    )


if __name__ == "__main__":
    main()
