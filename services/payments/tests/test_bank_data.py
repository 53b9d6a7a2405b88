"""Four eyes on bank data (issue #23) over HTTP, on the in-process app with real PostgreSQL: a change of the payee
after approval returns the request to `requested` and needs a new approval by someone who did not make it; a
batched request refuses changes (409 naming the field); answers show the IBAN masked; the event log names who
changed what and who approved the new data, never the data."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from lgnet_payments.adapters import sepa
from lgnet_payments.entrypoints.main import SPEC
from lgnet_payments.service_layer.commands import RequestContribution
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.http import request_fingerprint
from lgnet_shared.testing.inprocess import InProcessService, in_process
from payments_testkit import (
    a_month,
    add_staff,
    call,
    call_ok,
    csv_file,
    handlers,
    outbox,
    refused,
    sharing_consented,
)

pytestmark = pytest.mark.integration
STAFF, MALLORY, COOP = "staff-torino", "mallory", "coop-aurora"  # mallory: another Torino staff member
CITY_IBAN = "IT60X0542811101000000123456"
LANDLORD_IBAN = "DE89370400440532013000"
OTHER_IBAN = "GB33BUKB20201555555555"


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with torino_payments(database_url, pg_schema) as service:
        yield service


@asynccontextmanager
async def torino_payments(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    """Payments in process with a second Torino staff member (Mallory), the case c1 of household h1 (Coop Aurora's),
    Torino's paying account and 1,000 euros on its rent line (the fixture `payments`; a module of one shared service
    for its tests takes it too)."""
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        await add_staff(service, MALLORY)
        await service.deliver(handlers(service), sharing_consented("p"), "torino")  # as intake records it
        await service.deliver(
            handlers(service),
            iev.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p", member_ids=["p"]),
            "torino",
        )
        opened = iev.CaseOpened(
            case_id="c1",
            household_id="h1",
            city="torino",
            action_area=iev.ActionArea.HOUSING_INCLUSION,
            channel=iev.Channel.DESK,
            partner=COOP,
            opened_on=clock.today(),
            housing_need=True,
        )
        await service.deliver(handlers(service), opened, "torino")
        await call(
            service, STAFF, "PUT", "/policies/torino", {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN}
        )
        await call(service, STAFF, "POST", "/budget-lines", {"line": "rent", "amount_cents": 100_000})
        yield service


async def available(service: InProcessService) -> int:
    async with service.pool.acquire() as conn:
        return int(await conn.fetchval("select available_cents from budget_lines where line = 'rent'"))


async def test_a_payee_changed_after_approval_is_approved_again_by_someone_else(payments: InProcessService) -> None:
    body = {
        "case_id": "c1",
        "kind": "rent",
        "amount_cents": 10_000,
        **a_month(),
        "beneficiary": {"name": "Landlord", "iban": LANDLORD_IBAN},
    }
    made = await call_ok(payments, COOP, "POST", "/contribution-requests", body)
    rid = made["request_id"]
    assert made["iban_masked"] == "••••3000" and made["bank_data_changed_by"] == COOP
    assert made["bank_data_changed_since_approval"] is False
    assert (await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval"))["status"] == "approved"
    assert await available(payments) == 90_000

    # Another staff member swaps the IBAN for their own: the approval no longer holds.
    swapped = await call_ok(
        payments, MALLORY, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Mallory", "iban": OTHER_IBAN}
    )
    assert swapped["status"] == "requested"
    assert swapped["iban_masked"] == "••••5555" and swapped["approved_iban_masked"] == "••••3000"
    assert swapped["bank_data_changed_since_approval"] is True
    assert swapped["bank_data_changed_by"] == MALLORY and swapped["bank_data_changed_fields"] == ["iban", "name"]
    assert await available(payments) == 90_000  # the amount stays committed: only the payee awaits approval
    refused(await call(payments, STAFF, "POST", "/batches", {}), 409, "")  # nothing approved to pay
    assert "bank data" in refused(
        await call(payments, MALLORY, "POST", f"/contribution-requests/{rid}/approval"), 403, "approved_by"
    )
    refused(await call(payments, COOP, "POST", f"/contribution-requests/{rid}/approval"), 403, "")  # partners never

    listed = (await call(payments, STAFF, "GET", "/contribution-requests")).json()
    assert [(x["iban_masked"], x["bank_data_changed_since_approval"]) for x in listed] == [("••••5555", True)]
    again = await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval")
    assert again["status"] == "approved" and again["approved_by"] == STAFF
    assert again["bank_data_changed_since_approval"] is False and again["approved_iban_masked"] is None
    assert await available(payments) == 90_000  # committed once

    # The same data again is no change: still approved.
    same = await call_ok(
        payments, MALLORY, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Mallory", "iban": OTHER_IBAN}
    )
    assert same["status"] == "approved" and same["bank_data_version"] == 2

    batch = await call_ok(payments, STAFF, "POST", "/batches", {})
    async with payments.client(STAFF) as c:
        xml = (await c.get(f"/batches/{batch['batch_id']}/pain.001")).content
    assert sepa.validate(xml) == 1
    assert OTHER_IBAN.encode() in xml and LANDLORD_IBAN.encode() not in xml  # the approved data, and only it

    # In a batch: no change at all, 409 naming the field; nothing changed.
    for actor, data, field in (
        (COOP, {"name": "Mallory", "iban": LANDLORD_IBAN}, "iban"),
        (STAFF, {"name": "Someone", "iban": OTHER_IBAN}, "name"),
        (STAFF, {"name": "Mallory", "iban": OTHER_IBAN, "bic": "DEUTDEFF"}, "bic"),
    ):
        reason = refused(
            await call(payments, actor, "PUT", f"/contribution-requests/{rid}/beneficiary", data), 409, field
        )
        assert "batched" in reason
    read = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}")
    assert (read["status"], read["iban_masked"], read["bank_data_version"]) == ("batched", "••••5555", 2)

    # The bank returns the payment (closed account): changeable again, and approved again by someone else.
    async with payments.pool.acquire() as conn:
        payment_id = await conn.fetchval("select payment_id from payments")
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=csv_file([(payment_id, "failed", 10_000, "AC04")]),
            headers={"Idempotency-Key": "bank-1", "Content-Type": "text/csv"},
        )
    assert r.json()["failed"] == 1, r.text
    fixed = await call_ok(
        payments, STAFF, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Landlord", "iban": LANDLORD_IBAN}
    )
    assert fixed["status"] == "requested" and fixed["bank_data_changed_by"] == STAFF
    refused(await call(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval"), 403, "approved_by")
    assert (await call_ok(payments, MALLORY, "POST", f"/contribution-requests/{rid}/approval"))["status"] == "approved"
    batch2 = await call_ok(payments, STAFF, "POST", "/batches", {})
    async with payments.client(STAFF) as c:
        xml2 = (await c.get(f"/batches/{batch2['batch_id']}/pain.001")).content
        xml1 = (await c.get(f"/batches/{batch['batch_id']}/pain.001")).content
    assert LANDLORD_IBAN.encode() in xml2 and OTHER_IBAN.encode() not in xml2
    assert OTHER_IBAN.encode() in xml1 and LANDLORD_IBAN.encode() not in xml1  # the first file: as it was sent

    # The log: who changed which bank data, and who approved it after; never the data itself.
    events = [
        (e["type"].rsplit(".", 1)[1], e["data"]) for e in await outbox(payments) if e["data"].get("request_id") == rid
    ]
    story = [
        (
            t,
            d.get("changed_by") or d.get("approved_by"),
            d.get("fields") or d.get("bank_data_set_by"),  # an approval names who set the bank data it approves
            d["bank_data_version"],
            d.get("approval_withdrawn"),
        )
        for t, d in events
        if t in ("contribution_bank_data_changed", "contribution_approved")
    ]
    assert story == [
        ("contribution_bank_data_changed", COOP, ["iban", "name"], 1, False),
        ("contribution_approved", STAFF, COOP, 1, None),
        ("contribution_bank_data_changed", MALLORY, ["iban", "name"], 2, True),
        ("contribution_approved", STAFF, MALLORY, 2, None),
        # the account closed (AC04): the refusal withdrew the approval, the request waits for these new bank data
        ("contribution_bank_data_changed", STAFF, ["iban", "name"], 3, False),
        ("contribution_approved", MALLORY, STAFF, 3, None),
    ]
    raw = json.dumps(await outbox(payments))
    assert LANDLORD_IBAN not in raw and OTHER_IBAN not in raw and "Mallory" not in raw and "Landlord" not in raw


async def test_a_rejected_change_releases_the_commitment(payments: InProcessService) -> None:
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 30_000, **a_month()}
    rid = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    # approved before any bank data (as a city's policy request): setting it is a change that needs approval
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval")
    assert await available(payments) == 70_000
    r = await call_ok(
        payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "L", "iban": LANDLORD_IBAN}
    )
    assert r["status"] == "requested" and r["bank_data_changed_since_approval"] is True
    assert r["approved_iban_masked"] is None  # approved without any bank data
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/rejection", {"reason": "wrong_details"})
    assert await available(payments) == 100_000  # the commitment is released
    reason = refused(
        await call(
            payments, COOP, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "M", "iban": OTHER_IBAN}
        ),
        409,
        "iban",
    )
    assert "rejected" in reason


async def test_a_providers_bank_data_is_approved_by_a_second_person_before_it_is_reimbursed(
    payments: InProcessService,
) -> None:
    await call_ok(
        payments, STAFF, "POST", "/budget-lines", {"line": "voucher_public_transport", "amount_cents": 50_000}
    )
    provider = {"provider_id": "gtt", "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    made = await call_ok(payments, STAFF, "POST", "/providers", provider)
    assert made["iban_masked"] == "••••3000" and made["bank_data_changed_since_approval"] is True
    assert made["bank_data_changed_by"] == STAFF and made["approved_iban_masked"] is None

    async def redeem(n: int) -> None:
        voucher = {
            "case_id": "c1",
            "kind": "public_transport",
            "value_cents": 1_000,
            "valid_until": str(clock.today() + timedelta(days=60)),
        }
        v = await call_ok(payments, COOP, "POST", "/vouchers", voucher)
        body = {"redemption_id": f"red-{n}", "provider_id": "gtt", "amount_cents": 700}
        await call_ok(payments, STAFF, "POST", f"/vouchers/{v['voucher_id']}/redemptions", body)

    await redeem(1)
    held = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    assert held["reimbursements"] == [] and held["run_id"] is None  # no file either
    assert held["held"] == [{"provider_id": "gtt", "reason": "bank data awaiting approval"}]
    refused(await call(payments, STAFF, "POST", "/providers/gtt/bank-data/approval"), 403, "approved_by")
    refused(await call(payments, COOP, "POST", "/providers/gtt/bank-data/approval"), 403, "")
    ok = await call_ok(payments, MALLORY, "POST", "/providers/gtt/bank-data/approval")
    assert ok["bank_data_changed_since_approval"] is False and ok["bank_data_approved_by"] == MALLORY
    refused(
        await call(payments, STAFF, "POST", "/providers/gtt/bank-data/approval"), 409, "provider_id"
    )  # nothing waits
    paid = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    assert [r["amount_cents"] for r in paid["reimbursements"]] == [700] and paid["held"] == []

    # Mallory redirects the provider's money: it waits for someone else's approval.
    changed = await call_ok(
        payments, MALLORY, "PUT", "/providers/gtt/bank-data", {"iban": OTHER_IBAN, "bic": "DEUTDEFF"}
    )
    assert changed["iban_masked"] == "••••5555" and changed["approved_iban_masked"] == "••••3000"
    assert changed["bank_data_changed_since_approval"] is True and changed["bank_data_changed_by"] == MALLORY
    same = await call_ok(payments, MALLORY, "PUT", "/providers/gtt/bank-data", {"iban": OTHER_IBAN, "bic": "DEUTDEFF"})
    assert same["bank_data_version"] == changed["bank_data_version"] == 2  # the same data again: no change
    await redeem(2)
    assert (await call_ok(payments, STAFF, "POST", "/provider-reimbursements"))["reimbursements"] == []
    refused(await call(payments, MALLORY, "POST", "/providers/gtt/bank-data/approval"), 403, "approved_by")
    await call_ok(payments, STAFF, "POST", "/providers/gtt/bank-data/approval")
    assert [
        r["amount_cents"]
        for r in (await call_ok(payments, STAFF, "POST", "/provider-reimbursements"))["reimbursements"]
    ] == [700]
    async with payments.pool.acquire() as conn:
        used = [r["bank_data"] is not None for r in await conn.fetch("select bank_data from reimbursements")]
    assert used == [True, True]  # each reimbursement keeps the approved bank data it used

    story = [
        (e["type"].rsplit(".", 1)[1], e["data"].get("changed_by") or e["data"].get("approved_by"))
        for e in await outbox(payments)
        if e["data"].get("provider_id") == "gtt" and "bank_data" in e["type"]
    ]
    assert story == [
        ("provider_bank_data_changed", STAFF),
        ("provider_bank_data_approved", MALLORY),
        ("provider_bank_data_changed", MALLORY),
        ("provider_bank_data_approved", STAFF),
    ]
    raw = json.dumps(await outbox(payments))
    assert LANDLORD_IBAN not in raw and OTHER_IBAN not in raw
    read = await call_ok(payments, STAFF, "GET", "/providers/gtt")
    assert read["iban_masked"] == "••••5555" and read["bic"] == "DEUTDEFF" and LANDLORD_IBAN not in json.dumps(read)


async def test_the_payments_office_lists_the_citys_providers_and_reimbursement_runs(
    payments: InProcessService,
) -> None:
    """The desk's page of voucher providers and their reimbursements reads the city's lists: a provider and a run
    could be read by their id only, which nobody at the desk has. Each provider by name (sealed at rest: opened for
    staff only), its IBAN masked and whether its bank data wait for approval; each run with its file, its transfers,
    their total and where they stand. Another city's staff see none of them."""
    line = {"line": "voucher_public_transport", "amount_cents": 50_000}
    await call_ok(payments, STAFF, "POST", "/budget-lines", line)
    for pid, name in (("gtt", "GTT"), ("bici-rossi", "Bici Rossi di Anna Rossi")):
        body: dict[str, object] = {
            "provider_id": pid,
            "name": name,
            "kinds": ["public_transport"],
            "iban": LANDLORD_IBAN,
        }
        await call_ok(payments, STAFF, "POST", "/providers", body)
    await call_ok(payments, MALLORY, "POST", "/providers/gtt/bank-data/approval")
    listed = await call_ok(payments, STAFF, "GET", "/providers")
    assert [(p["provider_id"], p["name"], p["bank_data_changed_since_approval"]) for p in listed] == [
        ("bici-rossi", "Bici Rossi di Anna Rossi", True),
        ("gtt", "GTT", False),
    ]
    assert LANDLORD_IBAN not in json.dumps(listed) and listed[1]["iban_masked"] == "••••3000"
    assert await call_ok(payments, STAFF, "GET", "/reimbursement-runs") == []
    voucher = {"case_id": "c1", "kind": "public_transport", "value_cents": 1_000,
               "valid_until": str(clock.today() + timedelta(days=60))}  # fmt: skip
    v = await call_ok(payments, COOP, "POST", "/vouchers", voucher)
    for n, pid in enumerate(("gtt", "bici-rossi")):
        body = {"redemption_id": f"red-{n}", "provider_id": pid, "amount_cents": 300}
        await call_ok(payments, STAFF, "POST", f"/vouchers/{v['voucher_id']}/redemptions", body)
    made = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    [run] = await call_ok(payments, STAFF, "GET", "/reimbursement-runs")
    assert (run["run_id"], run["message_id"], run["transfers"], run["total_cents"]) == (
        made["run_id"],
        made["file"]["message_id"],
        1,
        300,
    )
    assert (run["paid"], run["failed"], run["sent"], run["made_on"]) == (0, 0, 1, str(clock.today()))
    assert await call_ok(payments, "staff-trieste", "GET", "/providers") == []
    assert await call_ok(payments, "staff-trieste", "GET", "/reimbursement-runs") == []
    refused(await call(payments, COOP, "GET", "/providers"), 403, "")


