"""PostgreSQL access: one schema per service (no service reads another's tables), ordered migrations."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

log = logging.getLogger(__name__)
Pool = Any  # asyncpg.Pool; typed loosely because asyncpg ships no type information
Conn = Any  # asyncpg.Connection


async def create_pool(url: str, schema: str, *, min_size: int = 1, max_size: int = 20) -> Pool:
    """A pool whose connections see only `schema` (created if missing) on their search path."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'create schema if not exists "{schema}"')
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=init_connection,
    )


async def init_connection(conn: Conn) -> None:
    """json/jsonb columns read and write Python objects."""
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def migrate(pool: Pool, migrations: Sequence[tuple[str, str]]) -> list[str]:
    """Apply (id, sql) migrations not yet applied, in order, each in its own transaction. Concurrent
    starters serialise on an advisory lock, so two replicas starting at once do not race."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute(
            "create table if not exists schema_migrations (id text primary key,"
            " applied_at timestamptz not null default now())"
        )
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock(hashtext(current_schema() || ':migrate'))")
            done = {r["id"] for r in await conn.fetch("select id from schema_migrations")}
            for mid, sql in migrations:
                if mid in done:
                    continue
                await conn.execute(sql)
                await conn.execute("insert into schema_migrations (id) values ($1)", mid)
                applied.append(mid)
    if applied:
        log.info("applied migrations %s", applied)
    return applied
