"""Erasure and retention (issue #17): a person's erasure shreds their household's names and IBANs in payments
(at once in the database, in a stored payment file once none of its payments is with the bank); amounts, dates,
pseudonymous ids, the ledger and each file's MsgId and SHA-256 are kept for the ten years of art. 2220 c.c."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date

import pytest
from lgnet_payments.adapters import schema
from lgnet_payments.domain.retention import retained_until
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.inprocess import InProcessService
from payments_testkit import a_month, call, call_ok, camt054, case_opened, handlers, refused
from test_bank_data import COOP, LANDLORD_IBAN, STAFF, payments

pytestmark = pytest.mark.integration
__all__ = ["payments"]


async def pay_request(service: InProcessService, amount: int) -> str:
    body = {
        "case_id": "c1",
        "kind": "rent",
        "amount_cents": amount,
        **a_month(),
        "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN},
    }
    made = await call_ok(service, COOP, "POST", "/contribution-requests", body)
    await call_ok(service, STAFF, "POST", f"/contribution-requests/{made['request_id']}/approval")
    return str(made["request_id"])


def test_accounting_records_are_kept_ten_years_to_the_end_of_the_year() -> None:
    assert retained_until(date(2026, 3, 1)) == date(2036, 12, 31)
    assert retained_until(date(2026, 12, 31)) == date(2036, 12, 31)


async def test_an_erasure_shreds_names_and_ibans_and_keeps_the_accounts(payments: InProcessService) -> None:
    rid = await pay_request(payments, 10_000)
    batch = await call_ok(payments, STAFF, "POST", "/batches", {})
    file_path = f"/batches/{batch['batch_id']}/pain.001"
    async with payments.client(STAFF) as c:
        before = (await c.get(file_path)).content
    assert b"Zoe" in before and LANDLORD_IBAN.encode() in before
    waiting = await pay_request(payments, 5_000)  # approved, not yet in a batch

    # "p" is the household's reference person (HouseholdFormed in the fixture); redelivery changes nothing.
    for _ in range(2):
        await payments.deliver(handlers(payments), iev.PersonErased(person_id="p", erased_on=clock.today()), "torino")

    read = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}")
    assert read["bank_data_erased"] is True and read["iban_masked"] is None
    async with payments.pool.acquire() as conn:  # the IBAN's keyed blind index is a pseudonym of it: gone too
        assert await conn.fetchval("select count(*) from contribution_requests where iban_index is not null") == 0
    # The file's payment is still with the bank: the file is kept as it was, for the bank or a re-send.
    async with payments.client(STAFF) as c:
        assert (await c.get(file_path)).content == before
    # Bank data that can no longer be read cannot be paid: the waiting request stays out of any batch.
    refused(await call(payments, STAFF, "POST", "/batches", {}), 409, "")
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{waiting}"))["status"] == "approved"
    again = {"name": "Zoë", "iban": LANDLORD_IBAN}  # no new bank data for the household: 409, not a crash
    refused(
        await call(payments, COOP, "PUT", f"/contribution-requests/{waiting}/beneficiary", again), 409, "beneficiary"
    )

    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=camt054([(payment_id, 10_000, None)]),
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 201, r.text
    # Settled: now the file's names and IBANs go; its MsgId, digest, totals and dates stay.
    async with payments.client(STAFF) as c:
        gone = await c.get(file_path)
    reason = refused(gone, 409, "batch_id")
    assert batch["file"]["sha256"] in reason and "shredded" in reason
    async with payments.pool.acquire() as conn:
        file = await conn.fetchrow("select * from payment_files where batch_id = $1", batch["batch_id"])
        assert file["content"] is None and file["shredded_on"] == clock.today()
        assert (file["sha256"], file["total_cents"], file["payments"]) == (batch["file"]["sha256"], 10_000, 1)
        assert file["retained_until"] == retained_until(file["created_at"].date())
        paid = await conn.fetchrow("select * from payments where payment_id = $1", payment_id)
        assert (paid["status"], paid["amount_cents"], paid["settled_on"]) == ("paid", 10_000, clock.today())
        postings = await conn.fetchval(
            "select count(*) from ledger_postings where household_id = 'h1'"
        )  # the ledger is untouched (append-only anyway)
        assert postings > 0
        assert await conn.fetchval("select erased_on from erasures where person_id = 'p'") == clock.today()
        # Nothing readable is left: every sealed field of the household is under the destroyed key.
        assert await conn.fetchval("select wrapped from person_keys where kid = 'household:h1'") is None


async def test_an_erasure_leaves_no_stored_answer_or_fingerprint_of_the_bank_data(payments: InProcessService) -> None:
    """A DPO's review of payments' tables after an erasure: the bank data was unreadable and its blind index gone,
    but the stored answers of the household's requests still said "iban_masked": "••••3000" (a retry with the same
    Idempotency-Key got it back, `bank_data_erased: false`), and their fingerprints were plain SHA-256 of bodies
    holding the payee's name and IBAN: with the rest of the row, a guessed name and IBAN could be confirmed. They go
    as intake's do: the fingerprint becomes "erased" (a retry is a conflict), the answer loses its bank data."""
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    key = {"Idempotency-Key": uuid.uuid4().hex}
    async with payments.client(COOP) as c:
        made = await c.post("/contribution-requests", json=body, headers=key)
    assert made.status_code == 201 and made.json()["iban_masked"] == "••••3000", made.text
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{made.json()['request_id']}/approval")
    await payments.deliver(handlers(payments), iev.PersonErased(person_id="p", erased_on=clock.today()), "torino")
    async with payments.client(COOP) as c:
        retried = await c.post("/contribution-requests", json=body, headers=key)
    assert retried.status_code == 409, retried.text
    unkeyed = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    async with payments.pool.acquire() as conn:
        stored = [r["j"] for r in await conn.fetch("select row_to_json(k)::text as j from idempotency_keys k")]
    assert not [s for s in stored if "••••3000" in s or LANDLORD_IBAN in s or unkeyed in s], stored
    # Households erased before this release: migration payments-14 does the same for them.
    async with payments.pool.acquire() as conn:
        before = {"iban_masked": "••••3000", "bank_data_erased": False}
        await conn.execute(
            "update idempotency_keys set request_hash = $2, response = response || $3::jsonb where key = $1",
            key["Idempotency-Key"], unkeyed, before,
        )  # fmt: skip
        await conn.execute(dict(schema.MIGRATIONS)["payments-14"])
        row = await conn.fetchrow("select * from idempotency_keys where key = $1", key["Idempotency-Key"])
    assert row["request_hash"] == "erased" and row["response"]["iban_masked"] is None, dict(row)


