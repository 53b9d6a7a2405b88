"""Partner inbound events validated, authorised and committed per second by intake's gatekeeper, with the
latency from the inbound record to the canonical event on `lgnet.intake.events` (p50, p99): in the burst that
measures throughput (mostly queueing), and under a steady BENCH_RATE events/s (default 1000, half the goal) for
BENCH_PACED events (default 5000), which is what a partner waits for its answer on a busy day.

    make bench   # or: set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_intake_gatekeeper.py

Each event is a signed person registration whose identity (two names and the birth date) is sealed at once, as
registration v3 recommends (`identity.all`: one HPKE message; BENCH_IDENTITY=fields seals each field alone, as v2
did: three); the partner's cost of sealing and signing is paid before timing starts. They are sent by
BENCH_PARTNERS partners (default 12: inbound events are keyed by partner, so one partner's events are processed in
order and different partners' in parallel).
Intake runs as real service processes (`lgnet-intake`), BENCH_PROCESSES of them (default "1,2": each run
measures one process, then two in one consumer group). BENCH_EVENTS (default 10000), BENCH_RUNS (default 3).
Before timing, BENCH_WARM (default 2000) registrations go through the same path and the persons table is
analysed, as in a city already at work (on an empty table the planner's cached plans are for a tiny table until
autovacuum's next analyse).

The limit in the same run: a raw round trip of the same records at the same rate (aiokafka producer → topic →
consumer, no intake), and the steady latency is split where it is spent: from the partner's send until the relay puts
the canonical event in a record batch (the canonical record's timestamp: intake's fetch, processing, commit and the
relay's pick-up), and from there until it is read back (the relay's produce and the reader's fetch). BENCH_WARMUP_RUNS
(default 1): whole runs first, untimed, with the last of BENCH_PROCESSES — a broker started minutes before runs its
code interpreted at first: in the first run after `make infra` it spent 0.79 ms of CPU per event, in the next 0.25 to
0.38, and the latency followed (docs/benchmarks-history.md, "Twenty-fifth pass"); a city's broker runs for months.
BENCH_BURST=0 skips the burst (latency only). BENCH_TENTHS=1 prints the p50 of each tenth of the steady phase (rising
tenths: intake falls behind and a queue builds). Over the steady phase the bench also reports the intake processes'
CPU time per event (user + system, all threads, from /proc), the share of their wall time it is, and the events per
fetched batch (the consumer's processing histogram), so a run on a shared machine can be judged by what intake spent,
not only by how long it waited for a core; and, per event, what the broker, PostgreSQL and this process (the partners'
producer and the reader of the canonical events) spent, with the share of the machine's cores that was busy: a latency
measured on a saturated machine is a queue for the cores.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bench_backbone import Cpu, cleanup
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Role
from lgnet_shared import signing
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import partner as inbound
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.topics import partner_inbound, physical
from proc_cpu import cpu_of, machine_busy

N = int(os.environ.get("BENCH_EVENTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CITY = "torino"  # the city whose intake and partners are measured
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "12"))  # a large city works with many cooperatives
WARM = int(os.environ.get("BENCH_WARM", "2000"))  # registrations before timing starts
# Latency under a steady load below capacity (in a burst it is mostly time spent queueing).
PACED = int(os.environ.get("BENCH_PACED", "5000"))
RATE = float(os.environ.get("BENCH_RATE", "1000"))
# Intake deployments compared: one process, and one per core (the inbound topic is keyed by partner).
BURST = os.environ.get("BENCH_BURST", "1") != "0"
WARMUP_RUNS = int(os.environ.get("BENCH_WARMUP_RUNS", "1"))
TENTHS = os.environ.get("BENCH_TENTHS", "0") != "0"  # p50 of each tenth of the steady phase: does a queue build?
PROCESSES = [int(p) for p in os.environ.get("BENCH_PROCESSES", "1,2").split(",")]
ONE_BY_ONE = os.environ.get("BENCH_IDENTITY", "all") == "fields"  # v2's form: one HPKE message per field
INTAKE = str(Path(sys.executable).with_name("lgnet-intake"))
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]


async def run_once(processes: int) -> tuple[float, ...]:
    run = uuid.uuid4().hex[:8]
    split: list[tuple[float, float]] = []
    schema, prefix = f"bench_intake_{run}", f"benchintake{run}."
    master = base64.b64encode(os.urandom(32)).decode()
    env = service_env(BOOTSTRAP, DB, schema, prefix, city=CITY, master_key=master)
    logs = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    services = [ServiceProcess([INTAKE], env, logs / f"intake-{i}.log") for i in range(processes)]
    await services[0].start()  # migrations and topics
    await asyncio.gather(*(svc.start() for svc in services[1:]))
    keys = {f"coop-{p}": Ed25519PrivateKey.generate() for p in range(PARTNERS)}
    conn = await asyncpg.connect(DB, server_settings={"search_path": schema})
    try:
        for partner, key in keys.items():
            await credentials.add_actor(conn, partner, Role.PARTNER, "torino", partner)
            await credentials.add_signing_key(conn, f"{partner}-key", partner, signing.public_bytes(key))
        key_id, _, public = await credentials.inbound_key(conn, base64.b64decode(master))
    finally:
        await conn.close()
    clients = {
        p: PartnerClient(
            BOOTSTRAP, partner=p, city=CITY, topic_prefix=prefix, intake_public_key=public, intake_key_id=key_id
        )
        for p in keys
    }
    producer = AIOKafkaProducer(**client_kwargs(BOOTSTRAP), linger_ms=5, max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(
        physical("intake.events", prefix), **client_kwargs(BOOTSTRAP), auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        await asyncio.sleep(3)  # the consumer group settles
        # A city already at work: persons on file and the planner's statistics current (autovacuum would).
        await measure(producer, consumer, prefix, registrations(clients, keys, range(N, N + WARM)))
        conn = await asyncpg.connect(DB, server_settings={"search_path": schema})
        await conn.execute("analyze persons")
        await conn.close()
        elapsed, burst = (
            await measure(producer, consumer, prefix, registrations(clients, keys, range(N))) if BURST else (N, [0.0])
        )
        paced = registrations(clients, keys, range(N + WARM, N + WARM + PACED))
        cpu_before, wall_before, batches_before = cpu_seconds(services), time.perf_counter(), await batches(services)
        others, machine_before = Cpu(), machine_busy()
        others.start()
        _, steady = await measure(producer, consumer, prefix, paced, rate=RATE, split=split)
        cpu = cpu_seconds(services) - cpu_before
        own, broker, pg = others.stop()
        machine = (machine_busy() - machine_before) / (time.perf_counter() - wall_before) / (os.cpu_count() or 1)
        per_batch = PACED / max(1.0, await batches(services) - batches_before)
        cpu_ms, busy = cpu * 1000 / PACED, cpu / (time.perf_counter() - wall_before) / processes
        raw = await raw_round_trip(producer, prefix, paced)
    finally:
        await consumer.stop()
        await producer.stop()
        for svc in services:
            svc.stop()
        await cleanup(schema, prefix)
    return (
        N / elapsed,
        *percentiles(burst),
        *percentiles(steady),
        *percentiles(raw),
        *split_medians(split),
        cpu_ms,
        busy,
        per_batch,
        broker * 1000 / PACED,
        pg * 1000 / PACED,
        own * 1000 / PACED,
        machine,
    )


async def batches(services: list[ServiceProcess]) -> float:
    """Fetched batches the intake processes have processed so far (their consumer's processing histogram)."""
    total = 0.0
    async with httpx.AsyncClient() as client:
        for svc in services:
            for line in (await client.get(f"{svc.url}/metrics")).text.splitlines():
                if line.startswith("lgnet_event_processing_seconds_count"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(services: list[ServiceProcess]) -> float:
    """CPU time (user + system, every thread) the intake processes have used so far, from /proc."""
    total = 0.0
    for svc in services:
        assert svc.proc is not None
        total += cpu_of(svc.proc.pid)
    return total


async def raw_round_trip(producer: AIOKafkaProducer, prefix: str, records: list[Record]) -> list[float]:
    """The floor: the same records at the same rate through a topic of their own and straight back (no intake)."""
    topic = partner_inbound(CITY, prefix) + ".raw"
    admin = AIOKafkaAdminClient(**client_kwargs(BOOTSTRAP))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(BOOTSTRAP), auto_offset_reset="earliest")
    await consumer.start()
    try:
        await asyncio.sleep(1)
        sent_at: dict[str, float] = {}
        latencies: list[float] = []

        async def collect() -> None:
            while len(latencies) < len(records):
                batch = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for rs in batch.values():
                    for r in rs:
                        latencies.append(now - sent_at.pop(json.loads(r.value)["id"]))

        collector = asyncio.create_task(collect())
        start = time.perf_counter()
        futures = []
        for i, (env, value, headers) in enumerate(records):
            if (delay := start + i / RATE - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            sent_at[env.id] = time.time()
            futures.append(await producer.send(topic, value, key=env.key, headers=headers))
        await asyncio.gather(*futures)
        await asyncio.wait_for(collector, 120)
    finally:
        await consumer.stop()
    return latencies


Record = tuple[Envelope, bytes, list[tuple[str, bytes]]]


def registrations(clients: dict[str, PartnerClient], keys: dict[str, Ed25519PrivateKey], ids: range) -> list[Record]:
    """Signed registrations, sealed and signed beforehand (the partner's cost, not the gatekeeper's)."""
    records = []
    for i in ids:
        partner = f"coop-{i % PARTNERS}"
        client, key = clients[partner], keys[partner]
        born = date(1980 + i % 40, 1 + i % 12, 1 + i % 28)
        if ONE_BY_ONE:
            identity = inbound.PartnerIdentityV3(
                given_name=client.seal("given_name", f"Name{i}"),
                family_name=client.seal("family_name", f"Fam{i}"),
                birth_date=client.seal_birth_date(born),
            )
        else:
            identity = client.seal_identity(born, given_name=f"Name{i}", family_name=f"Fam{i}")
        event = inbound.PersonRegistrationSubmitted(
            person_id=f"b-{i}", sex="female", nationality="NG", identity=identity
        )
        env = client.envelope(event)
        value, headers = env.to_structured()
        headers.append(signing.sign(key, f"{partner}-key", value, headers))
        records.append((env, value, headers))
    return records


async def measure(
    producer: AIOKafkaProducer,
    consumer: AIOKafkaConsumer,
    prefix: str,
    records: list[Record],
    rate: float = 0,
    split: list[tuple[float, float]] | None = None,
) -> tuple[float, list[float]]:
    """Send the records all at once (rate 0) or `rate` per second; seconds until the last canonical event, and
    each record's latency (sent → its canonical event read back). `split` receives, per record, (sent → the
    canonical record's timestamp, that timestamp → read back)."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    index = {env.id: i for i, (env, _, _) in enumerate(records)}
    by_send: list[tuple[int, float]] = []  # (place in the sending order, latency): a queue that builds shows

    async def collect() -> None:
        while len(latencies) < len(records):
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for rs in batch.values():
                for r in rs:
                    cause = json.loads(r.value).get("causationid")
                    if cause in sent_at:
                        sent = sent_at.pop(cause)
                        by_send.append((index[cause], now - sent))
                        latencies.append(now - sent)
                        if split is not None:
                            split.append((r.timestamp / 1000 - sent, now - r.timestamp / 1000))

    collector = asyncio.create_task(collect())
    start = time.perf_counter()
    futures = []
    for i, (env, value, headers) in enumerate(records):
        if rate and (delay := start + i / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        sent_at[env.id] = time.time()
        futures.append(await producer.send(partner_inbound(CITY, prefix), value, key=env.key, headers=headers))
    await asyncio.gather(*futures)  # a failed send must fail the run, not vanish
    try:
        await asyncio.wait_for(collector, 300)
    except TimeoutError:
        raise TimeoutError(f"only {len(latencies)} of {len(records)} canonical events after 300 s") from None
    if TENTHS and rate:
        by_send.sort()
        step = max(1, len(by_send) // 10)
        tenths = [statistics.median(x for _, x in by_send[k : k + step]) * 1000 for k in range(0, len(by_send), step)]
        print("p50 of each tenth of the steady phase (ms):", " ".join(f"{t:.0f}" for t in tenths), flush=True)
    return time.perf_counter() - start, latencies


def split_medians(split: list[tuple[float, float]]) -> tuple[float, float]:
    """Median ms of each part of the steady latency: to the relay's record batch, and from there to the reader."""
    return tuple(statistics.median(part) * 1000 for part in zip(*split, strict=True)) if split else (0.0, 0.0)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99, in milliseconds."""
    latencies = sorted(latencies)
    return latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


async def main() -> None:
    results: dict[int, list[tuple[float, ...]]] = {p: [] for p in PROCESSES}
    for _ in range(WARMUP_RUNS):  # the broker's compiler catches up: not counted
        r = await run_once(PROCESSES[-1])
        print(f"warm-up run (untimed): p50 {r[3]:.0f} ms, p99 {r[4]:.0f} ms; {_machine(r[9], *r[12:])}", flush=True)
    for i in range(RUNS):  # interleaved, so machine noise hits every deployment alike
        for p in PROCESSES:
            results[p].append(await run_once(p))
            r = results[p][-1]
            print(
                f"run {i + 1}, {p} intake process(es): burst {r[0]:,.0f} events/s"
                f" (p50 {r[1]:.0f} ms, p99 {r[2]:.0f} ms); at {RATE:,.0f}/s p50 {r[3]:.0f} ms, p99 {r[4]:.0f} ms"
                f" (to the relay's batch {r[7]:.0f} ms, on to the reader {r[8]:.0f} ms);"
                f" raw round trip p50 {r[5]:.0f} ms, p99 {r[6]:.0f} ms;"
                f" intake CPU {r[9]:.2f} ms per event, {r[10]:.0%} of each process's wall time,"
                f" {r[11]:.1f} events per fetched batch (steady phase); {_machine(r[9], *r[12:])}",
                flush=True,
            )
    print(f"events={N} warm-up={WARM} runs={RUNS} (after {WARMUP_RUNS} untimed)", end=" ")
    print(f"partners={PARTNERS} steady={PACED} at {RATE:,.0f}/s")
    base = statistics.median(r[0] for r in results[PROCESSES[0]])
    for p, rs in results.items():
        rate, p50, p99, s50, s99, r50, r99, to_relay, to_reader, cpu_ms, busy, per_batch, *others = (
            statistics.median(r[k] for r in rs) for k in range(16)
        )
        print(
            f"{p} intake process(es): {rate:,.0f} events/s (median, {rate / base:.2f}x {PROCESSES[0]} process),"
            f" burst latency p50 {p50:.0f} ms, p99 {p99:.0f} ms;"
            f" at {RATE:,.0f} events/s p50 {s50:.0f} ms, p99 {s99:.0f} ms"
            f" (to the relay's batch {to_relay:.0f} ms, on to the reader {to_reader:.0f} ms);"
            f" raw round trip in the same run p50 {r50:.0f} ms, p99 {r99:.0f} ms;"
            f" intake CPU {cpu_ms:.2f} ms per event (steady phase, {busy:.0%} of each process's wall time,"
            f" {per_batch:.1f} events per fetched batch); {_machine(cpu_ms, *others)}"
        )


def _machine(intake_ms: float, broker_ms: float, pg_ms: float, own_ms: float, busy: float) -> str:
    """Where the machine's CPU went in the steady phase, per event: is it saturated, and by whom?"""
    return (
        f"CPU per event in the steady phase: intake {intake_ms:.2f} ms, broker {broker_ms:.2f}, PostgreSQL"
        f" {pg_ms:.2f}, the partners and the reader (this process) {own_ms:.2f}; the machine's cores {busy:.0%} busy"
    )


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
