"""PostgreSQL access: one schema per service (no service reads another's tables), ordered migrations."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from pydantic_core import from_json

log = logging.getLogger(__name__)
Pool = Any  # asyncpg.Pool; typed loosely because asyncpg ships no type information
Conn = Any  # asyncpg.Connection


async def create_pool(
    url: str, schema: str, *, min_size: int = 1, max_size: int = 20, create: bool = True, field: str = "schema"
) -> Pool:
    """A pool whose connections see only `schema` on their search path: created if missing, or, with `create`
    False (an administrator's command naming a service's schema), refused naming `field` — a mistyped schema was
    created and an actor added where no service reads it."""
    conn = await asyncpg.connect(url)
    try:
        if create:
            await conn.execute(f'create schema if not exists "{schema}"')
        elif not await conn.fetchval("select 1 from pg_namespace where nspname = $1", schema):
            raise ValueError(
                f"{field}: no schema {schema!r} in this database (start the service first, or check the name)"
            )
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=init_connection,
        connection_class=Connection,
        reset=reset_if_needed,
    )


async def schema_exists(url: str, schema: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("select 1 from pg_namespace where nspname = $1", schema))
    finally:
        await conn.close()


class Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pool's connection. Released, asyncpg resets a connection with `pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`: one more round trip for every HTTP request and consumer batch, about 5 % of a service's
    CPU. Here only a connection whose user took session state (`keeps_session_state`: a session-level advisory
    lock, a LISTEN) is reset so; the others need no reset: asyncpg still rolls back a transaction left open, and
    nothing else here leaves session state (no `SET` outside a transaction, no cursor `WITH HOLD`, temporary tables
    `on commit drop`)."""

    _keeps_session_state = False

    def keep_session_state(self) -> None:
        self._keeps_session_state = True


def keeps_session_state(conn: Conn) -> None:
    """`conn` (from `create_pool`) is about to take session state: the pool resets it fully when it is released."""
    mark = getattr(conn, "keep_session_state", None)
    if mark is not None:  # any other connection is reset fully anyway
        mark()


async def reset_if_needed(conn: Connection) -> None:
    if conn._keeps_session_state:
        await conn.execute(conn.get_reset_query())
        conn._keeps_session_state = False


async def init_connection(conn: Conn) -> None:
    """json/jsonb columns read and write Python objects. jsonb is decoded by pydantic-core (2-3 times faster than
    json.loads, the same values: PostgreSQL has already normalised it, e.g. no lone surrogate escapes, which
    pydantic-core refuses and a json column may still hold)."""
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=from_json, schema="pg_catalog")


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


async def recorded_migrations(pool: Pool) -> list[str]:
    """The migration ids the pool's schema records as applied (none in a new schema)."""
    async with pool.acquire() as conn:
        return await recorded_migrations_of(conn, await conn.fetchval("select current_schema()"))


async def recorded_migrations_of(conn: Conn, schema: str) -> list[str]:
    """The migration ids `schema` records as applied (none in a new schema, or none at all)."""
    if await conn.fetchval("select to_regclass(format('%I.schema_migrations', $1::text))", schema) is None:
        return []
    return [r["id"] for r in await conn.fetch(f'select id from "{schema}".schema_migrations')]


