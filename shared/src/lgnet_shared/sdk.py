"""Partner SDK: emit events to LgNet and read the answers to the ones it refused.

    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_username="partner.coop-aurora",
                             sasl_password=password, ssl_cafile="lgnet-ca.pem")   # or KafkaSecurity.from_env()
    async with PartnerClient("kafka:9092", partner="coop-aurora", city="torino", security=security) as client:
        env = await client.emit(EmploymentRecorded(person_id="...", status="employed_fixed_term",
                                                   as_of=date(2026, 3, 1)))
        async for rejection in client.rejections(timeout=5):
            print(rejection.inbound_event_id, rejection.field, rejection.reason)

The cluster authenticates every client (SASL_SSL, SCRAM-SHA-512) and authorises it: a partner writes only
`lgnet.partner.inbound` and reads only its own `lgnet.partner.rejections.<partner>` (docs/partners.md).
Identifying fields are sealed for intake with `client.seal(field, value)` (HPKE to the city's intake public
key), so they never cross Kafka in plain text. Needs only the core `lgnet-shared` package (no database).
Other languages: docs/partners.md shows the same records as raw JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lgnet_shared import pii, signing
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.envelope import Envelope, from_record
from lgnet_shared.errors import ContractError
from lgnet_shared.events import Event, Sealed
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.topics import for_partner, physical


class PartnerClient:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        partner: str,
        city: str,
        topic_prefix: str = "",
        signing_key: Ed25519PrivateKey | None = None,
        signing_key_id: str | None = None,
        intake_public_key: str | None = None,
        intake_key_id: str | None = None,
        security: KafkaSecurity | None = None,
        **kafka: Any,
    ) -> None:
        """`signing_key` (Ed25519) signs every record for intake's gatekeeper; `intake_public_key` lets
        `seal` protect identifying fields; `security` is how to connect (SASL_SSL with the partner's credentials
        and LgNet's CA; default, when no `kafka` settings either: the KAFKA_* environment); `kafka` passes further
        settings to aiokafka (and may override `security`'s)."""
        self.bootstrap, self.partner, self.city, self.prefix = bootstrap_servers, partner, city, topic_prefix
        self.source = f"/partners/{partner}"
        self._public_key, self._key_id = intake_public_key, intake_key_id
        self._signing_key, self._signing_key_id = signing_key, signing_key_id
        if security is None and not kafka:  # nothing said: the KAFKA_* environment (lgnet_shared.kafka)
            security = KafkaSecurity.from_env()
        self._kafka = {**(security.aiokafka() if security is not None else {}), **kafka}
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> PartnerClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, **self._kafka)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def envelope(self, event: Event, *, correlation_id: str | None = None) -> Envelope:
        """The event in its envelope, keyed by partner: intake processes one partner's events in the order
        they were sent (a person's registration before the household that names them)."""
        env = to_envelope(event, source=self.source, city=self.city, partner=self.partner, correlationid=correlation_id)
        return env.model_copy(update={"partitionkey": self.partner})

    async def emit(self, event: Event, *, correlation_id: str | None = None) -> Envelope:
        """Send one event to the inbound topic; returns its envelope (keep `id` to match a rejection)."""
        if self._producer is None:
            raise RuntimeError("PartnerClient not started: use `async with` or await start()")
        env = self.envelope(event, correlation_id=correlation_id)
        value, headers = env.to_structured()
        if self._signing_key is not None:
            headers.append(signing.sign(self._signing_key, self._signing_key_id or self.partner, value, headers))
        await self._producer.send_and_wait(
            physical("partner.inbound", self.prefix), value, key=env.key, headers=headers
        )
        return env

    def seal(self, field: str, plaintext: str) -> Sealed:
        """Seal an identifying field so only intake can open it (HPKE to intake's public key)."""
        if not (self._public_key and self._key_id):
            raise RuntimeError("intake_public_key and intake_key_id are needed to send identifying fields")
        return pii.seal_for(self._public_key, self._key_id, field, plaintext)

    def seal_birth_date(self, born: date) -> Sealed:
        """The birth date as registration v2 wants it: `identity.birth_date`, sealed like the names."""
        return self.seal("birth_date", born.isoformat())

    async def rejections(
        self,
        *,
        from_beginning: bool = True,
        timeout: float | None = None,
        group_id: str | None = None,
        include_legacy: bool = False,
    ) -> AsyncIterator[InboundRejected]:
        """This partner's rejections, from its own topic `lgnet.partner.rejections.<partner>`; stops after
        `timeout` seconds without one (None: wait forever). A `group_id` must start with 'partner.<partner>.'
        (the partner's ACL). `include_legacy` also reads the old shared `lgnet.partner.rejections` (history from
        before per-partner topics; on a secured cluster only operators may read it)."""
        topics = [physical(for_partner("partner.rejections.{partner}", self.partner), self.prefix)]
        if include_legacy:
            topics.append(physical("partner.rejections", self.prefix))
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            **self._kafka,
        )
        await consumer.start()
        try:
            while True:
                try:
                    record = await asyncio.wait_for(consumer.getone(), timeout)
                except TimeoutError:
                    return
                if record.key != self.partner.encode():
                    continue
                try:
                    event = decode(from_record(record.value, record.headers or (), record.key))
                except ContractError:
                    continue  # not ours to judge: a malformed answer is an LgNet bug, visible in its logs
                if isinstance(event, InboundRejected) and event.partner == self.partner:
                    yield event
        finally:
            await consumer.stop()
