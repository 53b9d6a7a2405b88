"""Two people acting on the same opportunity or match at the same moment, over HTTP, on the in-process app and real
PostgreSQL: whichever the database lets in first, an opportunity holds one live match, a withdrawn one none, each
match ends once, and the loser gets a 409 problem+json naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from lgnet_housing.service_layer import commands as cmd
from lgnet_housing.service_layer.handlers import Context, Housing
from lgnet_housing.service_layer.intake_events import HANDLERS
from lgnet_shared import clock
from lgnet_shared.access import Actor, Role
from lgnet_shared.errors import Forbidden, NotFound
from lgnet_shared.testing.inprocess import InProcessService, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")

# One in-process housing for the module (the matrix's fixtures): what the tests before left live is closed before each
# (`close_what_is_live`: the matching is city-wide); every id is new (`_id`) and every assertion reads its own ids.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
A, STAFF = matrix.A, matrix.STAFF_TO
ROUNDS = 6
housing, housing_own, housing_shared, housing_view = (
    matrix.housing,
    matrix.housing_own,
    matrix.housing_shared,
    matrix.housing_view,
)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def call(service: InProcessService, actor: str, method: str, path: str, body: Any = None) -> httpx.Response:
    async with service.client(actor) as c:
        return await c.request(method, path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


async def ok(service: InProcessService, actor: str, method: str, path: str, body: Any = None) -> Any:
    r = await call(service, actor, method, path, body)
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json()


async def _household(service: InProcessService) -> str:
    hid = _id("h")
    for e in matrix.intake_events(hid, f"{hid}-case"):
        await service.deliver(HANDLERS, e, "torino", A)
    return hid


async def _opportunity(service: InProcessService) -> str:
    oid = _id("o")
    body = {"opportunity_id": oid, "partner": A, "kind": "private_rental", "capacity": 3, "bedrooms": 2,
            "monthly_rent_cents": 30_000, "available_from": str(clock.today())}  # fmt: skip
    await ok(service, A, "POST", "/opportunities", body)
    return oid


async def _proposed(service: InProcessService, oid: str) -> str:
    await ok(service, STAFF, "POST", "/matching/runs")
    found = [m for m in await ok(service, STAFF, "GET", "/proposals") if m["opportunity_id"] == oid]
    assert found, "the opportunity was not matched"
    return str(found[0]["match_id"])


async def _rows(service: InProcessService, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with service.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def _declined_facts(service: InProcessService, match_id: str) -> int:
    async with service.pool.acquire() as conn:
        facts = [json.loads(r["value"]) for r in await conn.fetch("select value from outbox")]
    return sum(1 for f in facts if f["type"].endswith("match_declined") and f["data"]["match_id"] == match_id)


async def _both(round_: int, first: Any, second: Any) -> tuple[httpx.Response, httpx.Response]:
    """The two answers, the requests sent in one order on even rounds and in the other on odd ones."""
    if round_ % 2:
        b, a = await asyncio.gather(second, first)
    else:
        a, b = await asyncio.gather(first, second)
    return a, b


async def test_a_withdrawal_and_a_decline_at_once_leave_no_live_match_on_the_withdrawn_opportunity(
    housing: InProcessService,
) -> None:
    for round_ in range(ROUNDS):
        await _household(housing)
        await _household(housing)  # a second household the matching may propose next
        oid = await _opportunity(housing)
        mid = await _proposed(housing, oid)
        withdrawal, decline = await _both(
            round_,
            call(housing, A, "POST", f"/opportunities/{oid}/withdrawal", {"reason": "sold"}),
            call(housing, STAFF, "POST", f"/matches/{mid}/decline", {"by": "household", "reason": "other"}),
        )
        assert withdrawal.status_code < 500 and decline.status_code < 500, (withdrawal.text, decline.text)
        [o] = await _rows(housing, "select status from opportunities where opportunity_id = $1", oid)
        live = await _rows(
            housing, "select match_id, status from matches where opportunity_id = $1 and status in"
            " ('proposed', 'accepted', 'placed')", oid,
        )  # fmt: skip
        assert o["status"] != "withdrawn" or not live, (withdrawal.text, decline.text, live)
        assert await _declined_facts(housing, mid) == 1, (withdrawal.text, decline.text)
        await ok(housing, STAFF, "POST", "/matching/runs")  # the next round's households are matched afresh


async def test_an_acceptance_and_a_withdrawal_at_once_leave_no_accepted_match_on_a_withdrawn_opportunity(
    housing: InProcessService,
) -> None:
    for round_ in range(ROUNDS):
        await _household(housing)
        oid = await _opportunity(housing)
        mid = await _proposed(housing, oid)
        withdrawal, acceptance = await _both(
            round_,
            call(housing, A, "POST", f"/opportunities/{oid}/withdrawal", {"reason": "sold"}),
            call(housing, STAFF, "POST", f"/matches/{mid}/acceptance", {}),
        )
        assert withdrawal.status_code < 500 and acceptance.status_code < 500, (withdrawal.text, acceptance.text)
        [m] = await _rows(housing, "select status from matches where match_id = $1", mid)
        assert (m["status"] == "accepted") == (acceptance.status_code == 200 and withdrawal.status_code != 200), (
            m, withdrawal.text, acceptance.text)  # fmt: skip


async def test_a_placement_started_twice_at_once_is_one(housing: InProcessService) -> None:
    for _ in range(ROUNDS):
        await _household(housing)
        oid = await _opportunity(housing)
        mid = await _proposed(housing, oid)
        await ok(housing, A, "POST", f"/matches/{mid}/acceptance", {})
        body = {"started_on": str(clock.today())}
        answers = await asyncio.gather(
            *(call(housing, who, "POST", f"/matches/{mid}/placement", body) for who in (A, STAFF))
        )
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        assert len(await _rows(housing, "select 1 from placements where match_id = $1", mid)) == 1


async def test_the_matching_run_twice_at_once_proposes_once(housing: InProcessService) -> None:
    for _ in range(ROUNDS):
        hid = await _household(housing)
        await _opportunity(housing)
        answers = await asyncio.gather(*(call(housing, STAFF, "POST", "/matching/runs") for _ in range(2)))
        assert all(r.status_code < 300 for r in answers), [r.text for r in answers]
        assert len(await _rows(housing, "select 1 from matches where household_id = $1", hid)) == 1


async def _facts(service: InProcessService, suffix: str, household_id: str) -> int:
    async with service.pool.acquire() as conn:
        facts = [json.loads(r["value"]) for r in await conn.fetch("select value from outbox")]
    return sum(1 for f in facts if f["type"].endswith(suffix) and f["data"].get("household_id") == household_id)


async def test_a_household_parked_twice_at_once_is_parked_once(housing: InProcessService) -> None:
    until = str(clock.today().replace(day=1) + timedelta(days=40))
    for _ in range(ROUNDS):
        hid = await _household(housing)
        body = {"reason": "hospitalised", "until": until}
        answers = await asyncio.gather(
            *(call(housing, STAFF, "POST", f"/households/{hid}/park", body) for _ in range(2))
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert await _facts(housing, "household_parked", hid) == 1
        answers = await asyncio.gather(
            *(call(housing, STAFF, "POST", f"/households/{hid}/unpark", {}) for _ in range(2))
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert await _facts(housing, "household_unparked", hid) == 1


def as_partner(partner: str) -> Context:
    """A Torino partner acting today (the city's, when it acts: a run may cross Rome's midnight): `matrix.B` has
    neither the case nor the opportunity, `A` both."""
    return Context(clock.today(), Actor(partner, Role.PARTNER, "torino"))


async def _placed(service: InProcessService, mid: str) -> str:
    await ok(service, A, "POST", f"/matches/{mid}/acceptance", {})
    return str(
        (await ok(service, A, "POST", f"/matches/{mid}/placement", {"started_on": str(clock.today())}))["placement_id"]
    )


@pytest.mark.parametrize("what", ["opportunity", "match", "placement"])
async def test_a_refused_caller_does_not_hold_the_row_the_rightful_writer_needs(
    housing: InProcessService, what: str
) -> None:
    """An opportunity, a match and a placement were locked (`select … for update`) before the caller's rights were
    checked: another partner, refused, held the row until its transaction ended, and the rightful partner waited for
    it. The refused call's transaction left open, the rightful one (under a short `lock_timeout`) does not wait."""
    await _household(housing)
    oid = await _opportunity(housing)
    mid = await _proposed(housing, oid)
    await _household(housing)
    placed = await _placed(housing, await _proposed(housing, await _opportunity(housing)))
    ending = cmd.EndPlacement(reason="moved", ended_on=clock.today())
    races: dict[str, tuple[Any, Any]] = {
        "opportunity": (
            lambda h: h.update_opportunity(as_partner(matrix.B), oid, cmd.UpdateOpportunity(bedrooms=1)),
            lambda h: h.update_opportunity(as_partner(A), oid, cmd.UpdateOpportunity(bedrooms=1)),
        ),
        "match": (
            lambda h: h.accept(as_partner(matrix.B), mid, cmd.AcceptMatch()),
            lambda h: h.accept(as_partner(A), mid, cmd.AcceptMatch()),
        ),
        "placement": (
            lambda h: h.end_placement(as_partner(matrix.B), placed, ending),
            lambda h: h.end_placement(as_partner(A), placed, ending),
        ),
    }
    refused, rightful = races[what]
    async with housing.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            # another partner's opportunity is refused (the catalogue is every partner's to read); a match or a
            # placement it holds no side of answers as one that does not exist (no existence oracle)
            with pytest.raises(Forbidden if what == "opportunity" else NotFound):
                await refused(Housing(conn))
            async with housing.pool.acquire() as other, other.transaction():
                await other.execute("set local lock_timeout = '500ms'")
                await rightful(Housing(other))  # LockNotAvailableError when the refused call locked first
        finally:
            await tx.rollback()
