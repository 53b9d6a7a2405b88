"""The outbox relay's loop, with rows staged while it runs: every row is sent exactly once, in seq order, and nothing
is left behind (real PostgreSQL; a producer that stands in for Kafka records what it is sent)."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from datetime import date

import pytest
from lgnet_shared import db, outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.db import Pool
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.testing.plugin import fresh_schema

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


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Producer:
    producer = Producer()
    monkeypatch.setattr(outbox, "AIOKafkaProducer", lambda **_: producer)
    monkeypatch.setattr(Producer, "start", lambda self: asyncio.sleep(0), raising=False)
    monkeypatch.setattr(Producer, "stop", lambda self: asyncio.sleep(0), raising=False)
    return producer


@pytest.fixture
def cycles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The relay's cycles (one per look at the outbox), each with the rows it published."""
    seen: list[int] = []
    publish = outbox.OutboxRelay._publish_batch

    async def counted(self: outbox.OutboxRelay, producer: object) -> int:
        seen.append(await publish(self, producer))
        return seen[-1]

    monkeypatch.setattr(outbox.OutboxRelay, "_publish_batch", counted)
    return seen


async def leading_relay(pool: Pool) -> outbox.OutboxRelay:
    """A started relay, once it leads (with nothing to publish, it then waits for a notification)."""
    relay = outbox.OutboxRelay(pool, "unused:9092", idle_poll_s=30)
    await relay.start()
    for _ in range(200):
        if relay.leader:
            break
        await asyncio.sleep(0.01)
    assert relay.leader
    return relay


async def test_every_row_is_sent_once_in_order_while_rows_are_staged(pool: Pool, producer: Producer) -> None:
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


