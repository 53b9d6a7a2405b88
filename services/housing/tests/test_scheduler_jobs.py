"""lgnet-scheduler against the real housing service, Kafka and PostgreSQL: the daily stalled-match check runs once
per city and day, a missed day is caught up (as of that day, so the reminder falls on the day the step really
became stalled), a second replica does not tick while the first holds the lock, a failing job is retried and shown
in /metrics, and the `lgnet-scheduler` process serves /health and /metrics from the ledger."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from lgnet_shared import clock, db
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.scheduler import ledger, metrics
from lgnet_shared.scheduler.rules import Job, Status
from lgnet_shared.scheduler.runner import Scheduler
from lgnet_shared.testing import HTTP_TIMEOUT_S, schema_pool
from lgnet_shared.testing.process import ServiceProcess, free_port
from lgnet_shared.testing.topics import read_events
from lgnet_shared.topics import for_partner, physical

if TYPE_CHECKING:
    from conftest import HousingUnderTest

# One housing for the module; the daily check that counts what it found in the city (and whose per-day key another
# test's check would have answered first) gets its own.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
ROME = ZoneInfo("Europe/Rome")
AT = time(6, 0)
STALLED = Job("housing.stalled_matches_and_holds", "housing", "/matching/stalled-check", {"on": "{day}"})
# The appointment reminders line, pointed at a port where nothing listens (intake's route does not exist yet).
REMINDERS = Job(
    "intake.appointment_reminders", "intake", "/appointments/reminders", {"city": "{city}", "day": "{day}"}, "latest"
)


def local_now() -> datetime:
    """Now, or today's run time in Rome if it has not come yet: the latest due day is the local today."""
    now = datetime.now(UTC)
    run_time = datetime.combine(now.astimezone(ROME).date(), AT, ROME)
    return max(now, run_time.astimezone(UTC))


@pytest.fixture
async def ledger_pool(database_url: str) -> AsyncIterator[Any]:
    schema = f"sched_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(database_url, schema, max_size=4)
    await db.migrate(pool, ledger.MIGRATIONS)
    try:
        yield pool
    finally:
        async with pool.acquire() as conn:
            await schema_pool.keep_or_drop(conn, schema)
        await pool.close()


def scheduler(housing: HousingUnderTest, pool: Any, jobs: list[Job], now: datetime) -> Scheduler:
    return Scheduler(
        pool=pool,
        jobs=jobs,
        cities=["torino", "trieste"],
        urls={"housing": housing.process.url, "intake": f"http://127.0.0.1:{free_port()}"},
        tokens={
            "housing": {"torino": housing.tokens["staff-torino"], "trieste": housing.tokens["staff-trieste"]},
            "intake": {"torino": "lgn_nothing-listens"},
        },
        at=AT,
        tz=ROME,
        http_timeout_s=5,
        clock=lambda: now,
    )


