"""A city's gatekeeper judges its own city's partners' records only. Another city's partner's record (signed with a
key only that city's intake knows) is not ours to judge: it is skipped before it is authenticated and counted as
skipped — never dead-lettered (a dead letter is kept forever, alerts, and would copy the record's data into
`lgnet.deadletter`). Every record claiming our own city is still authenticated. Real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import signing
from lgnet_shared.actors import Role
from lgnet_shared.events import partner as inbound
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import partner_inbound

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


@pytest.fixture
def intake_env() -> dict[str, str]:
    return {"LGNET_CITY": "torino"}  # Torino's own intake, not a national one


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


async def test_another_citys_partners_record_is_skipped_unjudged_and_our_own_still_authenticated(
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
            # On the topic a Torino gatekeeper reads (another city's partner cannot write it: the broker's ACLs; a
            # deployment draining the old shared topic reads every city's records there)
            await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
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
