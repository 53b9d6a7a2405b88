"""Producer signatures (#16): every fact a service's relay publishes is signed by its deployment; a consumer applies
only facts signed by a registered key of a service that may write the topic. Forged, unsigned, tampered or
misattributed facts are dead-lettered with the reason and counted in /metrics. Real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.util
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from lgnet_shared import config, outbox
from lgnet_shared import kafka_acls as ka
from lgnet_shared.codec import to_envelope
from lgnet_shared.deadletter import H_FIELD, H_KIND, H_MESSAGE, H_OFFSET
from lgnet_shared.envelope import Envelope, from_record
from lgnet_shared.errors import Unauthenticated
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fact_signing import (
    FactSignatureError,
    FactSigner,
    KeyRegistry,
    SigningKey,
    check_claims,
    check_fact,
    key_id_for,
    publish_key,
    read_registry,
    registry_contents,
    registry_topic,
)
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.service import Runtime, ServiceSpec
from lgnet_shared.signing import verifying_key
from lgnet_shared.testing.kafka_access import as_user
from lgnet_shared.testing.plugin import fresh_schema
from lgnet_shared.testing.topics import delete_topic, read_records
from lgnet_shared.topics import physical
from prometheus_client import REGISTRY


def _probe() -> ServiceSpec:
    spec = importlib.util.spec_from_file_location("probe_service", Path(__file__).with_name("probe_service.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    probe: ServiceSpec = module.SPEC
    return probe


# The probe consumer (applies employment_recorded from intake.events) run as a housing deployment's consumer.
CONSUMER = dataclasses.replace(_probe(), name="housing")
INTAKE = ServiceSpec(name="intake", default_port=8001)


def employment(person_id: str, city: str = "trieste") -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/intake", city=city)


def signer(service: str = "intake", deployment: str = "trieste", city: str = "trieste") -> FactSigner:
    return FactSigner(os.urandom(32), deployment, service, city)


def lookup(*keys: SigningKey) -> Any:
    return {k.key_id: k for k in keys}.get


def verifier(key: SigningKey) -> Any:
    return verifying_key(key.raw)


def signed(s: FactSigner, env: Envelope) -> tuple[bytes, list[tuple[str, bytes]]]:
    value, headers = env.to_structured()
    value, signature = s.sign(value, headers)
    return value, [*headers, signature]


# --- the rules, without Kafka -------------------------------------------------------------------------------------


def test_a_signed_fact_names_its_key_inside_the_envelope_and_verifies() -> None:
    s = signer()
    value, headers = signed(s, employment("p1"))
    key = check_fact(s.key, verifier, "intake.events", value, headers)
    env = from_record(value, headers)
    assert env.signingkey == key.key_id == s.key.key_id
    assert key.key_id.startswith("trieste.intake.")
    check_claims(key, env)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unsigned", "missing"),
        ("tampered", "invalid"),
        ("cut_v2_header", "invalid"),
        ("malformed_v1_header", "invalid"),
        ("unregistered", "unknown_key"),
        ("wrong_writer", "not_a_writer"),
    ],
)
def test_facts_not_provably_from_a_writer_of_the_topic_are_refused_naming_the_reason(case: str, code: str) -> None:
    s = signer("payments" if case == "wrong_writer" else "intake")
    value, headers = signed(s, employment("p1"))
    key: SigningKey | None = s.key
    if case == "unsigned":
        value, headers = employment("p1").to_structured()
    elif case == "tampered":
        value = value.replace(b'"training"', b'"employed"')
    elif case == "unregistered":
        key = None
    elif case.endswith("_header"):  # a header no key id can be read from: malformed, not missing
        bad = b"\x02\xff" if case == "cut_v2_header" else b"ed25519;bogus"
        headers = [(k, bad if k == "lgnet-signature" else v) for k, v in headers]
        key = None
    with pytest.raises(FactSignatureError) as caught:
        check_fact(key, verifier, "intake.events", value, headers)
    assert caught.value.code == code
    if case.endswith("_header"):
        assert "does not verify" in caught.value.reason and "malformed" in caught.value.reason, caught.value.reason
    assert caught.value.field == "headers.lgnet-signature"
    assert isinstance(caught.value, Unauthenticated)


def test_a_city_deployment_cannot_sign_another_citys_facts() -> None:
    s = signer(city="torino", deployment="torino")
    value, headers = signed(s, employment("p1", city="trieste"))
    key = check_fact(s.key, verifier, "intake.events", value, headers)
    with pytest.raises(FactSignatureError, match="city of the signing deployment") as caught:
        check_claims(key, from_record(value, headers))
    assert caught.value.code == "claims"


def test_a_keys_city_is_the_city_of_its_deployments_name_not_the_one_it_declares() -> None:
    """A Genova deployment that declares its key `national` (or Trieste's) still signs Genova's facts only; a national
    deployment's key (`national`, `national-<suffix>`) signs any city's."""
    for declared in ("national", "trieste"):
        forged = signer(city=declared, deployment="genova-4f3a9c21")
        value, headers = signed(forged, employment("p1", city="trieste"))
        with pytest.raises(FactSignatureError, match="city of the signing deployment") as caught:
            check_claims(forged.key, from_record(value, headers))
        assert caught.value.code == "claims"
    for deployment in ("national", "national-2"):
        national = signer(city="national", deployment=deployment)
        value, headers = signed(national, employment("p1", city="trieste"))
        check_claims(national.key, from_record(value, headers))


def test_each_fact_topic_carries_its_writers_types_only_as_the_catalogue_and_the_topic_registry_say() -> None:
    """The rule is read off the catalogue (each model's topic) and the topic registry (its writers), never listed
    twice: every type's topics are written by the service the type names (partners' types: by partners), an old
    version's topic stays allowed, and a type the catalogue does not know belongs on its own service's topic only."""
    from lgnet_shared.events import REGISTRY, carried_on
    from lgnet_shared.fact_signing import check_topic
    from lgnet_shared.topics import TOPICS, family_of

    for (event_type, _), registered in REGISTRY.items():
        for topic in carried_on(event_type):
            writers = (TOPICS[topic] if topic in TOPICS else family_of(topic.replace("{city}", "torino"))[0]).writers
            assert registered.service in writers, (event_type, topic)
    assert carried_on("lgnet.intake.needs_assessed") == {"intake.events", "intake.special"}
    assert carried_on("lgnet.payments.contribution_paid") == {"payments.events"}
    assert carried_on("lgnet.payments.not_yet_known") == {"payments.events"}
    assert carried_on("not-an-lgnet-type") == frozenset()
    check_topic("lgnet.intake.needs_assessed", "intake.events")  # v1, before intake.special existed
    for event_type, topic in [
        ("lgnet.payments.contribution_paid", "housing.events"),
        ("lgnet.intake.person_registered", "housing.events"),
        ("lgnet.intake.employment_recorded", "reporting.events"),
        ("lgnet.payments.not_yet_known", "housing.events"),
    ]:
        with pytest.raises(FactSignatureError, match=f"does not belong on {topic}") as caught:
            check_topic(event_type, topic)
        assert (caught.value.code, caught.value.field) == ("wrong_topic", "type")


def test_a_registry_record_whose_id_does_not_match_its_key_is_refused() -> None:
    s, other = signer(), signer()
    forged = dataclasses.replace(s.key, public_key=other.key.public_key)
    with pytest.raises(ValueError, match="does not match"):
        SigningKey.from_json(forged.to_json())
    assert key_id_for("trieste", "intake", other.key.raw) == other.key.key_id


# --- against real Kafka -------------------------------------------------------------------------------------------


def settings(
    bootstrap: str, database_url: str, schema: str, prefix: str, signatures: Literal["required", "off"] = "required"
) -> config.Settings:
    return config.Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        city="trieste",
        master_key=base64.b64encode(os.urandom(32)).decode(),
        db_schema=schema,
        topic_prefix=prefix,
        fact_signatures=signatures,
    )


async def wait_until(predicate: Any, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.3)
    raise AssertionError("condition not reached in time")


def refused(consumer: str, reason: str) -> float:
    return REGISTRY.get_sample_value("lgnet_facts_refused_total", {"consumer": consumer, "reason": reason}) or 0.0


@pytest.mark.integration
async def test_consumers_apply_only_facts_signed_by_a_registered_writer_and_dead_letter_forgeries(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    topic = physical("intake.events", topic_prefix)
    group = f"{topic_prefix}trieste.housing.probe"
    before = {r: refused(group, r) for r in ("missing", "unknown_key", "invalid", "not_a_writer")}
    async with fresh_schema(database_url) as intake_schema:
        intake = Runtime(INTAKE, settings(kafka_bootstrap, database_url, intake_schema, topic_prefix))
        housing = Runtime(CONSUMER, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
        await intake.start()
        await housing.start()
        try:
            # The real producer: intake stages a fact in its outbox; its relay signs and publishes it.
            async with intake.pool.acquire() as conn:
                await outbox.append(conn, [employment("genuine")])
            genuine = (await wait_records(kafka_bootstrap, topic, 1))[0]

            # A payments deployment's key, registered (it may write payments.events, not intake.events).
            payments = signer("payments")
            producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
            await producer.start()
            try:
                await publish_key(producer, payments.key, topic_prefix)
                tampered = genuine.value.replace(b'"genuine"', b'"tampered"')
                forgeries = [
                    employment("unsigned").to_structured(),  # missing
                    signed(signer(), employment("foreign")),  # a key nobody registered
                    (tampered, list(genuine.headers)),  # intake's signature over other bytes
                    signed(payments, employment("wrong-writer")),  # registered, but not a writer of the topic
                    # a cut version 2 header and a malformed version 1 one: "does not verify", not "missing"
                    (genuine.value, [*employment("cut").to_structured()[1], ("lgnet-signature", b"\x02\xff")]),
                    (genuine.value, [*employment("bogus").to_structured()[1], ("lgnet-signature", b"ed25519;bogus")]),
                ]
                for value, headers in forgeries:
                    await producer.send_and_wait(topic, value, key=genuine.key, headers=headers)
                async with intake.pool.acquire() as conn:  # and the producer carries on
                    await outbox.append(conn, [employment("genuine-2")])
            finally:
                await producer.stop()

            conn2 = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
            try:

                async def applied() -> bool:
                    return bool(await conn2.fetchval("select count(*) from applied") == 2)

                try:
                    await wait_until(applied)
                except AssertionError:
                    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix), missing_ok=True)
                    rows = await conn2.fetch("select person_id from applied")
                    raise AssertionError(f"applied {rows}; dead letters {[dict(d.headers) for d in dead]}") from None
                assert sorted(await conn2.fetchval("select array_agg(person_id) from applied")) == [
                    "genuine",
                    "genuine-2",
                ]
            finally:
                await conn2.close()

            dead = await wait_records(kafka_bootstrap, physical("deadletter", topic_prefix), 6)
            got = {int(h(d, H_OFFSET)): (h(d, H_KIND), h(d, H_FIELD), h(d, H_MESSAGE)) for d in dead}
            assert {kind for kind, _, _ in got.values()} == {"fact_signature"}
            assert {field for _, field, _ in got.values()} == {"headers.lgnet-signature"}
            messages = [m for _, _, m in (got[o] for o in sorted(got))]
            assert "missing" in messages[0]
            assert "not registered" in messages[1]
            assert "does not verify" in messages[2]
            assert "may not write intake.events" in messages[3]
            assert all("does not verify" in m and "malformed" in m for m in messages[4:]), messages
            for reason in before:
                assert refused(group, reason) == before[reason] + (3 if reason == "invalid" else 1), reason

            keys = {k.key_id: k for k in await read_registry(kafka_bootstrap, topic_prefix)}
            assert intake.signer is not None and intake.signer.key.key_id in keys
            assert keys[intake.signer.key.key_id].service == "intake"
        finally:
            await housing.stop()
            await intake.stop()


@pytest.mark.integration
async def test_a_city_cannot_register_its_key_as_national_or_another_citys(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """The outside tester's attack: as Genova's intake (its own principal, provisioned as `lgnet-kafka-admin
    add-deployment --city genova --service intake` does), register on Genova's own registry a key declaring
    `national` and one declaring Trieste, sign Trieste facts with each and publish them: a Trieste consumer refuses
    both (their keys are not registered: a key's city is its deployment's name's), dead-letters them with the reason
    and counts them; a key of a correctly named Trieste deployment still works."""
    uid = uuid.uuid4().hex[:8]
    admin_security = KafkaSecurity.from_env()
    parties: dict[str, tuple[str, KafkaSecurity]] = {}
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        for city in ("genova", "trieste"):
            principal = ka.Principal.service(f"{city}-{uid}", "intake")
            password, _ = await admin.provision(principal)
            assert password is not None
            parties[city] = (f"{city}-{uid}", as_user(admin_security, principal.name, password))
    topic = physical("intake.events", topic_prefix)
    group = f"{topic_prefix}trieste.housing.probe"
    before = refused(group, "unknown_key")
    genova, genova_security = parties["genova"]
    trieste, trieste_security = parties["trieste"]
    as_national = FactSigner(os.urandom(32), genova, "intake", "national")
    as_trieste = FactSigner(os.urandom(32), genova, "intake", "trieste")
    genuine = FactSigner(os.urandom(32), trieste, "intake", "trieste")
    housing = Runtime(CONSUMER, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await housing.start()
    try:
        for security, signers, facts in (
            (genova_security, (as_national, as_trieste), ("forged-national", "forged-trieste")),
            (trieste_security, (genuine,), ("genuine",)),
        ):
            producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap, security))
            await producer.start()
            try:
                for s, person in zip(signers, facts, strict=True):
                    await publish_key(producer, s.key, topic_prefix, security)  # its own registry: the broker lets it
                    value, headers = signed(s, employment(person))
                    await producer.send_and_wait(topic, value, key=person.encode(), headers=headers)
            finally:
                await producer.stop()

        conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
        try:

            async def applied() -> bool:
                return bool(await conn.fetchval("select count(*) from applied") >= 1)

            await wait_until(applied)
            dead = await wait_records(kafka_bootstrap, physical("deadletter", topic_prefix), 2)
            assert await conn.fetchval("select array_agg(person_id) from applied") == ["genuine"]
        finally:
            await conn.close()
        messages = sorted(h(d, H_MESSAGE) for d in dead)
        assert {h(d, H_KIND) for d in dead} == {"fact_signature"}
        assert messages == sorted(
            f"headers.lgnet-signature: signed with key {s.key.key_id!r}, which is not registered"
            for s in (as_national, as_trieste)
        )
        assert refused(group, "unknown_key") == before + 2
        keys = {k.key_id for k in await read_registry(kafka_bootstrap, topic_prefix)}
        assert genuine.key.key_id in keys and not keys & {as_national.key.key_id, as_trieste.key.key_id}
    finally:
        await housing.stop()


@pytest.mark.integration
async def test_a_key_the_registry_ignores_is_named_with_its_place_and_reason(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """From an outside auditor: a key the admin wrote to national intake's registry naming torino's payments was
    dropped by `lgnet-audit keys` without a word — evidence of a compromised deployment, or of an operator's mistake.
    The registry still counts none of them; it now names each (topic, offset, reason), for the auditor and in the
    services' logs."""
    genuine = FactSigner(os.urandom(32), "national", "intake", "national")
    other = FactSigner(os.urandom(32), "torino", "payments", "torino").key  # on national intake's topic
    elsewhere = dataclasses.replace(FactSigner(os.urandom(32), "genova", "intake", "genova").key, city="trieste")
    topic = registry_topic("national", "intake", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        await publish_key(producer, genuine.key, topic_prefix)  # offset 0
        for value in (other.to_json(), b"not a key"):  # offsets 1, 2
            await producer.send_and_wait(topic, value, key=b"k")
        await publish_key(producer, elsewhere, topic_prefix)  # genova's own topic, offset 0: declares trieste
    finally:
        await producer.stop()
    keys, ignored = await registry_contents(kafka_bootstrap, topic_prefix)
    assert [k.key_id for k in keys] == [genuine.key.key_id]
    genova = registry_topic("genova", "intake", topic_prefix)
    assert sorted((i.topic, i.offset, i.reason) for i in ignored) == sorted([
        (genova, 0, f"key {elsewhere.key_id} declares city trieste: its deployment genova is genova's"),
        (topic, 1, f"key {other.key_id} of torino.payments on national.intake's registry: a deployment registers"
                   " its own keys only"),
        (topic, 2, "not a signing key (unreadable)"),
    ])  # fmt: skip


@pytest.fixture
async def torino_read(
    kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[tuple[AIOKafkaProducer, KeyRegistry, FactSigner]]:
    """Torino's intake key, published and read by a registry reader whose re-reads are not paced."""
    torino = FactSigner(os.urandom(32), "torino", "intake", "torino")
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    registry = KeyRegistry(kafka_bootstrap, topic_prefix, refresh_s=0)
    try:
        await publish_key(producer, torino.key, topic_prefix)
        await registry.load()
        assert torino.key.key_id in registry.keys
        yield producer, registry, torino
    finally:
        await asyncio.wait_for(registry.close(), 5)  # it raised "Unexpected error during data retrieval" once
        await producer.stop()


@pytest.mark.integration
async def test_the_registry_reader_leaves_the_broker_alone_between_reads(
    kafka_bootstrap: str, topic_prefix: str, torino_read: tuple[AIOKafkaProducer, KeyRegistry, FactSigner]
) -> None:
    """Each service keeps one registry consumer (a re-read is one metadata request and one fetch), and it used to keep
    the registry's partitions assigned: aiokafka fetched them in the background all the while, and once a registry
    topic was gone (a deployment's topics removed, a test's cleaned up) asked the broker for metadata again and again
    without a pause (82,484 requests in 47 s from two such processes). Between reads it now holds nothing, and a later
    read goes on from where the last ended."""
    producer, registry, torino = torino_read
    trieste = FactSigner(os.urandom(32), "trieste", "intake", "trieste")
    consumer = registry._consumer
    assert consumer is not None and consumer.assignment() == set()  # nothing fetched between reads
    updates = 0
    update = consumer._client.force_metadata_update

    def counted() -> Any:
        nonlocal updates
        updates += 1
        return update()

    consumer._client.force_metadata_update = counted
    await delete_topic(kafka_bootstrap, registry_topic("torino", "intake", topic_prefix))
    await asyncio.sleep(2)
    assert updates < 5, f"{updates} metadata requests in 2 s for a registry topic that is gone"
    await publish_key(producer, trieste.key, topic_prefix)  # a deployment that joined since
    assert await registry.lookup(trieste.key.key_id) == trieste.key
    assert torino.key.key_id in registry.keys and consumer.assignment() == set()
    # A key rotated on a topic read before, and Torino's registry made again (its new key at offset 0, where
    # the last read had ended at 1): both found.
    rotated = FactSigner(os.urandom(32), "trieste", "intake", "trieste")
    again = FactSigner(os.urandom(32), "torino", "intake", "torino")
    await publish_key(producer, rotated.key, topic_prefix)
    await publish_key(producer, again.key, topic_prefix)
    assert await registry.lookup(rotated.key.key_id) == rotated.key
    assert await registry.lookup(again.key.key_id) == again.key


@pytest.mark.integration
async def test_a_registry_read_with_nothing_new_leaves_the_reader_able_to_find_a_later_key(
    topic_prefix: str, torino_read: tuple[AIOKafkaProducer, KeyRegistry, FactSigner]
) -> None:
    """A read that found nothing new assigned the registry's partitions and let them go at once: aiokafka's fetch
    routine, woken by the assignment, found no subscription and died, and every later read waited its 10 s out and
    found nothing — a deployment that joined afterwards, or a rotated key, was refused as `unknown_key` by a running
    consumer for good (its facts dead-lettered), and closing the reader raised."""
    producer, registry, _ = torino_read
    for city in ("trieste", "genova"):
        await registry.load()  # nothing new since the last read
        await asyncio.sleep(0.1)
        later = FactSigner(os.urandom(32), city, "intake", city)
        await publish_key(producer, later.key, topic_prefix)
        assert await asyncio.wait_for(registry.lookup(later.key.key_id), 5) == later.key
    # Should aiokafka's fetch routine die of anything else, the next read starts a new consumer.
    assert registry._consumer is not None
    registry._consumer._fetcher._fetch_task.cancel()
    await asyncio.sleep(0.1)
    rotated = FactSigner(os.urandom(32), "torino", "intake", "torino")
    await publish_key(producer, rotated.key, topic_prefix)
    assert await asyncio.wait_for(registry.lookup(rotated.key.key_id), 5) == rotated.key


@pytest.mark.integration
async def test_a_registry_topic_made_again_between_two_reads_is_read_from_its_start(
    kafka_bootstrap: str, topic_prefix: str, torino_read: tuple[AIOKafkaProducer, KeyRegistry, FactSigner]
) -> None:
    """Torino's registry topic deleted and made again (its deployment re-provisioned) with no read in between: its
    new key sits at offset 0, where the last read had ended at 1 — the saved place looked valid, nothing was read,
    and the new key was never found (its facts refused as `unknown_key`). A key still missing after a read from the
    saved places is looked for in a whole re-read (registry topics are a few records each)."""
    producer, registry, _ = torino_read
    await delete_topic(kafka_bootstrap, registry_topic("torino", "intake", topic_prefix))
    again = FactSigner(os.urandom(32), "torino", "intake", "torino")
    for _ in range(20):  # the deletion takes a moment to be final; publish_key makes the topic anew
        try:
            await publish_key(producer, again.key, topic_prefix)
            break
        except KafkaError:  # still being deleted
            await asyncio.sleep(0.5)
    on_topic = [k.key_id for k in await read_registry(kafka_bootstrap, topic_prefix)]  # a fresh reader, from the start
    assert again.key.key_id in on_topic, f"the test's new key is not on the registry topic made again: {on_topic}"
    assert await asyncio.wait_for(registry.lookup(again.key.key_id), 10) == again.key


def h(record: Any, name: str) -> str:
    value: bytes = dict(record.headers)[name]
    return value.decode()


async def wait_records(bootstrap: str, topic: str, want: int, timeout: float = 60) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = await read_records(bootstrap, topic, quiet_ms=500, missing_ok=True)
        if len(records) >= want or asyncio.get_running_loop().time() > deadline:
            assert len(records) >= want, f"{topic}: {len(records)} records, wanted {want}"
            return records
        await asyncio.sleep(0.5)


def test_registry_records_are_json_with_the_public_key() -> None:
    s = signer()
    doc = json.loads(s.key.to_json())
    assert doc["key_id"] == s.key.key_id and base64.b64decode(doc["public_key"]) == s.key.raw


def _reading_housing_too() -> ServiceSpec:
    """The probe consumer reading intake.events and housing.events, as reporting's consumer reads every fact topic."""
    spec = importlib.util.spec_from_file_location("probe_service_2", Path(__file__).with_name("probe_service.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from lgnet_shared.consumer import handlers_of
    from lgnet_shared.service import ConsumerSpec

    handlers = handlers_of((EmploymentRecorded, module.apply))
    service: ServiceSpec = dataclasses.replace(
        module.SPEC,
        name="reporting",
        consumers=lambda _: [ConsumerSpec("probe", ["intake.events", "housing.events"], handlers)],
    )
    return service


@pytest.mark.integration
@pytest.mark.parametrize("signatures", ["required", "off"])
async def test_a_fact_of_another_services_type_on_a_topic_is_dead_lettered_naming_the_type(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, signatures: Literal["required", "off"]
) -> None:
    """Torino's (here Trieste's) housing deployment may write housing.events and its key signs housing facts. It
    publishes an intake fact (`employment_recorded`, as it could `person_registered` or a payments
    `contribution_paid`) on housing.events, correctly signed with its own key: the consumer reading both topics
    applied it as intake's. A type that does not belong on the topic it is found on is dead-lettered, naming the
    `type` field and the topic, and counted with the other signature refusals — also by a deployment that checks no
    signatures (`LGNET_FACT_SIGNATURES=off`, reading a log of before them), which applied it: which types a topic
    carries is the catalogue's rule, not the signatures'."""
    topic = physical("housing.events", topic_prefix)
    group = f"{topic_prefix}trieste.reporting.probe"
    before = refused(group, "wrong_topic")
    async with fresh_schema(database_url) as intake_schema:
        intake = Runtime(INTAKE, settings(kafka_bootstrap, database_url, intake_schema, topic_prefix, signatures))
        reader = Runtime(
            _reading_housing_too(), settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, signatures)
        )
        await intake.start()
        await reader.start()
        try:
            housing = signer("housing")
            producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
            await producer.start()
            try:
                await publish_key(producer, housing.key, topic_prefix)
                value, headers = signed(housing, employment("forged-by-housing"))
                await producer.send_and_wait(topic, value, key=b"forged-by-housing", headers=headers)
            finally:
                await producer.stop()
            async with intake.pool.acquire() as conn:
                await outbox.append(conn, [employment("genuine")])
            conn2 = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
            try:

                async def genuine_applied() -> bool:
                    return bool(await conn2.fetchval("select count(*) from applied where person_id = 'genuine'"))

                await wait_until(genuine_applied)
                await asyncio.sleep(1)  # the forgery, sent first, has had its turn
                assert await conn2.fetchval("select array_agg(person_id order by seq) from applied") == ["genuine"]
                dead = await wait_records(kafka_bootstrap, physical("deadletter", topic_prefix), 1, timeout=20)
            finally:
                await conn2.close()
            (letter,) = dead
            assert (h(letter, H_KIND), h(letter, H_FIELD)) == ("fact_signature", "type")
            assert h(letter, H_MESSAGE) == (
                "type: 'lgnet.intake.employment_recorded' does not belong on housing.events: it is carried by"
                " intake.events"
            )
            assert refused(group, "wrong_topic") == before + 1
        finally:
            await reader.stop()
            await intake.stop()
