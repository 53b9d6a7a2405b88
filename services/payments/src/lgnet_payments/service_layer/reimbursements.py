"""Voucher providers reimbursed by SEPA credit transfer, like contributions (issue #17).

A run takes every redemption of the city not yet reimbursed (row locks: a concurrent run skips them), makes one
reimbursement per provider whose bank data is approved (ledger: provider_payable → in_transit, per redemption),
and writes one pain.001 file for the run, with a transfer per provider to the approved bank data, stored like a
batch's. The bank's result (camt.054 or CSV, the same reconciliation) marks each reimbursement paid (→ disbursed,
`provider_reimbursed` event) or failed (→ provider_payable: its redemptions go to the next run).

Never paid twice: a redemption is in at most one reimbursement that has not failed (a partial unique index), a
reimbursement is settled once (sent → paid | failed under a row lock), and ledger transactions are unique per
(kind, reimbursement and redemption).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from lgnet_shared import pii
from lgnet_shared.errors import Conflict, ContractError, NotFound
from lgnet_shared.events import Sealed
from lgnet_shared.events import payments as ev
from lgnet_shared.ids import new_id

from lgnet_payments.adapters import ledger_store, sepa
from lgnet_payments.adapters import payment_files as file_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.domain import ledger
from lgnet_payments.domain.reconciliation import (
    BankResult,
    check_booked_on,
    check_reimbursement_return_reversible,
    payee_account_refused,
)
from lgnet_payments.service_layer import erasure, payment_files
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_payments.service_layer.vouchers import provider_bank

# A reimbursement's `provider_reimbursed` fact names every voucher it pays: at most this many redemptions per
# reimbursement keeps it well under the largest fact a service may stage (outbox.MAX_FACT_BYTES; a month of a large
# city's vouchers at one provider made a fact the booking of the bank's result refused). More make more transfers.
MAX_REDEMPTIONS = 10_000


async def run(uow: UnitOfWork, ctx: Context) -> dict[str, Any]:
    """One reimbursement per provider (one per `MAX_REDEMPTIONS` of its redemptions) for every redemption not yet
    reimbursed, all in one payment file."""
    ctx.staff(ctx.city, "reimburse providers")
    rows = await uow.conn.fetch(
        "select r.*, v.budget_line_id, v.case_id, v.household_id from voucher_redemptions r"
        " join vouchers v using (voucher_id) where v.city = $1 and r.reimbursement_id is null"
        " order by r.provider_id, r.redemption_id for update of r skip locked",
        ctx.city,
    )
    by_provider: dict[str, list[Any]] = {}
    for r in rows:
        by_provider.setdefault(r["provider_id"], []).append(r)
    run_id = new_id()
    paid, held, transfers = [], [], []
    for provider_id, redemptions in by_provider.items():
        provider = dict(await uow.conn.fetchrow("select * from providers where provider_id = $1", provider_id))
        why = await _why_held(uow, provider)
        if why is not None:
            held.append({"provider_id": provider_id, "reason": why})
            continue
        for i in range(0, len(redemptions), MAX_REDEMPTIONS):
            transfer, reimbursement = await _reimburse(uow, ctx, run_id, provider, redemptions[i : i + MAX_REDEMPTIONS])
            transfers.append(transfer)
            paid.append(reimbursement)
    answer: dict[str, Any] = {"reimbursements": paid, "held": held, "run_id": None, "file": None}
    if transfers:
        file = await payment_files.write(
            uow,
            batch_id=run_id,
            message_id=f"LGNET-R{run_id.replace('-', '')[:28]}",
            purpose="reimbursements",
            city=ctx.city,
            execution_date=ctx.today + timedelta(days=1),
            transfers=transfers,
        )
        answer |= {
            "run_id": run_id,
            "file": {"message_id": file["message_id"], "sha256": file["sha256"], "pain_version": file["pain_version"]},
        }
    return answer


async def _why_held(uow: UnitOfWork, provider: dict[str, Any]) -> str | None:
    if provider_bank(provider).pending:  # set or changed, not approved by a second person yet: wait
        return "bank data awaiting approval"
    if provider["approved_iban"] is None:
        return "no bank data"
    if await uow.key_store().key(uow.conn, f"provider:{provider['provider_id']}") is None:
        return "bank data erased"
    # The provider's account refused its last reimbursement (closed, wrong, ...): sent again there, it would bounce
    # again. Held until other bank data are approved (docs/payments.md, "Returns and rejections").
    last = await uow.conn.fetchrow(
        "select status, reason, bank_data from reimbursements where provider_id = $1 and settled_on is not null"
        " order by settled_on desc, batch_id desc limit 1",
        provider["provider_id"],
    )
    if (
        last is not None
        and last["status"] == "failed"
        and payee_account_refused(last["reason"])
        and _parsed(last["bank_data"]).get("iban") == _parsed(provider["approved_iban"])
    ):
        return f"bank data refused by the provider's bank ({last['reason']})"
    return None


def _parsed(value: Any) -> Any:
    """A JSON column as a value, whether the driver gave it as text or parsed."""
    return json.loads(value) if isinstance(value, str) else value


async def _reimburse(
    uow: UnitOfWork, ctx: Context, run_id: str, provider: dict[str, Any], redemptions: list[Any]
) -> tuple[sepa.Transfer, dict[str, Any]]:
    provider_id = provider["provider_id"]
    key = await uow.key_store().key(uow.conn, f"provider:{provider_id}")
    assert key is not None
    name = pii.open_with(key, Sealed.model_validate(provider["name"]), "name")
    iban = pii.open_with(key, Sealed.model_validate(provider["approved_iban"]), "iban")
    bic = None
    if provider["approved_bic"] is not None:
        bic = pii.open_with(key, Sealed.model_validate(provider["approved_bic"]), "bic")
    approved = {"iban": provider["approved_iban"]}
    if provider["approved_bic"] is not None:
        approved["bic"] = provider["approved_bic"]
    reimbursement_id = new_id()
    e2e = reimbursement_id.replace("-", "")  # 32 characters: SEPA's EndToEndId, as a contribution's payment id
    total = sum(r["amount_cents"] for r in redemptions)
    await uow.conn.execute(
        "insert into reimbursements (batch_id, provider_id, city, amount_cents, on_date, bank_data, status,"
        " end_to_end_id, run_id) values ($1, $2, $3, $4, $5, $6, 'sent', $7, $8)",
        reimbursement_id,
        provider_id,
        ctx.city,
        total,
        ctx.today,
        approved,
        e2e,
        run_id,
    )
    # The partial unique index refuses a redemption already in a live reimbursement, whatever ran concurrently.
    await uow.conn.executemany(
        "insert into reimbursement_items (reimbursement_id, redemption_id, amount_cents) values ($1, $2, $3)",
        [(reimbursement_id, r["redemption_id"], r["amount_cents"]) for r in redemptions],
    )
    await uow.conn.execute(
        "update voucher_redemptions set reimbursement_id = $1 where redemption_id = any($2::text[])",
        reimbursement_id,
        [r["redemption_id"] for r in redemptions],
    )
    await ledger_store.append_many(
        uow.conn,
        [
            ledger.reimbursement_sent(
                f"{e2e}:{r['redemption_id']}", ctx.today, ctx.city, r["amount_cents"], _party(r, provider_id)
            )
            for r in redemptions
        ],
    )
    transfer = sepa.Transfer(e2e, name, iban, total, f"LgNet voucher reimbursement {reimbursement_id}", bic)
    return transfer, {"batch_id": reimbursement_id, "provider_id": provider_id, "amount_cents": total}


def _party(r: Any, provider_id: str) -> ledger.Party:
    return ledger.Party(r["budget_line_id"], r["case_id"], r["household_id"], provider_id)


async def settle(uow: UnitOfWork, ctx: Context, r: BankResult, where: str) -> str | None:
    """The bank's result for a reimbursement (None: no reimbursement has this EndToEndId). The same result again
    changes nothing; a different result for a settled one is a conflict."""
    row = await uow.conn.fetchrow("select * from reimbursements where end_to_end_id = $1 for update", r.end_to_end_id)
    if row is None or ctx.elsewhere(row["city"]):
        return None  # another city's: as unknown as one that does not exist
    ctx.write(row["city"], f"{where}.end_to_end_id")
    if r.amount_cents is not None and r.amount_cents != row["amount_cents"]:
        raise ContractError(
            f"{where}.amount", f"{r.amount_cents} cents, but reimbursement {row['batch_id']} is {row['amount_cents']}"
        )
    wanted = "paid" if r.paid else "failed"
    if row["status"] == wanted:
        return "unchanged"
    if r.reversal and r.paid and row["status"] == "failed":  # the bank undid the return: the provider was paid
        return await _return_reversed(uow, ctx, row, r, where)
    if not r.paid and await ledger_store.booked(
        uow.conn, ledger.REIMBURSEMENT_FAILURES, row["end_to_end_id"], prefix=True
    ):
        return "unchanged"  # its return, reversed since: the same entry again (domain/ledger.py)
    returned = row["status"] == "paid" and not r.paid  # a SEPA return after the transfer was booked paid
    if row["status"] != "sent" and not returned:
        raise Conflict(f"{where}.status", f"reimbursement {row['batch_id']} is already {row['status']}")
    on = r.booked_on or ctx.today
    check_booked_on(on, row["settled_on"] if returned else row["on_date"], ctx.today, f"{where}.booking_date")
    await uow.conn.execute(
        "update reimbursements set status = $2, reason = $3, settled_on = $4 where batch_id = $1",
        row["batch_id"],
        wanted,
        r.reason,
        on,
    )
    items = await uow.conn.fetch(
        "select i.redemption_id, i.amount_cents, x.voucher_id, v.budget_line_id, v.case_id, v.household_id"
        " from reimbursement_items i join voucher_redemptions x using (redemption_id)"
        " join vouchers v using (voucher_id) where i.reimbursement_id = $1 and not i.failed order by 1",
        row["batch_id"],
    )
    await _book(uow, ctx, row, items, r.paid, on, returned)
    await erasure.shred_if_settled(uow.conn, row["run_id"], on)
    return wanted


async def _return_reversed(uow: UnitOfWork, ctx: Context, row: Any, r: BankResult, where: str) -> str:
    """A failed reimbursement whose return the bank reversed: paid after all, its redemptions its own again, unless a
    later run reimbursed them meanwhile (domain/reconciliation.py)."""
    paid_again = await uow.conn.fetchval(
        "select other.reimbursement_id from reimbursement_items mine join reimbursement_items other"
        " on other.redemption_id = mine.redemption_id and not other.failed"
        " where mine.reimbursement_id = $1 limit 1",
        row["batch_id"],
    )
    check_reimbursement_return_reversible(row["batch_id"], paid_again, f"{where}.status")
    on = r.booked_on or ctx.today
    check_booked_on(on, row["settled_on"], ctx.today, f"{where}.booking_date")
    await uow.conn.execute(
        "update reimbursements set status = 'paid', reason = null, settled_on = $2 where batch_id = $1",
        row["batch_id"],
        on,
    )
    await uow.conn.execute("update reimbursement_items set failed = false where reimbursement_id = $1", row["batch_id"])
    items = await uow.conn.fetch(
        "select i.redemption_id, i.amount_cents, x.voucher_id, v.budget_line_id, v.case_id, v.household_id"
        " from reimbursement_items i join voucher_redemptions x using (redemption_id)"
        " join vouchers v using (voucher_id) where i.reimbursement_id = $1 order by 1",
        row["batch_id"],
    )
    await uow.conn.execute(
        "update voucher_redemptions set reimbursement_id = $1 where redemption_id = any($2::text[])",
        row["batch_id"],
        [i["redemption_id"] for i in items],
    )
    # A return after "paid" publishes nothing (docs/payments.md, "Vouchers"): the log still says this reimbursement was
    # paid, so its reversal publishes `provider_reimbursed` only if the log never said so (failed while sent).
    told = await ledger_store.booked(uow.conn, ("reimbursement_confirmed",), row["end_to_end_id"], prefix=True)
    await _book(uow, ctx, row, items, True, on, reversed_return=True, publish=not told)
    await erasure.shred_if_settled(uow.conn, row["run_id"], on)
    return "paid"


async def _book(
    uow: UnitOfWork,
    ctx: Context,
    row: Any,
    items: list[Any],
    paid: bool,
    on: date,
    after_paid: bool = False,
    *,
    reversed_return: bool = False,
    publish: bool = True,
) -> None:
    """`after_paid`: the bank returned a transfer it had booked paid: the money comes back from `disbursed`.
    `reversed_return`: the bank undid the return of a failed one: from `provider_payable` to `disbursed`."""
    e2e, city, provider_id = row["end_to_end_id"], row["city"], row["provider_id"]
    book = (
        ledger.reimbursement_return_reversed
        if reversed_return
        else ledger.reimbursement_confirmed
        if paid
        else ledger.reimbursement_returned_after_paid
        if after_paid
        else ledger.reimbursement_returned
    )
    await ledger_store.append_many(
        uow.conn,
        [book(f"{e2e}:{i['redemption_id']}", on, city, i["amount_cents"], _party(i, provider_id)) for i in items],
    )
    if not paid:  # back to be reimbursed by the next run
        await uow.conn.execute(
            "update reimbursement_items set failed = true where reimbursement_id = $1", row["batch_id"]
        )
        await uow.conn.execute(
            "update voucher_redemptions set reimbursement_id = null where reimbursement_id = $1", row["batch_id"]
        )
        return
    if not publish:
        return
    await uow.emit(
        ctx,
        city,
        ev.ProviderReimbursed(
            batch_id=row["batch_id"],
            provider_id=provider_id,
            city=city,
            amount_cents=row["amount_cents"],
            voucher_ids=sorted({i["voucher_id"] for i in items}),
            on=on,
        ),
    )


async def runs(uow: UnitOfWork, ctx: Context, limit: int) -> list[dict[str, Any]]:
    """The city's runs, newest first (the payments office's list): staff only, as a run is."""
    ctx.staff(ctx.city, "read reimbursement runs")
    return await repo.reimbursement_runs(uow.conn, ctx.city, limit)


async def run_view(uow: UnitOfWork, ctx: Context, run_id: str) -> dict[str, Any]:
    ctx.staff(ctx.city, "read reimbursement runs")  # by role before the lookup: no existence oracle
    rows = await uow.conn.fetch(
        "select batch_id, provider_id, city, amount_cents, status, reason, end_to_end_id, on_date, settled_on"
        " from reimbursements where run_id = $1 order by batch_id",
        run_id,
    )
    if not rows or ctx.elsewhere(rows[0]["city"]):
        raise NotFound("run_id", f"no reimbursement run {run_id}")
    file = await payment_files.summary(uow, await file_store.of_batch(uow.conn, run_id))
    return {"run_id": run_id, "file": file, "reimbursements": [dict(r) for r in rows]}


async def run_file(uow: UnitOfWork, ctx: Context, run_id: str) -> dict[str, Any]:
    """The run's stored pain.001 file (staff of its city: refused by role before the lookup)."""
    ctx.staff(ctx.city, "export payment files")
    file = await file_store.of_batch(uow.conn, run_id)
    if file is None or file["purpose"] != "reimbursements" or ctx.elsewhere(file["city"]):
        raise NotFound("run_id", f"no reimbursement run {run_id}")
    return file
