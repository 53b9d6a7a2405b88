"""The partner gatekeeper against real Kafka and PostgreSQL: partners send signed events (SDK or raw JSON);
accepted ones become canonical intake events, refused ones are answered with the field and the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer
from codicefiscale import codicefiscale
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import clock, signing, vocabulary
from lgnet_shared.events import Event
from lgnet_shared.events import intake as ev
from lgnet_shared.events import partner as inbound
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import partner_inbound

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # W3C trace context's own example


def born_in(uid: str, n: int = 0) -> date:
    """A birth date of this test's own (1930-1979: adult, and not more than 120 years ago): on the module's one
    intake, persons of the same name and birth date registered by two tests would be flagged as possible duplicates
    of each other."""
    return date(1930, 1, 1) + timedelta(days=(int(uid, 16) + n) % 18_000)


def registration(
    pid: str, client: Any, uid: str, *, fiscal_code: str | None = None, born: date | None = None
) -> inbound.PersonRegistrationSubmitted:
    born = born or born_in(uid)
    identity = {
        "given_name": client.seal("given_name", "Yusuf"),
        "family_name": client.seal("family_name", "Haddad"),
        "birth_date": client.seal_birth_date(born),
    }
    if fiscal_code:
        identity["fiscal_code"] = client.seal("fiscal_code", fiscal_code)
    return inbound.PersonRegistrationSubmitted(
        person_id=pid, sex="male", nationality="SY", identity=inbound.PartnerIdentityV2(**identity)
    )


async def rejections(intake: IntakeUnderTest, partner: str, want: int, mine: Collection[str]) -> list[InboundRejected]:
    """The partner's first `want` rejections of the records this test sent (`mine`: their ids, or "<partition>:
    <offset>" for one without an id), read as the partner does: its topic also holds earlier tests' answers."""
    got: list[InboundRejected] = []
    async with intake.partner(partner, "torino") as client:
        async for rejection in client.rejections(timeout=15):
            if rejection.inbound_event_id in mine:
                got.append(rejection)
                if len(got) >= want:
                    break
    return got


async def answers_about(intake: IntakeUnderTest, partner: str, mine: Collection[str]) -> list[Any]:
    """The records on the partner's rejection topic, since this test began, answering records of this test."""
    records = await intake.raw_records(f"partner.rejections.{partner}", missing_ok=True)
    return [r for r in records if json.loads(r.value)["data"]["inbound_event_id"] in mine]


async def wait_rows(intake: IntakeUnderTest, sql: str, want: int, *args: Any) -> None:
    for _ in range(150):
        async with intake.pool.acquire() as conn:
            if await conn.fetchval(sql, *args) >= want:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sql} {args} did not reach {want}")


def of_test(events: list[Event], uid: str) -> list[Event]:
    """The events naming one of this test's ids (each carries its `uid`)."""
    return [e for e in events if uid in e.model_dump_json()]


async def my_events(
    intake: IntakeUnderTest, uid: str, topic: str = "intake.events", *, want: int = 1, timeout: float = 20
) -> list[Event]:
    """This test's events on a topic (waits until at least `want` are there, or `timeout` seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mine = of_test(await intake.events(topic, want=want, timeout=timeout), uid)
        if len(mine) >= want or asyncio.get_running_loop().time() > deadline:
            return mine
        await asyncio.sleep(0.2)


async def send_signed(intake: IntakeUnderTest, envs: list[Any], partner: str = "coop-aurora") -> list[str]:
    """Each envelope as raw bytes on Torino's inbound topic, signed with the partner's key, in order (where each is)."""
    return await send_signed_values(intake, [(*env.to_structured(), env.key) for env in envs], partner)


async def send_signed_values(
    intake: IntakeUnderTest, records: list[tuple[bytes, list[tuple[str, bytes]], bytes]], partner: str = "coop-aurora"
) -> list[str]:
    """Records as given (value, headers, key), each signed with the partner's key, in order. Returns where each is
    ("<partition>:<offset>", as a rejection names a record whose id it does not repeat)."""
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    positions = []
    try:
        for value, headers, key in records:
            headers = [*headers, signing.sign(intake.signing_keys[partner], f"{partner}-key", value, headers)]
            at = await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=key, headers=headers)
            positions.append(f"{at.partition}:{at.offset}")
    finally:
        await producer.stop()
    return positions


async def open_a_case(intake: IntakeUnderTest, client: Any, uid: str) -> None:
    """Person y-1, household hh-1 and its case case-1 (opened 2026-02-01; each id ending in `-<uid>`), accepted."""
    y1, hh1 = f"y-1-{uid}", f"hh-1-{uid}"
    for e in (
        registration(y1, client, uid),
        inbound.HouseholdFormationSubmitted(household_id=hh1, reference_person_id=y1, member_ids=[y1]),
        inbound.CaseOpeningSubmitted(
            case_id=f"case-1-{uid}", household_id=hh1, action_area="taking_charge", channel="desk",
            opened_on=date(2026, 2, 1),
        ),
    ):  # fmt: skip
        await client.emit(e)
    await wait_rows(intake, "select count(*) from cases where case_id = $1", 1, f"case-1-{uid}")


async def test_a_refused_registration_refuses_what_depends_on_it(intake: IntakeUnderTest, uid: str) -> None:
    y1, hh1 = f"y-1-{uid}", f"hh-1-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        # The birth date the fiscal code says (its check character alone is wrong).
        person = await client.emit(
            registration(y1, client, uid, fiscal_code="HDDYSF85C12Z240X", born=date(1985, 3, 12))
        )
        household = await client.emit(
            inbound.HouseholdFormationSubmitted(household_id=hh1, reference_person_id=y1, member_ids=[y1])
        )
        case = await client.emit(
            inbound.CaseOpeningSubmitted(
                case_id=f"case-1-{uid}",
                household_id=hh1,
                action_area="taking_charge",
                channel="mobile_unit",
                opened_on=date(2026, 2, 1),
            )
        )
    sent = {person.id, household.id, case.id}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 3, sent)}
    assert (answers[person.id].kind, answers[person.id].field) == ("invalid", "data.identity.fiscal_code")
    assert "check character" in answers[person.id].reason
    assert (answers[household.id].kind, answers[household.id].field) == ("not_found", "data.member_ids.0")
    assert (answers[case.id].kind, answers[case.id].field) == ("not_found", "data.household_id")
    assert answers[case.id].inbound_type == "lgnet.partner.case_opening_submitted"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id like $1", f"%{uid}%") == 0
    assert of_test(await intake.events(want=0, timeout=3), uid) == []


async def test_accepted_registration_household_and_case(intake: IntakeUnderTest, uid: str) -> None:
    y1, hh1 = f"y-1-{uid}", f"hh-1-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        for e in (
            registration(y1, client, uid),
            inbound.HouseholdFormationSubmitted(household_id=hh1, reference_person_id=y1, member_ids=[y1]),
            inbound.CaseOpeningSubmitted(
                case_id=f"case-1-{uid}",
                household_id=hh1,
                action_area="taking_charge",
                channel="mobile_unit",
                opened_on=date(2026, 2, 1),
            ),
        ):
            await client.emit(e)
    await wait_rows(intake, "select count(*) from cases where case_id = $1", 1, f"case-1-{uid}")
    events = await my_events(intake, uid, want=3)
    registered = next(e for e in events if isinstance(e, ev.PersonRegistered))
    assert registered.person_id == y1 and registered.third_country is True
    assert registered.identity.given_name is not None and registered.identity.given_name.kid == y1  # re-sealed
    case = next(e for e in events if isinstance(e, ev.CaseOpened))
    assert case.partner == "coop-aurora" and case.channel == "mobile_unit" and case.city == "torino"
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/{y1}")).json()["identity"]["family_name"] == "Haddad"


async def test_a_partners_records_travel_on_its_own_citys_topic(intake: IntakeUnderTest, uid: str) -> None:
    """A Torino partner's records go to Torino's inbound topic, which no other city's intake may read (they held
    needs assessments every city's intake could read on the shared topic), and the gatekeeper takes them there."""
    async with intake.partner("coop-aurora", "torino") as client:
        sent = await client.emit(registration(f"c-1-{uid}", client, uid))
    await wait_rows(intake, "select count(*) from persons where person_id = $1", 1, f"c-1-{uid}")
    # Since this test began (every earlier test's records were sent, and so there, before it ended).
    on_torino = await intake.raw_records("partner.inbound.torino")
    assert [json.loads(r.value)["id"] for r in on_torino] == [sent.id]
    assert await intake.raw_records("partner.inbound", missing_ok=True) == []


