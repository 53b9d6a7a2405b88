"""The payments office at the desk: the approved requests waiting for a batch, the city's batches, a batch made,
its SEPA file, the bank's result file taken in. Every rule is payments' (staff only, what goes into a batch, what
a bank file may change): one call each, with the operator's token and the form's key."""

from __future__ import annotations

import asyncio
from typing import Any

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.service_layer import approvals, desk

CSV = "text/csv"
XML = "application/xml"
ACCOUNT = ("debtor_name", "debtor_iban", "debtor_bic")  # the city's paying account, in its payment policy


async def overview(services: Services, city: str) -> dict[str, Any]:
    """What waits for a batch (approved requests: payments batches those whose payee's bank data are approved too),
    the city's batches, newest first, its budget lines with what is left on each, and its paying account (read
    side by side: four reads of payments)."""
    approved, batches, lines, policy = await asyncio.gather(
        services.get("payments", "/contribution-requests", status="approved"),
        services.get("payments", "/batches"),
        services.get("payments", "/budget-lines"),
        services.get("payments", service_path("/policies/{}", city)),
    )
    return {
        "approved": len(approved),
        "approved_cents": sum(int(q["amount_cents"]) for q in approved),
        "batches": batches,
        "lines": lines,
        "policy": policy,
    }


async def set_account(services: Services, city: str, form: dict[str, str]) -> None:
    """The account the city pays from (a batch's debtor). A PUT sets the whole policy: its other settings
    (thresholds, the lease's months and caps, the file's version) are sent back as payments has them, over the
    version the page showed (If-Match): had anyone saved the policy since, payments refuses (412) rather than the
    form undoing their change unseen."""
    path = service_path("/policies/{}", city)
    policy: dict[str, Any] = await services.get("payments", path)
    body = {k: v for k, v in policy.items() if k not in ("city", "version")}
    body |= {k: form.get(k, "").strip() or None for k in ACCOUNT}
    shown = form.get("policy_version", "")
    version = shown if shown.isdigit() else policy.get("version")  # a form without it: the version just read
    if_match = None if version is None else f'"{version}"'
    await services.put("payments", path, body, resubmission.call_key(form, "policy"), if_match=if_match)


async def make_batch(services: Services, form: dict[str, str]) -> str:
    """A batch of every approved request with approved bank data; the execution date payments' default (tomorrow)
    when none is given. Its id."""
    day = form.get("execution_date", "").strip()
    if wrong := desk.wrong_days({"execution_date": day}):
        raise desk.FieldErrors(wrong)
    key = resubmission.call_key(form, "batch")
    made = await services.post("payments", "/batches", {"execution_date": day} if day else {}, key)
    return str(made["batch_id"])


async def batch(services: Services, batch_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await services.get("payments", service_path("/batches/{}", batch_id))
    return found


async def sepa_file(services: Services, batch_id: str) -> tuple[bytes, str, str]:
    """The batch's pain.001 as payments stores it (payments logs the download, with the operator's identity)."""
    return await services.download("payments", service_path("/batches/{}/pain.001", batch_id))


async def take_in(services: Services, data: bytes, filename: str, media_type: str, form: dict[str, str]) -> Any:
    """The bank's result file (camt.054 or camt.053 XML, or payments' CSV) as the bank gave it: what it changed."""
    if not data:
        raise desk.FieldErrors({"bank_file": "choose a file"})
    if len(data) > desk.MAX_UPLOAD:
        raise desk.FieldErrors({"bank_file": "the file is too large"})
    is_csv = filename.lower().endswith(".csv") or "csv" in media_type
    key = resubmission.call_key(form, "reconciliation")
    return await services.call("payments", "POST", "/reconciliations", content=(data, CSV if is_csv else XML), key=key)


# ------------------------------------------------------------ voucher providers and their reimbursements

PROVIDER_FIELDS = {"name": "name", "kinds": "kinds", "iban": "iban", "bic": "bic", "provider_id": "name"}


async def providers(services: Services) -> dict[str, Any]:
    """The city's voucher providers (named, IBAN masked, whether their bank data wait for a second person) and its
    reimbursement runs, newest first: two reads of payments, side by side."""
    listed, runs = await asyncio.gather(
        services.get("payments", "/providers"), services.get("payments", "/reimbursement-runs")
    )
    return {"providers": listed, "runs": runs}


async def register_provider(services: Services, form: dict[str, str], kinds: list[str]) -> None:
    """A provider that redeems vouchers of `kinds`; its id made from the form's key (the form sent twice: one
    provider). Its bank data, when given, wait for another staff member's approval."""
    key = resubmission.call_key(form, "provider")
    body = {
        "provider_id": desk.new_id("prv", key),
        "name": form.get("name", "").strip(),
        "kinds": kinds,
        "iban": form.get("iban", "").strip() or None,
        "bic": form.get("bic", "").strip() or None,
    }
    await desk.submit(services, "payments", "/providers", body, PROVIDER_FIELDS, key)


async def set_provider_bank_data(services: Services, provider_id: str, form: dict[str, str]) -> None:
    """Where the provider is reimbursed from now on, once another staff member has approved it."""
    path = service_path("/providers/{}/bank-data", provider_id)
    body = {"iban": form.get("iban", "").strip(), "bic": form.get("bic", "").strip() or None}
    fields = {"iban": "iban", "bic": "bic", "provider_id": "iban"}
    await desk.submit(services, "payments", path, body, fields, resubmission.call_key(form, "bank-data"), "PUT")


async def approve_provider_bank_data(services: Services, provider_id: str, form: dict[str, str]) -> None:
    path = service_path("/providers/{}/bank-data/approval", provider_id)
    await services.post("payments", path, approvals.seen_version(form), resubmission.call_key(form, "approval"))


async def reimburse(services: Services, form: dict[str, str]) -> dict[str, Any]:
    """A run: one reimbursement per provider for its redemptions not yet reimbursed, in one SEPA file; the providers
    held back, each with payments' reason."""
    made: dict[str, Any] = await services.post(
        "payments", "/provider-reimbursements", {}, resubmission.call_key(form, "reimbursements")
    )
    return made


async def run(services: Services, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await services.get("payments", service_path("/reimbursement-runs/{}", run_id))
    return found


async def run_file(services: Services, run_id: str) -> tuple[bytes, str, str]:
    """The run's pain.001 as payments stores it (payments logs the download, with the operator's identity)."""
    return await services.download("payments", service_path("/reimbursement-runs/{}/pain.001", run_id))