async def test_stop_ends_the_relay_when_a_notification_arrives_at_the_same_moment(
    pool: Pool, producer: Producer
) -> None:
    """Python 3.11's `asyncio.wait_for` returns the awaited result instead of raising when the task is cancelled
    just as what it waits for completes: the relay's idle wait swallowed `stop()`'s cancellation and `stop()` waited
    for ever (a CI run hung here, the relay retrying on a pool that was being closed)."""
    relay = await leading_relay(pool)
    await asyncio.sleep(0.2)  # nothing to publish: the relay waits for a notification
    relay._notified()  # one arrives as the service stops
    stopping = asyncio.ensure_future(relay.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done and relay._task is not None:
        relay._task.cancel()  # a second time, so that the test ends: the first was lost
        await asyncio.wait({stopping}, timeout=5)
    assert done, "the relay went on running after stop()"
    assert not relay.healthy


async def test_stop_ends_the_relay_when_its_cleanup_fails(pool: Pool, producer: Producer) -> None:
    """Stopping, the relay closes its producer; when that fails (a broker gone), it must stop all the same, not
    take the failure for one to retry after (the loop then outlived `stop()` and its pool)."""

    async def broken_stop() -> None:
        raise RuntimeError("the broker went away")

    relay = await leading_relay(pool)
    producer.stop = broken_stop  # type: ignore[attr-defined]
    with warnings.catch_warnings(record=True) as seen:  # and its LISTEN is taken off the connection all the same
        warnings.simplefilter("always")
        stopping = asyncio.ensure_future(relay.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)
    assert not [w for w in seen if "listener" in str(w.message)], [str(w.message) for w in seen]
    if not done and relay._task is not None:
        del producer.stop  # type: ignore[attr-defined]
        relay._task.cancel()  # so that the test ends
        await asyncio.wait({stopping}, timeout=5)
    assert done, "the relay went on running after stop()"
    assert not relay.healthy


async def test_a_relay_stopped_while_its_producer_starts_leaves_no_listener_behind(
    pool: Pool, producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standby relay takes the lead as the service stops (the other replica's relay let go): cancelled while its
    producer connected, it left its LISTEN on the connection it gave back (asyncpg warned of an active listener)."""
    starting = asyncio.Event()

    async def slow_start(self: Producer) -> None:
        starting.set()
        await asyncio.sleep(30)  # a broker that does not answer yet

    monkeypatch.setattr(Producer, "start", slow_start, raising=False)
    relay = outbox.OutboxRelay(pool, "unused:9092", idle_poll_s=30)
    await relay.start()
    await asyncio.wait_for(starting.wait(), 5)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        await relay.stop()
        async with pool.acquire() as conn:  # the pool hands out the relay's connection again: it is clean
            assert await conn.fetchval("select pg_try_advisory_lock(hashtext(current_schema() || ':outbox'))")
    assert not [w for w in seen if "listener" in str(w.message)], [str(w.message) for w in seen]


async def test_a_relay_wakes_for_its_own_schemas_commits_only(
    pool: Pool, producer: Producer, database_url: str, cycles: list[int]
) -> None:
    """Every schema's outbox trigger notified one channel, so each relay in the database woke and queried its own
    empty outbox at every other schema's commit: the four services of a city sharing a database, and the test suite's
    dozens of schemas. A relay now hears only its own schema; its own commits still wake it at once."""
    relay = await leading_relay(pool)  # polls only every 30 s: what wakes it sooner is a notification
    try:
        async with fresh_schema(database_url) as other_schema:
            other = await db.create_pool(database_url, other_schema)
            try:
                await db.migrate(other, outbox.MIGRATIONS)
                await asyncio.sleep(0.2)
                before = len(cycles)
                for i in range(20):  # another schema's commits, as another service's
                    await stage(other, [f"o{i}"])
                await asyncio.sleep(0.5)
                assert len(cycles) == before, f"woken {len(cycles) - before} times by another schema's 20 commits"
            finally:
                await other.close()
        await stage(pool, ["mine"])
        for _ in range(100):
            if relay.published == 1:
                break
            await asyncio.sleep(0.02)
        assert relay.published == 1, "its own commit did not wake the relay"
    finally:
        await relay.stop()


async def test_a_cycle_that_emptied_the_outbox_waits_for_the_next_commit(
    pool: Pool, producer: Producer, cycles: list[int]
) -> None:
    """A cycle that found fewer rows than a batch has seen every commit notified before it began; a later commit
    notifies again. So it does not look once more (one round trip to PostgreSQL less for every cycle: a service at
    a person's pace relays its events one cycle each)."""
    relay = await leading_relay(pool)
    try:
        await asyncio.sleep(0.1)
        before = len(cycles)
        for i in range(5):
            await stage(pool, [f"p{i}"])
            for _ in range(200):
                if relay.published == i + 1:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert relay.published == 5
        assert len(cycles) - before == 5, f"{len(cycles) - before} cycles for 5 commits relayed one at a time"
    finally:
        await relay.stop()


async def test_the_rows_waiting_are_counted_while_kafka_is_unreachable(
    pool: Pool, producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operators alert on `lgnet_outbox_pending` (docs/operators.md): it must grow while the relay cannot publish,
    and fall back to 0 once the rows are out."""
    from aiokafka.errors import KafkaConnectionError
    from lgnet_shared import metrics

    reachable = asyncio.Event()

    async def start(self: Producer) -> None:
        if not reachable.is_set():
            raise KafkaConnectionError("Unable to bootstrap from [('unused', 9092)]")

    monkeypatch.setattr(Producer, "start", start, raising=False)
    monkeypatch.setattr(outbox, "RETRY_AFTER_S", 0.05)
    metrics.OUTBOX_PENDING.set(0)
    await stage(pool, ["a", "b", "c"])
    relay = outbox.OutboxRelay(pool, "unused:9092", idle_poll_s=30)
    await relay.start()
    try:
        for _ in range(100):
            if metrics.OUTBOX_PENDING._value.get() == 3:
                break
            await asyncio.sleep(0.05)
        assert metrics.OUTBOX_PENDING._value.get() == 3
        await stage(pool, ["d"])
        for _ in range(100):
            if metrics.OUTBOX_PENDING._value.get() == 4:
                break
            await asyncio.sleep(0.05)
        assert metrics.OUTBOX_PENDING._value.get() == 4
        reachable.set()
        for _ in range(100):
            if relay.published == 4:
                break
            await asyncio.sleep(0.05)
        assert relay.published == 4
        assert metrics.OUTBOX_PENDING._value.get() == 0
    finally:
        await relay.stop()


async def test_a_backlog_is_counted_without_counting_the_outbox_at_every_batch(
    pool: Pool, producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Draining a backlog (after an outage), the relay reads full batches: the gauge shows what is left, and the
    outbox is counted at most every few seconds (a count of a large outbox at every batch would slow the draining)."""
    from lgnet_shared import metrics

    counts = 0
    after_cycles: list[float] = []
    publish = outbox.OutboxRelay._publish_batch

    async def observed(self: outbox.OutboxRelay, producer: object) -> int:
        n = await publish(self, producer)
        after_cycles.append(metrics.OUTBOX_PENDING._value.get())
        return n

    fetchval = db.Connection.fetchval

    async def counting(self: db.Connection, query: str, *args: object, **kwargs: object) -> object:
        nonlocal counts
        counts += "count(*)" in query
        return await fetchval(self, query, *args, **kwargs)

    monkeypatch.setattr(outbox.OutboxRelay, "_publish_batch", observed)
    monkeypatch.setattr(db.Connection, "fetchval", counting)
    await stage(pool, [f"p{i}" for i in range(9)])
    relay = outbox.OutboxRelay(pool, "unused:9092", batch_size=2, idle_poll_s=30)
    await relay.start()
    try:
        for _ in range(200):
            if relay.published == 9:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
    finally:
        await relay.stop()
    assert after_cycles[:5] == [7, 5, 3, 1, 0]
    assert counts == 1
