"""ContributionRequest lifecycle (DESIGN section 4, "payments").

requested → approved → batched → paid, with `rejected` from requested, and a failed payment returning the request
to approved (the commitment stays; the next batch pays it) — or, refused because of the payee's account (AC04 …),
to requested, approved again only with new bank data. Above the city's threshold an approval needs a second,
different approver; nobody approves their own request. Pure: the caller loads and stores.

Bank data (payee name, IBAN, BIC) is part of what is approved (four eyes, issue #23): whoever set or last changed
it never approves it, nor does the requester. A change of bank data withdraws every approval given so far (an
approved request returns to requested, a recorded first approval is dropped); a request in a batch or paid cannot
change its bank data at all (only a payment the bank returns brings it back to approved, and changeable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from lgnet_shared import vocabulary
from lgnet_shared.errors import Conflict, ContractError, Forbidden


class RequestStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    BATCHED = "batched"
    PAID = "paid"


@dataclass(frozen=True)
class ContributionRequest:
    request_id: str
    case_id: str
    household_id: str
    city: str
    kind: str
    budget_line_id: str
    amount_cents: int
    requested_by: str
    status: RequestStatus
    first_approver: str | None = None
    bank_data_version: int = 0  # 0: no bank data yet; +1 at every change
    bank_data_set_by: str | None = None  # who set the current bank data (never one of its approvers)
    payee_refused_version: int | None = None  # the bank data version whose transfer the payee's bank refused
    payee_refused_reason: str | None = None
    approved_bank_data_version: int | None = None  # the version approved with the money (four eyes)
    period_from: date | None = None  # a rent or utilities request's first day paid

    @property
    def awaits_new_bank_data(self) -> bool:
        return awaits_new_bank_data(self.payee_refused_version, self.bank_data_version)

    @property
    def bank_data_pending(self) -> bool:
        """Bank data changed since the approval: not approved yet."""
        return self.approved_bank_data_version != self.bank_data_version


def awaits_new_bank_data(payee_refused_version: int | None, bank_data_version: int) -> bool:
    """The payee's account refused the transfer and the bank data has not changed since (the SQL of
    `repository.awaiting_bank_data` says it too, to select such requests)."""
    return payee_refused_version is not None and payee_refused_version == bank_data_version


# Kinds paid period by period: a request names the period it pays, and two requests of a household may not pay the
# same days of one kind (the lease-activation grant, the deposit and vouchers are one-off).
PERIODIC = frozenset({"rent", "utilities"})
MAX_PERIOD_DAYS = 366  # a period is at most a year
MAX_AHEAD_DAYS = 366  # and starts at most a year ahead: a typo (2062) would hold the household's period for decades


def check_period(kind: str, period_from: date | None, period_to: date | None, today: date) -> None:
    """A rent or utilities request names the first and last day it pays; any period runs forwards, lasts at most a
    year and starts at most a year ahead."""
    if kind in PERIODIC:
        missing = [
            ContractError(f"period_{end}", f"a {kind} request pays a period: give its {day} day")
            for end, day, given in (("from", "first", period_from), ("to", "last", period_to))
            if given is None
        ]
        if missing:  # both ends said at once
            raise ContractError.all_of(missing)
    if period_from is None or period_to is None:
        return
    if period_to < period_from:
        raise ContractError("period_to", "is before period_from")
    if (period_to - period_from).days >= MAX_PERIOD_DAYS:
        raise ContractError("period_to", f"a period lasts at most {MAX_PERIOD_DAYS} days")
    if (period_from - today).days > MAX_AHEAD_DAYS:
        raise ContractError("period_from", f"starts more than {MAX_AHEAD_DAYS} days ahead")


BANK_FIELDS = ("iban", "name", "bic")  # the order a refusal names them in
MASK = "••••"


def mask_iban(iban: str | None) -> str | None:
    """What answers show of an IBAN: its last four characters, e.g. `••••3000` (None stays None)."""
    return None if iban is None else MASK + iban[-4:]


@dataclass(frozen=True)
class BankDataChange:
    """The outcome of a change of bank data: the fields that differ and the request's status afterwards."""

    fields: tuple[str, ...]
    status: RequestStatus
    approval_withdrawn: bool  # an approval (final, or the first of two) no longer holds


