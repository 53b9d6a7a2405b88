"""A closed case is paid for no period after its closing: a rent or utilities request asked while the case was open
but paying days after it closed is not approved (409 naming `case_id`), one paying days before the closing still is;
a lease signed after the case closed creates no lease-activation or deposit request (one signed before, learnt after
the closing, does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.inprocess import InProcessService, in_process
from payments_testkit import call, call_ok, handlers, lease_signed, open_case, refused

pytestmark = pytest.mark.integration
STAFF, COOP = "staff-torino", "coop-aurora"


@pytest.fixture
async def payments(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        await open_case(service, "c1", "h1")
        for line in ("rent", "deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


async def close(service: InProcessService, on: date) -> None:
    closed = iev.CaseClosed(case_id="c1", outcome=iev.CaseOutcome.HOUSING_AUTONOMY, closed_on=on)
    await service.deliver(handlers(service), closed, "torino")


async def test_a_period_after_the_closing_is_not_approved_one_before_it_is(payments: InProcessService) -> None:
    today = clock.today()
    before = {"period_from": str(today - timedelta(days=30)), "period_to": str(today - timedelta(days=1))}
    after = {"period_from": str(today + timedelta(days=1)), "period_to": str(today + timedelta(days=30))}
    asked = {}
    for name, period in (("before", before), ("after", after)):
        body = {"case_id": "c1", "kind": "rent", "amount_cents": 30_000, **period}
        asked[name] = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    await close(payments, today)

    r = await call(payments, STAFF, "POST", f"/contribution-requests/{asked['after']}/approval", {})
    reason = refused(r, 409, "case_id")
    assert f"closed on {today.isoformat()}" in reason and after["period_from"] in reason, reason
    async with payments.pool.acquire() as conn:
        assert (
            await conn.fetchval("select status from contribution_requests where request_id = $1", asked["after"])
            == "requested"
        )
        assert await conn.fetchval("select count(*) from ledger_transactions where ref = $1", asked["after"]) == 0
    ok = await call(payments, STAFF, "POST", f"/contribution-requests/{asked['before']}/approval", {})
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text


async def test_a_lease_signed_after_the_closing_asks_nothing_one_signed_before_does(
    payments: InProcessService,
) -> None:
    today = clock.today()
    await close(payments, today - timedelta(days=2))
    await payments.deliver(handlers(payments), lease_signed("lease-late", signed_on=today), "torino")
    await payments.deliver(
        handlers(payments), lease_signed("lease-early", signed_on=today - timedelta(days=3)), "torino"
    )
    async with payments.pool.acquire() as conn:
        rows = await conn.fetch("select lease_id, kind from contribution_requests order by lease_id, kind")
    assert [(r["lease_id"], r["kind"]) for r in rows] == [
        ("lease-early", "deposit"),
        ("lease-early", "lease_activation"),
    ]
