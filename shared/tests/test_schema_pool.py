"""The suite's kept schemas (lgnet_shared.testing.schema_pool): a test that migrates gets what a fresh migration gives
— empty tables, sequences at their start, every migration recorded — and a schema a test changed is never kept."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from lgnet_shared import db
from lgnet_shared.testing import schema_pool
from lgnet_shared.testing.plugin import fresh_schema

pytestmark = pytest.mark.integration


def migrations() -> list[tuple[str, str]]:
    """Migrations no other test has (their own key): a table with an identity, a foreign key and a trigger."""
    tag = uuid.uuid4().hex[:8]
    return [
        (f"pool-{tag}-1", "create table parents (id bigint generated always as identity primary key, name text)"),
        (
            f"pool-{tag}-2",
            "create table children (parent bigint references parents (id), note text not null default 'x');"
            " create function touch() returns trigger language plpgsql as $$ begin return new; end $$;"
            " create trigger touched before insert on children for each row execute function touch()",
        ),
    ]


async def migrated(database_url: str, schema: str, migs: list[tuple[str, str]]) -> list[str]:
    pool = await db.create_pool(database_url, schema, max_size=2)
    try:
        return await db.migrate(pool, migs)
    finally:
        await pool.close()


async def kept(conn: asyncpg.Connection, migs: list[tuple[str, str]]) -> list[str]:
    rows = await conn.fetch(f"select name from {schema_pool.POOL}.schemas where key = $1", schema_pool.key_of(migs))
    return [r["name"] for r in rows]


async def test_a_migrated_schema_is_emptied_kept_and_given_to_the_next_test_as_if_just_migrated(
    database_url: str,
) -> None:
    migs = migrations()
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as first:
            await migrated(database_url, first, migs)
            await conn.execute(f"insert into \"{first}\".parents (name) values ('a'), ('b')")
            await conn.execute(f'insert into "{first}".children (parent) values (2)')
            oid = await conn.fetchval("select oid from pg_namespace where nspname = $1", first)
        assert not await conn.fetchval("select 1 from pg_namespace where nspname = $1", first)
        assert len(await kept(conn, migs)) == 1
        async with fresh_schema(database_url) as second:
            assert await migrated(database_url, second, migs) == [m for m, _ in migs]
            assert await conn.fetchval("select oid from pg_namespace where nspname = $1", second) == oid  # the kept one
            assert await kept(conn, migs) == []
            assert await conn.fetchval(f'select count(*) from "{second}".children') == 0
            ids = await conn.fetch(f"insert into \"{second}\".parents (name) values ('c') returning id")
            assert [r["id"] for r in ids] == [1], "the identity starts again"
            assert sorted(r["id"] for r in await conn.fetch(f'select id from "{second}".schema_migrations')) == sorted(
                m for m, _ in migs
            )
            await conn.execute(f'insert into "{second}".children (parent) values (1)')
            with pytest.raises(asyncpg.ForeignKeyViolationError):  # its constraints are there and checked
                await conn.execute(f'insert into "{second}".children (parent) values (99)')
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "change",
    [
        'alter table "{s}".children add column extra int',
        "alter table \"{s}\".children alter column note set default 'y'",
        'alter table "{s}".children disable trigger touched',
        'create index on "{s}".children (note)',
        'revoke all on "{s}".parents from public; grant select on "{s}".parents to public',
        'create table "{s}".other (x int)',
    ],
)
async def test_a_schema_a_test_changed_is_dropped_not_kept(database_url: str, change: str) -> None:
    migs = migrations()
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as schema:
            await migrated(database_url, schema, migs)
            mark = await conn.fetchval(
                "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = $1", schema
            )
            assert mark.startswith(schema_pool.MARK), "unchanged, it would be kept"
            await conn.execute(change.format(s=schema))
        assert not await conn.fetchval("select 1 from pg_namespace where nspname = $1", schema)
        assert await kept(conn, migs) == []
    finally:
        await conn.close()


async def test_a_schema_another_session_still_holds_is_dropped_not_kept(database_url: str) -> None:
    migs = migrations()
    conn = await asyncpg.connect(database_url)
    holder = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as schema:
            await migrated(database_url, schema, migs)
            holding = holder.transaction()
            await holding.start()
            await holder.execute(f"insert into \"{schema}\".parents (name) values ('late')")

            async def release() -> None:  # as a process that stops after its test's end would
                await asyncio.sleep(0.5)
                await holding.rollback()

            releasing = asyncio.create_task(release())
        await releasing
        assert not await conn.fetchval("select 1 from pg_namespace where nspname = $1", schema)
        assert await kept(conn, migs) == []
    finally:
        await holder.close()
        await conn.close()


async def test_migrations_that_seed_rows_are_never_kept(database_url: str) -> None:
    migs = [*migrations(), (f"pool-seed-{uuid.uuid4().hex[:8]}", "insert into parents (name) values ('seeded')")]
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as schema:
            await migrated(database_url, schema, migs)
        assert await kept(conn, migs) == []
    finally:
        await conn.close()


async def test_two_processes_migrating_one_empty_schema_at_once_make_one_schema(database_url: str) -> None:
    migs = migrations()
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as first:  # one kept schema for the race below
            await migrated(database_url, first, migs)
        async with fresh_schema(database_url) as schema:
            results = await asyncio.gather(*(migrated(database_url, schema, migs) for _ in range(3)))
            assert all(r == [] or sorted(r) == sorted(m for m, _ in migs) for r in results), results
            assert await conn.fetchval(f'select count(*) from "{schema}".schema_migrations') == len(migs)
            await conn.execute(f"insert into \"{schema}\".parents (name) values ('ok')")
    finally:
        await conn.close()


async def test_a_kept_schema_written_to_since_is_never_given(database_url: str) -> None:
    """A process a test left running (stopped only at the session's end) may still write where it was: such a schema
    is dropped when next asked for, and the migration runs into the empty one."""
    migs = migrations()
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as first:
            await migrated(database_url, first, migs)
        [name] = await kept(conn, migs)
        await conn.execute(f"insert into \"{name}\".parents (name) values ('late')")
        async with fresh_schema(database_url) as second:
            assert await migrated(database_url, second, migs) == [m for m, _ in migs]
            assert await conn.fetchval(f'select count(*) from "{second}".parents') == 0
        assert not await conn.fetchval("select 1 from pg_namespace where nspname = $1", name)
    finally:
        await conn.close()


async def test_a_schema_migrated_further_by_a_migration_of_data_only_is_not_kept_as_its_first_migrations(
    database_url: str,
) -> None:
    """An upgrade test migrates the older migrations, stores rows, then the newer ones; a newer migration that only
    changes rows leaves the structure as it was, and the schema must not be kept as one of the older migrations."""
    migs = migrations()
    more = [*migs, (f"pool-data-{uuid.uuid4().hex[:8]}", "update parents set name = upper(name)")]
    conn = await asyncpg.connect(database_url)
    try:
        async with fresh_schema(database_url) as schema:
            await migrated(database_url, schema, migs)
            assert await migrated(database_url, schema, more) == [more[-1][0]]
        assert await kept(conn, migs) == []
    finally:
        await conn.close()