async def test_refusals_are_answered_with_field_and_reason_and_change_nothing(
    intake: IntakeUnderTest, uid: str
) -> None:
    topic = partner_inbound("torino", intake.prefix)
    aurora_key = intake.signing_keys["coop-aurora"]
    async with intake.partner("coop-aurora", "torino") as client:
        ok = await client.emit(registration(f"y-1-{uid}", client, uid))
        await wait_rows(intake, "select count(*) from persons where person_id = $1", 1, f"y-1-{uid}")
        # Out of order: closing a case that was never opened.
        closing = await client.emit(
            inbound.CaseClosureSubmitted(
                case_id=f"never-opened-{uid}", outcome="dropped_out", closed_on=date(2026, 3, 1)
            )
        )
        # Invalid data: a birth date that is not a date.
        bad = client.envelope(registration(f"y-2-{uid}", client, uid))
        bad = bad.model_copy(update={"data": {**bad.data, "birth_date": "12/03/1985"}})
        # Claims Trieste while the partner works in Torino.
        elsewhere = client.envelope(registration(f"y-3-{uid}", client, uid)).model_copy(update={"city": "trieste"})
        # Unknown type.
        unknown = client.envelope(registration(f"y-4-{uid}", client, uid)).model_copy(
            update={"type": "lgnet.partner.nonsense"}
        )
        # A number where the published schema says a date string: refused, not read as a Unix timestamp.
        opening = inbound.CaseOpeningSubmitted(
            case_id=f"c-1-{uid}", household_id=f"h-1-{uid}", action_area="taking_charge", channel="desk",
            opened_on=date(2026, 11, 30),
        )  # fmt: skip
        untyped = client.envelope(opening)
        untyped = untyped.model_copy(update={"data": {**untyped.data, "opened_on": 1764460800}})
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        for env in (bad, elsewhere, unknown, untyped):
            value, headers = env.to_structured()
            headers.append(signing.sign(aurora_key, "coop-aurora-key", value, headers))
            await producer.send_and_wait(topic, value, key=env.key, headers=headers)
        not_json = b"{oops"
        at = await producer.send_and_wait(
            topic, not_json, key=b"x", headers=[signing.sign(aurora_key, "coop-aurora-key", not_json, [])]
        )
        # An envelope with an attribute the contract does not have, and a valid id: the rejection names that id (an
        # outside test got "<partition>:<offset>" and could not match it to what it sent).
        extra_env = client.envelope(registration(f"y-7-{uid}", client, uid))
        value, headers = extra_env.to_structured()
        value = json.dumps({**json.loads(value), "foo": "bar"}).encode()
        headers.append(signing.sign(aurora_key, "coop-aurora-key", value, headers))
        await producer.send_and_wait(topic, value, key=extra_env.key, headers=headers)
        # Tampered: signed, then changed.
        tampered = client.envelope(registration(f"y-5-{uid}", client, uid))
        value, headers = tampered.to_structured()
        sig = signing.sign(aurora_key, "coop-aurora-key", value, headers)
        changed = value.replace(f"y-5-{uid}".encode(), f"y-6-{uid}".encode())
        await producer.send_and_wait(topic, changed, key=b"y-6", headers=[*headers, sig])
    finally:
        await producer.stop()
    sent = {e.id for e in (ok, closing, bad, elsewhere, unknown, untyped, extra_env, tampered)}
    answers = await rejections(intake, "coop-aurora", 7, {*sent, f"{at.partition}:{at.offset}"})
    by_id = {a.inbound_event_id: a for a in answers}
    assert by_id[extra_env.id].field == "foo" and by_id[extra_env.id].inbound_type == extra_env.type, by_id
    assert (by_id[untyped.id].kind, by_id[untyped.id].field) == ("invalid_data", "data.opened_on")
    assert (by_id[closing.id].kind, by_id[closing.id].field) == ("not_found", "data.case_id")
    assert (by_id[bad.id].kind, by_id[bad.id].field) == ("invalid_data", "data.birth_date")
    assert (by_id[elsewhere.id].kind, by_id[elsewhere.id].field) == ("forbidden", "city")
    assert (by_id[unknown.id].kind, by_id[unknown.id].field) == ("unknown_type", "type")
    # Not JSON but signed: its signer is known and answered. Tampered: not authentic, so dead-lettered, not answered.
    assert "not_json" in {a.kind for a in answers} and "unauthenticated" not in {a.kind for a in answers}
    assert ok.id not in by_id
    assert await dead_letter_kinds(intake) == ["unauthenticated"]
    async with intake.pool.acquire() as conn:
        mine = f"%{uid}%"
        assert await conn.fetchval("select array_agg(person_id) from persons where person_id like $1", mine) == [
            f"y-1-{uid}"
        ]
        assert await conn.fetchval("select count(*) from cases where case_id like $1", mine) == 0


async def test_a_rejection_names_every_field_at_fault_at_once(intake: IntakeUnderTest, uid: str) -> None:
    """A partner learnt of its record's mistakes one answer at a time (fix one, send again, learn the next): the
    rejection's `errors` (InboundRejected v2) names each field at fault, the first being `field` and `reason`."""
    async with intake.partner("coop-aurora", "torino") as client:
        person = registration(f"y-9-{uid}", client, uid, fiscal_code="KNKMNA90E41Z335X").model_copy(
            update={"nationality": "XX"}
        )
        wrong_rules = await client.emit(person)  # a country that is none, a fiscal code that is wrong
        opening = inbound.CaseOpeningSubmitted(
            case_id=f"c-9-{uid}", household_id=f"h-9-{uid}", action_area="taking_charge", channel="desk",
            opened_on=date(2026, 3, 1),
        )  # fmt: skip
        wrong_types = client.envelope(opening)  # two fields of the wrong form
        wrong_types = wrong_types.model_copy(
            update={"data": {**wrong_types.data, "opened_on": 1764460800, "channel": "carrier pigeon"}}
        )
    await send_signed(intake, [wrong_types])
    sent = {wrong_rules.id, wrong_types.id}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, sent)}
    rules, types = answers[wrong_rules.id], answers[wrong_types.id]
    assert [(e.field, e.reason[:30]) for e in rules.errors] == [
        ("data.nationality", "'XX' is not an ISO 3166-1 alph"),
        ("data.identity.fiscal_code", rules.errors[1].reason[:30]),
    ], rules
    assert (rules.field, rules.reason) == (rules.errors[0].field, rules.errors[0].reason)
    assert {e.field for e in types.errors} == {"data.opened_on", "data.channel"}, types
    assert types.kind == "invalid_data" and types.field == types.errors[0].field


async def dead_letters(intake: IntakeUnderTest) -> list[Any]:
    """The dead letters of records sent since this test began (where each came from is in its headers)."""

    def sent_since(record: Any) -> bool:
        h = {k: v.decode() for k, v in record.headers}
        at = (h["dlq.original.topic"], int(h["dlq.original.partition"]))
        return int(h["dlq.original.offset"]) >= intake.since.get(at, 0)

    return [r for r in await intake.raw_records("deadletter", missing_ok=True) if sent_since(r)]


async def dead_letter_kinds(intake: IntakeUnderTest, want: int = 1) -> list[str]:
    records: list[Any] = []
    for _ in range(60):
        records = await dead_letters(intake)
        if len(records) >= want:
            break
        await asyncio.sleep(0.25)
    return sorted(dict(r.headers)["dlq.error.kind"].decode() for r in records)


async def test_an_unsigned_record_cannot_burn_a_partners_event_id(intake: IntakeUnderTest, uid: str) -> None:
    """Someone copies a partner's (source, id) into an unsigned record first: it is dead-lettered by its position,
    and the partner's real, signed event with that id is still processed."""
    async with intake.partner("coop-aurora", "torino") as client:
        env = client.envelope(registration(f"y-1-{uid}", client, uid))
    topic = partner_inbound("torino", intake.prefix)
    value, headers = env.to_structured()
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=env.key, headers=headers)  # unsigned copy, first
        signed = [*headers, signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers)]
        await producer.send_and_wait(topic, value, key=env.key, headers=signed)
    finally:
        await producer.stop()
    await wait_rows(intake, "select count(*) from persons where person_id = $1", 1, f"y-1-{uid}")
    assert await dead_letter_kinds(intake) == ["unauthenticated"]


