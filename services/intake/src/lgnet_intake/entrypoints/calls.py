"""How intake's HTTP routers call a use case: one transaction per request with the use-case object and the
caller's context, idempotent creates (the Idempotency-Key answers a retry what the first call did), plain reads.
Shared by http.py, civic_http.py and outreach_http.py, which differ only in the use-case object they build."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from fastapi.responses import JSONResponse
from lgnet_shared import clock
from lgnet_shared.db import Conn
from lgnet_shared.http import idempotent
from lgnet_shared.service import Runtime

from lgnet_intake.domain.access import Actor, in_a_city
from lgnet_intake.service_layer.handlers import Context
from lgnet_intake.service_layer.read_log import logged, logged_each


class UsesConnection(Protocol):
    @property
    def conn(self) -> Any: ...


U = TypeVar("U", bound=UsesConnection)
T = TypeVar("T")
Run = Callable[[U, Context], Awaitable[Any]]


@dataclass
class Calls(Generic[U]):
    runtime: Runtime
    build: Callable[[Conn], U]  # the use-case object over the request's transaction
    request_secret: bytes  # the key the stored idempotent requests are hashed under (bodies may hold personal data)

    @asynccontextmanager
    async def use_case(self, actor: Actor, *, national: bool = False) -> AsyncIterator[tuple[U, Context]]:
        """`national`: the route is one the national role may use; every other refuses it by role before anything
        it names is looked up (`in_a_city`). Reads of a person's data refuse it in the read log's `logged`."""
        if not national:
            in_a_city(actor)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            yield self.build(conn), Context(actor, clock.today())

    async def create(
        self,
        actor: Actor,
        key: str | None,
        body: Any,
        run: Callable[[U, Context], Awaitable[Any]],
        route: str | None = None,
        status_code: int = 201,
    ) -> JSONResponse:
        """`route`, when given, is part of the request a key is bound to (routes whose bodies could coincide)."""
        async with self.use_case(actor) as (use, ctx):
            request = body.model_dump(mode="json")
            if route is not None:
                request = {"route": route, **request}
            return await idempotent(
                use.conn, actor.id, key, request, lambda: run(use, ctx), status_code, self.request_secret
            )

    async def act(self, actor: Actor, run: Callable[[U, Context], Awaitable[Any]], *, national: bool = False) -> Any:
        async with self.use_case(actor, national=national) as (use, ctx):
            return await run(use, ctx)

    async def read(
        self,
        actor: Actor,
        client: str | None,
        kind: str,
        person_id: str | None,
        run: Callable[[U, Context], Awaitable[Any]],
        shown: Callable[[Any], list[str]] | None = None,
    ) -> Any:
        """A read of a person's data, in the read log (service_layer/read_log.py)."""
        async with self.runtime.pool.acquire() as conn:
            use, ctx = self.build(conn), Context(actor, clock.today())
            return await logged(conn, actor, client, kind, person_id, lambda: run(use, ctx), shown)

    async def read_each(
        self,
        actor: Actor,
        client: str | None,
        kind: str,
        person_ids: list[str],
        run: Callable[[U, Context, str], Awaitable[T]],
    ) -> list[T]:
        """Reads of many persons' data, one transaction for all, each in the read log as `read` logs it; those refused
        or that exist nowhere left out (service_layer/read_log.py, `logged_each`)."""
        async with self.runtime.pool.acquire() as conn:
            use, ctx = self.build(conn), Context(actor, clock.today())
            return await logged_each(conn, actor, client, kind, person_ids, lambda pid: run(use, ctx, pid))
