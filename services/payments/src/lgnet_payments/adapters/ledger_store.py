"""The ledger in PostgreSQL: append a balanced transaction once; balances at any date."""

from __future__ import annotations

from datetime import date

import asyncpg
from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict

from lgnet_payments.domain.ledger import Transaction

_INSERT_POSTING = (
    "insert into ledger_postings (tx_id, n, account, amount_cents, budget_line_id, case_id, household_id,"
    " provider_id) values ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def _postings(tx_id: int, tx: Transaction) -> list[tuple[object, ...]]:
    return [
        (tx_id, n, p.account.value, p.amount_cents, p.budget_line_id, p.case_id, p.household_id, p.provider_id)
        for n, p in enumerate(tx.postings)
    ]


async def append(conn: Conn, tx: Transaction, *, field: str = "amount_cents") -> bool:
    """Record `tx` unless (kind, ref) is already recorded (then False). A budget line that would go below zero
    raises Conflict naming `field`: the database's check constraint refused it."""
    try:
        async with conn.transaction():  # savepoint: a refused posting leaves the caller's transaction usable
            tx_id = await conn.fetchval(
                "insert into ledger_transactions (kind, ref, on_date, city) values ($1, $2, $3, $4)"
                " on conflict (kind, ref) do nothing returning tx_id",
                tx.kind,
                tx.ref,
                tx.on,
                tx.city,
            )
            if tx_id is None:
                return False
            await conn.executemany(_INSERT_POSTING, _postings(tx_id, tx))
    except asyncpg.CheckViolationError:
        raise Conflict(field, "over budget: the budget line would go below zero") from None
    return True


async def booked(conn: Conn, kinds: tuple[str, ...], ref: str, *, prefix: bool = False) -> bool:
    """Whether a transaction of one of `kinds` is recorded for `ref` (with `prefix`: for a ref starting `ref:`, as a
    reimbursement's items are)."""
    where = "ref like $2 || ':%'" if prefix else "ref = $2"
    return bool(
        await conn.fetchval(
            f"select exists (select 1 from ledger_transactions where kind = any($1) and {where})",
            list(kinds),
            ref,
        )
    )


async def append_many(conn: Conn, txs: list[Transaction], *, field: str = "amount_cents") -> int:
    """Record many transactions in two statements (a batch of 100,000 payments); those already recorded are
    skipped. Returns how many were recorded."""
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                "insert into ledger_transactions (kind, ref, on_date, city)"
                " select * from unnest($1::text[], $2::text[], $3::date[], $4::text[])"
                " on conflict (kind, ref) do nothing returning tx_id, kind, ref",
                [t.kind for t in txs],
                [t.ref for t in txs],
                [t.on for t in txs],
                [t.city for t in txs],
            )
            ids = {(r["kind"], r["ref"]): r["tx_id"] for r in rows}
            await conn.executemany(
                _INSERT_POSTING,
                [row for t in txs if (t.kind, t.ref) in ids for row in _postings(ids[(t.kind, t.ref)], t)],
            )
    except asyncpg.CheckViolationError:
        raise Conflict(field, "over budget: the budget line would go below zero") from None
    return len(ids)


async def balances(
    conn: Conn,
    *,
    city: str | None,
    as_of: date | None = None,
    budget_line_id: str | None = None,
    case_id: str | None = None,
    household_id: str | None = None,
) -> dict[str, int]:
    """Balance per account of the postings dated up to `as_of`, filtered by the given dimensions."""
    rows = await conn.fetch(
        "select p.account, sum(p.amount_cents)::bigint as balance from ledger_postings p"
        " join ledger_transactions t using (tx_id)"
        " where ($1::text is null or t.city = $1) and ($2::date is null or t.on_date <= $2)"
        " and ($3::text is null or p.budget_line_id = $3) and ($4::text is null or p.case_id = $4)"
        " and ($5::text is null or p.household_id = $5)"
        " group by p.account order by p.account",
        city,
        as_of,
        budget_line_id,
        case_id,
        household_id,
    )
    return {r["account"]: int(r["balance"]) for r in rows}
