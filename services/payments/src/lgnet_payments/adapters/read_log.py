"""Payments' read log (SQL only): who read the payee of a contribution request through the API — its name and its
IBAN masked (`GET /contribution-requests/{id}`, the listing). The payee may be the household's member, a landlord, a
utility or a company, none of them a person of intake: the entry's subject is the request's case and household (the
household's members when read, `person_ids`, so that a subject-access request finds it by a person's id), the payee
is the party read and is never named in the log. Each read is kept for the city's DPO, who reads it with a read-log
token (`lgnet_shared.read_log_readers`: `GET /read-log`); the SEPA files' downloads are the download log's
(`payment_files`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from lgnet_shared.db import Conn, where_given

# `payee`: the payee's name and its IBAN masked (a read's answer); `iban_masked`: the IBAN masked alone (a change's
# answer: creation, `PUT …/beneficiary`, approval, rejection, withdrawal). Its migration: schema.py, `payments-21`.
KINDS = ("payee", "iban_masked")


async def record(conn: Conn, actor: Any, shown: Iterable[tuple[str, str]], outcome: str, via: str) -> None:
    """One entry per (request, kind) read, with its city, case, household and the household's members from payments'
    own tables (a refused caller's may be another city's)."""
    rows = [(actor.id, actor.role.value, actor.partner, r, kind, outcome, via) for r, kind in dict.fromkeys(shown)]
    assert all(row[4] in KINDS for row in rows), rows
    await conn.executemany(
        "insert into read_log (principal, role, partner, city, request_id, case_id, household_id, kind, outcome,"
        " via, person_ids) select $1, $2, $3, r.city, r.request_id, r.case_id, r.household_id, $5, $6, $7,"
        " coalesce((select array_agg(m.person_id order by m.person_id) from household_members m"
        " where m.household_id = r.household_id), '{}')"
        " from contribution_requests r where r.request_id = $4",
        rows,
    )


async def entries(
    conn: Conn,
    city: str,
    limit: int = 500,
    since: datetime | None = None,
    before: datetime | None = None,
    person_id: str | None = None,
    household_id: str | None = None,
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """The city's entries, newest first, `since` (included) to `before` (not); `person_id`: those of the households
    she was a member of when read; `household_id`: that household's; `principal`: that reader's only."""
    args: list[Any] = [city]
    optional = [
        ("{} = any(person_ids)", person_id),
        ("household_id = {}", household_id),
        ("principal = {}", principal),
        ("at >= {}", since),
        ("at < {}", before),
    ]
    where = where_given("city = $1", args, optional)
    rows = await conn.fetch(
        "select at, principal, (select display_name from actors where actor_id = principal) as principal_name,"
        " role, partner, city, request_id, case_id, household_id, person_ids, kind, outcome, via from read_log"
        f" where {where} order by at desc, entry_id desc limit {int(limit)}",
        *args,
    )
    return [dict(r) for r in rows]
