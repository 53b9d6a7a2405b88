"""`lgnet-audit verify` throughput: signed facts read, signature-checked, placed and hashed into RFC 9162 trees, against
raw consume + JSON decode of the same records in the same run (the baseline).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_audit_verify.py

Environment: KAFKA_BOOTSTRAP_SERVERS (and KAFKA_*), BENCH_EVENTS (default 200000), BENCH_RUNS (default 3),
BENCH_WORKERS (verify's processes, default one per CPU as `lgnet-audit verify`), BENCH_PREFIX (reuse the topics of
an earlier run with BENCH_KEEP=1 instead of writing new ones).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import date

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_reporting.adapters import log
from lgnet_reporting.service_layer.audit import default_workers, verify_log
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.fact_signing import publish_key, read_registry
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.testing.facts import upstream_signer
from lgnet_shared.topics import TOPICS, ensure_topics, physical

N = int(os.environ.get("BENCH_EVENTS", "200000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PARTITIONS = TOPICS["intake.events"].partitions
RELAY_BATCH = 1000  # the outbox relay's batch (OutboxRelay.batch_size)
WORKERS = int(os.environ.get("BENCH_WORKERS", "0")) or default_workers()
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]


def facts(start: int, n: int, template: tuple[bytes, str]) -> list[tuple[bytes, bytes]]:
    """(key, value) of n employment facts from one envelope's JSON: a fresh id and person each (quicker than
    pydantic per event; what is verified — bytes, signature, placement, tree — is the same)."""
    value, event_id = template
    out = []
    for i in range(start, start + n):
        person = f"p{i}".encode()
        fresh = f"{event_id[:-12]}{i:012x}".encode()
        out.append((person, value.replace(event_id.encode(), fresh).replace(b'"p0"', b'"' + person + b'"')))
    return out


async def fill(prefix: str) -> None:
    """N facts on intake.events, signed as the outbox relay signs them (FactSigner.sign_batch over its batches)."""
    await ensure_topics(BOOTSTRAP, prefix)
    signer = upstream_signer("intake")
    env = to_envelope(
        EmploymentRecorded(person_id="p0", status="training", as_of=date(2026, 1, 1)), source="/b", city="torino"
    )
    value, headers = env.to_structured()
    producer = AIOKafkaProducer(**client_kwargs(BOOTSTRAP), linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        await publish_key(producer, signer.key, prefix)
        topic, futures = physical("intake.events", prefix), []
        for start in range(0, N, RELAY_BATCH):
            rows = facts(start, min(RELAY_BATCH, N - start), (value, env.id))
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}  # the relay signs per partition
            for key, v in rows:
                by_partition.setdefault(partition_of(key, PARTITIONS) or 0, []).append((key, v))
            for part, group in by_partition.items():
                signed = signer.sign_batch([(v, list(headers)) for _, v in group])
                for (key, _), (signed_value, signature) in zip(group, signed, strict=True):
                    futures.append(
                        await producer.send(topic, signed_value, key=key, headers=[*headers, signature], partition=part)
                    )
            if len(futures) > 50_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw(prefix: str) -> float:
    start, n = time.perf_counter(), 0
    topic = physical("intake.events", prefix)
    async for batch in log.read(BOOTSTRAP, await log.end_positions(BOOTSTRAP, [topic])):
        for r in batch:
            json.loads(r.value)
            n += 1
    assert n == N
    return n / (time.perf_counter() - start)


async def verify(prefix: str) -> float:
    """What `lgnet-audit verify` does (its service-layer function), timed from its first read to the checked trees."""
    keys = {k.key_id: k for k in await read_registry(BOOTSTRAP, prefix)}
    start = time.perf_counter()
    audit = await verify_log(BOOTSTRAP, prefix, keys, [], {}, WORKERS, min_parallel=0)
    audit.finish()
    elapsed = time.perf_counter() - start
    # No notary runs here: verify reports the log's want of any checkpoint, and nothing else.
    failures = [f for f in audit.failures if not f.reason.startswith("no signed checkpoint")]
    assert audit.events == N and audit.signatures == N and not failures, failures[:3]
    return N / elapsed


async def main() -> None:
    prefix = os.environ.get("BENCH_PREFIX") or f"bench{uuid.uuid4().hex[:8]}."
    if not os.environ.get("BENCH_PREFIX"):
        t0 = time.perf_counter()
        await fill(prefix)
        print(f"wrote {N:,} signed facts on {prefix}* in {time.perf_counter() - t0:.0f} s", flush=True)
    raws, verifies = [], []
    try:
        for i in range(RUNS):  # interleaved, so machine noise hits both alike
            raws.append(await raw(prefix))
            verifies.append(await verify(prefix))
            print(f"run {i + 1}: raw consume+decode {raws[-1]:,.0f} ev/s, verify {verifies[-1]:,.0f} ev/s", flush=True)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            admin = AIOKafkaAdminClient(**client_kwargs(BOOTSTRAP))
            await admin.start()
            await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
            await admin.close()
    r, v = statistics.median(raws), statistics.median(verifies)
    print(f"events={N} runs={RUNS} verify workers={WORKERS}")
    print(f"raw consume + JSON decode : {r:,.0f} events/s (median)")
    print(f"lgnet-audit verify        : {v:,.0f} events/s (median), ratio to raw {v / r:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