async def test_a_partner_cannot_take_another_partners_event_ids_by_its_source(
    intake: IntakeUnderTest, uid: str
) -> None:
    """Intake keeps one event per (source, id). coop-borgo signs a record as itself but with coop-aurora's source
    and an id coop-aurora will use: it is refused (`forbidden`, `source`) and remembered by its position, so
    coop-aurora's own event with that id is still processed, not dropped as a duplicate without an answer."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        real = aurora.envelope(registration(f"src-1-{uid}", aurora, uid))
    forged = real.model_copy(update={"partner": "coop-borgo", "partitionkey": "coop-borgo"})
    forged_value, forged_headers = forged.to_structured()
    forged_headers.append(signing.sign(intake.signing_keys["coop-borgo"], "coop-borgo-key", forged_value, []))
    value, headers = real.to_structured()
    headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        topic = partner_inbound("torino", intake.prefix)
        await producer.send_and_wait(topic, forged_value, key=b"coop-borgo", headers=forged_headers)
        await producer.send_and_wait(topic, value, key=real.key, headers=headers)
    finally:
        await producer.stop()
    await wait_rows(
        intake, "select count(*) from persons where person_id = $1 and registered_by = 'coop-aurora'", 1, f"src-1-{uid}"
    )
    [answer] = await rejections(intake, "coop-borgo", 1, {real.id})
    assert (answer.kind, answer.field, answer.inbound_event_id) == ("forbidden", "source", real.id)
    assert "signed by coop-borgo" in answer.reason


async def test_a_source_of_a_partners_own_is_scoped_by_its_signer(intake: IntakeUnderTest, uid: str) -> None:
    """A partner may name its system in `source` as it likes (`urn:coop-aurora:cms`): another partner sending records
    under that source first, with the ids coop-aurora will use, takes nothing from it: each signer has its own
    (source, id), and both events are processed."""
    source = "urn:coop-aurora:cms"
    async with intake.partner("coop-borgo", "torino") as borgo:
        first = borgo.envelope(registration(f"cs-borgo-{uid}", borgo, uid)).model_copy(update={"source": source})
    async with intake.partner("coop-aurora", "torino") as aurora:
        real = aurora.envelope(registration(f"cs-aurora-{uid}", aurora, uid)).model_copy(
            update={"source": source, "id": first.id}
        )
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        for env, partner in ((first, "coop-borgo"), (real, "coop-aurora")):
            value, headers = env.to_structured()
            headers.append(signing.sign(intake.signing_keys[partner], f"{partner}-key", value, headers))
            await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    await wait_rows(
        intake,
        "select count(*) from persons where (person_id, registered_by) in (($1, 'coop-borgo'), ($2, 'coop-aurora'))",
        2,
        f"cs-borgo-{uid}",
        f"cs-aurora-{uid}",
    )


async def test_a_forged_claim_is_answered_to_its_signer_not_to_the_partner_it_names(
    intake: IntakeUnderTest, uid: str
) -> None:
    async with intake.partner("coop-aurora", "torino") as aurora:
        env = aurora.envelope(registration(f"z-1-{uid}", aurora, uid)).model_copy(update={"partner": "coop-borgo"})
    value, headers = env.to_structured()
    headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    answers = await rejections(intake, "coop-aurora", 1, {env.id})
    assert (answers[0].kind, answers[0].field) == ("forbidden", "partner")
    records = await answers_about(intake, "coop-aurora", {env.id})
    assert [r.key for r in records] == [b"coop-aurora"]
    assert await answers_about(intake, "coop-borgo", {env.id}) == [], "nothing written into coop-borgo's feed"


async def test_unknown_partner_is_dead_lettered_not_answered(intake: IntakeUnderTest, uid: str) -> None:
    stranger = Ed25519PrivateKey.generate()
    async with intake.partner("coop-aurora", "torino") as real:
        env = real.envelope(registration(f"z-1-{uid}", real, uid)).model_copy(update={"partner": "coop-ghost"})
    value, headers = env.to_structured()
    headers.append(signing.sign(stranger, "coop-ghost-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    assert await dead_letter_kinds(intake) == ["unauthenticated"]
    assert await answers_about(intake, "coop-ghost", {env.id}) == [], "an unauthenticated record is never answered"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id like $1", f"%{uid}%") == 0


async def test_a_record_claiming_another_partner_is_answered_to_its_signer(intake: IntakeUnderTest, uid: str) -> None:
    """Each partner's rejection topic holds only answers about its own records: aurora signing a record that
    claims to be borgo's is told so on aurora's topic; borgo's stays empty."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        env = aurora.envelope(registration(f"w-1-{uid}", aurora, uid)).model_copy(update={"partner": "coop-borgo"})
    value, headers = env.to_structured()
    headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    [answer] = await rejections(intake, "coop-aurora", 1, {env.id})
    assert (answer.inbound_event_id, answer.kind, answer.field) == (env.id, "forbidden", "partner")
    assert await answers_about(intake, "coop-borgo", {env.id}) == []  # never answered


