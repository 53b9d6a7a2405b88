"""Housing's read log (SQL only): who read what of a household through the API — the waiting list, an entry, why it
is not matching, its matches, its reminders (a hold's reason: "hospitalised"). Housing answers no name, but a
household's priority and its explanation say its vulnerabilities and needs (special-category data), so each read is
kept, by household id, for the city's DPO, who reads it with a read-log token (`lgnet_shared.read_log_readers`:
`GET /read-log`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from lgnet_shared import read_log_readers
from lgnet_shared.db import Conn

KINDS = ("waiting_list", "household", "why", "matches", "match", "reminders", "matching_run")

MIGRATIONS: list[tuple[str, str]] = [
    read_log_readers.MIGRATION,
    (
        "housing-read-log-1",
        """
        create table read_log (
            entry_id bigserial primary key,
            at timestamptz not null default now(),
            principal text not null,
            role text not null,
            partner text,
            city text not null,  -- the household's
            household_id text not null,
            kind text not null,
            outcome text not null check (outcome in ('shown', 'denied')),
            via text not null check (via in ('desk', 'api'))
        );
        create index read_log_household on read_log (household_id, at);
        create index read_log_city on read_log (city, at);
        """,
    ),
    (
        # A subject-access request names a person, not her household: each entry keeps the members when it was
        # read. Entries from before this are given the members at the upgrade (the nearest housing knows).
        "housing-read-log-2",
        """
        alter table read_log add column person_ids text[] not null default '{}';
        update read_log l set person_ids = h.member_ids from households h where h.household_id = l.household_id;
        create index read_log_persons on read_log using gin (person_ids);
        """,
    ),
]


async def record(conn: Conn, actor: Any, kind: str, household_ids: Iterable[str], outcome: str, via: str) -> None:
    """One entry per household read; the household's city and members from housing's own table (a refused
    caller's may be another city's, or the national role's)."""
    assert kind in KINDS, kind
    rows = [(actor.id, actor.role.value, actor.partner, h, kind, outcome, via) for h in dict.fromkeys(household_ids)]
    await conn.executemany(
        "insert into read_log (principal, role, partner, city, household_id, kind, outcome, via, person_ids)"
        " select $1, $2, $3, city, $4, $5, $6, $7, member_ids from households where household_id = $4",
        rows,
    )


async def entries(
    conn: Conn,
    city: str,
    household_id: str | None = None,
    limit: int = 500,
    since: datetime | None = None,
    before: datetime | None = None,
    person_id: str | None = None,
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """The city's entries (reads of its households), newest first; `person_id`: those of the households she was a
    member of when read; `principal`: that reader's only."""
    subject, members = ("household_id", household_id), [("person_ids", person_id)]
    return await read_log_readers.newest_entries(
        conn, "city = $1", city, subject, limit, since, before, members, principal
    )
