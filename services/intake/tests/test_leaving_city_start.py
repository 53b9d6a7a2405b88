"""A national intake restarted with a smaller programme (LGNET_PROGRAMME_CITIES no longer names a city) stops reading
that city's inbound topic. `lgnet-kafka-admin add-deployment` refuses to re-provision it while the city's records are
unread (test_programme_leaving.py), but a restart alone went through: the records already there waited, unread and
unanswered. The national intake now refuses to start while a city it no longer serves has records on its topic that
it has not read, names the city, the topic and how many, and starts once they are read. A real process, on the
test's own topics and schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared import db
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.topics import ensure_topics, for_city, partner_inbound

pytestmark = pytest.mark.integration
LEAVING = "genova"  # in the suite's programme, not in this intake's


async def start_refused(intake: ServiceProcess) -> str:
    """What the process said as it exited instead of starting."""
    try:
        await intake.start(timeout=60)
    except RuntimeError as exited:
        return str(exited)
    finally:
        intake.stop()
    raise AssertionError("the national intake started")


async def test_a_national_intake_does_not_start_while_a_city_it_left_has_records_it_has_not_read(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    await ensure_topics(kafka_bootstrap, topic_prefix, [for_city("partner.inbound.{city}", LEAVING)])
    topic = partner_inbound(LEAVING, topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, b"{}", key=f"k{i}".encode(), partition=0)
        await producer.send_and_wait(topic, b"{}", key=b"k", partition=1)
    finally:
        await producer.stop()
    env = {
        **service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix),
        "LGNET_PROGRAMME_CITIES": "torino,trieste",
    }
    intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / "intake.log")
    reason = await start_refused(intake)
    assert f"{LEAVING}: 4 record(s) on {topic} not yet read" in reason and "LGNET_PROGRAMME_CITIES" in reason
    refusal = [json.loads(line) for line in intake.log_path.read_text().splitlines() if '"start refused"' in line]
    assert [r["level"] for r in refusal] == ["error"] and "4 record(s)" in refusal[0]["reason"]

    # What the gatekeeper processed is what it recorded with its effects (consumer_positions): all of partition 0,
    # none of partition 1 yet.
    pool = await db.create_pool(database_url, pg_schema)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "insert into consumer_positions (consumer, topic, partition, next_offset)"
                " values ('intake.gatekeeper', $1, 0, 3)",
                topic,
            )
        intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / "i2.log")
        assert f"{LEAVING}: 1 record(s) on {topic} not yet read" in await start_refused(intake)
        async with pool.acquire() as conn:
            await conn.execute(
                "insert into consumer_positions (consumer, topic, partition, next_offset)"
                " values ('intake.gatekeeper', $1, 1, 1)",
                topic,
            )
    finally:
        await pool.close()
    intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / "i3.log")
    try:
        await intake.start(timeout=60)  # everything read: it starts
    finally:
        intake.stop()


async def test_a_city_deployment_or_a_city_still_served_is_not_held_up_by_unread_records(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Records waiting on a served city's topic are the gatekeeper's ordinary work; a city's own deployment never read
    another city's topic."""
    names = [for_city("partner.inbound.{city}", c) for c in (LEAVING, "torino")]
    await ensure_topics(kafka_bootstrap, topic_prefix, names)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for city in (LEAVING, "torino"):
            await producer.send_and_wait(partner_inbound(city, topic_prefix), b"{}", key=b"k")
    finally:
        await producer.stop()
    env = {
        **service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino"),
        "LGNET_PROGRAMME_CITIES": "torino,trieste",
    }
    intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / "intake.log")
    try:
        await intake.start(timeout=60)
    finally:
        intake.stop()
