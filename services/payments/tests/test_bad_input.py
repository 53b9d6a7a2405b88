"""Bad input is refused with problem+json naming the field and reason, and nothing already accepted changes:
unknown case, wrong amounts, invalid IBAN, approval by the requester, over budget, expired or spent voucher."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from lgnet_payments.domain.money import MAX_LINE_CENTS
from lgnet_shared import clock
from payments_testkit import CITY_IBAN, GOOD_IBAN, PaymentsUnderTest, case_opened, problem

# One started payments for the module; each test's cases and households carry its `uid`. The city's budget lines are
# shared: a test asserting what a line holds, or filling it to its limit, has a service of its own.
pytestmark = pytest.mark.shared_service


def soon() -> str:
    """A voucher's `valid_until` it may have: at most a year ahead (taken when called, not at import)."""
    return str(clock.today() + timedelta(days=60))


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def snapshot(payments: PaymentsUnderTest) -> dict[str, Any]:
    async with payments.pool.acquire() as conn:
        return {
            table: await conn.fetchval(f"select count(*) from {table}")
            for table in (
                "contribution_requests",
                "ledger_postings",
                "vouchers",
                "voucher_redemptions",
                "tutoring_sessions",
                "idempotency_keys",
            )
        } | {
            "lines": [tuple(r) for r in await conn.fetch("select * from budget_lines order by line")],
            "vouchers": [tuple(r) for r in await conn.fetch("select * from vouchers order by voucher_id")],
            "requests": [tuple(r) for r in await conn.fetch("select * from contribution_requests order by 1")],
        }


