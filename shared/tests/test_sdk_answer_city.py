"""A partner's SDK yields only answers of its own city: its answer topics are written by its city's deployments (and
the national one) only, and should another city's answer reach them anyway (a deployment provisioned before that
rule, a misconfigured national one), the SDK drops it and logs that it did, without its content. A stand-in consumer
hands out the records."""

from __future__ import annotations

import logging

import pytest
from lgnet_shared import sdk
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import InboundRejected


class Record:
    def __init__(self, city: str, reason: str) -> None:
        event = InboundRejected(
            partner="coop-aurora", inbound_event_id="e-1", kind="invalid", field="data.name", reason=reason
        )
        self.value, headers = to_envelope(event, source="/intake", city=city, partner="coop-aurora").to_structured()
        self.headers, self.key = tuple(headers), b"coop-aurora"


class Consumer:
    def __init__(self, records: list[Record]) -> None:
        self.records = records

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getone(self) -> Record:
        if not self.records:
            raise TimeoutError  # the feed is idle: the reader's timeout ends it
        return self.records.pop(0)


async def test_an_answer_of_another_city_is_dropped_and_logged_without_its_content(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = [Record("genova", "Mario Rossi is forged"), Record("torino", "genuine")]
    monkeypatch.setattr(sdk, "AIOKafkaConsumer", lambda *a, **k: Consumer(records))
    client = sdk.PartnerClient("unused:9092", partner="coop-aurora", city="torino", security=None)
    with caplog.at_level(logging.WARNING, logger="lgnet.sdk"):
        got = [r async for r in client.rejections(timeout=1)]
    assert [r.reason for r in got] == ["genuine"]
    dropped = [r.getMessage() for r in caplog.records if "another city" in r.getMessage()]
    assert len(dropped) == 1 and "genova" in dropped[0], caplog.text
    assert "Mario" not in caplog.text and "data.name" not in caplog.text