@pytest.mark.own_service  # the stalled check scans every city's matches; its (city, day) key is the service's one
async def test_daily_check_runs_once_catches_up_and_yields_to_the_lock_holder(
    housing: HousingUnderTest, ledger_pool: Any
) -> None:
    now = local_now()
    today = now.astimezone(ROME).date()
    await housing.publish("torino", *housing.household_events("h-s", "torino", [(date(1990, 1, 1), iev.Sex.MALE)]))
    await housing.wait_open_cases(1)
    async with housing.client("coop-aurora") as c:
        room = {"opportunity_id": "o-s", "kind": "non_hotel_room", "capacity": 1, "bedrooms": 1, "accessible": False,
                "monthly_rent_cents": 20_000, "available_from": today.isoformat(), "support_level": "none",
                "restrictions": [], "languages": []}  # fmt: skip
        r = await c.post("/opportunities", json=room, headers={"Idempotency-Key": "o-s"})
        assert r.status_code == 201, r.text
    await housing.wait_sql("select count(*) from matches where status = 'proposed'", want=1)
    # The proposal has waited 15 days: stalled (limit 14) as of today, not yet as of two days ago.
    await housing.sql("update matches set step_since = $1", today - timedelta(days=15))
    # The scheduler last ran three days ago, then was down.
    async with ledger_pool.acquire() as conn:
        for city in ("torino", "trieste"):
            await ledger.finish(conn, STALLED.name, city, today - timedelta(days=3), Status.DONE, "before")

    s = scheduler(housing, ledger_pool, [STALLED], now)
    async with ledger_pool.acquire() as other_replica:
        assert await ledger.try_lock(other_replica)
        assert await s.tick() == {"leader": False, "runs": []}  # the other replica ticks, this one waits
        await ledger.unlock(other_replica)
    first = await s.tick()
    days = [(r["city"], r["day"], r["status"]) for r in first["runs"]]
    missed = [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert days == [("torino", d, "done") for d in missed] + [("trieste", d, "done") for d in missed]
    assert (await s.tick())["runs"] == []  # a day done is never run again
    async with ledger_pool.acquire() as conn:  # and the ledger itself refuses to start it (besides the lock)
        assert not await ledger.start(conn, STALLED.name, "torino", today)

    events = await housing.events(want=1, of_type=hev.MatchStalled.type)
    [stalled] = [e for e in events if isinstance(e, hev.MatchStalled)]
    assert (stalled.household_id, stalled.waiting_days, stalled.on) == ("h-s", 15, clock.today())
    # The case's partner is told on its own reminders topic (ids and codes only), once like match_stalled.
    feed = physical(for_partner("partner.reminders.{partner}", "coop-aurora"), housing.prefix)
    [told] = await read_events(housing.bootstrap, feed, want=1, timeout=30)
    assert isinstance(told, hev.PartnerMatchReminder)
    assert (told.partner, told.match_id, told.step, told.waiting_days) == (
        "coop-aurora",
        stalled.match_id,
        "proposed",
        15,
    )
    assert told.since == today - timedelta(days=15) and told.case_id
    async with ledger_pool.acquire() as conn:
        rows = {(r["city"], r["day"]): r for r in await ledger.runs(conn, STALLED.name)}
    assert rows[("torino", today)]["detail"] == "HTTP 200 stalled: 1, unparked: 0"
    assert rows[("torino", today - timedelta(days=2))]["detail"] == "HTTP 200 stalled: 0, unparked: 0"
    assert all(r["attempts"] == 1 for r in rows.values() if r["detail"] != "before")
    # The check saw the calls once each: the same day's key is answered from housing's replay record.
    async with housing.client("staff-torino") as staff:
        key = STALLED.idempotency_key("torino", today)
        again = await staff.post(
            "/matching/stalled-check", json={"on": today.isoformat()}, headers={"Idempotency-Key": key}
        )
        assert again.headers.get("idempotent-replayed") == "true", again.headers


async def test_a_failing_job_is_retried_and_shown_failing(housing: HousingUnderTest, ledger_pool: Any) -> None:
    s = scheduler(housing, ledger_pool, [REMINDERS], local_now())
    s.cities = ["torino"]
    await s.tick()
    await s.tick()
    async with ledger_pool.acquire() as conn:
        [row] = await ledger.runs(conn, REMINDERS.name)
        assert (row["status"], row["attempts"]) == ("failed", 2)
        assert row["detail"].startswith("ConnectError")
        metrics.refresh(await ledger.latest(conn))
    assert metrics.FAILING.labels(REMINDERS.name, "torino")._value.get() == 1


async def test_the_scheduler_process_serves_health_metrics_and_its_ledger(
    housing: HousingUnderTest, database_url: str, tmp_path: Path
) -> None:
    schema = f"sched_{uuid.uuid4().hex[:8]}"
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        'jobs = [{ name = "housing.stalled_matches_and_holds", service = "housing",'
        ' path = "/matching/stalled-check", body = { on = "{day}" } }]\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "LGNET_DB_SCHEMA": schema,
        "LGNET_SCHEDULER_CITIES": "torino",
        "LGNET_SCHEDULER_AT": "00:00",  # due at once: the local today
        "LGNET_SCHEDULER_TOKENS": json.dumps({"housing": {"torino": housing.tokens["staff-torino"]}}),
        "LGNET_SCHEDULER_JOBS_FILE": str(jobs),
        "LGNET_HOUSING_URL": housing.process.url,
        "LGNET_SCHEDULER_TICK_S": "1",
    }
    proc = ServiceProcess([sys.executable, "-m", "lgnet_shared.scheduler.main"], env, tmp_path / "scheduler.log")
    try:
        await proc.start(timeout=60)
        async with httpx.AsyncClient(base_url=proc.url, timeout=HTTP_TIMEOUT_S) as c:
            assert (await c.get("/health/live")).json()["status"] == "ok"
            for _ in range(40):
                runs = (await c.get("/runs")).json()
                if runs and runs[0]["status"] == "done":
                    break
                await __import__("asyncio").sleep(0.5)
            assert [(r["job"], r["city"], r["status"]) for r in runs] == [
                ("housing.stalled_matches_and_holds", "torino", "done")
            ]
            text = (await c.get("/metrics")).text
            assert 'lgnet_scheduler_failing{city="torino",job="housing.stalled_matches_and_holds"} 0.0' in text
            assert 'lgnet_scheduler_last_success_timestamp_seconds{city="torino"' in text
            assert (
                'lgnet_scheduler_runs_total{city="torino",job="housing.stalled_matches_and_holds",outcome="ok"} 1.0'
                in text
            )
            assert (await c.get("/health/ready")).status_code == 200
    finally:
        proc.stop()
        pool = await db.create_pool(database_url, schema, max_size=1)
        async with pool.acquire() as conn:
            await schema_pool.keep_or_drop(conn, schema)
        await pool.close()
