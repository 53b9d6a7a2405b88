"""`lgnet-scheduler`: settings from the environment, the tick loop, and /health/live, /health/ready, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgnet_shared import config, db, http, logs, serving, setup_errors
from lgnet_shared import metrics as shared_metrics
from lgnet_shared.cities import CITIES, NATIONAL, outside_programme
from lgnet_shared.scheduler import ledger, metrics
from lgnet_shared.scheduler.rules import Job
from lgnet_shared.scheduler.runner import Scheduler
from lgnet_shared.tasks import being_cancelled

log = logs.get_logger("lgnet.scheduler")
# After a failed tick, the next try comes this soon (one connection attempt; a tick is one lock and a few queries).
RETRY_S = 5.0


class SchedulerSettings(BaseSettings):
    """Every variable the scheduler reads (docs/operators.md, "Scheduled work")."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: SecretStr = Field(alias="DATABASE_URL")
    db_schema: str = Field("scheduler", alias="LGNET_DB_SCHEMA")
    city: str = Field("national", alias="LGNET_CITY")
    cities: str = Field("", alias="LGNET_SCHEDULER_CITIES", description="comma-separated; default LGNET_CITY")
    at: time = Field(time(6, 0), alias="LGNET_SCHEDULER_AT", description="local time of day of the daily run")
    timezone: str = Field("Europe/Rome", alias="LGNET_SCHEDULER_TZ")
    tick_s: float = Field(60.0, alias="LGNET_SCHEDULER_TICK_S", gt=0)
    max_catch_up_days: int = Field(7, alias="LGNET_SCHEDULER_MAX_CATCH_UP_DAYS", ge=1)
    max_attempts: int = Field(5, alias="LGNET_SCHEDULER_MAX_ATTEMPTS", ge=1)
    jobs_file: Path | None = Field(None, alias="LGNET_SCHEDULER_JOBS_FILE")
    tokens: SecretStr | None = Field(None, alias="LGNET_SCHEDULER_TOKENS", description="JSON {service: {city: token}}")
    tokens_file: Path | None = Field(None, alias="LGNET_SCHEDULER_TOKENS_FILE")
    intake_url: str = Field("http://127.0.0.1:8001", alias="LGNET_INTAKE_URL")
    housing_url: str = Field("http://127.0.0.1:8002", alias="LGNET_HOUSING_URL")
    payments_url: str = Field("http://127.0.0.1:8003", alias="LGNET_PAYMENTS_URL")
    reporting_url: str = Field("http://127.0.0.1:8004", alias="LGNET_REPORTING_URL")
    http_host: str = Field("127.0.0.1", alias="LGNET_HTTP_HOST")
    http_port: config.Port = Field(8006, alias="LGNET_HTTP_PORT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LGNET_LOG_LEVEL")

    @field_validator("database_url")
    @classmethod
    def _pg(cls, v: SecretStr) -> SecretStr:
        config.database_url_checked(v.get_secret_value())
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Rome)") from None
        return v

    def city_list(self) -> list[str]:
        given = [c.strip() for c in self.cities.split(",") if c.strip()]
        var = "LGNET_SCHEDULER_CITIES" if given else "LGNET_CITY"  # the variable that named the city is named
        for name in given or [self.city]:
            if name == NATIONAL:
                raise ValueError(f"{var}: a national scheduler names its cities in LGNET_SCHEDULER_CITIES")
            if name not in CITIES:
                raise ValueError(f"{var}: {name!r} is not a city ({', '.join(CITIES)})")
            if why := outside_programme(name):
                raise ValueError(f"{var}: {why}")
        return given or [self.city]

    def urls(self) -> dict[str, str]:
        return {s: getattr(self, f"{s}_url") for s in ("intake", "housing", "payments", "reporting")}

    def job_list(self) -> list[Job]:
        text = (
            self.jobs_file.read_text()
            if self.jobs_file
            else resources.files("lgnet_shared.scheduler").joinpath("jobs.toml").read_text()
        )
        return parse_jobs(text, where=str(self.jobs_file or "jobs.toml"))

    def token_map(self) -> dict[str, dict[str, str]]:
        raw = self.tokens.get_secret_value() if self.tokens else None
        if raw is None and self.tokens_file is not None:
            raw = self.tokens_file.read_text()
        if raw is None:
            raise ValueError("LGNET_SCHEDULER_TOKENS or LGNET_SCHEDULER_TOKENS_FILE: required (staff tokens per city)")
        try:
            found = json.loads(raw)
        except ValueError:
            raise ValueError("LGNET_SCHEDULER_TOKENS: not JSON ({service: {city: token}})") from None
        if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
            raise ValueError("LGNET_SCHEDULER_TOKENS: expected {service: {city: token}}")
        return {s: {c: str(t) for c, t in per.items()} for s, per in found.items()}


def runnable_jobs(jobs: Sequence[Job], tokens: Mapping[str, Mapping[str, str]]) -> list[Job]:
    """The jobs of the services the tokens name: a service given no token is not this deployment's (a city running
    housing without payments), and its jobs are set aside, said once, instead of failing every day."""
    kept = [j for j in jobs if j.service in tokens]
    if dropped := [j.name for j in jobs if j.service not in tokens]:
        log.warning(
            "jobs not run: LGNET_SCHEDULER_TOKENS names no token for their service",
            jobs=", ".join(dropped),
            services=", ".join(sorted({j.service for j in jobs} - set(tokens))),
        )
    return kept


