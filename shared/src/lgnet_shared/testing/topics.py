"""Reading what is on a topic, for tests: every record so far, or every event decoded; and envelopes as the
records a consumer would fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord

from lgnet_shared.codec import decode
from lgnet_shared.envelope import Envelope, from_record
from lgnet_shared.events import Event
from lgnet_shared.kafka import READ_AND_GO, KafkaSecurity, client_kwargs
from lgnet_shared.kafka_health import existing_topics

# (topic, partition) -> the first offset a reader takes: where the partition ended when a test began (`end_offsets`).
# A test on its module's shared service reads only what was written since, as if the topics were its own; a
# partition not named (a topic made during the test) is read from its beginning.
Since = Mapping[tuple[str, int], int]


async def end_offsets(bootstrap: str, prefix: str) -> dict[tuple[str, int], int]:
    """Where every topic under `prefix` ends now."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), **READ_AND_GO)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # the consumer's own view is not refreshed by it
        names = [t for t in cluster.topics() if t.startswith(prefix)]
        parts = [TopicPartition(t, p) for t in names for p in cluster.partitions_for_topic(t) or ()]
        if not parts:
            return {}
        # Their leaders known first: else `end_offsets` waits for a metadata refresh (≈ 1 s a test, measured).
        await consumer._client.set_topics(names)
        ends = await consumer.end_offsets(parts)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def _since(records: Iterable[Any], since: Since | None) -> list[Any]:
    return [r for r in records if not since or r.offset >= since.get((r.topic, r.partition), 0)]


async def read_records(
    bootstrap: str, topic: str, *, quiet_ms: int = 1500, missing_ok: bool = False, since: Since | None = None
) -> list[Any]:
    """Every record of the (physical) topic from the beginning (or `since`), until none arrives for `quiet_ms`. With
    `missing_ok`, a topic that does not exist has no records (e.g. a partner's rejection topic, created on its
    first rejection); otherwise it is an error."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), **READ_AND_GO, auto_offset_reset="earliest")
    try:
        await consumer.start()
        # Ask the metadata first: subscribed to a topic that does not exist, the consumer would wait a whole
        # request timeout (40 s) before saying so. A topic that must exist gets a few seconds to appear. About this
        # topic only: the suite's broker holds hundreds of other tests' topics.
        for _ in range(1 if missing_ok else 20):
            if topic in await existing_topics(consumer._client, [topic]):
                break
            if not missing_ok:
                await asyncio.sleep(0.5)
        else:
            raise UnknownTopicOrPartitionError(topic)
        consumer.subscribe([topic])
        records: list[Any] = []
        while batch := await consumer.getmany(timeout_ms=quiet_ms):
            records += _since((r for rs in batch.values() for r in rs), since)
        return records
    except UnknownTopicOrPartitionError:
        if missing_ok:
            return []
        raise
    finally:
        await consumer.stop()


async def read_topics(
    bootstrap: str, topics: Sequence[str], *, quiet_ms: int = 1500, since: Since | None = None
) -> dict[str, list[Any]]:
    """Every record of each (physical, existing) topic from the beginning, by one consumer reading them all at once,
    until none arrives on any of them for `quiet_ms`: what `read_records` gives per topic, with one connection and
    one quiet period for all instead of one each (a test reading twenty topics waited twenty quiet periods)."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), **READ_AND_GO, auto_offset_reset="earliest")
    out: dict[str, list[Any]] = {t: [] for t in topics}
    try:
        await consumer.start()
        for _ in range(20):  # as read_records: a topic that must exist gets a few seconds to appear
            missing = set(topics) - await existing_topics(consumer._client, topics)
            if not missing:
                break
            await asyncio.sleep(0.5)
        else:
            raise UnknownTopicOrPartitionError(sorted(missing))
        consumer.subscribe(list(topics))
        while batch := await consumer.getmany(timeout_ms=quiet_ms):
            for tp, rs in batch.items():
                out[tp.topic] += _since(rs, since)
        return out
    finally:
        await consumer.stop()


async def read_events(
    bootstrap: str,
    topic: str,
    *,
    want: int = 1,
    timeout: float = 20,
    of_type: str | None = None,
    since: Since | None = None,
) -> list[Event]:
    """Every event of the (physical) topic so far (or `since`), decoded; waits until at least `want` (of `of_type`,
    if given) are there and the topic is quiet, or `timeout` seconds."""
    consumer = AIOKafkaConsumer(topic, **client_kwargs(bootstrap), **READ_AND_GO, auto_offset_reset="earliest")
    await consumer.start()
    got: list[Event] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            records = _since((r for rs in batch.values() for r in rs), since)
            got += [decode(from_record(r.value, r.headers, r.key)) for r in records]
            if len([e for e in got if of_type is None or e.type == of_type]) >= want and not batch:
                break
    finally:
        await consumer.stop()
    return got


def as_records(envs: Sequence[Envelope], topic: str = "t", partition: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    """Envelopes in structured mode as consecutive records of one partition, offsets from 0."""
    out = []
    for offset, env in enumerate(envs):
        value, headers = env.to_structured()
        out.append(ConsumerRecord(topic, partition, offset, 0, 0, env.key, value, None, len(value), 0, headers))
    return out


async def delete_topic(bootstrap: str, topic: str) -> None:
    """Returns once the broker no longer serves the topic: the controller answers as soon as it has decided, and a
    busy broker may take a moment more to apply it (a record sent then lands in the dying topic and goes with it)."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(100):
            if topic not in await existing_topics(admin._client, [topic]):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{topic} still served 10 s after its deletion")
    finally:
        await admin.close()


async def send_record(bootstrap: str, security: KafkaSecurity, topic: str, value: bytes, partition: int) -> None:
    """One raw record on a topic's partition (a partner's, as it came: the admin command's checks count them)."""
    producer = AIOKafkaProducer(**client_kwargs(bootstrap, security))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k", partition=partition)
    finally:
        await producer.stop()