def change_bank_data(req: ContributionRequest, changed: list[str]) -> BankDataChange:
    """`changed`: the bank data fields whose new value differs from the current one (none: nothing happens)."""
    fields = tuple(f for f in BANK_FIELDS if f in changed)
    if not fields:
        return BankDataChange((), req.status, False)
    if req.status in (RequestStatus.BATCHED, RequestStatus.PAID):
        why = (
            "is batched (its payment file goes to the bank with this bank data): the bank data cannot change"
            " unless the bank returns the payment"
            if req.status is RequestStatus.BATCHED
            else "is paid: its bank data can no longer change"
        )
        raise Conflict(fields[0], f"request {req.request_id} {why}")
    if req.status is RequestStatus.REJECTED:
        raise Conflict(fields[0], f"request {req.request_id} is rejected: its bank data can no longer change")
    withdrawn = req.status is RequestStatus.APPROVED or req.first_approver is not None
    return BankDataChange(fields, RequestStatus.REQUESTED, withdrawn)


@dataclass(frozen=True)
class Approval:
    """The outcome of one approval: `final` when the request is now approved (commit the budget)."""

    final: bool
    approved_by: str
    second_approver: str | None = None


def check_seen_version(current: int, set_by: str | None, seen: int | None) -> None:
    """The approver names the bank data version they read (None: not named): another one now is another IBAN, which
    they have not compared with the payee's documents. Four eyes means the approver saw what is paid."""
    if seen is not None and seen != current:
        raise Conflict(
            "bank_data_version",
            f"the bank data changed since it was read (version {current} now, set by {set_by}; {seen} read): read it"
            " again and compare it with the payee's documents before approving",
        )


def approve(req: ContributionRequest, approver: str, threshold_cents: int, seen: int | None = None) -> Approval:
    if req.status is not RequestStatus.REQUESTED:
        raise Conflict("status", f"request is {req.status.value}, only a requested one can be approved")
    check_seen_version(req.bank_data_version, req.bank_data_set_by, seen)
    if req.awaits_new_bank_data:
        raise Conflict(
            "beneficiary.iban",
            f"the payee's bank refused the transfer to this account ({req.payee_refused_reason}): the request needs"
            " the payee's new bank data before it is approved again",
        )
    if approver == req.requested_by:
        raise Forbidden("approved_by", "the requester cannot approve their own request")
    if approver == req.bank_data_set_by:
        field = "approved_by" if req.first_approver is None else "second_approver"
        raise Forbidden(field, "whoever set or changed the bank data cannot approve it: another person must")
    if req.first_approver is None:
        if req.amount_cents > threshold_cents:
            return Approval(final=False, approved_by=approver)
        return Approval(final=True, approved_by=approver)
    if approver == req.first_approver:
        raise Forbidden("second_approver", f"above {threshold_cents} cents a second, different approver is needed")
    return Approval(final=True, approved_by=req.first_approver, second_approver=approver)


def check_case_open(req: ContributionRequest, closed_on: date | None) -> None:
    """A closed case is paid for no day after its closing: a request asked while it was open for a period that
    starts after it closed is not approved (one-off kinds, asked while it was open, still may be)."""
    if closed_on is not None and req.period_from is not None and req.period_from > closed_on:
        raise Conflict(
            "case_id",
            f"case {req.case_id} was closed on {closed_on.isoformat()}: this request pays from"
            f" {req.period_from.isoformat()}, after the case closed; reject it",
        )


def signed_while_open(signed_on: date, closed_on: date | None) -> bool:
    """A lease signed after its case closed asks for no lease-activation grant or deposit by the city's policy."""
    return closed_on is None or signed_on <= closed_on


# The kinds a signed lease creates (policy.requests_for_lease): paid once per lease. One asked by hand without naming
# its lease is the household's current lease's: it and the automatic one are one contribution, whichever comes first
# (docs/payments.md, "One per lease").
LEASE_KINDS = frozenset({"lease_activation", "deposit"})


def other_request(other: dict[str, Any], partner: str | None) -> str:
    """Another request of the household as a refusal names it, up to its opening parenthesis: by its id and case to
    the city's staff (`partner` None) and to its case's partner; to another cooperative as one on another partner's
    case (a household's cases may be two cooperatives'; the other's ids are not its to know, nor to read)."""
    if partner is None or other.get("case_partner") == partner:
        return f"request {other['request_id']} (case {other['case_id']}"
    return "request (on another partner's case"


