"""The scheduler of a city that stopped running a service (payments dropped: its contributions now paid by the
city's own accounting, the payments token taken out of LGNET_SCHEDULER_TOKENS). Its jobs are no longer run, as
documented — but /metrics kept exporting them from the ledger: `lgnet_scheduler_failing` 1 for ever when the last
attempt had failed, and `lgnet_scheduler_last_success_timestamp_seconds` growing older than the ~26 h alert. A job
the scheduler does not run (or a city it does not serve) is not in its metrics; its rows stay in /runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from lgnet_shared import db
from lgnet_shared.scheduler import ledger
from lgnet_shared.scheduler.main import SchedulerSettings, create_app
from lgnet_shared.scheduler.rules import Status
from lgnet_shared.testing import schema_pool
from lgnet_shared.testing.process import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    name = f"sched_{uuid.uuid4().hex[:8]}"
    yield name
    pool = await db.create_pool(database_url, name, max_size=1)
    async with pool.acquire() as conn:
        await schema_pool.keep_or_drop(conn, name)
    await pool.close()


async def _ledger(database_url: str, schema: str, rows: list[tuple[str, str, date, Status]]) -> None:
    pool = await db.create_pool(database_url, schema, max_size=1)
    try:
        await db.migrate(pool, ledger.MIGRATIONS)
        async with pool.acquire() as conn:
            for job, city, day, status in rows:
                await ledger.start(conn, job, city, day)
                await ledger.finish(
                    conn, job, city, day, status, "HTTP 200" if status is Status.DONE else "ConnectError"
                )
    finally:
        await pool.close()


async def test_a_job_the_scheduler_no_longer_runs_is_not_shown_failing_for_ever(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _ledger(database_url, schema, [
        ("payments.voucher_expiry", "genova", date(2026, 1, 4), Status.DONE),
        ("payments.voucher_expiry", "genova", date(2026, 1, 5), Status.FAILED),  # the day payments was switched off
        ("intake.appointment_reminders", "venezia", date(2026, 1, 5), Status.FAILED),  # a city no longer served
    ])  # fmt: skip
    nobody = f"http://127.0.0.1:{free_port()}"
    env: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "LGNET_DB_SCHEMA": schema,
        "LGNET_CITY": "genova",
        "LGNET_SCHEDULER_TOKENS": json.dumps({"intake": {"genova": "t"}, "housing": {"genova": "t"}}),  # no payments
        "LGNET_INTAKE_URL": nobody,
        "LGNET_HOUSING_URL": nobody,
        "LGNET_SCHEDULER_TICK_S": "3600",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(SchedulerSettings())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduler.test") as c:
            text = (await c.get("/metrics")).text
            runs = (await c.get("/runs")).json()
    series = [line for line in text.splitlines() if line.startswith("lgnet_scheduler_") and "{" in line]
    assert not [s for s in series if 'job="payments.voucher_expiry"' in s and 'city="genova"' in s], series
    assert not [s for s in series if 'city="venezia"' in s], series
    assert {(r["job"], r["city"]) for r in runs} >= {("payments.voucher_expiry", "genova"),
                                                       ("intake.appointment_reminders", "venezia")}  # fmt: skip
