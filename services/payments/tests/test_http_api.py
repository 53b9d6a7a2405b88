"""The payments service end to end over HTTP and Kafka: budgets, requests with two approvers, a SEPA batch,
reconciliation (CSV and camt.054) with a failure reversed and repaid, ledger balances; bank data never leaks."""

from __future__ import annotations

import uuid

import pytest
from lgnet_payments.adapters import sepa
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.events import payments as pev
from payments_testkit import (
    CITY_IBAN,
    GOOD_IBAN,
    PaymentsUnderTest,
    a_month,
    camt054,
    case_opened,
    csv_file,
    lease_signed,
    month,
    problem,
)

# One started payments for the module; each test's cases, households and leases carry its `uid`.
pytestmark = pytest.mark.shared_service


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


# Its own: a batch takes every approved payment of the city, and it asserts the city's budget line and balances.
@pytest.mark.own_service
async def test_request_approve_batch_reconcile(payments: PaymentsUnderTest) -> None:
    await payments.publish(
        iev.HouseholdFormed(household_id="h1", city="torino", reference_person_id="p1", member_ids=["p1"]), "torino"
    )
    await payments.publish(case_opened("c1", "h1"), "torino", partner="coop-aurora")
    assert await payments.wait_for("select household_id from cases where case_id = 'c1'") == "h1"

    async with (
        payments.client("anna") as anna,
        payments.client("bruno") as bruno,
        payments.client("coop-aurora") as coop,
    ):
        r = await anna.put(
            "/policies/torino",
            json={
                "second_approval_threshold_cents": 100_000,
                "debtor_name": "Città di Torino",
                "debtor_iban": CITY_IBAN,
            },
        )
        assert r.status_code == 200, r.text
        r = await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 500_000}, headers=key())
        assert r.status_code == 201, r.text
        line = r.json()
        assert line["available_cents"] == 500_000

        body = {
            "case_id": "c1",
            "kind": "rent",
            "amount_cents": 80_000,
            "period_from": "2026-01-01",
            "period_to": "2026-01-31",
            "beneficiary": {"name": "Mario Rossì", "iban": GOOD_IBAN},
        }
        k = key()
        small = await coop.post("/contribution-requests", json=body, headers=k)
        assert small.status_code == 201, small.text
        again = await coop.post("/contribution-requests", json=body, headers=k)  # a retry: same answer
        assert again.json()["request_id"] == small.json()["request_id"]
        february = {"period_from": "2026-02-01", "period_to": "2026-02-28"}
        big = await coop.post(
            "/contribution-requests", json={**body, **february, "amount_cents": 120_000}, headers=key()
        )
        small_id, big_id = small.json()["request_id"], big.json()["request_id"]

        assert (await anna.post(f"/contribution-requests/{small_id}/approval")).json()["status"] == "approved"
        first = await bruno.post(f"/contribution-requests/{big_id}/approval")
        assert first.json()["status"] == "requested" and first.json()["first_approver"] == "bruno"
        # Bruno's retry (a crash after his approval committed) is the answer he had, not a second approval.
        again = await bruno.post(f"/contribution-requests/{big_id}/approval")
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true", again.text
        assert again.json() == first.json()
        keyed = {"Idempotency-Key": "bruno-approves-again"}  # a new request of his is still refused
        assert problem(await bruno.post(f"/contribution-requests/{big_id}/approval", headers=keyed))[:2] == (
            403,
            "second_approver",
        )
        second = await anna.post(f"/contribution-requests/{big_id}/approval")
        assert second.json()["status"] == "approved" and second.json()["second_approver"] == "anna"
        again = await anna.post(f"/contribution-requests/{big_id}/approval")
        assert again.status_code == 200 and again.json() == second.json()

        lines = (await anna.get("/budget-lines")).json()
        assert lines[0]["available_cents"] == 300_000
        assert lines[0]["balances"]["committed"] == 200_000

        batch = await anna.post("/batches", json={}, headers=key())
        assert batch.status_code == 201, batch.text
        assert batch.json()["payments"] == 2 and batch.json()["total_cents"] == 200_000
        batch_id = batch.json()["batch_id"]
        assert problem(await anna.post("/batches", json={}, headers=key()))[0] == 409  # nothing left to pay

        xml = (await anna.get(f"/batches/{batch_id}/pain.001")).content
        assert sepa.validate(xml) == 2
        assert GOOD_IBAN.encode() in xml and b"Mario Rossi" in xml
        assert problem(await coop.get(f"/batches/{batch_id}/pain.001"))[0] == 403

        pays = {p["request_id"]: p for p in (await anna.get(f"/batches/{batch_id}")).json()["payments"]}
        csv = csv_file(
            [
                (pays[small_id]["payment_id"], "paid", 80_000, ""),
                (pays[big_id]["payment_id"], "failed", 120_000, "MS03"),  # not the payee's account: paid again
            ]
        )
        r = await anna.post("/reconciliations", content=csv, headers={**key(), "Content-Type": "text/csv"})
        assert r.status_code == 201, r.text
        assert r.json() == {"paid": 1, "failed": 1, "unchanged": 0}
        r = await anna.post("/reconciliations", content=csv, headers={**key(), "Content-Type": "text/csv"})
        assert r.json() == {"paid": 0, "failed": 0, "unchanged": 2}  # the same file again changes nothing

        failed = (await anna.get(f"/contribution-requests/{big_id}")).json()
        assert failed["status"] == "approved"  # back to approved: the next batch pays it
        case = (await anna.get("/ledger/balances", params={"case_id": "c1"})).json()["balances"]
        assert case == {"budget_available": -200_000, "committed": 120_000, "disbursed": 80_000, "in_transit": 0}

        batch2 = await anna.post("/batches", json={}, headers=key())
        assert batch2.json()["payments"] == 1
        pay2 = (await anna.get(f"/batches/{batch2.json()['batch_id']}")).json()["payments"][0]
        r = await anna.post(
            "/reconciliations",
            content=camt054([(pay2["payment_id"], 120_000, None)]),
            headers={**key(), "Content-Type": "application/xml"},
        )
        assert r.json()["paid"] == 1, r.text
        household = (await anna.get("/ledger/balances", params={"household_id": "h1"})).json()["balances"]
        assert household == {"budget_available": -200_000, "committed": 0, "disbursed": 200_000, "in_transit": 0}
        yesterday = (await anna.get("/ledger/balances", params={"as_of": "2000-01-01"})).json()["balances"]
        assert yesterday == {}
        for loose in ("0", "86400", "2000-01-01T00:00:00"):  # a timestamp read as a date (pydantic's lax dates)
            for path in ("/ledger/balances", "/budget-lines"):
                assert problem(await anna.get(path, params={"as_of": loose}))[:2] == (422, "query.as_of"), (path, loose)

        async with payments.client("coordination") as national, payments.client("carla") as carla:
            assert (await national.get("/budget-lines", params={"city": "torino"})).status_code == 200
            assert problem(await carla.get("/budget-lines", params={"city": "torino"}))[0] == 403

        # A rejection repeated by the same staff member is the success it was; another's is a conflict.
        march = {"period_from": "2026-03-01", "period_to": "2026-03-31"}
        third = await coop.post("/contribution-requests", json={**body, **march, "amount_cents": 5_000}, headers=key())
        third_id = third.json()["request_id"]
        # From an outside test: `bogus` was a rejection reason, shown raw (contribution_rejection_reason has the codes)
        bogus = await anna.post(f"/contribution-requests/{third_id}/rejection", json={"reason": "bogus"})
        assert problem(bogus)[:2] == (422, "reason") and "missing_documents" in bogus.json()["reason"], bogus.text
        rejected = await anna.post(f"/contribution-requests/{third_id}/rejection", json={"reason": "duplicate"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
        again = await anna.post(f"/contribution-requests/{third_id}/rejection", json={"reason": "duplicate"})
        assert again.status_code == 200 and again.json() == rejected.json(), again.text
        assert (
            problem(await bruno.post(f"/contribution-requests/{third_id}/rejection", json={"reason": "other"}))[0]
            == 409
        )

    events = await payments.events(want=10)
    types = [type(e).__name__ for e in events]
    assert types.count("ContributionPaid") == 2 and types.count("ContributionPaymentFailed") == 1
    assert types.count("ContributionApproved") == 2 and types.count("ContributionRejected") == 1
    paid = [e for e in events if isinstance(e, pev.ContributionPaid)]
    assert sorted(e.request_id for e in paid) == sorted([small_id, big_id])
    raw = payments.process.log_path.read_bytes()
    assert GOOD_IBAN.encode() not in raw and b"Mario" not in raw  # never in logs
    for e in events:
        assert GOOD_IBAN not in e.model_dump_json() and "Mario" not in e.model_dump_json()  # nor on Kafka


async def test_signed_lease_creates_requests_once(payments: PaymentsUnderTest, uid: str) -> None:
    lease_id, household_id, case_id = f"l1-{uid}", f"h2-{uid}", f"c2-{uid}"
    async with payments.client("anna") as anna:
        for line in ("lease_activation", "deposit"):
            r = await anna.post("/budget-lines", json={"line": line, "amount_cents": 1_000_000}, headers=key())
            assert r.status_code == 201
        r = await anna.put(
            "/policies/torino",
            json={"lease_activation_months": 2, "lease_activation_cap_cents": 100_000, "deposit_cap_cents": 150_000},
        )
        assert r.status_code == 200
    lease = lease_signed(lease_id, household_id, case_id, placement_id=f"pl1-{uid}", deposit_cents=180_000)
    for _ in range(3):  # redelivered and re-sent: still one request of each kind
        await payments.publish(lease, "torino")
    assert await payments.wait_for("select count(*) = 2 from contribution_requests where lease_id = $1", lease_id)
    async with payments.pool.acquire() as conn:  # the requests of this test's household (the lease's or not)
        rows = await conn.fetch(
            "select kind, amount_cents, requested_by, case_id from contribution_requests where household_id = $1",
            household_id,
        )
    assert sorted((r["kind"], r["amount_cents"]) for r in rows) == [("deposit", 150_000), ("lease_activation", 100_000)]
    assert {r["case_id"] for r in rows} == {case_id}
    events = await payments.events(want=4)
    # this test's household's (a request of another test's, late on the shared topic, is not its)
    requested = [e for e in events if isinstance(e, pev.ContributionRequested) and e.household_id == household_id]
    assert len(requested) == 2 and {e.lease_id for e in requested} == {lease_id}
    # Rent is paid month by month: one request per lease and period, a period asked twice is refused.
    async with payments.client("anna") as anna:
        await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 1_000_000}, headers=key())
        rent = {"case_id": case_id, "kind": "rent", "amount_cents": 30_000, "lease_id": lease_id}
        for n in (0, 1):
            r = await anna.post("/contribution-requests", json={**rent, **month(n)}, headers=key())
            assert r.status_code == 201, r.text
        again = await anna.post("/contribution-requests", json={**rent, **month(1)}, headers=key())
        status, field, reason = problem(again)
        assert (status, field) == (409, "period_from") and "already pays 2026-02-01 to 2026-02-28" in reason