def check_period_paid_once(kind: str, other: dict[str, Any] | None, partner: str | None) -> None:
    """A periodic request whose days `other` (the household's request of that kind paying one of them, None if
    none) already pays: 409 naming `period_from`."""
    if other is not None:
        raise Conflict(
            "period_from",
            f"the household's {kind} {other_request(other, partner)}) already pays {other['period_from']} to"
            f" {other['period_to']}: a period is paid once",
        )


def check_one_per_lease(kind: str, other: dict[str, Any] | None, partner: str | None) -> None:
    """A `kind` request asked without a lease, while `other` (the household's live request of that kind, None if
    there is none) already covers its lease: 409 naming `lease_id`."""
    if other is None:
        return
    lease = f"lease {other['lease_id']}" if other["lease_id"] else "no lease named (asked by hand)"
    raise Conflict(
        "lease_id",
        f"the household's {kind} {other_request(other, partner)}, {lease}, {other['status']}) already pays it: a"
        f" {kind} is paid once per lease; for another lease, name its lease_id",
    )


# Likely duplicates (the same person registered twice): another live request (requested, approved, batched, paid) of
# the city, of the same kind, to the same payee IBAN, paying a day of the same period; for the one-off kinds (lease
# activation, deposit), requested within this many days of each other.
LIVE = (RequestStatus.REQUESTED, RequestStatus.APPROVED, RequestStatus.BATCHED, RequestStatus.PAID)
ONE_OFF_WINDOW_DAYS = 180
DUPLICATE_REASONS = "duplicate_confirmation_reason"  # the code list of the approver's reason (lgnet_shared.vocabulary)


def check_duplicates(duplicates: list[dict[str, Any]], reason: str | None) -> bool:
    """An approval of a possible duplicate needs the approver's reason (a code) saying why it is not a double
    payment: without one, 409 naming `duplicate_reason` and the other requests. True when a confirmation is to be
    recorded (there are possible duplicates and a reason). The reason is one of the shared vocabulary's
    `duplicate_confirmation_reason` codes (422 naming the valid ones otherwise)."""
    if reason is not None and reason not in vocabulary.codes(DUPLICATE_REASONS):
        valid = ", ".join(sorted(vocabulary.codes(DUPLICATE_REASONS)))
        raise ContractError("duplicate_reason", f"{reason!r} is not a {DUPLICATE_REASONS} code: one of {valid}")
    if not duplicates:
        return False
    if reason is None:
        others = "; ".join(
            f"request {d['request_id']} (case {d['case_id']}, {d['status']}"
            + (f", {d['period_from']} to {d['period_to']}" if d["period_from"] else "")
            + ")"
            for d in duplicates
        )
        raise Conflict(
            "duplicate_reason",
            f"possible duplicate: the same payee IBAN already has a {duplicates[0]['kind']} for this period"
            f" in {others}; approve with duplicate_reason (a code) to confirm it is not paid twice,"
            " or reject one of them",
        )
    return True


def reject(req: ContributionRequest) -> None:
    if req.status is not RequestStatus.REQUESTED:
        raise Conflict("status", f"request is {req.status.value}, only a requested one can be rejected")


def withdraw(req: ContributionRequest) -> None:
    """Staff withdraw an approved request not yet in a batch (the payee moved, the lease fell through): it will not be
    paid and its commitment returns to the line. A batched one is with the bank: only its result changes it."""
    if req.status is RequestStatus.APPROVED:
        return
    why = {
        RequestStatus.REQUESTED: "not approved: reject it instead (POST …/rejection)",
        RequestStatus.BATCHED: "batched: its payment file is with the bank, only the bank's result changes it",
    }.get(req.status, f"{req.status.value}: it can no longer be withdrawn")
    raise Conflict("status", f"request {req.request_id} is {why}")


def check_budget(available_cents: int, amount_cents: int, field: str = "amount_cents") -> None:
    if amount_cents > available_cents:
        raise Conflict(field, f"over budget: {amount_cents} cents asked, {available_cents} available on the line")