# Its own: it asserts the city's lines to the cent (over budget, a voucher beyond what is left, a cut beyond the line),
# registers the provider `gtt`, and a reimbursement run pays every redemption of the city.
@pytest.mark.own_service
async def test_bad_input_is_refused_and_changes_nothing(payments: PaymentsUnderTest) -> None:
    await payments.publish(case_opened("c1", "h1"), "torino")
    await payments.publish(case_opened("c9", "h9", city="trieste"), "trieste")
    assert await payments.wait_for("select count(*) = 2 from cases")
    async with payments.client("anna") as anna, payments.client("gtt") as gtt, payments.client("carla") as carla:
        for line, amount in (("rent", 100_000), ("voucher_public_transport", 10_000)):
            assert (
                await anna.post("/budget-lines", json={"line": line, "amount_cents": amount}, headers=key())
            ).status_code == 201
        r = await anna.post(
            "/providers",
            json={"provider_id": "gtt", "name": "GTT", "kinds": ["public_transport"], "iban": "GB33BUKB20201555555555"},
            headers=key(),
        )
        assert r.status_code == 201, r.text
        async with payments.client("bruno") as bruno:  # four eyes on the provider's bank data
            assert (await bruno.post("/providers/gtt/bank-data/approval")).status_code == 200
        month = {"period_from": "2026-11-01", "period_to": "2026-11-30"}
        good = {"case_id": "c1", "kind": "rent", "amount_cents": 50_000, **month}
        req = await anna.post("/contribution-requests", json=good, headers=key())
        request_id = req.json()["request_id"]
        v = await anna.post(
            "/vouchers",
            json={"case_id": "c1", "kind": "public_transport", "value_cents": 4_000, "valid_until": soon()},
            headers=key(),
        )
        assert v.status_code == 201, v.text
        voucher_id = v.json()["voucher_id"]
        r = await gtt.post(
            f"/vouchers/{voucher_id}/redemptions",
            json={"redemption_id": "gtt-1", "provider_id": "gtt", "amount_cents": 2_500},
        )
        assert r.status_code == 201 and r.json()["remaining_cents"] == 1_500
        replay = await gtt.post(
            f"/vouchers/{voucher_id}/redemptions",
            json={"redemption_id": "gtt-1", "provider_id": "gtt", "amount_cents": 2_500},
        )
        assert replay.json()["remaining_cents"] == 1_500  # the same redemption again counts once
        assert (
            await gtt.post(
                f"/vouchers/{voucher_id}/redemptions",
                json={"redemption_id": "gtt-2", "provider_id": "gtt", "amount_cents": 1_500},
            )
        ).status_code == 201

        read = (await anna.get(f"/vouchers/{voucher_id}")).json()
        assert read["remaining_cents"] == 0 and [r["redemption_id"] for r in read["redemptions"]] == ["gtt-1", "gtt-2"]
        # Another city's voucher is answered as one that does not exist (no oracle of which ids exist elsewhere).
        assert problem(await carla.get(f"/vouchers/{voucher_id}"))[:2] == (404, "voucher_id")
        before = await snapshot(payments)
        cases: list[tuple[Any, tuple[int, str]]] = [
            (anna.post("/contribution-requests", json={**good, "case_id": "nope"}, headers=key()), (404, "case_id")),
            (
                anna.post("/contribution-requests", json={**good, "amount_cents": 0}, headers=key()),
                (422, "amount_cents"),
            ),
            (
                anna.post("/contribution-requests", json={**good, "amount_cents": -100}, headers=key()),
                (422, "amount_cents"),
            ),
            (
                anna.post("/contribution-requests", json={**good, "amount_cents": 12.5}, headers=key()),
                (422, "amount_cents"),
            ),
            (
                anna.post("/contribution-requests", json={**good, "amount_cents": "100"}, headers=key()),
                (422, "amount_cents"),
            ),
            (
                anna.post(
                    "/contribution-requests",
                    json={**good, "beneficiary": {"name": "X", "iban": "DE89370400440532013001"}},
                    headers=key(),
                ),
                (422, "beneficiary.iban"),
            ),
            (
                anna.post(
                    "/contribution-requests",
                    json={**good, "amount_cents": 100_001, "period_from": "2026-12-01", "period_to": "2026-12-31"},
                    headers=key(),
                ),
                (409, "amount_cents"),
            ),
            # Rent and utilities pay a period: without one, nothing tells which months were paid, nor stops the
            # same month being asked twice (an outside test had a rent request without a period accepted).
            (
                anna.post(
                    "/contribution-requests",
                    json={k: v for k, v in good.items() if k not in month},
                    headers=key(),
                ),
                (422, "period_from"),
            ),
            (
                anna.post(
                    "/contribution-requests",
                    json={**good, "kind": "utilities", "period_to": None},
                    headers=key(),
                ),
                (422, "period_to"),
            ),
            (anna.post("/contribution-requests", json=good, headers=key()), (409, "period_from")),  # November again
            (
                anna.post(  # half of November again
                    "/contribution-requests",
                    json={**good, "period_from": "2026-11-16", "period_to": "2026-12-15"},
                    headers=key(),
                ),
                (409, "period_from"),
            ),
            # another city's case and request are answered as unknown (404): no oracle of which ids exist elsewhere
            (anna.post("/contribution-requests", json={**good, "case_id": "c9"}, headers=key()), (404, "case_id")),
            (carla.post(f"/contribution-requests/{request_id}/approval"), (404, "request_id")),
            # a query's field is named as such (partners.md): it said `city`
            (anna.get("/budget-lines", params={"city": "trieste"}), (403, "query.city")),
            (anna.get("/ledger/balances", params={"city": "trieste"}), (403, "query.city")),
            (gtt.post("/contribution-requests", json=good, headers=key()), (404, "case_id")),  # not its case: as none
            (anna.post(f"/contribution-requests/{request_id}/approval"), (403, "approved_by")),
            (
                anna.put(f"/contribution-requests/{request_id}/beneficiary", json={"name": "X", "iban": "IT00X123"}),
                (422, "iban"),
            ),
            (
                anna.post(
                    "/vouchers",
                    json={
                        "case_id": "c1",
                        "kind": "public_transport",
                        "value_cents": 6_001,
                        "valid_until": soon(),
                    },
                    headers=key(),
                ),
                (409, "value_cents"),
            ),
            (
                anna.post(
                    "/vouchers",
                    json={"case_id": "c1", "kind": "public_transport", "value_cents": 100, "valid_until": "2000-01-01"},
                    headers=key(),
                ),
                (422, "valid_until"),  # bad input, not a conflict with the record
            ),
            (
                anna.post(  # a voucher holds its budget until it expires: not for ever
                    "/vouchers",
                    json={"case_id": "c1", "kind": "public_transport", "value_cents": 100, "valid_until": "9999-12-31"},
                    headers=key(),
                ),
                (422, "valid_until"),
            ),
            (
                gtt.post(
                    f"/vouchers/{voucher_id}/redemptions",
                    json={"redemption_id": "gtt-3", "provider_id": "gtt", "amount_cents": 1},
                ),
                (409, "voucher_id"),
            ),
            (
                gtt.post(
                    f"/vouchers/{voucher_id}/redemptions",
                    json={"redemption_id": "gtt-1", "provider_id": "gtt", "amount_cents": 9},
                ),
                (409, "redemption_id"),
            ),
            (
                gtt.post(
                    f"/vouchers/{voucher_id}/redemptions",
                    json={"redemption_id": "x-1", "provider_id": "other", "amount_cents": 1},
                ),
                (403, "provider_id"),
            ),
            (
                anna.post("/budget-lines/nope/adjustments", json={"delta_cents": -1, "reason": "cut"}, headers=key()),
                (404, "budget_line_id"),
            ),
            (anna.post("/contribution-requests", json=good), (422, "headers.idempotency-key")),
        ]
        for call, (status, field) in cases:
            got = problem(await call)
            assert got[:2] == (status, field), got
            assert got[2]  # a reason, in words
        # A voucher is issued (POST /vouchers), not asked: the request looked for a `voucher` budget line that no city
        # has (its lines are per voucher kind) and answered "no voucher budget line in torino".
        voucher = {"case_id": "c1", "kind": "voucher", "amount_cents": 1_000}
        got = problem(await anna.post("/contribution-requests", json=voucher, headers=key()))
        assert got[:2] == (422, "kind") and "POST /vouchers" in got[2], got
        line_id = before["lines"][0][0]
        over = await anna.post(
            f"/budget-lines/{line_id}/adjustments", json={"delta_cents": -100_001, "reason": "cut"}, headers=key()
        )
        assert problem(over)[:2] == (422, "delta_cents")
        assert await snapshot(payments) == before

        # An expired voucher cannot be redeemed; expiry returns the rest to the budget line.
        v2 = await anna.post(
            "/vouchers",
            json={"case_id": "c1", "kind": "public_transport", "value_cents": 1_000, "valid_until": soon()},
            headers=key(),
        )
        async with payments.pool.acquire() as conn:
            await conn.execute(
                "update vouchers set valid_until = current_date - 1 where voucher_id = $1", v2.json()["voucher_id"]
            )
        expired = await gtt.post(
            f"/vouchers/{v2.json()['voucher_id']}/redemptions",
            json={"redemption_id": "gtt-9", "provider_id": "gtt", "amount_cents": 100},
        )
        assert problem(expired)[:2] == (409, "voucher_id") and "expired" in problem(expired)[2]

        def transport_line(ls: list[dict[str, Any]]) -> dict[str, Any]:
            return next(x for x in ls if x["line"] == "voucher_public_transport")

        available = transport_line((await anna.get("/budget-lines")).json())["available_cents"]
        assert (await anna.post("/vouchers/expiry")).json()["expired"] == [v2.json()["voucher_id"]]
        assert transport_line((await anna.get("/budget-lines")).json())["available_cents"] == available + 1_000
        # Providers are paid by SEPA transfer from the city's account: without one, nothing is reimbursed.
        assert problem(await anna.post("/provider-reimbursements", headers=key()))[:2] == (409, "policy.debtor_iban")
        policy = {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN}
        assert (await anna.put("/policies/torino", json=policy)).status_code == 200
        run = (await anna.post("/provider-reimbursements", headers=key())).json()
        reimbursed = run["reimbursements"]
        assert reimbursed == [{"batch_id": reimbursed[0]["batch_id"], "provider_id": "gtt", "amount_cents": 4_000}]
        assert (await anna.post("/provider-reimbursements", headers=key())).json()["reimbursements"] == []
        balances = (await anna.get("/ledger/balances", params={"household_id": "h1"})).json()["balances"]
        assert balances["provider_payable"] == 0 and balances["in_transit"] == 4_000  # in the run's SEPA file
        sent = (await anna.get(f"/reimbursement-runs/{run['run_id']}")).json()["reimbursements"][0]
        paid = f"end_to_end_id,status,amount,booking_date,reason\n{sent['end_to_end_id']},paid,40.00,,\n".encode()
        r = await anna.post("/reconciliations", content=paid, headers={**key(), "Content-Type": "text/csv"})
        assert r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text
        balances = (await anna.get("/ledger/balances", params={"household_id": "h1"})).json()["balances"]
        assert balances["in_transit"] == 0 and balances["disbursed"] == 4_000

        t = await anna.post(
            "/tutoring-sessions", json={"case_id": "c1", "topics": ["budgeting", "bills"]}, headers=key()
        )
        assert t.status_code == 201 and t.json()["household_id"] == "h1"
        assert problem(await anna.post("/tutoring-sessions", json={"case_id": "c1", "topics": []}, headers=key()))[
            :2
        ] == (422, "topics")
        assert GOOD_IBAN  # (bank data is covered by test_http_api)


