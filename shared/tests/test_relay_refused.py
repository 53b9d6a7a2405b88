"""A record the broker refuses for good (larger than its topic's `max.message.bytes`, say) against real Kafka and
PostgreSQL: the relay kept it first in the outbox and retried the whole batch every 2 s — every later fact of the
deployment held back, the batch's other records published again at each retry, and `/health/ready` said
`"outbox_relay": "ok"` throughout."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import date
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from lgnet_shared import db, metrics, outbox, outbox_waiting
from lgnet_shared import kafka_acls as ka
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events.housing import HouseholdUnparked
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus, InboundRejected
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.testing.kafka_access import as_user
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import for_partner, physical

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


async def set_max_bytes(bootstrap: str, topic: str, max_bytes: int) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(max_bytes)})]
        )
    finally:
        await admin.close()


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
        later = employment("p2")
        await stage(pool, [unparked("h2"), later])  # the deployment goes on working
        await asyncio.sleep(3)
        on_other = await read_records(kafka_bootstrap, other, missing_ok=True)
        async with pool.acquire() as conn:
            waiting = await conn.fetch("select event_id, topic from outbox order by seq")
        assert sorted(r.key for r in on_other) == [b"h1", b"h2"], "another topic's facts: each once, none held back"
        assert [r["event_id"] for r in waiting] == [refused.id, later.id], "the refused one waits, its topic behind it"
        assert relay.published == 2
        assert await read_records(kafka_bootstrap, refusing, missing_ok=True) == []
        await set_max_bytes(kafka_bootstrap, refusing, 1048588)  # the operator raises the topic's limit
        for _ in range(100):
            if relay.published == 4:
                break
            await asyncio.sleep(0.1)
        assert relay.failing_since is None
    finally:
        await relay.stop()
        await pool.close()
    on_refusing = await read_records(kafka_bootstrap, refusing)
    assert [r.key for r in on_refusing] == [b"p1", b"p2"], "in order, once each, with nothing else to do"


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
        assert relay.endswith(f"s: {refusing} refuses event {refused.id} (MessageSizeTooLargeError)"), checks
        runtime.refresh_metrics()
        assert metrics.OUTBOX_STUCK_SECONDS._value.get() >= 1.5
    finally:
        await runtime.stop()


async def test_an_answer_to_a_partner_the_deployment_may_not_write_to_holds_back_only_that_partners_topic(
    database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """docs/operators.md: a partner not (yet) added with the city's name, or one that moved to another city: the
    city's intake may neither create nor write its answer topics. Its relay holding an answer for it stopped
    publishing every fact of the city (every topic) until an operator re-added the partner."""
    admin_security = KafkaSecurity.from_env()
    uid = uuid.uuid4().hex[:8]
    intake = ka.Principal.service(f"torino-{uid}", "intake")
    partner = f"coop-{uid}"  # never added with Torino as its city
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        password, _ = await admin.provision(intake)
    assert password is not None
    facts = physical("intake.events", topic_prefix)
    pool = await db.create_pool(database_url, pg_schema)
    relay = outbox.OutboxRelay(
        pool,
        kafka_bootstrap,
        topic_prefix=topic_prefix,
        security=as_user(admin_security, intake.name, password),
        idle_poll_s=0.1,
    )
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        answer = InboundRejected(partner=partner, inbound_event_id="e-1", kind="invalid", field="data.x", reason="r")
        refused = to_envelope(answer, source="/intake", city="torino", partner=partner)
        await stage(pool, [refused, employment("p1")])
        await relay.start()
        await asyncio.sleep(5)
        await stage(pool, [employment("p2")])
        await asyncio.sleep(3)
        state = relay.state(after_s=1)
        published = await read_records(kafka_bootstrap, facts, missing_ok=True)
        async with pool.acquire() as conn:
            waiting = await conn.fetch("select event_id, topic from outbox order by seq")
            # The partner never comes back: the operator drops its answers (`lgnet-admin drop-answers`), and the relay
            # is itself again at its next retry, the facts staged since published.
            dropped = await outbox_waiting.drop_waiting(conn, outbox_waiting.partner_topics(partner))
        await stage(pool, [employment("p3")])
        await asyncio.sleep(outbox.RETRY_AFTER_S + 1.5)
        state_after = relay.state(after_s=1)
        published_after = await read_records(kafka_bootstrap, facts, missing_ok=True)
    finally:
        await relay.stop()
        await pool.close()
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            await ka.delete_credentials(admin.client, intake.name)
            await ka.delete_acls(admin.client, intake.user)
    assert dropped == {for_partner("partner.rejections.{partner}", partner): 1} and state_after == "ok", state_after
    assert sorted(r.key for r in published_after) == [b"p1", b"p2", b"p3"]
    assert sorted(r.key for r in published) == [b"p1", b"p2"], "the city's facts: each once, none held back"
    answers = for_partner("partner.rejections.{partner}", partner)
    assert [(r["event_id"], r["topic"]) for r in waiting] == [(refused.id, answers)], "the partner's answer waits"
    # One partner waits for its answers, every fact of the city goes on: still ready, and said so (a partner that
    # left the programme with an answer pending took the city's intake out of its load balancer for good).
    assert state.startswith("degraded: cannot publish for "), state
    assert state.endswith(f"s: {physical(answers, topic_prefix)} refuses event {refused.id} (TopicsNotCreated)"), state


async def test_a_topic_that_is_gone_holds_back_its_own_facts_only_and_not_for_the_clients_request_timeout(
    database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str, new_topic: Any
) -> None:
    """A topic deleted under a running service (or never made): the producer waits for its metadata as long as its
    request timeout (40 s) at every attempt, and the relay with it, every other topic's facts behind that wait."""
    facts = await new_topic(physical("intake.events", ""))
    pool = await db.create_pool(database_url, pg_schema)
    relay = outbox.OutboxRelay(pool, kafka_bootstrap, topic_prefix=topic_prefix, idle_poll_s=0.1)
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        await stage(pool, [unparked("h1"), employment("p1")])  # lgnet.housing.events: not on the cluster
        await relay.start()
        for _ in range(100):
            if relay.published:
                break
            await asyncio.sleep(0.1)
        published = relay.published
        await stage(pool, [employment("p2")])
        for _ in range(100):
            if relay.published == 2:
                break
            await asyncio.sleep(0.1)
        gone = relay.failure
    finally:
        await relay.stop()
        await pool.close()
    assert published == 1, "the facts of a topic that is there waited on one that is not"
    assert relay.published == 2
    assert gone.startswith(f"{physical('housing.events', topic_prefix)} refuses event "), gone
    assert [r.key for r in await read_records(kafka_bootstrap, facts)] == [b"p1", b"p2"]


