"""Stored payment files (pain.001): written once, kept with their SHA-256, served byte-identical."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from lgnet_shared.db import Conn, where_given

from lgnet_payments.domain.retention import retained_until


async def insert(
    conn: Conn,
    *,
    message_id: str,
    batch_id: str,
    purpose: str,
    city: str,
    pain_version: str,
    payments: int,
    total_cents: int,
    content: bytes,
    created_at: datetime,
) -> dict[str, Any]:
    """Store the file; the primary key refuses a second file with the same MsgId (for ever)."""
    await conn.execute(
        "insert into payment_files (message_id, batch_id, purpose, city, pain_version, payments, total_cents,"
        " sha256, content, created_at, retained_until) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        message_id,
        batch_id,
        purpose,
        city,
        pain_version,
        payments,
        total_cents,
        hashlib.sha256(content).hexdigest(),
        content,
        created_at,
        retained_until(created_at.date()),
    )
    found = await of_batch(conn, batch_id)
    assert found is not None
    return found


async def of_batch(conn: Conn, batch_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("select * from payment_files where batch_id = $1", batch_id)
    return None if row is None else dict(row)


async def record_download(conn: Conn, message_id: str, city: str, by: str, via: str, outcome: str = "shown") -> None:
    """With the members of the households the file pays, as they are now (a reimbursement run's: none)."""
    await conn.execute(
        "insert into payment_file_downloads (message_id, city, downloaded_by, via, outcome, person_ids)"
        " select $1, $2, $3, $4, $5, coalesce(array_agg(distinct m.person_id order by m.person_id), '{}')"
        " from payment_files f join payments p on p.batch_id = f.batch_id"
        " join contribution_requests r using (request_id)"
        " join household_members m on m.household_id = r.household_id"
        " where f.message_id = $1",
        message_id,
        city,
        by,
        via,
        outcome,
    )


async def download_log(
    conn: Conn,
    city: str,
    limit: int,
    since: datetime | None = None,
    before: datetime | None = None,
    person_id: str | None = None,
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """The city's downloads of every file it made, newest first (the DPO's log); `since` (included) to `before`;
    `person_id`: of the files paying her households when downloaded; `principal`: that downloader's only."""
    args: list[Any] = [city]
    optional = [
        ("{} = any(d.person_ids)", person_id),
        ("d.downloaded_by = {}", principal),
        ("d.downloaded_at >= {}", since),
        ("d.downloaded_at < {}", before),
    ]
    where = where_given("d.city = $1", args, optional)
    rows = await conn.fetch(
        "select d.downloaded_at as at, d.downloaded_by as principal, a.display_name as principal_name,"
        " d.message_id, f.batch_id, f.purpose, d.via, d.outcome, d.person_ids"
        " from payment_file_downloads d join payment_files f using (message_id)"
        " left join actors a on a.actor_id = d.downloaded_by"
        f" where {where} order by d.downloaded_at desc, d.download_id desc limit {int(limit)}",
        *args,
    )
    return [dict(r) for r in rows]


async def downloads(conn: Conn, message_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select downloaded_by, downloaded_at from payment_file_downloads where message_id = $1 and outcome = 'shown'"
        " order by download_id",
        message_id,
    )
    return [dict(r) for r in rows]


async def shred(conn: Conn, batch_id: str, on: date) -> bool:
    """Drop the file's content (names, IBANs); its MsgId, digest, totals and dates stay. True if it had content."""
    done = await conn.execute(
        "update payment_files set content = null, shredded_on = $2 where batch_id = $1 and content is not null",
        batch_id,
        on,
    )
    return bool(done.endswith(" 1"))
