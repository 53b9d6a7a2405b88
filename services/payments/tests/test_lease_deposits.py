"""A deposit (or lease-activation grant) asked by hand, without a lease, and the automatic one a signed lease
creates are one contribution, whichever comes first: a manual request after the automatic one is refused (409 naming
`lease_id`), and a lease signed after a manual request is linked to it instead of creating a second one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.events import housing as hev
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, in_process
from payments_testkit import call, call_ok, handlers, lease_signed, open_case

# One in-process payments for the module; each test's household, its two cases and its leases carry its `uid`.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
STAFF, COOP = "staff-torino", "coop-aurora"


@asynccontextmanager
async def funded(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        for line in ("deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", funded)


class Household:
    """This test's household (`uid`) with two cases (two action areas), its leases signed on the first case."""

    def __init__(self, uid: str) -> None:
        self.uid, self.id, self.c1, self.c2 = uid, f"h1-{uid}", f"c1-{uid}", f"c2-{uid}"

    def lease(self, n: int) -> str:
        return f"lease-{n}-{self.uid}"

    def signed(self, n: int) -> hev.LeaseSigned:
        return lease_signed(self.lease(n), self.id, self.c1, placement_id=f"pl-1-{self.uid}")  # one flat, as before


@pytest.fixture
async def household(payments: InProcessService, uid: str) -> Household:
    made = Household(uid)
    for case_id in (made.c1, made.c2):
        await open_case(payments, case_id, made.id)
    return made


async def deposits(service: InProcessService, household: Household) -> list[dict[str, Any]]:
    """The household's deposit requests (the original's schema held no other)."""
    async with service.pool.acquire() as conn:
        rows = await conn.fetch(
            "select request_id, case_id, lease_id, amount_cents, requested_by from contribution_requests"
            " where kind = 'deposit' and household_id = $1 order by request_id",
            household.id,
        )
    return [dict(r) for r in rows]


async def test_a_manual_deposit_after_the_automatic_one_is_refused_naming_lease_id(
    payments: InProcessService, household: Household
) -> None:
    h = household
    await payments.deliver(handlers(payments), h.signed(1), "torino")
    [auto] = await deposits(payments, h)
    assert auto["lease_id"] == h.lease(1) and auto["requested_by"] == "payments-policy"

    # By hand, on the other case of the household, without naming the lease: the same deposit.
    r = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": h.c2, "kind": "deposit", "amount_cents": 120_000}
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "lease_id"
    assert auto["request_id"] in r.json()["reason"] and h.lease(1) in r.json()["reason"]
    # Naming the same lease: refused as before; naming another lease of the household (it moved; that lease signed
    # without a deposit, so the policy asked none): accepted. A request names a lease payments learnt, of its case's
    # household (test_authorization_matrix.py).
    await payments.deliver(handlers(payments), h.signed(2).model_copy(update={"deposit_cents": 0}), "torino")
    same = await call(
        payments,
        COOP,
        "POST",
        "/contribution-requests",
        {"case_id": h.c2, "kind": "deposit", "amount_cents": 1, "lease_id": h.lease(1)},
    )
    assert same.status_code in (409, 422) and same.json()["field"] == "lease_id", same.text
    other = await call(
        payments,
        COOP,
        "POST",
        "/contribution-requests",
        {"case_id": h.c2, "kind": "deposit", "amount_cents": 1, "lease_id": h.lease(2)},
    )
    assert other.status_code == 201, other.text
    # Once the automatic one is rejected, a deposit may be asked by hand.
    await call(payments, STAFF, "POST", f"/contribution-requests/{auto['request_id']}/rejection", {"reason": "other"})
    async with payments.pool.acquire() as conn:  # the second lease's deposit is no longer live either
        await conn.execute("update contribution_requests set status = 'rejected' where lease_id = $1", h.lease(2))
    again = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": h.c2, "kind": "deposit", "amount_cents": 120_000}
    )
    assert again.status_code == 201, again.text


async def test_a_lease_signed_after_a_manual_deposit_is_linked_to_it_not_asked_twice(
    payments: InProcessService, household: Household
) -> None:
    h = household
    r = await call(
        payments, COOP, "POST", "/contribution-requests", {"case_id": h.c2, "kind": "deposit", "amount_cents": 100_000}
    )
    assert r.status_code == 201, r.text
    manual = r.json()["request_id"]
    await payments.deliver(handlers(payments), h.signed(1), "torino")
    [only] = await deposits(payments, h)
    assert only["request_id"] == manual and only["lease_id"] == h.lease(1)  # linked, its amount as asked by hand
    assert only["amount_cents"] == 100_000
    async with payments.pool.acquire() as conn:  # the lease-activation grant, never asked by hand, is created
        sql = "select count(*) from contribution_requests where kind = 'lease_activation' and household_id = $1"
        assert await conn.fetchval(sql, h.id) == 1
    # The same lease again (redelivered or sent twice): still one deposit.
    await payments.deliver(handlers(payments), h.signed(1), "torino")
    assert len(await deposits(payments, h)) == 1
    # Another lease later gets its own.
    await payments.deliver(handlers(payments), h.signed(2), "torino")
    assert [d["lease_id"] for d in await deposits(payments, h)] == [h.lease(1), h.lease(2)]
