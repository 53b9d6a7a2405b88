"""A deposit (or lease-activation grant) asked by hand, without a lease, and the automatic one a signed lease
creates are one contribution, whichever comes first: a manual request after the automatic one is refused (409 naming
`lease_id`), and a lease signed after a manual request is linked to it instead of creating a second one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.testing.inprocess import InProcessService, in_process
from payments_testkit import call, call_ok, handlers, lease_signed, open_case

pytestmark = pytest.mark.integration
STAFF, COOP = "staff-torino", "coop-aurora"


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        for n in (1, 2):  # two cases of one household (two action areas)
            await open_case(service, f"c{n}", "h1")
        for line in ("deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


async def deposits(service: InProcessService) -> list[dict[str, Any]]:
    async with service.pool.acquire() as conn:
        rows = await conn.fetch(
            "select request_id, case_id, lease_id, amount_cents, requested_by from contribution_requests"
            " where kind = 'deposit' order by request_id"
        )
    return [dict(r) for r in rows]


async def test_a_manual_deposit_after_the_automatic_one_is_refused_naming_lease_id(payments: InProcessService) -> None:
    await payments.deliver(handlers(payments), lease_signed("lease-1"), "torino")
    [auto] = await deposits(payments)
    assert auto["lease_id"] == "lease-1" and auto["requested_by"] == "payments-policy"

    # By hand, on the other case of the household, without naming the lease: the same deposit.
    r = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": "c2", "kind": "deposit", "amount_cents": 120_000}
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "lease_id"
    assert auto["request_id"] in r.json()["reason"] and "lease-1" in r.json()["reason"]
    # Naming the same lease: refused as before; naming another lease of the household (it moved; that lease signed
    # without a deposit, so the policy asked none): accepted. A request names a lease payments learnt, of its case's
    # household (test_authorization_matrix.py).
    await payments.deliver(
        handlers(payments), lease_signed("lease-2").model_copy(update={"deposit_cents": 0}), "torino"
    )
    same = await call(
        payments,
        COOP,
        "POST",
        "/contribution-requests",
        {"case_id": "c2", "kind": "deposit", "amount_cents": 1, "lease_id": "lease-1"},
    )
    assert same.status_code in (409, 422) and same.json()["field"] == "lease_id", same.text
    other = await call(
        payments,
        COOP,
        "POST",
        "/contribution-requests",
        {"case_id": "c2", "kind": "deposit", "amount_cents": 1, "lease_id": "lease-2"},
    )
    assert other.status_code == 201, other.text
    # Once the automatic one is rejected, a deposit may be asked by hand.
    await call(payments, STAFF, "POST", f"/contribution-requests/{auto['request_id']}/rejection", {"reason": "other"})
    async with payments.pool.acquire() as conn:  # the second lease's deposit is no longer live either
        await conn.execute("update contribution_requests set status = 'rejected' where lease_id = 'lease-2'")
    again = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": "c2", "kind": "deposit", "amount_cents": 120_000}
    )
    assert again.status_code == 201, again.text


async def test_a_lease_signed_after_a_manual_deposit_is_linked_to_it_not_asked_twice(
    payments: InProcessService,
) -> None:
    r = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": "c2", "kind": "deposit", "amount_cents": 100_000}
    )
    assert r.status_code == 201, r.text
    manual = r.json()["request_id"]
    await payments.deliver(handlers(payments), lease_signed("lease-1"), "torino")
    [only] = await deposits(payments)
    assert only["request_id"] == manual and only["lease_id"] == "lease-1"  # linked, its amount as asked by hand
    assert only["amount_cents"] == 100_000
    async with payments.pool.acquire() as conn:  # the lease-activation grant, never asked by hand, is created
        assert await conn.fetchval("select count(*) from contribution_requests where kind = 'lease_activation'") == 1
    # The same lease again (redelivered or sent twice): still one deposit.
    await payments.deliver(handlers(payments), lease_signed("lease-1"), "torino")
    assert len(await deposits(payments)) == 1
    # Another lease later gets its own.
    await payments.deliver(handlers(payments), lease_signed("lease-2"), "torino")
    assert [d["lease_id"] for d in await deposits(payments)] == ["lease-1", "lease-2"]
