"""The scheduler while PostgreSQL does not answer: /health/ready says so (503 naming postgres), and /metrics still
answers with the series it has — a city IT team's scrape during a PostgreSQL restart got a 500 from the scheduler
(and lost `lgnet_scheduler_last_tick_timestamp_seconds`), where every service's /metrics kept answering."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx
import pytest
from lgnet_shared.scheduler import main as scheduler_main
from lgnet_shared.scheduler.main import RETRY_S, SchedulerSettings, create_app
from lgnet_shared.scheduler.runner import Scheduler
from lgnet_shared.testing.process import free_port


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> SchedulerSettings:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://lgnet@127.0.0.1:{free_port()}/lgnet")  # nobody listens
    monkeypatch.setenv("LGNET_CITY", "torino")
    monkeypatch.setenv("LGNET_SCHEDULER_TOKENS", json.dumps({"housing": {"torino": "t"}}))
    return SchedulerSettings()


async def test_metrics_answer_and_readiness_names_postgres_while_it_is_down(settings: SchedulerSettings) -> None:
    app = create_app(settings)
    app.state.pool = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=0, max_size=1)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduler.test") as c:
            scraped = await c.get("/metrics")
            assert scraped.status_code == 200, scraped.text
            assert "lgnet_scheduler_last_tick_timestamp_seconds" in scraped.text
            ready = await c.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["postgres"] != "ok", ready.text
    finally:
        await app.state.pool.close()


async def test_the_ledger_while_postgres_is_down_is_a_503_problem_not_a_500(settings: SchedulerSettings) -> None:
    """`GET /runs` during a PostgreSQL restart answered "Internal Server Error" (text/plain 500) and logged an
    "Exception in ASGI application" traceback; every service answers such a request 503 problem+json with
    Retry-After. Its readiness names the failure as the services' does ("error: …")."""
    app = create_app(settings)
    app.state.pool = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=0, max_size=1)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://scheduler.test") as c:
            runs = await c.get("/runs")
            assert runs.status_code == 503, runs.text
            assert runs.headers["content-type"] == "application/problem+json"
            assert runs.json()["type"] == "urn:lgnet:problem:unavailable" and runs.headers["retry-after"] == "1"
            ready = await c.get("/health/ready")
            assert ready.json()["checks"]["postgres"] == "error: ConnectionRefusedError", ready.text
    finally:
        await app.state.pool.close()


async def test_readiness_is_back_within_seconds_once_a_failed_tick_succeeds(
    database_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tick that failed (PostgreSQL away) kept /health/ready at 503 "last tick failed" until the next tick, up to
    LGNET_SCHEDULER_TICK_S (60 s by default) after the database was back: a failed tick is now tried again within
    RETRY_S, and the outage logged once, not every try. The first ticks fail as during an outage; PostgreSQL (real)
    answers the next."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LGNET_DB_SCHEMA", pg_schema)
    monkeypatch.setenv("LGNET_CITY", "torino")
    monkeypatch.setenv("LGNET_SCHEDULER_TOKENS", json.dumps({"housing": {"torino": "t"}}))
    monkeypatch.setenv("LGNET_HOUSING_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LGNET_SCHEDULER_TICK_S", "3600")
    ticks: list[float] = []
    real_tick = Scheduler.tick

    async def tick(self: Scheduler) -> dict[str, Any]:
        ticks.append(time.monotonic())
        if len(ticks) <= 3:
            raise ConnectionRefusedError("PostgreSQL away")
        return await real_tick(self)

    monkeypatch.setattr(Scheduler, "tick", tick)
    monkeypatch.setattr(scheduler_main, "RETRY_S", 1.0)  # the product's 5 s, shorter: three tries in three seconds
    app = create_app(SchedulerSettings())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduler.test") as c:
            while not ticks:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            failed = await c.get("/health/ready")
            while (ready := await c.get("/health/ready")).status_code != 200 and time.monotonic() - ticks[0] < 30:
                await asyncio.sleep(0.2)
    assert failed.status_code == 503 and failed.json()["checks"]["loop"].startswith("last tick failed"), failed.text
    assert ready.status_code == 200 and ticks[3] - ticks[0] <= 3 * 1.0 + 2, (ready.text, ticks)
    assert RETRY_S == 5.0
    assert capsys.readouterr().out.count("scheduler tick failed") == 1
