"""Fixtures of the backbone tests: a real service process (probe_service) on the test's own Kafka topics and
PostgreSQL schema, which tests can kill and restart."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.topics import ensure_topics

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
async def dead_letters(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[DeadLetters]:
    """A dead-letter writer on the test's own topics (the consumer tests' handlers fail into it)."""
    await ensure_topics(kafka_bootstrap, topic_prefix, names=["deadletter"])
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        yield DeadLetters(producer, "reporting.test", topic_prefix)
    finally:
        await producer.stop()