async def test_a_record_without_its_partner_or_with_a_facts_attribute_is_not_a_partners_cloudevent(
    intake: IntakeUnderTest, uid: str
) -> None:
    """docs/partners.md, "The envelope": `partner` is required and no other attribute than those listed is allowed.
    A record without it was answered `forbidden` "…, not None", and one carrying `signingkey` (the key id of a
    deployment's signed fact) was accepted: both are answered `not_cloudevent` naming the attribute."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        base = aurora.envelope(registration(f"np-1-{uid}", aurora, uid))
    nameless = base.model_copy(update={"id": f"np-nameless-{uid}", "partner": None})
    fact_like = base.model_copy(update={"id": f"np-signingkey-{uid}", "signingkey": "torino-intake-1"})
    await send_signed(intake, [nameless, fact_like])
    sent = {nameless.id, fact_like.id}
    answers = {a.inbound_event_id: (a.kind, a.field) for a in await rejections(intake, "coop-aurora", 2, sent)}
    assert answers == {nameless.id: ("not_cloudevent", "partner"), fact_like.id: ("not_cloudevent", "signingkey")}
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"np-1-{uid}") == 0


async def test_replaying_an_inbound_event_has_one_effect(intake: IntakeUnderTest, uid: str) -> None:
    async with intake.partner("coop-aurora", "torino") as client:
        env = client.envelope(registration(f"y-1-{uid}", client, uid))
    value, headers = env.to_structured()
    headers.append(signing.sign(intake.signing_keys["coop-aurora"], "coop-aurora-key", value, headers))
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait(partner_inbound("torino", intake.prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()
    await wait_rows(
        intake, "select count(*) from inbox where outcome = 'processed' and event_id like $1", 1, f"%{env.id}%"
    )
    await asyncio.sleep(2)
    events = await my_events(intake, uid)
    assert [e.person_id for e in events if isinstance(e, ev.PersonRegistered)] == [f"y-1-{uid}"]
    assert await rejections_count(intake, {env.id}) == 0


async def test_a_record_accepted_before_the_partition_key_rule_and_read_again_stays_accepted(
    intake: IntakeUnderTest, uid: str
) -> None:
    """docs/partners.md, "Partition key and ordering": a record keyed otherwise than by its partner's id is refused
    since 2026-12-07. Offsets reach Kafka after their effects, so a restart (the upgrade's) reads again records that
    were processed: one keyed by a person that the version before accepted is a duplicate as before — not answered
    as refused (its partner would send it again as new), nothing changed. A new record keyed so is refused."""
    async with intake.partner("coop-aurora", "torino") as client:
        before, after = (
            client.envelope(registration(pid, client, uid)).model_copy(update={"partitionkey": pid})
            for pid in (f"y-1-{uid}", f"y-2-{uid}")
        )
    async with intake.pool.acquire() as conn:  # what the gatekeeper before the rule recorded when it accepted it
        await conn.execute(
            "insert into inbox (consumer, event_id, outcome) values ('intake.gatekeeper', $1, 'processed')",
            f"{before.source}|{before.id}",
        )
    topic = partner_inbound("torino", intake.prefix)
    at = [
        f"{topic}:{p}"
        for p in await send_signed_values(intake, [(*e.to_structured(), b"coop-aurora") for e in (before, after)])
    ]
    # One partition, in order: once `after` is refused (remembered by its place: its claims failed), `before` has had
    # its outcome, which the inbox would say too.
    await wait_rows(intake, "select count(*) from inbox where event_id = $1 and outcome = 'rejected'", 1, at[1])
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from inbox where event_id = $1", at[0]) == 0  # not refused
        assert await conn.fetchval("select count(*) from persons where person_id like $1", f"%{uid}%") == 0
    assert await rejections_count(intake, {before.id}) == 0


async def test_a_record_accepted_before_any_later_rule_and_read_again_stays_accepted(
    intake: IntakeUnderTest, uid: str
) -> None:
    """The partition key's rule is not the only one added since records were accepted: a `correlationid` holding a
    phone number (refused at the envelope since 2026-12-07) or a traceparent that is no W3C trace context were
    accepted before. Read again after an upgrade's restart (offsets reach Kafka after the effects), such a record was
    answered as refused — its partner told that an accepted record was not. Whatever rule refuses it now, a record
    this consumer processed before stays a duplicate: not answered, nothing changed. A new record so is refused."""
    async with intake.partner("coop-aurora", "torino") as client:
        phone, trace = (
            client.envelope(registration(pid, client, uid)).model_copy(update=change)
            for pid, change in ((f"y-1-{uid}", {"correlationid": "+39 347 1234567"}),
                                (f"y-2-{uid}", {"traceparent": "not-a-trace-context"}))
        )  # fmt: skip
        fresh = client.envelope(registration(f"y-3-{uid}", client, uid)).model_copy(
            update={"correlationid": "+39 347 7654321"}
        )
    async with intake.pool.acquire() as conn:  # what the gatekeeper before the rules recorded when it accepted them
        for before in (phone, trace):
            await conn.execute(
                "insert into inbox (consumer, event_id, outcome) values ('intake.gatekeeper', $1, 'processed')",
                f"{before.source}|{before.id}",
            )
    at = [f"{partner_inbound('torino', intake.prefix)}:{p}" for p in await send_signed(intake, [phone, trace, fresh])]
    await wait_rows(intake, "select count(*) from inbox where event_id = $1 and outcome = 'rejected'", 1, at[2])
    async with intake.pool.acquire() as conn:  # one partition, in order: the first two had their outcome before
        for place in at[:2]:
            assert await conn.fetchval("select count(*) from inbox where event_id = $1", place) == 0, place
        assert await conn.fetchval("select count(*) from persons where person_id like $1", f"%{uid}%") == 0
    assert await rejections_count(intake, {phone.id, trace.id}) == 0
    [answer] = await rejections(intake, "coop-aurora", 1, {fresh.id})
    assert (answer.kind, answer.field) == ("not_cloudevent", "correlationid")


async def test_a_corrected_event_sent_again_under_its_refused_id_is_processed_and_the_same_bytes_answered_once(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A partner fixed a refused registration and sent it again under the same id: it was dropped as a duplicate of
    the refused one, unanswered, so "no answer means accepted" told the partner a lost record was in. A refusal is
    remembered with what was refused: the same bytes again are the refused record's retry (answered once), a
    corrected record under that id is processed."""
    async with intake.partner("coop-aurora", "torino") as client:
        right = client.envelope(registration(f"y-7-{uid}", client, uid))
    wrong = right.model_copy(update={"data": {**right.data, "nationality": "XX"}})
    await send_signed(intake, [wrong, wrong, right, right])
    await wait_rows(intake, "select count(*) from persons where person_id = $1", 1, f"y-7-{uid}")
    await asyncio.sleep(2)
    [answer] = await rejections(intake, "coop-aurora", 1, {right.id})
    assert (answer.inbound_event_id, answer.field) == (right.id, "data.nationality")
    assert await rejections_count(intake, {right.id}) == 1
    events = await my_events(intake, uid)
    assert [e.person_id for e in events if isinstance(e, ev.PersonRegistered)] == [f"y-7-{uid}"]


async def rejections_count(intake: IntakeUnderTest, mine: Collection[str]) -> int:
    """How many answers coop-aurora's rejection topic holds about this test's records (`mine`: their ids), none when
    the topic was never needed (not waited for: the caller has let intake work)."""
    return len(await answers_about(intake, "coop-aurora", mine))


async def test_one_person_sent_by_two_partners_at_once_is_one_person(intake: IntakeUnderTest, uid: str) -> None:
    """Torino's two partners register the same people at the same moment. Their records are on different
    partitions, processed concurrently, and neither transaction sees the other's person before it commits: still,
    every fiscal code ends up as one surviving person, the other merged into it."""
    people = [
        (
            date(1980 + i, 1 + i % 12, 1 + i),
            codicefiscale.encode("Haddad", "Yusuf", "M", f"{1 + i:02d}/{1 + i % 12:02d}/{1980 + i}", "Z240"),
        )
        for i in range(20)
    ]
    async with intake.partner("coop-aurora", "torino") as aurora, intake.partner("coop-borgo", "torino") as borgo:
        sends = [
            client.emit(registration(f"{client.partner}-{i}-{uid}", client, uid, fiscal_code=fc, born=born))
            for i, (born, fc) in enumerate(people)
            for client in (aurora, borgo)
        ]
        await asyncio.gather(*sends)
    # Births of 1980-1999, no other test's (`born_in`): its fiscal codes are its own.
    mine = f"%-{uid}"
    await wait_rows(intake, "select count(*) from persons where person_id like $1", 40, mine)
    async with intake.pool.acquire() as conn:
        surviving = await conn.fetch(
            "select fiscal_code_hash, count(*) from persons where merged_into is null and person_id like $1"
            " group by 1 having count(*) > 1",
            mine,
        )
        merged = await conn.fetchval(
            "select count(*) from persons where merged_into is not null and person_id like $1", mine
        )
    assert surviving == [] and merged == 20
    events = await my_events(intake, uid, want=60)
    assert sum(isinstance(e, ev.PersonsMerged) for e in events) == 20


async def test_birth_dates_arrive_sealed_and_leave_sealed(intake: IntakeUnderTest, uid: str) -> None:
    """Registration v2 seals the birth date to intake's key; intake's person_registered v3 seals it with the
    person's key and says only whether they are a minor. v1 (birth date in clear) is still accepted until its
    deprecation date; a v2 with a clear birth date is refused."""
    async with intake.partner("coop-aurora", "torino") as client:
        s1, s2 = f"s-1-{uid}", f"s-2-{uid}"
        await client.emit(registration(s1, client, uid, born=date(2012, 6, 1)))
        v1 = inbound.PersonRegistrationSubmittedV1(
            person_id=s2, birth_date=date(1970, 1, 1), sex="male", nationality="SY"
        )
        await client.emit(v1)
        clear_v2 = await client.emit(
            inbound.PersonRegistrationSubmitted(
                person_id=f"s-3-{uid}", birth_date=date(1970, 1, 1), sex="male", nationality="SY"
            )
        )
        unsealed = await client.emit(
            inbound.PersonRegistrationSubmitted(person_id=f"s-4-{uid}", sex="male", nationality="SY")
        )
    await wait_rows(intake, "select count(*) from persons where person_id like $1", 2, f"%-{uid}")
    async with intake.pool.acquire() as conn:
        births = dict(
            await conn.fetch(
                "select person_id, birth_date from persons where person_id like $1 order by person_id", f"%-{uid}"
            )
        )
    assert births == {s1: date(2012, 6, 1), s2: date(1970, 1, 1)}
    registered = {e.person_id: e for e in await my_events(intake, uid, want=2) if isinstance(e, ev.PersonRegistered)}
    assert registered[s1].birth_date is None and registered[s1].identity.birth_date is not None
    assert registered[s1].minor is True and registered[s2].minor is False
    assert registered[s2].birth_date is None  # a v1 partner's clear birth date is sealed from here on
    for record in await intake.raw_records("intake.events"):  # all since this test began, not only its own
        assert b"2012-06-01" not in record.value and b"1970-01-01" not in record.value
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, {clear_v2.id, unsealed.id})}
    assert answers[clear_v2.id].field == "data.birth_date" and "sealed" in answers[clear_v2.id].reason
    assert answers[unsealed.id].field == "data.identity.birth_date"


async def test_partners_assess_vulnerabilities_per_person_with_known_codes(intake: IntakeUnderTest, uid: str) -> None:
    """v2 names whose each vulnerability is; a v1 household list is taken for a one-person household (whose else);
    an unknown code is answered with the field and the list of valid codes."""

    def assessment(case: str, **kw: Any) -> dict[str, Any]:
        return {"case_id": case, "housing_situation": ev.HousingSituation.HOMELESS, "monthly_income_cents": 0,
                "employment_status": ev.EmploymentStatus.UNEMPLOYED, "assessed_on": date(2026, 2, 2), **kw}  # fmt: skip

    y1, case1 = f"y-1-{uid}", f"case-1-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)  # opened at the desk, as it was here
        per_person = await client.emit(
            inbound.NeedsAssessmentSubmitted(**assessment(case1, vulnerabilities_by_person={y1: ["elderly"]}))
        )
        # Built without validation, as a partner's own code (any language) might send it.
        unknown = await client.emit(
            inbound.NeedsAssessmentSubmitted.model_construct(
                **assessment(case1, vulnerabilities=[], vulnerabilities_by_person={y1: ["anything_goes_xyz"]})
            )
        )
        old = await client.emit(inbound.NeedsAssessmentSubmittedV1(**assessment(case1, vulnerabilities=["addiction"])))
    [answer] = await rejections(intake, "coop-aurora", 1, {per_person.id, unknown.id, old.id})
    assert (answer.inbound_event_id, answer.kind) == (unknown.id, "invalid_data")
    assert answer.field == f"data.vulnerabilities_by_person.{y1}.0"
    assert "anything_goes_xyz" in answer.reason and "victim_of_trafficking" in answer.reason
    assessed = [e for e in await my_events(intake, uid, "intake.special", want=2) if isinstance(e, ev.NeedsAssessed)]
    assert [a.vulnerabilities_by_person for a in assessed] == [{y1: ["elderly"]}, {y1: ["addiction"]}]
    assert per_person.id != old.id


async def test_values_no_database_can_store_are_answered_not_accepted_or_dead_lettered(
    intake: IntakeUnderTest, uid: str
) -> None:
    """The rule HTTP inputs follow (lgnet_shared.storable) holds for partners' events too: a whole number beyond
    PostgreSQL's bigint or text with a NUL is answered naming the field. Accepted, the income reached housing,
    which cannot store it and dead-letters the assessment; the NUL made intake's own statement fail until the
    record was dead-lettered, unanswered. The partition goes on: a good assessment after them is accepted."""

    def assessment(income: int) -> inbound.NeedsAssessmentSubmitted:
        valid = inbound.NeedsAssessmentSubmitted(
            case_id=f"case-1-{uid}",
            housing_situation=ev.HousingSituation.HOMELESS,
            monthly_income_cents=0,
            employment_status=ev.EmploymentStatus.UNEMPLOYED,
            assessed_on=date(2026, 2, 2),
        )
        return valid.model_copy(update={"monthly_income_cents": income})  # unvalidated, as any partner's code may

    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)
        huge = await client.emit(assessment(2**63))
        nul = await client.emit(
            inbound.PlanSubmitted(
                case_id=f"case-1-{uid}", plan_id=f"plan\x00-1-{uid}", objectives=["housing"], agreed_on=date(2026, 2, 3)
            )
        )
        good = await client.emit(assessment(2**63 - 1))  # the largest a database stores
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, {huge.id, nul.id, good.id})}
    assert (answers[huge.id].kind, answers[huge.id].field) == ("invalid_data", "data.monthly_income_cents")
    assert "out of range" in answers[huge.id].reason
    assert (answers[nul.id].kind, answers[nul.id].field) == ("invalid_data", "data.plan_id")
    assert "NUL" in answers[nul.id].reason
    assessed = [e for e in await my_events(intake, uid, "intake.special") if isinstance(e, ev.NeedsAssessed)]
    assert [a.monthly_income_cents for a in assessed] == [2**63 - 1]
    assert good.id not in answers
    assert await dead_letters(intake) == []


