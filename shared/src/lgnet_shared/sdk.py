"""Partner SDK: emit events to LgNet, read the answers to the ones it refused and the reminders about its cases.

    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_username="partner.coop-aurora",
                             sasl_password=password, ssl_cafile="lgnet-ca.pem")   # or KafkaSecurity.from_env()
    async with PartnerClient("kafka:9092", partner="coop-aurora", city="torino", security=security,
                             signing_key=my_ed25519_key, signing_key_id="coop-aurora-2026") as client:
        env = await client.emit(EmploymentReported(person_id="...", status="employed_fixed_term",
                                                   as_of=date(2026, 3, 1)))
        async for rejection in client.rejections(timeout=5):
            print(rejection.inbound_event_id, rejection.field, rejection.reason)
        async for reminder in client.reminders(timeout=5):   # appointments due tomorrow, stalled match steps
            print(reminder.type, reminder.case_id)

The cluster authenticates every client (SASL_SSL, SCRAM-SHA-512) and authorises it: a partner writes only
its city's `lgnet.partner.inbound.<city>` and reads only its own `lgnet.partner.rejections.<partner>` and
`lgnet.partner.reminders.<partner>` (docs/partners.md).
Identifying fields are sealed for intake (HPKE to the city's intake public key), so they never cross Kafka in
plain text: a registration's whole identity at once with `client.seal_identity(birth_date, given_name=...)`, one
field with `client.seal(field, value)`. Needs only the core `lgnet-shared` package (no database).
Other languages: docs/partners.md shows the same records as raw JSON.

A service restarting or a broker failing over is not the end of a partner's work: `emit` retries a send that
failed with the same event (same id: intake's inbox keeps one), and `http_client` gives an HTTP client whose
requests are retried with backoff and the same Idempotency-Key (docs/partners.md, "Retries and idempotency"):

    async with http_client("https://lgnet.torino.example/intake", token) as api:
        answer = await api.post("/persons", json=body)   # a key is added when the caller gives none
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError, RequestTimedOutError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lgnet_shared import pii, signing, tls
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.envelope import Envelope, from_record
from lgnet_shared.errors import ContractError
from lgnet_shared.events import Event, Sealed
from lgnet_shared.events.housing import PartnerMatchReminder
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.events.outreach import PartnerAppointmentReminder
from lgnet_shared.events.partner import IDENTITY_FIELDS, INBOUND, PartnerIdentityV3
from lgnet_shared.fact_signing import (
    FactSignatureError,
    KeyRegistry,
    SigningKey,
    check_claims,
    check_fact,
    logical_topic,
    parse_signature,
)
from lgnet_shared.kafka import KafkaSecurity, start_client
from lgnet_shared.topics import for_partner, partner_inbound, physical

log = logging.getLogger("lgnet.sdk")
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
KAFKA_RETRIABLE = (KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError, RequestTimedOutError)


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Exponential backoff with jitter: half of min(cap, base * 2**attempt) plus up to as much again at random
    (0.1-0.2 s, 0.2-0.4 s, ... up to 2.5-5 s), so many clients do not retry in step."""
    step: float = min(cap, base * 2.0**attempt)
    jitter: float = random.uniform(0, step / 2)  # not a secret
    return step / 2 + jitter


class RetryingTransport(httpx.AsyncBaseTransport):
    """Retries what may not have reached LgNet or whose answer was lost — connection refused or reset, an answer
    cut off before its body ended, timeouts, 502/503/504 — with backoff, for up to `deadline` seconds (and at most
    `attempts` tries). A state-changing request without an Idempotency-Key gets one, the same on every try: a retry
    of a request that was committed before the crash gets the original answer, never a second effect. Answers are
    read whole before they are returned (LgNet's answers are small JSON documents and files), so a client's
    `stream` gets a buffered body."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        attempts: int = 60,
        deadline: float = 120.0,
        base: float = 0.2,
        cap: float = 5.0,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport(verify=tls.http_verify())
        self.attempts, self.deadline, self.base, self.cap = attempts, deadline, base, cap

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in CHANGES and "idempotency-key" not in request.headers:
            request.headers["Idempotency-Key"] = str(uuid.uuid4())
        await request.aread()  # the body is sent again as it was
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.deadline
        attempt = 0
        while True:
            try:
                response = await self.inner.handle_async_request(request)
                # Read the body here, not in the client: a service killed between the head of its answer and
                # the body raises RemoteProtocolError on reading, and that answer is as lost as a refused call.
                await response.aread()
            except httpx.TransportError as exc:
                if attempt + 1 >= self.attempts or loop.time() >= give_up:
                    raise
                log.warning("%s %s: %r; retrying (attempt %d)", request.method, request.url, exc, attempt + 2)
            else:
                last = attempt + 1 >= self.attempts or loop.time() >= give_up
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                await response.aclose()
                status = response.status_code
                log.warning("%s %s: %d; retrying (attempt %d)", request.method, request.url, status, attempt + 2)
            await asyncio.sleep(backoff(attempt, self.base, self.cap))
            attempt += 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def http_client(base_url: str, token: str, *, timeout: float = 60, **retry: Any) -> httpx.AsyncClient:
    """An HTTP client of one LgNet service for one actor, retrying as `RetryingTransport` does."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        transport=RetryingTransport(**retry),
    )


