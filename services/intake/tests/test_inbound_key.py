"""Intake's inbound HPKE key is created once: simultaneous first `GET /inbound-key` calls (8 at once, on real
PostgreSQL, each on its own connection) all get the same key; one row is stored."""

from __future__ import annotations

import asyncio
import os

import pytest
from lgnet_intake.adapters import credentials
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_shared import db
from lgnet_shared.service import all_migrations

pytestmark = pytest.mark.integration


async def test_simultaneous_first_calls_create_one_key(database_url: str, pg_schema: str) -> None:
    pool = await db.create_pool(database_url, pg_schema, min_size=8, max_size=8)
    try:
        await db.migrate(pool, all_migrations(MIGRATIONS))
        master = os.urandom(32)
        start = asyncio.Event()

        async def first_call() -> tuple[str, str]:
            async with pool.acquire() as conn:
                await start.wait()
                key_id, _, public = await credentials.inbound_key(conn, master)
                return key_id, public

        for _round in range(3):  # the race is narrow: try it a few times on a fresh table
            async with pool.acquire() as conn:
                await conn.execute("delete from inbound_keys")
            start.clear()
            calls = [asyncio.create_task(first_call()) for _ in range(8)]
            await asyncio.sleep(0.05)
            start.set()
            answers = await asyncio.gather(*calls)
            assert len(set(answers)) == 1, answers
            async with pool.acquire() as conn:
                assert await conn.fetchval("select count(*) from inbound_keys") == 1
    finally:
        await pool.close()
