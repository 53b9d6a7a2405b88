"""Two desk operators acting on the same thing at the same moment, over HTTP, on the in-process app and real
PostgreSQL: whichever order the database lets them in, nothing is counted twice, no limit is passed, and the loser
gets a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import asyncio

import pytest
from lgnet_payments.domain.money import MAX_LINE_CENTS
from lgnet_payments.domain.policy import BUDGET_LINES
from lgnet_shared.testing.inprocess import InProcessService
from payments_testkit import call, call_ok
from test_bank_data import MALLORY, STAFF, payments

pytestmark = pytest.mark.integration
__all__ = ["payments"]  # the fixture, as test_bank_data makes it
ROUNDS = 8


async def _allocated(service: InProcessService, line: str) -> int:
    async with service.pool.acquire() as conn:
        return int(await conn.fetchval("select allocated_cents from budget_lines where line = $1", line) or 0)


async def test_two_allocations_at_once_never_take_a_line_beyond_its_most(payments: InProcessService) -> None:
    for line in BUDGET_LINES:  # a round a line: each brought to 10 cents below the most, then two add 10 at once
        if line != "rent":
            await call_ok(payments, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": 1})
        near = MAX_LINE_CENTS - 10 - await _allocated(payments, line)
        await call_ok(payments, STAFF, "POST", "/budget-lines", {"line": line, "amount_cents": near})
        body = {"line": line, "amount_cents": 10}
        answers = await asyncio.gather(
            *(call(payments, who, "POST", "/budget-lines", body) for who in (STAFF, MALLORY))
        )
        assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
        assert await _allocated(payments, line) == MAX_LINE_CENTS, line