class AnswersUnverifiable(RuntimeError):
    """No key to verify the answers with can be read (the partner's credentials cannot read the key registries)."""


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
        answer_keys: Iterable[SigningKey] | None = None,
        verify_answers: bool = True,
        **kafka: Any,
    ) -> None:
        """`signing_key` (Ed25519) signs every record for intake's gatekeeper, under `signing_key_id` (the key id
        the city registered with its public half: the bundle's `signing.key_id`); `emit` needs both, since intake
        never answers a record it cannot authenticate. `intake_public_key` lets `seal` protect identifying fields;
        `security` is how to connect (SASL_SSL with the partner's credentials and LgNet's CA; default, when no
        `kafka` settings either: the KAFKA_* environment); `kafka` passes further settings to aiokafka (and may
        override `security`'s).

        Answers (`rejections`, `reminders`) are yielded only when signed by a deployment that may write them: the
        partner's city's (or the national) intake, housing for its own reminders. The public keys are read from the
        cluster's signing-key registries (`lgnet.signing-keys.*`, readable by every partner), or, given
        `answer_keys` (e.g. `read_pinned(json.load(open("keys.json"))).values()`, the file `lgnet-audit keys`
        writes, checked out of band), from those only. Any other answer is dropped, logged with its place and
        reason and counted in `refused_answers` (by reason). `verify_answers=False` takes every answer as it is
        (a cluster whose deployments predate signed answers)."""
        if signing_key is not None and not signing_key_id:
            raise ValueError(
                "signing_key_id: give the key id the city registered with your public key (your bundle's"
                " signing.key_id): a record signed under another id is not authenticated, so never answered"
            )
        self.bootstrap, self.partner, self.city, self.prefix = bootstrap_servers, partner, city, topic_prefix
        self.source = f"/partners/{partner}"
        self._public_key, self._key_id = intake_public_key, intake_key_id
        self._signing_key, self._signing_key_id = signing_key, signing_key_id
        if security is None and not kafka:  # nothing said: the KAFKA_* environment (lgnet_shared.kafka)
            security = KafkaSecurity.from_env()
        self._kafka = {**(security.aiokafka() if security is not None else {}), **kafka}
        self._producer: AIOKafkaProducer | None = None
        self.send_attempts = 8
        self.verify_answers = verify_answers
        self.refused_answers: Counter[str] = Counter()
        self._answer_keys = (
            KeyRegistry.pinned_keys(answer_keys, topic_prefix)
            if answer_keys is not None
            else KeyRegistry(bootstrap_servers, topic_prefix, security, kafka=kafka)
        )

    async def __aenter__(self) -> PartnerClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connects; a broker that refuses the login raises `KafkaLoginRefused` naming the user, one that cannot be
        reached `KafkaUnreachable` naming the address (both `KafkaConnectionError`s: aiokafka said "Unable to
        bootstrap" for either)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, **self._kafka)
        await start_client(producer, self.bootstrap, self._kafka.get("sasl_plain_username"))
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def group_prefix(self) -> str:
        """What this partner's consumer group ids start with (its ACL): the cluster's topic prefix, then
        'partner.<partner>.' (the bundle's `topic_prefix` and `group_prefix`)."""
        return f"{self.prefix}partner.{self.partner}."

    def envelope(self, event: Event, *, correlation_id: str | None = None) -> Envelope:
        """The event in its envelope, keyed by partner: intake processes one partner's events in the order
        they were sent (a person's registration before the household that names them)."""
        env = to_envelope(event, source=self.source, city=self.city, partner=self.partner, correlationid=correlation_id)
        return env.model_copy(update={"partitionkey": self.partner})

    async def emit(self, event: Event, *, correlation_id: str | None = None) -> Envelope:
        """Send one event to the inbound topic; returns its envelope (keep `id` to match a rejection). The envelope's
        `data` is the event's JSON as sent, a dict (`sent.data["person_id"]`); `event` stays the model."""
        if event.topic != INBOUND:  # e.g. intake's fact EmploymentRecorded for the partner's EmploymentReported
            raise ValueError(
                f"type: {event.type} is not an event partners send: intake accepts lgnet.partner.* types only"
            )
        if self._signing_key is None or self._signing_key_id is None:
            # Unsigned, intake could not tell it from a forgery: dead-lettered, never answered (docs/partners.md).
            raise ValueError(
                "signing_key: PartnerClient needs signing_key and signing_key_id to emit: intake neither accepts nor"
                " answers an unsigned record (it is dead-lettered)"
            )
        if self._producer is None:
            raise RuntimeError("PartnerClient not started: use `async with` or await start()")
        env = self.envelope(event, correlation_id=correlation_id)
        value, headers = env.to_structured()
        headers.append(signing.sign(self._signing_key, self._signing_key_id, value, headers))
        topic = partner_inbound(self.city, self.prefix)  # its city's: no other city's intake may read it
        for attempt in range(self.send_attempts):
            try:
                await self._producer.send_and_wait(topic, value, key=env.key, headers=headers)
                return env
            except KAFKA_RETRIABLE as exc:  # the same record again: intake keeps one per event id
                if attempt + 1 >= self.send_attempts:
                    raise
                log.warning("emit %s: %r; retrying (attempt %d)", env.id, exc, attempt + 2)
                await asyncio.sleep(backoff(attempt))
        return env

    def seal(self, field: str, plaintext: str) -> Sealed:
        """Seal an identifying field so only intake can open it (HPKE to intake's public key)."""
        if not (self._public_key and self._key_id):
            raise RuntimeError("intake_public_key and intake_key_id are needed to send identifying fields")
        return pii.seal_for(self._public_key, self._key_id, field, plaintext)

    def seal_birth_date(self, born: date | str) -> Sealed:
        """The birth date as registration v2 wants it: `identity.birth_date`, sealed like the names."""
        return self.seal("birth_date", _day(born).isoformat())

    def seal_identity(self, birth_date: date | str, **fields: str | None) -> PartnerIdentityV3:
        """A registration's whole identity sealed at once (v3's `identity.all`): one HPKE encapsulation instead of one
        per field, for the partner and for intake. `fields`: given_name, family_name, fiscal_code, phone, address
        (None: left out)."""
        if unknown := sorted(set(fields) - set(IDENTITY_FIELDS)):
            raise ValueError(f"not identifying fields: {', '.join(unknown)} (they are {', '.join(IDENTITY_FIELDS)})")
        whole = {name: value for name, value in fields.items() if value is not None}
        whole["birth_date"] = _day(birth_date).isoformat()
        return PartnerIdentityV3(all=self.seal("all", json.dumps(whole, ensure_ascii=False, separators=(",", ":"))))

    async def rejections(
        self,
        *,
        from_beginning: bool = True,
        timeout: float | None = None,
        group_id: str | None = None,
        include_legacy: bool = False,
    ) -> AsyncIterator[InboundRejected]:
        """This partner's rejections, from its own topic `lgnet.partner.rejections.<partner>`; stops after
        `timeout` seconds without one (None: wait forever). A `group_id` must start with `group_prefix`
        ('partner.<partner>.' after the cluster's topic prefix: the partner's ACL); another is refused at once
        (ValueError naming it). `include_legacy` also reads the old shared `lgnet.partner.rejections` (history from
        before per-partner topics; on a secured cluster only operators may read it)."""
        topics = [physical(for_partner("partner.rejections.{partner}", self.partner), self.prefix)]
        if include_legacy:
            topics.append(physical("partner.rejections", self.prefix))
        async for event in self._own_feed(topics, from_beginning, timeout, group_id):
            if isinstance(event, InboundRejected) and event.partner == self.partner:
                yield event

    async def reminders(
        self, *, from_beginning: bool = True, timeout: float | None = None, group_id: str | None = None
    ) -> AsyncIterator[PartnerAppointmentReminder | PartnerMatchReminder]:
        """This partner's reminders about its own cases, from its own topic `lgnet.partner.reminders.<partner>`:
        an appointment due tomorrow (`PartnerAppointmentReminder`, from intake) or a match step stalled past the
        city's limit (`PartnerMatchReminder`, from housing). Same arguments as `rejections`; a `group_id` makes a
        restarted reader go on where it stopped."""
        topic = physical(for_partner("partner.reminders.{partner}", self.partner), self.prefix)
        async for event in self._own_feed([topic], from_beginning, timeout, group_id):
            if isinstance(event, PartnerAppointmentReminder | PartnerMatchReminder) and event.partner == self.partner:
                yield event

    async def _own_feed(
        self, topics: list[str], from_beginning: bool, timeout: float | None, group_id: str | None
    ) -> AsyncIterator[Event]:
        """The events of this partner's own topics (keyed by the partner) and of its own city; stops after `timeout`
        seconds idle."""
        own = self.group_prefix
        if group_id is not None and not (group_id.startswith(own) and len(group_id) > len(own)):
            # The broker would answer GroupAuthorizationFailed naming only the group: say what is allowed, at once.
            raise ValueError(f"group_id: {group_id!r} is not yours: your consumer groups start with {own!r}")
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            **self._kafka,
        )
        await start_client(consumer, self.bootstrap, self._kafka.get("sasl_plain_username"))
        try:
            while True:
                try:  # not `wait_for`: on Python 3.11 it swallows a cancellation that arrives with a record
                    async with asyncio.timeout(timeout):
                        record = await consumer.getone()
                except TimeoutError:
                    return
                if record.key != self.partner.encode():
                    continue
                try:
                    env = from_record(record.value, record.headers or (), record.key)
                    if env.city != self.city:
                        # Only this partner's city's deployments (and the national ones) may write its topics: an
                        # answer claiming another city is a misprovisioned or forged writer's. Ids only in the log.
                        log.warning(
                            "dropped an answer of another city (%s, not %s): event %s, type %s",
                            env.city,
                            self.city,
                            env.id,
                            env.type,
                        )
                        continue
                    if self.verify_answers and (refused := await self._refusal(record, env)) is not None:
                        self.refused_answers[refused.code] += 1
                        log.warning(
                            "dropped an answer no deployment that may write it signed (%s): %s partition %d"
                            " offset %d: %s",
                            refused.code,
                            record.topic,
                            record.partition,
                            record.offset,
                            refused.reason,
                        )
                        continue
                    yield decode(env)
                except ContractError:
                    continue  # not ours to judge: a malformed answer is an LgNet bug, visible in its logs
        finally:
            await consumer.stop()
            await self._answer_keys.close()  # the keys read stay known; a later read goes on from there

    async def _refusal(self, record: Any, env: Envelope) -> FactSignatureError | None:
        """Why the answer is not provably written by a deployment that may write it, or None (the consumers' rule:
        `fact_signing.check_fact` and `check_claims`, on the answer topic's family)."""
        keys, headers = self._answer_keys, record.headers or ()
        signature = parse_signature(headers)
        key = await keys.lookup(signature.key_id) if signature is not None else None
        if key is None and signature is not None and not keys.pinned and keys.topics_seen == 0:
            raise AnswersUnverifiable(
                "answer_keys: no signing-key registry (lgnet.signing-keys.*) is readable with these credentials, so"
                " no answer can be verified: ask the city's operator to run `lgnet-kafka-admin add-partner` again"
                " (it adds the right), or pass answer_keys= (the keys the city gives you)"
            )
        topic = logical_topic(record.topic, self.prefix)
        try:
            signer = check_fact(key, keys.verifier, topic, record.value, headers, signature)
            check_claims(signer, env, topic)
        except FactSignatureError as err:
            return err
        return None


def _day(born: object) -> date:
    """A birth date given as a `date`, or as ISO 8601 text ("1990-01-31"); anything else refused naming the field (a
    partner's text raised AttributeError: 'str' object has no attribute 'isoformat')."""
    if isinstance(born, date) and not isinstance(born, datetime):
        return born
    if isinstance(born, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(born)
    raise ValueError(f"birth_date: {born!r} is not a day: give a datetime.date or ISO 8601 text (1990-01-31)")
