"""A service pointed at another service's schema (a review: housing with LGNET_DB_SCHEMA=intake_bologna, housing's
credentials) exited 3 with `asyncpg.exceptions.DuplicateTableError: relation "persons" already exists` and a
traceback. It is refused, on the one `start refused` line naming LGNET_DB_SCHEMA, before any of its migrations run.
The real services: intake's schema as intake makes it, housing's process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import asyncpg
import pytest
from lgnet_intake.entrypoints.main import SPEC as INTAKE
from lgnet_shared import db
from lgnet_shared.runtime_schema import all_migrations
from lgnet_shared.testing.process import ServiceProcess, service_env

pytestmark = pytest.mark.integration


async def test_housing_on_intakes_schema_is_refused_naming_the_setting(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, all_migrations(INTAKE.migrations))
    finally:
        await pool.close()
    log = tmp_path / "housing.log"
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="bologna")
    housing = ServiceProcess([sys.executable, "-m", "lgnet_housing.entrypoints.main"], env, log)
    try:
        with pytest.raises(RuntimeError, match="service exited"):
            await housing.start(timeout=60)
    finally:
        housing.stop()
    text = log.read_text()
    assert "Traceback" not in text and "DuplicateTableError" not in text, text[-2000:]
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]  # not runpy's warning
    refused = [r for r in records if r["event"] == "start refused"]
    assert len(refused) == 1, text[-2000:]
    reason = refused[0]["reason"]
    assert reason.startswith(f"LGNET_DB_SCHEMA {pg_schema}: holds intake's tables (migrations intake-1,"), reason
    assert "not housing's" in reason, reason
    conn = await asyncpg.connect(database_url)
    try:
        ids = {r["id"] for r in await conn.fetch(f'select id from "{pg_schema}".schema_migrations')}
    finally:
        await conn.close()
    assert not {i for i in ids if i.startswith("housing-")}, "housing migrated the schema"
