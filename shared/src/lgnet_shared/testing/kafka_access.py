"""What a Kafka principal may actually do on the broker, tried for real (test helpers): produce a record, or read
the record at offset 0 of partition 0. Used by the authorisation matrices (shared/tests/test_kafka_security.py,
tests/test_federation_e2e.py), whose expectations come from `kafka_acls.allowed`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr

from lgnet_shared.kafka import READ_AND_GO, KafkaSecurity, client_kwargs


def as_user(admin: KafkaSecurity, user: str, password: str) -> KafkaSecurity:
    """The same connection settings (CA, protocol) under another principal."""
    return admin.model_copy(update={"sasl_username": user, "sasl_password": SecretStr(password)})


async def _connecting(attempt: Callable[[], Awaitable[bool]], tries: int = 4) -> bool:
    """The attempt again when it could not even connect (a broker busy with hundreds of SCRAM logins from a matrix
    of parties, while other tests load it): a connection failure is no answer about the principal's rights, and a
    refusal (TopicAuthorizationFailed) is never retried."""
    for n in range(tries):
        try:
            return await attempt()
        except KafkaConnectionError:
            if n == tries - 1:
                raise
            await asyncio.sleep(1 + 2 * n)
    raise AssertionError("unreachable")


async def seed(bootstrap: str, security: KafkaSecurity, topics: list[str]) -> None:
    """A record at offset 0 of partition 0 of each topic, for `try_consume` to find: on partition 0 itself, since a
    topic may hold none there (a city's inbound topic whose few partners' ids hash elsewhere)."""
    producer = AIOKafkaProducer(**client_kwargs(bootstrap, security))
    await producer.start()
    try:
        for topic in topics:
            await producer.send_and_wait(topic, b"seed", key=b"k", partition=0)
    finally:
        await producer.stop()


async def try_produce(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    return await _connecting(lambda: _produce(bootstrap, security, topic))


async def try_consume(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    """Allowed = the record at offset 0 of partition 0 comes back (seed one first); refused = the topic is hidden
    from the client (no DESCRIBE) or its fetch answers TopicAuthorizationFailed (no READ)."""
    return await _connecting(lambda: _consume(bootstrap, security, topic))


async def _produce(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    producer = AIOKafkaProducer(**client_kwargs(bootstrap, security), request_timeout_ms=10000)
    try:
        await producer.start()
        async with asyncio.timeout(20):
            await producer.send_and_wait(topic, b"probe", key=b"k")
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()


async def _consume(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    consumer = AIOKafkaConsumer(topic, **client_kwargs(bootstrap, security), **READ_AND_GO, enable_auto_commit=False)
    try:
        await consumer.start()  # subscribed: a topic it may not describe fails here
        if consumer.partitions_for_topic(topic) is None:  # the topic exists (seeded): it is not authorised
            return False
        consumer.unsubscribe()
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(20):
            batch = await consumer.getmany(tp, timeout_ms=500)
            if batch.get(tp):
                return True
        raise AssertionError(f"inconclusive: {security.sasl_username} neither refused nor served on {topic}")
    except TopicAuthorizationFailedError:
        return False
    finally:
        await consumer.stop()
