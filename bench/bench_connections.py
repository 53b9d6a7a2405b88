"""What a client's connections to the secured broker cost, and what a service's start spends on them
(`lgnet_shared.kafka_connections`).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_connections.py

1. One connection: a client's bootstrap (TCP, TLS handshake, SCRAM-SHA-512 exchange, API versions, a metadata
   request) and its close, BENCH_CONNECTIONS times (default 60): this process's and the broker's CPU per connection.
2. A service's start and stop: a Runtime in this process (a consumer group on intake.events, the outbox relay, the
   key registry, readiness once), its schema and topics made once before, BENCH_STARTS times (default 10): the
   connections it opened, this process's and the broker's CPU per start.

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL. Prints the medians of BENCH_ROUNDS rounds (default 3). The code
before (A/B): its `shared/src` first on PYTHONPATH (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

import asyncpg
import one_consumer
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import AIOKafkaConnection
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime
from proc_cpu import KAFKA_PIDFILE, cpu_of, pid_of

BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "60"))
STARTS = int(os.environ.get("BENCH_STARTS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
KAFKA_PID = pid_of("BENCH_KAFKA_PID", KAFKA_PIDFILE)

opened = 0
_connect = AIOKafkaConnection.connect


async def _counting(conn: AIOKafkaConnection) -> None:
    global opened
    opened += 1
    await _connect(conn)


AIOKafkaConnection.connect = _counting


async def _ignore(*_: object) -> None:
    return None


def measured() -> tuple[float, float]:
    return time.process_time(), cpu_of(KAFKA_PID) if KAFKA_PID else 0.0


async def connections() -> tuple[float, float]:
    """CPU ms per connection: this process, the broker."""
    kwargs = {
        k: v
        for k, v in client_kwargs(BOOTSTRAP).items()
        if k.startswith(("bootstrap", "security", "ssl", "sasl"))  # what AIOKafkaClient itself takes
    }
    me, broker = measured()
    for _ in range(CONNECTIONS):
        client = AIOKafkaClient(**kwargs)
        await client.bootstrap()
        await client.close()
    me2, broker2 = measured()
    return 1000 * (me2 - me) / CONNECTIONS, 1000 * (broker2 - broker) / CONNECTIONS


def service(schema: str, prefix: str) -> Runtime:
    return one_consumer.runtime(BOOTSTRAP, DB, schema, prefix, _ignore)


async def starts(schema: str, prefix: str) -> tuple[float, float, float]:
    """Per start and stop: connections opened, CPU ms of this process, of the broker."""
    before = opened
    me, broker = measured()
    for _ in range(STARTS):
        runtime = service(schema, prefix)
        await runtime.start()
        try:
            checks = await runtime.ready()
            assert checks.get("kafka") == "ok", checks
        finally:
            await runtime.stop()
    me2, broker2 = measured()
    return (opened - before) / STARTS, 1000 * (me2 - me) / STARTS, 1000 * (broker2 - broker) / STARTS


async def main() -> None:
    run = uuid.uuid4().hex[:8]
    schema, prefix = f"benchconn_{run}", f"benchconn{run}."
    conn = await asyncpg.connect(DB)
    await conn.execute(f'create schema "{schema}"')
    try:
        warm = service(schema, prefix)  # migrations, topics, the signing key: once, outside the measure
        await warm.start()
        await warm.stop()
        one: list[tuple[float, float]] = []
        start: list[tuple[float, float, float]] = []
        for r in range(ROUNDS):
            one.append(await connections())
            start.append(await starts(schema, prefix))
            print(
                f"round {r + 1}: one connection {one[-1][0]:.1f} ms CPU here, {one[-1][1]:.1f} ms the broker; "
                f"a service start {start[-1][0]:.1f} connections, {start[-1][1]:.0f} ms CPU here, "
                f"{start[-1][2]:.0f} ms the broker",
                flush=True,
            )
        med = [statistics.median(x) for x in zip(*one, strict=True)]
        meds = [statistics.median(x) for x in zip(*start, strict=True)]
        print(f"connections={CONNECTIONS} starts={STARTS} rounds={ROUNDS} (medians)")
        print(f"one connection   : {med[0]:.1f} ms CPU in this process, {med[1]:.1f} ms in the broker")
        print(
            f"a service start  : {meds[0]:.1f} connections, {meds[1]:.0f} ms CPU in this process, "
            f"{meds[2]:.0f} ms in the broker"
        )
    finally:
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
