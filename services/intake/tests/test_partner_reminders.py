"""Partners' reminders on the real secured broker (issue #19): an appointment of tomorrow with the person of a
partner's case reaches that partner on its own topic `lgnet.partner.reminders.<partner>` (ids and codes only,
signed by intake), read with the SDK under the partner's own SCRAM principal; another partner can read neither
that topic nor anything but its own reminders. The SDK yields only reminders their own service signed, with keys
it reads from the cluster's registries under the partner's principal (issue #16): forged ones are dropped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Role
from lgnet_shared import clock, signing
from lgnet_shared import kafka_acls as ka
from lgnet_shared.codec import decode
from lgnet_shared.envelope import from_record
from lgnet_shared.events.outreach import PartnerAppointmentReminder
from lgnet_shared.fact_signing import parse_signature, publish_key, registry_topic
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.testing.forged_answers import answer, signer, tampered
from lgnet_shared.testing.kafka_access import as_user, try_consume, try_produce
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import for_partner, physical

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


@dataclass
class Partner:
    id: str
    principal: ka.Principal
    security: KafkaSecurity


@pytest.fixture
async def partners(intake: IntakeUnderTest) -> AsyncIterator[list[Partner]]:
    """Two partners of Torino, each an intake actor and a Kafka principal provisioned as lgnet-kafka-admin does
    (its own topics created, its ACLs derived); names unique to the test, since principals are cluster-wide."""
    admin = KafkaSecurity.from_env()
    assert admin.security_protocol == "SASL_SSL", "needs the secured broker (make infra, .local/infra.env)"
    uid = uuid.uuid4().hex[:8]
    out = []
    async with intake.pool.acquire() as conn:
        for name in ("a", "b"):
            await credentials.add_actor(conn, f"coop-rem-{name}-{uid}", Role.PARTNER, "torino", f"Coop {name}")
    async with Admin(intake.bootstrap, admin, intake.prefix) as provisioning:
        for name in ("a", "b"):
            principal = ka.Principal.partner_(f"coop-rem-{name}-{uid}", city="torino")
            password, _ = await provisioning.provision(principal)
            assert password is not None
            out.append(Partner(principal.partner or "", principal, as_user(admin, principal.name, password)))
    try:
        yield out
    finally:
        async with Admin(intake.bootstrap, admin, intake.prefix) as provisioning:
            for p in out:
                await ka.delete_credentials(provisioning.client, p.principal.name)
                await ka.delete_acls(provisioning.client, p.principal.user)


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any], want: int = 201) -> dict[str, Any]:
    r = await c.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == want, r.text
    return r.json()  # type: ignore[no-any-return]


async def case_with_appointment(staff: httpx.AsyncClient, partner: str, starts: datetime) -> dict[str, str]:
    """A person, their household and an open case assigned to `partner`, and an appointment tomorrow."""
    n = uuid.uuid4().hex[:6]
    person, household, case, appointment = f"p-{n}", f"h-{n}", f"c-{n}", f"a-{n}"
    await post(
        staff, "/persons", {"person_id": person, "birth_date": "1979-06-01", "sex": "female", "nationality": "ER"}
    )
    await post(staff, "/households", {"household_id": household, "reference_person_id": person, "member_ids": [person]})
    opened = {"case_id": case, "household_id": household, "action_area": "taking_charge", "channel": "desk",
              "opened_on": str(clock.today()), "housing_need": False, "partner": partner}  # fmt: skip
    await post(staff, "/cases", opened)
    booked = {"appointment_id": appointment, "agenda": "desk", "operator": "op-giulia", "person_id": person,
              "purpose": "documents", "starts_at": starts.isoformat(),
              "ends_at": (starts + timedelta(minutes=30)).isoformat()}  # fmt: skip
    await post(staff, "/appointments", booked)
    return {"person": person, "case": case, "appointment": appointment}


def reader(intake: IntakeUnderTest, partner: Partner) -> PartnerClient:
    return PartnerClient(
        intake.bootstrap, partner=partner.id, city="torino", topic_prefix=intake.prefix, security=partner.security
    )


async def reminders_of(intake: IntakeUnderTest, partner: Partner) -> list[Any]:
    return [r async for r in reader(intake, partner).reminders(timeout=8)]  # a busy machine's relay: 8 s


async def test_a_partner_receives_its_own_reminders_and_cannot_read_another_partners(
    intake: IntakeUnderTest, partners: list[Partner]
) -> None:
    a, b = partners
    tomorrow = datetime.combine(clock.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    async with intake.client("staff-torino") as staff:
        of_a = await case_with_appointment(staff, a.id, tomorrow)
        of_b = await case_with_appointment(staff, b.id, tomorrow + timedelta(hours=1))
        sent = await post(staff, "/appointments/reminders", {"day": str(clock.today())}, want=200)
        assert {of_a["appointment"], of_b["appointment"]} <= set(sent["emitted"])
        await post(staff, "/appointments/reminders", {"day": str(clock.today())}, want=200)  # again: nothing new

    (got,) = await reminders_of(intake, a)
    assert isinstance(got, PartnerAppointmentReminder)
    assert (got.partner, got.appointment_id, got.case_id, got.person_id) == (
        a.id,
        of_a["appointment"],
        of_a["case"],
        of_a["person"],
    )
    assert got.starts_at == tomorrow and got.due_on == clock.today() and got.purpose == "documents"
    assert [r.appointment_id for r in await reminders_of(intake, b)] == [of_b["appointment"]]

    topic_a = physical(for_partner("partner.reminders.{partner}", a.id), intake.prefix)
    topic_b = physical(for_partner("partner.reminders.{partner}", b.id), intake.prefix)
    assert await try_consume(intake.bootstrap, a.security, topic_a) is True
    assert await try_consume(intake.bootstrap, b.security, topic_a) is False  # the broker refuses: not its own
    assert await try_consume(intake.bootstrap, a.security, topic_b) is False
    (record,) = await read_records(intake.bootstrap, topic_a)  # as the cluster's admin
    headers = dict(record.headers)
    # Signed by intake's deployment key, like every record (the header's version 2: binary).
    signature = parse_signature([(signing.HEADER, headers[signing.HEADER])])
    assert signature is not None and ".intake." in signature.key_id
    assert set(PartnerAppointmentReminder.model_fields) >= {"partner", "case_id"}
    assert b"given_name" not in record.value and b"family_name" not in record.value  # ids and codes only


async def test_a_partner_is_given_only_reminders_their_own_service_signed(
    intake: IntakeUnderTest, partners: list[Partner]
) -> None:
    """Forged next to the genuine reminder, as a broker's administrator or a compromised deployment of the city could
    write them: unsigned, signed by a key no deployment registered, changed after intake signed it, and signed by
    Torino's housing (which may write the topic, with a key registered in its own registry) posing as intake."""
    a, _ = partners
    tomorrow = datetime.combine(clock.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    async with intake.client("staff-torino") as staff:
        booked = await case_with_appointment(staff, a.id, tomorrow)
        await post(staff, "/appointments/reminders", {"day": str(clock.today())}, want=200)
    topic = physical(for_partner("partner.reminders.{partner}", a.id), intake.prefix)
    (genuine,) = await read_records(intake.bootstrap, topic)

    housing, stranger = signer("torino", "housing"), signer("torino", "intake")  # the stranger registered nowhere
    forged_event = decode(from_record(genuine.value, genuine.headers)).model_copy(update={"appointment_id": "a-forged"})
    changed = tampered((genuine.value, list(genuine.headers)), booked["appointment"].encode(), b"a-forged")
    forged = [answer(forged_event, by, source="/intake") for by in (None, stranger)]
    forged += [changed, answer(forged_event, housing, source="/intake")]
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap), acks="all")  # the cluster's admin
    await producer.start()
    try:
        await publish_key(producer, housing.key, intake.prefix)  # in Torino housing's own registry
        for value, headers in forged:
            await producer.send_and_wait(topic, value, key=a.id.encode(), headers=headers)
    finally:
        await producer.stop()

    client = reader(intake, a)
    got = [r async for r in client.reminders(timeout=8)]
    assert [(type(r), getattr(r, "appointment_id", None)) for r in got] == [
        (PartnerAppointmentReminder, booked["appointment"])
    ]
    assert dict(client.refused_answers) == {"missing": 1, "unknown_key": 1, "invalid": 1, "not_a_writer": 1}
    # The partner reads every deployment's public keys, and can register none.
    signature = parse_signature(genuine.headers)
    assert signature is not None
    registry = registry_topic(signature.key_id.split(".")[0], "intake", intake.prefix)
    assert await try_consume(intake.bootstrap, a.security, registry) is True
    assert await try_produce(intake.bootstrap, a.security, registry) is False
