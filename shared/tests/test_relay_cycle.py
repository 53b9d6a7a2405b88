"""The outbox relay's loop, with rows staged while it runs: every row is sent exactly once, in seq order, and nothing
is left behind (real PostgreSQL; a producer that stands in for Kafka records what it is sent)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date

import pytest
from lgnet_shared import db, outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.db import Pool
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus

pytestmark = pytest.mark.integration


class Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: object) -> object:
        self.values.append(value)
        return object()


class Producer:
    """Stands in for Kafka: records every value sent; acknowledgements come after a short delay."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}  # one partition: what is sent is in seq order

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.extend(batch.values)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.005, done.set_result, None)
        return done


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Pool]:
    p = await db.create_pool(database_url, pg_schema)
    await db.migrate(p, outbox.MIGRATIONS)
    try:
        yield p
    finally:
        await p.close()


async def stage(pool: Pool, ids: list[str]) -> None:
    events = [EmploymentRecorded(person_id=i, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1)) for i in ids]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [to_envelope(e, source="/test", city="trieste") for e in events])


async def test_every_row_is_sent_once_in_order_while_rows_are_staged(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = Producer()
    monkeypatch.setattr(outbox, "AIOKafkaProducer", lambda **_: producer)
    monkeypatch.setattr(Producer, "start", lambda self: asyncio.sleep(0), raising=False)
    monkeypatch.setattr(Producer, "stop", lambda self: asyncio.sleep(0), raising=False)
    relay = outbox.OutboxRelay(pool, "unused:9092", batch_size=7, idle_poll_s=0.05)
    ids = [f"p{i}" for i in range(120)]
    await relay.start()
    try:
        for i in range(0, len(ids), 10):  # staged while the relay runs, in transactions of 10
            await stage(pool, ids[i : i + 10])
        for _ in range(200):
            if relay.published == len(ids):
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert [json.loads(v)["data"]["person_id"] for v in producer.sent] == ids
    assert relay.published == len(ids)
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from outbox") == 0
