"""ContributionRequest lifecycle (DESIGN section 4, "payments").

requested → approved → batched → paid, with `rejected` from requested, and a failed payment returning the request
to approved (the commitment stays; the next batch pays it). Above the city's threshold an approval needs a second,
different approver; nobody approves their own request. Pure: the caller loads and stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lgnet_shared.errors import Conflict, Forbidden


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


@dataclass(frozen=True)
class Approval:
    """The outcome of one approval: `final` when the request is now approved (commit the budget)."""

    final: bool
    approved_by: str
    second_approver: str | None = None


def approve(req: ContributionRequest, approver: str, threshold_cents: int) -> Approval:
    if req.status is not RequestStatus.REQUESTED:
        raise Conflict("status", f"request is {req.status.value}, only a requested one can be approved")
    if approver == req.requested_by:
        raise Forbidden("approved_by", "the requester cannot approve their own request")
    if req.first_approver is None:
        if req.amount_cents > threshold_cents:
            return Approval(final=False, approved_by=approver)
        return Approval(final=True, approved_by=approver)
    if approver == req.first_approver:
        raise Forbidden("second_approver", f"above {threshold_cents} cents a second, different approver is needed")
    return Approval(final=True, approved_by=req.first_approver, second_approver=approver)


def reject(req: ContributionRequest) -> None:
    if req.status is not RequestStatus.REQUESTED:
        raise Conflict("status", f"request is {req.status.value}, only a requested one can be rejected")


def check_budget(available_cents: int, amount_cents: int, field: str = "amount_cents") -> None:
    if amount_cents > available_cents:
        raise Conflict(field, f"over budget: {amount_cents} cents asked, {available_cents} available on the line")
