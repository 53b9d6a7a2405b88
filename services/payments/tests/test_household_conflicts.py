"""A household may have cases with two cooperatives (one per action area). A request refused because another request
of the household already pays the period or the lease names that request and its case to the city's staff and to
the partner of that case; to the other cooperative it says only that one on another partner's case does — the ids,
like the request itself (GET: 403), are not its to know. From an outside review: the 409 told coop-borgo the
request id and case id of coop-aurora's case."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.testing.inprocess import InProcessService, in_process
from payments_testkit import a_month, call, call_ok, handlers, lease_signed, open_case, refused

pytestmark = pytest.mark.integration
STAFF, AURORA, BORGO = "staff-torino", "coop-aurora", "coop-borgo"


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        await open_case(service, "c1", "h1", AURORA)
        await open_case(service, "c2", "h1", BORGO)
        for line in ("rent", "deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


async def test_a_period_paid_on_another_partners_case_is_refused_without_its_ids(payments: InProcessService) -> None:
    period = a_month()
    rent = {"kind": "rent", "amount_cents": 30_000, **period}
    first = await call_ok(payments, AURORA, "POST", "/contribution-requests", {"case_id": "c1", **rent})
    borgo = refused(await call(payments, BORGO, "POST", "/contribution-requests", {"case_id": "c2", **rent}), 409,
                    "period_from")  # fmt: skip
    assert first["request_id"] not in borgo and "c1" not in borgo, borgo
    assert f"already pays {period['period_from']} to {period['period_to']}" in borgo and "another partner" in borgo
    staff = refused(await call(payments, STAFF, "POST", "/contribution-requests", {"case_id": "c2", **rent}), 409,
                    "period_from")  # fmt: skip
    assert first["request_id"] in staff and "case c1" in staff, staff  # the city's staff may read it: named


async def test_a_lease_paid_on_another_partners_case_is_refused_without_its_ids(payments: InProcessService) -> None:
    await payments.deliver(handlers(payments), lease_signed("lease-1"), "torino")  # case c1's: aurora's
    async with payments.pool.acquire() as conn:
        auto = await conn.fetchval("select request_id from contribution_requests where kind = 'deposit'")
    deposit = {"case_id": "c2", "kind": "deposit", "amount_cents": 1_000}
    borgo = refused(await call(payments, BORGO, "POST", "/contribution-requests", deposit), 409, "lease_id")
    assert auto not in borgo and "c1" not in borgo and "another partner" in borgo, borgo
    aurora = refused(
        await call(payments, AURORA, "POST", "/contribution-requests", {**deposit, "case_id": "c1"}), 409, "lease_id"
    )
    assert auto in aurora and "case c1" in aurora, aurora  # its own case's request: named
