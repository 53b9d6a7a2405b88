"""A service's real FastAPI app in the test's own process (ASGI, no socket), on real PostgreSQL: the same routes,
handlers, problem handlers and input guard as the deployed service, with its schema migrated and the actors of
two cities provisioned. Kafka is not needed: the outbox keeps what would be published, and a test delivers the
events a service consumes by calling its handlers (`deliver`), in one transaction as the consumer would.

Used by the authorisation matrices and the schemathesis fuzzing of each service. With `check_answers`, every 2xx
JSON answer its clients receive is checked against the response schema the app's OpenAPI declares (`answers`)."""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from lgnet_shared import auth, config, db, pii
from lgnet_shared.access import Role
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import BatchHandler, Handler
from lgnet_shared.events import Event
from lgnet_shared.service import ServiceSpec, all_migrations, create_app
from lgnet_shared.testing.answers import AnswerCheck
from lgnet_shared.testing.plugin import own_or_shared

# Who calls: the same six actors in every service's tests.
ACTORS: list[tuple[str, Role, str | None]] = [
    ("staff-torino", Role.STAFF, "torino"),
    ("staff-trieste", Role.STAFF, "trieste"),
    ("coop-aurora", Role.PARTNER, "torino"),  # the partner the test's cases are assigned to
    ("coop-borgo", Role.PARTNER, "torino"),  # another partner of the same city
    ("coop-carso", Role.PARTNER, "trieste"),
    ("coordination", Role.NATIONAL, None),
    ("audit-office", Role.AUDITOR, None),  # reads reporting's reports; refused by every other service
]


@dataclass
class InProcessService:
    app: FastAPI
    pool: Any
    tokens: dict[str, str] = field(default_factory=dict)
    answers: AnswerCheck | None = None  # set: every client checks the app's answers against its OpenAPI

    def client(self, actor: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client of the app, as `actor` (None: no Authorization header)."""
        headers = ({"Authorization": f"Bearer {self.tokens[actor]}"} if actor else {}) | kwargs.pop("headers", {})
        if self.answers is not None:
            kwargs["event_hooks"] = {"response": [self.answers.hook]}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://lgnet.test", headers=headers, **kwargs
        )

    async def deliver(
        self, handlers: Mapping[str, Handler], event: Event, city: str, partner: str | None = None
    ) -> None:
        """`event` processed by the service's consumer handler for it, as if consumed from Kafka."""
        env = to_envelope(event, source="/test", city=city, partner=partner)
        handler = handlers[env.type]
        async with self.pool.acquire() as conn, conn.transaction():
            if isinstance(handler, BatchHandler):
                await handler.apply(conn, [(env, event)])
            else:
                await handler(conn, env, event)


def settings_for(database_url: str, schema: str, kafka_bootstrap: str = "127.0.0.1:9") -> config.Settings:
    """A national deployment's settings on the test's schema, with a throw-away master key (Kafka unused)."""
    return config.Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        city="national",
        master_key=base64.b64encode(os.urandom(32)).decode(),
        db_schema=schema,
    )


@asynccontextmanager
async def in_process(
    spec: ServiceSpec, database_url: str, schema: str, *, check_answers: bool = False
) -> AsyncIterator[InProcessService]:
    settings = settings_for(database_url, schema)
    app = create_app(spec, settings)
    runtime = app.state.runtime
    runtime.pool = await db.create_pool(database_url, schema)
    try:
        await db.migrate(runtime.pool, all_migrations(spec.migrations))
        runtime.keys = pii.KeyStore(settings.master_key_bytes())
        service = InProcessService(app, runtime.pool, answers=AnswerCheck(app.openapi()) if check_answers else None)
        async with runtime.pool.acquire() as conn:
            for actor_id, role, city in ACTORS:
                await auth.add_actor(conn, actor_id, role, city, actor_id)
                service.tokens[actor_id] = await auth.issue_token(conn, actor_id)
        yield service
    finally:
        await runtime.pool.close()


def sibling_module(test_file: str, filename: str) -> ModuleType:
    """A module next to `test_file`, loaded under a name of its own: the services' test folders hold modules of
    the same name (`test_authorization_matrix`), so a plain import would get whichever came first."""
    path = Path(test_file).with_name(filename)
    name = f"{path.parent.parent.name}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


Start = Callable[[str, str], AbstractAsyncContextManager[InProcessService]]


def fixtures_per_module(name: str, start: ServiceSpec | Start) -> tuple[Any, Any, Any, Any]:
    """The fixtures of a service a test module runs in process, for `own_or_shared` (lgnet_shared.testing.plugin):
    `name` (the test's own service, or in a module marked `shared_service` the module's one), `<name>_own`,
    `<name>_shared` (module scope) and `<name>_view`. `start(database_url, schema)` makes one (a spec: the service as
    `in_process` makes it, answers checked). In the module: `payments, payments_own, payments_shared, payments_view =
    fixtures_per_module("payments", funded)`."""
    make: Start = (
        (lambda url, schema: in_process(start, url, schema, check_answers=True))
        if isinstance(start, ServiceSpec)
        else start
    )

    @pytest.fixture(name=name)
    def dispatch(request: pytest.FixtureRequest) -> InProcessService:
        return cast(InProcessService, own_or_shared(request, name))

    @pytest.fixture(name=f"{name}_own")
    async def own(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
        async with make(database_url, pg_schema) as service:
            yield service

    @pytest.fixture(name=f"{name}_shared", scope="module")
    async def shared(database_url: str, module_pg_schema: str) -> AsyncIterator[InProcessService]:
        async with make(database_url, module_pg_schema) as service:
            yield service

    @pytest.fixture(name=f"{name}_view")
    def view(request: pytest.FixtureRequest) -> InProcessService:
        return cast(InProcessService, request.getfixturevalue(f"{name}_shared"))  # no topics: the service itself

    return dispatch, own, shared, view
