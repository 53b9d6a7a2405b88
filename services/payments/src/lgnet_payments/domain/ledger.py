"""Double-entry ledger in integer euro cents (DESIGN section 4, "payments").

Every posting is signed (positive = debit, negative = credit) and every transaction sums to zero. Accounts are
named by what they hold; dimensions (budget line, case, household, provider) say whose money it is, so balances
per budget line, case or household at any date are sums over postings up to that date.

    allocation / adjustment   grant_funding        → budget_available      (the line gets money)
    approval (commitment)     budget_available     → committed             (promised to a case)
    batch (disbursement)      committed            → in_transit            (sent to the bank)
    paid                      in_transit           → disbursed             (the bank confirmed)
    failed (reversal)         in_transit           → committed             (back to the approved request)
    returned after paid       disbursed            → committed             (a SEPA return)
    return reversed           committed            → disbursed             (the bank undid the return: paid)
    voucher issued            budget_available     → voucher_outstanding
    voucher redeemed          voucher_outstanding  → provider_payable
    voucher expired           voucher_outstanding  → budget_available      (the rest returns to the line)
    provider reimbursed       provider_payable     → disbursed             (before payments-5: paid outside)
    reimbursement sent        provider_payable     → in_transit            (in a payment file, per redemption)
    reimbursement confirmed   in_transit           → disbursed             (the bank paid the provider)
    reimbursement returned    in_transit           → provider_payable      (the bank failed: the next run pays it)
    … its return reversed     provider_payable     → disbursed             (the bank undid the return: paid)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Account(StrEnum):
    GRANT_FUNDING = "grant_funding"
    BUDGET_AVAILABLE = "budget_available"
    COMMITTED = "committed"
    IN_TRANSIT = "in_transit"
    DISBURSED = "disbursed"
    VOUCHER_OUTSTANDING = "voucher_outstanding"
    PROVIDER_PAYABLE = "provider_payable"


@dataclass(frozen=True)
class Posting:
    account: Account
    amount_cents: int  # positive = debit, negative = credit
    budget_line_id: str
    case_id: str | None = None
    household_id: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True)
class Transaction:
    kind: str  # allocation, adjustment, commitment, disbursement, payment_confirmed, reversal, voucher_*, ...
    ref: str  # what it records (request, payment, voucher, ...): (kind, ref) is unique — recorded once
    on: date
    city: str
    postings: tuple[Posting, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if any(p.amount_cents == 0 for p in self.postings) or len(self.postings) < 2:
            raise ValueError(f"{self.kind} {self.ref}: a transaction needs at least two non-zero postings")
        if sum(p.amount_cents for p in self.postings) != 0:
            raise ValueError(f"{self.kind} {self.ref}: postings do not balance")


@dataclass(frozen=True)
class Party:
    """Whose money a request moves: its budget line, case and household."""

    budget_line_id: str
    case_id: str | None = None
    household_id: str | None = None
    provider_id: str | None = None


def move(
    kind: str, ref: str, on: date, city: str, amount: int, source: Account, target: Account, party: Party
) -> Transaction:
    """`amount` cents from `source` to `target` (target debited, source credited), on the same party."""

    def leg(account: Account, signed: int) -> Posting:
        return Posting(account, signed, party.budget_line_id, party.case_id, party.household_id, party.provider_id)

    return Transaction(kind, ref, on, city, (leg(target, amount), leg(source, -amount)))


def allocation(ref: str, on: date, city: str, line: str, delta: int, kind: str = "allocation") -> Transaction:
    """Allocation (delta > 0) or adjustment (either sign) of a budget line."""
    if delta > 0:
        return move(kind, ref, on, city, delta, Account.GRANT_FUNDING, Account.BUDGET_AVAILABLE, Party(line))
    return move(kind, ref, on, city, -delta, Account.BUDGET_AVAILABLE, Account.GRANT_FUNDING, Party(line))


def commitment(request_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("commitment", request_id, on, city, amount, Account.BUDGET_AVAILABLE, Account.COMMITTED, party)


def commitment_released(request_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    """A committed request rejected after all (its bank data changed and the new data was not approved)."""
    return move("commitment_released", request_id, on, city, amount, Account.COMMITTED, Account.BUDGET_AVAILABLE, party)


def disbursement(payment_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("disbursement", payment_id, on, city, amount, Account.COMMITTED, Account.IN_TRANSIT, party)


def payment_confirmed(payment_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("payment_confirmed", payment_id, on, city, amount, Account.IN_TRANSIT, Account.DISBURSED, party)


def reversal(payment_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("reversal", payment_id, on, city, amount, Account.IN_TRANSIT, Account.COMMITTED, party)


def payment_returned(payment_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    """A transfer booked paid that the bank returned (a SEPA return): the money is the request's again, committed."""
    return move("payment_returned", payment_id, on, city, amount, Account.DISBURSED, Account.COMMITTED, party)


