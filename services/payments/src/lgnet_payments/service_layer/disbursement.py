"""Disbursement: approved requests grouped into a batch (ledger: committed → in transit), exported as a SEPA
pain.001 file, and reconciled with the bank's result (paid → disbursed; failed → reversed, back to approved)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from lgnet_shared import pii
from lgnet_shared.errors import Conflict, ContractError, NotFound
from lgnet_shared.events import Event, Sealed
from lgnet_shared.events import payments as ev
from lgnet_shared.events.payments import ContributionKind
from lgnet_shared.ids import new_id

from lgnet_payments.adapters import ledger_store, sepa
from lgnet_payments.adapters import payment_files as file_store
from lgnet_payments.adapters import repository as repo
from lgnet_payments.domain import ledger
from lgnet_payments.domain.reconciliation import (
    BankResult,
    check_booked_on,
    check_execution_date,
    check_return_reversible,
    payee_account_refused,
)
from lgnet_payments.domain.requests import RequestStatus
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer import erasure, payment_files, reimbursements
from lgnet_payments.service_layer.context import Context, UnitOfWork, staffs_row


def _payment_id() -> str:
    return new_id().replace("-", "")  # 32 characters: fits SEPA's 35-character EndToEndId


async def create_batch(uow: UnitOfWork, ctx: Context, c: cmd.CreateBatch) -> dict[str, Any]:
    """Every approved request of the city with approved bank data, up to `max_payments`, in one batch. Requests another
    batch is taking right now are skipped (row locks); the unique index refuses a second live payment anyway."""
    ctx.staff(ctx.city, "create disbursement batches")
    city = ctx.city
    policy = await repo.policy(uow.conn, city)
    if not (policy.debtor_name and policy.debtor_iban):
        raise ContractError("policy.debtor_iban", f"{city} has no paying account configured (PUT /policies/{city})")
    execution_date = c.execution_date or ctx.today + timedelta(days=1)
    check_execution_date(execution_date, ctx.today)
    rows = await repo.lock_payable(uow.conn, city, c.max_payments)
    if not rows:
        raise Conflict("", "no approved request with bank data is waiting for payment")
    batch_id = new_id()
    message_id = f"LGNET-{batch_id.replace('-', '')[:28]}"
    total = sum(r["amount_cents"] for r in rows)
    await repo.insert_batch(
        uow.conn,
        {
            "batch_id": batch_id,
            "city": city,
            "message_id": message_id,
            "total_cents": total,
            "execution_date": execution_date,
            "created_by": ctx.actor.id,
            "created_on": ctx.today,
        },
    )
    payments = [(_payment_id(), r["request_id"], batch_id, r["amount_cents"]) for r in rows]
    await repo.insert_payments(uow.conn, [(*p, r["approved_beneficiary"]) for p, r in zip(payments, rows, strict=True)])
    await ledger_store.append_many(
        uow.conn,
        [
            ledger.disbursement(
                payment_id, ctx.today, city, amount, ledger.Party(r["budget_line_id"], r["case_id"], r["household_id"])
            )
            for (payment_id, _, _, amount), r in zip(payments, rows, strict=True)
        ],
    )
    await uow.conn.execute(
        "update contribution_requests set status = 'batched' where request_id = any($1::text[])",
        [r["request_id"] for r in rows],
    )
    # Written, validated and stored now, in the batch's transaction: a file that does not validate makes no batch.
    file = await _write_file(uow, await repo.batch(uow.conn, batch_id) or {})
    await uow.emit(
        ctx,
        city,
        ev.DisbursementBatchCreated(
            batch_id=batch_id,
            city=city,
            request_ids=[r["request_id"] for r in rows],
            total_cents=total,
            message_id=message_id,
            on=ctx.today,
        ),
    )
    return {
        "batch_id": batch_id,
        "city": city,
        "message_id": message_id,
        "payments": len(rows),
        "total_cents": total,
        "execution_date": execution_date.isoformat(),
        "file": {"message_id": message_id, "sha256": file["sha256"], "pain_version": file["pain_version"]},
    }


async def batches(uow: UnitOfWork, ctx: Context, limit: int) -> list[dict[str, Any]]:
    """The city's batches, newest first (the payments office's list): staff only, as a batch is."""
    city = ctx.city
    ctx.staff(city, "read disbursement batches")
    return await repo.batches(uow.conn, city, limit)


async def batch_view(uow: UnitOfWork, ctx: Context, batch_id: str) -> dict[str, Any]:
    # every case's payments of the city: staff only, refused by role before the lookup (no existence oracle)
    ctx.staff(ctx.city, "read disbursement batches")
    batch = await repo.batch(uow.conn, batch_id)
    if batch is None or ctx.elsewhere(batch["city"]):
        raise NotFound("batch_id", f"no batch {batch_id}")
    rows = await uow.conn.fetch(
        "select payment_id, request_id, amount_cents, status, reason, settled_on from payments where batch_id = $1"
        " order by payment_id",
        batch_id,
    )
    file = await payment_files.summary(uow, await file_store.of_batch(uow.conn, batch_id))
    return {**batch, "file": file, "payments": [dict(r) for r in rows]}


async def pain001(uow: UnitOfWork, ctx: Context, batch_id: str, via: str = "api") -> bytes:
    """The batch's stored pain.001 file, byte-identical at every download (its SHA-256 is in payment_files)."""
    return await payment_files.served(uow, ctx, await batch_file(uow, ctx, batch_id), via)


