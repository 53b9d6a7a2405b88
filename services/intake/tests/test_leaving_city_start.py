"""A national intake restarted with a smaller programme (LGNET_PROGRAMME_CITIES no longer names a city) stops reading
that city's inbound topic. `lgnet-kafka-admin add-deployment` refuses to re-provision it while the city's records are
unread (test_programme_leaving.py), but a restart alone went through: the records already there waited, unread and
unanswered. The national intake now refuses to start while a city it no longer serves has records on its topic that
it has not read, names the city, the topic and how many, and starts once they are read. A real process, on the
test's own topics and schema."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_intake.entrypoints.main import SPEC
from lgnet_intake.entrypoints.programme import LeavingCityUnread, refuse_unread_leaving_cities
from lgnet_shared import config, db
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime
from lgnet_shared.testing.plugin import fresh_schema
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


async def test_a_city_still_served_or_a_city_deployment_is_not_held_up_by_records_waiting(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Records waiting on a served city's topic are the national gatekeeper's ordinary work; a city's own deployment
    never read another city's topic."""
    names = [for_city("partner.inbound.{city}", c) for c in (LEAVING, "torino")]
    await ensure_topics(kafka_bootstrap, topic_prefix, names)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(partner_inbound("torino", topic_prefix), b"{}", key=b"k")
    finally:
        await producer.stop()
    async with fresh_schema(database_url) as city_schema:
        for city, schema in (("national", pg_schema), ("torino", city_schema)):
            env = {
                **service_env(kafka_bootstrap, database_url, schema, topic_prefix, city=city),
                "LGNET_PROGRAMME_CITIES": "torino,trieste",
            }
            intake = ServiceProcess(
                [sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / f"{city}.log"
            )
            try:
                await intake.start(timeout=60)
            finally:
                intake.stop()
            if city == "national":  # and what the national intake left waiting on Genova's topic, a city's ignores
                producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
                await producer.start()
                try:
                    await producer.send_and_wait(partner_inbound(LEAVING, topic_prefix), b"{}", key=b"k")
                finally:
                    await producer.stop()


async def test_records_the_gatekeeper_read_do_not_hold_it_up_though_a_transaction_ended_their_partition(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The order the operators' guide gives: the city's records read first (here by the national intake itself,
    with the city still in the programme), then the restart without it. Written in a transaction, a partition ends
    with a commit marker one offset past its last record: read is what the gatekeeper recorded or its group
    committed, whichever is further, so the marker is not counted as a record waiting."""
    await ensure_topics(kafka_bootstrap, topic_prefix, [for_city("partner.inbound.{city}", LEAVING)])
    topic = partner_inbound(LEAVING, topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), transactional_id=f"{topic_prefix}partner")
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send(topic, b"{}", key=f"k{i}".encode(), partition=0)
    finally:
        await producer.stop()
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    serving = {**env, "LGNET_PROGRAMME_CITIES": f"{LEAVING},torino,trieste"}
    intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], serving, tmp_path / "i1.log")
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await intake.start(timeout=60)
        for _ in range(120):  # until the gatekeeper has recorded all three records as processed
            async with pool.acquire() as conn:
                done = await conn.fetchval(
                    "select next_offset from consumer_positions where consumer = 'intake.gatekeeper' and topic = $1",
                    topic,
                )
            if done == 3:
                break
            await asyncio.sleep(0.5)
        assert done == 3, f"the gatekeeper recorded {done}"
    finally:
        intake.stop()
        await pool.close()
    left = {**env, "LGNET_PROGRAMME_CITIES": "torino,trieste"}
    intake = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], left, tmp_path / "i2.log")
    try:
        await intake.start(timeout=60)
    finally:
        intake.stop()


async def test_it_refuses_to_start_when_it_cannot_tell(
    database_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka does not answer the count: refused on one line, within the time given, rather than left to chance."""
    settings = config.Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        database_url=database_url,
        city="national",
        master_key=base64.b64encode(os.urandom(32)).decode(),
        db_schema=pg_schema,
    )
    monkeypatch.setenv("LGNET_PROGRAMME_CITIES", "torino,trieste")
    began = time.monotonic()
    with pytest.raises(LeavingCityUnread, match="cannot tell whether their records were read"):
        await refuse_unread_leaving_cities(Runtime(SPEC, settings), timeout_s=5)
    assert time.monotonic() - began < 10
