"""Payments' authorisation matrix: every route of the app by (the case's partner, another partner of the city, the
city's staff, another city's staff, the national role, no token), against the rules declared below — one rule per
route, so a new route without one fails. Plus the holes the outside access test found, one test each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared import clock, db
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.authz import (
    AUTHENTICATED,
    CASE,
    CITY,
    EVERYONE,
    NOBODY,
    STAFF,
    Attempt,
    Caller,
    Rule,
    World,
    _send,
    _unknown_ids,
    assert_matrix,
    run_matrix,
    staff_may_change,
)
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, in_process
from payments_testkit import a_month, handlers, sharing_consented
from schwifty import IBAN

# One in-process payments for the module (its setup was ≈ half of each test's time): every case, household, request
# and voucher a test makes has a fresh id (`World.id`), its money lines are only ever topped up, and a test asserts on
# its own ids. The matrix, which calls every route as every caller, has one of its own.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
A, B, STAFF_TO, STAFF_TS = "coop-aurora", "coop-borgo", "staff-torino", "staff-trieste"
CITY_IBAN = "IT60X0542811101000000123456"
GOOD_IBAN = "DE89370400440532013000"
OTHER_IBAN = "GB33BUKB20201555555555"


@asynccontextmanager
async def paying_cities(database_url: str, schema: str) -> AsyncIterator[InProcessService]:
    """Payments in process, Torino and Trieste each with its paying account."""
    async with in_process(SPEC, database_url, schema, check_answers=True) as service:
        w = World(service)
        policy = {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN}
        await w.call(STAFF_TO, "PUT", "/policies/torino", policy)
        await w.call(STAFF_TS, "PUT", "/policies/trieste", policy | {"debtor_name": "Comune di Trieste"})
        yield service


payments, payments_own, payments_shared, payments_view = fixtures_per_module("payments", paying_cities)


async def case(w: World, partner: str = A) -> dict[str, Any]:
    """A Torino case assigned to `partner`, as payments learns it from intake, with money on its lines."""
    cid, hid = w.id("c"), w.id("h")
    await w.service.deliver(handlers(w.service), sharing_consented("p"), "torino")  # as intake records it
    await w.service.deliver(
        handlers(w.service),
        iev.HouseholdFormed(household_id=hid, city="torino", reference_person_id="p", member_ids=["p"]),
        "torino",
    )
    opened = iev.CaseOpened(
        case_id=cid,
        household_id=hid,
        city="torino",
        action_area=iev.ActionArea.HOUSING_INCLUSION,
        channel=iev.Channel.DESK,
        partner=partner,
        opened_on=clock.today(),
        housing_need=True,
    )
    await w.service.deliver(handlers(w.service), opened, "torino")
    for line in ("rent", "voucher_public_transport"):
        await w.call(STAFF_TO, "POST", "/budget-lines", {"line": line, "amount_cents": 100_000})
    return {"case_id": cid, "household_id": hid}


async def request(w: World, *, beneficiary: bool = False, approved: bool = False) -> dict[str, Any]:
    c = await case(w)
    body = {"case_id": c["case_id"], "kind": "rent", "amount_cents": 10_000, **a_month()}
    made = await w.call(A, "POST", "/contribution-requests", body)
    rid = made["request_id"]
    if beneficiary or approved:
        await w.call(A, "PUT", f"/contribution-requests/{rid}/beneficiary", {"name": "Landlord", "iban": GOOD_IBAN})
    if approved:
        await w.call(STAFF_TO, "POST", f"/contribution-requests/{rid}/approval")
    return c | {"request_id": rid}


async def batch(w: World) -> dict[str, Any]:
    r = await request(w, approved=True)
    made = await w.call(STAFF_TO, "POST", "/batches", {})
    return r | {"batch_id": made["batch_id"], "payments": made.get("payments") or []}


async def voucher(w: World) -> dict[str, Any]:
    c = await case(w)
    body = {
        "case_id": c["case_id"],
        "kind": "public_transport",
        "value_cents": 3_000,
        "valid_until": str(clock.today() + timedelta(days=30)),
    }
    made = await w.call(A, "POST", "/vouchers", body)
    return c | {"voucher_id": made["voucher_id"]}


def fixed(method: str, path: str, body: Any = None, **kw: Any) -> Any:
    async def build(_: World) -> Attempt:
        return Attempt(method, path, json=body, **kw)

    return build


async def _adjust(w: World) -> Attempt:
    lines = await w.call(STAFF_TO, "POST", "/budget-lines", {"line": "utilities", "amount_cents": 5_000})
    return Attempt(
        "POST",
        f"/budget-lines/{lines['budget_line_id']}/adjustments",
        json={"delta_cents": -100, "reason": "correction"},
    )


async def _balances(w: World) -> Attempt:
    c = await case(w)
    return Attempt("GET", "/ledger/balances", params={"city": "torino", "case_id": c["case_id"]})


async def _request(w: World) -> Attempt:
    c = await case(w)
    body = {"case_id": c["case_id"], "kind": "rent", "amount_cents": 5_000, **a_month()}
    return Attempt("POST", "/contribution-requests", json=body)


async def _read_request(w: World) -> Attempt:
    return Attempt("GET", f"/contribution-requests/{(await request(w))['request_id']}")


async def _beneficiary(w: World) -> Attempt:
    r = await request(w)
    return Attempt(
        "PUT",
        f"/contribution-requests/{r['request_id']}/beneficiary",
        json={"name": "Someone else", "iban": OTHER_IBAN},
    )


async def _approve(w: World) -> Attempt:
    return Attempt("POST", f"/contribution-requests/{(await request(w, beneficiary=True))['request_id']}/approval")


async def _reject(w: World) -> Attempt:
    r = await request(w)
    return Attempt("POST", f"/contribution-requests/{r['request_id']}/rejection", json={"reason": "not_eligible"})


async def _withdraw(w: World) -> Attempt:
    r = await request(w, approved=True)
    return Attempt("POST", f"/contribution-requests/{r['request_id']}/withdrawal", json={"reason": "household_moved"})


async def _create_batch(w: World) -> Attempt:
    await request(w, approved=True)
    return Attempt("POST", "/batches", json={})


async def _read_batch(w: World) -> Attempt:
    return Attempt("GET", f"/batches/{(await batch(w))['batch_id']}")


async def _pain001(w: World) -> Attempt:
    return Attempt("GET", f"/batches/{(await batch(w))['batch_id']}/pain.001")


async def _reconcile(w: World) -> Attempt:
    b = await batch(w)
    view = await w.call(STAFF_TO, "GET", f"/batches/{b['batch_id']}")
    rows = "".join(f"{p['payment_id']},paid,{p['amount_cents'] // 100}.00,{clock.today()},\n" for p in view["payments"])
    csv = ("end_to_end_id,status,amount,booking_date,reason\n" + rows).encode()
    return Attempt("POST", "/reconciliations", content=csv, headers={"Content-Type": "text/csv"})


async def _provider(w: World) -> Attempt:
    return Attempt(
        "POST", "/providers", json={"provider_id": w.id("prov"), "name": "GTT", "kinds": ["public_transport"]}
    )


async def registered_provider(w: World) -> str:
    """A Torino provider whose IBAN another staff member of the city set (so staff-torino may approve it)."""
    pid = w.id("prov")
    await w.call(
        STAFF_TO,
        "POST",
        "/providers",
        {"provider_id": pid, "name": "GTT", "kinds": ["public_transport"], "iban": GOOD_IBAN},
    )
    async with w.service.pool.acquire() as conn:
        await conn.execute("update providers set bank_data_set_by = 'registrar' where provider_id = $1", pid)
    return pid


async def reimbursement_run(w: World) -> str:
    """A Torino run paying a provider whose bank data is approved, for one redemption."""
    pid = await registered_provider(w)
    await w.call(STAFF_TO, "POST", f"/providers/{pid}/bank-data/approval")
    v = await voucher(w)
    redemption = {"redemption_id": w.id("red"), "provider_id": pid, "amount_cents": 100}
    await w.call(STAFF_TO, "POST", f"/vouchers/{v['voucher_id']}/redemptions", redemption)
    return str((await w.call(STAFF_TO, "POST", "/provider-reimbursements"))["run_id"])


async def _read_run(w: World) -> Attempt:
    return Attempt("GET", f"/reimbursement-runs/{await reimbursement_run(w)}")


async def _run_pain001(w: World) -> Attempt:
    return Attempt("GET", f"/reimbursement-runs/{await reimbursement_run(w)}/pain.001")


async def _read_provider(w: World) -> Attempt:
    return Attempt("GET", f"/providers/{await registered_provider(w)}")


async def _provider_bank_data(w: World) -> Attempt:
    return Attempt("PUT", f"/providers/{await registered_provider(w)}/bank-data", json={"iban": OTHER_IBAN})


async def _approve_provider_bank_data(w: World) -> Attempt:
    return Attempt("POST", f"/providers/{await registered_provider(w)}/bank-data/approval")


async def _issue(w: World) -> Attempt:
    c = await case(w)
    body = {
        "case_id": c["case_id"],
        "kind": "public_transport",
        "value_cents": 1_000,
        "valid_until": str(clock.today() + timedelta(days=9)),
    }
    return Attempt("POST", "/vouchers", json=body)


async def _read_voucher(w: World) -> Attempt:
    return Attempt("GET", f"/vouchers/{(await voucher(w))['voucher_id']}")


async def _redeem(w: World) -> Attempt:
    """Another partner of the city is the provider here (a provider redeems only for itself): the case's partner may
    not redeem for it, nor its own case's vouchers for itself (test_voucher_providers.py); the city's staff records
    a redemption for the provider."""
    v = await voucher(w)
    async with w.service.client(STAFF_TO) as c:  # once per test: the same provider id
        await c.post(
            "/providers",
            json={"provider_id": B, "name": "Borgo", "kinds": ["public_transport"]},
            headers={"Idempotency-Key": f"prov-{B}"},
        )
    return Attempt(
        "POST",
        f"/vouchers/{v['voucher_id']}/redemptions",
        json={"redemption_id": w.id("red"), "provider_id": B, "amount_cents": 500},
    )


async def _tutoring(w: World) -> Attempt:
    c = await case(w)
    return Attempt("POST", "/tutoring-sessions", json={"case_id": c["case_id"], "topics": ["budgeting"]})


async def _read_tutoring(w: World) -> Attempt:
    c = await case(w)
    made = await w.call(STAFF_TO, "POST", "/tutoring-sessions", {"case_id": c["case_id"], "topics": ["budgeting"]})
    return Attempt("GET", f"/tutoring-sessions/{made['session_id']}")


def shared_payee() -> dict[str, str]:
    """A new IBAN each time: the list holds an IBAN once per city."""
    account = f"{uuid.uuid4().int % 10**12:012d}"
    return {"iban": str(IBAN.generate("IT", bank_code="0306909606", account_code=account)), "label": "ATER"}


async def _add_shared_payee(w: World) -> Attempt:
    return Attempt("POST", "/shared-payees", json=shared_payee())


async def _withdraw_shared_payee(w: World) -> Attempt:
    made = await w.call(STAFF_TO, "POST", "/shared-payees", shared_payee())
    return Attempt("POST", f"/shared-payees/{made['shared_payee_id']}/withdrawal")


async def _vouchers_of_household(w: World) -> Attempt:
    return Attempt("GET", "/vouchers", params={"household_id": (await voucher(w))["household_id"]})


async def _requests_of_case(w: World) -> Attempt:
    return Attempt("GET", "/contribution-requests", params={"case_id": (await request(w))["case_id"]})


def _of_a_case(path: str, name: str) -> Any:
    """`path` filtered by `name` (case_id or household_id) of a fresh case of A's."""

    async def build(w: World) -> Attempt:
        return Attempt("GET", path, params={name: (await case(w))[name]})

    return build


