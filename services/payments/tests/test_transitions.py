"""Approvals sent without an Idempotency-Key (the header is optional on a transition): the same actor repeating the
same transition gets the answer it had, but an approval of bank data changed since is a new transition, not a repeat.
From an outside test: an approval given again after the payee's new bank data, by the staff member who approved the
old data, was answered from the first approval's stored answer ("approved", Idempotent-Replayed) while nothing was
approved: the request stayed `requested` and no batch ever paid it (a provider's new IBAN likewise stayed unapproved,
its reimbursements held)."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from payments_testkit import a_month, call, call_ok, camt054, refused
from test_bank_data import (
    COOP,
    LANDLORD_IBAN,
    MALLORY,
    OTHER_IBAN,
    STAFF,
    torino_payments,
)
from test_payment_files import post_camt

# One in-process payments (test_bank_data's) for the module: a test's requests are its own (ids the service makes) and
# its providers carry its `uid`. A batch takes every approved request of the city: a test asserting what its batch
# holds has a service of its own.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]

payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", torino_payments)


async def keyless(service: InProcessService, actor: str, path: str, body: Any = None) -> Any:
    """A POST without an Idempotency-Key, as an API client may send a transition."""
    async with service.client(actor) as c:
        return await c.post(path, json=body)


async def status(service: InProcessService, request_id: str) -> str:
    return str((await call_ok(service, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"])


@pytest.mark.own_service  # its batch must hold its one payment: another test's approved request would be in it
async def test_an_approval_of_new_bank_data_is_not_the_old_approval_replayed(payments: InProcessService) -> None:
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    rid = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    first = await keyless(payments, STAFF, f"/contribution-requests/{rid}/approval")
    assert first.status_code == 200 and first.json()["status"] == "approved", first.text
    again = await keyless(payments, STAFF, f"/contribution-requests/{rid}/approval")  # the same, repeated
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text

    # The payee changes bank (the cooperative enters the new IBAN): the approval no longer holds.
    await call_ok(
        payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Zoë", "iban": OTHER_IBAN}
    )
    assert await status(payments, rid) == "requested"
    approved = await keyless(payments, STAFF, f"/contribution-requests/{rid}/approval")
    assert approved.status_code == 200, approved.text
    assert "Idempotent-Replayed" not in approved.headers, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["bank_data_version"] == 2, approved.text
    assert await status(payments, rid) == "approved"
    assert (await call_ok(payments, STAFF, "POST", "/batches", {}))["payments"] == 1


@pytest.mark.own_service  # its batches must hold its one payment: another test's approved request would be in them
async def test_an_approval_after_the_payees_bank_refused_is_not_the_old_one_replayed(
    payments: InProcessService,
) -> None:
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    rid = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    assert (await keyless(payments, STAFF, f"/contribution-requests/{rid}/approval")).json()["status"] == "approved"
    batch = await call_ok(payments, STAFF, "POST", "/batches", {})
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    r = await post_camt(payments, camt054([(view["payments"][0]["payment_id"], 10_000, "AC04")]))
    assert r.json()["failed"] == 1, r.text
    assert await status(payments, rid) == "requested"
    await call_ok(
        payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Zoë", "iban": OTHER_IBAN}
    )
    approved = await keyless(payments, STAFF, f"/contribution-requests/{rid}/approval")
    assert approved.status_code == 200 and "Idempotent-Replayed" not in approved.headers, approved.text
    assert await status(payments, rid) == "approved"
    again = await call_ok(payments, STAFF, "POST", "/batches", {})
    view = await call_ok(payments, STAFF, "GET", f"/batches/{again['batch_id']}")
    assert [(p["request_id"], p["status"]) for p in view["payments"]] == [(rid, "sent")]


async def test_a_providers_new_bank_data_approved_is_not_the_old_approval_replayed(
    payments: InProcessService, uid: str
) -> None:
    pid = f"gtt-{uid}"
    gtt = {"provider_id": pid, "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", gtt)
    ok = await keyless(payments, MALLORY, f"/providers/{pid}/bank-data/approval")
    assert ok.status_code == 200 and ok.json()["bank_data_changed_since_approval"] is False, ok.text
    await call_ok(payments, STAFF, "PUT", f"/providers/{pid}/bank-data", {"iban": OTHER_IBAN})
    approved = await keyless(payments, MALLORY, f"/providers/{pid}/bank-data/approval")
    assert approved.status_code == 200 and "Idempotent-Replayed" not in approved.headers, approved.text
    provider = await call_ok(payments, STAFF, "GET", f"/providers/{pid}")
    assert provider["bank_data_changed_since_approval"] is False and provider["bank_data_version"] == 2, provider
    assert provider["approved_iban_masked"] == "••••5555", provider
    # Nothing awaits approval now: the same approval again is the one it was (replayed), not a 409.
    refused(await call(payments, MALLORY, "POST", f"/providers/{pid}/bank-data/approval"), 409, "provider_id")


async def test_an_approval_names_the_bank_data_it_saw_and_is_refused_when_it_changed(
    payments: InProcessService,
) -> None:
    """Four eyes on a page read a while ago: the approver compared ••••3000 with the payee's documents; meanwhile
    another staff member put her own IBAN on the request (which returns it to `requested`); the approver's click then
    approved that IBAN, which nobody but its author had seen. The approval may name the bank data version it saw
    (`bank_data_version`, as the request answered it): another version now is a 409 naming it, nothing approved."""
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    made = await call_ok(payments, COOP, "POST", "/contribution-requests", body)
    rid, seen = made["request_id"], made["bank_data_version"]
    assert (made["iban_masked"], seen) == ("••••3000", 1)
    await call_ok(payments, MALLORY, "PUT", f"/contribution-requests/{rid}/beneficiary",
                  {"name": "Mallory", "iban": OTHER_IBAN})  # fmt: skip
    path = f"/contribution-requests/{rid}/approval"
    said = refused(await call(payments, STAFF, "POST", path, {"bank_data_version": seen}), 409, "bank_data_version")
    assert "version 2" in said and MALLORY in said, said
    assert await status(payments, rid) == "requested"
    async with payments.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from ledger_transactions where ref = $1", rid) == 0
    approved = await call_ok(payments, STAFF, "POST", path, {"bank_data_version": 2})
    assert (approved["status"], approved["iban_masked"]) == ("approved", "••••5555"), approved
    refused(await call(payments, STAFF, "POST", path, {"bank_data_version": -1}), 422, "bank_data_version")


async def test_a_providers_bank_data_approval_names_the_version_it_saw(payments: InProcessService, uid: str) -> None:
    pid = f"gtt-{uid}"
    gtt = {"provider_id": pid, "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    seen = (await call_ok(payments, STAFF, "POST", "/providers", gtt))["bank_data_version"]
    await call_ok(payments, STAFF, "PUT", f"/providers/{pid}/bank-data", {"iban": OTHER_IBAN})
    path = f"/providers/{pid}/bank-data/approval"
    said = refused(await call(payments, MALLORY, "POST", path, {"bank_data_version": seen}), 409, "bank_data_version")
    assert "version 2" in said, said
    assert (await call_ok(payments, STAFF, "GET", f"/providers/{pid}"))["bank_data_changed_since_approval"] is True
    ok = await call_ok(payments, MALLORY, "POST", path, {"bank_data_version": 2})
    assert (ok["bank_data_changed_since_approval"], ok["approved_iban_masked"]) == (False, "••••5555"), ok
