"""Pipelined per-event handlers against real PostgreSQL and Kafka: their writes travel together (one executemany per
statement) yet every read sees the writes before it, each event is applied (and emits) once, a redelivery changes
nothing, a savepoint that fails takes its writes with it, and a failing statement sends the batch down the careful
path, where only the bad event is dead-lettered."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest
from lgnet_shared import db, outbox, pii
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import MIGRATION, Consumer, PipelinedHandler, handlers_of
from lgnet_shared.db import Conn, DeferredWrites, Pool
from lgnet_shared.deadletter import H_KIND, H_TYPE, DeadLetters
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.intake import CaseTransferred, EmploymentRecorded, EmploymentStatus
from lgnet_shared.testing.topics import as_records, read_records
from lgnet_shared.topics import physical

pytestmark = pytest.mark.integration


def employment(person_id: str) -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/t", city="torino")


def transfer(case_id: str) -> Envelope:
    event = CaseTransferred(case_id=case_id, from_partner="coop-a", to_partner="coop-b", on=date(2026, 3, 2))
    return to_envelope(event, source="/t", city="torino")


class Counting:
    """A connection that counts the round trips its caller makes."""

    def __init__(self, conn: Conn) -> None:
        self.conn, self.calls = conn, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.conn, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await attr(*args, **kwargs)

        return counted if name in {"execute", "executemany", "fetch", "fetchval", "fetchrow"} else attr


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Pool]:
    p = await db.create_pool(database_url, pg_schema)
    await db.migrate(
        p,
        [
            MIGRATION,
            *outbox.MIGRATIONS,
            pii.MIGRATION,
            ("t-1", "create table applied (seq serial, what text unique)"),
        ],
    )
    try:
        yield p
    finally:
        await p.close()


async def applied(pool: Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["what"] for r in await conn.fetch("select what from applied order by seq")]


async def test_deferred_writes_are_sent_together_in_order_and_reads_see_them(pool: Pool) -> None:
    async with pool.acquire() as real, real.transaction():
        counting = Counting(real)
        writes = DeferredWrites(counting)
        for what in ("a", "b", "c"):
            assert await writes.execute("insert into applied (what) values ($1)", what) == ""
        assert counting.calls == 0  # nothing sent yet
        assert await writes.fetchval("select count(*) from applied") == 3  # a read sees the queued writes
        assert counting.calls == 2  # one executemany for the three, then the read
        await writes.execute("insert into applied (what) values ($1)", "d")
        await writes.execute("update applied set what = upper(what) where what = $1", "d")
        await writes.execute("insert into applied (what) values ($1)", "e")
        await writes.flush()
        assert [r["what"] for r in await real.fetch("select what from applied order by seq")] == [
            "a",
            "b",
            "c",
            "D",
            "e",
        ]


async def test_a_failed_savepoint_takes_its_deferred_writes_with_it(pool: Pool) -> None:
    async with pool.acquire() as real, real.transaction():
        writes = DeferredWrites(real)
        await writes.execute("insert into applied (what) values ($1)", "before")
        with contextlib.suppress(RuntimeError):
            async with writes.transaction():
                await writes.execute("insert into applied (what) values ($1)", "inside")
                raise RuntimeError("undo the savepoint")
        async with writes.transaction():
            await writes.execute("insert into applied (what) values ($1)", "kept")
        tx = writes.transaction()  # the explicit form
        await tx.start()
        await writes.execute("insert into applied (what) values ($1)", "rolled back")
        await tx.rollback()
        tx = writes.transaction()
        await tx.start()
        await writes.execute("insert into applied (what) values ($1)", "committed")
        await tx.commit()
        await writes.execute("insert into applied (what) values ($1)", "after")
        await writes.flush()
        assert [r["what"] for r in await real.fetch("select what from applied order by seq")] == [
            "before",
            "kept",
            "committed",
            "after",
        ]


async def test_a_failing_statement_raises_at_the_flush(pool: Pool) -> None:
    async with pool.acquire() as real, real.transaction():
        writes = DeferredWrites(real)
        await writes.execute("insert into applied (what) values ($1)", "twice")
        await writes.execute("insert into applied (what) values ($1)", "twice")  # queued: no error yet
        with pytest.raises(asyncpg.UniqueViolationError):
            await writes.flush()


async def test_a_write_failing_at_the_end_of_a_savepoint_rolls_the_savepoint_back(pool: Pool) -> None:
    async with pool.acquire() as real, real.transaction():
        writes = DeferredWrites(real)
        await writes.execute("insert into applied (what) values ($1)", "before")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with writes.transaction():
                await writes.execute("insert into applied (what) values ($1)", "before")  # sent at the savepoint's end
        await writes.execute("insert into applied (what) values ($1)", "after")  # the transaction goes on
        await writes.flush()
        assert [r["what"] for r in await real.fetch("select what from applied order by seq")] == ["before", "after"]


async def test_pipelined_handlers_apply_each_event_once_in_order(pool: Pool, dead_letters: DeadLetters) -> None:
    async def one(conn: Conn, env: Envelope, event: Event) -> None:
        await conn.execute("insert into applied (what) values ($1)", env.partitionkey)
        if isinstance(event, CaseTransferred):  # a read inside the batch sees what the run wrote before it
            seen = await conn.fetchval("select count(*) from applied")
            await conn.execute("insert into applied (what) values ($1)", f"seen-{seen}")
        await outbox.append(conn, [transfer(f"case-of-{env.partitionkey}")])

    handler = PipelinedHandler(one)
    consumer = Consumer(
        "reporting.test", pool, dead_letters, handlers_of((EmploymentRecorded, handler), (CaseTransferred, handler))
    )
    batch = as_records([employment("p1"), employment("p2"), transfer("c1"), employment("p3")])
    await consumer.process(batch)
    assert await applied(pool) == ["p1", "p2", "c1", "seen-3", "p3"]
    await consumer.process(batch)  # redelivered, e.g. after a crash before the Kafka commit
    assert await applied(pool) == ["p1", "p2", "c1", "seen-3", "p3"]
    async with pool.acquire() as conn:
        keys = [bytes(r["key"]).decode() for r in await conn.fetch("select key from outbox order by seq")]
    assert keys == ["case-of-p1", "case-of-p2", "case-of-c1", "case-of-p3"]  # emitted once each, in order


async def test_a_failing_statement_sends_the_batch_down_the_careful_path(
    pool: Pool, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    calls: list[str] = []

    async def one(conn: Conn, env: Envelope, event: Event) -> None:
        calls.append(env.partitionkey)
        await conn.execute("insert into applied (what) values ($1)", env.partitionkey)
        if env.partitionkey == "poison":  # a statement that always fails, seen only when the writes are sent
            await conn.execute("insert into applied (what) values ($1)", "p1")

    consumer = Consumer("reporting.test", pool, dead_letters, handlers_of((EmploymentRecorded, PipelinedHandler(one))))
    consumer.retry.backoff_s = (0.0,)
    await consumer.process(as_records([employment("p1"), employment("poison"), employment("p2")]))

    assert await applied(pool) == ["p1", "p2"]
    # The optimistic pass ran all three (its failure came at the flush), then one by one with retries.
    assert calls == ["p1", "poison", "p2", "p1", "poison", "poison", "poison", "p2"]
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers[H_KIND] == b"processing" and headers[H_TYPE] == b"UniqueViolationError"


async def test_events_emitted_by_pipelined_and_plain_handlers_keep_the_order_of_their_causes(
    pool: Pool, dead_letters: DeadLetters
) -> None:
    async def emit(conn: Conn, env: Envelope, event: Event) -> None:
        await outbox.append(conn, [transfer(f"after-{env.partitionkey}")])

    handlers = handlers_of((EmploymentRecorded, PipelinedHandler(emit)), (CaseTransferred, emit))
    consumer = Consumer("housing.test", pool, dead_letters, handlers)
    await consumer.process(as_records([transfer("c1"), employment("p1"), transfer("c2"), employment("p2")]))
    async with pool.acquire() as conn:
        keys = [bytes(r["key"]).decode() for r in await conn.fetch("select key from outbox order by seq")]
    assert keys == ["after-c1", "after-p1", "after-c2", "after-p2"]
