"""The DPOs' read-log tokens, one service's (SQL; the HTTP dependency is `lgnet_shared.auth.reader`, kept apart so
that the admin commands start without the web framework). A read-log token is not an actor's: it
opens its city's log of who read personal data through the service (intake's `GET /read-log`, payments'
`GET /download-log`) and nothing else; no actor's token opens those (actors' tokens are in `api_tokens`).

    lgnet-admin --schema payments issue-read-log-token --city torino --name "RPD Torino"   # prints lgr_… once
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lgnet_shared.actors import token_hash
from lgnet_shared.db import Conn, where_given

READER_PREFIX = "lgr_"


def via_of(client: str | None) -> str:
    """The `LgNet-Client` header as the logs keep it: `desk` or `api` (anything else a caller sends is `api`)."""
    return "desk" if (client or "").strip().lower() == "desk" else "api"


# Intake made this table in its own migration (`intake-read-log-1`) before it was shared: `if not exists`.
MIGRATION: tuple[str, str] = (
    "read-log-readers-1",
    """
    create table if not exists read_log_readers (
        token_hash text primary key,
        city text not null,
        name text not null,
        created_at timestamptz not null default now(),
        revoked_at timestamptz
    );
    """,
)


async def issue_reader_token(conn: Conn, city: str, name: str) -> str:
    """A new read-log token for `city`'s DPO; shown once, only its hash is kept."""
    token = READER_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        "insert into read_log_readers (token_hash, city, name) values ($1, $2, $3)", token_hash(token), city, name
    )
    return token


async def reader_city(conn: Conn, token: str) -> str | None:
    city: str | None = await conn.fetchval(
        "select city from read_log_readers where token_hash = $1 and revoked_at is null", token_hash(token)
    )
    return city


async def revoke_reader_tokens(conn: Conn, city: str) -> int:
    status = await conn.execute(
        "update read_log_readers set revoked_at = now() where city = $1 and revoked_at is null", city
    )
    return int(status.split()[-1])


async def review(conn: Conn, city: str | None = None) -> list[dict[str, Any]]:
    """The read-log tokens (of `city`, if given) by whom they were issued to, as `actors.review` lists actors."""
    rows = await conn.fetch(
        "select 'read-log: ' || name as actor_id, 'read-log' as role, city, name, min(created_at) as since,"
        " count(*) filter (where revoked_at is null) as live_tokens, null::timestamptz as expires_at,"
        " max(created_at) as last_issued_at,"
        " max(revoked_at) as last_revoked_at from read_log_readers where $1::text is null or city = $1"
        " group by city, name order by city, name",
        city,
    )
    return [dict(r) for r in rows]


async def revoke_reader_token(conn: Conn, token: str) -> bool:
    """One read-log token revoked (a DPO who left)."""
    status = await conn.execute(
        "update read_log_readers set revoked_at = now() where token_hash = $1 and revoked_at is null", token_hash(token)
    )
    return bool(status.endswith(" 1"))


async def newest_entries(
    conn: Conn,
    city_where: str,
    city: str,
    subject: tuple[str, str | Sequence[str] | None],
    limit: int,
    since: datetime | None,
    before: datetime | None,
    also: Sequence[tuple[str, str | None]] = (),
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """A service's `read_log` (intake's by person, housing's by household: `subject` is its column and the id asked
    for, if any), the city's entries (`city_where` names the city as `$1`), newest first, `since` (included) to
    `before` (not), each with its principal's name in that service. `also`: more columns answered, each with the id
    looked for in it if any (housing's `person_ids`, an array: the members when it was read). A subject given as
    several ids (a person's records, merged into one) finds the entries of any of them. `principal`: that reader's
    entries only ("what did this operator look at?")."""
    column, subject_id = subject
    args: list[Any] = [city]
    match = f"{column} = {{}}" if subject_id is None or isinstance(subject_id, str) else f"{column} = any({{}}::text[])"
    conditions = [(match, subject_id), *((f"{{}} = any({c})", v) for c, v in also)]
    bounds = [("principal = {}", principal), ("at >= {}", since), ("at < {}", before)]
    where = where_given(city_where, args, [*conditions, *bounds])
    columns = ", ".join([column, *(c for c, _ in also)])
    rows = await conn.fetch(
        "select at, principal, (select display_name from actors where actor_id = principal) as principal_name,"
        f" role, partner, {columns}, kind, outcome, via, city from read_log"
        f" where {where} order by at desc, entry_id desc limit {int(limit)}",
        *args,
    )
    return [dict(r) for r in rows]


async def purge(conn: Conn, before: datetime) -> int:
    """A service's `read_log` entries older than `before` deleted (its retention, daily): how many."""
    status = await conn.execute("delete from read_log where at < $1", before)
    return int(status.split()[-1])
