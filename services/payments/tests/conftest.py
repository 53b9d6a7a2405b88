"""The payments service under test: a real process on the test's own topics and schema, with actors of two cities
(Torino and Trieste) provisioned, and helpers to publish intake/housing events and read payments events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_shared import auth, db
from lgnet_shared.testing.process import ServiceProcess, service_env

sys.path.insert(0, str(Path(__file__).parent))  # the test kit, importable by the test modules (importlib mode)
from payments_testkit import ACTORS, PaymentsUnderTest


async def provision(pool: Any) -> dict[str, str]:
    await db.migrate(pool, MIGRATIONS)
    tokens = {}
    async with pool.acquire() as conn:
        for actor_id, role, city in ACTORS:
            await auth.add_actor(conn, actor_id, role, city, actor_id)
            tokens[actor_id] = await auth.issue_token(conn, actor_id)
    return tokens


@pytest.fixture
async def payments(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[PaymentsUnderTest]:
    pool = await db.create_pool(database_url, pg_schema)
    tokens = await provision(pool)  # before the start: the runtime then finds the schema migrated
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    process = ServiceProcess([sys.executable, "-m", "lgnet_payments.entrypoints.main"], env, tmp_path / "payments.log")
    await process.start()
    under_test = PaymentsUnderTest(process, pool, kafka_bootstrap, topic_prefix, tokens)
    try:
        yield under_test
    finally:
        await pool.close()
        process.stop()
