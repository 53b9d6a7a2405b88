"""A household may have cases with two cooperatives (one per action area). A request refused because another request
of the household already pays the period or the lease names that request and its case to the city's staff and to
the partner of that case; to the other cooperative it says only that one on another partner's case does — the ids,
like the request itself (GET: 403), are not its to know. From an outside review: the 409 told coop-borgo the
request id and case id of coop-aurora's case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, in_process
from payments_testkit import a_month, call, call_ok, handlers, lease_signed, open_case, refused

# One in-process payments for the module; each test's household and its two cases carry its `uid`.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
STAFF, AURORA, BORGO = "staff-torino", "coop-aurora", "coop-borgo"


@asynccontextmanager
async def funded(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        for line in ("rent", "deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", funded)


@pytest.fixture
async def cases(payments: InProcessService, uid: str) -> tuple[str, str, str]:
    """One household with a case of Aurora's and one of Borgo's: (Aurora's case, Borgo's case, the household)."""
    c1, c2, h1 = f"c1-{uid}", f"c2-{uid}", f"h1-{uid}"
    await open_case(payments, c1, h1, AURORA)
    await open_case(payments, c2, h1, BORGO)
    return c1, c2, h1


async def test_a_period_paid_on_another_partners_case_is_refused_without_its_ids(
    payments: InProcessService, cases: tuple[str, str, str]
) -> None:
    c1, c2, _ = cases
    period = a_month()
    rent = {"kind": "rent", "amount_cents": 30_000, **period}
    first = await call_ok(payments, AURORA, "POST", "/contribution-requests", {"case_id": c1, **rent})
    borgo = refused(await call(payments, BORGO, "POST", "/contribution-requests", {"case_id": c2, **rent}), 409,
                    "period_from")  # fmt: skip
    assert first["request_id"] not in borgo and c1 not in borgo, borgo
    assert f"already pays {period['period_from']} to {period['period_to']}" in borgo and "another partner" in borgo
    staff = refused(await call(payments, STAFF, "POST", "/contribution-requests", {"case_id": c2, **rent}), 409,
                    "period_from")  # fmt: skip
    assert first["request_id"] in staff and f"case {c1}" in staff, staff  # the city's staff may read it: named


async def test_a_lease_paid_on_another_partners_case_is_refused_without_its_ids(
    payments: InProcessService, cases: tuple[str, str, str], uid: str
) -> None:
    c1, c2, h1 = cases
    lease = lease_signed(f"lease-1-{uid}", h1, c1, placement_id=f"pl-1-{uid}")  # case c1's: aurora's
    await payments.deliver(handlers(payments), lease, "torino")
    async with payments.pool.acquire() as conn:  # the household's deposit (the only one the original had)
        sql = "select request_id from contribution_requests where kind = 'deposit' and household_id = $1"
        auto = await conn.fetchval(sql, h1)
    deposit = {"case_id": c2, "kind": "deposit", "amount_cents": 1_000}
    borgo = refused(await call(payments, BORGO, "POST", "/contribution-requests", deposit), 409, "lease_id")
    assert auto not in borgo and c1 not in borgo and "another partner" in borgo, borgo
    aurora = refused(
        await call(payments, AURORA, "POST", "/contribution-requests", {**deposit, "case_id": c1}), 409, "lease_id"
    )
    assert auto in aurora and f"case {c1}" in aurora, aurora  # its own case's request: named
