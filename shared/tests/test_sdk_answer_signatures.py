"""A partner's SDK yields only answers its city's deployments signed. Every record LgNet publishes is signed by the
deployment that produced it (issue #16), and the services' consumers refuse a fact that is not; the partner's reader
of its rejections and reminders took whatever was on its topics — an unsigned record, one signed with a key nobody
registered, one whose bytes were changed after signing, Trieste's key answering for Torino, or Torino's housing
deployment (which may write a partner's reminders topic) passing itself off as intake with an appointment reminder.
Each is now dropped, logged with its place and reason (never its content) and counted by reason. A stand-in consumer
hands out the records; the keys are pinned (`answer_keys`), as a partner may do instead of reading the registries."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

import pytest
from lgnet_shared import sdk
from lgnet_shared.events import Event
from lgnet_shared.fact_signing import FactSigner, SigningKey
from lgnet_shared.testing import forged_answers as forged
from lgnet_shared.testing.feeds import RecordFeed
from lgnet_shared.testing.forged_answers import signer

PARTNER = "coop-aurora"
REJECTIONS = f"lgnet.partner.rejections.{PARTNER}"
REMINDERS = f"lgnet.partner.reminders.{PARTNER}"

TORINO_INTAKE, TORINO_HOUSING = signer("torino", "intake"), signer("torino", "housing")
TRIESTE_INTAKE, NATIONAL_INTAKE = signer("trieste", "intake"), signer("national", "intake")
UNREGISTERED = signer("torino", "intake")
PINNED = [s.key for s in (TORINO_INTAKE, TORINO_HOUSING, TRIESTE_INTAKE, NATIONAL_INTAKE)]


class Record:
    def __init__(self, topic: str, event: Event, by: FactSigner | None, *, city: str = "torino") -> None:
        self.value, self.headers = forged.answer(event, by, city=city)
        self.topic, self.partition, self.offset, self.key = topic, 0, 0, PARTNER.encode()


rejection, appointment, match = (partial(f, PARTNER) for f in (forged.rejection, forged.appointment, forged.match))


def tampered(record: Record) -> Record:
    record.value, record.headers = forged.tampered((record.value, record.headers), b"genuine-2", b"changed-2")
    return record


def client(monkeypatch: pytest.MonkeyPatch, records: list[Record], keys: list[SigningKey]) -> sdk.PartnerClient:
    monkeypatch.setattr(sdk, "AIOKafkaConsumer", lambda *a, **k: RecordFeed(records))
    return sdk.PartnerClient("unused:9092", partner=PARTNER, city="torino", security=None, answer_keys=keys)


async def test_only_rejections_signed_by_a_deployment_that_may_answer_are_yielded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = [
        Record(REJECTIONS, rejection("genuine-1"), TORINO_INTAKE),
        Record(REJECTIONS, rejection("unsigned Mario Rossi"), None),
        Record(REJECTIONS, rejection("unknown key"), UNREGISTERED),
        tampered(Record(REJECTIONS, rejection("genuine-2"), TORINO_INTAKE)),
        Record(REJECTIONS, rejection("trieste's key"), TRIESTE_INTAKE),
        Record(REJECTIONS, rejection("housing's key"), TORINO_HOUSING),
        Record(REJECTIONS, rejection("genuine-3"), NATIONAL_INTAKE),  # the national intake serves every city
    ]
    c = client(monkeypatch, records, PINNED)
    with caplog.at_level(logging.WARNING, logger="lgnet.sdk"):
        got = [r.reason async for r in c.rejections(timeout=1)]
    assert got == ["genuine-1", "genuine-3"]
    assert dict(c.refused_answers) == {"missing": 1, "unknown_key": 1, "invalid": 1, "claims": 1, "not_a_writer": 1}
    dropped = [r.getMessage() for r in caplog.records if "dropped an answer" in r.getMessage()]
    assert len(dropped) == 5, caplog.text
    assert all(REJECTIONS in line and "offset" in line for line in dropped), dropped
    assert "Mario" not in caplog.text and "data.x" not in caplog.text  # the place and reason, never the content


async def test_a_reminder_is_yielded_only_when_signed_by_the_service_whose_reminder_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Intake and housing may both write a partner's reminders topic: each vouches for its own reminders only."""
    records = [
        Record(REMINDERS, appointment("a-genuine"), TORINO_INTAKE),
        Record(REMINDERS, match("m-genuine"), TORINO_HOUSING),
        Record(REMINDERS, appointment("a-by-housing"), TORINO_HOUSING),
        Record(REMINDERS, match("m-by-intake"), TORINO_INTAKE),
    ]
    c = client(monkeypatch, records, PINNED)
    got = [getattr(r, "appointment_id", None) or getattr(r, "match_id", None) async for r in c.reminders(timeout=1)]
    assert got == ["a-genuine", "m-genuine"]
    assert dict(c.refused_answers) == {"not_a_writer": 2}


async def test_a_key_pinned_with_another_city_than_its_deployments_vouches_for_that_deployments_city_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The city a key may sign for is its deployment's (the operator provisions that name), not what its record
    declares: a Trieste key whose record says Torino still answers no Torino partner."""
    lying = replace(TRIESTE_INTAKE.key, city="torino")
    records = [Record(REJECTIONS, rejection("trieste's key"), TRIESTE_INTAKE)]
    c = client(monkeypatch, records, [lying])
    assert [r async for r in c.rejections(timeout=1)] == []
    assert dict(c.refused_answers) == {"claims": 1}
