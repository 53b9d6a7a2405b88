"""Records waiting on partitions the consumer has not fetched yet (real Kafka and PostgreSQL): a batch of one partition
hangs (its positions' table locked), and the records of the other partitions wait behind it in the client. Only the
partition of the batch in hand showed its age: `lgnet_consumer_stuck_seconds` read 0 for the others, although their
`lgnet_consumer_lag` said records waited there (docs/operators.md: "how long the next record of the partition has
waited … 0 when caught up"), and /health/ready never named them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.topics import physical
from prometheus_client import REGISTRY

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
PARTITIONS = range(6)  # intake.events'


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 30) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


def stuck_partitions(checks: dict[str, str]) -> list[int]:
    return sorted(
        int(part.split(" partition ")[1].split()[0])
        for part in checks["consumers"].split("; ")
        if " partition " in part
    )


async def test_every_partition_with_records_waiting_shows_their_age_and_is_said_stuck(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    topic = physical("intake.events", topic_prefix)
    group = f"{topic_prefix}national.probe.probe"
    settings = robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=2)
    runtime = Runtime(robustness.SPEC, settings)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    locker = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    locked = locker.transaction()
    held = False

    def sample(name: str, partition: int) -> float | None:
        labels = {"consumer": group, "topic": topic, "partition": str(partition)}
        return REGISTRY.get_sample_value(name, labels)

    def gauges(name: str) -> list[float | None]:
        runtime.refresh_metrics()
        return [sample(name, p) for p in PARTITIONS]

    async def applied() -> int:
        return int(await locker.fetchval("select count(*) from applied"))

    async def send(person_id: str, partition: int) -> None:
        value, headers = robustness.employment(person_id).to_structured()
        await producer.send_and_wait(topic, value, key=b"k", headers=headers, partition=partition)

    await runtime.start()
    await producer.start()
    try:
        await send("first", 0)

        async def running() -> bool:
            return await applied() == 1

        assert await eventually(running), "the consumer runs"
        await locked.start()
        held = True
        await locker.execute("lock table consumer_positions in access exclusive mode")
        await send("held", 0)  # its batch waits on the lock
        assert await eventually(lambda: asyncio.sleep(0, bool(runtime.consumers[0].waiting)), timeout=10)
        for partition in PARTITIONS[1:]:  # behind it, in the client: not fetched while the batch hangs
            await send(f"behind-{partition}", partition)
        assert await eventually(lambda: asyncio.sleep(0, gauges("lgnet_consumer_lag") == [1.0] * 6), timeout=10), (
            gauges("lgnet_consumer_lag")
        )
        await runtime.ready()
        await asyncio.sleep(2.5)
        ages = gauges("lgnet_consumer_stuck_seconds")
        checks = await runtime.ready()
        assert all(age is not None and age > 2 for age in ages), ages
        assert stuck_partitions(checks) == list(PARTITIONS), checks

        await locked.rollback()  # the lock goes: everything is processed
        held = False

        async def caught_up() -> bool:
            return (
                await applied() == 7
                and gauges("lgnet_consumer_stuck_seconds") == [0.0] * 6
                and gauges("lgnet_consumer_lag") == [0.0] * 6
                and (await runtime.ready())["consumers"] == "ok"
            )

        assert await eventually(caught_up), (gauges("lgnet_consumer_stuck_seconds"), await runtime.ready())
    finally:
        if held:  # an assertion failed with the lock held: let the runtime stop
            await locked.rollback()
        await locker.close()
        await producer.stop()
        await runtime.stop()
