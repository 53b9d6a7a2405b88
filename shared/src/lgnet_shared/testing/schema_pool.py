"""Migrated schemas used again by the next test instead of made anew (test machinery; never in a deployment).

Every test of a service gets a fresh schema and runs the service's migrations into it: 18 to 28 migrations, about
110 tables, indexes and sequences, made and dropped ≈ 740 times a run. Emptying a migrated schema costs PostgreSQL
about a tenth of making and dropping it, so a schema the test is done with is emptied and kept, and the next
migration of the same migrations into an empty schema takes it instead (the suite's CPU ≈ 5 % less:
docs/benchmarks-history.md, "The suite's schemas"):

- `migrate` (installed over `lgnet_shared.db.migrate` in the test processes and the fork server's service
  processes): an empty schema whose migrations a kept schema has is swapped for it (the empty one dropped, the kept
  one renamed to its name) — the caller sees a schema just migrated. Otherwise the real migration runs; if it left
  every table and sequence untouched (no migration seeds rows), the schema is marked with the migrations' key and a
  fingerprint of its structure.
- `keep_or_drop` (`fresh_schema`'s end): a marked schema whose structure still has its fingerprint (a test may have
  altered a table, added a trigger, revoked a right) and whose tables no other session holds is emptied (rows
  deleted, sequences back to their start) and kept under a new name; any other schema is dropped, as before.

`LGNET_TEST_SCHEMA_POOL=0` turns it off (every schema migrated and dropped).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lgnet_shared import db

log = logging.getLogger(__name__)
ENABLED_VAR = "LGNET_TEST_SCHEMA_POOL"
POOL = "lgnet_test_schema_pool"  # the schema of the table listing the kept schemas
MARK = "lgnet-test-schema-pool"  # the comment on a schema that may be kept: MARK key fingerprint count
FORMAT = b"2"  # in every key: schemas kept by an older version of this module are never taken
KEPT_PER_KEY = 8  # more than the suite's workers use at once: the rest are dropped

# The structure a test must not have changed for its schema to be kept: relations, columns with their types and
# defaults, constraints, indexes, triggers, rights, functions — names of this schema taken out, so that a renamed
# schema keeps its fingerprint.
_FINGERPRINT = """
with s as (select oid, nspname from pg_namespace where nspname = $1),
parts as (
  select c.relname || ':' || c.relkind::text || c.relpersistence::text || ':' || coalesce(c.reloptions::text, '') || ':'
    || coalesce(c.relacl::text, '') || ':' || c.relrowsecurity::text as x
    from pg_class c, s where c.relnamespace = s.oid
  union all
  select c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull::text
    || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    from s join pg_class c on c.relnamespace = s.oid join pg_attribute a on a.attrelid = c.oid
    left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
    where a.attnum > 0 and not a.attisdropped
  union all
  select conname || ':' || pg_get_constraintdef(o.oid) from pg_constraint o, s where o.connamespace = s.oid
  union all
  select pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indrelid, s
    where c.relnamespace = s.oid
  union all
  select c.relname || '!' || t.tgname || ':' || t.tgenabled::text || ':' || t.tgfoid::regprocedure::text
    from pg_trigger t join pg_class c on c.oid = t.tgrelid, s where c.relnamespace = s.oid
  union all
  select p.proname || '(' || pg_get_function_arguments(p.oid) || '):' || md5(p.prosrc)
    from pg_proc p, s where p.pronamespace = s.oid
)
select md5(coalesce(string_agg(replace(x, quote_ident((select nspname from s)) || '.', ''), ',' order by x), ''))
  from parts
