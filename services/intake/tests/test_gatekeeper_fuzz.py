"""The inbound-record fuzzer through the real gatekeeper: partners' valid signed registrations mixed with malformed
records, signed and unsigned. Each valid one registers its person once; each bad one is answered to its signer
(signed) or dead-lettered (unsigned, or unreadable) exactly once; the gatekeeper reads the partition to its end."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared import signing
from lgnet_shared.events import partner as inbound
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.record_fuzz import draw_records
from lgnet_shared.topics import partner_inbound

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


async def test_fuzzed_inbound_records_through_the_gatekeeper(intake: IntakeUnderTest) -> None:
    async with intake.partner("coop-aurora", "torino") as client:
        drawn = itertools.count()

        def valid(label: str) -> dict[str, Any]:
            """Registrations in both forms, alternately: the fields one by one (v2), the whole identity at once (v3)."""
            identity: inbound.PartnerIdentityV2 = inbound.PartnerIdentityV2(
                given_name=client.seal("given_name", "Yusuf"),
                family_name=client.seal("family_name", label),
                birth_date=client.seal_birth_date(date(1985, 3, 12)),
            )
            if next(drawn) % 2:
                identity = client.seal_identity(date(1985, 3, 12), given_name="Yusuf", family_name=label)
            event = inbound.PersonRegistrationSubmitted(
                person_id=label, sex="male", nationality="SY", identity=identity
            )
            doc: dict[str, Any] = json.loads(client.envelope(event).to_structured()[0])
            return doc

        records = draw_records(valid, 40, examples=1)
    key = intake.signing_keys["coop-aurora"]
    signed = [r.good or i % 2 == 0 for i, r in enumerate(records)]  # every valid record, half the bad ones
    resent = [i for i, r in enumerate(records) if r.good][:3]
    topic = partner_inbound("torino", intake.prefix)
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap), max_request_size=4 * 1024 * 1024, linger_ms=20)
    await producer.start()
    try:
        futures = []
        for i in [*range(len(records)), *resent]:
            r = records[i]
            headers = [*r.headers, signing.sign(key, "coop-aurora-key", r.value, r.headers)] if signed[i] else r.headers
            futures.append(await producer.send(topic, r.value, key=b"coop-aurora", headers=headers))
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    end = max(m.offset for m in sent) + 1
    for _ in range(300):
        async with intake.pool.acquire() as conn:
            at = await conn.fetchval("select max(next_offset) from consumer_positions where topic = $1", topic)
        if at == end:
            break
        await asyncio.sleep(0.2)
    assert at == end, f"the gatekeeper stopped at offset {at} of {end}"
    good = {r.label for r in records if r.good}
    async with intake.pool.acquire() as conn:
        persons = await conn.fetch("select person_id, count(*) as n from persons group by person_id")
    assert {p["person_id"] for p in persons} == good and all(p["n"] == 1 for p in persons)

    await asyncio.sleep(1)  # the relay publishes the rejections
    dead = [int(dict(d.headers)["dlq.original.offset"]) for d in await intake.raw_records("deadletter")]
    answered = [
        json.loads(a.value)["data"]["inbound_event_id"]
        for a in await intake.raw_records("partner.rejections.coop-aurora", missing_ok=True)
    ]
    assert len(dead) == len(set(dead)) and len(answered) == len(set(answered)), "one outcome per record"
    for m, r, was_signed in zip(sent, records, signed, strict=False):
        if r.good:
            assert m.offset not in dead and r.id not in answered, r.label
            continue
        outcomes = (m.offset in dead) + (r.id in answered or f"{m.partition}:{m.offset}" in answered)
        assert outcomes == 1, f"{r.label} (signed: {was_signed}): {outcomes} outcomes"
        if not was_signed:
            assert m.offset in dead, f"{r.label}: unsigned, so dead-lettered and never answered"
    print(
        f"gatekeeper fuzzed {len(records)} records: {len(good)} registered, {len(answered)} answered, {len(dead)} dead"
    )
