"""A national deployment of intake, housing or payments that a city has left for its own deployment of the service
(LGNET_SERVED_CITIES leaves it out): its consumers skip that city's records, its API refuses its parties
(test_auth), and its gatekeeper neither reads nor is granted the city's partners' topic — two deployments never act
on one city's records (an outside tester's review: Bologna's own intake and housing started, and the national ones
kept taking Bologna's partners' records and households)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from lgnet_shared import db, kafka_acls, outbox, pii
from lgnet_shared.codec import to_envelope
from lgnet_shared.config import Settings
from lgnet_shared.consumer import MIGRATION, Consumer, handlers_of
from lgnet_shared.db import Conn, Pool
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.service import Runtime, ServiceSpec
from lgnet_shared.testing.topics import as_records
from lgnet_shared.topics import city_topics

BASE = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "DATABASE_URL": "postgresql://u@h/d",
    "LGNET_MASTER_KEY": "A" * 43 + "=",
}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("LGNET_SERVED_CITIES", "LGNET_PROGRAMME_CITIES", "LGNET_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**BASE, **env}.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_a_national_deployment_serves_the_cities_named_and_leaves_out_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = settings(monkeypatch, LGNET_CITY="national", LGNET_SERVED_CITIES="torino, Trieste")
    assert s.cities_served == ("torino", "trieste")
    assert s.leaves_out is not None and "bologna" in s.leaves_out and "torino" not in s.leaves_out
    everyone = settings(monkeypatch, LGNET_CITY="national")
    assert everyone.leaves_out is None and len(everyone.cities_served) == 16
    assert settings(monkeypatch, LGNET_CITY="torino").cities_served == ("torino",)


@pytest.mark.parametrize(
    ("city", "served", "said"),
    [
        ("torino", "torino", "a deployment of torino serves its own city only"),
        ("national", "torino,paris", "'paris' is not a city taking part"),
        ("national", "torino,torino", "'torino' is named twice"),
    ],
)
def test_a_wrong_list_of_served_cities_is_named(
    monkeypatch: pytest.MonkeyPatch, city: str, served: str, said: str
) -> None:
    with pytest.raises(ValueError, match="LGNET_SERVED_CITIES") as refused:
        settings(monkeypatch, LGNET_CITY=city, LGNET_SERVED_CITIES=served)
    assert said in str(refused.value)


def test_the_national_gatekeeper_reads_and_is_granted_only_the_served_cities_partners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LGNET_SERVED_CITIES", "torino,trieste")
    assert city_topics("intake", "national") == ["partner.inbound.torino", "partner.inbound.trieste"]
    principal = kafka_acls.Principal.parse("service.national.intake")
    granted = {a.resource_name for a in kafka_acls.derive(principal)}
    assert "lgnet.partner.inbound.torino" in granted and "lgnet.partner.inbound.bologna" not in granted
    monkeypatch.delenv("LGNET_SERVED_CITIES")
    assert "lgnet.partner.inbound.bologna" in {a.resource_name for a in kafka_acls.derive(principal)}


def employment(person_id: str, city: str) -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/t", city=city)


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Pool]:
    p = await db.create_pool(database_url, pg_schema, max_size=2)
    await db.migrate(p, [MIGRATION, *outbox.MIGRATIONS, pii.MIGRATION, ("t-1", "create table applied (what text)")])
    try:
        yield p
    finally:
        await p.close()


@pytest.mark.integration
async def test_a_national_consumer_skips_the_records_of_a_city_it_leaves_out(
    pool: Pool, dead_letters: DeadLetters
) -> None:
    async def apply(conn: Conn, env: Envelope, _: Event) -> None:
        await conn.execute("insert into applied (what) values ($1)", f"{env.city}:{env.partitionkey}")

    consumer = Consumer(
        "national.housing.test",
        pool,
        dead_letters,
        handlers_of((EmploymentRecorded, apply)),
        leaves_out=frozenset({"bologna"}),
    )
    await consumer.process(
        as_records([employment("p1", "torino"), employment("p2", "bologna"), employment("p3", "trieste")])
    )
    async with pool.acquire() as conn:
        assert [r["what"] for r in await conn.fetch("select what from applied order by what")] == [
            "torino:p1",
            "trieste:p3",
        ]


def test_reporting_and_the_notary_read_every_city_whatever_the_variable_says(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, LGNET_CITY="national", LGNET_SERVED_CITIES="torino")
    acting = Runtime(ServiceSpec(name="housing", default_port=1), s)
    reporting = Runtime(ServiceSpec(name="reporting", default_port=1, serves_cities=False), s)
    assert acting.leaves_out is not None and "bologna" in acting.leaves_out
    assert reporting.leaves_out is None