async def test_a_name_of_spaces_is_refused_over_kafka_as_over_http(intake: IntakeUnderTest, uid: str) -> None:
    """From an outside test: over HTTP a name of spaces only is refused (intake's `Text`); a partner's event with one
    must be answered the same way, naming the field, and register nobody."""
    async with intake.partner("coop-aurora", "torino") as client:
        blank = registration(f"y-1-{uid}", client, uid)
        blank = blank.model_copy(
            update={"identity": blank.identity.model_copy(update={"given_name": client.seal("given_name", "   ")})}
        )
        sent = await client.emit(blank)
        padded = registration(f"y-2-{uid}", client, uid)
        padded = padded.model_copy(
            update={"identity": padded.identity.model_copy(update={"family_name": client.seal("family_name", " Ali ")})}
        )
        padded_sent = await client.emit(padded)
    [answer] = await rejections(intake, "coop-aurora", 1, {sent.id, padded_sent.id})
    assert (answer.inbound_event_id, answer.kind, answer.field) == (sent.id, "invalid", "data.identity.given_name")
    await wait_rows(intake, "select count(*) from persons where person_id like $1", 1, f"%-{uid}")
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select array_agg(person_id) from persons where person_id like $1", f"%-{uid}") == [
            f"y-2-{uid}"
        ]
    async with intake.client("staff-torino") as staff:
        shown = (await staff.get(f"/persons/y-2-{uid}")).json()["identity"]
        assert shown["family_name"] == "Ali"  # stripped, as over HTTP


async def test_a_sealed_value_with_a_nul_is_refused_over_kafka_as_over_http(intake: IntakeUnderTest, uid: str) -> None:
    """From an outside test: over HTTP a name holding a NUL is refused ("contains a NUL character"); sealed in a
    partner's registration it was registered and read back. The rejection names the field; nobody is registered."""
    async with intake.partner("coop-aurora", "torino") as client:
        nul = registration(f"n-1-{uid}", client, uid)
        nul = nul.model_copy(
            update={"identity": nul.identity.model_copy(update={"given_name": client.seal("given_name", "a\x00b")})}
        )
        sent = await client.emit(nul)
    [answer] = await rejections(intake, "coop-aurora", 1, {sent.id})
    assert (answer.inbound_event_id, answer.kind, answer.field) == (sent.id, "invalid", "data.identity.given_name")
    assert "NUL" in answer.reason
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id like $1", f"%-{uid}") == 0


async def test_a_plan_objective_outside_the_vocabulary_is_answered_naming_it(intake: IntakeUnderTest, uid: str) -> None:
    """From an outside test: a plan with the objective `bogus` was accepted. The rejection names the objective and
    lists the codes of the `plan_objective` list; nothing is stored or published."""
    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)
        plan = inbound.PlanSubmitted(
            case_id=f"case-1-{uid}", plan_id=f"plan-1-{uid}", objectives=["housing"], agreed_on=date(2026, 2, 3)
        )
        bogus = await client.emit(plan.model_copy(update={"objectives": ["bogus"]}))  # unvalidated, as partners' code
    [answer] = await rejections(intake, "coop-aurora", 1, {bogus.id})
    assert (answer.inbound_event_id, answer.kind, answer.field) == (bogus.id, "invalid_data", "data.objectives.0")
    assert "'bogus'" in answer.reason and "money_management" in answer.reason
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from plans where case_id = $1", f"case-1-{uid}") == 0
    assert not [e for e in await my_events(intake, uid, want=3) if isinstance(e, ev.IndividualPlanAgreed)]


async def test_a_whole_identity_sealed_at_once_is_registered_and_each_fault_in_it_named(
    intake: IntakeUnderTest, uid: str
) -> None:
    """Registration v3 seals the whole identity at once (`identity.all`: one HPKE encapsulation instead of one per
    field). It registers the person as the fields one by one do; what is wrong inside is answered naming the field,
    what is wrong with the whole naming `identity.all`, and nothing refused is stored."""

    def v3(pid: str, identity: inbound.PartnerIdentityV3) -> inbound.PersonRegistrationSubmitted:
        return inbound.PersonRegistrationSubmitted(person_id=pid, sex="female", nationality="NG", identity=identity)

    async with intake.partner("coop-aurora", "torino") as client:
        whole = client.seal_identity(date(2011, 4, 2), given_name="Amina", family_name="Okafor", phone=None)
        w1 = f"w-1-{uid}"
        registered_sent = await client.emit(v3(w1, whole))

        def sealed(text: str, field: str = "all") -> inbound.PartnerIdentityV3:
            return inbound.PartnerIdentityV3(all=client.seal(field, text))

        faults = {
            "both forms": (whole.model_copy(update={"given_name": client.seal("given_name", "Amina")}), "all"),
            "not JSON": (sealed("Amina Okafor"), "all"),
            "not an object": (sealed('["Amina"]'), "all"),
            "sealed for another field": (sealed('{"birth_date": "2011-04-02"}', field="given_name"), "all"),
            "unknown member": (sealed('{"birth_date": "2011-04-02", "nickname": "Mimi"}'), "all"),
            # A member's name is the partner's text: never repeated in the answer (it could be a name, or not
            # even be storable text).
            "a name as a member": (sealed('{"birth_date": "2011-04-02", "Amina Okafor": "x"}'), "all"),
            "a surrogate as a member": (sealed('{"birth_date": "2011-04-02", "\\ud800": "x"}'), "all"),
            "too long": (sealed(json.dumps({"birth_date": "2011-04-02", "address": "x" * 9000})), "all"),
            "nested too deep": (sealed("[" * 3000 + "]" * 3000), "all"),
            "not a string": (sealed('{"birth_date": 20110402}'), "birth_date"),
            "given twice": (sealed('{"birth_date": "2011-04-02", "birth_date": "1990-01-01"}'), "birth_date"),
            "a NUL": (sealed('{"birth_date": "2011-04-02", "given_name": "a\\u0000b"}'), "given_name"),
            "no birth date": (sealed('{"given_name": "Amina"}'), "birth_date"),
            "not a date": (sealed('{"birth_date": "02/04/2011"}'), "birth_date"),
            "a compact date": (sealed('{"birth_date": "20110402"}'), "birth_date"),
            # The members' own rules, named alike (the future birth date was `data.birth_date`, a field not sent)
            "born in the future": (
                sealed(json.dumps({"birth_date": str(clock.today() + timedelta(days=1))})),
                "birth_date",
            ),
            "born too long ago": (sealed('{"birth_date": "1880-01-01"}'), "birth_date"),
            "a wrong fiscal code": (
                sealed('{"birth_date": "2011-04-02", "fiscal_code": "RSSMRA80A01L219X"}'),
                "fiscal_code",
            ),
            "a phone too short": (sealed('{"birth_date": "2011-04-02", "phone": "12"}'), "phone"),
            "a name too long": (
                sealed(json.dumps({"birth_date": "2011-04-02", "family_name": "x" * 201})),
                "family_name",
            ),
        }
        sent = {
            what: await client.emit(v3(f"f-{i}-{uid}", identity))
            for i, (what, (identity, _)) in enumerate(faults.items())
        }
    await wait_rows(intake, "select count(*) from persons where person_id like $1", 1, f"%-{uid}")
    mine = {registered_sent.id, *(env.id for env in sent.values())}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", len(faults), mine)}
    named = {what: answers[env.id].field for what, env in sent.items()}
    assert named == {what: f"data.identity.{field}" for what, (_, field) in faults.items()}, answers
    assert not [a for a in answers.values() if "Amina" in a.reason or "Amina" in a.field]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select array_agg(person_id) from persons where person_id like $1", f"%-{uid}") == [
            w1
        ]
        assert await conn.fetchval("select birth_date from persons where person_id = $1", w1) == date(2011, 4, 2)
    [registered] = [e for e in await my_events(intake, uid) if isinstance(e, ev.PersonRegistered)]
    assert registered.minor is True and registered.identity.family_name is not None
    assert registered.identity.family_name.kid == w1  # re-sealed with the person's own key
    async with intake.client("staff-torino") as staff:
        shown = (await staff.get(f"/persons/{w1}")).json()["identity"]
    assert (shown["given_name"], shown["family_name"], shown.get("phone")) == ("Amina", "Okafor", None)


