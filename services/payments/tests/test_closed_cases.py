"""A closed case is paid for no period after its closing: a rent or utilities request asked while the case was open
but paying days after it closed is not approved (409 naming `case_id`), one paying days before the closing still is;
a lease signed after the case closed creates no lease-activation or deposit request (one signed before, learnt after
the closing, does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, in_process
from payments_testkit import call, call_ok, handlers, lease_signed, open_case, refused

# One in-process payments for the module; each test opens (and closes) a case of its own (`uid`).
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
STAFF, COOP = "staff-torino", "coop-aurora"


@asynccontextmanager
async def funded(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        for line in ("rent", "deposit", "lease_activation"):
            await call_ok(service, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1_000_000})
        yield service


payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", funded)


@pytest.fixture
async def case(payments: InProcessService, uid: str) -> tuple[str, str]:
    """This test's case of Coop Aurora and its household: (case_id, household_id)."""
    await open_case(payments, f"c1-{uid}", f"h1-{uid}")
    return f"c1-{uid}", f"h1-{uid}"


async def close(service: InProcessService, case_id: str, on: date) -> None:
    closed = iev.CaseClosed(case_id=case_id, outcome=iev.CaseOutcome.HOUSING_AUTONOMY, closed_on=on)
    await service.deliver(handlers(service), closed, "torino")


async def test_a_period_after_the_closing_is_not_approved_one_before_it_is(
    payments: InProcessService, case: tuple[str, str]
) -> None:
    today = clock.today()
    before = {"period_from": str(today - timedelta(days=30)), "period_to": str(today - timedelta(days=1))}
    after = {"period_from": str(today + timedelta(days=1)), "period_to": str(today + timedelta(days=30))}
    asked = {}
    for name, period in (("before", before), ("after", after)):
        body = {"case_id": case[0], "kind": "rent", "amount_cents": 30_000, **period}
        asked[name] = (await call_ok(payments, COOP, "POST", "/contribution-requests", body))["request_id"]
    await close(payments, case[0], today)

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
    payments: InProcessService, case: tuple[str, str], uid: str
) -> None:
    today = clock.today()
    await close(payments, case[0], today - timedelta(days=2))
    late, early = f"lease-late-{uid}", f"lease-early-{uid}"
    on_case = {"case_id": case[0], "household_id": case[1], "placement_id": f"pl-1-{uid}"}  # one placement, as before
    await payments.deliver(handlers(payments), lease_signed(late, signed_on=today, **on_case), "torino")
    early_lease = lease_signed(early, signed_on=today - timedelta(days=3), **on_case)
    await payments.deliver(handlers(payments), early_lease, "torino")
    async with payments.pool.acquire() as conn:  # the requests of this test's case (the only ones the original had)
        rows = await conn.fetch(
            "select lease_id, kind from contribution_requests where case_id = $1 order by lease_id, kind", case[0]
        )
    assert [(r["lease_id"], r["kind"]) for r in rows] == [
        (early, "deposit"),
        (early, "lease_activation"),
    ]