async def _balances_of_line(w: World) -> Attempt:
    await case(w)  # its lines have money
    lines = await w.call(STAFF_TO, "GET", "/budget-lines")
    return Attempt("GET", "/ledger/balances", params={"budget_line_id": lines[0]["budget_line_id"]})


OWN_CITY = CITY | {Caller.OTHER_CITY_STAFF}  # acts in (or lists) the caller's own city: Trieste staff see Trieste's
STAFF_OWN_CITY = STAFF | {Caller.OTHER_CITY_STAFF}
NOTHING_WAITS = {Caller.OTHER_CITY_STAFF: frozenset({409})}
# An object of another city is answered as absent (404, as an id that does not exist): a 403 would tell another city's
# caller that the id exists. (Partners of the city still get 403: the object is theirs to know of, not to touch.)
ABSENT = {Caller.OTHER_CITY_STAFF: frozenset({404})}  # Trieste staff acting in Trieste: nothing to batch
# Another partner's case, and what hangs on it (a request, a voucher, a tutoring session), is answered to a partner as
# an id that exists nowhere: a 403 "the case is assigned to another partner" told it which ids exist.
OTHERS = ABSENT | {Caller.OTHER_PARTNER: frozenset({404})}
# A household is people: one not the caller's (another partner's, another city's) is answered as an unknown one, as
# housing's household routes answer (docs/partners.md, "What is not yours").
HIDDEN = {Caller.OTHER_PARTNER: frozenset({404}), Caller.OTHER_CITY_STAFF: frozenset({404})}
RULES: dict[str, Rule] = {
    "GET /health/live": Rule(EVERYONE, fixed("GET", "/health/live")),
    "GET /me": Rule(AUTHENTICATED, fixed("GET", "/me")),  # who calls (the auditor refused, as everywhere)
    "GET /health/ready": Rule(EVERYONE, fixed("GET", "/health/ready"), also_fine=frozenset({503})),
    "GET /metrics": Rule(EVERYONE, fixed("GET", "/metrics")),
    "GET /policies/{city}": Rule(STAFF, fixed("GET", "/policies/torino")),
    "PUT /policies/{city}": Rule(
        STAFF, fixed("PUT", "/policies/torino", {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN})
    ),
    "POST /budget-lines": Rule(
        STAFF_OWN_CITY, fixed("POST", "/budget-lines", {"line": "deposit", "amount_cents": 1_000})
    ),
    "POST /budget-lines/{budget_line_id}/adjustments": Rule(STAFF, _adjust, expect=ABSENT),
    "GET /budget-lines": Rule(CITY | {Caller.NATIONAL}, fixed("GET", "/budget-lines", params={"city": "torino"})),
    "GET /ledger/balances": Rule(CASE, _balances, expect={Caller.OTHER_PARTNER: frozenset({404})}),  # city by name
    # A filter naming what the caller may not see is refused as the object's own route refuses it, never `200 []`
    # (partners read balances by their own case_id only: 403 for any other filter, before it is looked up).
    "GET /ledger/balances?case_id": Rule(CASE, _of_a_case("/ledger/balances", "case_id"), expect=OTHERS),
    "GET /ledger/balances?household_id": Rule(STAFF, _of_a_case("/ledger/balances", "household_id"), expect=ABSENT),
    # (the national role reads a line's totals of the city it names: without ?city=, a 422 query.city)
    "GET /ledger/balances?budget_line_id": Rule(
        STAFF, _balances_of_line, expect=ABSENT | {Caller.NATIONAL: frozenset({422})}
    ),
    "GET /contribution-requests?case_id": Rule(CASE, _requests_of_case, expect=OTHERS),
    "GET /vouchers?household_id": Rule(CASE, _vouchers_of_household, expect=HIDDEN),
    "GET /tutoring-sessions?case_id": Rule(CASE, _of_a_case("/tutoring-sessions", "case_id"), expect=OTHERS),
    "GET /tutoring-sessions?household_id": Rule(CASE, _of_a_case("/tutoring-sessions", "household_id"), expect=HIDDEN),
    "POST /contribution-requests": Rule(CASE, _request, expect=OTHERS),
    "GET /contribution-requests": Rule(OWN_CITY, fixed("GET", "/contribution-requests")),  # filtered: see below
    "GET /reminders": Rule(OWN_CITY, fixed("GET", "/reminders")),  # a partner: its own cases' only
    "GET /contribution-requests/{request_id}": Rule(CASE, _read_request, expect=OTHERS),
    "PUT /contribution-requests/{request_id}/beneficiary": Rule(CASE, _beneficiary, expect=OTHERS),
    "POST /contribution-requests/{request_id}/approval": Rule(STAFF, _approve, expect=ABSENT),
    "POST /contribution-requests/{request_id}/rejection": Rule(STAFF, _reject, expect=ABSENT),
    "POST /contribution-requests/{request_id}/withdrawal": Rule(STAFF, _withdraw, expect=ABSENT),
    "POST /batches": Rule(STAFF, _create_batch, expect=NOTHING_WAITS),
    "GET /batches": Rule(STAFF_OWN_CITY, fixed("GET", "/batches")),
    "GET /batches/{batch_id}": Rule(STAFF, _read_batch, expect=ABSENT),
    "GET /batches/{batch_id}/pain.001": Rule(STAFF, _pain001, expect=ABSENT),
    "POST /reconciliations": Rule(STAFF, _reconcile, expect=ABSENT),
    "POST /providers": Rule(STAFF_OWN_CITY, _provider),
    "GET /providers": Rule(STAFF_OWN_CITY, fixed("GET", "/providers")),
    "GET /providers/{provider_id}": Rule(STAFF, _read_provider, expect=ABSENT),
    "PUT /providers/{provider_id}/bank-data": Rule(STAFF, _provider_bank_data, expect=ABSENT),
    "POST /providers/{provider_id}/bank-data/approval": Rule(STAFF, _approve_provider_bank_data, expect=ABSENT),
    "POST /vouchers": Rule(CASE, _issue, expect=OTHERS),
    "GET /vouchers": Rule(OWN_CITY, fixed("GET", "/vouchers")),  # filtered: see below
    "GET /vouchers/{voucher_id}": Rule(CASE, _read_voucher, expect=OTHERS),
    "POST /vouchers/{voucher_id}/redemptions": Rule(
        frozenset({Caller.OTHER_PARTNER, Caller.STAFF}), _redeem, expect=ABSENT
    ),
    "POST /vouchers/expiry": Rule(STAFF_OWN_CITY, fixed("POST", "/vouchers/expiry")),
    "POST /provider-reimbursements": Rule(STAFF_OWN_CITY, fixed("POST", "/provider-reimbursements")),
    "GET /reimbursement-runs": Rule(STAFF_OWN_CITY, fixed("GET", "/reimbursement-runs")),
    # a DPO's read-log token only (test_payment_files.py): no actor's
    "GET /download-log": Rule(NOBODY, fixed("GET", "/download-log")),
    "GET /read-log": Rule(NOBODY, fixed("GET", "/read-log")),  # a read-log token only: the DPO's
    "GET /reimbursement-runs/{run_id}": Rule(STAFF, _read_run, expect=ABSENT),
    "GET /reimbursement-runs/{run_id}/pain.001": Rule(STAFF, _run_pain001, expect=ABSENT),
    "POST /tutoring-sessions": Rule(CASE, _tutoring, expect=OTHERS),
    "GET /tutoring-sessions": Rule(OWN_CITY, fixed("GET", "/tutoring-sessions")),  # filtered: see test_tutoring
    "GET /tutoring-sessions/{session_id}": Rule(CASE, _read_tutoring, expect=OTHERS),
    "POST /shared-payees": Rule(STAFF_OWN_CITY, _add_shared_payee),
    "GET /shared-payees": Rule(STAFF_OWN_CITY, fixed("GET", "/shared-payees")),
    "POST /shared-payees/{shared_payee_id}/withdrawal": Rule(STAFF, _withdraw_shared_payee, expect=ABSENT),
}


