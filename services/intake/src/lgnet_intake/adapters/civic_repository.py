"""Civic engagement's state in PostgreSQL (tables of migration intake-civic-1), inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.events.civic import CivicActivityKind

from lgnet_intake.domain.access import Actor, of_city
from lgnet_intake.domain.civic import Activity, no_activity

Row = dict[str, Any]


async def insert_activity(conn: Conn, row: Row) -> bool:
    """False when the id is taken."""
    done = await conn.fetchval(
        "insert into civic_activities (activity_id, city, kind, title, partner, starts_on, ends_on, target_level,"
        " min_attendance_percent, created_by) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " on conflict (activity_id) do nothing returning true",
        row["activity_id"], row["city"], row["kind"], row["title"], row["partner"], row["starts_on"],
        row["ends_on"], row["target_level"], row["min_attendance_percent"], row["created_by"],
    )  # fmt: skip
    return bool(done)


async def activity(conn: Conn, activity_id: str, caller: Actor | None = None) -> Activity:
    row = await conn.fetchrow("select * from civic_activities where activity_id = $1", activity_id)
    r = of_city(row, caller, no_activity(activity_id))
    return Activity(
        r["activity_id"], r["city"], CivicActivityKind(r["kind"]), r["partner"], r["starts_on"], r["ends_on"],
        r["min_attendance_percent"],
    )  # fmt: skip


async def activity_row(conn: Conn, activity_id: str) -> Row:
    r = await conn.fetchrow(
        "select a.*, (select count(*) from civic_sessions s where s.activity_id = a.activity_id) as sessions,"
        " (select count(distinct t.person_id) from civic_attendance t join civic_sessions s using (session_id)"
        "  where s.activity_id = a.activity_id and t.present) as participants,"
        " (select count(*) from civic_certificates c where c.activity_id = a.activity_id) as certificates"
        " from civic_activities a where activity_id = $1",
        activity_id,
    )
    if r is None:
        raise no_activity(activity_id)
    return dict(r)


async def activities(conn: Conn, city: str, partner: str | None) -> list[Row]:
    """The city's activities (a partner's own only, when `partner`), the latest first, with their counts."""
    rows = await conn.fetch(
        "select a.activity_id from civic_activities a where a.city = $1 and ($2::text is null or a.partner = $2)"
        " order by a.starts_on desc, a.activity_id",
        city, partner,
    )  # fmt: skip
    return [await activity_row(conn, r["activity_id"]) for r in rows]


async def insert_session(conn: Conn, row: Row) -> bool:
    done = await conn.fetchval(
        "insert into civic_sessions (session_id, activity_id, held_on, place, duration_minutes, facilitators,"
        " volunteer_ids) values ($1, $2, $3, $4, $5, $6, $7) on conflict (session_id) do nothing returning true",
        row["session_id"], row["activity_id"], row["held_on"], row["place"], row["duration_minutes"],
        list(row["facilitators"]), list(row["volunteer_ids"]),
    )  # fmt: skip
    return bool(done)


async def session(conn: Conn, session_id: str) -> Row | None:
    r = await conn.fetchrow("select * from civic_sessions where session_id = $1", session_id)
    return dict(r) if r else None


async def sessions(conn: Conn, activity_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select s.*, count(t.person_id) filter (where t.present) as present,"
        " count(t.person_id) filter (where not t.present) as absent"
        " from civic_sessions s left join civic_attendance t using (session_id)"
        " where s.activity_id = $1 group by s.session_id order by s.held_on, s.session_id",
        activity_id,
    )
    return [dict(r) for r in rows]


async def record_attendance(conn: Conn, session_id: str, marks: Sequence[tuple[str, bool]]) -> None:
    """Each person's latest mark for the session wins (a register corrected later)."""
    await conn.executemany(
        "insert into civic_attendance (session_id, person_id, present) values ($1, $2, $3)"
        " on conflict (session_id, person_id) do update set present = excluded.present, recorded_at = now()",
        [(session_id, pid, present) for pid, present in marks],
    )


async def register(conn: Conn, session_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select person_id, present from civic_attendance where session_id = $1 order by person_id", session_id
    )
    return [dict(r) for r in rows]


async def attendance_of(conn: Conn, activity_id: str, person_id: str, until: date) -> tuple[int, int]:
    """(sessions the person attended, sessions held) of the activity, up to `until`."""
    r = await conn.fetchrow(
        "select count(*) as held, count(t.person_id) filter (where t.present) as attended"
        " from civic_sessions s left join civic_attendance t on t.session_id = s.session_id and t.person_id = $2"
        " where s.activity_id = $1 and s.held_on <= $3",
        activity_id, person_id, until,
    )  # fmt: skip
    assert r is not None
    return int(r["attended"]), int(r["held"])


async def certificate_of(conn: Conn, activity_id: str, person_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "select certificate_id from civic_certificates where activity_id = $1 and person_id = $2",
        activity_id, person_id,
    )  # fmt: skip
    return found


async def insert_certificate(conn: Conn, row: Row) -> bool:
    done = await conn.fetchval(
        "insert into civic_certificates (certificate_id, activity_id, person_id, issued_on, attended_sessions,"
        " held_sessions, level_at_entry, level_reached) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        " on conflict do nothing returning true",
        row["certificate_id"], row["activity_id"], row["person_id"], row["issued_on"], row["attended_sessions"],
        row["held_sessions"], row["level_at_entry"], row["level_reached"],
    )  # fmt: skip
    return bool(done)


async def certificates(conn: Conn, activity_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select * from civic_certificates where activity_id = $1 order by issued_on, certificate_id", activity_id
    )
    return [dict(r) for r in rows]
