"""Events per second through the backbone (outbox → relay → Kafka → FastStream batch subscriber → inbox +
effect, all real), against raw aiokafka produce + consume of the same payloads in the same run.

    make bench            # or: set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_backbone.py

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; BENCH_EVENTS (default 20000), BENCH_RUNS (default 3);
BENCH_WARMUP (default 5): untimed raw runs first — a fresh broker's JIT compiler took the raw baseline from 11,849
to 35,049 events/s over its first six runs, while the backbone's paths, bound by this process, hardly moved
(docs/benchmarks-history.md, "Fifteenth pass");
BENCH_TRACING=1 records every span (SDK with a batch processor) as a service with an exporter would.
The consumer runs with a per-event handler (one insert per event), the same handler pipelined (its inserts sent
together, `consumer.PipelinedHandler`), and a batch handler (one `executemany` per run of events, as reporting's
projector does), signed, and both the per-event and the batch handler unsigned (`event-unsigned`, `unsigned`: the
baselines of the signing cost, #16's "≤ 10 % slower", on each path). BENCH_PATHS (default
`raw,event,event-unsigned,pipelined,batch,unsigned`) runs only some paths (a profile of one of them). Prints medians
and ratios to raw.

Besides events per second, each path's CPU time per event: this process's (relay and consumer), the local Kafka
broker's and PostgreSQL's (their processes' CPU counters in /proc, found from `.local/`; BENCH_KAFKA_PID and
BENCH_PG_PID override). CPU time is what other processes' load changes least, so on a shared machine the signing
on/off ratio in CPU is the steadier figure (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg
import one_consumer
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_shared import db, logs, outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import BatchHandler, Handler
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import ensure_topics, physical
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from proc_cpu import KAFKA_PIDFILE, PG_PIDFILE, cpu_of, pid_of, tree_cpu

N = int(os.environ.get("BENCH_EVENTS", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
PATHS = os.environ.get("BENCH_PATHS", "raw,event,event-unsigned,pipelined,batch,unsigned").split(",")
KAFKA_PID = pid_of("BENCH_KAFKA_PID", KAFKA_PIDFILE)
PG_PID = pid_of("BENCH_PG_PID", PG_PIDFILE)


class Cpu:
    """CPU seconds spent between `start` and `stop` by this process, the broker, and PostgreSQL (the postmaster and
    its backends; a backend that ended in between is missed, so the benchmark keeps its connections open); and
    this process's CPU in the cyclic garbage collector (`gc_s`), which allocations per record drive."""

    def __init__(self) -> None:
        self.gc_s, self._gc_at = 0.0, 0.0

    def _gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_at = time.process_time()
        else:
            self.gc_s += time.process_time() - self._gc_at

    def start(self) -> None:
        self._pg = self._pg_now()
        self._at = (time.process_time(), cpu_of(KAFKA_PID) if KAFKA_PID else 0.0)
        gc.callbacks.append(self._gc)

    @staticmethod
    def _pg_now() -> dict[int, float]:
        return tree_cpu(PG_PID)

    def stop(self) -> tuple[float, float, float]:
        gc.callbacks.remove(self._gc)
        pg = self._pg_now()
        used = sum(cpu - self._pg.get(p, 0.0) for p, cpu in pg.items())
        return time.process_time() - self._at[0], (cpu_of(KAFKA_PID) if KAFKA_PID else 0.0) - self._at[1], used


def envelopes(n: int) -> list[Envelope]:
    return [
        to_envelope(
            EmploymentRecorded(person_id=f"p{i}", status="training", as_of=date(2026, 1, 1)),
            source="/bench",
            city="torino",
        )
        for i in range(n)
    ]