async def batch_file(uow: UnitOfWork, ctx: Context, batch_id: str) -> dict[str, Any]:
    """The batch's stored file. A batch made before files were stored (payments-4) gets its file now, once:
    the batch row is locked so two first downloads cannot write two."""

    batch = await staffs_row(uow, ctx, "batches", batch_id, "export payment files")
    file = await file_store.of_batch(uow.conn, batch_id)
    return file if file is not None else await _write_file(uow, batch)


async def _write_file(uow: UnitOfWork, batch: dict[str, Any]) -> dict[str, Any]:
    """Decrypt the bank data each payment was approved with (the only place it is decrypted in full) and write
    the batch's file."""
    batch_id = batch["batch_id"]
    keys = uow.key_store()
    household_keys: dict[str, bytes | None] = {}  # one key lookup per household, not per field
    transfers = []
    for p in await repo.batch_payments(uow.conn, batch_id):
        sealed_name, sealed_iban = (Sealed.model_validate(p["beneficiary"][f]) for f in ("name", "iban"))
        if sealed_name.kid not in household_keys:
            household_keys[sealed_name.kid] = await keys.key(uow.conn, sealed_name.kid)
        key = household_keys[sealed_name.kid]
        if key is None:
            raise Conflict("batch_id", f"bank data of request {p['request_id']} was erased")
        name, iban = pii.open_with(key, sealed_name, "name"), pii.open_with(key, sealed_iban, "iban")
        sealed_bic = p["beneficiary"].get("bic")
        bic = pii.open_with(key, Sealed.model_validate(sealed_bic), "bic") if sealed_bic else None
        description = _description(p["kind"], p["request_id"])
        transfers.append(sepa.Transfer(p["payment_id"], name, iban, p["amount_cents"], description, bic))
    return await payment_files.write(
        uow,
        batch_id=batch_id,
        message_id=batch["message_id"],
        purpose="contributions",
        city=batch["city"],
        execution_date=batch["execution_date"],
        transfers=transfers,
    )


def _paid(p: dict[str, Any], on: date) -> ev.ContributionPaid:
    return ev.ContributionPaid(
        request_id=p["request_id"],
        batch_id=p["batch_id"],
        case_id=p["case_id"],
        household_id=p["household_id"],
        city=p["city"],
        kind=ContributionKind(p["kind"]),
        budget_line_id=p["budget_line_id"],
        amount_cents=p["amount_cents"],
        paid_on=on,
    )


async def _return_reversed(uow: UnitOfWork, ctx: Context, p: dict[str, Any], r: BankResult, where: str) -> str:
    """A failed (returned) payment whose return the bank reversed: paid after all, out of the request's commitment,
    unless something else pays the request now (domain/reconciliation.py)."""
    request = await repo.request(uow.conn, p["request_id"], lock=True)
    assert request is not None
    paid_again = await uow.conn.fetchval(
        "select payment_id from payments where request_id = $1 and status <> 'failed' and payment_id <> $2 limit 1",
        p["request_id"],
        p["payment_id"],
    )
    check_return_reversible(
        p["payment_id"], p["request_id"], request.status.value, paid_again, f"{where}.status", request.bank_data_pending
    )
    on = r.booked_on or ctx.today
    check_booked_on(on, p["settled_on"], ctx.today, f"{where}.booking_date")
    party = ledger.Party(p["budget_line_id"], p["case_id"], p["household_id"])
    await repo.settle_payment(uow.conn, p["payment_id"], "paid", None, on)
    await ledger_store.append(
        uow.conn, ledger.return_reversed(p["payment_id"], on, p["city"], p["amount_cents"], party)
    )
    await repo.update_request(uow.conn, p["request_id"], status=RequestStatus.PAID.value)
    await uow.emit(ctx, p["city"], _paid(p, on))
    await erasure.shred_if_settled(uow.conn, p["batch_id"], on)
    return "paid"


