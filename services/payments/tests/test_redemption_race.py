"""A provider's redemption id names one redemption: sent for two vouchers at once (a till that retried on the wrong
voucher, two tills sharing a counter), one counts and the other is refused with the field named. From an outside
test: the two concurrent redemptions both passed the look-up of an earlier one, and the second's insert failed on the
table's key: a 500 without a field, where the same two sent one after the other get 409 `redemption_id`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from lgnet_shared import clock
from lgnet_shared.testing.inprocess import InProcessService
from payments_testkit import call, call_ok, refused
from test_bank_data import COOP, LANDLORD_IBAN, STAFF, payments

pytestmark = pytest.mark.integration
__all__ = ["payments"]  # the fixture, as test_bank_data makes it


async def test_one_redemption_id_sent_for_two_vouchers_at_once_counts_once(payments: InProcessService) -> None:
    await call_ok(
        payments, STAFF, "POST", "/budget-lines", {"line": "voucher_public_transport", "amount_cents": 50_000}
    )
    gtt = {"provider_id": "gtt", "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", gtt)
    voucher = {"case_id": "c1", "kind": "public_transport", "value_cents": 1_000,
               "valid_until": str(clock.today() + timedelta(days=60))}  # fmt: skip
    for attempt in range(5):  # the race is the point: each attempt two new vouchers and a new redemption id
        a, b = [(await call_ok(payments, COOP, "POST", "/vouchers", voucher))["voucher_id"] for _ in range(2)]
        body = {"redemption_id": f"till-{attempt}", "provider_id": "gtt", "amount_cents": 700}
        answers = await asyncio.gather(
            *(call(payments, STAFF, "POST", f"/vouchers/{v}/redemptions", body) for v in (a, b))
        )
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        refused(next(r for r in answers if r.status_code == 409), 409, "redemption_id")
        left = [(await call_ok(payments, STAFF, "GET", f"/vouchers/{v}"))["remaining_cents"] for v in (a, b)]
        assert sorted(left) == [300, 1_000], left
