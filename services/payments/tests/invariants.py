"""The payments invariants, checked on the database: what the property test and the crash test assert."""

from __future__ import annotations

import json
from typing import Any


async def check(conn: Any) -> dict[str, int]:
    """Assert: no contribution paid twice (nor two live payments), no budget line below zero, the ledger
    balanced and consistent with the budget lines, each request's status matching its payments. Returns counts."""
    twice = await conn.fetch(
        "select request_id, count(*) from payments where status = 'paid' group by 1 having count(*) > 1"
    )
    assert not twice, f"paid twice: {twice}"
    live = await conn.fetch(
        "select request_id, count(*) from payments where status <> 'failed' group by 1 having count(*) > 1"
    )
    assert not live, f"two live payments: {live}"
    negative = await conn.fetch("select * from budget_lines where available_cents < 0")
    assert not negative, f"below zero: {negative}"
    unbalanced = await conn.fetch(
        "select tx_id, sum(amount_cents) from ledger_postings group by 1 having sum(amount_cents) <> 0"
    )
    assert not unbalanced, f"unbalanced: {unbalanced}"
    empty = await conn.fetchval(
        "select count(*) from ledger_transactions t where not exists"
        " (select 1 from ledger_postings p where p.tx_id = t.tx_id)"
    )
    assert empty == 0, "ledger transaction without postings"
    drift = await conn.fetch(
        "select b.budget_line_id, b.available_cents, coalesce(sum(p.amount_cents), 0) as ledger"
        " from budget_lines b left join ledger_postings p on p.budget_line_id = b.budget_line_id"
        " and p.account = 'budget_available' group by 1, 2 having b.available_cents <> coalesce(sum(p.amount_cents), 0)"
    )
    assert not drift, f"budget lines disagree with the ledger: {drift}"
    committed = await conn.fetch(
        "select b.budget_line_id, b.allocated_cents, b.available_cents,"
        " coalesce((select sum(amount_cents) from contribution_requests r where r.budget_line_id = b.budget_line_id"
        " and r.request_id in (select ref from ledger_transactions where kind = 'commitment')"
        " and r.request_id not in (select ref from ledger_transactions where kind = 'commitment_released')),"
        " 0) as committed,"
        " coalesce((select sum(value_cents) from vouchers v where v.budget_line_id = b.budget_line_id), 0) as vouchers"
        " from budget_lines b"
    )
    for r in committed:
        assert r["available_cents"] == r["allocated_cents"] - r["committed"] - r["vouchers"], dict(r)
    # Approved (batched, paid) requests are committed; a requested one may be too (approved, then its bank data
    # changed: awaiting a new approval); a rejected one never.
    uncommitted = await conn.fetch(
        "select request_id, status from contribution_requests r where (status in ('approved', 'batched', 'paid')"
        " and not exists (select 1 from ledger_transactions where kind = 'commitment' and ref = r.request_id))"
        " or (status = 'rejected' and exists (select 1 from ledger_transactions where kind = 'commitment'"
        " and ref = r.request_id) and not exists (select 1 from ledger_transactions"
        " where kind = 'commitment_released' and ref = r.request_id))"
    )
    assert not uncommitted, f"status and commitment disagree: {uncommitted}"
    # Four eyes on bank data: what is approved (or sent, or paid) is the approved version, approved by others.
    unapproved = await conn.fetch(
        "select request_id, status from contribution_requests where status in ('approved', 'batched', 'paid')"
        " and (approved_bank_data_version is distinct from bank_data_version"
        " or approved_beneficiary is distinct from beneficiary"
        " or approved_by = bank_data_set_by or second_approver = bank_data_set_by"
        " or approved_by = requested_by or second_approver = requested_by)"
    )
    assert not unapproved, f"bank data paid without four eyes: {unapproved}"
    # Each payment's status is what its ledger says of its money: out with the disbursement, back with a rejection
    # (`reversal`) or a return, out again when the bank reverses that (a status alone hid a replayed return that had
    # failed a payment whose money stood: its request was paid twice).
    money = await conn.fetch(
        "select p.payment_id, p.status, count(*) filter (where t.kind in ('disbursement', 'return_reversed'))"
        " - count(*) filter (where t.kind in ('reversal', 'payment_returned')) as out"
        " from payments p left join ledger_transactions t on t.ref = p.payment_id group by 1, 2"
    )
    for r in money:
        assert r["out"] == (0 if r["status"] == "failed" else 1), f"status and ledger disagree: {dict(r)}"
    wrong = await conn.fetch(
        "select r.request_id, r.status,"
        " count(*) filter (where p.status = 'paid') as paid, count(*) filter (where p.status = 'sent') as sent"
        " from contribution_requests r left join payments p using (request_id) group by 1, 2"
    )
    for r in wrong:
        expected = {"paid": (1, 0), "batched": (0, 1)}.get(r["status"], (0, 0))
        assert (r["paid"], r["sent"]) == expected, dict(r)
    # Events staged for Kafka (and not yet relayed): at most one contribution_paid per booking of a payment as paid —
    # the one paid now, each paid and then returned by the bank (its request approved again, paid again), and each
    # return the bank reversed (the same payment paid after all: `return_reversed`).
    paid_events: dict[str, int] = {}
    for row in await conn.fetch("select value from outbox"):
        env = json.loads(row["value"])
        if env["type"] == "lgnet.payments.contribution_paid":
            paid_events[env["data"]["request_id"]] = paid_events.get(env["data"]["request_id"], 0) + 1
    booked_paid = {
        r["request_id"]: r["n"]
        for r in await conn.fetch(
            "select p.request_id, count(*) as n from payments p join ledger_transactions t on t.ref = p.payment_id"
            " and t.kind in ('payment_confirmed', 'return_reversed') group by 1"
        )
    }
    over = {r: n for r, n in paid_events.items() if n > booked_paid.get(r, 0)}
    assert not over, f"contribution_paid more often than paid: {over}"
    leases = await conn.fetch(
        "select lease_id, kind, count(*) from contribution_requests where lease_id is not null group by 1, 2"
        " having count(*) > 1"
    )
    assert not leases, f"a lease requested twice: {leases}"
    return {
        "paid": await conn.fetchval("select count(*) from payments where status = 'paid'"),
        "failed": await conn.fetchval("select count(*) from payments where status = 'failed'"),
        "requests": await conn.fetchval("select count(*) from contribution_requests"),
    }