async def _to_be_paid_again(uow: UnitOfWork, request_id: str, reason: str | None, on: date) -> None:
    """A failed or returned payment's request, its commitment kept: approved again (the next batch pays it), or, when
    the payee's account refused the transfer, requested again until the payee's bank data changes (sent again to
    the same account, it would bounce again)."""
    if not payee_account_refused(reason):
        await repo.update_request(uow.conn, request_id, status=RequestStatus.APPROVED.value)
        return
    await uow.conn.execute(
        "update contribution_requests set status = $2, first_approver = null, payee_refused_version ="
        " bank_data_version, payee_refused_reason = $3, payee_refused_on = $4 where request_id = $1",
        request_id,
        RequestStatus.REQUESTED.value,
        reason,
        on,
    )


def _description(kind: str, request_id: str) -> str:
    return f"LgNet {ContributionKind(kind).value.replace('_', ' ')} {request_id}"


async def reconcile(uow: UnitOfWork, ctx: Context, results: list[BankResult]) -> dict[str, Any]:
    """Mark payments paid or failed. Applying the same file twice changes nothing the second time."""
    ctx.staff(ctx.city, "reconcile bank statements")
    outcome = {"paid": 0, "failed": 0, "unchanged": 0}
    await repo.lock_settled(uow.conn, [r.end_to_end_id for r in results])  # two files at once: no deadlock
    for n, r in enumerate(results):
        outcome[await _settle(uow, ctx, r, f"entries[{n}]")] += 1
    return outcome


async def _settle(uow: UnitOfWork, ctx: Context, r: BankResult, where: str) -> str:
    p = await repo.payment_for_update(uow.conn, r.end_to_end_id)
    if p is not None and ctx.elsewhere(p["city"]):
        raise NotFound(f"{where}.end_to_end_id", f"no payment {r.end_to_end_id}")
    if p is None:  # a voucher provider's reimbursement, reconciled the same way
        settled = await reimbursements.settle(uow, ctx, r, where)
        if settled is None:
            raise NotFound(f"{where}.end_to_end_id", f"no payment {r.end_to_end_id}")
        return settled
    ctx.write(p["city"], f"{where}.end_to_end_id")
    if r.amount_cents is not None and r.amount_cents != p["amount_cents"]:
        raise ContractError(
            f"{where}.amount", f"{r.amount_cents} cents, but payment {p['payment_id']} is {p['amount_cents']}"
        )
    wanted = "paid" if r.paid else "failed"
    if p["status"] == wanted:
        return "unchanged"  # the same result again: already applied
    if r.reversal and r.paid and p["status"] == "failed":  # the bank undid the return: the transfer stands
        return await _return_reversed(uow, ctx, p, r, where)
    if not r.paid and await ledger_store.booked(uow.conn, ledger.PAYMENT_FAILURES, p["payment_id"]):
        return "unchanged"  # its failure, reversed since: the same entry again (domain/ledger.py)
    # A SEPA return comes days after the transfer was booked paid (the account closed, AC04): the money is back.
    returned = p["status"] == "paid" and not r.paid
    if p["status"] != "sent" and not returned:
        raise Conflict(f"{where}.status", f"payment {p['payment_id']} is already {p['status']}")
    party = ledger.Party(p["budget_line_id"], p["case_id"], p["household_id"])
    on = r.booked_on or ctx.today
    check_booked_on(on, p["settled_on"] if returned else p["sent_on"], ctx.today, f"{where}.booking_date")
    amount = p["amount_cents"]
    await repo.settle_payment(uow.conn, p["payment_id"], wanted, r.reason, on)
    if returned:  # from `disbursed` back to the request's commitment: approved again, a new batch pays it once
        await ledger_store.append(uow.conn, ledger.payment_returned(p["payment_id"], on, p["city"], amount, party))
        await _to_be_paid_again(uow, p["request_id"], r.reason, on)
        event: Event = ev.ContributionPaymentFailed(
            request_id=p["request_id"], batch_id=p["batch_id"], reason=r.reason or "unknown", on=on
        )
    elif r.paid:
        await ledger_store.append(uow.conn, ledger.payment_confirmed(p["payment_id"], on, p["city"], amount, party))
        await repo.update_request(uow.conn, p["request_id"], status=RequestStatus.PAID.value)
        event = _paid(p, on)
    else:
        await ledger_store.append(uow.conn, ledger.reversal(p["payment_id"], on, p["city"], amount, party))
        await _to_be_paid_again(uow, p["request_id"], r.reason, on)
        event = ev.ContributionPaymentFailed(
            request_id=p["request_id"], batch_id=p["batch_id"], reason=r.reason or "unknown", on=on
        )
    await uow.emit(ctx, p["city"], event)
    await erasure.shred_if_settled(uow.conn, p["batch_id"], on)  # an erasure waited for this file to settle
    return wanted
