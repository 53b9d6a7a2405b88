"""Outbox → Kafka → inbox against real Kafka and PostgreSQL, with the service process killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from lgnet_shared import db, outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.deadletter import H_KIND, H_OFFSET, H_PARTITION, H_TOPIC, H_TYPE
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.process import ServiceProcess
from lgnet_shared.topics import physical

pytestmark = pytest.mark.integration


def employment(person_id: str) -> EmploymentRecorded:
    return EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))


async def stage(conn: asyncpg.Connection, person_ids: list[str]) -> None:
    """What a handler does: state change and events in one transaction (here: events only)."""
    async with conn.transaction():
        await outbox.append(conn, [to_envelope(employment(p), source="/test", city="trieste") for p in person_ids])


async def wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout * 10)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def read_all(bootstrap: str, topic: str, want: int, timeout: float = 20) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(bootstrap), auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    records: list = []  # type: ignore[type-arg]
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < want and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return records


async def test_kill_mid_stream_loses_nothing_and_applies_nothing_twice(
    probe: ServiceProcess, database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    total = 3000
    people = [f"p{i:05d}" for i in range(total)]
    await probe.start()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    writer = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(writer)

    after_kill = people[-50:]  # staged once the service is dead: however fast the relay was, some wait for it

    async def keep_staging() -> None:  # business transactions go on while the service crashes
        for i in range(0, total - len(after_kill), 50):
            await stage(writer, people[i : i + 50])
            await asyncio.sleep(0.02)

    staging = asyncio.create_task(keep_staging())
    try:

        async def some_applied() -> bool:
            return bool(
                await conn.fetchval("select count(*) from applied") >= 100
            )  # early: mid-stream even when loaded

        await wait_for(some_applied)
        probe.kill()
        applied_at_kill = await conn.fetchval("select count(*) from applied")
        pending_at_kill = await conn.fetchval("select count(*) from outbox")
        assert applied_at_kill < total, "the kill must land mid-stream for this test to mean anything"
        await staging
        await stage(writer, after_kill)
        assert await conn.fetchval("select count(*) from outbox") > 0, "nothing relayed while the relay is dead"

        await probe.start()

        async def all_applied() -> bool:
            done = await conn.fetchval("select count(distinct event_id) from applied")
            return bool(done == total and await conn.fetchval("select count(*) from outbox") == 0)

        await wait_for(all_applied, timeout=90)
        await asyncio.sleep(2)  # let any redelivery that would double an effect arrive
        rows = await conn.fetch("select person_id, count(*) as n from applied group by person_id")
    finally:
        staging.cancel()
        await conn.close()
        await writer.close()
    assert {r["person_id"] for r in rows} == set(people), "an event was lost"
    assert max(r["n"] for r in rows) == 1, "an effect was applied twice"
    on_kafka = await read_all(kafka_bootstrap, physical("intake.events", topic_prefix), total)
    assert len({r.value for r in on_kafka}) == total
    print(
        f"applied at kill {applied_at_kill}, outbox pending at kill {pending_at_kill}, "
        f"records on Kafka {len(on_kafka)} (duplicates from the relay absorbed by the inbox)"
    )


async def test_poison_messages_are_dead_lettered_and_do_not_block(
    probe: ServiceProcess, database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await probe.start()
    topic = physical("intake.events", topic_prefix)
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        key = b"same-partition"
        await producer.send_and_wait(topic, b"{not json", key=key)
        await producer.send_and_wait(topic, b'{"hello": "not a cloudevent"}', key=key)
        bad_type = to_envelope(employment("x"), source="/t", city="trieste").model_copy(
            update={"type": "lgnet.intake.no_such_event", "dataschema": None}
        )
        await producer.send_and_wait(topic, bad_type.to_structured()[0], key=key)
        invalid = to_envelope(employment("x"), source="/t", city="trieste")
        invalid = invalid.model_copy(update={"data": {**invalid.data, "as_of": "31/02/2026"}})
        await producer.send_and_wait(topic, invalid.to_structured()[0], key=key)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    try:
        await stage(conn, ["poison", "after-poison"])

        async def good_one_applied() -> bool:
            return bool(await conn.fetchval("select count(*) from applied where person_id = 'after-poison'"))

        await wait_for(good_one_applied)
        assert await conn.fetchval("select count(*) from applied where person_id = 'poison'") == 0
    finally:
        await conn.close()

    dead = await read_all(kafka_bootstrap, physical("deadletter", topic_prefix), 4)
    kinds = sorted(dict(r.headers)[H_KIND].decode() for r in dead)
    # The unknown type is not this consumer's business (it has no handler for it): ignored, not dead.
    assert kinds == ["invalid_data", "not_cloudevent", "not_json", "processing"]
    by_kind = {dict(r.headers)[H_KIND].decode(): r for r in dead}
    not_json = dict(by_kind["not_json"].headers)
    assert not_json[H_TOPIC].decode() == topic
    assert int(not_json[H_PARTITION]) >= 0 and int(not_json[H_OFFSET]) == 0
    assert by_kind["not_json"].value == b"{not json"
    assert dict(by_kind["processing"].headers)[H_TYPE] == b"RuntimeError"
    assert b"data.as_of" in dict(by_kind["invalid_data"].headers)[b"dlq.error.field".decode()]


def test_unique_ids_are_time_ordered() -> None:
    env_ids = [to_envelope(employment("a"), source="/t", city="torino").id for _ in range(200)]
    assert len(set(env_ids)) == 200
    assert env_ids == sorted(env_ids)
    assert all(uuid.UUID(i).version == 7 for i in env_ids)


async def test_a_row_committed_while_the_relay_publishes_is_not_deleted_unpublished(
    database_url: str, pg_schema: str
) -> None:
    """Sequence numbers are taken at insert, not at commit: a transaction holding a lower seq may commit after the
    relay has read higher ones. Its row must survive the relay's delete and be published on the next pass."""
    pool = await db.create_pool(database_url, pg_schema)
    late = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(late)
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        tx = late.transaction()
        await tx.start()
        await outbox.append(late, [to_envelope(employment("late"), source="/test", city="trieste")])  # lower seq
        async with pool.acquire() as conn:
            await stage(conn, ["early"])  # higher seq, committed first
        sent: list[bytes] = []

        class Batch:
            def __init__(self) -> None:
                self.values: list[bytes] = []

            def append(self, *, key: bytes, value: bytes, timestamp: None, headers: object) -> object:
                self.values.append(value)
                return object()

        class Producer:  # stands in for Kafka: the late transaction commits while the batch is being sent
            async def partitions_for(self, topic: str) -> set[int]:
                return {0}

            def create_batch(self) -> Batch:
                return Batch()

            async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
                sent.extend(batch.values)
                if len(sent) == 1:
                    await tx.commit()
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done

        relay = outbox.OutboxRelay(pool, "unused:9092")
        assert await relay._publish_batch(Producer()) == 1
        assert b"early" in sent[0]
        assert await relay._publish_batch(Producer()) == 1
        assert b"late" in sent[1], "the late row was deleted without being published"
        async with pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from outbox") == 0
    finally:
        await late.close()
        await pool.close()


