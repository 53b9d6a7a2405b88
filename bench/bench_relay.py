"""The outbox relay alone: events/s from a full outbox to Kafka (signed, acknowledged by the broker, rows deleted),
against raw aiokafka producing the same records in the same run. Inside the backbone bench the relay shares the event
loop, PostgreSQL and the cores with the consumer and the bench's producer; this measures it alone (docs/benchmarks.md,
issue #22 fourth pass).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_relay.py

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; BENCH_EVENTS (default 20000), BENCH_RUNS (default 3).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

import uvloop
from aiokafka import AIOKafkaProducer
from bench_backbone import BOOTSTRAP, DB, RUNS, N, cleanup, envelopes
from lgnet_shared import db, logs, outbox
from lgnet_shared.fact_signing import FactSigner
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import ensure_topics, physical


async def relay_run(envs: list[object]) -> float:
    run = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_relay_{run}", f"bench{run}."
    await ensure_topics(BOOTSTRAP, prefix, names=["intake.events"])
    pool = await db.create_pool(DB, schema, max_size=4)
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        async with pool.acquire() as conn:
            for i in range(0, len(envs), 500):
                async with conn.transaction():
                    await outbox.append(conn, envs[i : i + 500])  # type: ignore[arg-type]
        signer = FactSigner(os.urandom(32), "national", "intake", "national")
        relay = outbox.OutboxRelay(pool, BOOTSTRAP, topic_prefix=prefix, signer=signer)
        start = time.perf_counter()
        await relay.start()
        while relay.published < len(envs):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        await relay.stop()
    finally:
        await pool.close()
        await cleanup(schema, prefix)
    return len(envs) / elapsed


async def raw_run(envs: list[object]) -> float:
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    await ensure_topics(BOOTSTRAP, prefix, names=["intake.events"])
    topic = physical("intake.events", prefix)
    payloads = [(e.key, *e.to_structured()) for e in envs]  # type: ignore[attr-defined]
    producer = AIOKafkaProducer(**client_kwargs(BOOTSTRAP), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, value, key=key, headers=headers) for key, value, headers in payloads]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
        await cleanup(None, prefix)
    return len(envs) / elapsed


async def main() -> None:
    envs: list[object] = list(envelopes(N))
    raw, relayed = [], []
    for i in range(RUNS):
        raw.append(await raw_run(envs))
        relayed.append(await relay_run(envs))
        print(f"run {i + 1}: raw produce {raw[-1]:,.0f} ev/s, relay {relayed[-1]:,.0f} ev/s", flush=True)
    r, b = statistics.median(raw), statistics.median(relayed)
    print(f"events={N} runs={RUNS}: raw aiokafka produce {r:,.0f} events/s; relay {b:,.0f} (ratio {b / r:.2f})")


if __name__ == "__main__":
    logs.configure("bench", "WARNING")
    uvloop.run(main())
