"""A record the broker refuses for good (larger than its topic's `max.message.bytes`, say) against real Kafka and
PostgreSQL: the relay kept it first in the outbox and retried the whole batch every 2 s — every later fact of the
deployment held back, the batch's other records published again at each retry, and `/health/ready` said
`"outbox_relay": "ok"` throughout."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lgnet_shared import db, metrics, outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events.housing import HouseholdUnparked
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import physical

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")

pytestmark = pytest.mark.integration


def employment(person_id: str) -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/t", city="trieste")


def unparked(household_id: str) -> Envelope:
    return to_envelope(HouseholdUnparked(household_id=household_id, on=date(2026, 3, 1)), source="/t", city="trieste")


async def refusing_topic(bootstrap: str, prefix: str, name: str, max_bytes: int = 200) -> str:
    """The service's topic, made before the service (which then keeps it as it is) with a small record limit."""
    topic = physical(name, prefix)
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(max_bytes)})])
    finally:
        await admin.close()
    return topic


async def stage(pool: Any, envelopes: list[Envelope]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, envelopes)


async def test_a_record_its_topic_refuses_holds_back_only_that_topic_and_nothing_is_published_twice(
    database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str, new_topic: Any
) -> None:
    refusing = await refusing_topic(kafka_bootstrap, topic_prefix, "intake.events")
    other = await new_topic(physical("housing.events", ""))
    pool = await db.create_pool(database_url, pg_schema)
    relay = outbox.OutboxRelay(pool, kafka_bootstrap, topic_prefix=topic_prefix, idle_poll_s=0.1)
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        refused = employment("p1")
        await stage(pool, [refused, unparked("h1")])  # one transaction: one batch of the relay
        await relay.start()
        await asyncio.sleep(5)  # two retries at least (every 2 s)
        await stage(pool, [unparked("h2")])  # the deployment goes on working
        await asyncio.sleep(3)
        on_other = await read_records(kafka_bootstrap, other, missing_ok=True)
        async with pool.acquire() as conn:
            waiting = await conn.fetch("select event_id, topic from outbox order by seq")
    finally:
        await relay.stop()
        await pool.close()
    assert sorted(r.key for r in on_other) == [b"h1", b"h2"], "another topic's facts: each once, none held back"
    assert [(r["event_id"], r["topic"]) for r in waiting] == [(refused.id, "intake.events")], "the refused one waits"
    assert relay.published == 2
    assert await read_records(kafka_bootstrap, refusing, missing_ok=True) == []


async def test_readiness_and_metrics_say_the_relay_cannot_publish_and_name_the_topic_and_event(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    refusing = await refusing_topic(kafka_bootstrap, topic_prefix, "intake.events")
    settings = robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=1.5)
    runtime = Runtime(robustness.SPEC, settings)
    await runtime.start()
    try:
        refused = employment("p1")
        await stage(runtime.pool, [refused])
        await asyncio.sleep(0.5)
        assert (await runtime.ready())["outbox_relay"] == "ok"  # failing, within the stuck time: still ready
        await asyncio.sleep(2.5)
        checks = await runtime.ready()
        relay = checks["outbox_relay"]
        assert relay.startswith("error: cannot publish for "), checks
        assert f"{refusing} refuses event {refused.id} (MessageSizeTooLargeError)" in relay, checks
        runtime.refresh_metrics()
        assert metrics.OUTBOX_STUCK_SECONDS._value.get() >= 1.5
    finally:
        await runtime.stop()