# Its own: it fills the city's rent line to the most a line may hold (another test's allocation would be refused).
@pytest.mark.own_service
async def test_a_budget_line_cannot_grow_beyond_what_a_line_may_hold(payments: PaymentsUnderTest) -> None:
    """Each amount fits a bigint where it enters, but a line's allocation is their sum, and reports add lines
    up: an allocation or adjustment beyond `MAX_LINE_CENTS` (100 billion euro) is refused naming the field, not
    a server error (an overflowing column) or a fact that reporting could not add."""
    async with payments.client("anna") as anna:
        half = 2**62
        assert problem(
            await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 2**63 - 1}, headers=key())
        )[:2] == (422, "amount_cents")
        first = await anna.post("/budget-lines", json={"line": "rent", "amount_cents": MAX_LINE_CENTS}, headers=key())
        assert first.status_code == 201, first.text
        line_id = first.json()["budget_line_id"]
        before = await snapshot(payments)
        more = await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 1}, headers=key())
        assert problem(more)[:2] == (422, "amount_cents")
        up = await anna.post(
            f"/budget-lines/{line_id}/adjustments", json={"delta_cents": half, "reason": "top-up"}, headers=key()
        )
        assert problem(up)[:2] == (422, "delta_cents")
        assert await snapshot(payments) == before
        down = await anna.post(
            f"/budget-lines/{line_id}/adjustments", json={"delta_cents": -1, "reason": "cut"}, headers=key()
        )
        assert down.status_code == 201, down.text


