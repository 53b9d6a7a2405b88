"""A partner's SDK yields only answers of its own city: its answer topics are written by its city's deployments (and
the national one) only, and should another city's answer reach them anyway (a deployment provisioned before that
rule, a misconfigured national one), the SDK drops it and logs that it did, without its content. A stand-in consumer
hands out the records, signed by a national intake (whose key may answer any city: only the city check drops)."""

from __future__ import annotations

import logging
import os

import pytest
from lgnet_shared import sdk
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.fact_signing import FactSigner
from lgnet_shared.testing.feeds import RecordFeed

NATIONAL = FactSigner(os.urandom(32), "national", "intake", "national")


class Record:
    def __init__(self, city: str, reason: str) -> None:
        event = InboundRejected(
            partner="coop-aurora", inbound_event_id="e-1", kind="invalid", field="data.name", reason=reason
        )
        value, headers = to_envelope(event, source="/intake", city=city, partner="coop-aurora").to_structured()
        self.value, signature = NATIONAL.sign(value, headers)
        self.headers, self.key = (*headers, signature), b"coop-aurora"
        self.topic, self.partition, self.offset = "lgnet.partner.rejections.coop-aurora", 0, 0


async def test_an_answer_of_another_city_is_dropped_and_logged_without_its_content(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = [Record("genova", "Mario Rossi is forged"), Record("torino", "genuine")]
    monkeypatch.setattr(sdk, "AIOKafkaConsumer", lambda *a, **k: RecordFeed(records))
    client = sdk.PartnerClient(
        "unused:9092", partner="coop-aurora", city="torino", security=None, answer_keys=[NATIONAL.key]
    )
    with caplog.at_level(logging.WARNING, logger="lgnet.sdk"):
        got = [r async for r in client.rejections(timeout=1)]
    assert [r.reason for r in got] == ["genuine"]
    dropped = [r.getMessage() for r in caplog.records if "another city" in r.getMessage()]
    assert len(dropped) == 1 and "genova" in dropped[0], caplog.text
    assert "Mario" not in caplog.text and "data.name" not in caplog.text
