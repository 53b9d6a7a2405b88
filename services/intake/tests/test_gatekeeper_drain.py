"""After the upgrade to per-city inbound topics: a city's gatekeeper reads its own city's topic only (a national one
every city's), and, while the operator has it drain the old shared `lgnet.partner.inbound`, the records partners
sent there before the upgrade, with the same rules as before (a record keyed by anything but its partner's id too:
the partition-key rule of 2026-12-07 holds on the per-city topics). Nothing sent before the upgrade is lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_intake.entrypoints.gatekeeper import inbound_topics
from lgnet_shared import signing
from lgnet_shared.cities import programme_cities
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import ensure_topics, partner_inbound, physical
from test_gatekeeper import registration, wait_rows

if TYPE_CHECKING:
    from conftest import IntakeUnderTest


@pytest.fixture
async def intake_env(kafka_bootstrap: str, topic_prefix: str) -> dict[str, str]:
    """A (national) deployment told to drain the old shared topic, which an upgraded cluster still has."""
    await ensure_topics(kafka_bootstrap, topic_prefix, ["partner.inbound"])
    return {"LGNET_INTAKE_DRAIN_OLD_INBOUND": "true"}


def test_a_gatekeeper_reads_its_citys_topic_and_the_old_one_only_while_draining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LGNET_INTAKE_DRAIN_OLD_INBOUND", raising=False)
    assert inbound_topics("torino") == ["partner.inbound.torino"]
    national = inbound_topics("national")  # every city taking part (all 16 unless LGNET_PROGRAMME_CITIES names fewer)
    assert len(national) == len(programme_cities()) and "partner.inbound.trieste" in national
    monkeypatch.setenv("LGNET_INTAKE_DRAIN_OLD_INBOUND", "true")
    assert inbound_topics("torino") == ["partner.inbound.torino", "partner.inbound"]


async def test_records_left_on_the_old_shared_topic_are_processed_while_draining(
    intake: IntakeUnderTest, uid: str
) -> None:
    async def send(topic: str, partner: str, city: str, person: str, key: str | None = None) -> None:
        async with intake.partner(partner, city) as client:
            env = client.envelope(registration(person, client, uid))
        if key is not None:  # keyed by the person, as the contract asked and nobody checked before 2026-12-07
            env = env.model_copy(update={"partitionkey": key})
        value, headers = env.to_structured()
        headers.append(signing.sign(intake.signing_keys[partner], f"{partner}-key", value, headers))
        producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=env.key, headers=headers)
        finally:
            await producer.stop()

    old = physical("partner.inbound", intake.prefix)
    await send(old, "coop-carso", "trieste", "old-trieste")  # sent before the upgrade, not yet read
    await send(old, "coop-aurora", "torino", "old-torino", key="old-torino")  # read by the rules of then
    await send(partner_inbound("trieste", intake.prefix), "coop-carso", "trieste", "new-trieste")
    await send(partner_inbound("torino", intake.prefix), "coop-aurora", "torino", "new-torino")
    await wait_rows(intake, "select count(*) from persons", 4)
    async with intake.pool.acquire() as conn:
        registered = await conn.fetch("select person_id from persons order by person_id")
    assert [r["person_id"] for r in registered] == ["new-torino", "new-trieste", "old-torino", "old-trieste"]
