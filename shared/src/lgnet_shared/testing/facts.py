"""Facts a test publishes in place of an upstream service (e.g. intake's, for a housing test) are signed as that
service would sign them: by a test deployment's key, registered once on the test's own registry topic."""

from __future__ import annotations

import os

from aiokafka import AIOKafkaProducer

from lgnet_shared.envelope import Envelope
from lgnet_shared.fact_signing import FactSigner, publish_key
from lgnet_shared.outbox import topic_of
from lgnet_shared.topics import TOPICS, family_of

_SIGNERS: dict[str, FactSigner] = {}
_REGISTERED: set[tuple[str, str]] = set()  # (topic prefix, key id)


def upstream_signer(service: str) -> FactSigner:
    """The key of the test's upstream deployment of `service` (national: it may sign any city's facts)."""
    if service not in _SIGNERS:
        _SIGNERS[service] = FactSigner(os.urandom(32), "national-test-upstream", service, "national")
    return _SIGNERS[service]


async def signed_fact(
    producer: AIOKafkaProducer, prefix: str, env: Envelope, topic: str | None = None
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The record value and headers of `env` signed by the service that writes its (logical) topic."""
    logical = topic or topic_of(env)
    writers = TOPICS[logical].writers if logical in TOPICS else family_of(logical)[0].writers
    signer = upstream_signer(sorted(writers)[0])
    if (prefix, signer.key.key_id) not in _REGISTERED:
        await publish_key(producer, signer.key, prefix)
        _REGISTERED.add((prefix, signer.key.key_id))
    value, headers = env.to_structured()
    value, signature = signer.sign(value, headers)
    return value, [*headers, signature]
