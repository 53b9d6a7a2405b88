"""The pools services use reset a released connection only when its user took session state (real PostgreSQL):
a session lock taken by the relay or the scheduler is freed for the next leader even when their own unlock never
ran, a transaction left open is still rolled back, and every other release costs no reset round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from lgnet_shared import db

pytestmark = pytest.mark.integration

LOCK = "select pg_try_advisory_lock(hashtext('lgnet-test-pool-reset'))"
UNLOCK = "select pg_advisory_unlock(hashtext('lgnet-test-pool-reset'))"


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Any]:
    p = await db.create_pool(database_url, pg_schema, min_size=1, max_size=1)  # one connection: always the same
    try:
        yield p
    finally:
        await p.close()


async def test_a_session_lock_is_freed_when_its_connection_goes_back(pool: Any, database_url: str) -> None:
    other = await asyncpg.connect(database_url)  # another replica
    try:
        async with pool.acquire() as conn:
            db.keeps_session_state(conn)
            assert await conn.fetchval(LOCK)
            assert not await other.fetchval(LOCK)  # held
        # released without unlocking (a relay whose unlock failed): the pool's reset freed it
        assert await other.fetchval(LOCK)
        await other.fetchval(UNLOCK)
    finally:
        await other.close()


async def test_an_open_transaction_is_rolled_back_and_nothing_else_is_sent(
    pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("create table t (n int)")
    sent: list[str] = []
    execute = db.Connection.execute

    async def recorded(self: Any, query: str, *args: Any, **kwargs: Any) -> str:
        sent.append(query)
        status: str = await execute(self, query, *args, **kwargs)
        return status

    monkeypatch.setattr(db.Connection, "execute", recorded)
    for _ in range(5):
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await conn.fetchval("insert into t values (1) returning n")
            # released inside the transaction (an error between start and commit)
    assert not any("RESET" in q or "UNLISTEN" in q for q in sent), sent
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from t") == 0
        assert not conn.is_in_transaction()