async def test_a_households_period_is_paid_once_across_its_cases_and_concurrent_requests(
    payments: PaymentsUnderTest, uid: str
) -> None:
    """A household may have several open cases (one per action area): the same month's rent asked on two of them, or
    twice at the same moment, was two payments (an outside review)."""
    import asyncio

    taking, housing = f"c-taking-{uid}", f"c-housing-{uid}"
    for case_id in (taking, housing):
        await payments.publish(case_opened(case_id, f"h-two-cases-{uid}"), "torino")
    assert await payments.wait_for("select count(*) = 2 from cases where household_id = $1", f"h-two-cases-{uid}")
    month = {"period_from": "2026-10-01", "period_to": "2026-10-31"}
    async with payments.client("anna") as anna:
        assert (
            await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 100_000}, headers=key())
        ).is_success
        first = await anna.post(
            "/contribution-requests", json={"case_id": taking, "kind": "rent", "amount_cents": 10_000, **month},
            headers=key(),
        )  # fmt: skip
        assert first.status_code == 201, first.text
        other_case = await anna.post(
            "/contribution-requests", json={"case_id": housing, "kind": "rent", "amount_cents": 10_000, **month},
            headers=key(),
        )  # fmt: skip
        assert problem(other_case)[:2] == (409, "period_from")
        # utilities of the same month are another kind: paid too
        utilities = {"case_id": housing, "kind": "utilities", "amount_cents": 5_000, **month}
        assert (
            await anna.post("/budget-lines", json={"line": "utilities", "amount_cents": 100_000}, headers=key())
        ).is_success
        assert (await anna.post("/contribution-requests", json=utilities, headers=key())).status_code == 201
        # two requests for November at the same moment: one is paid, the other refused
        november = {"case_id": housing, "kind": "rent", "amount_cents": 10_000, "period_from": "2026-11-01",
                    "period_to": "2026-11-30"}  # fmt: skip
        both = await asyncio.gather(*(anna.post("/contribution-requests", json=november, headers=key()) for _ in "ab"))
        assert sorted(r.status_code for r in both) == [201, 409], [r.text for r in both]
        # a period is at most a year, and does not start more than a year ahead (a typo blocked rent for decades)
        ahead = clock.today() + timedelta(days=400)
        for bad, field in (
            ({"period_from": "2026-01-01", "period_to": "2027-06-30"}, "period_to"),
            ({"period_from": str(ahead), "period_to": str(ahead + timedelta(days=29))}, "period_from"),
        ):
            r = await anna.post("/contribution-requests", json={**november, **bad}, headers=key())
            assert problem(r)[:2] == (422, field), r.text