# Its own: it calls every route as every caller — batches and reimbursement runs take everything of the city waiting to
# be paid, a shared payee is once per city — and asserts each answer.
@pytest.mark.own_service
async def test_every_route_and_caller_as_declared(payments: InProcessService) -> None:
    """Every cell of routes (and their filters) by callers; another city's staff and the national role get the same
    answer for an id that exists nowhere as for the one that exists (no existence oracle)."""
    probe = frozenset({Caller.OTHER_CITY_STAFF, Caller.NATIONAL, Caller.OTHER_PARTNER})
    assert_matrix("payments", await run_matrix(payments, RULES, probe=probe, bad_token=True))


# ------------------------------------------------------------------ the holes found, one by one


def statements_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the service's connections send from now on (its text), in order."""
    sent: list[str] = []

    def keeping(original: Any) -> Any:
        async def call(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(" ".join(query.split()))
            return await original(self, query, *args, **kwargs)

        return call

    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        monkeypatch.setattr(db.Connection, name, keeping(getattr(db.Connection, name)))
    return sent


async def test_a_partner_is_refused_the_staffs_changes_before_what_they_name_is_looked_up(
    payments: InProcessService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reviewer's finding, from the matrix: the staff-only actions on a contribution request (approval, rejection,
    withdrawal) were said to look the request up before refusing a partner, a database read and an order unlike the
    other staff-only routes'. Pinned for every staff-only change: a partner's call about an existing object sends the
    statements of one about an id that exists nowhere (authentication's only, no read of the object) and gets the same
    403 naming no field. (Reads are not held to it: a refused download of a payment file is written to the download
    log, which needs the file.)"""
    sent = statements_sent(monkeypatch)
    w = World(payments)
    routes = staff_may_change(RULES)
    assert {f"POST /contribution-requests/{{request_id}}/{a}" for a in ("approval", "rejection", "withdrawal")} <= set(
        routes
    )
    for key in routes:
        existing = await RULES[key].build(w)
        answers = []
        for attempt in (existing, _unknown_ids(key, existing)[0]):
            sent.clear()
            r = await _send(payments, Caller.ASSIGNED_PARTNER, attempt)
            answers.append((r.status_code, r.json().get("field"), list(sent)))
        assert answers[0] == answers[1] and answers[0][:2] == (403, ""), (key, answers)
        assert not [q for q in answers[0][2] if "contribution_requests" in q or "providers" in q], (key, answers)


async def test_another_citys_ids_are_answered_as_ids_that_do_not_exist(payments: InProcessService) -> None:
    """A batch (or request, voucher, run, …) of Torino asked for by Trieste's staff: the same 404 and body as an id
    that does not exist, so no other city learns which ids exist."""
    w = World(payments)
    made = await batch(w)
    voucher_id = (await voucher(w))["voucher_id"]
    for path in (
        "/batches/{}",
        "/batches/{}/pain.001",
        "/contribution-requests/{}",
        "/vouchers/{}",
    ):
        real = made["batch_id"] if "batches" in path else voucher_id if "vouchers" in path else made["request_id"]
        async with payments.client(STAFF_TS) as trieste:
            theirs = await trieste.get(path.format(real))
            nothing = await trieste.get(path.format("0190a6c1-e5b2-7c2e-8d0f-4a1b2c3d4e5f"))
        assert theirs.status_code == nothing.status_code == 404, (path, theirs.text)
        assert theirs.json()["field"] == nothing.json()["field"], path
        assert theirs.json()["reason"].replace(real, "ID") == nothing.json()["reason"].replace(
            "0190a6c1-e5b2-7c2e-8d0f-4a1b2c3d4e5f", "ID"
        ), path


async def test_another_citys_policy_is_refused_at_its_path(payments: InProcessService) -> None:
    """From an outside test: a Torino partner asking for Trieste's policy was refused at `city`; the contract names a
    path parameter `path.city`."""
    async with payments.client(A) as c:
        r = await c.get("/policies/trieste")
    assert (r.status_code, r.json()["field"]) == (403, "path.city"), r.text


async def test_another_partner_cannot_redirect_a_payment(payments: InProcessService) -> None:
    w = World(payments)
    r = await request(w, beneficiary=True)
    async with payments.client(B) as b:
        answer = await b.put(
            f"/contribution-requests/{r['request_id']}/beneficiary", json={"name": "Partner B", "iban": OTHER_IBAN}
        )
    assert answer.status_code == 404, answer.text  # another partner's request: as one that exists nowhere
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "request_id"


async def test_partners_list_only_their_own_cases_requests_and_vouchers(payments: InProcessService) -> None:
    w = World(payments)
    mine = await request(w)
    theirs = await voucher(w)
    for actor, sees in ((A, True), (B, False), (STAFF_TO, True), (STAFF_TS, False)):
        async with payments.client(actor) as c:
            ids = {x["request_id"] for x in (await c.get("/contribution-requests")).json()}
            vids = {x["voucher_id"] for x in (await c.get("/vouchers")).json()}
            balances = await c.get("/ledger/balances", params={"case_id": mine["case_id"]})
        assert (mine["request_id"] in ids) is sees, actor
        assert (theirs["voucher_id"] in vids) is sees, actor
        # a partner reads only its own cases' money; to another partner, and to other cities' staff, the case is one
        # that does not exist
        assert balances.status_code == {B: 404, STAFF_TS: 404}.get(actor, 200), (actor, balances.text)


async def test_a_case_payments_has_no_partner_for_yet_is_no_partners(payments: InProcessService) -> None:
    """A lease may reach payments before the case's opening: the case exists without a partner. Not anyone's."""
    w = World(payments)
    c = await case(w, partner=A)
    async with payments.pool.acquire() as conn:
        await conn.execute("update cases set partner = null where case_id = $1", c["case_id"])
    async with payments.client(B) as b:
        r = await b.post(
            "/contribution-requests",
            json={"case_id": c["case_id"], "kind": "rent", "amount_cents": 1_000, **a_month()},
            headers={"Idempotency-Key": "x"},
        )
    assert r.status_code == 404, r.text  # no partner's: to a partner, as a case that exists nowhere


async def test_the_national_role_reads_no_single_payment_object(payments: InProcessService) -> None:
    w = World(payments)
    b = await batch(w)
    v = await voucher(w)
    async with payments.client("coordination") as n:
        for path in (
            f"/batches/{b['batch_id']}",
            f"/vouchers/{v['voucher_id']}",
            f"/contribution-requests/{b['request_id']}",
            "/contribution-requests",
            "/policies/torino",
            f"/ledger/balances?city=torino&case_id={b['case_id']}",
            f"/ledger/balances?city=torino&household_id={b['household_id']}",
        ):
            r = await n.get(path)
            assert r.status_code == 403, (path, r.text)
        # a city's money totals are aggregates: the national role reads them (no case, household or person)
        for path in ("/budget-lines?city=torino", "/ledger/balances?city=torino"):
            r = await n.get(path)
            assert r.status_code == 200, (path, r.text)


async def test_a_request_names_only_a_lease_of_its_own_household(payments: InProcessService) -> None:
    """Coop Borgo, the provider of the flat Aurora's household rents (so it saw the lease's id in housing), asked a
    rent by hand on its own case naming that lease: accepted (201), and Aurora's own rent for the month, naming its
    lease, was then refused ("lease … already has a rent request"). A request names a lease of its case's household
    only; any other — another household's, another city's, one payments never learnt — is one 404 `lease_id`, said as
    for a lease that exists nowhere."""
    w = World(payments)
    a, b = await case(w), await case(w, partner=B)
    lease = hev.LeaseSigned(
        lease_id=w.id("lease"),
        placement_id=w.id("pl"),
        household_id=a["household_id"],
        case_id=a["case_id"],
        city="torino",
        lease_type=hev.LeaseType.LEASE,
        monthly_rent_cents=40_000,
        deposit_cents=0,
        start_date=clock.today(),
        signed_on=clock.today(),
    )
    await payments.deliver(handlers(payments), lease, "torino")
    period = a_month()
    rent = {"kind": "rent", "amount_cents": 20_000, **period}
    answers = {}
    for who, case_id, lease_id in (
        (B, b["case_id"], lease.lease_id),  # another household's lease
        (B, b["case_id"], "0190a6c1-e5b2-7c2e-8d0f-4a1b2c3d4e5f"),  # none
    ):
        async with payments.client(who) as c:
            r = await c.post(
                "/contribution-requests",
                json={"case_id": case_id, "lease_id": lease_id, **rent},
                headers={"Idempotency-Key": w.id("k")},
            )
        answers[lease_id] = (r.status_code, r.json().get("field"), str(r.json().get("reason")).replace(lease_id, "ID"))
    assert answers[lease.lease_id] == answers["0190a6c1-e5b2-7c2e-8d0f-4a1b2c3d4e5f"], answers
    assert answers[lease.lease_id][:2] == (404, "lease_id"), answers
    own = {"case_id": a["case_id"], "lease_id": lease.lease_id, **rent}
    made = await w.call(A, "POST", "/contribution-requests", own)
    assert made["lease_id"] == lease.lease_id


async def test_every_listing_shows_another_party_none_of_a_case(payments: InProcessService) -> None:
    """Each list a partner or another city's staff may call, with no filter, holds nothing of A's case: requests,
    vouchers, tutoring sessions, reminders (the request waits for the payee's bank data)."""
    w = World(payments)
    r = await request(w)  # no bank data: a reminder for A and the city's staff
    v = await voucher(w)
    session = await w.call(A, "POST", "/tutoring-sessions", {"case_id": r["case_id"], "topics": ["budgeting"]})
    mine = {r["request_id"], v["voucher_id"], session["session_id"]}
    for actor, sees in ((A, True), (STAFF_TO, True), (B, False), (STAFF_TS, False)):
        shown: set[str] = set()
        async with payments.client(actor) as c:
            for path, key in (
                ("/contribution-requests", "request_id"),
                ("/vouchers", "voucher_id"),
                ("/tutoring-sessions", "session_id"),
                ("/reminders", "request_id"),
            ):
                got = await c.get(path)
                assert got.status_code == 200, (actor, path, got.text)
                shown |= {x[key] for x in got.json()} & mine
        assert shown == (mine if sees else set()), (actor, shown)


async def test_the_national_role_names_the_city_whose_totals_it_reads(payments: InProcessService) -> None:
    """The national role has no city: without `?city=` it was refused as if it had no right to the totals (403 "the
    national role is read-only"), while it has; the address lacks the city, as intake's GET /partners says (422)."""
    async with payments.client("coordination") as n:
        for path in ("/budget-lines", "/ledger/balances"):
            r = await n.get(path)
            assert (r.status_code, r.json().get("field")) == (422, "query.city"), (path, r.text)
    w = World(payments)
    await case(w)  # Torino's lines
    line = (await w.call(STAFF_TO, "GET", "/budget-lines"))[0]["budget_line_id"]
    async with payments.client("coordination") as n:
        assert (await n.get("/ledger/balances", params={"city": "torino", "budget_line_id": line})).status_code == 200
        r = await n.get("/ledger/balances", params={"city": "trieste", "budget_line_id": line})  # not Trieste's
        assert (r.status_code, r.json()["field"]) == (404, "query.budget_line_id"), r.text
