"""The scheduler's ledger in its own PostgreSQL schema: one row per (job, city, day), and the advisory lock that
lets one replica tick at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from lgnet_shared import db
from lgnet_shared.db import Conn
from lgnet_shared.scheduler.rules import Entry, Status

MIGRATIONS: Sequence[tuple[str, str]] = [
    (
        "scheduler-1",
        """
        create table job_runs (
            job text not null,
            city text not null,
            day date not null,
            status text not null check (status in ('running', 'done', 'failed', 'skipped')),
            attempts integer not null default 0,
            started_at timestamptz,
            finished_at timestamptz,
            detail text not null default '',
            primary key (job, city, day)
        );
        """,
    )
]
# One lock for the whole platform's scheduler: replicas of one deployment share the schema, so the key is per
# schema (two deployments on one database, e.g. two cities, each tick their own).
LOCK = "lgnet-scheduler"


async def try_lock(conn: Conn) -> bool:
    """A session lock on `conn`, held until `unlock` or the connection closes (a crashed replica frees it)."""
    db.keeps_session_state(conn)
    return bool(await conn.fetchval("select pg_try_advisory_lock(hashtext(current_schema() || $1))", LOCK))


async def unlock(conn: Conn) -> None:
    await conn.execute("select pg_advisory_unlock(hashtext(current_schema() || $1))", LOCK)


async def entries(conn: Conn, job: str, city: str) -> dict[date, Entry]:
    rows = await conn.fetch("select day, status, attempts from job_runs where job = $1 and city = $2", job, city)
    return {r["day"]: Entry(Status(r["status"]), r["attempts"]) for r in rows}


async def start(conn: Conn, job: str, city: str, day: date) -> bool:
    """Record the attempt before calling: a crash mid-call leaves `running`, retried later with the same key.
    False when the day is already done (the call must not be made): the ledger's own guard, besides the lock."""
    attempts = await conn.fetchval(
        "insert into job_runs (job, city, day, status, attempts, started_at) values ($1, $2, $3, 'running', 1, now())"
        " on conflict (job, city, day) do update set status = 'running', attempts = job_runs.attempts + 1,"
        " started_at = now(), finished_at = null where job_runs.status <> 'done' returning attempts",
        job,
        city,
        day,
    )
    return attempts is not None


async def finish(conn: Conn, job: str, city: str, day: date, status: Status, detail: str) -> None:
    await conn.execute(
        "insert into job_runs (job, city, day, status, finished_at, detail) values ($1, $2, $3, $4, now(), $5)"
        " on conflict (job, city, day) do update set status = $4, finished_at = now(), detail = $5"
        " where job_runs.status <> 'done'",
        job,
        city,
        day,
        status.value,
        detail[:500],
    )


async def latest(conn: Conn) -> list[dict[str, Any]]:
    """Per job and city: the last day done, when, and whether the latest attempt failed (for /metrics)."""
    rows = await conn.fetch(
        """
        select job, city,
               max(day) filter (where status = 'done') as last_done_day,
               max(finished_at) filter (where status = 'done') as last_done_at,
               coalesce((array_agg(status order by day desc, started_at desc nulls last)
                         filter (where status <> 'skipped'))[1] = 'failed', false) as failing
        from job_runs group by job, city order by job, city
        """
    )
    return [dict(r) for r in rows]


async def runs(conn: Conn, job: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch("select * from job_runs where ($1::text is null or job = $1) order by job, city, day", job)
    return [dict(r) for r in rows]
