"""Deployment identity: many deployments of one service on one cluster (federation).

Two cities running the same service used to join one consumer group and split each other's partitions, each
silently missing about half of its own events. Groups now carry the topic prefix and the deployment name."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from lgnet_shared import db, service
from lgnet_shared.codec import to_envelope
from lgnet_shared.config import Settings
from lgnet_shared.consumer import Consumer
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import fresh_schema
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.topics import TOPICS, ensure_topics, physical

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
PER_CITY = 60


@pytest.fixture
async def second_schema(database_url: str) -> AsyncIterator[str]:
    async with fresh_schema(database_url) as name:
        yield name


def settings(**env: str) -> Settings:
    base = {
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "database_url": "postgresql://x@127.0.0.1/x",
        "city": "torino",
        "master_key": "A" * 43 + "=",
    }
    return Settings(**{**base, **env})  # type: ignore[arg-type]


def test_consumer_groups_carry_prefix_and_deployment() -> None:
    assert settings().consumer_group("intake", "gatekeeper") == "torino.intake.gatekeeper"
    assert settings(city="national").consumer_group("reporting", "projections") == "national.reporting.projections"
    named = settings(deployment="torino-north", topic_prefix="test.")
    assert named.consumer_group("intake", "gatekeeper") == "test.torino-north.intake.gatekeeper"
    assert named.deployment_name == "torino-north"


def test_a_bad_deployment_name_is_named() -> None:
    with pytest.raises(ValueError, match="deployment"):
        settings(deployment="Torino Nord!")


async def count_applied(database_url: str, schema: str) -> int:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval("select count(distinct event_id) from applied"))
    finally:
        await conn.close()


async def test_two_cities_running_one_service_each_get_all_their_events(
    kafka_bootstrap: str, database_url: str, pg_schema: str, second_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    deployments = {
        city: ServiceProcess(
            [sys.executable, str(HERE / "probe_service.py")],
            service_env(kafka_bootstrap, database_url, schema, topic_prefix, city=city),
            tmp_path / f"{city}.log",
        )
        for city, schema in (("torino", pg_schema), ("trieste", second_schema))
    }
    try:
        await asyncio.gather(*(d.start() for d in deployments.values()))
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            topic = physical("intake.events", topic_prefix)
            for i in range(PER_CITY):
                for city in deployments:
                    event = EmploymentRecorded(
                        person_id=f"{city}-{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1)
                    )
                    env = to_envelope(event, source="/test", city=city)
                    value, headers = await signed_fact(producer, topic_prefix, env)  # as intake would sign it
                    await producer.send(topic, value, key=f"{city}-{i}".encode(), headers=headers)
            await producer.flush()
        finally:
            await producer.stop()
        schemas = {"torino": pg_schema, "trieste": second_schema}
        for _ in range(300):
            counts = {city: await count_applied(database_url, s) for city, s in schemas.items()}
            if all(n == PER_CITY for n in counts.values()):
                break
            await asyncio.sleep(0.2)
        assert counts == {"torino": PER_CITY, "trieste": PER_CITY}, "a deployment missed some of its city's events"
        admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            groups = {g[0] for g in await admin.list_consumer_groups()}
        finally:
            await admin.close()
        assert {f"{topic_prefix}torino.probe.probe", f"{topic_prefix}trieste.probe.probe"} <= groups
    finally:
        for d in deployments.values():
            d.stop()


async def test_a_schema_owned_by_another_deployment_refuses_to_start(database_url: str, pg_schema: str) -> None:
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [service.DEPLOYMENT_MIGRATION])
        await service.claim_schema(pool, pg_schema, "torino", "torino")
        await service.claim_schema(pool, pg_schema, "torino", "torino")  # a restart of the owner is fine
        with pytest.raises(service.SchemaOwnedElsewhere, match="belongs to deployment 'torino'"):
            await service.claim_schema(pool, pg_schema, "trieste", "trieste")
    finally:
        await pool.close()


async def test_missing_group_offsets_are_seeded_from_recorded_positions(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """A renamed group (the upgrade to deployment names) or expired offsets resume where PostgreSQL says the
    consumer got to, not from the start of the log; offsets a group already has are left alone."""
    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"])
    topic = physical("intake.events", topic_prefix)
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, service.all_migrations([]))
        async with pool.acquire() as conn:
            await conn.executemany(
                "insert into consumer_positions values ($1, $2, $3, $4)",
                [("probe.probe", topic, 0, 7), ("probe.probe", topic, 1, 3), ("other.consumer", topic, 2, 9)],
            )
        group = f"{topic_prefix}torino.probe.probe"
        cons = Consumer(
            name=group, inbox_name="probe.probe", pool=pool, handlers={}, dead_letters=DeadLetters.__new__(DeadLetters)
        )
        seeded = await service.seed_group_offsets(pool, client_kwargs(kafka_bootstrap), cons, [topic])
        assert seeded == {f"{topic}:0": 7, f"{topic}:1": 3}
        admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        assert {tp: m.offset for tp, m in committed.items()} == {
            TopicPartition(topic, 0): 7,
            TopicPartition(topic, 1): 3,
        }
        async with pool.acquire() as conn:
            await conn.execute("update consumer_positions set next_offset = 8 where partition = 0")
        assert await service.seed_group_offsets(pool, client_kwargs(kafka_bootstrap), cons, [topic]) == {}
    finally:
        await pool.close()


async def send_facts(kafka_bootstrap: str, topic_prefix: str, person_ids: list[str], key: bytes | None = None) -> None:
    """Intake's employment facts for `person_ids`, signed as intake signs them, each keyed by its person (or `key`)."""
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for pid in person_ids:
            event = EmploymentRecorded(person_id=pid, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
            value, headers = await signed_fact(producer, topic_prefix, to_envelope(event, source="/t", city="torino"))
            await producer.send(
                physical("intake.events", topic_prefix), value, key=key or pid.encode(), headers=headers
            )
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_schema_restored_from_a_backup_reads_again_what_it_had_not_recorded(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """PostgreSQL restored from last night's backup is behind the log: Kafka's committed offsets (a cache) are ahead
    of the positions the schema recorded with its effects. The consumer resumed at Kafka's offsets, and the events
    in between — applied once, then lost with the restore — were never applied again: records lost, silently. It now
    rewinds to the recorded positions (PostgreSQL is the truth), and the inbox recognises what the backup held."""
    probe = ServiceProcess(
        [sys.executable, str(HERE / "probe_service.py")],
        service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino"),
        tmp_path / "probe.log",
    )

    async def send(first: int, n: int) -> None:
        await send_facts(kafka_bootstrap, topic_prefix, [f"r-{i}" for i in range(first, first + n)])

    async def applied_reaches(n: int, seconds: float = 30) -> int:
        for _ in range(int(seconds / 0.2)):
            if (found := await count_applied(database_url, pg_schema)) >= n:
                return found
            await asyncio.sleep(0.2)
        return await count_applied(database_url, pg_schema)

    state = ("applied", "inbox", "consumer_positions")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        await probe.start()
        await send(0, 20)
        assert await applied_reaches(20) == 20
        for table in state:  # last night's backup
            await conn.execute(f"create table backup_{table} as select * from {table}")
        await send(20, 20)
        assert await applied_reaches(40) == 40
        probe.stop()  # a clean stop: Kafka's committed offsets are at 40
        for table in state:  # the restore
            await conn.execute(f"truncate {table}; insert into {table} select * from backup_{table}")
        assert await count_applied(database_url, pg_schema) == 20
        await probe.start()
        assert await applied_reaches(40) == 40, "the events after the backup were not applied again"
        await asyncio.sleep(1)
        assert await count_applied(database_url, pg_schema) == 40  # and once: the inbox held the backup's
        assert await conn.fetchval("select count(*) from applied") == 40
    finally:
        probe.stop()
        await conn.close()


async def test_positions_of_another_kafka_cluster_are_not_taken_for_this_ones(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The deployment moved to a new Kafka cluster (rebuilt from a mirror after a disaster; MirrorMaker does not keep
    offsets): the positions its schema recorded are the old cluster's. A group the new cluster does not know was
    seeded from them — an offset that means another record here — and the records before it were skipped: lost.
    The schema now records which cluster its positions are of; on another one they are set aside, and the consumer
    reads the new cluster's log from its start (the inbox recognises what it had processed)."""
    topic = physical("intake.events", topic_prefix)
    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"])
    # this cluster's log: one partition's offsets 0..19 (one key)
    await send_facts(kafka_bootstrap, topic_prefix, [f"m-{i}" for i in range(20)], key=b"one-key")
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, service.all_migrations([]))
        async with pool.acquire() as conn:
            # What the old cluster's consumer recorded: offset 12 of each partition (another cluster's numbering).
            await conn.executemany(
                "insert into consumer_positions values ('probe.probe', $1, $2, 12)",
                [(topic, p) for p in range(TOPICS["intake.events"].partitions)],
            )
            if await conn.fetchval("select to_regclass('kafka_cluster')") is not None:
                await conn.execute("insert into kafka_cluster (cluster_id) values ('the-old-cluster')")
    finally:
        await pool.close()
    probe = ServiceProcess(
        [sys.executable, str(HERE / "probe_service.py")],
        service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino"),
        tmp_path / "probe.log",
    )
    try:
        await probe.start()
        for _ in range(100):
            if await count_applied(database_url, pg_schema) >= 20:
                break
            await asyncio.sleep(0.2)
        assert await count_applied(database_url, pg_schema) == 20, "records skipped at the old cluster's offsets"
    finally:
        probe.stop()
