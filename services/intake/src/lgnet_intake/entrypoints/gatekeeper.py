"""The partner gatekeeper: consumes its city's `lgnet.partner.inbound.<city>` (a national deployment: every city's;
after the upgrade, while told to drain it, the old shared `lgnet.partner.inbound` too), authenticates each record
(Ed25519 signature), checks the claimed partner and city, validates and authorises it through the same use cases
as the HTTP API, and answers every refusal with `lgnet.intake.inbound_rejected` naming the field and reason, on the
partner's own topic `lgnet.partner.rejections.<partner>` (created here if the partner's provisioning has not: only
that partner may read it). The inbox makes a replayed inbound event have one effect (or one rejection); it keeps each
event's content digest, so that an event id used again for another record is answered `id` "already used for another
record" (lgnet_shared.inbox_digest)."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from lgnet_shared import clock, outbox, pii, signing
from lgnet_shared.cities import NATIONAL
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import BatchHandler, Handler, Record, inbox_id
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope, claimed, says_nothing_of_the_person
from lgnet_shared.errors import ContractError, Unauthenticated, noted
from lgnet_shared.events import Event
from lgnet_shared.events import partner as inbound
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.events.types import Part
from lgnet_shared.service import ConsumerSpec, Runtime
from lgnet_shared.topics import OLD_INBOUND, PARTNER_ID, city_topics, ensure_topics, for_partner, physical
from nacl.signing import VerifyKey

from lgnet_intake import settings
from lgnet_intake.adapters import credentials, repository
from lgnet_intake.adapters.cache import TTLCache
from lgnet_intake.domain.access import Actor
from lgnet_intake.entrypoints import outreach_gate
from lgnet_intake.service_layer import civic as civic_use_cases
from lgnet_intake.service_layer import inbound as rules
from lgnet_intake.service_layer import outreach
from lgnet_intake.service_layer.handlers import SOURCE, Context, Intake

UseCase = Callable[[Intake, Context, Any], Awaitable[dict[str, Any]]]


def inbound_topics(city: str) -> list[str]:
    """What the gatekeeper of a deployment of `city` reads: its city's partners' topic (a national deployment: every
    city's), and the old shared topic while the operator has it drained."""
    return city_topics("intake", city) + ([OLD_INBOUND] if settings.drain_old_inbound() else [])


def partner_inbox_id(env: Envelope) -> str:
    """A partner's event is one per (source, id) of that partner: a source under `/partners/<id>` can only be the
    signer's (`rules.check_claims`), and any other source is scoped by the signer, so that no partner can take
    another's event ids by sending records under its source first (its real events would be dropped as
    duplicates, unanswered). Keys of `/partners/<id>` sources are (source, id), as before."""
    key = inbox_id(env)
    return key if env.source.startswith(rules.PARTNER_SOURCE) else f"{env.partner}@{key}"


def gatekeeper(runtime: Runtime) -> ConsumerSpec:
    master = runtime.settings.master_key_bytes() if runtime.settings else b""
    fiscal_secret = pii.derive(master, "fiscal-code-hash") if master else b""
    # Inbound private keys are destroyed after rotation: cache them briefly, never for the life of the process.
    # Partners' keys and actors change rarely; a short cache saves two queries per record.
    trust = settings.lookup_cache_seconds()
    private_keys: TTLCache[X25519PrivateKey | None] = TTLCache(seconds=trust)
    key_policy = settings.inbound_key_policy()
    national_secret = settings.national_pseudonym_key()
    earliest = settings.earliest_date()
    next_rotation = 0.0
    known_keys: TTLCache[tuple[Actor, VerifyKey] | None] = TTLCache(seconds=trust)
    actors: TTLCache[Actor | None] = TTLCache(seconds=trust)
    answerable: set[str] = set()  # partners whose rejection topic exists
    s = runtime.settings
    sandboxed = settings.sandbox(s.topic_prefix, s.db_schema) if s else False

    async def ensure_rejection_topic(partner: str) -> None:
        if partner in answerable:
            return
        s = runtime.settings
        topic = for_partner("partner.rejections.{partner}", partner)
        await ensure_topics(s.kafka_bootstrap_servers, s.topic_prefix, [topic], s.topic_replication, s.kafka_security())
        answerable.add(partner)

    async def signing_key(conn: Conn, record: Record) -> tuple[Actor, VerifyKey]:
        key_id = signing.key_id_of(record.headers or ())
        found = await known_keys.get(key_id, lambda: loaded_signing_key(conn, key_id)) if key_id else None
        if found is None:
            field = f"headers.{signing.HEADER}"
            raise Unauthenticated(field, "unknown partner key" if key_id else "missing: records must be signed")
        return found

    async def signer(conn: Conn, record: Record) -> Actor:
        return (await signing_key(conn, record))[0]

    async def authenticate(conn: Conn, record: Record) -> str:
        """The signature covers the record's bytes: checked before decoding, so even a record that is not JSON
        is known to come from its signer (and can be answered), and nothing unsigned reaches the inbox."""
        actor, public_key = await signing_key(conn, record)
        signing.verify(public_key, record.value, record.headers or ())
        return actor.id

    old_topic = physical(OLD_INBOUND, s.topic_prefix if s else "")

    async def verify(conn: Conn, record: Record, env: Envelope, sender: str | None) -> None:
        """The record's claims, every one at fault said at once. Its partition key too (2026-12-07), except on the
        retired shared topic, whose records were sent before that rule. (A record processed already and read again —
        offsets reach Kafka after the effects: a restart, the upgrade's — stays a duplicate whatever rule refuses it
        now: the consumer looks its event up in the inbox before refusing it.)"""
        broken: list[ContractError] = []
        with noted(broken):
            rules.check_claims(env, sender, (await signer(conn, record)).city)
        if record.topic != old_topic:
            with noted(broken):
                rules.check_partition_key(env, sender, record.key)
        if broken:
            raise ContractError.all_of(broken)

    async def open_identity(conn: Conn, identity: Part) -> dict[str, str]:
        async def private_key(key_id: str) -> X25519PrivateKey | None:
            return await private_keys.get(
                key_id, functools.partial(credentials.inbound_private_key, conn, master, key_id)
            )

        return await rules.open_identity(
            identity, private_key, functools.partial(credentials.inbound_key_destroyed, conn)
        )

    async def context(conn: Conn, env: Envelope) -> Context:
        actor = await actors.get(env.partner or "", lambda: repository.actor(conn, env.partner or ""))
        assert actor is not None  # verified before any handler runs
        return Context(actor, clock.today(), cause=env)

    def intake(conn: Conn) -> Intake:
        assert runtime.keys is not None
        return Intake(conn, runtime.keys, fiscal_secret, national_secret, publish=not sandboxed, earliest_date=earliest)

    async def rotate(conn: Conn) -> None:
        """The inbound key's schedule, checked at most once a minute while partners send registrations."""
        nonlocal next_rotation
        if time.monotonic() >= next_rotation:
            next_rotation = time.monotonic() + 60
            await credentials.rotate_inbound_keys(conn, key_policy)

    async def register(conn: Conn, run: Sequence[tuple[Envelope, Event]]) -> None:
        """Registrations are most of what partners send: a run of them is stored in a few statements."""
        await rotate(conn)
        with rules.partner_fields():
            registrations = []
            for env, e in run:
                assert isinstance(e, inbound.PersonRegistrationSubmitted)
                opened = await open_identity(conn, e.identity)
                ctx = await context(conn, env)
                clear = rules.clear_birth_date_allowed(env, ctx.today)
                registration = rules.sealed_registration(e, opened, clear_birth_date=clear, today=ctx.today)
                registrations.append((ctx, registration))
            await intake(conn).register_persons(registrations)

    use_cases: dict[type[Event], UseCase] = {
        inbound.HouseholdFormationSubmitted: lambda i, c, e: i.form_household(c, e),
        inbound.HouseholdMemberChangeSubmitted: lambda i, c, e: i.change_household(c, e),
        inbound.HouseholdReferencePersonChangeSubmitted: lambda i, c, e: i.change_reference_person(c, e),
        inbound.ReferralSubmitted: lambda i, c, e: i.receive_referral(c, e),
        inbound.CaseOpeningSubmitted: lambda i, c, e: i.open_case(c, e),
        inbound.NeedsAssessmentSubmitted: lambda i, c, e: i.assess_needs(c, e),
        inbound.PlanSubmitted: lambda i, c, e: i.agree_plan(c, e),
        inbound.PlanObjectiveUpdateSubmitted: lambda i, c, e: i.update_objective(c, e),
        inbound.EmploymentReported: lambda i, c, e: i.record_employment(c, e),
        inbound.ConsentReported: lambda i, c, e: i.record_consent(c, e),
        inbound.CaseClosureSubmitted: lambda i, c, e: i.close_case(c, e),
        **civic_use_cases.BY_SUBMISSION,
    }

    nickname_secret = pii.derive(master, outreach.NICKNAME_SECRET) if master else b""
    use_cases.update(outreach_gate.use_cases(open_identity, nickname_secret))  # #19: outings, contacts, agenda

    def handler(use_case: UseCase) -> Handler:
        async def handle(conn: Conn, env: Envelope, event: Event) -> None:
            with rules.partner_fields():
                await use_case(intake(conn), await context(conn, env), event)

        return handle

    async def answer(conn: Conn, record: Record, env: Envelope | None, err: ContractError, sender: str | None) -> bool:
        """The rejection goes to the authenticated signer, never to the partner a record claims to be: a forged
        record must not write into another partner's feed (unauthenticated ones never get here)."""
        if sender is None:
            return False  # nobody to answer: dead-lettered
        actor = await signer(conn, record)
        partner = sender
        if not PARTNER_ID.fullmatch(partner):
            return False  # no topic can be named after it: dead-lettered
        await ensure_rejection_topic(partner)
        claimed_id, claimed_type = (env.id, env.type) if env else claimed(record.value, record.headers or ())
        # An identifier holding a person's data (refused: `check_partner_record`) is not repeated on Kafka: a record
        # whose id holds it is named by its position, and the answer carries on only the ids that say nothing.
        if not says_nothing_of_the_person(claimed_id):
            claimed_id = None
        correlationid = env.correlationid if env and says_nothing_of_the_person(env.correlationid) else None
        rejection = InboundRejected(
            partner=partner,
            inbound_event_id=claimed_id or f"{record.partition}:{record.offset}",
            inbound_type=claimed_type,
            kind=err.kind,
            field=err.field,
            reason=err.reason,
            errors=err.each()[:50],
        )
        city = actor.city or "unknown"
        await outbox.append(
            conn,
            [
                to_envelope(
                    rejection,
                    source=SOURCE,
                    city=city,
                    partner=partner,
                    correlationid=correlationid,
                    causationid=claimed_id if env else None,
                )
            ],
        )
        return True

    async def loaded_signing_key(conn: Conn, key_id: str) -> tuple[Actor, VerifyKey] | None:
        found = await repository.signing_key(conn, key_id)
        return (found[0], signing.verifying_key(found[1])) if found else None

    assert {inbound.PersonRegistrationSubmitted, *use_cases} == set(rules.ACCEPTED)  # one list of what partners send
    return ConsumerSpec(
        name="gatekeeper",
        topics=inbound_topics(s.city if s else NATIONAL),
        strict=True,
        authenticate=authenticate,
        verify=verify,
        on_invalid=answer,
        inbox_key=partner_inbox_id,
        digests=True,  # an event id used again for another record is answered, not dropped (intake-11)
        handlers={
            inbound.PersonRegistrationSubmitted.type: BatchHandler(register),
            **{model.type: handler(uc) for model, uc in use_cases.items()},
        },
    )