async def apply_one(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    await conn.execute("insert into effects (event_id) values ($1)", env.id)


async def apply_many(conn: asyncpg.Connection, run: Sequence[tuple[Envelope, Event]]) -> None:
    await conn.executemany("insert into effects (event_id) values ($1)", [(env.id,) for env, _ in run])


# "event, pipelined": the same per-event handler declared pipelined (consumer.PipelinedHandler): its inserts travel
# to PostgreSQL together (one executemany per run), as a handler that does not read execute's status may.
HANDLERS: dict[str, Handler] = {"event": apply_one, "batch": BatchHandler(apply_many)}
try:
    from lgnet_shared.consumer import PipelinedHandler

    HANDLERS["event, pipelined"] = PipelinedHandler(apply_one)
except ImportError:  # the code before it (A/B runs with an older lgnet_shared first on PYTHONPATH)
    pass
UNSIGNED = "batch, unsigned"  # the batch handler with signing off: the baseline of the signing cost


async def backbone_run(
    envs: list[Envelope], handler: Handler, signed: bool = True
) -> tuple[float, tuple[float, float, float, float]]:
    """Signed, or unsigned: the baseline for the signing cost (one_consumer.runtime)."""
    run = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_{run}", f"bench{run}."
    runtime = one_consumer.runtime(BOOTSTRAP, DB, schema, prefix, handler, signed)
    await runtime.start()
    if not signed:
        assert runtime.relay is not None
        runtime.relay.signer = None
    conn = await asyncpg.connect(DB, server_settings={"search_path": schema})
    await db.init_connection(conn)
    try:
        await asyncio.sleep(3)  # let the consumer group settle before timing
        cpu = Cpu()
        cpu.start()
        start = time.perf_counter()
        for i in range(0, len(envs), 500):  # producers: 500 events per business transaction
            async with conn.transaction():
                await outbox.append(conn, envs[i : i + 500])
        while await conn.fetchval("select count(*) from effects") < len(envs):
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        used = (*cpu.stop(), cpu.gc_s)
    finally:
        await conn.close()
        await runtime.stop()
        await cleanup(schema, prefix)
    return len(envs) / elapsed, used


async def raw_run(envs: list[Envelope]) -> float:
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    await ensure_topics(BOOTSTRAP, prefix, names=["intake.events"])
    topic = physical("intake.events", prefix)
    payloads = [(e.key, *e.to_structured()) for e in envs]
    producer = AIOKafkaProducer(
        **client_kwargs(BOOTSTRAP), enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024
    )
    consumer = AIOKafkaConsumer(
        topic,
        **client_kwargs(BOOTSTRAP),
        group_id=f"raw{run}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    try:
        start = time.perf_counter()

        async def produce() -> None:
            futures = [await producer.send(topic, value, key=key, headers=headers) for key, value, headers in payloads]
            await asyncio.gather(*futures)

        prod = asyncio.create_task(produce())
        got = 0
        while got < len(envs):
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            got += sum(len(rs) for rs in batch.values())
            if batch:
                await consumer.commit()
        await prod
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
        await producer.stop()
        await cleanup(None, prefix)
    return len(envs) / elapsed


async def cleanup(schema: str | None, prefix: str) -> None:
    if schema:
        conn = await asyncpg.connect(DB)
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
    admin = AIOKafkaAdminClient(**client_kwargs(BOOTSTRAP))
    await admin.start()
    topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
    if topics:
        await admin.delete_topics(topics)
    await admin.close()


def _us(cpu: list[tuple[float, float, float, float]], part: int | None = None) -> float:
    """Median CPU µs per event: one part (this process, broker, PostgreSQL, this process's GC) or the sum of the
    first three."""
    return statistics.median(sum(c[:3]) if part is None else c[part] for c in cpu) / N * 1e6


async def main() -> None:
    envs = envelopes(N)
    raw: list[float] = []
    paths = {
        "event": (HANDLERS["event"], True),
        "event-unsigned": (HANDLERS["event"], False),
        "pipelined": (HANDLERS.get("event, pipelined"), True),  # absent in code before it (A/B runs)
        "batch": (HANDLERS["batch"], True),
        "unsigned": (HANDLERS["batch"], False),
    }
    names = {
        "event": "event",
        "event-unsigned": "event, unsigned",
        "pipelined": "event, pipelined",
        "batch": "batch",
        "unsigned": UNSIGNED,
    }
    chosen = [p for p in paths if p in PATHS and paths[p][0] is not None]
    backbone: dict[str, list[float]] = {p: [] for p in chosen}
    cpu: dict[str, list[tuple[float, float, float, float]]] = {p: [] for p in chosen}
    if WARMUP:  # a fresh broker runs its code interpreted at first: untimed raw runs let its compiler catch up
        warm = [await raw_run(envs) for _ in range(WARMUP)]
        print("warm-up, raw (untimed):", " ".join(f"{r:,.0f}" for r in warm), "ev/s", flush=True)
    for i in range(RUNS):  # interleaved, so machine noise hits every path alike
        if "raw" in PATHS:
            raw.append(await raw_run(envs))
        for p in chosen:
            handler, signing = paths[p]
            assert handler is not None
            rate, used = await backbone_run(envs, handler, signing)
            backbone[p].append(rate)
            cpu[p].append(used)
        figures = ", ".join(f"backbone ({names[p]} handler) {v[-1]:,.0f}" for p, v in backbone.items())
        print(f"run {i + 1}: raw {raw[-1] if raw else 0:,.0f} ev/s, {figures} ev/s", flush=True)
    r = statistics.median(raw) if raw else float("nan")
    print(f"events={N} runs={RUNS}")
    print(f"raw aiokafka produce+consume      : {r:,.0f} events/s (median)")
    for p, values in backbone.items():
        b = statistics.median(values)
        print(
            f"backbone, {names[p] + ' handler':23s}: {b:,.0f} events/s (median), ratio to raw {b / r:.2f}; CPU µs per"
            f" event {_us(cpu[p]):.0f} (this process {_us(cpu[p], 0):.0f} of which GC {_us(cpu[p], 3):.0f}, broker"
            f" {_us(cpu[p], 1):.0f},"
            f" PostgreSQL {_us(cpu[p], 2):.0f})"
        )
    for on, off, label in (("event", "event-unsigned", "per-event"), ("batch", "unsigned", "batch")):
        if on in backbone and off in backbone:
            signed, unsigned = statistics.median(backbone[on]), statistics.median(backbone[off])
            print(
                f"signing on vs off ({label + ' handler':17s}): {signed / unsigned:.2f}"
                f" ({(1 - signed / unsigned) * 100:+.0f} % slower); in CPU per event"
                f" {_us(cpu[off]) / _us(cpu[on]):.2f} ({_us(cpu[on]) - _us(cpu[off]):+.0f} µs)"
            )


def configure() -> None:
    """Logs and traces as a service configures them; BENCH_COMPRESSION (`none`, `gzip`, `lz4`, `zstd`): the relay's
    producer compression instead of its default."""
    logs.configure("bench", "WARNING")
    if os.environ.get("BENCH_COMPRESSION"):
        outbox.COMPRESSION = None if os.environ["BENCH_COMPRESSION"] == "none" else os.environ["BENCH_COMPRESSION"]
    if os.environ.get("BENCH_TRACING") == "1":
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(provider)


if __name__ == "__main__":
    configure()
    uvloop.run(main())  # the event loop services run on (uvicorn picks uvloop)