async def test_the_relay_keeps_each_aggregates_order_on_the_partition_send_would_choose(
    database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str, new_topic: Any
) -> None:
    """The relay sends record batches per partition: each key must land where `producer.send` (murmur2, as the
    Java client) put it before — or an upgrade would split an aggregate's events over two partitions — in
    order, also when a partition's records fill several batches."""
    topic = await new_topic(physical("intake.events", ""), partitions=6)
    persons = [f"p{i}" for i in range(20)]
    pool = await db.create_pool(database_url, pg_schema)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True, max_batch_size=4096)
    await producer.start()
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        async with pool.acquire() as conn:
            for _ in range(10):
                await stage(conn, persons)  # each person's events interleaved with the others'
        relay = outbox.OutboxRelay(pool, kafka_bootstrap, topic_prefix=topic_prefix)
        assert await relay._publish_batch(producer) == 200
    finally:
        await producer.stop()
        await pool.close()
    records = await read_all(kafka_bootstrap, topic, 200)
    assert len(records) == 200
    partitioner, partitions = DefaultPartitioner(), list(range(6))
    assert {r.partition for r in records} == set(partitions), "keys spread over every partition"
    by_key: dict[bytes, list[str]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.partition == partitioner(r.key, partitions, partitions)
        by_key.setdefault(r.key, []).append(json.loads(r.value)["id"])
    assert len(by_key) == 20
    assert all(ids == sorted(ids) and len(ids) == 10 for ids in by_key.values()), "an aggregate's order changed"
