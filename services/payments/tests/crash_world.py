"""What the payments property tests share: a fresh schema per example, operations run concurrently each in its
own transaction, crashes that cut them off, and a clean end (conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from hypothesis import event
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_shared import clock, db, pii
from lgnet_shared.access import Actor
from lgnet_shared.errors import ContractError
from lgnet_shared.service import all_migrations
from lgnet_shared.testing import schema_pool

KEYS = pii.KeyStore(b"k" * 32)
CRASHED = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    OSError,
    asyncio.CancelledError,
)
REFUSED = (ContractError, asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError)
Op = tuple[Any, ...]


@dataclass
class CrashWorld:
    """Subclasses say what each operation does (`_run`); ("crash", ms) terminates the pool under the running ones
    (their transactions are cut off as by a killed process) and opens a new one, as a restarted service would."""

    url: str
    schema: str = field(default_factory=lambda: f"t_{uuid.uuid4().hex[:12]}")
    pool: Any = None

    async def open(self) -> None:
        self.pool = await db.create_pool(self.url, self.schema, max_size=8)
        await db.migrate(self.pool, all_migrations(MIGRATIONS))

    async def unit(self, actor: Actor, run: Callable[[UnitOfWork, Context], Awaitable[Any]]) -> Any:
        async with self.pool.acquire() as conn, conn.transaction():
            return await run(UnitOfWork(conn, KEYS), Context(actor, clock.today()))

    async def run(self, op: Op) -> str:
        try:
            if op[0] == "crash":
                await asyncio.sleep(op[1] / 1000)
                self.pool.terminate()
                self.pool = await db.create_pool(self.url, self.schema, max_size=8)
            else:
                await self._run(op)
            return "ok"
        except REFUSED:
            return "refused"
        except CRASHED:
            return "crashed"

    async def _run(self, op: Op) -> None:
        raise NotImplementedError

    async def play(self, rounds: list[list[Op]], check: Callable[[Any], Awaitable[Any]]) -> None:
        """Each round's operations at once, then the invariants; finally the crashed processes are gone."""
        for round_ in rounds:
            outcomes = await asyncio.gather(*(self.run(op) for op in round_))
            for op, outcome in zip(round_, outcomes, strict=True):
                event(f"{op[0]}: {outcome}")
            async with self.pool.acquire() as conn:
                await check(conn)
        await self.end_orphans()

    async def end_orphans(self) -> None:
        """End the server side of connections a crash cut off that still hold locks in the schema: the server
        notices a dead client only when it next talks to it, and until then its row locks make runs skip rows."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(
                "select pg_terminate_backend(pid, 5000) from (select distinct l.pid from pg_locks l"
                " join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = $1 and l.pid <> pg_backend_pid()) orphans",
                self.schema,
            )
        finally:
            await conn.close()

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
        await self.end_orphans()
        conn = await asyncpg.connect(self.url)
        try:
            await schema_pool.keep_or_drop(conn, self.schema)
        finally:
            await conn.close()
