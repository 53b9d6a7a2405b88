"""The contribution requests waiting for approval, as the approver must tell them apart: each with its case, the
household it is for (named by its reference person, as the cartella and the housing page name a household) and
whether the operator asked for it herself. Approving and rejecting are payments' (its rules: the requester does not
approve her own request, a second approver above the city's threshold); each is one call with the form's key."""

from __future__ import annotations

from typing import Any

from lgnet_shared import vocabulary
from lgnet_shared.db import Conn

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.domain.operators import Operator
from lgnet_desk.service_layer import desk, housing_steps

REJECTION_REASONS = "contribution_rejection_reason"  # the code list of a rejection's reason (lgnet_shared.vocabulary)
# Why a possible duplicate (the same IBAN, kind and period as another request) is approved anyway: payments' code list
DUPLICATE_REASONS = "duplicate_confirmation_reason"


async def pending(conn: Conn, services: Services, op: Operator) -> list[dict[str, Any]]:
    """Payments' requested contributions of the operator's city, each with `case` (intake's, None where intake does
    not show it), `household_name` (None where no name can be read: the page names the household's id),
    `household_erased` (its reference person was erased: the page says so, not "not visible to you"), `own` (the
    operator requested it: payments will not take her approval), `bank_mine` (she entered or changed its bank data:
    nor then) and `first_mine` (she gave the first of two). Payments' answer says whom it pays (`iban_masked`,
    `bank_data_changed_by`, `bank_data_changed_since_approval`, `approved_iban_masked`): the page shows it.
    Reading a name is a view of the person's data: it is in the access log (`approvals`), once per household."""
    requests: list[dict[str, Any]] = await services.get("payments", "/contribution-requests", status="requested")
    cases = await desk.cases_by_id(services, [q["case_id"] for q in requests])
    names: dict[str, housing_steps.Reference] = {}
    rows = []
    for q in requests:
        case = cases.get(q["case_id"])
        household = q.get("household_id") or (case or {}).get("household_id")
        if household and household not in names:
            members = [str(m) for m in (case or {}).get("member_ids") or []]
            names[household] = await housing_steps.household_name(
                conn, services, op, household, [q["case_id"]], action="approvals", members=members
            )
        named = names.get(household or "")
        rows.append(
            q
            | {
                "household_id": household,
                "case": case,
                "household_name": named.name if named else None,
                "household_erased": named.erased if named else False,  # its reference person erased: said so
                "own": op.service_actor is not None and q.get("requested_by") == op.service_actor,
                # she entered or changed the bank data: payments takes her approval of it neither (four eyes)
                "bank_mine": op.service_actor is not None and q.get("bank_data_changed_by") == op.service_actor,
                # above the city's threshold: she gave the first of two approvals, a second operator gives the other
                "first_mine": op.service_actor is not None and q.get("first_approver") == op.service_actor,
            }
        )
    return rows


async def approve(services: Services, request_id: str, form: dict[str, str]) -> bool:
    """Approve (or give the first of two approvals): payments decides whether the operator may. True when the
    approval is final; False when it was the first of two (the request still waits, for a second approver). A
    possible duplicate is approved with the reason chosen on the row (payments refuses it without one). The bank data
    version the row showed goes with it: payments refuses the approval if the IBAN changed since (four eyes: the
    operator approves the IBAN she compared, never one put there after her page was shown)."""
    body: dict[str, str | int] = seen_version(form)
    if "duplicate_reason" in form:
        reason = form["duplicate_reason"].strip()
        if reason not in vocabulary.codes(DUPLICATE_REASONS):
            raise desk.FieldErrors({"duplicate_reason": "choose the reason"})
        body["duplicate_reason"] = reason
    key = resubmission.call_key(form, "approval", request_id)  # sent twice: the first answer
    path = service_path("/contribution-requests/{}/approval", request_id)
    answer = await services.post("payments", path, body, key)
    return not (isinstance(answer, dict) and answer.get("status") == "requested")


def seen_version(form: dict[str, str]) -> dict[str, str | int]:
    """The bank data version the page showed (its hidden field), as payments' approvals take it; none if absent."""
    version = form.get("bank_data_version", "").strip()
    return {"bank_data_version": int(version)} if version.isdecimal() and version.isascii() else {}


async def reject(services: Services, request_id: str, form: dict[str, str]) -> None:
    """Reject with a coded reason (payments takes a code; the desk offers its list, one must be chosen)."""
    reason = form.get("reason", "").strip()
    if reason not in vocabulary.codes(REJECTION_REASONS):
        raise desk.FieldErrors({"reason": "choose the reason"})
    key = resubmission.call_key(form, "rejection", request_id)
    path = service_path("/contribution-requests/{}/rejection", request_id)
    await services.post("payments", path, {"reason": reason}, key)


async def mark_shared_payee(services: Services, request_id: str, form: dict[str, str]) -> None:
    """Put the payee of a possible duplicate on the city's list of shared payees (a utility, a housing agency):
    payments then compares its requests by amount too. Named by the request: the desk never sees the IBAN."""
    label = form.get("label", "").strip()
    if not label:
        raise desk.FieldErrors({"label": "say whom the payee is"})
    key = resubmission.call_key(form, "shared_payee", request_id)
    await services.post("payments", "/shared-payees", {"request_id": request_id, "label": label}, key)


async def shared_payees(services: Services) -> list[dict[str, Any]]:
    """The city's shared payees as payments keeps them (whom each pays, the IBAN masked, who put it there, when)."""
    listed: list[dict[str, Any]] = await services.get("payments", "/shared-payees")
    return listed


async def withdraw_shared_payee(services: Services, shared_payee_id: str, form: dict[str, str]) -> None:
    """Take a payee off the list: its requests are compared by payee and period alone again."""
    key = resubmission.call_key(form, "shared_payee_withdrawal", shared_payee_id)
    await services.post("payments", service_path("/shared-payees/{}/withdrawal", shared_payee_id), {}, key)
