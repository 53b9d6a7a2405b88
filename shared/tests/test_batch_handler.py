"""Batch handlers and staged outbox writes against real PostgreSQL and Kafka: runs keep the log's order, each event
is applied (and emits) once, and a failing run falls back to one event at a time, so only the bad event is
dead-lettered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date

import pytest
from lgnet_shared import db, outbox, pii
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import MIGRATION, BatchHandler, Consumer, handlers_of
from lgnet_shared.db import Conn, Pool
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


class Effects:
    """Handlers that write what they apply, in order, and remember how they were called."""

    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    async def many(self, conn: Conn, run: Sequence[tuple[Envelope, Event]]) -> None:
        self.runs.append([env.partitionkey for env, _ in run])
        if any(env.partitionkey == "poison" for env, _ in run):
            raise RuntimeError("this event always fails")
        await conn.executemany("insert into applied (what) values ($1)", [(env.partitionkey,) for env, _ in run])

    async def one(self, conn: Conn, env: Envelope, event: Event) -> None:
        await conn.execute("insert into applied (what) values ($1)", env.partitionkey)

    def consumer(self, pool: Pool, dead: DeadLetters) -> Consumer:
        handlers = handlers_of((EmploymentRecorded, BatchHandler(self.many)), (CaseTransferred, self.one))
        return Consumer("reporting.test", pool, dead, handlers)


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Pool]:
    p = await db.create_pool(database_url, pg_schema, max_size=1)  # one partition per batch here: one connection
    await db.migrate(
        p,
        [MIGRATION, *outbox.MIGRATIONS, pii.MIGRATION, ("t-1", "create table applied (seq serial, what text)")],
    )
    try:
        yield p
    finally:
        await p.close()


async def applied(pool: Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["what"] for r in await conn.fetch("select what from applied order by seq")]


async def test_runs_keep_log_order_and_redelivery_changes_nothing(pool: Pool, dead_letters: DeadLetters) -> None:
    effects = Effects()
    consumer = effects.consumer(pool, dead_letters)
    batch = as_records([employment("p1"), employment("p2"), transfer("c1"), employment("p3")])
    await consumer.process(batch)
    assert effects.runs == [["p1", "p2"], ["p3"]]  # the event handler's event splits the run
    assert await applied(pool) == ["p1", "p2", "c1", "p3"]

    await consumer.process(batch)  # redelivered, e.g. after a crash before the Kafka commit
    assert await applied(pool) == ["p1", "p2", "c1", "p3"]
    assert effects.runs == [["p1", "p2"], ["p3"]]  # duplicates never reach a handler


async def test_a_failing_run_is_retried_event_by_event_and_only_the_bad_one_is_dead(
    pool: Pool, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    effects = Effects()
    consumer = effects.consumer(pool, dead_letters)
    consumer.retry.backoff_s = (0.0,)
    await consumer.process(as_records([employment("p1"), employment("poison"), employment("p2")]))

    assert await applied(pool) == ["p1", "p2"]
    assert effects.runs[0] == ["p1", "poison", "p2"]  # the optimistic run, rolled back
    assert effects.runs[1:] == [["p1"], ["poison"], ["poison"], ["poison"], ["p2"]]  # then one by one, 3 tries
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    assert len(dead) == 1
    assert dict(dead[0].headers)[H_KIND] == b"processing" and dict(dead[0].headers)[H_TYPE] == b"RuntimeError"
    assert employment("x").type.encode() in dead[0].value


async def test_events_emitted_while_handling_a_batch_are_staged_once_in_order(
    pool: Pool, dead_letters: DeadLetters
) -> None:
    async def emit(conn: Conn, env: Envelope, event: Event) -> None:
        assert isinstance(event, EmploymentRecorded)
        if event.person_id == "poison":
            raise RuntimeError("this event always fails")
        await outbox.append(conn, [transfer(f"case-of-{event.person_id}")])

    consumer = Consumer("housing.test", pool, dead_letters, handlers_of((EmploymentRecorded, emit)))
    consumer.retry.backoff_s = (0.0,)
    await consumer.process(as_records([employment("p1"), employment("p2")]))  # the optimistic path
    await consumer.process(as_records([employment("p3"), employment("poison"), employment("p4")]))  # careful
    async with pool.acquire() as conn:
        keys = [bytes(r["key"]).decode() for r in await conn.fetch("select key from outbox order by seq")]
    # What the rolled-back optimistic attempt staged is gone; each handled event emitted exactly once.
    assert keys == ["case-of-p1", "case-of-p2", "case-of-p3", "case-of-p4"]


async def test_a_fetch_on_the_optimistic_path_sends_one_statement_of_bookkeeping(
    pool: Pool, dead_letters: DeadLetters
) -> None:
    """Each round trip to PostgreSQL costs the consumer ≈ 0.1 ms of CPU on our machines, and a partner's events mostly
    arrive one per fetch: the inbox and the partition's position travel in one statement, between BEGIN and COMMIT
    and around the handlers' own."""
    sent: list[str] = []
    async with pool.acquire() as conn:  # the pool's only connection: the one the consumer will use
        conn.add_query_logger(lambda q: sent.append(q.query))
    consumer = Effects().consumer(pool, dead_letters)
    await consumer.process(as_records([employment("p0")], partition=2))  # the first use asks for type details
    sent.clear()
    fetched = as_records([employment("p1"), employment("p2")], partition=3)
    await consumer.process(fetched[1:])
    assert [q.split()[0].lower() for q in sent] == ["begin;", "with", "insert", "commit;"], sent
    assert "consumer_positions" in sent[1] and "inbox" in sent[1]

    await consumer.process(fetched)  # from an older offset (p1 was not processed yet)
    async with pool.acquire() as conn:
        positions = await conn.fetch("select topic, partition, next_offset from consumer_positions")
        assert sorted(tuple(r) for r in positions) == [("t", 2, 1), ("t", 3, 2)]  # never moved back
    assert await applied(pool) == ["p0", "p2", "p1"]