"""
_TABLES = (
    "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
    " where n.nspname = $1 and c.relkind in ('r', 'p') and c.relname <> 'schema_migrations'"
)
_USED_SEQUENCES = "select format('%I.%I', schemaname, sequencename), start_value from pg_sequences"
_USED_SEQUENCES += " where schemaname = $1 and last_value is not null"


def enabled() -> bool:
    return os.environ.get(ENABLED_VAR, "1") != "0"


def key_of(migrations: Sequence[tuple[str, str]]) -> str:
    """The same migrations, the same key: ids and SQL (a migration edited between two runs is another key)."""
    digest = hashlib.sha256(FORMAT)
    for mid, sql in migrations:
        digest.update(f"{len(mid)}:{mid}{len(sql)}:{sql}".encode())
    return digest.hexdigest()[:32]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _ensure_pool_table(conn: db.Conn) -> None:
    async with conn.transaction():  # workers start at once: one creates it, the others wait, then find it
        await conn.execute(f"select pg_advisory_xact_lock(hashtext('{POOL}'))")
        await conn.execute(
            f"create schema if not exists {POOL};"
            f" create table if not exists {POOL}.schemas (name text primary key, key text not null)"
        )


async def _untouched(conn: db.Conn, schema: str) -> bool:
    """No table holds a row and no sequence has been used: what a wiped schema will look like."""
    tables = [r[0] for r in await conn.fetch(_TABLES, schema)]
    if tables and await conn.fetchval("select " + " or ".join(f"exists (select from {t})" for t in tables)):
        return False
    return not await conn.fetch(_USED_SEQUENCES, schema)


async def _take(conn: db.Conn, schema: str, key: str) -> bool | None:
    """A kept schema of `key` in place of `schema`, under its name: True if taken, False if `schema` is empty but none
    is kept, None if `schema` is not empty. Under the lock `db.migrate` takes, so that two processes migrating one
    schema at once do not both."""
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext($1 || ':migrate'))", schema)
        if await conn.fetchval(
            "select exists (select from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1)",
            schema,
        ):
            return None
        while True:
            kept = await conn.fetchval(
                f"delete from {POOL}.schemas where name = (select name from {POOL}.schemas where key = $1 limit 1"
                " for update skip locked) returning name",
                key,
            )
            if kept is None:
                return False
            if not await conn.fetchval("select 1 from pg_namespace where nspname = $1", kept):
                continue  # dropped by hand since
            if await _untouched(conn, kept):
                break
            await conn.execute(f"drop schema {_q(kept)} cascade")  # written to after it was kept: never given
        await conn.execute(f"drop schema {_q(schema)}; alter schema {_q(kept)} rename to {_q(schema)}")
    return True


async def _mark(conn: db.Conn, schema: str, key: str, count: int) -> None:
    fingerprint = await conn.fetchval(_FINGERPRINT, schema)
    await conn.execute(f"comment on schema {_q(schema)} is '{MARK} {key} {fingerprint} {count}'")


_pool_table_made = False


def wrap(real: Callable[[db.Pool, Sequence[tuple[str, str]]], Awaitable[list[str]]]) -> Any:
    async def migrate(pool: db.Pool, migrations: Sequence[tuple[str, str]]) -> list[str]:
        global _pool_table_made
        key = key_of(migrations)
        taken: bool | None = None
        try:
            async with pool.acquire() as conn:
                schema = await conn.fetchval("select current_schema()")
                if schema is not None:
                    if not _pool_table_made:
                        await _ensure_pool_table(conn)
                        _pool_table_made = True
                    taken = await _take(conn, schema, key)
        except Exception as exc:  # the pool is only a saving: the migrations run as they would without it
            log.debug("no kept schema taken: %r", exc)
        if taken:
            return [mid for mid, _ in migrations]
        applied = await real(pool, migrations)
        if taken is False and len(applied) == len(migrations):  # all of them, into a schema that was empty
            async with pool.acquire() as conn:
                if await _untouched(conn, schema):
                    await _mark(conn, schema, key, len(migrations))
        return applied

    migrate.__wrapped__ = real  # type: ignore[attr-defined]
    return migrate


def install() -> None:
    """`lgnet_shared.db.migrate` takes kept schemas from now on, in this process and the processes it forks."""
    if enabled() and not hasattr(db.migrate, "__wrapped__"):
        db.migrate = wrap(db.migrate)


async def keep_or_drop(conn: db.Conn, schema: str) -> None:
    """The end of a test's schema: emptied and kept when it may be, else dropped."""
    if enabled() and await _keep(conn, schema):
        return
    await conn.execute(f"drop schema if exists {_q(schema)} cascade")


async def _keep(conn: db.Conn, schema: str) -> bool:
    comment = await conn.fetchval(
        "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = $1", schema
    )
    if not comment or not comment.startswith(MARK + " "):
        return False
    parts = comment.split(" ")
    if len(parts) != 4:  # marked by an older version of this module
        return False
    _, key, fingerprint, count = parts
    try:
        async with conn.transaction():
            await conn.execute("set local lock_timeout = '100ms'")
            tables = [r[0] for r in await conn.fetch(_TABLES, schema)]
            if tables:  # a session still writing (a process not yet stopped) keeps its locks: not kept then
                await conn.execute(f"lock table {', '.join(tables)} in access exclusive mode")
            if await conn.fetchval(_FINGERPRINT, schema) != fingerprint:
                return False
            if await conn.fetchval(f"select count(*) from {_q(schema)}.schema_migrations") != int(count):
                return False  # migrated further since (a migration of data only leaves the structure as it was)
            if await conn.fetchval(f"select count(*) from {POOL}.schemas where key = $1", key) >= KEPT_PER_KEY:
                return False
            await conn.execute(
                "set local session_replication_role = replica; "  # no trigger, no foreign key check: all rows go
                + "".join(f"delete from {t}; " for t in tables)
            )
            for name, start in await conn.fetch(_USED_SEQUENCES, schema):
                await conn.execute("select setval($1::regclass, $2, false)", name, start)
            kept = f"kept_{uuid.uuid4().hex[:12]}"
            await conn.execute(f"alter schema {_q(schema)} rename to {_q(kept)}")
            await conn.execute(f"insert into {POOL}.schemas (name, key) values ($1, $2)", kept, key)
    except Exception as exc:  # a lock not granted, the pool's table not there: the schema is dropped instead
        log.debug("schema %s not kept: %r", schema, exc)
        return False
    return True
