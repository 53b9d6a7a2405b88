"""The national report's computation, alone: the events of bench_reporting_replay.py folded in memory by the very
projection the replay uses (no Kafka, no PostgreSQL), then the suppressed national aggregate computed from the
tables, timed against the previous way of computing it (a full city summary for every row of `by_city`) in the
same run, and both checked equal.

    .venv/bin/python bench/bench_national_report.py

Environment: BENCH_EVENTS (default 1000000), BENCH_RUNS (default 3); BENCH_FACTS: a file keeping the folded tables
between runs (pickle; folding 1M events takes minutes), so that another version of the code (PYTHONPATH) is timed
on the very same tables. Prints medians and the ratio. Goal: < 3 s.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "unused:9092")  # the generator's module reads them at import
os.environ.setdefault("DATABASE_URL", "postgresql://unused")
sys.path.insert(0, str(Path(__file__).parent))

import bench_reporting_replay as gen
from lgnet_reporting.domain import national as nat
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.indicators import Window, report, summary
from lgnet_reporting.domain.projection import TABLES
from lgnet_reporting.domain.suppression import suppress
from lgnet_reporting.service_layer.replay import Fold
from lgnet_reporting.service_layer.reports import Request, build
from lgnet_shared.owned_ids import STAMPED_BY_BROKER

N = int(os.environ.get("BENCH_EVENTS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WINDOW = Window(date(2026, 6, 30))


class _Record:
    """A fact topic's record as the replay folds it: stamped by the broker, as every fact since provisioning."""

    timestamp_type = STAMPED_BY_BROKER

    def __init__(self, key: bytes, value: bytes) -> None:
        self.key, self.value, self.headers = key, value, ()


def facts_of(n: int) -> dict[str, list[dict[str, Any]]]:
    fold = Fold(None)
    fold.add(_Record(k, v) for _, k, v in gen.generate(n))
    out = {}
    for name, t in TABLES.items():  # in key order, as store.load_facts reads them
        at = [t.names.index(c) for c in t.key]
        records = sorted(fold.tables.records(name), key=lambda r, k=at: tuple(str(r[i]) for i in k))  # type: ignore[misc]
        # Each row's dict made in key order, as store.load_facts makes them from the rows PostgreSQL returns (made in
        # the fold's order, then sorted, they lay scattered in memory and every pass over them missed the caches).
        out[name] = [dict(zip(t.names, r, strict=True)) for r in records]
    return out


def previous(facts: dict[str, list[dict[str, Any]]], threshold: int = 5) -> dict[str, Any]:
    """The national aggregate as computed before #18's optimisation: a full summary per city for `by_city`, with
    the garbage collector running."""
    indicators = summary(facts, WINDOW, None)
    cities = nat.cities_of(facts)
    cuts = nat.split_by_city(facts, cities)
    by_city = {city: nat._row(summary(cut, WINDOW, city)) for city, cut in cuts.items()}
    # The cities whose payments or housing it has no fact of (methods 8 and 9), as the report names them.
    absent = nat._not_reported(facts, WINDOW, cities)
    doc = report(nat.NATIONAL, nat.NATIONAL, WINDOW, indicators, by_city=by_city, **absent)
    plan = nat.plan_for(doc)
    plan.readers = nat.readers(facts, WINDOW, doc, plan)  # method 12: each city's own report against the aggregate
    hidden, count = suppress(doc, plan, threshold)
    hidden["suppression"] = {"threshold": threshold, "hidden_cells": count}
    return hidden


def main() -> None:
    t = time.perf_counter()
    cache = os.environ.get("BENCH_FACTS")
    if cache and Path(cache).exists():
        facts = pickle.loads(Path(cache).read_bytes())
    else:
        facts = facts_of(N)
        if cache:
            Path(cache).write_bytes(pickle.dumps(facts))
    print(f"folded {N:,} events into the report tables in {time.perf_counter() - t:.1f}s", flush=True)
    now, cpu, before, digests = [], [], [], set()
    for run in range(RUNS):
        t, c = time.perf_counter(), time.process_time()
        doc = build(facts, Request(nat.NATIONAL, nat.NATIONAL, WINDOW), 5)  # as the service computes it
        now.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # less inflated than wall time by other work on the machine
        t = time.perf_counter()
        old = previous(facts)
        before.append(time.perf_counter() - t)
        digests |= {digest(doc), digest(old)}
        took = f"national {now[-1]:.2f}s (cpu {cpu[-1]:.2f}s), previous way {before[-1]:.2f}s"
        print(f"run {run + 1}: {took}", flush=True)
    print(json.dumps({
        "events": N, "runs": RUNS, "national_report_seconds": round(statistics.median(now), 2),
        "national_report_cpu_seconds": round(statistics.median(cpu), 2),
        "previous_way_seconds": round(statistics.median(before), 2),
        "ratio_previous_to_now": round(statistics.median(before) / statistics.median(now), 2),
        "same_digest": len(digests) == 1, "digest": sorted(digests)[0], "goal_3s_met": statistics.median(now) < 3,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