async def test_a_stored_fingerprint_of_bank_data_is_keyed_and_older_ones_still_replay(
    payments: InProcessService,
) -> None:
    """What recognises a retry (`idempotency_keys.request_hash`) was a plain SHA-256 of the body, which holds the
    payee's name and IBAN: with the rest of the row, anyone reading the table could confirm a guessed name and IBAN
    by hashing. Now it is HMAC-SHA256 under a secret derived from the master key (as intake's); a fingerprint stored
    before (plain) still recognises its retry."""
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    # What the release before stored: the plain SHA-256 of the body as the route reads it.
    plain = request_fingerprint(RequestContribution.model_validate(body).model_dump(mode="json"))
    key = {"Idempotency-Key": uuid.uuid4().hex}
    async with payments.client(COOP) as c:
        made = await c.post("/contribution-requests", json=body, headers=key)
        assert made.status_code == 201, made.text
        rid = made.json()["request_id"]
        new_payee = {"name": "Zoë", "iban": OTHER_IBAN}
        changed = await c.put(
            f"/contribution-requests/{rid}/beneficiary", json=new_payee, headers={"Idempotency-Key": "b1"}
        )
        assert changed.status_code == 200, changed.text
    async with payments.pool.acquire() as conn:
        stored = {
            r["key"]: r["request_hash"] for r in await conn.fetch("select key, request_hash from idempotency_keys")
        }
    assert stored[key["Idempotency-Key"]].startswith("hmac-sha256:") and stored["b1"].startswith("hmac-sha256:")
    assert plain not in stored.values()
    async with payments.client(COOP) as c:
        assert (await c.post("/contribution-requests", json=body, headers=key)).headers["Idempotent-Replayed"] == "true"
        other = {**body, "amount_cents": 9_000}
        assert (await c.post("/contribution-requests", json=other, headers=key)).status_code == 409
        # A fingerprint stored by the release before: plain, and its retry is still answered as the first call was.
        async with payments.pool.acquire() as conn:
            await conn.execute(
                "update idempotency_keys set request_hash = $2 where key = $1", key["Idempotency-Key"], plain
            )
        again = await c.post("/contribution-requests", json=body, headers=key)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true", again.text
        assert (await c.post("/contribution-requests", json=other, headers=key)).status_code == 409