def return_reversed(payment_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    """The bank reversed the credit that brought a transfer back (camt RvslInd on a debit): the transfer stands, the
    money is disbursed again out of the request's commitment."""
    return move("return_reversed", payment_id, on, city, amount, Account.COMMITTED, Account.DISBURSED, party)


# A transfer's money comes back at most once (rejected while in transit, or returned after it was booked paid), and
# the bank reverses that at most once: a failure entry for a transfer whose failure is booked is the same entry again
# (a statement imported twice), whatever the transfer's status since — a status alone took a return replayed after its
# reversal for a new one, and the request was paid twice.
PAYMENT_FAILURES = ("reversal", "payment_returned")
REIMBURSEMENT_FAILURES = ("reimbursement_returned", "reimbursement_returned_after_paid")


def voucher_issued(voucher_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move(
        "voucher_issued", voucher_id, on, city, amount, Account.BUDGET_AVAILABLE, Account.VOUCHER_OUTSTANDING, party
    )


def voucher_redeemed(redemption_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move(
        "voucher_redeemed",
        redemption_id,
        on,
        city,
        amount,
        Account.VOUCHER_OUTSTANDING,
        Account.PROVIDER_PAYABLE,
        party,
    )


def voucher_expired(voucher_id: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move(
        "voucher_expired", voucher_id, on, city, amount, Account.VOUCHER_OUTSTANDING, Account.BUDGET_AVAILABLE, party
    )


def provider_reimbursed(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("provider_reimbursed", ref, on, city, amount, Account.PROVIDER_PAYABLE, Account.DISBURSED, party)


def reimbursement_sent(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("reimbursement_sent", ref, on, city, amount, Account.PROVIDER_PAYABLE, Account.IN_TRANSIT, party)


def reimbursement_confirmed(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("reimbursement_confirmed", ref, on, city, amount, Account.IN_TRANSIT, Account.DISBURSED, party)


def reimbursement_returned(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    return move("reimbursement_returned", ref, on, city, amount, Account.IN_TRANSIT, Account.PROVIDER_PAYABLE, party)


def reimbursement_returned_after_paid(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    """A reimbursement booked paid that the bank returned: owed to the provider again, for the next run."""
    return move(
        "reimbursement_returned_after_paid", ref, on, city, amount, Account.DISBURSED, Account.PROVIDER_PAYABLE, party
    )


def reimbursement_return_reversed(ref: str, on: date, city: str, amount: int, party: Party) -> Transaction:
    """The bank undid the return of a provider's reimbursement (camt RvslInd on a debit): the provider was paid."""
    return move(
        "reimbursement_return_reversed", ref, on, city, amount, Account.PROVIDER_PAYABLE, Account.DISBURSED, party
    )


def balances(postings: Iterable[tuple[date, Posting]], as_of: date | None = None) -> dict[str, int]:
    """Balance per account of the postings dated up to `as_of` (all when None)."""
    out: dict[str, int] = defaultdict(int)
    for on, p in postings:
        if as_of is None or on <= as_of:
            out[p.account.value] += p.amount_cents
    return dict(out)
