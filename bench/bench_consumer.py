"""The consumer alone, against real PostgreSQL: signed facts already fetched (as the relay signs them, six
partitions, 500 records per partition per fetch) go through `Consumer.process` — signature checks, envelope and
payload, inbox, the handler's effect, positions, one transaction per partition — with a per-event handler (one
insert per event), the same handler pipelined (`PipelinedHandler`), and a batch handler (one `executemany`).
No Kafka and no relay: what the consumer itself costs, which the end-to-end backbone bench cannot separate from
the relay that feeds it. Prints, per path, the median events/s (wall) and the process's CPU µs per event
(`time.process_time`: less sensitive to other processes' load than the wall clock).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_consumer.py
    PYTHONPATH=/tmp/old/shared/src .venv/bin/python bench/bench_consumer.py    # older code (no pipelined path)

Environment: DATABASE_URL; BENCH_EVENTS (default 12000), BENCH_RUNS (default 5). BENCH_FETCH=k (default 0: the
fetches above) hands out fetches of k records of one partition instead, signed k at a time, as a relay and a consumer
at a low rate see them (k=1: every event its own fetch, signed batch and transaction); comparing k=1 with the
default gives the consumer's own cost per fetch, apart from Kafka and the relay.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from aiokafka.structs import ConsumerRecord
from lgnet_shared import db, logs
from lgnet_shared.consumer import MIGRATION, BatchHandler, Consumer, Handler, handlers_of
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.fact_signing import FactAuthenticator, KeyRegistry

sys.path.insert(0, str(Path(__file__).parent))
import bench_signing_cpu as signed_facts  # the same signed facts, built the relay's way

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FETCH = int(os.environ.get("BENCH_FETCH", "0"))
DB = os.environ["DATABASE_URL"]


async def apply_one(conn: Any, env: Envelope, event: Event) -> None:
    await conn.execute("insert into effects (event_id) values ($1)", env.id)


async def apply_many(conn: Any, run: Sequence[tuple[Envelope, Event]]) -> None:
    await conn.executemany("insert into effects (event_id) values ($1)", [(env.id,) for env, _ in run])


HANDLERS: dict[str, Handler] = {"event": apply_one, "batch": BatchHandler(apply_many)}
try:
    from lgnet_shared.consumer import PipelinedHandler

    HANDLERS["event, pipelined"] = PipelinedHandler(apply_one)
except ImportError:  # older code, for A/B runs
    pass


def fetches() -> list[list[ConsumerRecord[bytes, bytes]]]:
    """What the consumer's fetches would hand out: per fetch, the records of every partition (500 each)."""
    per_partition = signed_facts.records(signed_facts.relay())
    rounds: dict[int, list[Any]] = {}
    counts: dict[int, int] = {}
    for chunk in per_partition:
        p = chunk[0].partition
        rounds.setdefault(counts.get(p, 0), []).extend(
            ConsumerRecord(r.topic, r.partition, r.offset, 0, 0, r.key, r.value, None, len(r.value), 0, r.headers)
            for r in chunk
        )
        counts[p] = counts.get(p, 0) + 1
    return [rounds[i] for i in sorted(rounds)]


def small_fetches(k: int) -> list[list[Any]]:
    """Fetches of `k` records of one partition, each fetch one whole signed batch (at a low rate, what the relay
    publishes per cycle is what a consumer gets per fetch); the partitions take turns."""
    rows: list[list[tuple[bytes, list[tuple[str, bytes]]]]] = [[] for _ in range(signed_facts.PARTITIONS)]
    for i, (value, headers) in enumerate(signed_facts.unsigned):
        rows[i % signed_facts.PARTITIONS].append((value, list(headers)))
    per_partition: list[list[list[Any]]] = []
    for p, part in enumerate(rows):
        fetches_of_p = []
        for start in range(0, len(part), k):
            chunk = part[start : start + k]
            signed = signed_facts.signer.sign_batch(chunk)
            fetches_of_p.append(
                [
                    ConsumerRecord("lgnet.intake.events", p, start + n, 0, 0, b"k", v, None, len(v), 0, [*h, sig])
                    for n, ((_, h), (v, sig)) in enumerate(zip(chunk, signed, strict=True))
                ]
            )
        per_partition.append(fetches_of_p)
    return [f for turn in itertools.zip_longest(*per_partition) for f in turn if f is not None]


async def run_once(batches: list[list[Any]], handler: Handler) -> tuple[float, float]:
    schema = f"bench_consumer_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(DB, schema, max_size=8)
    try:
        await db.migrate(pool, [MIGRATION, ("bench-1", "create table effects (event_id text primary key)")])
        registry = KeyRegistry("unused:9092")
        registry.add([signed_facts.signer.key])
        facts = FactAuthenticator(registry)
        consumer = Consumer(
            "bench",
            pool,
            None,  # type: ignore[arg-type]  # nothing is dead-lettered
            handlers_of((EmploymentRecorded, handler)),
            authenticate=facts.authenticate,
            verify=facts.verify,
            prepare=facts.prepare,
        )
        cpu, wall = time.process_time(), time.perf_counter()
        for batch in batches:
            await consumer.process(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        async with pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from effects") == signed_facts.N
    finally:
        await pool.close()
        conn = await asyncpg.connect(DB)
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()
    return signed_facts.N / wall, cpu / signed_facts.N * 1e6


async def main() -> None:
    batches = small_fetches(FETCH) if FETCH > 0 else fetches()
    rates: dict[str, list[float]] = {kind: [] for kind in HANDLERS}
    cpus: dict[str, list[float]] = {kind: [] for kind in HANDLERS}
    for _ in range(RUNS):  # interleaved, so machine noise hits every path alike
        for kind, handler in HANDLERS.items():
            rate, cpu = await run_once(batches, handler)
            rates[kind].append(rate)
            cpus[kind].append(cpu)
    shape = f"{FETCH} record(s) of one partition" if FETCH > 0 else f"{len(batches[0])} records over 6 partitions"
    print(f"events={signed_facts.N} runs={RUNS} (medians; fetches of {shape})")
    for kind in HANDLERS:
        runs = " / ".join(f"{r:,.0f}" for r in rates[kind])
        print(
            f"consumer, {kind + ' handler':23s}: {statistics.median(rates[kind]):8,.0f} events/s ({runs}); "
            f"CPU {statistics.median(cpus[kind]):6.1f} µs/event"
        )


if __name__ == "__main__":
    logs.configure("bench", "WARNING")
    uvloop.run(main())