async def test_a_requests_every_field_at_fault_is_answered_at_once(payments: InProcessService) -> None:
    """From an outside test: a rent request with no period and a bad IBAN was refused at the period alone; the IBAN's
    fault came at the second attempt. Every fault of the body is answered in one round (problem+json `errors`), as
    intake answers a registration; `field` and `reason` are the first of them. Nothing is recorded."""
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 50_000,
            "beneficiary": {"name": "ATER Torino", "iban": "DE89370400440532013001", "bic": "NOTABIC"}}  # fmt: skip
    r = await call(payments, STAFF, "POST", "/contribution-requests", body)
    assert r.status_code == 422, r.text
    said = [(e["field"], e["reason"]) for e in r.json()["errors"]]
    assert [f for f, _ in said] == ["period_from", "period_to", "beneficiary.iban", "beneficiary.bic"], said
    assert (r.json()["field"], r.json()["reason"]) == said[0]
    short = {**body, "period_from": "2026-11-01", "period_to": "2026-10-01", "beneficiary": None}
    r = await call(payments, STAFF, "POST", "/contribution-requests", {**short, "kind": "voucher"})
    assert [e["field"] for e in r.json()["errors"]] == ["kind", "period_to"], r.text
    async with payments.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from contribution_requests") == 0


async def test_whom_a_request_pays_is_named_to_the_staff_and_the_cases_cooperative_only_when_read(
    payments: InProcessService,
) -> None:
    """The approver saw `••••3000` and no name, and the desk said the money went "to the household" when it went to a
    landlord (an outside test). A read of a request (`GET`, one or the listing) names its payee (`payee_name`) to the
    city's staff, who approve and pay it, and to the case's cooperative, which gives and corrects it; the answers kept
    for a retry (creation, `PUT …/beneficiary`) never hold it, nor does the event log."""
    payee = {"name": "Immobiliare Po srl", "iban": LANDLORD_IBAN}
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 45_000, **a_month(), "beneficiary": payee}
    made = await call_ok(payments, COOP, "POST", "/contribution-requests", body)
    assert made["payee_name"] is None  # a stored answer: the name stays sealed in the request's row
    rid = made["request_id"]
    for actor in (STAFF, COOP):
        (listed,) = await call_ok(payments, actor, "GET", "/contribution-requests?status=requested")
        assert (listed["payee_name"], listed["iban_masked"]) == ("Immobiliare Po srl", "••••3000")
        assert (await call_ok(payments, actor, "GET", f"/contribution-requests/{rid}"))["payee_name"] == (
            "Immobiliare Po srl"
        )
    async with payments.pool.acquire() as conn:
        stored = [r["j"] for r in await conn.fetch("select row_to_json(k)::text as j from idempotency_keys k")]
        logged = [r["j"] for r in await conn.fetch("select row_to_json(o)::text as j from outbox o")]
    assert stored and not [s for s in stored + logged if "Immobiliare" in s]
