"""Fixtures of the backbone tests: a real service process (probe_service) on the test's own Kafka topics and
PostgreSQL schema, which tests can kill and restart."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.conn import AIOKafkaConnection
from aiokafka.protocol.metadata import MetadataRequest
from lgnet_shared.testing.process import ServiceProcess, service_env

HERE = Path(__file__).parent


@pytest.fixture
async def probe(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    # The backbone tests feed the probe unsigned records of every shape; signatures: test_fact_signatures.py.
    env["LGNET_FACT_SIGNATURES"] = "off"
    svc = ServiceProcess([sys.executable, str(HERE / "probe_service.py")], env, tmp_path / "probe.log")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def metadata_requests(monkeypatch: pytest.MonkeyPatch) -> list[MetadataRequest]:
    """Every metadata request any Kafka client of this process sends from now on (`.clear()` to start afresh)."""
    asked: list[MetadataRequest] = []
    send = AIOKafkaConnection.send

    def recording(conn: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
        if isinstance(request, MetadataRequest):
            asked.append(request)
        return send(conn, request, expect_response)

    monkeypatch.setattr(AIOKafkaConnection, "send", recording)
    return asked
