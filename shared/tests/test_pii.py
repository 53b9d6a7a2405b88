"""Personal data: sealed per person before Kafka, unreadable everywhere after erasure, log still replayable."""

from __future__ import annotations

import asyncio
import os
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import db, outbox, pii
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.envelope import from_record
from lgnet_shared.events.intake import Identity, PersonRegistered
from lgnet_shared.events.partner import PartnerIdentityV2, PersonRegistrationSubmitted
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.topics import ensure_topics

pytestmark = pytest.mark.integration

PEOPLE = [
    {
        "given_name": "Amina",
        "family_name": "Okonkwo-Zanetti",
        "fiscal_code": "KNKMNA90E41Z335X",
        "phone": "+39 333 1234567",
        "address": "Via delle Acacie 12, Trieste",
    },
    {
        "given_name": "Yusuf",
        "family_name": "Haddad-Bertolini",
        "fiscal_code": "HDDYSF85C12Z330K",
        "phone": "+39 347 7654321",
        "address": "Corso Regina 8, Torino",
    },
]


async def register(conn: Any, keys: pii.KeyStore, i: int, person: dict[str, str]) -> PersonRegistered:
    pid = f"person-{i}"
    identity = Identity(**await keys.seal_all(conn, pid, person))
    return PersonRegistered(
        person_id=pid,
        registered_by="coop-a",
        birth_date=date(1990, 1, 1),
        sex="female",
        nationality="NG",
        third_country=True,
        identity=identity,
    )


async def all_records(bootstrap: str, prefix: str) -> list[Any]:
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
    await admin.close()
    consumer = AIOKafkaConsumer(*topics, **client_kwargs(bootstrap), auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000):
            records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return records


async def test_no_plaintext_identifier_on_any_topic_and_erasure_shreds(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, topic_prefix)
    pool = await db.create_pool(database_url, pg_schema)
    keys = pii.KeyStore(os.urandom(32))
    await db.migrate(pool, [*outbox.MIGRATIONS, pii.MIGRATION])
    relay = outbox.OutboxRelay(pool, kafka_bootstrap, topic_prefix=topic_prefix)
    await relay.start()
    intake_private, intake_public = pii.hpke_keypair()
    try:
        async with pool.acquire() as conn, conn.transaction():
            events = [await register(conn, keys, i, p) for i, p in enumerate(PEOPLE)]
            await outbox.append(conn, [to_envelope(e, source="/lgnet/intake", city="trieste") for e in events])
        # A partner sends an identifying field too: sealed to intake's public key by the SDK.
        async with PartnerClient(
            kafka_bootstrap,
            partner="coop-a",
            city="trieste",
            topic_prefix=topic_prefix,
            signing_key=Ed25519PrivateKey.generate(),
            signing_key_id="coop-a-key",
            intake_public_key=intake_public,
            intake_key_id="2026-01",
        ) as client:
            sealed_name = client.seal("given_name", PEOPLE[0]["given_name"])
            await client.emit(
                PersonRegistrationSubmitted(
                    person_id="partner-ref-1",
                    sex="female",
                    nationality="NG",
                    identity=PartnerIdentityV2(
                        given_name=sealed_name, birth_date=client.seal_birth_date(date(1990, 1, 1))
                    ),
                )
            )
        for _ in range(100):
            if relay.published >= len(PEOPLE):
                break
            await asyncio.sleep(0.1)
        records = await all_records(kafka_bootstrap, topic_prefix)
        assert len(records) == len(PEOPLE) + 1
        blob = b"\n".join((r.value or b"") + b"".join(v for _, v in r.headers or ()) for r in records)
        for person in PEOPLE:
            for field, value in person.items():
                for form in {value, value.upper(), value.lower(), value.replace(" ", "")}:
                    assert form.encode() not in blob, f"plaintext {field} found on Kafka"
        assert pii.open_from(intake_private, sealed_name, "given_name") == "Amina"

        # Erase person-0: the same records still decode (replayable), the fields no longer open.
        async with pool.acquire() as conn:
            assert await keys.erase(conn, "person-0") is True
            assert await keys.erase(conn, "person-0") is False  # idempotent
            replayed = [
                decode(from_record(r.value, r.headers, r.key)) for r in records if r.topic.endswith("intake.events")
            ]
            assert {e.person_id for e in replayed} == {"person-0", "person-1"}  # type: ignore[attr-defined]
            for e in replayed:
                opened = await keys.open(conn, e.identity.family_name, "family_name")  # type: ignore[attr-defined]
                expected = None if e.person_id == "person-0" else PEOPLE[1]["family_name"]  # type: ignore[attr-defined]
                assert opened == expected
            with pytest.raises(PermissionError):
                await keys.seal_all(conn, "person-0", {"phone": "+39 000"})
    finally:
        await relay.stop()
        await pool.close()