async def test_two_replicas_do_not_hand_the_lead_back_and_forth_publishing_a_held_topics_records_again(
    database_url: str, pg_schema: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Two replicas of a service, one relay leading, the other on standby. A relay that could publish nothing but a
    refused record gave up its lead and producer every 2 s, the standby took over, sent the whole first batch again
    (the refused record's topic's records on other partitions, acknowledged, kept behind it), and gave the lead back:
    the same facts published again and again, on a topic kept for ever."""
    refusing = physical("intake.events", topic_prefix)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(refusing, 6, 1, topic_configs={"max.message.bytes": "3000"})])
    finally:
        await admin.close()
    big = employment("p-big")
    big.data["padding"] = os.urandom(4000).hex()  # larger than the topic takes, even compressed
    pool = await db.create_pool(database_url, pg_schema)
    relays = [outbox.OutboxRelay(pool, kafka_bootstrap, topic_prefix=topic_prefix, idle_poll_s=0.1) for _ in "ab"]
    try:
        await db.migrate(pool, outbox.MIGRATIONS)
        await stage(pool, [big, *(employment(f"p{i}") for i in range(12))])
        for relay in relays:
            await relay.start()
        await asyncio.sleep(10)
        async with pool.acquire() as conn:
            waiting = [r["event_id"] for r in await conn.fetch("select event_id from outbox order by seq")]
    finally:
        for relay in relays:
            await relay.stop()
        await pool.close()
    published = await read_records(kafka_bootstrap, refusing)
    assert len(published) <= 12, f"{len(published)} records published for 12 facts"
    # What the broker took is out of the outbox (not published again when the hold ends): what waits is the refused
    # record and the records of its partition behind it.
    beside = {r.partition for r in published}
    assert waiting[0] == big.id and len(waiting) + len(published) == 13, (len(waiting), len(published))
    assert len({json.loads(r.value)["id"] for r in published}) == len(published)
    assert len(beside) >= 1
