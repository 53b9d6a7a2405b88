"""Smoke tests: the Kafka broker and PostgreSQL server the tests use are real and behave as we rely on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lgnet_shared.kafka import client_kwargs

pytestmark = pytest.mark.integration
NewTopic = Callable[..., Awaitable[str]]


async def _drain(consumer: AIOKafkaConsumer, want: int, timeout: float = 15) -> list[bytes]:
    got: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        got += [r.value for records in batch.values() for r in records]
    return got


async def test_produce_and_consume(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("smoke", partitions=3)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=f"k{i % 5}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = await _drain(consumer, 30)
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(30))


async def test_aborted_transaction_is_invisible_to_read_committed(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("tx")
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), transactional_id=f"smoke-{uuid.uuid4()}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()

    async def read(isolation: str) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic, **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest", isolation_level=isolation
        )
        await consumer.start()
        try:
            return await _drain(consumer, 4, timeout=5)
        finally:
            await consumer.stop()

    assert await read("read_committed") == [b"committed-1", b"committed-2", b"committed-3"]
    # The aborted record is really in the log: a read_uncommitted consumer sees it.
    assert b"aborted" in await read("read_uncommitted")


async def test_group_offsets_survive_consumer_restart(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic("group")
    group = f"smoke-{uuid.uuid4()}"
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"m{i}".encode())
    finally:
        await producer.stop()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            **client_kwargs(kafka_bootstrap),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=4,
        )

    first = consumer()
    await first.start()
    try:
        record = await first.getone()
        seen = [record.value]
        while len(seen) < 4:
            seen.append((await first.getone()).value)
        await first.commit()
    finally:
        await first.stop()
    assert seen == [f"m{i}".encode() for i in range(4)]

    second = consumer()
    await second.start()
    try:
        rest = await _drain(second, 6)
        assert await second.committed(TopicPartition(topic, 0)) == 4
    finally:
        await second.stop()
    assert rest == [f"m{i}".encode() for i in range(4, 10)]


async def test_postgres_round_trip(database_url: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        await conn.execute("create table t (id bigint primary key, body jsonb not null)")
        async with conn.transaction():
            await conn.execute("insert into t values (1, $1::jsonb)", '{"city": "Trieste"}')
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("insert into t values (1, '{}'::jsonb)")
        assert await conn.fetchval("select body->>'city' from t where id = 1") == "Trieste"
        assert await conn.fetchval("select current_schema()") == pg_schema
    finally:
        await conn.close()