def test_sealed_value_is_bound_to_its_person_and_field() -> None:
    key = os.urandom(32)
    sealed = pii.seal_with(key, "person-1", "phone", "+39 333 1234567")
    assert pii.open_with(key, sealed, "phone") == "+39 333 1234567"
    with pytest.raises(ValueError, match="address"):
        pii.open_with(key, sealed, "address")
    with pytest.raises(ValueError, match="phone"):
        pii.open_with(key, sealed.model_copy(update={"kid": "person-2"}), "phone")
    assert pii.keyed_hash(b"s", "knkmna90e41z335x ") == pii.keyed_hash(b"s", "KNKMNA90E41Z335X")


def test_a_whole_identity_is_sealed_once_and_opens_as_one_json_object() -> None:
    """Registration v3: `seal_identity` seals every identifying field in one HPKE message, bound to the member name
    `all` (opened as another field, it fails); a field that is not identifying is refused before anything is sent."""
    import json

    from cryptography.exceptions import InvalidTag

    private, public = pii.hpke_keypair()
    client = PartnerClient(
        "127.0.0.1:1", partner="coop-aurora", city="torino", intake_public_key=public, intake_key_id="k"
    )
    identity = client.seal_identity(date(1991, 4, 2), given_name="Amina", family_name="Okafor", phone=None)
    assert identity.all is not None and identity.all.kid == "hpke:k"
    assert [field for field, value in identity if value is not None] == ["all"]
    assert json.loads(pii.open_from(private, identity.all, "all")) == {
        "given_name": "Amina",
        "family_name": "Okafor",
        "birth_date": "1991-04-02",
    }
    with pytest.raises((ValueError, InvalidTag)):
        pii.open_from(private, identity.all, "given_name")
    with pytest.raises(ValueError, match="not identifying fields: nickname"):
        client.seal_identity(date(1991, 4, 2), nickname="Mimi")
    # A day as ISO text is taken as that day; anything else is refused naming birth_date (a partner's "1990-01-01"
    # raised AttributeError: 'str' object has no attribute 'isoformat', naming nothing).
    text = client.seal_identity("1991-04-02", given_name="Amina")
    assert json.loads(pii.open_from(private, text.all, "all"))["birth_date"] == "1991-04-02"  # type: ignore[arg-type]
    for wrong in ("02/04/1991", 19910402, None):
        with pytest.raises(ValueError, match=r"^birth_date: "):
            client.seal_identity(wrong, given_name="Amina")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^birth_date: "):
            client.seal_birth_date(wrong)  # type: ignore[arg-type]


def test_an_identifying_value_sent_in_clear_is_refused_saying_it_must_be_sealed() -> None:
    """From an outside partner: `identity.given_name: "Fatou"` (in clear, beside a sealed `all`) was refused "Input
    should be an object" — true, and no help. The reason says what to do."""
    from lgnet_shared.errors import from_pydantic
    from lgnet_shared.events.partner import PersonRegistrationSubmitted
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        PersonRegistrationSubmitted.model_validate(
            {"person_id": "p-1", "sex": "female", "nationality": "SN", "identity": {"given_name": "Fatou"}}
        )
    errors = {e["field"]: e["reason"] for e in from_pydantic(refused.value).each()}
    assert errors["identity.given_name"].startswith("must be sealed (encrypted to intake's key"), errors