class DeferredWrites:
    """A connection whose `execute` calls with arguments are queued, not sent, and go to PostgreSQL together —
    each run of the same statement as one `executemany`, which asyncpg pipelines (one round trip, not one per
    call) — as soon as anything else touches the connection (a query, a savepoint, a cursor, `flush`). Order is
    kept: every read sees every write queued before it. What changes is what a caller can observe: `execute`
    returns "" instead of PostgreSQL's status ("UPDATE 0"), and a failing statement raises at the flush, not at
    its call. So it is for callers that need neither (see `consumer.PipelinedHandler`)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._queue: list[tuple[str, tuple[Any, ...]]] = []

    @property
    def deferring_for(self) -> Conn:
        """The connection the writes go to (outbox.append stages events on it, in order with other handlers')."""
        return self._conn

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        if not args or timeout is not None:  # a script or a timed statement: asyncpg's own path, in order
            await self.flush()
            return str(await self._conn.execute(query, *args, timeout=timeout))
        self._queue.append((query, args))
        return ""

    async def flush(self) -> None:
        queue, self._queue = self._queue, []
        for query, run in itertools.groupby(queue, key=operator.itemgetter(0)):
            await self._conn.executemany(query, [args for _, args in run])

    def discard(self) -> None:
        self._queue.clear()

    def transaction(self, **kwargs: Any) -> Any:
        return _Flushing(self, lambda: self._conn.transaction(**kwargs))

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a cursor on deferred writes: read with fetch/fetchrow/fetchval (they see queued writes)")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name not in _SENDS:
            return attr

        async def flushed_first(*args: Any, **kwargs: Any) -> Any:
            await self.flush()
            return await attr(*args, **kwargs)

        return flushed_first


# The connection's methods that send something (a pool's connection proxy wraps them as plain functions, so they are
# named here rather than recognised as coroutine functions): the queued writes go first.
_SENDS = frozenset(
    {
        "fetch",
        "fetchrow",
        "fetchval",
        "fetchmany",
        "executemany",
        "prepare",
        "copy_from_table",
        "copy_from_query",
        "copy_to_table",
        "copy_records_to_table",
        "set_type_codec",
        "reset_type_codec",
        "set_builtin_type_codec",
        "reload_schema_state",
        "reset",
        "close",
    }
)


class _Flushing:
    """`async with writes.transaction():` — a savepoint opens only after the writes queued before it are sent."""

    def __init__(self, writes: DeferredWrites, make: Callable[[], Any]) -> None:
        self._writes, self._make = writes, make
        self._tx: Any = None

    async def __aenter__(self) -> Any:
        await self._writes.flush()
        self._tx = self._make()
        return await self._tx.__aenter__()

    async def start(self) -> None:  # tx = writes.transaction(); await tx.start() ... await tx.commit()
        await self._writes.flush()
        self._tx = self._make()
        await self._tx.start()

    async def commit(self) -> None:
        await self._writes.flush()
        await self._tx.commit()

    async def rollback(self) -> None:
        self._writes.discard()
        await self._tx.rollback()

    async def __aexit__(self, *exc: Any) -> Any:
        if exc[0] is None:  # the writes queued inside belong inside the savepoint
            try:
                await self._writes.flush()
            except Exception as err:  # one of them failed: the savepoint is rolled back, as if it failed inside
                await self._tx.__aexit__(type(err), err, err.__traceback__)
                raise
        else:  # rolled back with it: never sent afterwards, outside it
            self._writes.discard()
        return await self._tx.__aexit__(*exc)


R = TypeVar("R")


async def checked_then_locked(
    read: Callable[[bool], Awaitable[R]], check: Callable[[R], None], seen: R | None = None
) -> R:
    """A row to change: read and `check`ed (the caller's rights) without a lock, then read locked and checked again
    (what was committed meanwhile: a transfer, a closing). Locked first, a caller then refused — another city's,
    another partner's — held the row until its own transaction ended (a consumer's batch, a slow request) and the
    rightful writer waited for it. One round trip more than locking at once, on the allowed path only.
    `read(lock)`: the row, locked (`select … for update` or `for no key update`) when `lock`; `seen`: the row already
    read and checked without a lock (the caller needed it first, e.g. to lock another row before this one)."""
    if seen is None:
        check(seen := await read(False))
    row = await read(True)
    check(row)
    return row


def where_given(required: str, args: list[Any], optional: Sequence[tuple[str, Any]]) -> str:
    """A `where` clause of `required` and of each optional condition whose value is not None (written with `{}` for
    its parameter's place), each value appended to `args` as the next `$n`. Only the conditions given reach the
    query, so that its plan can use the indexes they match (`$n is null or …` hides them from a generic plan)."""
    where = [required]
    for condition, value in optional:
        if value is not None:
            args.append(value)
            where.append(condition.format(f"${len(args)}"))
    return " and ".join(where)


async def ping(pool: Pool, timeout_s: float = 2.0) -> None:
    """`select 1` within `timeout_s`, the connection's opening included (readiness: PostgreSQL behind a firewall that
    drops its traffic would otherwise hold the probe for asyncpg's 60 s connect timeout)."""
    async with asyncio.timeout(timeout_s), pool.acquire() as conn:
        await conn.fetchval("select 1")
