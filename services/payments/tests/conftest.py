"""The payments service under test: a real process on the test's own topics and schema, with actors of two cities
(Torino and Trieste) provisioned, and helpers to publish intake/housing events and read payments events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lgnet_shared import db
from lgnet_shared.testing.process import ServiceProcess, service_env

sys.path.insert(0, str(Path(__file__).parent))  # the test kit, importable by the test modules (importlib mode)
from payments_testkit import PaymentsUnderTest, provision


@pytest.fixture
async def payments(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[PaymentsUnderTest]:
    pool = await db.create_pool(database_url, pg_schema)
    tokens = await provision(pool)  # before the start: the runtime then finds the schema migrated
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    process = ServiceProcess([sys.executable, "-m", "lgnet_payments.entrypoints.main"], env, tmp_path / "payments.log")
    await process.start()
    await process.check_answers()  # every answer the tests get, as payments' OpenAPI documents it
    under_test = PaymentsUnderTest(process, pool, kafka_bootstrap, topic_prefix, tokens)
    try:
        yield under_test
    finally:
        await pool.close()
        process.stop()