async def test_an_envelope_time_that_is_no_instant_in_utc_is_answered_naming_time(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: `time` "9999-12-31T20:00:00-05:00" is RFC 3339 with its offset, as the envelope asks, but
    in UTC it falls in the year 10000 (and "0001-01-01T00:30:00+01:00" in the year 0). The record was answered
    `not_cloudevent` with field "" and reason "cannot be read: OverflowError": nothing a partner can act on. Answered
    naming `time`, with the range."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        base = aurora.envelope(registration(f"tz-1-{uid}", aurora, uid))
    far = [
        base.model_copy(update={"id": f"tz-{i}-{uid}", "time": datetime.fromisoformat(t)})
        for i, t in enumerate(("9999-12-31T20:00:00-05:00", "0001-01-01T00:30:00+01:00"))
    ]
    await send_signed(intake, far)
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, {env.id for env in far})}
    for env in far:
        assert (answers[env.id].kind, answers[env.id].field) == ("not_cloudevent", "time"), answers[env.id]
        assert "UTC" in answers[env.id].reason, answers[env.id]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"tz-1-{uid}") == 0


async def test_an_envelope_time_given_as_a_number_is_answered_naming_time(intake: IntakeUnderTest, uid: str) -> None:
    """`"time": 0` (or `"1764979200"`) was read as a Unix timestamp — a record of 1970, accepted without a word — where
    the contract says an RFC 3339 date-time. Answered `not_cloudevent` naming `time`."""
    async with intake.partner("coop-aurora", "torino") as aurora:
        base = aurora.envelope(registration(f"ts-1-{uid}", aurora, uid))
    value, headers = base.to_structured()
    sent = []
    ids = [f"ts-{i}-{uid}" for i in range(3)]
    for i, when in enumerate((0, 1764979200.5, "1764979200")):
        doc = {**json.loads(value), "id": ids[i], "time": when}
        sent.append((json.dumps(doc).encode(), headers, base.key))
    await send_signed_values(intake, sent)
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", len(sent), ids)}
    for id_ in ids:
        assert (answers[id_].kind, answers[id_].field) == ("not_cloudevent", "time"), answers[id_]
        assert "RFC 3339" in answers[id_].reason
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"ts-1-{uid}") == 0


async def test_a_member_who_left_and_rejoins_the_same_day_is_answered_not_dead_lettered(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a household formed today, a member reported as leaving today (a mistake) and then as
    joining again today. Intake keeps one membership per (household, person, day joined): the second insert of the
    same day broke that key, and the record, retried three times, went to the dead letters unanswered (over HTTP: a
    500). The same day's rejoining reopens the membership; a rejoining dated before the person left would overlap
    the membership that ended, and is refused naming `on`."""
    today = clock.today()
    rj1, rj2, rjh = f"rj-1-{uid}", f"rj-2-{uid}", f"rj-h-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        sent = [
            await client.emit(e)
            for e in (registration(rj1, client, uid), registration(rj2, client, uid, born=born_in(uid, 1)))
        ]
        sent.append(
            await client.emit(
                inbound.HouseholdFormationSubmitted(household_id=rjh, reference_person_id=rj1, member_ids=[rj1, rj2])
            )
        )
        change = {"household_id": rjh, "person_id": rj2, "reason": "moved", "on": today}
        sent.append(await client.emit(inbound.HouseholdMemberChangeSubmitted(**change, change="left")))
        rejoins = {**change, "reason": "reunification"}  # why one joins (member_joined_reason), not why one leaves
        back = await client.emit(inbound.HouseholdMemberChangeSubmitted(**rejoins, change="joined"))
        sent.append(await client.emit(inbound.HouseholdMemberChangeSubmitted(**change, change="left")))
        early = await client.emit(
            inbound.HouseholdMemberChangeSubmitted(**{**rejoins, "on": date(2026, 1, 5)}, change="joined")
        )
        # From an outside review: the reference person left her own household; refused as over HTTP (one use case)
        alone = await client.emit(inbound.HouseholdMemberChangeSubmitted(**{**change, "person_id": rj1}, change="left"))
    mine = {back.id, early.id, alone.id, *(env.id for env in sent)}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, mine)}
    assert back.id not in answers, answers[back.id]
    assert (answers[early.id].kind, answers[early.id].field) == ("invalid", "data.on"), answers[early.id]
    assert (answers[alone.id].kind, answers[alone.id].field) == ("conflict", "data.person_id"), answers[alone.id]
    assert "reference person" in answers[alone.id].reason
    assert not await dead_letters(intake)
    async with intake.pool.acquire() as conn:
        rows = await conn.fetch("select joined_on, left_on from household_members where person_id = $1", rj2)
    assert [(r["joined_on"], r["left_on"]) for r in rows] == [(today, today)]
    events = await my_events(intake, uid, want=6)
    assert [type(e).__name__ for e in events if isinstance(e, ev.HouseholdMemberJoined | ev.HouseholdMemberLeft)] == [
        "HouseholdMemberLeft",
        "HouseholdMemberJoined",
        "HouseholdMemberLeft",
    ]


async def test_a_household_naming_one_person_under_two_of_her_ids_is_answered_not_dead_lettered(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a partner registered the same woman twice (two ids, one fiscal code: one person, the
    second merged into the first) and formed a household of both ids. Each id is a distinct string, so "no member
    twice" passed; both are the same person on file, whose membership went in twice and broke its key: the record was
    retried three times and dead-lettered unanswered (HTTP: 500). Refused naming the second id, as a member given
    twice."""
    born = born_in(uid)  # the fiscal code this test's own: another test's person of it would be merged too
    fiscal_code = codicefiscale.encode("Haddad", "Yusuf", "M", born.strftime("%d/%m/%Y"), "Z240")
    tw1, tw2, twh = f"tw-1-{uid}", f"tw-2-{uid}", f"tw-h-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        sent = [
            await client.emit(registration(pid, client, uid, fiscal_code=fiscal_code, born=born)) for pid in (tw1, tw2)
        ]
        twice = await client.emit(
            inbound.HouseholdFormationSubmitted(household_id=twh, reference_person_id=tw1, member_ids=[tw1, tw2])
        )
    (answer,) = await rejections(intake, "coop-aurora", 1, {twice.id, *(env.id for env in sent)})
    assert (answer.inbound_event_id, answer.kind, answer.field) == (twice.id, "conflict", "data.member_ids.1"), answer
    assert tw1 in answer.reason, answer
    assert not await dead_letters(intake)
    async with intake.client("staff-torino") as staff:
        body = {"household_id": twh, "reference_person_id": tw1, "member_ids": [tw1, tw2]}
        r = await staff.post("/households", json=body, headers={"Idempotency-Key": f"tw-{uid}"})
        assert (r.status_code, r.json()["field"]) == (409, "member_ids.1"), r.text


async def test_a_closed_case_takes_nothing_naming_it_over_kafka_as_over_http(intake: IntakeUnderTest, uid: str) -> None:
    """An employment status naming a closed case was accepted and published (`EmploymentRecorded` with its
    `case_id`): reporting's employment at close then said what the case's close did not. Every event naming a closed
    case is answered `conflict` `data.case_id` "the case was closed on <date>", as HTTP's 409; the person's own
    employment (no `case_id`) is accepted."""
    y1, case1, plan1 = f"y-1-{uid}", f"case-1-{uid}", f"plan-1-{uid}"
    closed_on = date(2026, 3, 1)
    after = closed_on + timedelta(days=4)
    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)
        await client.emit(
            inbound.PlanSubmitted(case_id=case1, plan_id=plan1, objectives=["housing"], agreed_on=date(2026, 2, 3))
        )
        await client.emit(inbound.CaseClosureSubmitted(case_id=case1, outcome="other", closed_on=closed_on))
        await wait_rows(intake, "select count(*) from cases where case_id = $1 and closed_on is not null", 1, case1)
        refused = [
            await client.emit(e)
            for e in (
                inbound.EmploymentReported(person_id=y1, case_id=case1, status="employed_fixed_term", as_of=after),
                inbound.NeedsAssessmentSubmitted(
                    case_id=case1,
                    housing_situation="homeless",
                    monthly_income_cents=0,
                    employment_status="unemployed",
                    assessed_on=after,
                ),
                inbound.PlanSubmitted(case_id=case1, plan_id=f"plan-2-{uid}", objectives=["housing"], agreed_on=after),
                inbound.PlanObjectiveUpdateSubmitted(
                    case_id=case1, plan_id=plan1, objective="housing", status="achieved", on=after
                ),
                inbound.CaseClosureSubmitted(case_id=case1, outcome="housing_autonomy", closed_on=after),
            )
        ]
        alone = await client.emit(inbound.EmploymentReported(person_id=y1, status="employed_fixed_term", as_of=after))
    answers = {
        a.inbound_event_id: a
        for a in await rejections(intake, "coop-aurora", len(refused), {e.id for e in refused} | {alone.id})
    }
    for env in refused:
        answer = answers[env.id]
        assert (answer.kind, answer.field, answer.reason) == (
            "conflict",
            "data.case_id",
            "the case was closed on 2026-03-01",
        ), (env.type, answer)
    assert alone.id not in answers
    await wait_rows(intake, "select count(*) from employment where person_id = $1", 1, y1)
    async with intake.pool.acquire() as conn:
        assert [r["case_id"] for r in await conn.fetch("select case_id from employment where person_id = $1", y1)] == [
            None
        ]
    recorded = [e for e in await my_events(intake, uid, want=1) if isinstance(e, ev.EmploymentRecorded)]
    assert [e.case_id for e in recorded] == [None]


