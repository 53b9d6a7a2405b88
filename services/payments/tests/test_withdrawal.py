"""An approved request not yet in a batch is withdrawn by the city's staff with a reason: it will not be paid, its
commitment returns to the budget line (the ledger stays balanced, the invariants hold), the log says it was rejected
after its approval; a batched one cannot be (the file is with the bank)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from invariants import check
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.testing.inprocess import InProcessService, in_process
from payments_testkit import a_month, call, call_ok, open_case, outbox

pytestmark = pytest.mark.integration
STAFF, COOP, OTHER_CITY = "staff-torino", "coop-aurora", "staff-trieste"
CITY_IBAN = "IT60X0542811101000000123456"
LANDLORD_IBAN = "DE89370400440532013000"


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        await open_case(service, "c1", "h1")
        policy = {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN}
        await call_ok(service, STAFF, "PUT", "/policies/torino", policy)
        await call_ok(service, STAFF, "POST", "/budget-lines", {"line": "rent", "amount_cents": 100_000})
        yield service


async def approved(service: InProcessService, amount: int = 30_000) -> str:
    body = {
        "case_id": "c1",
        "kind": "rent",
        "amount_cents": amount,
        **a_month(),
        "beneficiary": {"name": "Landlord", "iban": LANDLORD_IBAN},
    }
    rid = str((await call_ok(service, COOP, "POST", "/contribution-requests", body))["request_id"])
    assert (await call_ok(service, STAFF, "POST", f"/contribution-requests/{rid}/approval"))["status"] == "approved"
    return rid


async def available(service: InProcessService) -> int:
    async with service.pool.acquire() as conn:
        return int(await conn.fetchval("select available_cents from budget_lines where line = 'rent'"))


async def test_an_approved_request_is_withdrawn_with_a_reason_and_its_commitment_released(
    payments: InProcessService,
) -> None:
    rid = await approved(payments)
    assert await available(payments) == 70_000

    # Only the city's staff, with a reason code.
    assert (
        await call(payments, COOP, "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "moved"})
    ).status_code == 403
    other = await call(payments, OTHER_CITY, "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "moved"})
    assert other.status_code in (403, 404), other.text
    missing = await call(payments, STAFF, "POST", f"/contribution-requests/{rid}/withdrawal", {})
    assert missing.status_code == 422 and missing.json()["field"] == "reason", missing.text

    done = await call_ok(
        payments, STAFF, "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "household_moved"}
    )
    assert done["status"] == "rejected" and done["rejected_by"] == STAFF and done["reason"] == "household_moved"
    assert done["approved_by"] == STAFF  # the approval it withdrew stays on record
    assert await available(payments) == 100_000
    async with payments.pool.acquire() as conn:
        await check(conn)
        kinds = [
            r[0] for r in await conn.fetch("select kind from ledger_transactions where ref = $1 order by tx_id", rid)
        ]
    assert kinds == ["commitment", "commitment_released"]
    [fact] = await outbox(payments, "lgnet.payments.contribution_rejected")
    assert fact["data"] == {
        "request_id": rid,
        "rejected_by": STAFF,
        "reason": "household_moved",
        "on": clock.today().isoformat(),
    }
    # Nothing left to batch; withdrawn twice: 409 naming the status.
    assert (await call(payments, STAFF, "POST", "/batches", {})).status_code == 409
    again = await call(
        payments, STAFF, "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "household_moved"}
    )
    assert again.status_code == 409 and again.json()["field"] == "status", again.text


async def test_a_batched_or_merely_requested_request_is_not_withdrawn(payments: InProcessService) -> None:
    rid = await approved(payments)
    await call_ok(payments, STAFF, "POST", "/batches", {})
    r = await call(payments, STAFF, "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "household_moved"})
    assert r.status_code == 409 and r.json()["field"] == "status", r.text
    assert "batched" in r.json()["reason"]
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 1_000, **a_month()}
    requested = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    r = await call(payments, STAFF, "POST", f"/contribution-requests/{requested}/withdrawal", {"reason": "x"})
    assert r.status_code == 409 and r.json()["field"] == "status" and "rejection" in r.json()["reason"], r.text
    async with payments.pool.acquire() as conn:
        await check(conn)
