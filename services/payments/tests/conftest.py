"""The payments service under test: a real process on the test's own topics and schema (or, in a module marked
`shared_service`, the module's one), with actors of two cities (Torino and Trieste) provisioned, and helpers to publish
intake/housing events and read payments events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import pytest
from lgnet_shared import db
from lgnet_shared.testing.plugin import own_or_shared, seen_from_this_test
from lgnet_shared.testing.process import ServiceProcess, service_env

sys.path.insert(0, str(Path(__file__).parent))  # the test kit, importable by the test modules (importlib mode)
from payments_testkit import PaymentsUnderTest, provision


@pytest.fixture
def payments(request: pytest.FixtureRequest) -> PaymentsUnderTest:
    """The test's own payments, or its view of its module's shared one (`own_or_shared`)."""
    return cast(PaymentsUnderTest, own_or_shared(request, "payments"))


@pytest.fixture
async def payments_own(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[PaymentsUnderTest]:
    async with started_payments(kafka_bootstrap, database_url, pg_schema, topic_prefix, tmp_path) as under_test:
        yield under_test


@pytest.fixture(scope="module")
async def payments_shared(
    kafka_bootstrap: str,
    database_url: str,
    module_pg_schema: str,
    module_topic_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PaymentsUnderTest]:
    home = tmp_path_factory.mktemp("payments")
    async with started_payments(kafka_bootstrap, database_url, module_pg_schema, module_topic_prefix, home) as shared:
        yield shared


@pytest.fixture
async def payments_view(payments_shared: PaymentsUnderTest) -> PaymentsUnderTest:
    return cast(PaymentsUnderTest, await seen_from_this_test(payments_shared))


@asynccontextmanager
async def started_payments(
    kafka_bootstrap: str, database_url: str, schema: str, prefix: str, home: Path
) -> AsyncIterator[PaymentsUnderTest]:
    pool = await db.create_pool(database_url, schema)
    tokens = await provision(pool)  # before the start: the runtime then finds the schema migrated
    env = service_env(kafka_bootstrap, database_url, schema, prefix)
    process = ServiceProcess([sys.executable, "-m", "lgnet_payments.entrypoints.main"], env, home / "payments.log")
    try:
        await process.start()
        await process.check_answers()  # every answer the tests get, as payments' OpenAPI documents it
        yield PaymentsUnderTest(process, pool, kafka_bootstrap, prefix, tokens)
    finally:
        await pool.close()
        process.stop()
