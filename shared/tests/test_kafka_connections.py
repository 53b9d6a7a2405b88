"""What a client's connections to the secured broker cost, and how few it opens (lgnet_shared.kafka_connections).

A connection to the broker is a TLS handshake and a SCRAM-SHA-512 exchange: ≈ 15 ms of the client's CPU (6.4 of
them deriving the salted password, PBKDF2 with 4,096 iterations) and ≈ 13 ms of the broker's
(bench/bench_connections.py). aiokafka threw away the connection it bootstrapped over and opened another one to the
same broker, and derived the same salted password again for every connection: a service's start opened 14 to 17
connections. Against the suite's real, secured broker."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import AIOKafkaConnection
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import BrokerMetadata
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_connections import advertised_node
from lgnet_shared.topics import ensure_topics, physical
from pydantic import SecretStr

pytestmark = pytest.mark.integration


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection any client of this process opens (host, port), from now on."""
    hosts: list[tuple[str, int]] = []
    connect = AIOKafkaConnection.connect

    async def recording(conn: AIOKafkaConnection) -> Any:
        hosts.append((conn.host, conn.port))
        return await connect(conn)

    monkeypatch.setattr(AIOKafkaConnection, "connect", recording)
    return hosts


async def test_a_client_goes_on_over_the_connection_it_bootstrapped_with(
    kafka_bootstrap: str, new_topic: Callable[..., Any], opened: list[tuple[str, int]]
) -> None:
    topic = await new_topic("one-connection")
    opened.clear()  # the topic's creation is not the producer's
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"a fact", key=b"k")
        await producer.send_and_wait(topic, b"another", key=b"k")
    finally:
        await producer.stop()
    assert len(opened) == 1, f"a producer on a one-broker cluster opened {len(opened)} connections: {opened}"

    consumer = AIOKafkaConsumer(topic, **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    assert [r.value for records in batch.values() for r in records] == [b"a fact", b"another"]
    assert len(opened) == 2, f"a consumer without a group opened {len(opened) - 1} connections"


PARTNER_ALONE = """
import asyncio, sys
from aiokafka.conn import AIOKafkaConnection
from lgnet_shared.sdk import PartnerClient

opened = []
connect = AIOKafkaConnection.connect


async def counting(conn):
    opened.append(conn.port)
    return await connect(conn)


AIOKafkaConnection.connect = counting


async def main():
    async with PartnerClient(sys.argv[1], partner="coop-aurora", city="torino") as client:
        await client._producer.client.force_metadata_update()
    print(len(opened))


asyncio.run(main())
"""


def test_the_partner_sdk_alone_gets_the_same(kafka_bootstrap: str) -> None:
    """A partner's process uses the SDK and nothing else of LgNet: its client too reuses its bootstrap connection."""
    done = subprocess.run(
        [sys.executable, "-c", PARTNER_ALONE, kafka_bootstrap], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1", f"the SDK's producer opened {done.stdout.split()[-1]} connections"


def test_a_bootstrap_address_the_broker_does_not_advertise_is_not_taken_for_the_broker() -> None:
    """Bootstrapped through a name the brokers do not advertise (a load balancer's, say): that connection is
    closed and the broker's own address used, as aiokafka always did."""
    brokers = [BrokerMetadata(1, "kafka-1.city.example", 9093, None), BrokerMetadata(2, "10.0.0.2", 9093, None)]
    assert advertised_node(brokers, "kafka-1.city.example", 9093) == 1
    assert advertised_node(brokers, "10.0.0.2", 9093) == 2
    assert advertised_node(brokers, "kafka.city.example", 9093) is None
    assert advertised_node(brokers, "10.0.0.2", 9094) is None


async def test_the_salted_password_is_derived_once_per_process(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, opened: list[tuple[str, int]]
) -> None:
    security = KafkaSecurity.from_env()
    assert security.sasl_mechanism == "SCRAM-SHA-512", "the suite's broker authenticates with SCRAM"
    derived: list[int] = []
    pbkdf2 = hashlib.pbkdf2_hmac

    def counting(name: str, password: bytes, salt: bytes, iterations: int, dklen: int | None = None) -> bytes:
        derived.append(iterations)
        return pbkdf2(name, password, salt, iterations, dklen)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    for _ in range(3):
        admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            assert await admin.describe_cluster()
        finally:
            await admin.close()
    assert len(opened) >= 3
    assert len(derived) <= 1, f"{len(opened)} connections derived the salted password {len(derived)} times"


async def test_a_wrong_password_is_still_refused_after_a_right_one(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache is of the derivation, keyed by the password and the broker's salt: it never stands in for one."""
    security = KafkaSecurity.from_env()
    good = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap, security))
    await good.start()
    await good.close()
    wrong = security.model_copy(update={"sasl_password": SecretStr("not-the-password")})
    bad = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap, wrong), request_timeout_ms=5000)
    with caplog.at_level(logging.ERROR, logger="aiokafka.client"), pytest.raises(KafkaConnectionError):
        await bad.start()
    await bad.close()
    assert "SaslAuthenticationFailed" in caplog.text, caplog.text


async def test_ensuring_topics_asks_about_those_topics_only_and_creates_none_by_asking(
    kafka_bootstrap: str, topic_prefix: str, metadata_requests: list[MetadataRequest], caplog: pytest.LogCaptureFixture
) -> None:
    """Every service start ensures its topics exist. It asked for the whole cluster's topic list, which on a shared
    cluster is every deployment's (≈ 33 ms of CPU per answer at 400 topics, and the broker's work besides). A topic
    still to be created is no error worth a log line."""
    names = ["intake.events", "housing.events"]
    wanted = sorted(physical(n, topic_prefix) for n in names)
    with caplog.at_level(logging.WARNING):
        assert sorted(await ensure_topics(kafka_bootstrap, topic_prefix, names)) == wanted
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert await ensure_topics(kafka_bootstrap, topic_prefix, names) == [], "created again"
    assert metadata_requests
    for request in metadata_requests:
        assert request._topics is not None, "ensure_topics asked for the whole cluster's metadata"
        assert request._topics == [] or sorted(request._topics) == wanted, request._topics
        assert not request._topics or request._allow_auto_topic_creation is False, "asking could create a topic"


async def test_a_consumer_whose_fetch_the_broker_holds_stops_at_once(kafka_bootstrap: str, new_topic: Any) -> None:
    """An idle consumer has a fetch held by the broker (up to `fetch_max_wait_ms`). Closing a TLS connection waits
    for the broker's close_notify, which the broker sends only once it answers that fetch: every stop of a consumer
    (a service's shutdown, a test's reader) waited out the rest of the hold. Everything a client must send has been
    answered before its connections close (offsets committed, the group left, produced records acknowledged)."""
    topic = await new_topic("held")
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(kafka_bootstrap), group_id=f"g-{topic}", fetch_max_wait_ms=5000, fetch_min_bytes=1
    )
    await consumer.start()
    try:
        for _ in range(3):  # idle: each getmany leaves a fetch held at the broker
            assert await consumer.getmany(timeout_ms=200) == {}
    finally:
        started = time.perf_counter()
        await consumer.stop()
        took = time.perf_counter() - started
    assert took < 1.0, f"stop took {took:.2f} s"
