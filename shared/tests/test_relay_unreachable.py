"""The broker unreachable for the relay once its producer is up (real Kafka and PostgreSQL): the idempotent producer
retries a batch until the broker takes it and never fails its send, so the relay waited on it with every metric
saying all was well — `lgnet_outbox_pending` the size of the batch in flight (1 while 9 rows waited),
`lgnet_outbox_stuck_seconds` 0 and `/health/ready` `"outbox_relay": "ok"` — while the rows aged in the outbox
(docs/operators.md promises the count and a growing age while the relay cannot publish)."""

from __future__ import annotations

import asyncio
import time
import types
from datetime import date
from typing import Any

import aiokafka.client
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared import db, metrics, outbox, runtime_schema
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.testing.process import free_port

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")
eventually = sibling_module(__file__, "test_consumer_waiting.py").eventually  # until a predicate holds, or False

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def employment(person_id: str) -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/t", city="trieste")


async def stage(runtime: Runtime, person_id: str) -> None:
    """One write of the service (a registration): its fact in the outbox, in its own transaction."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [employment(person_id)])


def gauges(runtime: Runtime) -> tuple[float, float]:
    """(lgnet_outbox_pending, lgnet_outbox_stuck_seconds) as /metrics would serve them now."""
    runtime.refresh_metrics()
    return metrics.OUTBOX_PENDING._value.get(), metrics.OUTBOX_STUCK_SECONDS._value.get()


async def test_rows_waiting_while_the_broker_is_unreachable_are_counted_aged_and_said_then_drained(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    producers: list[AIOKafkaProducer] = []

    class Recorded(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka is untyped
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            producers.append(self)

    monkeypatch.setattr(outbox, "AIOKafkaProducer", Recorded)
    monkeypatch.setattr(outbox, "RETRY_AFTER_S", 0.3)
    settings = robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=2)
    runtime = Runtime(robustness.SPEC, settings)
    real = aiokafka.client.create_conn
    await runtime.start()
    try:
        assert runtime.relay is not None
        relay = runtime.relay
        await stage(runtime, "before")
        assert await eventually(lambda: asyncio.sleep(0, relay.published == 1)), "published while Kafka is there"

        # The broker goes away for the relay: its connections drop, and a new one is refused (a closed port).
        closed = free_port()

        async def refused(host: str, port: int, **kwargs: Any) -> Any:
            return await real("127.0.0.1", closed, **kwargs)

        monkeypatch.setattr(aiokafka.client, "create_conn", refused)
        for conn in list(producers[-1].client._conns.values()):
            conn.close()
        for i in range(3):  # three registrations over HTTP while Kafka is down
            await stage(runtime, f"during-{i}")

        async def said() -> bool:
            return (await runtime.ready())["outbox_relay"] != "ok"

        said_in_time = await eventually(said, timeout=10)
        checks = await runtime.ready()
        pending, stuck = gauges(runtime)
        assert (pending, stuck >= 2, said_in_time) == (3, True, True), (pending, stuck, checks)
        assert checks["outbox_relay"].startswith("error: cannot publish for "), checks
        assert "Kafka does not acknowledge" in checks["outbox_relay"], checks
        await stage(runtime, "later")
        assert await eventually(lambda: asyncio.sleep(0, gauges(runtime)[0] == 4), timeout=5), gauges(runtime)
        assert gauges(runtime)[1] > stuck, "the age grows"

        monkeypatch.setattr(aiokafka.client, "create_conn", real)  # the broker is back

        async def drained() -> bool:
            return (
                relay.published == 5 and gauges(runtime) == (0, 0) and (await runtime.ready())["outbox_relay"] == "ok"
            )

        assert await eventually(drained, timeout=30), (relay.published, gauges(runtime), await runtime.ready())
        async with runtime.pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from outbox") == 0
    finally:
        aiokafka.client.create_conn = real  # before stopping: a producer stops once it has delivered what it holds
        await runtime.stop()


@pytest.mark.parametrize("skew_s", [3600.0, -3600.0], ids=["service-clock-ahead", "service-clock-behind"])
async def test_the_age_of_what_waits_is_the_databases_whatever_the_service_hosts_clock_says(
    database_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch, skew_s: float
) -> None:
    """A row has waited 90 s by PostgreSQL's clock (its `created_at` is the database's `now()`); the service's host
    clock is an hour off. The age `lgnet_outbox_stuck_seconds` and readiness report is the database's 90 s: an hour
    ahead, the host read 3690 s; an hour behind, a negative age, read as 0 (nothing stuck)."""
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, runtime_schema.all_migrations([]))
        async with pool.acquire() as conn:
            await outbox.append(conn, [employment("waiting")])
            await conn.execute("update outbox set created_at = now() - interval '90 seconds'")
        skewed = types.SimpleNamespace(time=lambda: time.time() + skew_s, monotonic=time.monotonic)
        monkeypatch.setattr(outbox, "time", skewed)  # only the relay's module: asyncio keeps the real clock
        relay = outbox.OutboxRelay(pool, "127.0.0.1:1")  # never started: the send that hangs is simulated
        since = time.monotonic()
        relay._sending_since = relay.failing_since = since
        await relay._count_waiting(since)
        assert 90 <= relay.stuck_for() < 100, (relay.stuck_for(), relay.failure)
        assert "waits first" in relay.failure, relay.failure
    finally:
        await pool.close()