async def test_a_member_known_only_after_their_erasure_still_shreds_the_households_bank_data(
    payments: InProcessService,
) -> None:
    """Intake's facts come on different partitions (a person's erasure keyed by the person, a household's by the
    household): payments may read a person's erasure before it learns the household they belong to. The erasure
    found no household then, and the household's key stayed whole when the membership came: its names and IBANs
    readable for good. A household fact naming a member erased before now gets the erasure's treatment."""
    rid = await pay_request(payments, 10_000)
    hs = handlers(payments)
    await payments.deliver(hs, iev.PersonErased(person_id="q", erased_on=clock.today()), "torino")
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}"))["bank_data_erased"] is False
    joined = iev.HouseholdMemberJoined(household_id="h1", person_id="q", reason="joined", on=date(2026, 1, 5))
    for _ in range(2):  # redelivered: the same
        await payments.deliver(hs, joined, "torino")
    read = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}")
    assert read["bank_data_erased"] is True and read["iban_masked"] is None
    async with payments.pool.acquire() as conn:
        assert await conn.fetchval("select wrapped from person_keys where kid = 'household:h1'") is None
        assert await conn.fetchval("select count(*) from contribution_requests where iban_index is not null") == 0

    # A household formed after its reference person's erasure: the same.
    await payments.deliver(hs, case_opened("c2", "h2"), "torino")  # assigned to COOP
    body = {"case_id": "c2", "kind": "rent", "amount_cents": 5_000, **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}}  # fmt: skip
    other = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    await payments.deliver(hs, iev.PersonErased(person_id="r", erased_on=clock.today()), "torino")
    formed = iev.HouseholdFormed(household_id="h2", city="torino", reference_person_id="r", member_ids=["r"])
    await payments.deliver(hs, formed, "torino")
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{other}"))["bank_data_erased"] is True


async def test_a_former_reference_person_erased_after_she_left_still_shreds_the_households_bank_data(
    payments: InProcessService,
) -> None:
    """A household's reference person changed (intake's household_reference_person_changed) and she left: payments
    keeps everyone who ever was a member, not who is the reference person (the fact has no handler here: nothing to
    change), so her erasure still shreds the household's names and IBANs she may have given."""
    assert iev.HouseholdReferencePersonChanged.type not in handlers(payments)
    rid = await pay_request(payments, 10_000)
    hs = handlers(payments)
    await payments.deliver(hs, iev.HouseholdMemberJoined(household_id="h1", person_id="q", reason="birth",
                                                         on=clock.today()), "torino")  # fmt: skip
    await payments.deliver(hs, iev.PersonErased(person_id="p", erased_on=clock.today()), "torino")  # she, once left
    read = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{rid}")
    assert read["bank_data_erased"] is True and read["iban_masked"] is None
