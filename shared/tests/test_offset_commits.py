"""Kafka's committed offsets are a cache of `consumer_positions`, which each batch writes with its effects: a consumer
commits them at most once per `consumer_commit_interval_ms`, not once per batch, yet never leaves them behind — a
quiet consumer's last batch is committed when the interval has passed, partitions taken away by a rebalance are
committed before they go, and a stopping service commits what it processed. The probe service in-process, against
real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from lgnet_shared.consumer import Consumer
from lgnet_shared.deadletter_cli import partitions_of
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.topics import physical

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")
SPEC, employment, settings = robustness.SPEC, robustness.employment, robustness.settings
wait_until = robustness.wait_until

pytestmark = pytest.mark.integration


class Seen:
    """Every commit the Kafka client sends, and every record the consumers hand to processing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.batches = 0
        self.offsets: list[tuple[int, int]] = []
        commit, process = AIOKafkaConsumer.commit, Consumer.process

        async def counting_commit(consumer: AIOKafkaConsumer, offsets: Any = None) -> None:
            await commit(consumer, offsets)
            self.commits.append({tp: getattr(o, "offset", o) for tp, o in (offsets or {}).items()})

        async def counting_process(consumer: Consumer, records: Sequence[Any]) -> None:
            await process(consumer, records)
            self.batches += 1
            self.offsets.extend((r.partition, r.offset) for r in records)

        monkeypatch.setattr(AIOKafkaConsumer, "commit", counting_commit)
        monkeypatch.setattr(Consumer, "process", counting_process)

    async def processed(self, n: int) -> None:
        async def enough() -> bool:
            return len(self.offsets) >= n

        await wait_until(enough)

    def none_twice(self) -> bool:
        return len(self.offsets) == len(set(self.offsets))


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    return Seen(monkeypatch)


async def committed(kafka_bootstrap: str, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in found.items() if m.offset >= 0}


async def ends(kafka_bootstrap: str, topic: str) -> dict[int, int]:
    tps = [TopicPartition(topic, p) for p in await partitions_of(kafka_bootstrap, topic)]
    consumer = AIOKafkaConsumer(**client_kwargs(kafka_bootstrap))
    await consumer.start()
    try:
        consumer.assign(tps)
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items() if o > 0}
    finally:
        await consumer.stop()


async def send_in_bursts(runtime: Runtime, bursts: int, per_burst: int, gap_s: float) -> None:
    """Through the runtime's own idempotent producer: keys spread over the topic's partitions."""
    assert runtime.producer is not None
    topic = physical("intake.events", runtime.settings.topic_prefix)
    for b in range(bursts):
        for i in range(per_burst):
            value, headers = employment(f"p{b}-{i}").to_structured()
            await runtime.producer.send(topic, value, key=f"k{b}-{i}".encode(), headers=headers)
        await runtime.producer.flush()
        await asyncio.sleep(gap_s)


Start = Callable[[int], Awaitable[Runtime]]


@pytest.fixture
async def start_probe(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> AsyncIterator[Start]:
    """Starts a probe service with a commit interval (ms) and waits until its consumer joined; stops them all."""
    started: list[Runtime] = []

    async def start(interval_ms: int) -> Runtime:
        config = settings(
            kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_commit_interval_ms=interval_ms
        )
        runtime = Runtime(SPEC, config)
        await runtime.start()
        started.append(runtime)

        async def joined() -> bool:
            return runtime.consumers_started

        await wait_until(joined)
        return runtime

    yield start
    for runtime in started:
        await runtime.stop()


async def test_batches_in_quick_succession_share_commits_and_the_last_is_committed_after_the_interval(
    seen: Seen, start_probe: Start, kafka_bootstrap: str, topic_prefix: str
) -> None:
    runtime = await start_probe(1000)
    topic = physical("intake.events", topic_prefix)
    await send_in_bursts(runtime, bursts=12, per_burst=5, gap_s=0.1)
    end = await ends(kafka_bootstrap, topic)
    assert sum(end.values()) == 60

    await seen.processed(60)
    assert seen.batches >= 6, f"the bursts came as {seen.batches} batches: too few to tell"
    group = runtime.settings.consumer_group("probe", "probe")

    async def all_committed() -> bool:
        return await committed(kafka_bootstrap, group) == end

    await wait_until(all_committed, timeout=5)
    # ≈ 1.3 s of batches: one commit at the first batch, about one a second after it, and the last one.
    assert len(seen.commits) <= 4, f"{len(seen.commits)} commits for {seen.batches} batches"
    sent: dict[TopicPartition, int] = {}
    for offsets in seen.commits:
        assert all(sent.get(tp) != o for tp, o in offsets.items()), "a partition committed again unchanged"
        sent.update(offsets)
    assert seen.none_twice(), "nothing processed twice"


async def test_partitions_a_rebalance_takes_away_are_committed_before_they_go(seen: Seen, start_probe: Start) -> None:
    """A long interval, so only the revocation can commit: the replica that joins reads none of it again."""
    first = await start_probe(60_000)
    await send_in_bursts(first, bursts=4, per_burst=10, gap_s=0.2)

    await seen.processed(40)
    await asyncio.sleep(0.3)
    before = len(seen.commits)
    await start_probe(60_000)  # the second replica joins the group: partitions move to it
    await send_in_bursts(first, bursts=2, per_burst=10, gap_s=0.2)

    await seen.processed(60)
    await asyncio.sleep(1)
    assert len(seen.commits) > before, "the revocation committed"
    assert seen.none_twice(), "the replica read again what the first processed"


async def test_a_stopping_service_commits_what_it_processed(
    seen: Seen, start_probe: Start, kafka_bootstrap: str, topic_prefix: str
) -> None:
    runtime = await start_probe(60_000)
    await send_in_bursts(runtime, bursts=3, per_burst=10, gap_s=0.2)
    topic = physical("intake.events", topic_prefix)

    await seen.processed(30)
    group = runtime.settings.consumer_group("probe", "probe")
    assert await committed(kafka_bootstrap, group) != await ends(kafka_bootstrap, topic), "an interval still runs"
    await runtime.stop()  # the fixture's second stop does nothing
    assert await committed(kafka_bootstrap, group) == await ends(kafka_bootstrap, topic)
