"""Intake's read log (SQL only). The DPOs' read-log tokens that open `GET /read-log` are in
`lgnet_shared.read_log_readers` (payments' download log is opened the same way); intake's table of them is made
here, where it was first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.read_log_readers import newest_entries

from lgnet_intake.adapters import repository
from lgnet_intake.domain.read_log import Read

MIGRATIONS: list[tuple[str, str]] = [
    (
        "intake-read-log-1",
        """
        -- who read whose data through the API (ids only; the DPO reads it through the desk)
        create table read_log (
            entry_id bigserial primary key,
            at timestamptz not null default now(),
            principal text not null,
            role text not null,
            partner text,
            city text,
            person_id text not null,
            person_city text,
            kind text not null,
            outcome text not null check (outcome in ('shown', 'denied')),
            via text not null check (via in ('desk', 'api'))
        );
        create index read_log_person on read_log (person_id, at);
        create index read_log_city on read_log (city, at);
        create index read_log_person_city on read_log (person_city, at);
        create table read_log_readers (
            token_hash text primary key,
            city text not null,
            name text not null,
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        );
        """,
    ),
    (
        "intake-read-log-2",
        """
        -- the id the caller named, when it was a registration merged into person_id (the person shown); earlier
        -- entries have none (they kept the id named as person_id)
        alter table read_log add column requested_id text;
        """,
    ),
]


async def record(conn: Conn, reads: Iterable[Read]) -> None:
    rows = [
        (r.principal, r.role, r.partner, r.city, r.person_id, r.kind, r.outcome, r.via, r.requested_id) for r in reads
    ]
    if not rows:
        return
    # The person's city from intake's own tables (a street person's from its own), so that the city's DPO sees
    # another city's operator's refused attempts on the city's persons.
    await conn.executemany(
        "insert into read_log (principal, role, partner, city, person_id, kind, outcome, via, requested_id,"
        " person_city) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce("
        " (select city from persons where person_id = $5),"
        " (select city from street_persons where street_id = $5)))",
        rows,
    )


async def entries(
    conn: Conn,
    city: str,
    person_id: str | None = None,
    limit: int = 500,
    since: datetime | None = None,
    before: datetime | None = None,
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """The city's entries (its principals' reads and any read of its persons), newest first; `since` (included) to
    `before` (not included) when given; `principal`: that reader's only. A person asked for by any of her records'
    ids (merged into one) finds the entries of all of them: a read is kept under the person shown, older entries under
    the id asked for."""
    where = "(city = $1 or person_city = $1)"
    ids = None
    if person_id is not None:
        survivor = await shown_as(conn, person_id)
        ids = [survivor, *await repository.merged_into(conn, survivor)]
    also = [("requested_id", None)]
    return await newest_entries(conn, where, city, ("person_id", ids), limit, since, before, also, principal)


async def shown_as(conn: Conn, person_id: str) -> str:
    """The id a person's data is answered under: the surviving person of a registration merged into another (merges
    may chain), else the id itself (a street person's too)."""
    return (await shown_as_each(conn, [person_id]))[person_id]


async def shown_as_each(conn: Conn, person_ids: Sequence[str]) -> dict[str, str]:
    """`shown_as` of every id, in one query (a chain of merges followed at most ten deep, as before)."""
    rows = await conn.fetch(
        "with recursive chain(asked, person_id, depth) as ("
        " select person_id, merged_into, 1 from persons where person_id = any($1::text[]) and merged_into is not null"
        " union all select c.asked, p.merged_into, c.depth + 1 from chain c join persons p on p.person_id = c.person_id"
        " where p.merged_into is not null and c.depth < 10"
        ") select distinct on (asked) asked, person_id from chain order by asked, depth desc",
        list(person_ids),
    )
    survivors = {r["asked"]: r["person_id"] for r in rows}
    return {p: survivors.get(p, p) for p in person_ids}