async def test_what_a_partner_names_in_clear_says_nothing_of_the_person(intake: IntakeUnderTest, uid: str) -> None:
    """A referral's `referrer` holding a fiscal code or an e-mail address was accepted, and published in clear on
    intake's fact topic for good; so were a record's CloudEvents `id` and `correlationid` (copied into the facts'
    `correlationid` and `causationid`), and its `traceparent`, carried on as it was sent. Each is refused naming it
    (`data.referrer`: invalid; an envelope's attribute: not_cloudevent; a traceparent that is no W3C trace context),
    nothing is applied, and the answer does not repeat it (a record whose id is refused is named by its position)."""
    hh1, case1 = f"hh-1-{uid}", f"case-1-{uid}"
    held = ["DLLFTA85C54Z343X", "fatou.diallo@example.org", "+39 347 1234567", "RSSMRA80A01L219M"]

    def referral(n: int, referrer: str = "sai-torino") -> inbound.ReferralSubmitted:
        return inbound.ReferralSubmitted(
            referral_id=f"r-{n}-{uid}", household_id=hh1, source="territory", referrer=referrer,
            received_on=date(2026, 2, 1),
        )  # fmt: skip

    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)
        by_code = await client.emit(referral(1, held[0]))
        by_mail = await client.emit(referral(2, held[1]))
        code_as_id = client.envelope(referral(3)).model_copy(update={"id": held[0]})
        phone_as_correlation = client.envelope(referral(4)).model_copy(update={"correlationid": held[2]})
        code_as_causation = client.envelope(referral(5)).model_copy(update={"causationid": held[3]})
        # A person's fiscal code in an employment status's correlation id, naming the case: nothing of it applied.
        employment = inbound.EmploymentReported(
            person_id=f"y-1-{uid}", case_id=case1, status="employed_fixed_term", as_of=date(2026, 2, 2)
        )
        code_in_employment = client.envelope(employment).model_copy(update={"correlationid": held[0]})
        code_as_trace = client.envelope(referral(7)).model_copy(update={"traceparent": f"00-{held[3]}-01"})
        ok = client.envelope(referral(6)).model_copy(update={"traceparent": TRACEPARENT})
    positions = await send_signed(
        intake, [code_as_id, phone_as_correlation, code_as_causation, code_in_employment, code_as_trace, ok]
    )
    named = [positions[0], phone_as_correlation.id, code_as_causation.id, code_in_employment.id]
    mine = {by_code.id, by_mail.id, ok.id, code_as_trace.id, *named}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 7, mine)}
    got = {k: (a.kind, a.field) for k, a in answers.items()}
    assert got == {
        by_code.id: ("invalid", "data.referrer"),
        by_mail.id: ("invalid", "data.referrer"),
        positions[0]: ("not_cloudevent", "id"),  # its id is not repeated: named by its position
        phone_as_correlation.id: ("not_cloudevent", "correlationid"),
        code_as_causation.id: ("not_cloudevent", "causationid"),
        code_in_employment.id: ("not_cloudevent", "correlationid"),
        code_as_trace.id: ("not_cloudevent", "traceparent"),
    }, got
    assert "W3C trace context" in answers[code_as_trace.id].reason, answers[code_as_trace.id]
    assert "a fiscal code" in answers[by_code.id].reason and "an e-mail address" in answers[by_mail.id].reason
    for name in named:
        assert "says nothing of the person" in answers[name].reason, answers[name]
    await wait_rows(intake, "select count(*) from referrals where referral_id = $1", 1, f"r-6-{uid}")
    async with intake.pool.acquire() as conn:
        stored = await conn.fetch("select referral_id from referrals where household_id = $1", hh1)
        assert [r["referral_id"] for r in stored] == [f"r-6-{uid}"]
        assert await conn.fetchval("select count(*) from employment where person_id = $1", f"y-1-{uid}") == 0
    assert [e.referral_id for e in await my_events(intake, uid) if isinstance(e, ev.ReferralReceived)] == [f"r-6-{uid}"]
    published = [r.value for r in await intake.raw_records("intake.events")]
    [received] = [json.loads(v) for v in published if f"r-6-{uid}".encode() in v]
    assert (received["traceparent"], received["causationid"]) == (TRACEPARENT, ok.id)  # what says nothing goes on
    published += [r.value for r in await intake.raw_records("partner.rejections.coop-aurora")]
    assert not [v for v in published if any(h.encode() in v for h in held)]


