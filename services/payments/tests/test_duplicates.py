"""Likely duplicate contributions (the same person registered twice: two households, two cases): a request of the
same kind and period paid or pending to the same payee IBAN is shown as a possible duplicate, and its approval is
refused unless the approver confirms, with a reason code, that it is not a double payment (recorded, in the log).
The IBAN is compared by a keyed blind index (HMAC of the normalised IBAN), never stored in clear."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, in_process
from payments_testkit import a_month, add_staff, call, call_ok, open_case, outbox, refused

# One in-process payments for the module: every test asks for a month of its own (`a_month`), so its requests are
# possible duplicates of its own only; the cases its partner sees carry its `uid`. A test asserting the city's whole
# list of shared payees has one of its own.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
STAFF, MALLORY, COOP = "staff-torino", "mallory", "coop-aurora"
CITY_IBAN = "IT60X0542811101000000123456"
LANDLORD_IBAN = "DE89370400440532013000"
LANDLORD_IBAN_AS_TYPED = "de89 3704 0044 0532 0130 00"
OTHER_IBAN = "GB33BUKB20201555555555"


@asynccontextmanager
async def three_households(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        await add_staff(service, MALLORY)
        for n in (1, 2, 3):  # the same person registered twice (h1, h2), and another household (h3)
            await open_case(service, f"c{n}", f"h{n}")
        policy = {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN}
        await call_ok(service, STAFF, "PUT", "/policies/torino", policy)
        for line in ("rent", "deposit"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", three_households)


async def ask(service: InProcessService, case: str, iban: str, period: dict[str, str], kind: str = "rent") -> str:
    body = {"case_id": case, "kind": kind, "amount_cents": 50_000, "beneficiary": {"name": "Landlord", "iban": iban}}
    made = await call_ok(service, COOP, "POST", "/contribution-requests", body | period)
    return str(made["request_id"])


async def test_the_same_month_to_the_same_iban_is_a_possible_duplicate_that_needs_a_confirmed_reason(
    payments: InProcessService,
) -> None:
    month = a_month()
    first = await ask(payments, "c1", LANDLORD_IBAN, month)
    second = await ask(payments, "c2", LANDLORD_IBAN_AS_TYPED, month)  # the same IBAN, typed another way
    other_payee = await ask(payments, "c3", OTHER_IBAN, month)
    other_month = await ask(payments, "c3", LANDLORD_IBAN, a_month())

    # Shown on the request and in the approvals' list: who it may duplicate.
    shown = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{second}")
    assert [d["request_id"] for d in shown["possible_duplicates"]] == [first]
    assert shown["possible_duplicates"][0]["case_id"] == "c1"
    listed = {
        r["request_id"]: r for r in await call_ok(payments, STAFF, "GET", "/contribution-requests?status=requested")
    }
    assert [d["request_id"] for d in listed[first]["possible_duplicates"]] == [second]
    assert listed[other_payee]["possible_duplicates"] == [] and listed[other_month]["possible_duplicates"] == []

    # Refused without a confirmation: 409 naming the field and the other request; nothing committed.
    reason = refused(
        await call(payments, MALLORY, "POST", f"/contribution-requests/{second}/approval"), 409, "duplicate_reason"
    )
    assert first in reason
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{second}"))["status"] == "requested"
    async with payments.pool.acquire() as conn:  # none of this test's requests (the only ones the original had)
        mine = [first, second, other_payee, other_month]
        sql = "select count(*) from ledger_transactions where kind = 'commitment' and ref = any($1::text[])"
        assert await conn.fetchval(sql, mine) == 0
    # A reason that is no code is refused too.
    bad = await call(payments, MALLORY, "POST", f"/contribution-requests/{second}/approval", {"duplicate_reason": "Sì"})
    assert bad.status_code == 422 and bad.json()["field"] == "duplicate_reason", bad.text
    unknown = await call(
        payments, MALLORY, "POST", f"/contribution-requests/{second}/approval", {"duplicate_reason": "trust_me"}
    )
    assert "different_flats" in refused(unknown, 422, "duplicate_reason")  # the valid codes named

    # Confirmed with a reason: approved, the confirmation recorded and in the event log.
    done = await call_ok(
        payments, MALLORY, "POST", f"/contribution-requests/{second}/approval", {"duplicate_reason": "different_flats"}
    )
    assert done["status"] == "approved"
    assert done["duplicate_confirmation"] == {
        "confirmed_by": MALLORY,
        "reason": "different_flats",
        "duplicate_of": [first],
        "on": clock.today().isoformat(),
    }
    confirmed = await outbox(payments, "lgnet.payments.contribution_duplicate_confirmed")
    [fact] = [f for f in confirmed if f["data"]["request_id"] in mine]  # one, of this test's requests
    assert fact["data"] == {
        "request_id": second,
        "duplicate_of": [first],
        "confirmed_by": MALLORY,
        "reason": "different_flats",
        "on": clock.today().isoformat(),
    }
    # The first one is now a duplicate of an approved request: refused as well until confirmed, or free once the
    # other is rejected.
    refused(await call(payments, MALLORY, "POST", f"/contribution-requests/{first}/approval"), 409, "duplicate_reason")
    # Requests of another payee or another month need no confirmation.
    assert (await call_ok(payments, MALLORY, "POST", f"/contribution-requests/{other_payee}/approval"))[
        "status"
    ] == "approved"
    assert (await call_ok(payments, MALLORY, "POST", f"/contribution-requests/{other_month}/approval"))[
        "status"
    ] == "approved"


async def test_a_rejected_request_is_no_duplicate_and_one_off_kinds_compare_by_payee(
    payments: InProcessService,
) -> None:
    month = a_month()
    first = await ask(payments, "c1", LANDLORD_IBAN, month)
    second = await ask(payments, "c2", LANDLORD_IBAN, month)
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{first}/rejection", {"reason": "duplicate"})
    assert (await call_ok(payments, MALLORY, "POST", f"/contribution-requests/{second}/approval"))[
        "status"
    ] == "approved"

    # A deposit has no period: two deposits to the same IBAN are a possible duplicate.
    d1 = await ask(payments, "c1", LANDLORD_IBAN, {}, kind="deposit")
    d2 = await ask(payments, "c2", LANDLORD_IBAN, {}, kind="deposit")
    refused(await call(payments, MALLORY, "POST", f"/contribution-requests/{d2}/approval"), 409, "duplicate_reason")
    shown = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{d1}")
    assert [d["request_id"] for d in shown["possible_duplicates"]] == [d2]


async def test_the_iban_is_compared_by_a_keyed_index_never_kept_in_clear(payments: InProcessService) -> None:
    month = a_month()
    first = await ask(payments, "c1", LANDLORD_IBAN, month)
    second = await ask(payments, "c2", LANDLORD_IBAN_AS_TYPED, month)
    async with payments.pool.acquire() as conn:
        rows = await conn.fetch("select request_id, iban_index from contribution_requests order by 1")
        dump = json.dumps([dict(r) for r in await conn.fetch("select * from contribution_requests")], default=str)
    index = {r["request_id"]: r["iban_index"] for r in rows}
    assert index[first] == index[second] and len(index[first]) == 64
    assert LANDLORD_IBAN not in dump and "0532013000" not in dump
    # A change of the payee moves the index with it.
    await call_ok(
        payments, COOP, "PUT", f"/contribution-requests/{second}/beneficiary", {"name": "L", "iban": OTHER_IBAN}
    )
    shown = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{second}")
    assert shown["possible_duplicates"] == []


async def test_a_partner_sees_only_its_own_cases_among_the_possible_duplicates(
    payments: InProcessService, uid: str
) -> None:
    """The approver (staff) sees every possible duplicate of the city; a partner reading its request sees those among
    its own cases only: another cooperative's case, request and period are not its to know."""
    borgo = f"c-borgo-{uid}"
    await open_case(payments, borgo, f"h-borgo-{uid}", partner="coop-borgo")
    month = a_month()
    mine = await ask(payments, "c1", LANDLORD_IBAN, month)
    body = {
        "case_id": borgo,
        "kind": "rent",
        "amount_cents": 50_000,
        "beneficiary": {"name": "L", "iban": LANDLORD_IBAN},
    }
    theirs = (await call_ok(payments, "coop-borgo", "POST", "/contribution-requests", body | month))["request_id"]
    assert [
        d["request_id"]
        for d in (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{mine}"))["possible_duplicates"]
    ] == [theirs]
    assert (await call_ok(payments, COOP, "GET", f"/contribution-requests/{mine}"))["possible_duplicates"] == []
    listed = await call_ok(payments, "coop-borgo", "GET", "/contribution-requests")
    assert [(r["request_id"], r["possible_duplicates"]) for r in listed] == [(theirs, [])]


# Its own: it asserts the city's whole list of shared payees (another test's payee would be on it).
@pytest.mark.own_service
async def test_a_known_shared_payee_is_compared_by_amount_too(payments: InProcessService) -> None:
    """A payee paid for many households (a utility, a social-housing agency) made every request of a period a possible
    duplicate. Staff register it once as a shared payee (its IBAN kept as the blind index, masked when shown): its
    requests are then possible duplicates only at the same amount too (the same bill asked twice), and flagged again
    once it is withdrawn from the list."""
    utility = "IT76W0306909606100000123456"
    month = a_month()

    async def bill(case: str, cents: int) -> str:
        body = {
            "case_id": case,
            "kind": "rent",
            "amount_cents": cents,
            "beneficiary": {"name": "ATER", "iban": utility},
        }
        return str((await call_ok(payments, COOP, "POST", "/contribution-requests", body | month))["request_id"])

    def flagged(request: dict[str, Any]) -> list[object]:
        return [d["request_id"] for d in request["possible_duplicates"]]

    h1, h2, h3 = await bill("c1", 41_000), await bill("c2", 38_500), await bill("c3", 41_000)
    assert flagged(await call_ok(payments, STAFF, "GET", f"/contribution-requests/{h2}")) == [h1, h3]

    # Only the city's staff keep the list; a bad IBAN or no label is refused naming the field.
    entry = {"iban": "it76 w030 6909 6061 0000 0123 456", "label": "ATER Torino — canoni"}
    assert (await call(payments, COOP, "POST", "/shared-payees", entry)).status_code == 403
    refused(await call(payments, STAFF, "POST", "/shared-payees", entry | {"iban": "IT76W0306"}), 422, "iban")
    refused(await call(payments, STAFF, "POST", "/shared-payees", {"iban": utility}), 422, "label")
    made = await call(payments, STAFF, "POST", "/shared-payees", entry)
    assert made.status_code == 201, made.text
    payee = made.json()
    assert payee["iban_masked"] == "••••3456" and payee["label"] == entry["label"] and payee["registered_by"] == STAFF
    refused(await call(payments, MALLORY, "POST", "/shared-payees", entry), 409, "iban")  # once per city
    assert [p["shared_payee_id"] for p in await call_ok(payments, MALLORY, "GET", "/shared-payees")] == [
        payee["shared_payee_id"]
    ]
    async with payments.pool.acquire() as conn:
        dump = json.dumps([dict(r) for r in await conn.fetch("select * from shared_payees")], default=str)
    assert "100000123456" not in dump and "IT76W" not in dump  # the blind index and the last four only

    # Compared by amount too: h2's 385 € is no duplicate; h1 and h3 (the same 410 €) still are, and need a reason.
    assert flagged(await call_ok(payments, STAFF, "GET", f"/contribution-requests/{h2}")) == []
    assert flagged(await call_ok(payments, STAFF, "GET", f"/contribution-requests/{h1}")) == [h3]
    assert (await call_ok(payments, MALLORY, "POST", f"/contribution-requests/{h2}/approval"))["status"] == "approved"
    refused(await call(payments, MALLORY, "POST", f"/contribution-requests/{h1}/approval"), 409, "duplicate_reason")

    # Withdrawn from the list (staff only): the whole period is compared by payee again.
    pid = payee["shared_payee_id"]
    assert (await call(payments, COOP, "POST", f"/shared-payees/{pid}/withdrawal")).status_code == 403
    async with payments.client(STAFF) as c:  # without an Idempotency-Key: the transition is its own key
        first, again = [await c.post(f"/shared-payees/{pid}/withdrawal") for _ in range(2)]
    off = first.json()
    assert first.status_code == 200 and (off["withdrawn_by"], off["withdrawn_on"]) == (STAFF, str(clock.today()))
    assert again.status_code == 200 and again.json() == off, again.text  # sent twice: the same answer
    assert await call_ok(payments, STAFF, "GET", "/shared-payees") == []
    assert (await call(payments, MALLORY, "POST", f"/shared-payees/{pid}/withdrawal")).status_code == 404
    assert flagged(await call_ok(payments, STAFF, "GET", f"/contribution-requests/{h3}")) == [h1, h2]


async def test_a_shared_payee_is_put_on_the_list_from_its_request(payments: InProcessService) -> None:
    """The approver sees the possible duplicate on a request, not the payee's IBAN (masked): she names the request
    whose payee it is. Another city's request is one that does not exist; one without bank data has no payee."""
    month = a_month()
    first = await ask(payments, "c1", LANDLORD_IBAN, month)
    await ask(payments, "c2", LANDLORD_IBAN, month)
    body = {"case_id": "c3", "kind": "deposit", "amount_cents": 90_000}
    no_bank_data = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]

    refused(await call(payments, STAFF, "POST", "/shared-payees", {"label": "ATER"}), 422, "iban")
    both = {"iban": LANDLORD_IBAN, "request_id": first, "label": "ATER"}
    refused(await call(payments, STAFF, "POST", "/shared-payees", both), 422, "request_id")
    refused(await call(payments, "staff-trieste", "POST", "/shared-payees", {"request_id": first, "label": "X"}), 404,
            "request_id")  # fmt: skip
    refused(
        await call(payments, STAFF, "POST", "/shared-payees", {"request_id": no_bank_data, "label": "X"}), 409,
        "request_id",
    )  # fmt: skip
    made = await call(payments, STAFF, "POST", "/shared-payees", {"request_id": first, "label": "Mario Landlord srl"})
    assert made.status_code == 201, made.text
    assert made.json()["iban_masked"] == "••••3000"
    refused(await call(payments, STAFF, "POST", "/shared-payees", {"iban": LANDLORD_IBAN_AS_TYPED, "label": "L"}),
            409, "iban")  # fmt: skip
    # the two rents of the same amount remain possible duplicates of each other
    shown = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{first}")
    assert len(shown["possible_duplicates"]) == 1


async def test_a_shared_payees_label_holding_identifying_data_is_refused(payments: InProcessService) -> None:
    """The label names an organisation and rests in clear: an IBAN typed into it (the payee's own, which the list keeps
    only as a blind index), an e-mail address or a fiscal code is refused naming `label`, and nothing is listed."""
    iban = "NL91ABNA0417164300"
    for label in (f"ATER {iban}", "canoni — uffici@ater.example.it", "RSSMRA85T10A562S affitto"):
        r = await call(payments, STAFF, "POST", "/shared-payees", {"iban": iban, "label": label})
        refused(r, 422, "label")
    listed = await call_ok(payments, STAFF, "GET", "/shared-payees")
    assert [p for p in listed if p["iban_masked"].endswith(iban[-4:])] == []
