"""Answers on a partner's topics (`lgnet.partner.rejections.<partner>`, `lgnet.partner.reminders.<partner>`), genuine
or forged, for the tests of their readers (the SDK's, the reference clients'): each reader must yield an answer only
when a deployment that may write it signed it (issue #16). An answer is built as its writer publishes it (a
structured-mode CloudEvent, signed by a `FactSigner`: the relay's signer) or left unsigned; `tampered` changes its
bytes after signing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event
from lgnet_shared.events.housing import PartnerMatchReminder
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.events.outreach import PartnerAppointmentReminder
from lgnet_shared.fact_signing import FactSigner

Record = tuple[bytes, list[tuple[str, bytes]]]  # a Kafka record's value and headers


def signer(deployment: str, service: str) -> FactSigner:
    """A fresh key of `service` at `deployment`, declaring the deployment's city (as a service registers its key)."""
    return FactSigner(os.urandom(32), deployment, service, deployment.split("-", 1)[0])


def answer(event: Event, by: FactSigner | None, *, city: str = "torino", source: str = "/lgnet") -> Record:
    """`event` as a structured-mode CloudEvent of `city`, signed by `by` alone (None: unsigned)."""
    if by is None:
        value, headers = to_envelope(
            event, source=source, city=city, partner=getattr(event, "partner", None)
        ).to_structured()
        return value, list(headers)
    return batch([event], by, city=city, source=source)[0]


def batch(events: Sequence[Event], by: FactSigner, *, city: str = "torino", source: str = "/lgnet") -> list[Record]:
    """`events` signed together, as the relay signs a batch: one signature over their RFC 9162 root, each record
    with its place and inclusion proof in its header."""
    envelopes = [
        to_envelope(e, source=source, city=city, partner=getattr(e, "partner", None)).to_structured() for e in events
    ]
    signed = by.sign_batch([(value, headers) for value, headers in envelopes])
    return [(value, [*headers, signature]) for (_, headers), (value, signature) in zip(envelopes, signed, strict=True)]


def tampered(record: Record, old: bytes, new: bytes) -> Record:
    """The record with `old` replaced by `new` in its value after it was signed (its headers as they were)."""
    value, headers = record
    assert old in value, f"{old!r} is not in the answer"
    return value.replace(old, new), headers


def rejection(partner: str, reason: str, inbound_event_id: str = "e-1") -> InboundRejected:
    return InboundRejected(
        partner=partner, inbound_event_id=inbound_event_id, kind="invalid", field="data.x", reason=reason
    )


def appointment(
    partner: str, appointment_id: str, *, case_id: str = "c-1", person_id: str = "p-1", city: str = "torino"
) -> PartnerAppointmentReminder:
    starts = datetime(2026, 12, 7, 9, tzinfo=UTC)
    return PartnerAppointmentReminder(
        partner=partner, appointment_id=appointment_id, city=city, agenda="desk", operator="op-1",
        purpose="documents", case_id=case_id, person_id=person_id, starts_at=starts,
        ends_at=starts + timedelta(hours=1), due_on=date(2026, 12, 6),
    )  # fmt: skip


def match(partner: str, match_id: str) -> PartnerMatchReminder:
    return PartnerMatchReminder(
        partner=partner, match_id=match_id, household_id="h-1", case_id="c-1", opportunity_id="o-1", step="proposed",
        waiting_days=9, since=date(2026, 11, 27), on=date(2026, 12, 6),
    )  # fmt: skip