async def test_a_merged_persons_other_id_is_hers_in_an_assessment_over_kafka_as_over_http(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A person registered twice (one fiscal code: the second id merged into the first) was taken under her second id
    in `member_ids`, `reference_person_id`, consent and employment, but a needs assessment naming it in
    `vulnerabilities_by_person` was refused "not a member of the case's household on assessed_on" (HTTP: the same
    422). Her vulnerabilities are recorded, and published, under the person on file; naming her under both ids is a
    conflict, as a member given twice."""
    born = born_in(uid)  # the fiscal code this test's own: another test's person of it would be merged too
    fiscal_code = codicefiscale.encode("Haddad", "Yusuf", "M", born.strftime("%d/%m/%Y"), "Z240")
    first, second, hh, case = f"mg-1-{uid}", f"mg-2-{uid}", f"mg-h-{uid}", f"mg-c-{uid}"

    def assessment(by_person: dict[str, list[str]], on: date) -> inbound.NeedsAssessmentSubmitted:
        return inbound.NeedsAssessmentSubmitted(
            case_id=case, vulnerabilities_by_person=by_person, housing_situation="homeless",
            monthly_income_cents=0, employment_status="unemployed", assessed_on=on,
        )  # fmt: skip

    async with intake.partner("coop-aurora", "torino") as client:
        for pid in (first, second):
            await client.emit(registration(pid, client, uid, fiscal_code=fiscal_code, born=born))
        await client.emit(inbound.HouseholdFormationSubmitted(household_id=hh, reference_person_id=second,
                                                              member_ids=[second]))  # fmt: skip
        await client.emit(
            inbound.CaseOpeningSubmitted(
                case_id=case, household_id=hh, action_area="taking_charge", channel="desk", opened_on=date(2026, 2, 1)
            )
        )
        await wait_rows(intake, "select count(*) from cases where case_id = $1", 1, case)
        by_second = await client.emit(assessment({second: ["elderly"]}, date(2026, 2, 2)))
        both = await client.emit(assessment({first: ["elderly"], second: ["addiction"]}, date(2026, 2, 3)))
    answers = await rejections(intake, "coop-aurora", 1, {by_second.id, both.id})
    assert [(a.inbound_event_id, a.kind) for a in answers] == [(both.id, "conflict")], answers
    assert answers[0].field == f"data.vulnerabilities_by_person.{second}" and first in answers[0].reason, answers
    async with intake.client("coop-aurora") as c:
        body = assessment({second: ["addiction"]}, date(2026, 2, 4)).model_dump(mode="json")
        r = await c.post("/cases/assessments", json=body, headers={"Idempotency-Key": f"mg-{uid}"})
        assert r.status_code == 201, r.text
    assessed = [e for e in await my_events(intake, uid, "intake.special", want=2) if isinstance(e, ev.NeedsAssessed)]
    assert [a.vulnerabilities_by_person for a in assessed] == [{first: ["elderly"]}, {first: ["addiction"]}]


async def test_a_partners_assessment_over_kafka_keeps_what_is_hidden_from_it(intake: IntakeUnderTest, uid: str) -> None:
    """As over HTTP (test_folder): the city's staff record a vulnerability of y-1, hidden from the cooperative (no
    consent to sharing with partners); the cooperative's assessment over Kafka, naming nobody, corrects the income.
    It erased her vulnerability from intake and from the fact reporting counts; now it is kept."""
    y1, case = f"y-1-{uid}", f"case-1-{uid}"

    def assessment(on: date, **kw: Any) -> dict[str, Any]:
        return {"case_id": case, "housing_situation": "homeless", "monthly_income_cents": 0,
                "employment_status": "unemployed", "assessed_on": on.isoformat(), **kw}  # fmt: skip

    async with intake.partner("coop-aurora", "torino") as client:
        await open_a_case(intake, client, uid)
        async with intake.client("staff-torino") as c:
            body = assessment(date(2026, 2, 2), vulnerabilities_by_person={y1: ["psychiatric_condition"]})
            r = await c.post("/cases/assessments", json=body, headers={"Idempotency-Key": f"as-{uid}"})
            assert r.status_code == 201, r.text
        await client.emit(
            inbound.NeedsAssessmentSubmitted(**assessment(date(2026, 2, 3)) | {"monthly_income_cents": 30_000})
        )
    assessed = [e for e in await my_events(intake, uid, "intake.special", want=2) if isinstance(e, ev.NeedsAssessed)]
    assert [(a.monthly_income_cents, a.vulnerabilities_by_person) for a in assessed] == [
        (0, {y1: ["psychiatric_condition"]}),
        (30_000, {y1: ["psychiatric_condition"]}),
    ]
    assert await dead_letters(intake) == []


async def test_a_fault_of_a_sealed_value_does_not_hide_the_registrations_other_faults(
    intake: IntakeUnderTest, uid: str
) -> None:
    """`errors` lists every field at fault (docs/partners.md, "Rejections"): a v3 registration with a country that is
    none, a sealed birth date in 2090, a wrong fiscal code and a phone too short was answered with the phone alone;
    without the phone the other three came together. All four are named in one answer, as over HTTP."""
    async with intake.partner("coop-aurora", "torino") as client:
        whole = json.dumps({"birth_date": "2090-04-02", "fiscal_code": "RSSMRA80A01L219X", "phone": "12"})
        registration_v3 = inbound.PersonRegistrationSubmitted(
            person_id=f"sv-1-{uid}", sex="female", nationality="XX",
            identity=inbound.PartnerIdentityV3(all=client.seal("all", whole)),
        )  # fmt: skip
        sent = await client.emit(registration_v3)
    [answer] = await rejections(intake, "coop-aurora", 1, {sent.id})
    fields = {e.field for e in answer.errors}
    assert fields == {
        "data.nationality",
        "data.identity.birth_date",
        "data.identity.fiscal_code",
        "data.identity.phone",
    }, answer.errors
    assert (answer.field, answer.reason) == (answer.errors[0].field, answer.errors[0].reason)
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"sv-1-{uid}") == 0


async def test_a_reason_no_list_has_is_answered_naming_it_and_the_valid_codes(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a member change with `reason: "bogus"` was accepted, stored for good and shown raw. Why a
    member joins (member_joined_reason) and why one leaves (member_left_reason) are two lists, by `change`; why the
    reference person changes is a third. Each refusal names `data.reason` and every valid code; nothing changes."""
    y1, y2, hh = f"y-1-{uid}", f"y-2-{uid}", f"hh-1-{uid}"
    change = {"household_id": hh, "person_id": y2, "on": clock.today()}
    async with intake.partner("coop-aurora", "torino") as client:
        for e in (
            registration(y1, client, uid),
            registration(y2, client, uid, born=born_in(uid, 1)),
            inbound.HouseholdFormationSubmitted(household_id=hh, reference_person_id=y1, member_ids=[y1]),
        ):
            await client.emit(e)
        joining = inbound.HouseholdMemberChangeSubmitted(**change, change="joined", reason="reunification")
        naming = inbound.HouseholdReferencePersonChangeSubmitted(**change, reason="household_choice")
        # unvalidated, as partners' own code sends them
        bogus = await client.emit(joining.model_copy(update={"reason": "bogus"}))
        leaving = await client.emit(joining.model_copy(update={"reason": "moved"}))  # why one leaves, not joins
        await client.emit(joining)
        unnamed = await client.emit(naming.model_copy(update={"reason": "bogus"}))
    answers = {
        a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 3, {bogus.id, leaving.id, unnamed.id})
    }
    for env, listed in ((bogus, "member_joined_reason"), (leaving, "member_joined_reason"),
                        (unnamed, "reference_person_change_reason")):  # fmt: skip
        answer = answers[env.id]
        assert (answer.kind, answer.field) == ("invalid_data", "data.reason"), answer
        assert f"unknown {listed} code" in answer.reason, answer
        assert all(code in answer.reason for code in vocabulary.codes(listed)), answer
    async with intake.pool.acquire() as conn:
        reasons = await conn.fetch("select person_id from household_members where household_id = $1", hh)
        assert sorted(r["person_id"] for r in reasons) == [y1, y2]
        assert await conn.fetchval("select reference_person_id from households where household_id = $1", hh) == y1


async def test_an_event_id_used_again_for_another_record_is_answered_and_the_first_record_kept(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a partner sent a second registration under the id of its first. The inbox keeps one
    record per event id, so the second was dropped as a duplicate, unanswered, and the partner took it for accepted.
    A record whose content (type and data) differs from what was first received under its id is answered `id`
    "already used for another record", once however often it comes; the first record stays as it was. The same
    content again — a redelivery, or the partner's resend with a new envelope time — stays a silent duplicate, and so
    does the same record sealed again (a partner's export run twice: HPKE seals the same value to other bytes)."""
    async with intake.partner("coop-aurora", "torino") as client:
        first = client.envelope(registration(f"y-1-{uid}", client, uid))
        sealed_again = client.envelope(registration(f"y-1-{uid}", client, uid))
        other = client.envelope(registration(f"y-2-{uid}", client, uid, born=born_in(uid, 1)))
    other = other.model_copy(update={"id": first.id})
    resent = first.model_copy(update={"time": first.time + timedelta(minutes=5)})
    sealed_again = sealed_again.model_copy(update={"id": first.id})
    assert sealed_again.data != first.data  # the same values, other ciphertexts
    await send_signed(intake, [first, first, resent, sealed_again, other, other])
    [answer] = await rejections(intake, "coop-aurora", 1, {first.id})
    assert (answer.kind, answer.field, answer.reason) == ("conflict", "id", "already used for another record")
    assert answer.inbound_type == first.type
    await asyncio.sleep(2)
    assert await rejections_count(intake, {first.id}) == 1
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select array_agg(person_id) from persons where person_id like $1", f"%{uid}%") == [
            f"y-1-{uid}"
        ]
    events = await my_events(intake, uid)
    assert [e.person_id for e in events if isinstance(e, ev.PersonRegistered)] == [f"y-1-{uid}"]


async def test_a_partner_cannot_tell_over_kafka_whether_a_fiscal_code_is_on_file_under_another_partner(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: Borgo's registration with the fiscal code of Aurora's person was accepted (no
    rejection), then its household naming that registration refused `not_found` `data.member_ids.0` "no person …";
    with a fiscal code nobody has, both accepted. What Borgo sends about its own registration is now taken alike
    whether or not the fiscal code is on file under another partner (one person all the same: merged, for the city)."""
    born = born_in(uid)  # the fiscal codes this test's own
    taken = codicefiscale.encode("Haddad", "Yusuf", "M", born.strftime("%d/%m/%Y"), "Z240")
    fresh = codicefiscale.encode("Bianchi", "Luca", "M", born.strftime("%d/%m/%Y"), "Z240")
    async with intake.partner("coop-aurora", "torino") as aurora:
        await aurora.emit(registration(f"or-a-{uid}", aurora, uid, fiscal_code=taken, born=born))
        await aurora.emit(inbound.HouseholdFormationSubmitted(household_id=f"or-ah-{uid}",
                                                              reference_person_id=f"or-a-{uid}",
                                                              member_ids=[f"or-a-{uid}"]))  # fmt: skip
    await wait_rows(intake, "select count(*) from households where household_id = $1", 1, f"or-ah-{uid}")
    sent: list[str] = []
    async with intake.partner("coop-borgo", "torino") as borgo:
        for run, code in (("on-file", taken), ("nobodys", fresh)):
            pid, hh, case = f"or-{run}-{uid}", f"or-h-{run}-{uid}", f"or-c-{run}-{uid}"
            for record in (
                registration(pid, borgo, uid, fiscal_code=code, born=born),
                inbound.HouseholdFormationSubmitted(household_id=hh, reference_person_id=pid, member_ids=[pid]),
                inbound.CaseOpeningSubmitted(case_id=case, household_id=hh, action_area="taking_charge",
                                             channel="desk", opened_on=date(2026, 2, 1)),
                inbound.ConsentReported(person_id=pid, purpose="partner_sharing", granted=True,
                                        recorded_on=date(2026, 2, 1)),
                inbound.EmploymentReported(person_id=pid, case_id=case, status="training", as_of=date(2026, 2, 2)),
            ):  # fmt: skip
                sent.append((await borgo.emit(record)).id)
    for run in ("on-file", "nobodys"):
        await wait_rows(intake, "select count(*) from employment where person_id = $1", 1, f"or-{run}-{uid}")
    assert await answers_about(intake, "coop-borgo", set(sent)) == []
    events = await my_events(intake, uid, want=13)
    merges = [(e.surviving_person_id, e.merged_person_id) for e in events if isinstance(e, ev.PersonsMerged)]
    assert merges == [(f"or-a-{uid}", f"or-on-file-{uid}")]  # one human, for the city and its reports
    formed = {e.household_id: e.member_ids for e in events if isinstance(e, ev.HouseholdFormed)}
    assert formed[f"or-h-on-file-{uid}"] == [f"or-on-file-{uid}"], formed
