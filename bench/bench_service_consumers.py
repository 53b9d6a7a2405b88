"""Payments' intake consumer alone, against real PostgreSQL: intake facts already fetched (six partitions, 500 records
per partition per fetch, keyed as intake keys them) go through `Consumer.process` with the handlers payments
registers (issue #22: intake's case and household handlers pipelined). No Kafka, no relay, no signatures (their cost
per event is the same either way): the consumer's own work — envelope and payload, inbox, the handlers' writes,
positions. Prints per workload the median events/s (wall), this process's CPU µs per event and PostgreSQL's (the
postmaster's backends, /proc).

Workloads: "mixed" — households formed, their cases opened, then some transferred, joined and closed, interleaved as
a live intake stream is (a quarter of the facts are of types payments ignores); "bursts" — every case opened, then
every case transferred (a partner leaving), then every case closed: long runs of one kind.

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_service_consumers.py
    # the code before, for an A/B alternated process by process:
    git archive main services/payments | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/services/payments/src .venv/bin/python bench/bench_service_consumers.py

Environment: DATABASE_URL; BENCH_HOUSEHOLDS (default 2000), BENCH_RUNS (default 3).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
import zlib
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import lgnet_payments
import uvloop
from aiokafka.structs import ConsumerRecord
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.entrypoints.consumers import consumers
from lgnet_shared import db, logs
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import Consumer, Handler
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import intake as iev
from lgnet_shared.service import all_migrations
from lgnet_shared.testing.topics import as_records
from proc_cpu import PG_PIDFILE, pid_of, tree_cpu

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
HOUSEHOLDS = int(os.environ.get("BENCH_HOUSEHOLDS", "2000"))
DB = os.environ["DATABASE_URL"]
PARTITIONS, PER_FETCH = 6, 500
ON = date(2026, 3, 2)


def pg_cpu() -> dict[int, float]:
    """utime + stime of the postmaster and its children (the pool keeps its backends for the whole run)."""
    return tree_cpu(pid_of("BENCH_PG_PID", PG_PIDFILE))


def fact(event: Event) -> Envelope:
    return to_envelope(event, source="/lgnet/intake", city="torino", partner="coop-aurora")


def opened(i: int) -> Event:
    return iev.CaseOpened(
        case_id=f"c{i}",
        household_id=f"h{i}",
        city="torino",
        action_area=iev.ActionArea.HOUSING_INCLUSION,
        channel=iev.Channel.DESK,
        partner="coop-aurora",
        opened_on=ON,
    )


def formed(i: int) -> Event:
    return iev.HouseholdFormed(
        household_id=f"h{i}", city="torino", reference_person_id=f"p{i}a", member_ids=[f"p{i}a", f"p{i}b"]
    )


def transferred(i: int) -> Event:
    return iev.CaseTransferred(case_id=f"c{i}", from_partner="coop-aurora", to_partner="coop-b", on=ON)


def closed(i: int) -> Event:
    return iev.CaseClosed(case_id=f"c{i}", outcome=iev.CaseOutcome.HOUSING_AUTONOMY, closed_on=ON)


def joined(i: int) -> Event:
    return iev.HouseholdMemberJoined(household_id=f"h{i}", person_id=f"p{i}c", reason="birth", on=ON)


def employment(i: int) -> Event:  # a fact payments ignores
    return iev.EmploymentRecorded(person_id=f"p{i}a", status=iev.EmploymentStatus.TRAINING, as_of=ON)


def mixed(n: int) -> list[Event]:
    """As a live stream: each household formed, its case opened, its employment recorded; every third case then
    transferred, every fourth household joined by a member, every third case closed — later, interleaved."""
    out: list[Event] = []
    for i in range(n):
        out += [formed(i), opened(i), employment(i)]
        j = i - n // 4  # a quarter of the stream later
        if j >= 0:
            out += [transferred(j)] if j % 3 == 0 else []
            out += [joined(j)] if j % 4 == 0 else []
            out += [closed(j)] if j % 3 == 1 else []
    return out


def bursts(n: int) -> list[Event]:
    return [opened(i) for i in range(n)] + [transferred(i) for i in range(n)] + [closed(i) for i in range(n)]


def fetches(events: list[Event]) -> list[list[ConsumerRecord[bytes, bytes]]]:
    """Each fact in its key's partition (as intake's producer places it), in order; fetches of 500 per partition."""
    logs_: list[list[Envelope]] = [[] for _ in range(PARTITIONS)]
    for event in events:
        env = fact(event)
        logs_[zlib.crc32(env.key) % PARTITIONS].append(env)
    records = [as_records(envs, topic="intake.events", partition=p) for p, envs in enumerate(logs_)]
    out = []
    for start in range(0, max(len(r) for r in records), PER_FETCH):
        out.append([r for rs in records for r in rs[start : start + PER_FETCH]])
    return out


def registered() -> dict[str, Handler]:
    runtime: Any = SimpleNamespace(keys=None)
    return dict(next(s for s in consumers(runtime) if s.name == "intake").handlers)


async def run_once(batches: list[list[Any]], n: int) -> tuple[float, float, float]:
    schema = f"bench_services_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(DB, schema, min_size=PARTITIONS, max_size=PARTITIONS)
    try:
        await db.migrate(pool, all_migrations(MIGRATIONS))
        consumer = Consumer("payments.intake", pool, None, registered())  # type: ignore[arg-type]  # no dead letters
        pg, cpu, wall = pg_cpu(), time.process_time(), time.perf_counter()
        for batch in batches:
            await consumer.process(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        pg_used = sum(c - pg.get(p, 0.0) for p, c in pg_cpu().items())
    finally:
        await pool.close()
        conn = await asyncpg.connect(DB)
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()
    return n / wall, cpu / n * 1e6, pg_used / n * 1e6


async def main() -> None:
    print(f"code: {Path(lgnet_payments.__file__).parent}; load {os.getloadavg()[0]:.1f}")
    for name, events in (("mixed", mixed(HOUSEHOLDS)), ("bursts", bursts(HOUSEHOLDS))):
        batches = fetches(events)
        results = [await run_once(batches, len(events)) for _ in range(RUNS)]
        rate, cpu, pg = (statistics.median(r[k] for r in results) for k in range(3))
        print(
            f"{name:6s} {len(events):6d} events in {len(batches)} fetches: {rate:7,.0f} events/s;"
            f" CPU {cpu:6.1f} µs/event (this process), PostgreSQL {pg:6.1f} µs/event"
        )


if __name__ == "__main__":
    logs.configure("bench", "WARNING")
    uvloop.run(main())
