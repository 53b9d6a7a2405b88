"""What a readiness probe's Kafka check costs on a cluster shared by many deployments: the whole cluster's metadata
(what `/health/ready` asked before) against the service's own topics only (`kafka_health.metadata_of`), on the same
broker with BENCH_TOPICS other topics of 3 partitions each (other cities' and partners' topics), alternated.

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_readiness.py

Environment: KAFKA_BOOTSTRAP_SERVERS; BENCH_TOPICS (default 400), BENCH_ROUNDS (default 30). Prints the medians of
this process's CPU and of the wall time per check; the topics it created are deleted at the end.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lgnet_shared import kafka_health
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import ensure_topics, physical, used_by

BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
TOPICS = int(os.environ.get("BENCH_TOPICS", "400"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))


async def main() -> None:
    prefix = f"benchready{uuid.uuid4().hex[:8]}."
    own = [physical(t, prefix) for t in used_by("reporting")]
    admin = AIOKafkaAdminClient(**client_kwargs(BOOTSTRAP), request_timeout_ms=120_000)
    await admin.start()
    producer = AIOKafkaProducer(**client_kwargs(BOOTSTRAP))
    try:
        await ensure_topics(BOOTSTRAP, prefix, used_by("reporting"), 1, None)
        others = [NewTopic(f"{prefix}other.{i}", num_partitions=3, replication_factor=1) for i in range(TOPICS)]
        for i in range(0, len(others), 100):
            await admin.create_topics(others[i : i + 100])
        await producer.start()
        for _ in range(60):  # until the cluster's answer lists them all
            seen = len((await producer.client.fetch_all_metadata()).topics())
            if seen >= TOPICS + len(own):
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError(f"only {seen} topics in the cluster's metadata")
        checks = {
            "whole cluster (before)": producer.client.fetch_all_metadata,
            "own topics (now)": lambda: kafka_health.metadata_of(producer.client, own),
        }
        cpu: dict[str, list[float]] = {name: [] for name in checks}
        wall: dict[str, list[float]] = {name: [] for name in checks}
        for _ in range(ROUNDS):
            for name, check in checks.items():
                c0, w0 = time.process_time(), time.perf_counter()
                metadata = await check()
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
                assert kafka_health.replication_state(metadata, own) == "ok"
                if name.startswith("whole"):
                    seen = len(metadata.topics())
        print(
            f"{seen} topics in the cluster ({TOPICS} of them others, 3 partitions each), {len(own)} own topics,"
            f" {ROUNDS} rounds alternated"
        )
        base = statistics.median(cpu["whole cluster (before)"])
        for name in checks:
            c, w = statistics.median(cpu[name]), statistics.median(wall[name])
            print(f"{name:24}: CPU {c * 1000:7.2f} ms, wall {w * 1000:7.2f} ms per check (CPU ratio {c / base:.3f})")
    finally:
        await producer.stop()
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        for i in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[i : i + 200])
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
