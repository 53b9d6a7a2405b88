"""A city's gatekeeper judges its own city's partners' records; another city's are not its to judge.

On the old shared `lgnet.partner.inbound` (read while draining it) every city's partners wrote: another city's
partner's record, signed with a key only that city's intake knows, is skipped before it is authenticated and counted
as skipped — never dead-lettered (a dead letter is kept forever, alerts, and copies the record's data into
`lgnet.deadletter`). On the city's own `lgnet.partner.inbound.<city>`, which only its partners may write, there is
no other city's record to skip: a record claiming another city is judged like any other, and refused to its signer
at `city` (review: it was skipped, unanswered and not dead-lettered — lost without a trace). Real Kafka and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import signing
from lgnet_shared.actors import Role
from lgnet_shared.events import partner as inbound
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import OLD_INBOUND, ensure_topics, partner_inbound, physical

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


@pytest.fixture
async def old_topic(kafka_bootstrap: str, topic_prefix: str) -> None:
    """The old shared topic an upgraded cluster still has (created before the intake subscribes to it)."""
    await ensure_topics(kafka_bootstrap, topic_prefix, [OLD_INBOUND], 1)


@pytest.fixture
def intake_env(old_topic: None) -> dict[str, str]:
    # Torino's own intake, not a national one, still draining the old shared topic
    return {"LGNET_CITY": "torino", "LGNET_INTAKE_DRAIN_OLD_INBOUND": "true"}


@pytest.fixture
def intake_actors() -> list[tuple[str, Role, str | None]]:
    return [("coop-aurora", Role.PARTNER, "torino")]  # Trieste's partners are registered with Trieste's intake


def registration(pid: str) -> inbound.PersonRegistrationSubmitted:
    return inbound.PersonRegistrationSubmitted(person_id=pid, sex="female", nationality="SY", birth_date="1990-01-02")


async def skipped_other_city(intake: IntakeUnderTest) -> float:
    async with intake.process.client() as c:
        text = (await c.get("/metrics")).text
    found = re.findall(r'lgnet_events_consumed_total\{[^}]*outcome="other_city"[^}]*\} ([0-9.e+]+)', text)
    return sum(float(v) for v in found)


async def test_on_the_old_shared_topic_another_citys_record_is_skipped_unjudged_and_our_own_authenticated(
    intake: IntakeUnderTest,
) -> None:
    async with intake.partner("coop-aurora", "torino") as aurora:
        ours = aurora.envelope(registration("t-1"))
    # Trieste's partner, whose key only Trieste's intake has; and a forgery claiming Torino, signed by nobody known.
    theirs = ours.model_copy(update={"id": ours.id + "-ts", "city": "trieste", "partner": "coop-carso"})
    forged = ours.model_copy(update={"id": ours.id + "-forged"})
    stranger = Ed25519PrivateKey.generate()
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        for env, partner in ((theirs, "coop-carso"), (forged, "coop-aurora")):
            value, headers = env.to_structured()
            headers.append(signing.sign(stranger, f"{partner}-trieste-key", value, headers))
            # Every city's partners wrote the old shared topic, which this deployment drains
            await producer.send_and_wait(physical(OLD_INBOUND, intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    dead: list[Any] = []
    for _ in range(60):  # the forgery claiming Torino is dead-lettered; it was sent after Trieste's record
        dead = await intake.raw_records("deadletter", missing_ok=True)
        if dead:
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1)  # anything else would be dead-lettered by now too
    dead = await intake.raw_records("deadletter", missing_ok=True)
    assert [dict(r.headers)["dlq.error.kind"] for r in dead] == [b"unauthenticated"]
    assert forged.id.encode() in dead[0].value and theirs.id.encode() not in dead[0].value
    assert await skipped_other_city(intake) == 1


async def test_on_our_own_topic_a_record_claiming_another_city_is_refused_to_its_signer(
    intake: IntakeUnderTest,
) -> None:
    async with intake.partner("coop-aurora", "torino") as aurora:
        ours = aurora.envelope(registration("t-2"))
    elsewhere = ours.model_copy(update={"city": "trieste"})  # a partner's mistake: only Torino's partners write here
    value, headers = elsewhere.to_structured()
    headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(
            partner_inbound("torino", intake.prefix), value, key=elsewhere.key, headers=headers
        )
    finally:
        await producer.stop()
    answers: list[Any] = []
    for _ in range(60):
        answers = await intake.raw_records("partner.rejections.coop-aurora", missing_ok=True)
        if answers:
            break
        await asyncio.sleep(0.25)
    assert len(answers) == 1, "the signer is answered"
    answer = json.loads(answers[0].value)["data"]
    assert answer["inbound_event_id"] == elsewhere.id and answer["field"] == "city", answer
    assert await skipped_other_city(intake) == 0


async def test_a_type_no_contract_names_never_becomes_a_metric_series(intake: IntakeUnderTest) -> None:
    """`lgnet_events_consumed_total` is labelled by event type: a made-up type, skipped unauthenticated (another
    city's, on the old shared topic) or refused to a partner, is counted as `(unregistered)`, so nobody can make a
    new series (Prometheus keeps every one) by writing new strings."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        ours = aurora.envelope(registration("t-3"))
    skipped = ours.model_copy(update={"id": ours.id + "-ts", "city": "trieste", "type": "it.lgnet.x-skipped-made-up"})
    refused = ours.model_copy(update={"id": ours.id + "-t", "type": "it.lgnet.x-refused-made-up"})
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        value, headers = skipped.to_structured()
        headers.append(signing.sign(Ed25519PrivateKey.generate(), "coop-carso-key", value, headers))
        await producer.send_and_wait(physical(OLD_INBOUND, intake.prefix), value, key=skipped.key, headers=headers)
        value, headers = refused.to_structured()
        headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
        await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=refused.key, headers=headers)
    finally:
        await producer.stop()
    for _ in range(60):  # the refusal is answered after the skip was counted (the old topic is read first or not)
        if await intake.raw_records("partner.rejections.coop-aurora", missing_ok=True):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1)
    async with intake.process.client() as c:
        text = (await c.get("/metrics")).text
    assert "made-up" not in text
    counted = re.findall(r'lgnet_events_consumed_total\{([^}]*type="\(unregistered\)"[^}]*)\} ([0-9.e+]+)', text)
    assert sorted(re.search(r'outcome="([^"]+)"', labels)[1] for labels, n in counted if float(n)) == [  # type: ignore[index]
        "other_city",
        "unknown_type",
    ], counted