def parse_jobs(text: str, where: str = "jobs.toml") -> list[Job]:
    """The jobs file: `jobs = [{name, service, path, body?, catch_up?, day_offset?, method?}, ...]`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{where}: not TOML ({e})") from None
    jobs = []
    for i, spec in enumerate(data.get("jobs", [])):
        missing = {"name", "service", "path"} - set(spec)
        if missing:
            raise ValueError(f"{where}: job {i + 1} lacks {sorted(missing)}")
        if spec["service"] not in ("intake", "housing", "payments", "reporting"):
            raise ValueError(f"{where}: job {spec['name']}: unknown service {spec['service']!r}")
        if spec.get("catch_up", "each") not in ("each", "latest"):
            raise ValueError(f"{where}: job {spec['name']}: catch_up must be each or latest")
        jobs.append(Job(**spec))
    if len({j.name for j in jobs}) != len(jobs):
        raise ValueError(f"{where}: two jobs have the same name")
    return jobs


def create_app(settings: SchedulerSettings, scheduler_factory: Any = None) -> FastAPI:
    state: dict[str, Any] = {"last_tick": None, "error": None}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database_url.get_secret_value()
        try:
            with setup_errors.database(url, needs=f"the scheduler creates its schema {settings.db_schema!r}"):
                pool = await db.create_pool(url, settings.db_schema, max_size=4)
                await db.migrate(pool, ledger.MIGRATIONS)
        except setup_errors.SetupError as refused:  # one line naming DATABASE_URL and why, not a traceback
            log.error("start refused", reason=str(refused))
            app.state.start_refused = True
            raise
        scheduler = Scheduler(
            pool=pool,
            jobs=runnable_jobs(settings.job_list(), tokens := settings.token_map()),
            cities=settings.city_list(),
            urls=settings.urls(),
            tokens=tokens,
            at=settings.at,
            tz=ZoneInfo(settings.timezone),
            max_catch_up_days=settings.max_catch_up_days,
            max_attempts=settings.max_attempts,
        )
        app.state.pool, app.state.scheduler = pool, scheduler

        async def loop() -> None:
            while True:
                try:
                    outcome = await scheduler.tick()
                    metrics.LEADER.set(1 if outcome["leader"] else 0)
                    state["error"] = None
                except Exception as e:  # a database outage must not end the loop: ready says so, the next tick retries
                    if being_cancelled():
                        raise asyncio.CancelledError from e
                    if state["error"] != type(e).__name__:  # once per outage: a failed tick is tried every RETRY_S
                        log.error("scheduler tick failed", error=f"{type(e).__name__}: {e}")
                    state["error"] = f"{type(e).__name__}"
                state["last_tick"] = datetime.now(UTC)
                metrics.LAST_TICK.set(state["last_tick"].timestamp())
                # A failed tick (PostgreSQL away) is tried again soon: /health/ready said "last tick failed" for up to
                # a whole tick after the database was back.
                await asyncio.sleep(min(settings.tick_s, RETRY_S) if state["error"] else settings.tick_s)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pool.close()

    app = FastAPI(title="LgNet scheduler", lifespan=lifespan, version="0.1.0")
    # problem+json answers, as the services': PostgreSQL away is a 503 with Retry-After (a 500 and a traceback before)
    http.install_problem_handlers(app)

    @app.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": "scheduler"}

    @app.get("/health/ready", summary="PostgreSQL answers and the loop ticks")
    async def ready(response: Response) -> dict[str, Any]:
        checks = {"postgres": "ok", "loop": "ok"}
        try:
            await db.ping(app.state.pool)
        except Exception as e:  # any failure to reach the database is "not ready", named
            checks["postgres"] = f"error: {type(e).__name__}"
        last = state["last_tick"]
        if last is None or (datetime.now(UTC) - last).total_seconds() > 3 * settings.tick_s + 30:
            checks["loop"] = "not ticking"
        elif state["error"]:
            checks["loop"] = f"last tick failed: {state['error']}"
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return {"status": "ok" if ok else "unavailable", "service": "scheduler", "checks": checks}

    @app.get("/runs", summary="The ledger: every (job, city, day) with its status")
    async def runs(job: str | None = None) -> list[dict[str, Any]]:
        async with app.state.pool.acquire() as conn:
            return [
                {k: (str(v) if v is not None else None) for k, v in r.items()} for r in await ledger.runs(conn, job)
            ]

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        """The ledger's series as last read when PostgreSQL does not answer: a scrape during an outage still gets
        this replica's own series (`lgnet_scheduler_last_tick_timestamp_seconds`, runs) instead of a 500."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2), app.state.pool.acquire() as conn:
                rows = await ledger.latest(conn)
            # Only what this scheduler runs: a job of a service it is given no token for (a city that stopped running
            # payments) or a city it no longer serves stays in /runs, not in the alerts' series (failing for ever).
            scheduler = app.state.scheduler
            jobs, cities = {j.name for j in scheduler.jobs}, set(scheduler.cities)
            metrics.refresh([r for r in rows if r["job"] in jobs and r["city"] in cities])
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def main() -> None:
    settings = config.of_command(
        "lgnet-scheduler", SchedulerSettings, lambda s: (s.job_list(), s.city_list(), s.token_map())
    )
    if settings is None:
        return
    # The port first: taken by another process, one line naming LGNET_HTTP_PORT and no schema made.
    sock = serving.listening_socket(settings.http_host, settings.http_port, "lgnet-scheduler: ")
    logs.configure("scheduler", settings.log_level, deployment=config.deployment_of())
    # /metrics names the process as the services' and the desk's do: a city's scheduler apart from the national one
    shared_metrics.DEPLOYMENT.labels("scheduler", config.deployment_of(), settings.city).set(1)
    serving.serve_on(sock, http.quiet_refusal(create_app(settings)), log_config=None, access_log=False)


if __name__ == "__main__":
    main()
