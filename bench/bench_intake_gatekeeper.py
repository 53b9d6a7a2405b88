"""Partner inbound events validated, authorised and committed per second by intake's gatekeeper, with the
latency from the inbound record to the canonical event on `lgnet.intake.events` (p50, p99).

    make bench   # or: set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_intake_gatekeeper.py

Each event is a signed person registration with two HPKE-sealed identifying fields (the partner's cost of
sealing and signing is paid before timing starts), sent by BENCH_PARTNERS partners (default 6: inbound events
are keyed by partner, so one partner's events are processed in order and different partners' in parallel).
BENCH_EVENTS (default 10000), BENCH_RUNS (default 3). Before timing, BENCH_WARM (default 2000) registrations go
through the same path and the persons table is analysed, as in a city already at work (on an empty table the
planner's cached plans are for a tiny table until autovacuum's next analyse).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import time
import uuid
from datetime import date

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bench_backbone import cleanup  # type: ignore[import-not-found]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Role
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared import config, signing
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import partner as inbound
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.service import Runtime
from lgnet_shared.topics import physical

N = int(os.environ.get("BENCH_EVENTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "6"))  # a city works with several cooperatives
WARM = int(os.environ.get("BENCH_WARM", "2000"))  # registrations before timing starts
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]


async def run_once() -> tuple[float, float, float]:
    run = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_intake_{run}", f"benchintake{run}."
    settings = config.Settings(
        kafka_bootstrap_servers=BOOTSTRAP,
        database_url=DB,
        city="torino",
        db_schema=schema,
        topic_prefix=prefix,
        master_key=base64.b64encode(os.urandom(32)).decode(),
    )  # type: ignore[call-arg]
    runtime = Runtime(SPEC, settings)
    await runtime.start()
    keys = {f"coop-{p}": Ed25519PrivateKey.generate() for p in range(PARTNERS)}
    async with runtime.pool.acquire() as conn:
        for partner, key in keys.items():
            await credentials.add_actor(conn, partner, Role.PARTNER, "torino", partner)
            await credentials.add_signing_key(conn, f"{partner}-key", partner, signing.public_bytes(key))
        key_id, _, public = await credentials.inbound_key(conn, settings.master_key_bytes())
    clients = {
        p: PartnerClient(
            BOOTSTRAP, partner=p, city="torino", topic_prefix=prefix, intake_public_key=public, intake_key_id=key_id
        )
        for p in keys
    }
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=5, max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(
        physical("intake.events", prefix), bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        await asyncio.sleep(2)  # consumer group settles
        # A city already at work: persons on file and the planner's statistics current (autovacuum would).
        await burst(producer, consumer, prefix, registrations(clients, keys, range(N, N + WARM)))
        async with runtime.pool.acquire() as conn:
            await conn.execute("analyze persons")
        elapsed, latencies = await burst(producer, consumer, prefix, registrations(clients, keys, range(N)))
    finally:
        await consumer.stop()
        await producer.stop()
        await runtime.stop()
        await cleanup(schema, prefix)
    latencies.sort()
    return N / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


Record = tuple[Envelope, bytes, list[tuple[str, bytes]]]


def registrations(clients: dict[str, PartnerClient], keys: dict[str, Ed25519PrivateKey], ids: range) -> list[Record]:
    """Signed registrations, sealed and signed beforehand (the partner's cost, not the gatekeeper's)."""
    records = []
    for i in ids:
        partner = f"coop-{i % PARTNERS}"
        client, key = clients[partner], keys[partner]
        event = inbound.PersonRegistrationSubmitted(
            person_id=f"b-{i}",
            birth_date=date(1980 + i % 40, 1 + i % 12, 1 + i % 28),
            sex="female",
            nationality="NG",
            identity=inbound.PartnerIdentity(
                given_name=client.seal("given_name", f"Name{i}"), family_name=client.seal("family_name", f"Fam{i}")
            ),
        )
        env = client.envelope(event)
        value, headers = env.to_structured()
        headers.append(signing.sign(key, f"{partner}-key", value, headers))
        records.append((env, value, headers))
    return records


async def burst(
    producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, prefix: str, records: list[Record]
) -> tuple[float, list[float]]:
    """Send all at once; seconds until the last canonical event, and each record's latency."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    start = time.perf_counter()
    futures = []
    for env, value, headers in records:
        sent_at[env.id] = time.time()
        futures.append(await producer.send(physical("partner.inbound", prefix), value, key=env.key, headers=headers))
    await asyncio.gather(*futures)  # a failed send must fail the run, not vanish
    while sent_at:
        batch = await consumer.getmany(timeout_ms=1000)
        now = time.time()
        for rs in batch.values():
            for r in rs:
                cause = json.loads(r.value).get("causationid")
                if cause in sent_at:
                    latencies.append(now - sent_at.pop(cause))
        if time.perf_counter() - start > 300:
            raise TimeoutError(f"only {len(latencies)} of {len(records)} canonical events after 300 s")
    return time.perf_counter() - start, latencies


async def main() -> None:
    results = []
    for i in range(RUNS):
        results.append(await run_once())
        print(
            f"run {i + 1}: {results[-1][0]:,.0f} events/s, p50 {results[-1][1]:.0f} ms, p99 {results[-1][2]:.0f} ms",
            flush=True,
        )
    print(f"events={N} runs={RUNS}")
    print(f"gatekeeper throughput : {statistics.median(r[0] for r in results):,.0f} events/s (median)")
    print(f"latency inbound→canonical p50 : {statistics.median(r[1] for r in results):.0f} ms (median of runs)")
    print(f"latency inbound→canonical p99 : {statistics.median(r[2] for r in results):.0f} ms (median of runs)")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
