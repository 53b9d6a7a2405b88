"""Entry point of the desk: `lgnet-desk` (configuration from the environment, see README)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from lgnet_shared import config, http, logs, metrics, runtime_schema, serving, setup_errors

from lgnet_desk.adapters import store
from lgnet_desk.adapters.schema import MIGRATIONS
from lgnet_desk.entrypoints import (
    account_web,
    catalogue_web,
    erasure_web,
    housing_web,
    outreach_web,
    payments_web,
    web,
)
from lgnet_desk.settings import DeskSettings

log = logs.get_logger(__name__)


def create_app(settings: DeskSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            with setup_errors.database(
                settings.database_url, needs=f"the desk creates its schema {settings.db_schema!r}"
            ):
                # refused on one line naming LGNET_DB_SCHEMA when it holds another program's tables (intake's)
                app.state.pool = await runtime_schema.pool_of(
                    settings.database_url, settings.db_schema, "desk", migrations=MIGRATIONS, max_size=10
                )
            async with app.state.pool.acquire() as conn:
                if not await store.opens_stored_tokens(conn, web._token_key(settings)):
                    raise setup_errors.SetupError(
                        f"LGNET_MASTER_KEY: does not open the operators' service tokens already in schema"
                        f" {settings.db_schema!r} (sealed with another master key): start with the key the desk has"
                        " used; a new key cannot read them"
                    )
        except setup_errors.SetupError as refused:  # one line naming the setting and why, not a traceback
            log.error("start refused", reason=str(refused))
            app.state.start_refused = True
            await app.state.http.aclose()
            if getattr(app.state, "pool", None) is not None:
                await app.state.pool.close()
            raise
        try:
            yield
        finally:
            await app.state.http.aclose()
            await app.state.pool.close()

    app = FastAPI(title="LgNet desk", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(packages=[("lgnet_desk.entrypoints", "static")]), name="static")
    web.install(app, settings)
    app.include_router(outreach_web.router(settings))  # #19: outings, street contacts, agenda
    app.include_router(housing_web.router(settings))  # a household's housing steps
    app.include_router(catalogue_web.router(settings))  # the city's housing catalogue and its matching
    app.include_router(payments_web.router(settings))  # the payments office: batches, SEPA files, the bank's result
    app.include_router(account_web.router(settings))  # the operator's own password
    app.include_router(erasure_web.router(settings))  # a person's (or street person's) erasure, GDPR art. 17
    return app


def main() -> None:
    settings = config.of_command("lgnet-desk", DeskSettings, DeskSettings.master_key_bytes)
    if settings is None:
        return
    # The port first: taken by another process, one line naming LGNET_HTTP_PORT and no schema made.
    sock = serving.listening_socket(settings.http_host, settings.http_port, "lgnet-desk: ")
    # JSON lines, as the services log (uvicorn's own included), each naming the deployment; /metrics names it too
    logs.configure("desk", settings.log_level, deployment=settings.deployment_name)
    metrics.DEPLOYMENT.labels("desk", settings.deployment_name, settings.city).set(1)
    serving.serve_on(
        sock,
        http.quiet_refusal(create_app(settings)),
        log_config=None,
        access_log=False,
        proxy_headers=True,  # the client's address from the proxy's X-Forwarded-For (the login throttle counts by it)
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


if __name__ == "__main__":
    main()
