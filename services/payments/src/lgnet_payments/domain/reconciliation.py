"""The bank's answer about one payment, whatever file it came in (camt.054 or the documented CSV), and the dates a
bank takes: the execution date a batch asks for, the booking date it answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from lgnet_shared.errors import Conflict, ContractError


@dataclass(frozen=True)
class BankResult:
    end_to_end_id: str  # our payment id, echoed by the bank
    paid: bool
    reason: str | None = None  # for failures: the bank's reason code, lower case (ac04, am04, ...)
    amount_cents: int | None = None
    booked_on: date | None = None
    # An entry that reverses an earlier booking (camt RvslInd): paid=True reverses a credit, i.e. the money that came
    # back went out after all (a return cancelled by the bank); paid=False reverses our debit (the money came back).
    reversal: bool = False


def check_return_reversible(
    payment_id: str,
    request_id: str,
    request_status: str,
    paid_again: str | None,
    field: str,
    bank_data_pending: bool = False,
) -> None:
    """The bank undid the return of a failed payment (a debit with RvslInd): the transfer stands. It is booked paid
    again only when nothing else pays the request: not when a later payment of it is with the bank or paid
    (`paid_again`: that payment's id) — the payee would have the money twice, which a person recovers — nor when the
    request was withdrawn or rejected since (its commitment released)."""
    if paid_again is not None:
        raise Conflict(
            field,
            f"the bank reversed the return of payment {payment_id}, but request {request_id} was paid again by payment"
            f" {paid_again}: the payee would have it twice; recover one of them with the bank before this entry",
        )
    if request_status not in ("approved", "requested"):  # requested: awaiting new bank data, still committed
        raise Conflict(
            field,
            f"the bank reversed the return of payment {payment_id}, but request {request_id} is {request_status}"
            " (its commitment released): recover the transfer with the bank before this entry",
        )
    if bank_data_pending:  # a paid request's bank data is approved data (four eyes): its new ones are not yet
        raise Conflict(
            field,
            f"the bank reversed the return of payment {payment_id}, but request {request_id} has new bank data awaiting"
            " approval since: approve them (another staff member) or reject the request, then import this entry",
        )


def check_reimbursement_return_reversible(reimbursement_id: str, paid_again: str | None, field: str) -> None:
    """The same for a provider's reimbursement: not when a later reimbursement took its redemptions (`paid_again`)."""
    if paid_again is not None:
        raise Conflict(
            field,
            f"the bank reversed the return of reimbursement {reimbursement_id}, but its redemptions were reimbursed"
            f" again by {paid_again}: the provider would have it twice; recover one of them with the bank before this"
            " entry",
        )


# Euros with a dot (the CSV's documented form; an XSD decimal of a camt file reads the same): digits, and the decimals
# after a dot. Decimal alone would also read NaN, Infinity, 1e2 or 1_000.
_EUROS = re.compile(r"\+?[0-9]+(\.[0-9]+)?")


def euros_to_cents(text: str, field: str) -> int:
    """'123.45' → 12345; more than two decimals, signs or garbage are refused, never rounded."""
    if not _EUROS.fullmatch(text.strip()):
        raise ContractError(field, f"{text!r} is not an amount in euros like 123.45")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ContractError(field, f"{text!r} is not an amount in euros like 123.45") from None
    cents = value * 100
    if value <= 0 or cents != cents.to_integral_value():
        raise ContractError(field, f"{text!r} must be a positive amount with at most two decimals")
    return int(cents)


# ISO 20022 return and reject reasons that say the payee's account cannot take the transfer: sent again to it, it
# bounces again. The request then waits for the payee's new bank data (docs/payments.md, "Returns and rejections").
PAYEE_ACCOUNT_REASONS = frozenset({
    "ac01",  # incorrect account number
    "ac03",  # invalid creditor account number
    "ac04",  # closed account number
    "ac06",  # blocked account
    "ag01",  # transaction forbidden on this account
    "be04",  # missing or incorrect creditor address
    "md07",  # end customer deceased
    "rc01",  # bank identifier (BIC) incorrect
})  # fmt: skip


def payee_account_refused(reason: str | None) -> bool:
    """The bank refused the transfer because of the payee's account: a new approval needs new bank data."""
    return reason in PAYEE_ACCOUNT_REASONS


def reason_code(text: str | None) -> str | None:
    if not text:
        return None
    code = text.strip().lower()
    return code if code.replace("_", "").isalnum() and len(code) <= 64 else "unknown"


def check_booked_on(booked_on: date, sent_on: date, today: date, field: str) -> None:
    """A booking date the bank can have booked: not before the payment's file was made (`sent_on`), not in the future
    (a day's leeway: the bank's day may have begun before ours). It dates the ledger and the paid fact: a typo (2062)
    would leave the payment in transit for decades, a date before the file would book it paid before it was sent."""
    if booked_on > today + timedelta(days=1):
        raise ContractError(field, f"{booked_on.isoformat()} is in the future: a bank books what it has done")
    if booked_on < sent_on:
        raise ContractError(field, f"{booked_on.isoformat()} is before the payment was sent ({sent_on.isoformat()})")


MAX_EXECUTION_AHEAD = timedelta(days=366)  # like a request's period and a voucher's validity: at most a year ahead


def check_execution_date(execution_date: date, today: date) -> None:
    """The day a batch asks the bank to pay: not past, and at most a year ahead (a typo, 2062, would ask the bank to
    pay in decades and hold the batch's requests in transit until then)."""
    if execution_date < today:
        raise ContractError("execution_date", "is in the past")
    if execution_date > today + MAX_EXECUTION_AHEAD:
        raise ContractError("execution_date", f"is more than {MAX_EXECUTION_AHEAD.days} days ahead")
