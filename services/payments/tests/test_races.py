"""Two desk operators acting on the same thing at the same moment, over HTTP, on the in-process app and real
PostgreSQL: whichever order the database lets them in, nothing is counted twice, no limit is passed, and the loser
gets a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from lgnet_payments.domain.money import MAX_LINE_CENTS
from lgnet_payments.domain.policy import BUDGET_LINES
from lgnet_payments.service_layer import budgets, contributions, vouchers
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_shared import clock
from lgnet_shared.access import Actor, Role
from lgnet_shared.errors import Forbidden, NotFound
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from payments_testkit import a_month, call, call_ok, csv_file
from test_bank_data import LANDLORD_IBAN, MALLORY, STAFF, torino_payments

# One in-process payments (test_bank_data's) for the module: a test's requests are its own (ids the service makes, a
# month of their own) and it asserts on them; what takes a city's line to its limit or counts on what the line holds
# has one of its own. A batch pays every approved request of the city: each of them once, whoever's it is.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]

payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", torino_payments)
ROUNDS = 8


async def _allocated(service: InProcessService, line: str) -> int:
    async with service.pool.acquire() as conn:
        return int(await conn.fetchval("select allocated_cents from budget_lines where line = $1", line) or 0)


# Its own: it brings every line of the city to the most a line may hold (another test's allocation would be refused).
@pytest.mark.own_service
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


async def _request(service: InProcessService, amount: int) -> str:
    body = {"case_id": "c1", "kind": "rent", "amount_cents": amount, **a_month(),
            "beneficiary": {"name": "Landlord", "iban": LANDLORD_IBAN}}  # fmt: skip
    return str((await call_ok(service, "coop-aurora", "POST", "/contribution-requests", body))["request_id"])


async def _available(service: InProcessService) -> int:
    async with service.pool.acquire() as conn:
        return int(await conn.fetchval("select available_cents from budget_lines where line = 'rent'"))


# Its own: it commits the rent line's last euro and asserts what the line holds after each round.
@pytest.mark.own_service
async def test_two_approvals_committing_the_last_euro_at_once_one_is_refused(payments: InProcessService) -> None:
    for _ in range(ROUNDS):
        left = await _available(payments)
        a, b = [await _request(payments, left // 2 + 1) for _ in range(2)]
        answers = await asyncio.gather(
            *(
                call(payments, who, "POST", f"/contribution-requests/{r}/approval")
                for who, r in ((STAFF, a), (MALLORY, b))
            )
        )
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        assert await _available(payments) == left - (left // 2 + 1)
        loser = next(r for r in answers if r.status_code == 409)
        assert loser.headers["content-type"].startswith("application/problem+json") and loser.json()["field"]
        await call_ok(payments, STAFF, "POST", "/budget-lines", {"line": "rent", "amount_cents": 100_000})


async def test_two_batches_at_once_pay_each_request_once(payments: InProcessService) -> None:
    for _ in range(ROUNDS):
        ids = [await _request(payments, 100) for _ in range(3)]
        for r in ids:
            await call_ok(payments, STAFF, "POST", f"/contribution-requests/{r}/approval")
        answers = await asyncio.gather(*(call(payments, who, "POST", "/batches", {}) for who in (STAFF, MALLORY)))
        codes = sorted(r.status_code for r in answers)
        assert all(c < 500 for c in codes), [r.text for r in answers]
        async with payments.pool.acquire() as conn:
            paid = await conn.fetchval("select count(*) from payments where request_id = any($1::text[])", ids)
        assert paid == 3, codes


async def test_a_withdrawal_and_a_batch_at_once_one_wins(payments: InProcessService) -> None:
    for _ in range(ROUNDS):
        rid = await _request(payments, 100)
        await call_ok(payments, STAFF, "POST", f"/contribution-requests/{rid}/approval")
        withdrawal, batch = await asyncio.gather(
            call(payments, "coop-aurora", "POST", f"/contribution-requests/{rid}/withdrawal", {"reason": "sbagliata"}),
            call(payments, MALLORY, "POST", "/batches", {}),
        )
        assert withdrawal.status_code < 500 and batch.status_code < 500, (withdrawal.text, batch.text)
        async with payments.pool.acquire() as conn:
            status = await conn.fetchval("select status from contribution_requests where request_id = $1", rid)
            paid = await conn.fetchval("select count(*) from payments where request_id = $1", rid)
        assert (status == "withdrawn") == (paid == 0) == (withdrawal.status_code == 200), (
            status,
            paid,
            withdrawal.text,
        )


async def test_two_statements_of_the_same_payments_in_other_orders_at_once_settle_each_once(
    payments: InProcessService,
) -> None:
    for _ in range(ROUNDS):
        ids = [await _request(payments, 100) for _ in range(4)]
        for r in ids:
            await call_ok(payments, STAFF, "POST", f"/contribution-requests/{r}/approval")
        await call_ok(payments, STAFF, "POST", "/batches", {})
        async with payments.pool.acquire() as conn:
            paid = await conn.fetch("select payment_id from payments where request_id = any($1::text[])", ids)
        rows = [(r["payment_id"], "paid", 100, "") for r in paid]

        async def statement(entries: list[tuple[str, str, int, str]], who: str) -> httpx.Response:
            async with payments.client(who) as c:
                headers = {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/csv"}
                return await c.post("/reconciliations", content=csv_file(entries), headers=headers)

        answers = await asyncio.gather(statement(rows, STAFF), statement(rows[::-1], MALLORY))
        assert [r.status_code for r in answers] == [201, 201], [r.text[:300] for r in answers]
        paid_then = [(r.json()["paid"], r.json()["unchanged"]) for r in answers]
        assert sum(p for p, _ in paid_then) == 4 and sum(u for _, u in paid_then) == 4, paid_then


async def test_one_idempotency_key_sent_twice_at_once_with_other_bodies_makes_one_request(
    payments: InProcessService,
) -> None:
    for _ in range(ROUNDS):
        key = uuid.uuid4().hex
        bodies = [{"case_id": "c1", "kind": "rent", "amount_cents": amount, **a_month(),
                   "beneficiary": {"name": "Landlord", "iban": LANDLORD_IBAN}} for amount in (100, 200)]  # fmt: skip
        async with payments.client("coop-aurora") as c:
            answers = await asyncio.gather(
                *(c.post("/contribution-requests", json=b, headers={"Idempotency-Key": key}) for b in bodies)
            )
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        assert next(r for r in answers if r.status_code == 409).json()["field"] == "headers.idempotency-key"


def _as(actor: str, role: Role, city: str) -> Context:
    return Context(Actor(actor, role, city), clock.today())


ELSEWHERE, BORGO = _as("staff-trieste", Role.STAFF, "trieste"), _as("coop-borgo", Role.PARTNER, "torino")
TORINO = _as(STAFF, Role.STAFF, "torino")
PAYEE = cmd.Beneficiary(name="Landlord", iban=LANDLORD_IBAN)


@pytest.mark.parametrize(
    "race", ["approval", "approval's subject", "rejection", "beneficiary", "budget adjustment", "provider"]
)
async def test_a_refused_caller_does_not_hold_the_row_the_rightful_writer_needs(
    payments: InProcessService, race: str
) -> None:
    """A contribution request, a budget line and a service provider were locked (`select … for update`) before the
    caller's rights were checked: another city's staff or another partner, refused, held the row until its
    transaction ended, and the city's staff waited for it. The refused call's transaction left open, the rightful one
    (under a short `lock_timeout`) does not wait."""
    rid = await _request(payments, 100)
    async with payments.pool.acquire() as conn:
        line = str(await conn.fetchval("select budget_line_id from budget_lines where line = 'rent'"))
    adjust = cmd.AdjustBudget(delta_cents=1, reason="correction")
    provider = f"prov-{uuid.uuid4().hex[:8]}"
    gtt = {"provider_id": provider, "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", gtt)
    Call = Callable[[UnitOfWork], Awaitable[object]]
    races: dict[str, tuple[Call, Call]] = {
        "approval": (
            lambda u: contributions.approve(u, ELSEWHERE, rid),
            lambda u: contributions.approve(u, TORINO, rid),
        ),
        "approval's subject": (  # what the approval route reads first (a retry approving other bank data)
            lambda u: contributions.approval_subject(u, ELSEWHERE, rid),
            lambda u: contributions.approve(u, TORINO, rid),
        ),
        "provider": (
            lambda u: vouchers.approval_subject(u, ELSEWHERE, provider),
            lambda u: vouchers.approval_subject(u, TORINO, provider),
        ),
        "rejection": (
            lambda u: contributions.reject(u, ELSEWHERE, rid, cmd.Reject(reason="other")),
            lambda u: contributions.reject(u, TORINO, rid, cmd.Reject(reason="other")),
        ),
        "beneficiary": (
            lambda u: contributions.set_beneficiary(u, BORGO, rid, PAYEE),
            lambda u: contributions.approve(u, TORINO, rid),
        ),
        "budget adjustment": (
            lambda u: budgets.adjust(u, ELSEWHERE, line, adjust),
            lambda u: budgets.adjust(u, TORINO, line, adjust),
        ),
    }
    refused, rightful = races[race]
    keys = payments.app.state.runtime.keys
    async with payments.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            with pytest.raises((Forbidden, NotFound)):  # another city's: as one that does not exist
                await refused(UnitOfWork(conn, keys))
            async with payments.pool.acquire() as other, other.transaction():
                await other.execute("set local lock_timeout = '500ms'")
                await rightful(UnitOfWork(other, keys))  # LockNotAvailableError when the refused call locked first
        finally:
            await tx.rollback()
