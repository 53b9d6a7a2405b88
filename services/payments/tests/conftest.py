"""The payments service under test: a real process on the test's own topics and schema (or, in a module marked
`shared_service`, the module's one), with actors of two cities (Torino and Trieste) provisioned, and helpers to publish
intake/housing events and read payments events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from lgnet_shared import db
from lgnet_shared.testing.plugin import service_fixtures
from lgnet_shared.testing.process import ServiceProcess, service_env

sys.path.insert(0, str(Path(__file__).parent))  # the test kit, importable by the test modules (importlib mode)
from payments_testkit import PaymentsUnderTest, provision


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


# The test's own payments, or its view of its module's one (`own_or_shared`).
payments, payments_own, payments_shared, payments_view = service_fixtures("payments", started_payments)
