"""Fixtures of the backbone tests: a real service process (probe_service) on the test's own Kafka topics and
PostgreSQL schema, which tests can kill and restart."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lgnet_shared.testing.process import ServiceProcess

HERE = Path(__file__).parent


@pytest.fixture
async def probe(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "LGNET_DB_SCHEMA": pg_schema,
        "LGNET_TOPIC_PREFIX": topic_prefix,
        "LGNET_CITY": "national",
        "LGNET_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    svc = ServiceProcess([sys.executable, str(HERE / "probe_service.py")], env, tmp_path / "probe.log")
    try:
        yield svc
    finally:
        svc.stop()