async def test_cases_follow_intake(payments: PaymentsUnderTest, uid: str) -> None:
    """Cases are known from intake's events: opened, transferred to another partner, closed."""
    case_id = f"c3-{uid}"
    await payments.publish(case_opened(case_id, f"h3-{uid}"), "torino")
    await payments.publish(
        iev.CaseTransferred(case_id=case_id, from_partner="coop-aurora", to_partner="gtt", on=clock.today()), "torino"
    )
    assert await payments.wait_for("select partner = 'gtt' from cases where case_id = $1", case_id)
    body = {"case_id": case_id, "kind": "rent", "amount_cents": 1, **a_month()}
    async with payments.client("coop-aurora") as coop, payments.client("anna") as anna:
        await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 100}, headers=key())
        assert problem(await coop.post("/contribution-requests", json=body, headers=key()))[:2] == (404, "case_id")
        # Listing another partner's case is refused as plainly (it answered 200 with an empty list), as a case that
        # exists nowhere (a 403 told the partner which case ids exist), and a status
        # that does not exist is an error, not an empty list.
        listed = await coop.get("/contribution-requests", params={"case_id": case_id})
        assert problem(listed)[:2] == (404, "query.case_id"), listed.text
        bogus = await coop.get("/contribution-requests", params={"status": "bogus"})
        assert problem(bogus)[:2] == (422, "query.status")
        assert (await anna.get("/contribution-requests", params={"case_id": case_id, "status": "paid"})).json() == []
        await payments.publish(
            iev.CaseClosed(case_id=case_id, outcome=iev.CaseOutcome.HOUSING_AUTONOMY, closed_on=clock.today()), "torino"
        )
        assert await payments.wait_for("select closed_on is not null from cases where case_id = $1", case_id)
        closed = await anna.post("/contribution-requests", json=body, headers=key())
        assert problem(closed)[:2] == (422, "case_id") and "closed" in problem(closed)[2]