async def test_money_is_allocated_only_to_a_line_something_draws_from(payments: PaymentsUnderTest) -> None:
    """A line is one of the grant's purposes: lease_activation, deposit, rent, utilities, voucher_<kind>. An allocation
    to 'affitto' or 'voucher_taxi' (a typo, a kind that does not exist) made a line nothing could ever draw from: no
    request nor voucher takes its money, the grant's money sat there and reports listed it by line. Refused, naming
    `line` and the lines there are; nothing changes."""
    async with payments.client("anna") as anna:
        before = await snapshot(payments)
        for line in ("affitto", "voucher_taxi", "voucher", "rent_"):
            r = await anna.post("/budget-lines", json={"line": line, "amount_cents": 100}, headers=key())
            status, field, reason = problem(r)
            assert (status, field) == (422, "line") and "voucher_public_transport" in reason, (line, reason)
        assert await snapshot(payments) == before
        for line in ("lease_activation", "deposit", "rent", "utilities", "voucher_babysitting", "voucher_other"):
            r = await anna.post("/budget-lines", json={"line": line, "amount_cents": 100}, headers=key())
            assert r.status_code == 201, r.text


async def test_a_reason_code_holding_a_fiscal_code_or_iban_is_refused(payments: PaymentsUnderTest, uid: str) -> None:
    """A DPO's review (DESIGN section 5): the coded `reason` of a budget adjustment, of a request's rejection and of
    its withdrawal travels in clear on payments' topic (budget_adjusted, contribution_rejected) and no erasure reaches
    it. A code is lower-case letters, digits, `_` and `-`: a fiscal code or an IBAN in lower case is one, and staff
    typing the person's into it had it taken (201/200) and published. Such a reason is refused at `reason` and nothing
    changes."""
    case_id = f"c1-{uid}"
    await payments.publish(case_opened(case_id, f"h1-{uid}"), "torino")
    assert await payments.wait_for("select count(*) = 1 from cases where case_id = $1", case_id)
    async with payments.client("anna") as anna, payments.client("bruno") as bruno:
        line = await anna.post("/budget-lines", json={"line": "rent", "amount_cents": 100_000}, headers=key())
        line_id = line.json()["budget_line_id"]
        month = {"period_from": "2026-11-01", "period_to": "2026-11-30"}
        good = {"case_id": case_id, "kind": "rent", "amount_cents": 50_000, **month}
        first = (await anna.post("/contribution-requests", json=good, headers=key())).json()["request_id"]
        before = await snapshot(payments)
        for reason in ("rssmra85t10a562s", "it60x0542811101000000123456"):
            adjusted = await anna.post(
                f"/budget-lines/{line_id}/adjustments", json={"delta_cents": -1, "reason": reason}, headers=key()
            )
            assert problem(adjusted)[:2] == (422, "reason"), adjusted.text
            assert "travels in clear" in adjusted.json()["reason"], adjusted.text
            rejected = await bruno.post(f"/contribution-requests/{first}/rejection", json={"reason": reason})
            assert problem(rejected)[:2] == (422, "reason"), rejected.text
        assert await snapshot(payments) == before
        assert (await bruno.post(f"/contribution-requests/{first}/approval", json={})).status_code == 200
        withdrawn = await anna.post(
            f"/contribution-requests/{first}/withdrawal", json={"reason": "rssmra85t10a562s"}, headers=key()
        )
        assert problem(withdrawn)[:2] == (422, "reason"), withdrawn.text
        assert (await anna.get(f"/contribution-requests/{first}")).json()["status"] == "approved"
