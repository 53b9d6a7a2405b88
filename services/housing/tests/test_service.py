"""The housing service as a real process against real Kafka and PostgreSQL: intake's events build the waiting
list, opportunities are listed over HTTP, proposals come out as events with their explanation; the workflow
(accept, placement, lease, end), declines that re-match both sides, holds, stalled matches, tenancy and
problem+json errors that name the field."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
from lgnet_housing.adapters import schema
from lgnet_housing.domain import explain
from lgnet_shared import clock
from lgnet_shared.access import ID_TAKEN
from lgnet_shared.events import Event
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.events.types import DATE_REASON
from lgnet_shared.testing import HTTP_TIMEOUT_S
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.testing.plugin import seen_from_this_test

if TYPE_CHECKING:
    from conftest import HousingUnderTest

# One housing for the module: each test's ids carry its `uid`, and each begins on a city-wide state of its own
# (`housing_view`).
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")  # close_what_is_live
F, M = iev.Sex.FEMALE, iev.Sex.MALE
ADULT, CHILD = date(1990, 5, 1), clock.today() - timedelta(days=365 * 6)  # fixed at import: a child either day


def opportunity(oid: str, **over: Any) -> dict[str, Any]:
    body = {
        "opportunity_id": oid,
        "kind": "private_rental",
        "capacity": 2,
        "bedrooms": 1,
        "accessible": False,
        "monthly_rent_cents": 30_000,
        "available_from": clock.today().isoformat(),
        "support_level": "none",
        "restrictions": [],
        "languages": ["en"],
    }
    return body | over


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return await c.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def proposals(h: HousingUnderTest, want: int, city: str = "torino", *, uid: str = "") -> list[dict[str, Any]]:
    """The city's live proposals of the test's households (`uid` in their ids), once there are `want` of them."""
    mine = "status = 'proposed' and city = $1 and strpos(household_id, $2) > 0"
    await h.wait_sql(f"select count(*) from matches where {mine}", city, uid, want=want)
    async with h.client(f"staff-{city}") as c:
        r = await c.get("/proposals")
    assert r.status_code == 200, r.text
    return [p for p in r.json() if uid in p["household_id"]]


async def open_cases(h: HousingUnderTest, uid: str, want: int) -> None:
    """`wait_open_cases` of this test's households only."""
    sql = "select count(*) from cases where assessed and housing_need and closed_on is null and strpos(case_id, $1) > 0"
    await h.wait_sql(sql, uid, want=want)


async def mine(h: HousingUnderTest, uid: str, *, want: int = 1, of_type: str | None = None) -> list[Event]:
    """housing.events of this test's ids (every housing fact names a household or an opportunity), once `want` (of
    `of_type`) are there: a straggler of the test before is none of them."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        got = [e for e in await h.events(want=want, of_type=of_type) if uid in e.model_dump_json()]
        if len([e for e in got if of_type in (None, e.type)]) >= want or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.5)


@pytest.fixture
async def housing_view(housing_shared: HousingUnderTest) -> HousingUnderTest:
    """A test's view of the module's housing, once what the tests before left live is closed (matching is city-wide:
    `close_what_is_live`)."""
    await matrix.close_what_is_live(housing_shared.pool)
    return cast("HousingUnderTest", await seen_from_this_test(housing_shared))


async def test_intake_events_in_proposals_out_then_accept_place_lease_end(housing: HousingUnderTest, uid: str) -> None:
    # A mother with a child (Torino), and a single man; both waiting once intake's events are in.
    await housing.publish(
        "torino",
        *housing.household_events(
            f"h-mum-{uid}", "torino", [(ADULT, F), (CHILD, M)], vulnerabilities=("single_parent",)
        ),
    )
    await housing.publish("torino", *housing.household_events(f"h-solo-{uid}", "torino", [(ADULT, M)], income=50_000))
    await open_cases(housing, uid, 2)
    async with housing.client("coop-aurora") as c:
        r = await post(
            c, "/opportunities", opportunity(f"o-family-{uid}", capacity=3, bedrooms=2, restrictions=["families_only"])
        )
        assert r.status_code == 201, r.text
        r = await post(
            c,
            "/opportunities",
            opportunity(f"o-room-{uid}", kind="non_hotel_room", capacity=1, monthly_rent_cents=15_000),
        )
        assert r.status_code == 201, r.text
    found = {p["household_id"]: p for p in await proposals(housing, 2, uid=uid)}
    assert found[f"h-mum-{uid}"]["opportunity_id"] == f"o-family-{uid}"
    assert found[f"h-solo-{uid}"]["opportunity_id"] == f"o-room-{uid}"
    explanation = {x["rule"]: x for x in found[f"h-mum-{uid}"]["explanation"]}
    assert all(x["passed"] for x in explanation.values())
    assert {"capacity", "families_only", "affordability", "city"} <= set(explanation)
    assert found[f"h-mum-{uid}"]["score_breakdown"]["minors"] == 1.0

    events = await mine(housing, uid, want=2, of_type=hev.MatchProposed.type)
    proposed = [e for e in events if isinstance(e, hev.MatchProposed)]
    assert {(e.household_id, e.opportunity_id) for e in proposed} == {
        (f"h-mum-{uid}", f"o-family-{uid}"),
        (f"h-solo-{uid}", f"o-room-{uid}"),
    }
    assert all(e.case_id == f"{e.household_id}-case" and e.explanation for e in proposed)

    match_id = found[f"h-mum-{uid}"]["match_id"]
    future = (clock.today() + timedelta(days=30)).isoformat()  # each step is refused in the future, naming its field
    async with housing.client("coop-aurora") as c:
        r = await c.post(f"/matches/{match_id}/acceptance", json={"on": future})
        assert (r.status_code, r.json()["field"]) == (422, "on"), r.text
        r = await c.post(f"/matches/{match_id}/acceptance", json={})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted"
        r = await post(c, f"/matches/{match_id}/placement", {"started_on": future})
        assert (r.status_code, r.json()["field"]) == (422, "started_on"), r.text
        r = await post(c, f"/matches/{match_id}/placement", {"started_on": clock.today().isoformat()})
        assert r.status_code == 201, r.text
        placement_id = r.json()["placement_id"]
        # the match shows its placement (the desk ends it from there), no lease yet
        shown = (await c.get(f"/matches/{match_id}")).json()["placement"]
        assert shown == {"placement_id": placement_id, "started_on": clock.today().isoformat(), "ended_on": None,
                         "end_reason": None, "lease": None}, shown  # fmt: skip
        lease = {
            "lease_type": "lease",
            "monthly_rent_cents": 30_000,
            "deposit_cents": 60_000,
            "start_date": clock.today().isoformat(),
            "end_date": (clock.today() + timedelta(days=365)).isoformat(),
            "signed_on": clock.today().isoformat(),
        }
        r = await post(c, f"/placements/{placement_id}/lease", lease | {"signed_on": future})
        assert (r.status_code, r.json()["field"]) == (422, "signed_on"), r.text
        r = await post(c, f"/placements/{placement_id}/lease", lease | {"start_date": "1990-01-01"})  # it was signed
        assert (r.status_code, r.json()["field"]) == (422, "start_date"), r.text
        assert "before the placement started" in r.json()["reason"]
        key = str(uuid.uuid4())
        r = await post(c, f"/placements/{placement_id}/lease", lease, key)
        assert r.status_code == 201, r.text
        lease_id = r.json()["lease_id"]
        again = await post(c, f"/placements/{placement_id}/lease", lease, key)  # a retry: same answer, no new lease
        assert again.status_code == 201 and again.json()["lease_id"] == lease_id
        assert (await post(c, f"/placements/{placement_id}/lease", lease)).status_code == 409
        assert (await c.get(f"/matches/{match_id}")).json()["placement"]["lease"] == {"lease_id": lease_id, **lease}
        r = await c.post(f"/placements/{placement_id}/end", json={"reason": "autonomy_reached", "ended_on": future})
        assert (r.status_code, r.json()["field"]) == (422, "ended_on"), r.text
        r = await c.post(
            f"/placements/{placement_id}/end",
            json={"reason": "autonomy_reached", "ended_on": clock.today().isoformat()},
        )
        assert r.status_code == 200, r.text
        shown = (await c.get(f"/matches/{match_id}")).json()
        assert (shown["status"], shown["placement"]["ended_on"], shown["placement"]["end_reason"]) == (
            "ended",
            clock.today().isoformat(),
            "autonomy_reached",
        )

    events = await mine(housing, uid, want=1, of_type=hev.PlacementEnded.type)
    by_type = {e.type: e for e in events}
    assert isinstance(by_type[hev.MatchAccepted.type], hev.MatchAccepted)
    started = by_type[hev.PlacementStarted.type]
    assert isinstance(started, hev.PlacementStarted) and started.kind is hev.HousingKind.PRIVATE_RENTAL
    signed = by_type[hev.LeaseSigned.type]
    assert isinstance(signed, hev.LeaseSigned)
    assert (signed.lease_id, signed.case_id, signed.monthly_rent_cents, signed.deposit_cents) == (
        lease_id,
        f"h-mum-{uid}-case",
        30_000,
        60_000,
    )
    assert len([e for e in events if e.type == hev.LeaseSigned.type]) == 1
    ended = by_type[hev.PlacementEnded.type]
    assert isinstance(ended, hev.PlacementEnded) and ended.reason is hev.PlacementEndReason.AUTONOMY_REACHED


async def test_decline_rematches_both_sides_and_why_explains(housing: HousingUnderTest, uid: str) -> None:
    await housing.publish(
        "torino", *housing.household_events(f"h-a-{uid}", "torino", [(ADULT, F)], eviction=clock.today())
    )
    await housing.publish("torino", *housing.household_events(f"h-b-{uid}", "torino", [(ADULT, M)]))
    await housing.publish(
        "torino", *housing.household_events(f"h-c-{uid}", "torino", [(ADULT, M)], opened_on=date(2026, 6, 1))
    )
    await housing.publish("torino", *housing.household_events(f"h-big-{uid}", "torino", [(ADULT, M)] * 5))
    await open_cases(housing, uid, 4)
    # Households arrive on intake.events, assessments on intake.special: two consumers, either may be first.
    await housing.wait_sql("select count(*) from households where strpos(household_id, $1) > 0", uid, want=4)
    async with housing.client("staff-torino") as c:
        for oid in (f"o-1-{uid}", f"o-2-{uid}"):
            r = await post(c, "/opportunities", opportunity(oid, partner="coop-borgo", capacity=1))
            assert r.status_code == 201, r.text
        first = {p["household_id"]: p for p in await proposals(housing, 2, uid=uid)}
        assert set(first) == {f"h-a-{uid}", f"h-b-{uid}"}  # h-c waits less; the household of five fits nowhere
        why = (await c.get(f"/households/h-big-{uid}/why")).json()
        codes = {r["code"] for r in why["reasons"]}
        assert {"no_compatible_opportunity", "capacity", "bedrooms"} <= codes, why
        why_c = (await c.get(f"/households/h-c-{uid}/why")).json()
        assert [r["code"] for r in why_c["reasons"]] == ["taken_by_others"], why_c
        assert (await c.get(f"/households/h-a-{uid}/why")).json()["reasons"][0]["code"] == "has_match"
    async with housing.client("coop-borgo") as other:  # not the partner of h-a's case
        theirs, unknown = [await other.get(f"/households/{h}/why") for h in (f"h-a-{uid}", f"h-nowhere-{uid}")]
        assert theirs.status_code == 404  # not on its list: said as for a household that does not exist
        assert theirs.json()["reason"] == unknown.json()["reason"].replace(f"h-nowhere-{uid}", f"h-a-{uid}"), (
            theirs.text
        )
        assert (await other.get("/households")).json() == []
    async with housing.client("staff-torino") as c:
        # The provider declines h-a's proposal: the opportunity is matched again (to h-c, next in line) and h-a
        # is back on the list; the declined pair is never proposed again.
        declined = first[f"h-a-{uid}"]
        r = await c.post(f"/matches/{declined['match_id']}/decline", json={"by": "provider", "reason": "not_suitable"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "declined"
        second = {p["household_id"]: p for p in await proposals(housing, 2, uid=uid)}
        assert second[f"h-c-{uid}"]["opportunity_id"] == declined["opportunity_id"]
        assert second[f"h-b-{uid}"] == first[f"h-b-{uid}"]  # live proposals stay as they are
        why_a = (await c.get(f"/households/h-a-{uid}/why")).json()
        assert {"declined_before", "taken_by_others"} <= {r["code"] for r in why_a["reasons"]}, why_a
        # A new opportunity: h-a, waiting again, gets it.
        assert (
            await post(c, "/opportunities", opportunity(f"o-3-{uid}", partner="coop-borgo", capacity=1))
        ).status_code == 201
        third = {p["household_id"]: p for p in await proposals(housing, 3, uid=uid)}
        assert third[f"h-a-{uid}"]["opportunity_id"] == f"o-3-{uid}"
    events = await mine(housing, uid, want=4, of_type=hev.MatchProposed.type)
    d = [e for e in events if isinstance(e, hev.MatchDeclined)]
    assert len(d) == 1 and d[0].by is hev.DeclinedBy.PROVIDER and d[0].reason == "not_suitable"


@pytest.mark.own_service  # the stalled-match check and hold expiry scan every city's matches and holds
async def test_holds_stalled_matches_and_case_closure(housing: HousingUnderTest) -> None:
    await housing.publish("torino", *housing.household_events("h-x", "torino", [(ADULT, F)]))
    await housing.wait_open_cases(1)
    async with housing.client("coop-aurora") as c, housing.client("staff-torino") as staff:
        assert (await post(c, "/opportunities", opportunity("o-x", capacity=1))).status_code == 201
        [p] = await proposals(housing, 1)
        # The proposal has waited 15 days for an answer (its step began then; no future day is needed).
        began = clock.today() - timedelta(days=15)
        await housing.sql("update matches set step_since = $1 where match_id = $2", began, p["match_id"])
        r = await staff.post("/matching/stalled-check", json={})
        assert r.status_code == 200, r.text
        [stalled] = r.json()["stalled"]
        assert (stalled["match_id"], stalled["step"], stalled["waiting_days"]) == (p["match_id"], "proposed", 15)
        assert stalled["on"] == clock.today().isoformat()
        r = await staff.post("/matching/stalled-check", json={})
        assert r.json()["stalled"] == []  # reminded once per step
        # The reminder stays open for the case's operator (its partner) and the city's staff, not for others.
        [reminder] = (await c.get("/reminders")).json()
        assert (reminder["match_id"], reminder["step"], reminder["waiting_days"]) == (p["match_id"], "proposed", 15)
        assert reminder["case_partner"] == "coop-aurora" and reminder["since"] == began.isoformat()
        assert [x["match_id"] for x in (await staff.get("/reminders")).json()] == [p["match_id"]]
        async with housing.client("coop-borgo") as other, housing.client("staff-trieste") as trieste:
            assert (await other.get("/reminders")).json() == []
            assert (await trieste.get("/reminders")).json() == []
        r = await c.post("/matching/stalled-check", json={})
        assert r.status_code == 403, r.text  # the city's staff's (a partner would see every case's matches)

        # A change the proposal still fits keeps it; one it does not fit withdraws it (by the provider).
        r = await c.patch("/opportunities/o-x", json={"capacity": 2, "languages": ["ar"]})
        assert r.status_code == 200 and r.json()["capacity"] == 2, r.text
        assert (await c.get(f"/matches/{p['match_id']}")).json()["status"] == "proposed"

        # Parking withdraws the proposal and keeps the household off the list until the hold is lifted.
        until = (clock.today() + timedelta(days=30)).isoformat()
        r = await c.post("/households/h-x/park", json={"reason": "hospitalised", "until": until})
        assert r.status_code == 200, r.text
        why = (await c.get("/households/h-x/why")).json()
        assert why["reasons"][0]["code"] == "parked"
        assert (await c.get("/reminders")).json() == []  # the stalled proposal is withdrawn: nothing to remind
        r = await c.post("/households/h-x/unpark", json={})
        assert r.status_code == 200, r.text
    await proposals(housing, 1)
    async with housing.client("coop-aurora") as c:
        r = await c.patch("/opportunities/o-x", json={"restrictions": ["men_only"]})
        assert r.status_code == 200, r.text
    await housing.wait_sql("select count(*) from matches where status = 'proposed'", want=0)
    # The case closes at intake: the proposal is withdrawn and the household leaves the list.
    await housing.publish(
        "torino", iev.CaseClosed(case_id="h-x-case", outcome=iev.CaseOutcome.MOVED_AWAY, closed_on=clock.today())
    )
    await housing.wait_sql("select count(*) from matches where status = 'proposed'", want=0)
    async with housing.client("coop-aurora") as c:
        r = await c.post("/opportunities/o-x/withdrawal", json={"reason": "owner_sold"})
        assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
        # The same withdrawal again (a retry) is the success it was; another one is a conflict.
        again = await c.post("/opportunities/o-x/withdrawal", json={"reason": "owner_sold"})
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true", again.text
        assert (await c.post("/opportunities/o-x/withdrawal", json={"reason": "moved_in"})).status_code == 409
    events = await housing.events(want=1, of_type=hev.OpportunityWithdrawn.type)
    updated, restricted = [e for e in events if isinstance(e, hev.OpportunityUpdated)]
    assert restricted.restrictions == ["men_only"] and restricted.capacity is None
    assert (updated.capacity, updated.languages, updated.bedrooms) == (2, ["ar"], None)
    types = [e.type for e in events]
    assert hev.MatchStalled.type in types and hev.HouseholdParked.type in types
    reasons = [e.reason for e in events if isinstance(e, hev.MatchDeclined)]
    assert "parked" in reasons and "opportunity_changed" in reasons


async def test_a_hold_ending_within_a_week_is_a_reminder_of_the_cases_operator(
    housing: HousingUnderTest, uid: str
) -> None:
    """A household on hold (in hospital, say) came back to the waiting list on its hold's last day with nothing to tell
    its social worker beforehand to check it can: a hold ending within seven days is a reminder, for the case's
    partner and the city's staff, as a stalled step is."""
    await housing.publish("torino", *housing.household_events(f"h-e-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-aurora") as c, housing.client("staff-torino") as staff:
        until = clock.today() + timedelta(days=30)
        r = await c.post(f"/households/h-e-{uid}/park", json={"reason": "hospitalised", "until": until.isoformat()})
        assert r.status_code == 200, r.text
        assert (await c.get("/reminders")).json() == []  # a month away: not yet
        soon = clock.today() + timedelta(days=5)
        await housing.sql(f"update holds set until = $1 where household_id = 'h-e-{uid}'", soon)  # three weeks later
        [reminder] = (await c.get("/reminders")).json()
        assert reminder == {
            "kind": "hold_ending",
            "household_id": f"h-e-{uid}",
            "case_id": f"h-e-{uid}-case",
            "case_partner": "coop-aurora",
            "reason": "hospitalised",
            "until": soon.isoformat(),
            "waiting_days": 0,
        }, reminder
        assert [x["kind"] for x in (await staff.get("/reminders")).json()] == ["hold_ending"]
        async with housing.client("coop-borgo") as other, housing.client("staff-trieste") as trieste:
            assert (await other.get("/reminders")).json() == []
            assert (await trieste.get("/reminders")).json() == []
        assert (await c.post(f"/households/h-e-{uid}/unpark", json={})).status_code == 200
        assert (await c.get("/reminders")).json() == []  # released: nothing to remind


@pytest.mark.own_service  # the stalled-match check and hold expiry scan every city's matches and holds
async def test_stalled_check_dates_its_facts_today_and_refuses_future_days(housing: HousingUnderTest) -> None:
    """`on` is only the day the check looks from: the facts it creates (reminders, holds released, the proposals
    re-matching makes) carry the day they were made, and a day in the future is refused, naming `on`."""
    await housing.publish("torino", *housing.household_events("h-d", "torino", [(ADULT, F)]))
    await housing.wait_open_cases(1)
    async with housing.client("coop-aurora") as c, housing.client("staff-torino") as staff:
        until = (clock.today() + timedelta(days=30)).isoformat()
        r = await c.post("/households/h-d/park", json={"reason": "hospitalised", "until": until})
        assert r.status_code == 200, r.text
        assert (await post(c, "/opportunities", opportunity("o-d", capacity=1))).status_code == 201
        r = await staff.post("/matching/stalled-check", json={"on": (clock.today() + timedelta(days=40)).isoformat()})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "on" and "future" in r.json()["reason"]
        # A day of clock skew (or a city's local date a day ahead of UTC) is tolerated.
        r = await staff.post("/matching/stalled-check", json={"on": (clock.today() + timedelta(days=1)).isoformat()})
        assert r.status_code == 200 and r.json() == {"stalled": [], "unparked": []}, r.text
        # The hold ran out two days ago; checking as of yesterday releases it, and today's facts say today.
        await housing.sql("update holds set until = $1 where household_id = 'h-d'", clock.today() - timedelta(2))
        r = await staff.post("/matching/stalled-check", json={"on": (clock.today() - timedelta(days=1)).isoformat()})
        assert r.status_code == 200 and r.json()["unparked"] == ["h-d"], r.text
    [p] = await proposals(housing, 1)
    assert (p["household_id"], p["proposed_on"]) == ("h-d", clock.today().isoformat())
    events = await housing.events(want=1, of_type=hev.MatchProposed.type)
    [unparked] = [e for e in events if isinstance(e, hev.HouseholdUnparked)]
    [proposed] = [e for e in events if isinstance(e, hev.MatchProposed)]
    assert (unparked.on, proposed.proposed_on) == (clock.today(), clock.today())


async def test_tenancy_and_bad_input(housing: HousingUnderTest, uid: str) -> None:
    await housing.publish(
        "trieste",
        *housing.household_events(f"h-ts-{uid}", "trieste", [(ADULT, F)], partner="coop-carso"),
        partner="coop-carso",
    )
    async with housing.client("coop-carso") as c:
        assert (await post(c, "/opportunities", opportunity(f"o-ts-{uid}", capacity=1))).status_code == 201
    [p] = await proposals(housing, 1, uid=uid, city="trieste")
    async with housing.client("staff-torino") as c:
        # Another city's match and opportunity are answered as ids that exist nowhere (a 403 told Torino they exist)
        r = await c.post(f"/matches/{p['match_id']}/acceptance", json={})
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == "match_id" and r.json()["reason"] == f"no match {p['match_id']}"
        r = await c.patch(f"/opportunities/o-ts-{uid}", json={"capacity": 3})
        assert (r.status_code, r.json()["reason"]) == (404, f"no opportunity o-ts-{uid}"), r.text
        # Another city's household is not on Torino's list: 404 said as for one that does not exist (a 403 told
        # Torino that Trieste has it), on each of the household's routes.
        hold = {"reason": "hospitalised", "until": (clock.today() + timedelta(days=10)).isoformat()}
        for path, body in (("why", None), ("park", hold), ("unpark", {})):
            calls = [c.get(f"/households/{h}/why") if body is None else c.post(f"/households/{h}/{path}", json=body)
                     for h in (f"h-ts-{uid}", f"h-nowhere-{uid}")]  # fmt: skip
            theirs, unknown = [await call for call in calls]
            assert (theirs.status_code, theirs.json()["field"]) == (404, "household_id"), (path, theirs.text)
            assert theirs.json()["reason"] == unknown.json()["reason"].replace(f"h-nowhere-{uid}", f"h-ts-{uid}"), path
        assert (await c.get("/households")).json() == []
        assert (await c.get("/proposals")).json() == []  # Torino sees none of Trieste's
    async with housing.client("coop-aurora") as c:
        r = await post(c, "/opportunities", opportunity(f"o-bad-{uid}", capacity=0))
        assert r.status_code == 422 and r.json()["field"] == "capacity", r.text
        r = await post(c, "/opportunities", opportunity(f"o-bad-{uid}", restrictions=["no_pets"]))
        assert r.status_code == 422 and r.json()["field"].startswith("restrictions"), r.text
        r = await post(c, "/opportunities", opportunity(f"o-bad-{uid}", available_until=clock.today().isoformat()))
        assert r.status_code == 422 and r.json()["field"] == "available_until", r.text  # it said `body`
        # A review: housing's languages had no bound and no check, as intake's had (a 1.5 MB fact).
        r = await post(c, "/opportunities", opportunity(f"o-bad-{uid}", languages=["it", "xx"]))
        assert (r.status_code, r.json()["field"]) == (422, "languages.1") and "ISO 639" in r.json()["reason"], r.text
        r = await post(c, "/opportunities", opportunity(f"o-bad-{uid}", languages=["it"] * 300_000))
        assert (r.status_code, r.json()["field"]) == (422, "languages"), r.text
        r = await c.patch(f"/opportunities/o-bad-{uid}", json={"languages": ["it", "it"]})
        assert r.status_code in (404, 422), r.text
        r = await c.post("/opportunities", json=opportunity(f"o-nokey-{uid}"))
        assert r.status_code == 422 and r.json()["field"] == "headers.idempotency-key"
        r = await post(c, "/opportunities", opportunity(f"o-other-{uid}", partner="coop-borgo"))
        assert r.status_code == 403 and r.json()["field"] == "partner"
    async with housing.client("coordination") as c:
        assert (await post(c, "/opportunities", opportunity(f"o-nat-{uid}"))).status_code == 403
    async with housing.client("coop-carso") as c:
        r = await c.post(f"/matches/{p['match_id']}/decline", json={"by": "landlord", "reason": "x"})
        assert r.status_code == 422 and r.json()["field"] == "by"
        r = await c.post(f"/matches/{p['match_id']}/decline", json={"by": "household", "reason": "Not Coded!"})
        assert r.status_code == 422 and r.json()["field"] == "reason"
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": clock.today().isoformat()})
        assert r.status_code == 409 and r.json()["field"] == "match_id"  # not accepted yet
    # Nothing already accepted changed: the proposal is still there, the bad opportunities are not.
    async with housing.pool.acquire() as conn:
        assert await conn.fetchval("select status from matches where match_id = $1", p["match_id"]) == "proposed"
        assert await conn.fetchval(f"select count(*) from opportunities where opportunity_id like 'o-bad-{uid}%'") == 0
    async with httpx.AsyncClient(base_url=housing.process.url, timeout=HTTP_TIMEOUT_S) as anonymous:
        r = await anonymous.get("/proposals")
        assert r.status_code == 401 and r.json()["field"] == "headers.authorization"


@pytest.mark.own_service  # counts the whole inbox (its events' ids are not the test's to filter by)
async def test_redelivered_intake_events_have_one_effect_and_other_cities_are_apart(housing: HousingUnderTest) -> None:
    await housing.publish("torino", *housing.household_events("h-r", "torino", [(ADULT, F), (CHILD, M)]), times=2)
    await housing.publish("trieste", *housing.household_events("h-t", "trieste", [(ADULT, F)], partner="coop-carso"))
    async with housing.client("staff-torino") as c:
        assert (
            await post(c, "/opportunities", opportunity("o-r", partner="coop-aurora", capacity=2))
        ).status_code == 201
    [p] = await proposals(housing, 1)
    assert p["household_id"] == "h-r"  # Trieste's household is never proposed a Torino opportunity
    # 7 + 5 distinct events (each person's consent to sharing too), duplicates ignored
    await housing.wait_sql("select count(*) from inbox", want=12)
    async with housing.pool.acquire() as conn:
        assert await conn.fetchval("select member_ids from households where household_id = 'h-r'") == [
            "h-r-p0",
            "h-r-p1",
        ]
    events = await housing.events(want=1, of_type=hev.MatchProposed.type)
    assert [e.household_id for e in events if isinstance(e, hev.MatchProposed)] == ["h-r"]


async def test_a_placement_starts_only_while_the_opportunity_is_available(housing: HousingUnderTest, uid: str) -> None:
    """From an outside test: a placement started before the opportunity's `available_from`. Refused (422 naming
    `started_on`), and so is one on or after its `available_until`; the accepted match stays as it was."""
    today = clock.today()
    await housing.publish("torino", *housing.household_events(f"h-early-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    later = (today + timedelta(days=20)).isoformat()  # inside the matching's 60-day horizon: it is proposed
    async with housing.client("coop-aurora") as c:
        assert (
            await post(c, "/opportunities", opportunity(f"o-later-{uid}", capacity=1, available_from=later))
        ).is_success
    [p] = await proposals(housing, 1, uid=uid)
    async with housing.client("coop-aurora") as c:
        assert (await c.post(f"/matches/{p['match_id']}/acceptance", json={})).status_code == 200
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": today.isoformat()})
        assert (r.status_code, r.json()["field"]) == (422, "started_on"), r.text
        assert f"available (from {later})" in r.json()["reason"]
        # Listed since a month, then the provider shortens it to today: a placement today comes too late.
        await housing.publish("torino", *housing.household_events(f"h-late-{uid}", "torino", [(ADULT, M)]))
        await open_cases(housing, uid, 2)
        since = (today - timedelta(days=30)).isoformat()
        assert (
            await post(c, "/opportunities", opportunity(f"o-ending-{uid}", capacity=1, available_from=since))
        ).is_success
    [q] = await proposals(housing, 1, uid=uid)
    assert q["household_id"] == f"h-late-{uid}"
    async with housing.client("coop-aurora") as c:
        assert (await c.post(f"/matches/{q['match_id']}/acceptance", json={})).status_code == 200
        r = await c.patch(f"/opportunities/o-ending-{uid}", json={"available_until": today.isoformat()})
        assert r.status_code == 200, r.text
        r = await post(c, f"/matches/{q['match_id']}/placement", {"started_on": today.isoformat()})
        assert (r.status_code, r.json()["field"]) == (422, "started_on"), r.text
        assert f"only until {today.isoformat()}" in r.json()["reason"]
    async with housing.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from placements where strpos(household_id, $1) > 0", uid) == 0
        statuses = await conn.fetchval(
            "select array_agg(distinct status) from matches where strpos(household_id, $1) > 0", uid
        )
        assert statuses == ["accepted"]


async def test_a_placement_waits_for_a_change_of_the_opportunity_under_way_and_checks_its_outcome(
    housing: HousingUnderTest, uid: str
) -> None:
    """The provider shortens the availability while a placement is being started: the placement read the
    opportunity without a lock, so it checked the old availability and started anyway (an outside review). It now
    waits for the change and checks what it leaves."""

    today = clock.today()
    await housing.publish("torino", *housing.household_events(f"h-race-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    since = (today - timedelta(days=30)).isoformat()
    async with housing.client("coop-aurora") as c:
        assert (
            await post(c, "/opportunities", opportunity(f"o-race-{uid}", capacity=1, available_from=since))
        ).is_success
    [p] = await proposals(housing, 1, uid=uid)
    async with housing.client("coop-aurora") as c:
        assert (await c.post(f"/matches/{p['match_id']}/acceptance", json={})).status_code == 200
        async with housing.pool.acquire() as conn, conn.transaction():
            # the provider's change, under way: the row is locked until this transaction ends
            await conn.execute(
                f"update opportunities set available_until = $1 where opportunity_id = 'o-race-{uid}'", today
            )
            placing = asyncio.create_task(post(c, f"/matches/{p['match_id']}/placement", {"started_on": str(today)}))
            await asyncio.sleep(1.0)
            assert not placing.done(), (await placing).text  # it waits for the change instead of reading around it
        r = await placing
        assert (r.status_code, r.json()["field"]) == (422, "started_on"), r.text
    async with housing.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from placements where strpos(household_id, $1) > 0", uid) == 0


async def test_a_step_is_not_dated_before_the_step_it_follows(housing: HousingUnderTest, uid: str) -> None:
    """A review as a housing operator: a decline of an accepted match was checked against the proposal's day, not the
    acceptance's, and a placement's end against its start, not the lease signed after it. A match accepted on the
    8th was declined "on the 5th", and a placement whose lease was signed on the 7th "ended on the 4th": the log said
    the steps in an order that cannot have happened. Each is refused, naming the field (422), nothing recorded."""
    today = clock.today()

    def day(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    await housing.publish("torino", *housing.household_events(f"h-back-{uid}", "torino", [(ADULT, F)]))
    await housing.publish("torino", *housing.household_events(f"h-end-{uid}", "torino", [(ADULT, M)]))
    await open_cases(housing, uid, 2)
    async with housing.client("coop-aurora") as c:
        for oid in (f"o-back-{uid}", f"o-end-{uid}"):
            assert (await post(c, "/opportunities", opportunity(oid, capacity=1, available_from=day(30)))).is_success
    ps = {p["household_id"]: p for p in await proposals(housing, 2, uid=uid)}
    # Both proposed ten days ago (as time passing would have left them).
    await housing.sql(
        "update matches set proposed_on = $1, step_since = $1 where strpos(household_id, $2) > 0",
        today - timedelta(days=10),
        uid,
    )
    back, end = ps[f"h-back-{uid}"]["match_id"], ps[f"h-end-{uid}"]["match_id"]
    async with housing.client("coop-aurora") as c:
        assert (await c.post(f"/matches/{back}/acceptance", json={"on": day(2)})).status_code == 200
        r = await c.post(f"/matches/{back}/decline", json={"by": "household", "reason": "too_far", "on": day(5)})
        assert (r.status_code, r.json().get("field")) == (422, "on"), r.text
        assert day(2) in r.json()["reason"], r.text
        assert (await c.get(f"/matches/{back}")).json()["status"] == "accepted"

        assert (await c.post(f"/matches/{end}/acceptance", json={"on": day(9)})).status_code == 200
        r = await post(c, f"/matches/{end}/placement", {"started_on": day(8)})
        assert r.status_code == 201, r.text
        placement_id = r.json()["placement_id"]
        lease = {"lease_type": "sub_lease", "monthly_rent_cents": 30_000, "deposit_cents": 0,
                 "start_date": day(8), "signed_on": day(3)}  # fmt: skip
        assert (await post(c, f"/placements/{placement_id}/lease", lease)).status_code == 201
        r = await c.post(f"/placements/{placement_id}/end", json={"reason": "moved", "ended_on": day(6)})
        assert (r.status_code, r.json().get("field")) == (422, "ended_on"), r.text
        assert day(3) in r.json()["reason"], r.text
        assert (await c.get(f"/matches/{end}")).json()["placement"]["ended_on"] is None


@pytest.mark.own_service  # the stalled-match check scans every city's matches
async def test_a_stalled_proposal_accepted_is_no_longer_reminded(housing: HousingUnderTest) -> None:
    """A review as a cooperative's operator: a proposal reminded as stalled, then accepted, stayed on the to-do list
    as "proposal waiting for an answer" (`GET /reminders`, step `proposed`), counting its days from the acceptance:
    accepting did not clear the reminder as the placement does. The step taken closes it; the acceptance then waits
    its own days and is reminded as `accepted` once they run out."""
    today = clock.today()
    await housing.publish("torino", *housing.household_events("h-late", "torino", [(ADULT, F)]))
    await housing.wait_open_cases(1)
    async with housing.client("coop-aurora") as c, housing.client("staff-torino") as staff:
        assert (await post(c, "/opportunities", opportunity("o-late", capacity=1))).status_code == 201
        [p] = await proposals(housing, 1)
        await housing.sql(
            "update matches set proposed_on = $1, step_since = $1 where match_id = $2",
            today - timedelta(days=20),
            p["match_id"],
        )
        [stalled] = (await staff.post("/matching/stalled-check", json={})).json()["stalled"]
        assert stalled["step"] == "proposed"
        assert [x["step"] for x in (await c.get("/reminders")).json()] == ["proposed"]
        assert (await c.post(f"/matches/{p['match_id']}/acceptance", json={})).status_code == 200
        assert (await c.get("/reminders")).json() == []
        assert (await staff.get("/reminders")).json() == []
        # The acceptance waits its own days: reminded once, as `accepted`.
        await housing.sql(
            "update matches set step_since = $1 where match_id = $2", today - timedelta(days=15), p["match_id"]
        )
        [again] = (await staff.post("/matching/stalled-check", json={})).json()["stalled"]
        assert (again["step"], again["waiting_days"]) == ("accepted", 15)
        assert [(x["step"], x["waiting_days"]) for x in (await c.get("/reminders")).json()] == [("accepted", 15)]


async def test_a_withdrawal_and_a_release_are_dated_when_they_happen(housing: HousingUnderTest, uid: str) -> None:
    """A review as a housing operator: a withdrawal's `on` and an unpark's `on` were taken as given. Withdrawing an
    opportunity "on 1990-01-01" declined its live proposal, made today, with a match_declined dated 1990 (before the
    proposal), and "on 2030-01-01" published a withdrawal and a release years ahead while both took effect at once.
    Each is a step: not before the step it follows (the listing, the live match's last step), not in the future."""
    today = clock.today()
    await housing.publish("torino", *housing.household_events(f"h-wd-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    future = (today + timedelta(days=30)).isoformat()
    async with housing.client("coop-aurora") as c:
        assert (await post(c, "/opportunities", opportunity(f"o-wd-{uid}", capacity=1))).status_code == 201
        [p] = await proposals(housing, 1, uid=uid)
        for on in ("1990-01-01", future):
            r = await c.post(f"/opportunities/o-wd-{uid}/withdrawal", json={"reason": "owner_sold", "on": on})
            assert (r.status_code, r.json().get("field")) == (422, "on"), r.text
        assert (await c.get(f"/matches/{p['match_id']}")).json()["status"] == "proposed"
        assert (await c.get(f"/opportunities/o-wd-{uid}")).json()["status"] == "open"
        until = (today + timedelta(days=10)).isoformat()
        assert (
            await c.post(f"/households/h-wd-{uid}/park", json={"reason": "hospitalised", "until": until})
        ).is_success
        r = await c.post(f"/households/h-wd-{uid}/unpark", json={"on": future})
        assert (r.status_code, r.json().get("field")) == (422, "on"), r.text
        assert (await c.get(f"/households/h-wd-{uid}/why")).json()["reasons"][0]["code"] == "parked"
        r = await c.post(f"/opportunities/o-wd-{uid}/withdrawal", json={"reason": "owner_sold"})
        assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    events = await mine(housing, uid, want=1, of_type=hev.OpportunityWithdrawn.type)
    assert [e.on for e in events if isinstance(e, hev.OpportunityWithdrawn)] == [today]
    assert not [e for e in events if isinstance(e, hev.HouseholdUnparked)]


async def test_a_proposal_published_on_housing_events_carries_no_special_category_data(
    housing: HousingUnderTest, uid: str
) -> None:
    """A review as a city's housing coordinator: needs assessments travel only on the restricted `intake.special`
    (payments, partners' tools and the national level do not read them: docs/operators.md, "Special-category data"),
    but match_proposed on `housing.events`, which payments and the national level read, said them again in its
    explanation: "needs a specialist team" (psychiatric or addiction support), "needs accessible housing" and the
    household's monthly income ("40% of income 1234.56 EUR"). The published lines say only the opportunity's side;
    the city's staff still read the full explanation over HTTP."""
    needs = {"income": 123_456, "specialist": True, "accessibility": True}
    await housing.publish("torino", *housing.household_events(f"h-care-{uid}", "torino", [(ADULT, M)], **needs))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-aurora") as c:
        o = opportunity(f"o-care-{uid}", capacity=1, accessible=True, support_level="specialist_team")
        assert (await post(c, "/opportunities", o)).status_code == 201
    [p] = await proposals(housing, 1, uid=uid)
    events = await mine(housing, uid, want=1, of_type=hev.MatchProposed.type)
    [proposed] = [e for e in events if isinstance(e, hev.MatchProposed)]
    published = " | ".join(f"{x.rule}: {x.detail}" for x in proposed.explanation)
    for said in ("needs", "1234.56", "income"):
        assert said not in published, published
    assert {x.rule for x in proposed.explanation} >= {"specialist_support", "accessibility", "affordability"}
    assert all(x.passed for x in proposed.explanation)
    full = {x["rule"]: x["detail"] for x in p["explanation"]}  # the staff's read: the whole reason
    assert "needs a specialist team" in full["specialist_support"] and "1234.56" in full["affordability"], full
    # The score's terms said the same data as numbers: "vulnerability" (2 points each: how many), "situation" (4:
    # homeless), "urgency" (an eviction close), and so did the priority, their sum (and the score, priority x fit):
    # the fact (v2) carries the fit only; the staff read the terms, the priority and the score.
    assert set(proposed.score_breakdown) == {"fit", "fit_unused_capacity", "fit_language"}, proposed
    assert proposed.score is None
    assert p["score"] == pytest.approx(p["score_breakdown"]["priority"] * p["score_breakdown"]["fit"], abs=1e-5)
    assert p["score_breakdown"]["situation"] == 4.0, p  # homeless, in housing's own record


@pytest.mark.own_service  # reconfigures the city (PUT /rules: max_hold_days)
async def test_a_hold_has_an_end_within_the_citys_limit(housing: HousingUnderTest) -> None:
    """A review as a city's housing coordinator: a household was parked "until 9999-12-31" (200): a hold that never
    expires, the household off the list for good while the desk said "in sospeso fino al 31 dic 9999". A hold ends
    within the city's `max_hold_days` (default 180), else 422 naming `until`; the city's staff may set another limit."""
    today = clock.today()
    await housing.publish("torino", *housing.household_events("h-hold", "torino", [(ADULT, F)]))
    await housing.wait_open_cases(1)
    async with housing.client("coop-aurora") as c, housing.client("staff-torino") as staff:
        # From an outside test: `bogus` was a hold's reason, shown raw at the desk. Reasons are codes of `hold_reason`.
        r = await c.post("/households/h-hold/park", json={"reason": "bogus", "until": str(today + timedelta(days=30))})
        assert (r.status_code, r.json().get("field")) == (422, "reason"), r.text
        assert "unknown hold_reason code 'bogus'" in r.json()["reason"] and "temporarily_away" in r.json()["reason"]
        r = await c.post("/households/h-hold/park", json={"reason": "hospitalised", "until": "9999-12-31"})
        assert (r.status_code, r.json().get("field")) == (422, "until"), r.text
        assert "180" in r.json()["reason"], r.text
        last = (today + timedelta(days=180)).isoformat()
        r = await c.post("/households/h-hold/park", json={"reason": "hospitalised", "until": last})
        assert r.status_code == 200, r.text
        rules = (await staff.get("/rules")).json()
        assert rules["max_hold_days"] == 180, rules
        r = await staff.put("/rules", json={k: v for k, v in rules.items() if k != "city"} | {"max_hold_days": 400})
        assert r.status_code == 200, r.text
        longer = (today + timedelta(days=400)).isoformat()
        r = await c.post("/households/h-hold/park", json={"reason": "temporarily_away", "until": longer})
        assert r.status_code == 200, r.text
        r = await staff.put("/rules", json={k: v for k, v in rules.items() if k != "city"} | {"max_hold_days": 4000})
        assert (r.status_code, r.json().get("field")) == (422, "max_hold_days"), r.text


async def test_staff_list_an_opportunity_only_for_a_partner_of_their_city(housing: HousingUnderTest, uid: str) -> None:
    """A review as a city's housing coordinator: Torino's staff listed a Torino opportunity owned by Trieste's
    cooperative (`partner: coop-carso`) and one owned by a partner no deployment knows (`no-such-coop`), both 201.
    Neither owner can ever act on it (the provider side of its matches, its changes, its withdrawal): another city's
    partner is refused in Torino, an unknown one has no account. The owner is a partner of the staff's city (onboarded
    in housing, docs/operators.md): any other is one 422 naming `partner`, said as for a partner no one knows (another
    city's partner was a 403 "coop-carso is a partner of trieste": which cooperatives another city works with, told
    to whoever asked); nothing is listed."""
    async with housing.client("staff-torino") as staff:
        said = set()
        for owner in ("coop-carso", "no-such-coop", "staff-trieste"):
            r = await post(staff, "/opportunities", opportunity(f"o-{owner}-{uid}", partner=owner))
            assert (r.status_code, r.json().get("field")) == (422, "partner"), r.text
            assert "torino" in r.json()["reason"], r.text
            said.add(r.json()["reason"].replace(owner, "X"))
        assert len(said) == 1, said
        r = await post(staff, "/opportunities", opportunity(f"o-borgo-{uid}", partner="coop-borgo"))
        assert r.status_code == 201, r.text
    async with housing.pool.acquire() as conn:
        mine = "select array_agg(opportunity_id) from opportunities where strpos(opportunity_id, $1) > 0"
        assert await conn.fetchval(mine, uid) == [f"o-borgo-{uid}"]


async def test_an_opportunity_id_taken_by_another_city_or_partner_is_answered_as_one_that_cannot_be_used(
    housing: HousingUnderTest, uid: str
) -> None:
    """Opportunities' ids are the partners' and unique per deployment: a Torino partner listing one under a Trieste
    opportunity's id was answered 409 "opportunity <id> is already listed" while a GET of it is a 404 — an existence
    oracle. Another city's id, and another partner's of the city, are said alike; the holder and the city's staff are
    told precisely (docs/partners.md, "Ids")."""
    ids = {who: f"o-{who}-{uid}" for who in ("coop-carso", "coop-borgo", "coop-aurora")}
    for who, oid in ids.items():
        async with housing.client(who) as c:
            assert (await post(c, "/opportunities", opportunity(oid))).status_code == 201
    async with housing.client("coop-aurora") as aurora, housing.client("staff-torino") as staff:
        answers = {}
        for who, oid in ids.items():
            r = await post(aurora, "/opportunities", opportunity(oid))
            answers[who] = (r.status_code, r.json().get("field"), r.json().get("reason"))
        r = await post(staff, "/opportunities", opportunity(ids["coop-borgo"], partner="coop-borgo"))
        by_staff = (r.status_code, r.json().get("field"), r.json().get("reason"))
    taken = (409, "opportunity_id", ID_TAKEN)
    assert answers == {
        "coop-carso": taken,
        "coop-borgo": taken,
        "coop-aurora": (409, "opportunity_id", f"opportunity {ids['coop-aurora']} is already listed"),
    }
    assert by_staff == (409, "opportunity_id", f"opportunity {ids['coop-borgo']} is already listed")


async def accepted(housing: HousingUnderTest, uid: str, hid: str, oid: str) -> dict[str, Any]:
    """A woman alone (Torino, coop-aurora's case) proposed a one-place room `oid` and accepting it: the match."""
    await housing.publish("torino", *housing.household_events(hid, "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-aurora") as c:
        assert (await post(c, "/opportunities", opportunity(oid, capacity=1))).status_code == 201
        [p] = await proposals(housing, 1, uid=uid)
        assert (await c.post(f"/matches/{p['match_id']}/acceptance", json={})).status_code == 200
    return p


async def test_why_says_compatible_housing_is_occupied_not_won_by_the_city_wide_total(
    housing: HousingUnderTest, uid: str
) -> None:
    """A review as a city's housing coordinator ("perché questo nucleo non trova casa?"): the only compatible
    opportunity had a household living there since before this one asked, and `why` said `taken_by_others`, "went to
    households whose priority-weighted fit made the city-wide total higher": no matching ever weighed the two (live
    matches are kept as they are). An accepted or placed match occupies the housing: `occupied` says so."""
    p = await accepted(housing, uid, f"h-in-{uid}", f"o-home-{uid}")
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": clock.today().isoformat()})
        assert r.status_code == 201, r.text
    await housing.publish("torino", *housing.household_events(f"h-after-{uid}", "torino", [(ADULT, M)]))
    await open_cases(housing, uid, 2)
    async with housing.client("staff-torino") as staff:
        why = (await staff.get(f"/households/h-after-{uid}/why")).json()
        assert [r["code"] for r in why["reasons"]] == ["occupied"], why
        assert f"o-home-{uid}" in why["reasons"][0]["detail"] and "priority" not in why["reasons"][0]["detail"], why


async def test_an_accepted_match_the_household_no_longer_fits_is_not_placed(
    housing: HousingUnderTest, uid: str
) -> None:
    """A review as a housing operator: a woman alone accepted a one-place room; her child then joined the household at
    intake. Proposals the household no longer fits are withdrawn, but an accepted match was placed as it was: a
    household of two moved into a one-place room (the capacity rule broken by a placement). The placement is refused
    (409 naming `match_id`, the rule that fails said), nothing placed; the match can be declined and re-matched."""
    p = await accepted(housing, uid, f"h-grow-{uid}", f"o-single-{uid}")
    child = iev.PersonRegistered(
        person_id=f"h-grow-{uid}-p1", household_id=f"h-grow-{uid}", registered_by="coop-aurora", birth_date=CHILD,
        sex=M, nationality="NG")  # fmt: skip
    joined = iev.HouseholdMemberJoined(
        household_id=f"h-grow-{uid}", person_id=f"h-grow-{uid}-p1", reason="birth", on=clock.today()
    )
    sharing = iev.ConsentRecorded(  # as a partner records it when adding a member (the desk asks for it)
        person_id=f"h-grow-{uid}-p1",
        purpose=iev.ConsentPurpose.PARTNER_SHARING,
        granted=True,
        recorded_on=clock.today(),
    )
    await housing.publish("torino", child, sharing, joined)
    await housing.wait_sql(
        f"select cardinality(member_ids) from households where household_id = 'h-grow-{uid}'", want=2
    )
    await housing.wait_sql(f"select granted from partner_sharing where person_id = 'h-grow-{uid}-p1'")
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": clock.today().isoformat()})
        assert (r.status_code, r.json().get("field")) == (409, "match_id"), r.text
        assert "capacity" in r.json()["reason"], r.text
        assert (await c.get(f"/matches/{p['match_id']}")).json()["status"] == "accepted"
    async with housing.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from placements where strpos(household_id, $1) > 0", uid) == 0


# What a household's special-category data (operators.md: vulnerabilities, specialist support, income; accessibility
# needs are health data too) says in a proposal's explanation and score breakdown.
HOUSEHOLD_SPECIAL = ("specialist_support", "affordability", "accessibility")
NEED_TO_KNOW_SCORES = ("vulnerability", "situation", "urgency", "priority")


def in_care(housing: HousingUnderTest, hid: str, **extra: Any) -> list[Any]:
    """A woman alone in Torino whose assessment says special-category needs: a psychiatric condition (a specialist
    team), accessibility, an income of 1150.00 EUR."""
    needs = {
        "income": 115_000,
        "specialist": True,
        "accessibility": True,
        "vulnerabilities": ("psychiatric_condition",),
    }
    return housing.household_events(hid, "torino", [(ADULT, F)], **needs, **extra)


async def test_a_proposals_special_category_details_reach_only_the_case_side(
    housing: HousingUnderTest, uid: str
) -> None:
    """A DPO's review: the provider-side partner (coop-borgo lists the room, the case is coop-aurora's) read through
    `GET /proposals` and `GET /matches/{id}` the household's income ("40% of income 1150.00 EUR"), "needs a
    specialist team" (a psychiatric condition or an addiction) and its vulnerability score, and `match_proposed` on
    `housing.events` (read by payments and the national level, which operators.md says no longer see them) carried
    the same in clear. The provider and the fact get the rule and whether it passed; the city's staff and the case's
    partner keep the whole explanation."""
    await housing.publish("torino", *in_care(housing, f"h-care-{uid}"))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-borgo") as provider:
        r = await post(
            provider,
            "/opportunities",
            opportunity(
                f"o-care-{uid}", capacity=1, partner="coop-borgo", support_level="specialist_team", accessible=True
            ),
        )
        assert r.status_code == 201, r.text
    [full] = await proposals(housing, 1, uid=uid)
    details = {x["rule"]: x["detail"] for x in full["explanation"]}
    assert "of income 1150.00 EUR" in details["affordability"] and "specialist team" in details["specialist_support"]
    async with housing.client("coop-aurora") as case_side:
        [own] = (await case_side.get("/proposals")).json()
        assert own["explanation"] == full["explanation"] and own["score_breakdown"] == full["score_breakdown"]
    async with housing.client("coop-borgo") as provider:
        [listed] = (await provider.get("/proposals")).json()
        one = (await provider.get(f"/matches/{listed['match_id']}")).json()
    for seen in (listed, one):
        shown = {x["rule"]: x for x in seen["explanation"]}
        assert set(shown) == set(details) and all(x["passed"] for x in shown.values())
        for rule in HOUSEHOLD_SPECIAL:
            assert shown[rule]["detail"] != details[rule], shown[rule]
        assert not set(NEED_TO_KNOW_SCORES) & set(seen["score_breakdown"]), seen["score_breakdown"]
        assert "1150" not in str(seen) and "specialist team" not in str(seen).replace("specialist_team", "")
    events = await mine(housing, uid, want=1, of_type=hev.MatchProposed.type)
    [fact] = [e for e in events if isinstance(e, hev.MatchProposed)]
    text = fact.model_dump_json()
    assert "1150" not in text and "needs a specialist team" not in text and "needs accessible" not in text, text
    # the fact: the opportunity's side of each rule, and of the score only the priority and the fit
    assert set(fact.score_breakdown) <= set(explain.PUBLISHED_SCORE), fact.score_breakdown


async def test_only_the_households_side_accepts_a_proposal(housing: HousingUnderTest, uid: str) -> None:
    """A housing coordinator's review: coop-borgo, which lists the room, accepted the proposal made to coop-aurora's
    household (200), although the household's operator had never answered: the provider answered for the household.
    Accepting is the household's side (its case's partner, or the city's staff); the provider may decline."""
    await housing.publish("torino", *housing.household_events(f"h-own-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-borgo") as provider:
        r = await post(provider, "/opportunities", opportunity(f"o-own-{uid}", capacity=1, partner="coop-borgo"))
        assert r.status_code == 201, r.text
    [proposal] = await proposals(housing, 1, uid=uid)
    async with housing.client("coop-borgo") as provider:
        r = await provider.post(f"/matches/{proposal['match_id']}/acceptance", json={})
        assert (r.status_code, r.json()["field"]) == (403, "match_id"), r.text
        assert "household side" in r.json()["reason"]
    async with housing.client("coop-aurora") as case_side:
        r = await case_side.post(f"/matches/{proposal['match_id']}/acceptance", json={})
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text


async def test_a_lease_is_not_signed_above_the_opportunitys_rent(housing: HousingUnderTest, uid: str) -> None:
    """A housing coordinator's review: the room was proposed and accepted at 300.00 EUR a month (the rent the
    affordability rule weighed), and its lease was signed at 450.00 EUR (201): payments then paid 450.00 EUR of rent.
    The opportunity's rent is the agreed rent: a lease above it is refused (422 naming `monthly_rent_cents`, both
    rents said), nothing recorded; a lower rent is signed; a higher one after the opportunity's rent was changed
    (PATCH, an `opportunity_updated` fact the city sees). Raising the rent of housing a household has accepted or lives
    in is the city's staff's (the city pays the rent; the household said yes to the old one): the provider's own raise
    is refused (403 naming `monthly_rent_cents`), else "update the opportunity first" would let the provider alone
    raise the rent the city pays."""
    p = await accepted(housing, uid, f"h-rent-{uid}", f"o-rent-{uid}")  # the room at opportunity()'s 300.00 EUR
    today = clock.today().isoformat()
    lease = {"lease_type": "lease", "deposit_cents": 0, "start_date": today, "signed_on": today}
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": today})
        assert r.status_code == 201, r.text
        placement_id = r.json()["placement_id"]
        r = await post(c, f"/placements/{placement_id}/lease", lease | {"monthly_rent_cents": 45_000})
        assert (r.status_code, r.json().get("field")) == (422, "monthly_rent_cents"), r.text
        assert "450.00 EUR" in r.json()["reason"] and "300.00 EUR" in r.json()["reason"], r.text
        assert (await c.get(f"/matches/{p['match_id']}")).json()["placement"]["lease"] is None
        r = await c.patch(
            f"/opportunities/o-rent-{uid}", json={"monthly_rent_cents": 45_000}
        )  # the provider's own raise
        assert (r.status_code, r.json().get("field")) == (403, "monthly_rent_cents"), r.text
        assert (await c.patch(f"/opportunities/o-rent-{uid}", json={"monthly_rent_cents": 29_000})).status_code == 200
    async with housing.client("staff-torino") as staff:  # the coordinator agrees the raise (and its rent support:
        raised = {"monthly_rent_cents": 45_000, "above_affordable": True}  # her 1,000.00 EUR afford 400.00 EUR)
        r = await staff.patch(f"/opportunities/o-rent-{uid}", json=raised)
        assert r.status_code == 200, r.text
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/placements/{placement_id}/lease", lease | {"monthly_rent_cents": 45_000})
        assert r.status_code == 201, r.text
    events = await mine(housing, uid, want=1, of_type=hev.LeaseSigned.type)
    assert [e.monthly_rent_cents for e in events if isinstance(e, hev.LeaseSigned)] == [45_000]


async def test_a_staff_raise_above_what_the_household_affords_is_confirmed_not_silent(
    housing: HousingUnderTest, uid: str
) -> None:
    """A housing coordinator's review: the staff raised the rent of the room a woman lives in from 300.00 to
    450.00 EUR (200, nothing said), while the city's rule gives her 400.00 EUR (40% of her 1,000.00 EUR income, no
    planned contribution): the affordability the proposal was checked on no longer held, and nobody was told. A raise
    above what the household that accepted or lives there affords is refused (409 naming `monthly_rent_cents`, the
    limit and the rule said), unless the staff confirm it (`above_affordable: true`: its rent support covers the
    difference); a raise within it passes as before."""
    p = await accepted(
        housing, uid, f"h-afford-{uid}", f"o-afford-{uid}"
    )  # the room at 300.00 EUR, her income 1,000.00 EUR
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": clock.today().isoformat()})
        assert r.status_code == 201, r.text
    async with housing.client("staff-torino") as staff:
        r = await staff.patch(f"/opportunities/o-afford-{uid}", json={"monthly_rent_cents": 45_000})
        assert (r.status_code, r.json().get("field")) == (409, "monthly_rent_cents"), r.text
        assert "400.00 EUR" in r.json()["reason"] and "above_affordable" in r.json()["reason"], r.text
        assert (await staff.get(f"/opportunities/o-afford-{uid}")).json()[
            "monthly_rent_cents"
        ] == 30_000  # nothing changed
        r = await staff.patch(f"/opportunities/o-afford-{uid}", json={"monthly_rent_cents": 40_000})  # within it
        assert r.status_code == 200, r.text
        r = await staff.patch(
            f"/opportunities/o-afford-{uid}", json={"monthly_rent_cents": 45_000, "above_affordable": True}
        )
        assert (r.status_code, r.json()["monthly_rent_cents"]) == (200, 45_000), r.text


async def test_a_lease_below_the_opportunitys_rent_is_signed(housing: HousingUnderTest, uid: str) -> None:
    """A rent negotiated down from the opportunity's (300.00 EUR) is signed as agreed."""
    p = await accepted(housing, uid, f"h-less-{uid}", f"o-less-{uid}")
    today = clock.today().isoformat()
    async with housing.client("coop-aurora") as c:
        r = await post(c, f"/matches/{p['match_id']}/placement", {"started_on": today})
        assert r.status_code == 201, r.text
        lease = {"lease_type": "lease", "monthly_rent_cents": 25_000, "deposit_cents": 0, "start_date": today,
                 "signed_on": today}  # fmt: skip
        r = await post(c, f"/placements/{r.json()['placement_id']}/lease", lease)
        assert r.status_code == 201 and r.json()["monthly_rent_cents"] == 25_000, r.text


async def test_an_opportunitys_end_date_and_area_can_be_cleared(housing: HousingUnderTest, uid: str) -> None:
    """A housing coordinator's review: an opportunity listed "until 2027-06-30" in area "san_salvario" became open-
    ended and its area was wrong, but `PATCH {"available_until": null}` meant "nothing to change" (400-ish: nothing
    to change) and there was no way to clear either. `clear: [...]` names the optional fields to empty; the change
    travels as `opportunity_updated` v2 with `cleared`; a field both given and cleared, or one that is not optional,
    is refused naming `clear`."""
    today = clock.today()
    until = (today + timedelta(days=200)).isoformat()
    async with housing.client("coop-aurora") as c:
        r = await post(c, "/opportunities", opportunity(f"o-clear-{uid}", available_until=until, area="san_salvario"))
        assert r.status_code == 201, r.text
        r = await c.patch(f"/opportunities/o-clear-{uid}", json={"clear": ["capacity"]})
        assert (r.status_code, r.json().get("field")) == (422, "clear.0"), r.text
        r = await c.patch(f"/opportunities/o-clear-{uid}", json={"area": "borgo_po", "clear": ["area"]})
        assert (r.status_code, r.json().get("field")) == (422, "clear"), r.text
        r = await c.patch(f"/opportunities/o-clear-{uid}", json={"clear": ["available_until", "area"]})
        assert r.status_code == 200, r.text
        assert (r.json()["available_until"], r.json()["area"]) == (None, None), r.json()
        assert (await c.get(f"/opportunities/o-clear-{uid}")).json()["available_until"] is None
        r = await c.patch(f"/opportunities/o-clear-{uid}", json={"area": None})  # null still means: nothing to change
        assert r.status_code == 422, r.text
    events = await mine(housing, uid, want=1, of_type=hev.OpportunityUpdated.type)
    [updated] = [e for e in events if isinstance(e, hev.OpportunityUpdated)]
    assert sorted(updated.cleared) == ["area", "available_until"], updated
    assert (updated.available_until, updated.area) == (None, None)


async def test_a_published_proposal_carries_no_priority_and_the_provider_reads_no_score(
    housing: HousingUnderTest, uid: str
) -> None:
    """A DPO's review: `match_proposed` carried `score` (priority x fit) and `score_breakdown.priority`; the priority
    is 1 + 2 a vulnerability + 4 homeless + 3 facing eviction + an eviction's urgency + minors + waiting, so whoever
    reads `housing.events` (payments, the national level, auditors) read the household's needs assessment as a
    number, and the provider-side partner read it over HTTP as score / fit. The fact (v2) carries the fit only; the
    provider reads no score; the city's staff and the case's partner still do."""
    await housing.publish(
        "torino",
        *housing.household_events(f"h-prio-{uid}", "torino", [(ADULT, F)], vulnerabilities=("psychiatric_condition",)),
    )
    await open_cases(housing, uid, 1)
    async with housing.client("coop-borgo") as provider:
        r = await post(provider, "/opportunities", opportunity(f"o-prio-{uid}", capacity=1, partner="coop-borgo"))
        assert r.status_code == 201, r.text
    [full] = await proposals(housing, 1, uid=uid)
    assert full["score"] > 0 and full["score_breakdown"]["priority"] > 1
    async with housing.client("coop-borgo") as provider:
        [listed] = (await provider.get("/proposals")).json()
        one = (await provider.get(f"/matches/{listed['match_id']}")).json()
    for seen in (listed, one):
        assert seen.get("score") is None and "priority" not in seen["score_breakdown"], seen
    events = await mine(housing, uid, want=1, of_type=hev.MatchProposed.type)
    [fact] = [e for e in events if isinstance(e, hev.MatchProposed)]
    assert hev.MatchProposed.version == 2 and fact.score is None, fact
    assert set(fact.score_breakdown) == {"fit", "fit_unused_capacity", "fit_language"}, fact.score_breakdown


@pytest.mark.own_service  # runs migration housing-4 over whole tables
async def test_an_erased_members_household_keeps_no_special_category_data_in_housing(housing: HousingUnderTest) -> None:
    """A DPO's review of housing's tables after `person_erased`: the person's row went and the household left the
    list, but its case still held the vulnerabilities ("psychiatric_condition"), the income, specialist-support and
    accessibility needs and the eviction date, and its proposal's explanation said them ("of income 1150.00 EUR",
    "needs a specialist team") with the vulnerability score, for the city's staff to read. They go with the
    erasure: the case keeps its ids and dates, the proposal its rules, whether each passed, and its fit."""
    await housing.publish("torino", *in_care(housing, "h-gone", eviction=clock.today() + timedelta(days=20)))
    await housing.wait_open_cases(1)
    async with housing.client("coop-borgo") as provider:
        listed = opportunity(
            "o-gone", capacity=1, partner="coop-borgo", support_level="specialist_team", accessible=True
        )
        assert (await post(provider, "/opportunities", listed)).status_code == 201
    [proposal] = await proposals(housing, 1)
    needs = "vulnerabilities, specialist_support, accessibility_needs, eviction_date, monthly_income_cents"
    async with housing.pool.acquire() as conn:
        as_assessed = await conn.fetchrow(f"select {needs} from cases where case_id = 'h-gone-case'")
        as_proposed = await conn.fetchrow(
            "select explanation, score_breakdown from matches where household_id = 'h-gone'"
        )
    await housing.publish("torino", iev.PersonErased(person_id="h-gone-p0", erased_on=clock.today()))
    await housing.wait_sql("select removed is not null from cases where case_id = 'h-gone-case'")
    async with housing.pool.acquire() as conn:
        case = dict(await conn.fetchrow("select * from cases where case_id = 'h-gone-case'"))
        match = await conn.fetchval("select row_to_json(m)::text from matches m where household_id = 'h-gone'")
    assert case["vulnerabilities"] == [] and case["eviction_date"] is None, case
    assert not case["specialist_support"] and not case["accessibility_needs"] and case["monthly_income_cents"] == 0
    assert "1150" not in match and "specialist team" not in match.replace("specialist_team", ""), match
    assert not set(NEED_TO_KNOW_SCORES) & set(json.loads(match)["score_breakdown"]), match
    async with housing.client("staff-torino") as staff:
        seen = (await staff.get(f"/matches/{proposal['match_id']}")).json()
    assert {x["rule"] for x in seen["explanation"]} == {x["rule"] for x in proposal["explanation"]}
    assert "1150" not in str(seen) and "psychiatric" not in str(seen), seen
    # A household erased before this release, as it was then: migration housing-4 leaves what the erasure leaves.
    async with housing.pool.acquire() as conn:
        erased = [await conn.fetchval(f"select row_to_json(x)::jsonb from {t} x where household_id = 'h-gone'")
                  for t in ("cases", "matches")]  # fmt: skip
        await conn.execute(
            "update cases set (vulnerabilities, specialist_support, accessibility_needs, eviction_date,"
            " monthly_income_cents) = ($1, $2, $3, $4, $5) where case_id = 'h-gone-case'",
            *as_assessed.values(),
        )
        await conn.execute("update matches set explanation = $1, score_breakdown = $2", *as_proposed.values())
        await conn.execute(dict(schema.MIGRATIONS)["housing-4"])
        for t, row in zip(("cases", "matches"), erased, strict=True):
            assert await conn.fetchval(f"select row_to_json(x)::jsonb from {t} x where household_id = 'h-gone'") == row


async def test_a_households_facts_of_before_an_erasure_that_arrive_after_it_get_its_treatment(
    housing: HousingUnderTest, uid: str
) -> None:
    """Intake's topics and partitions are read apart: rebuilt from the log (or behind after an outage), housing may
    read a person's erasure before their household's formation, case and assessment. The household was then listed
    and matched with the erased member's needs, proposal and all. Now it gets the erasure's treatment: off the list,
    no needs details, no proposal."""
    async with housing.client("coop-borgo") as provider:
        listed = opportunity(
            f"o-late-{uid}", capacity=1, partner="coop-borgo", support_level="specialist_team", accessible=True
        )
        assert (await post(provider, "/opportunities", listed)).status_code == 201
    person, *household = in_care(housing, f"h-late-{uid}")
    await housing.publish("torino", person, iev.PersonErased(person_id=person.person_id, erased_on=clock.today()))
    await housing.wait_sql("select count(*) from persons where person_id = $1", person.person_id, want=0)
    await housing.wait_sql("select count(*) from erased_persons where person_id = $1", person.person_id, want=1)
    await housing.publish("torino", *household)
    await housing.wait_sql(f"select count(*) from cases where household_id = 'h-late-{uid}' and assessed", want=1)
    async with housing.pool.acquire() as conn:
        case = dict(await conn.fetchrow(f"select * from cases where household_id = 'h-late-{uid}'"))
        proposed = await conn.fetchval(f"select count(*) from matches where household_id = 'h-late-{uid}'")
    assert case["removed"] is not None and case["vulnerabilities"] == [] and not case["specialist_support"], case
    assert proposed == 0


IDENTIFYING = ("RSSMRA85T10A562S", "IT60X0542811101000000123456", "maria.rossi@example.org", "+39 347 1234567")


async def test_an_id_or_code_in_clear_holding_identifying_data_is_refused(housing: HousingUnderTest, uid: str) -> None:
    """A DPO's review (DESIGN section 5): an opportunity's id travels in clear on housing's topic (listed, proposals,
    placements) and into reporting, and no erasure reaches it. A cooperative's system keys a flat by its landlord's
    fiscal code: listed under it, it was taken (201), as were a district (`area`) and the coded reasons of a
    withdrawal, a decline and a household's hold that were a fiscal code in lower case. A new opportunity's id holding a
    fiscal code, an IBAN, an e-mail address or a phone number is refused at its field, so is such a code; nothing is
    listed, declined, withdrawn or held."""
    await housing.publish("torino", *housing.household_events(f"h-dpo-{uid}", "torino", [(ADULT, F)]))
    await open_cases(housing, uid, 1)
    async with housing.client("coop-aurora") as c:
        for oid in IDENTIFYING:
            r = await post(c, "/opportunities", opportunity(oid))
            assert (r.status_code, r.json().get("field")) == (422, "opportunity_id"), r.text
            assert "identifiers travel in clear and are never erased" in r.json()["reason"], r.text
        r = await post(c, "/opportunities", opportunity(f"o-dpo-{uid}", area="rssmra85t10a562s"))
        assert (r.status_code, r.json().get("field")) == (422, "area"), r.text
        assert (await post(c, "/opportunities", opportunity(f"o-dpo-{uid}", area="borgo-po"))).status_code == 201
        [p] = await proposals(housing, 1, uid=uid)
        r = await post(c, f"/matches/{p['match_id']}/decline", {"by": "provider", "reason": "rssmra85t10a562s"})
        assert (r.status_code, r.json().get("field")) == (422, "reason"), r.text
        r = await post(c, f"/opportunities/o-dpo-{uid}/withdrawal", {"reason": "rssmra85t10a562s"})
        assert (r.status_code, r.json().get("field")) == (422, "reason"), r.text
        until = (clock.today() + timedelta(days=30)).isoformat()
        r = await post(c, f"/households/h-dpo-{uid}/park", {"reason": "it60x0542811101000000123456", "until": until})
        assert (r.status_code, r.json().get("field")) == (422, "reason"), r.text
    async with housing.pool.acquire() as conn:
        tried = [*IDENTIFYING, f"o-dpo-{uid}"]  # every id this test listed or tried to
        listed = "select array_agg(opportunity_id) from opportunities where opportunity_id = any($1)"
        assert await conn.fetchval(listed, tried) == [f"o-dpo-{uid}"]
        assert (
            await conn.fetchval(f"select status from opportunities where opportunity_id = 'o-dpo-{uid}'") != "withdrawn"
        )
        assert await conn.fetchval("select status from matches where match_id = $1", p["match_id"]) == "proposed"


async def test_a_date_of_no_calendar_day_is_refused_with_the_documented_reason(
    housing: HousingUnderTest, uid: str
) -> None:
    """A date in YYYY-MM-DD form with no such day was answered in Python's words ("day is out of range for month")."""
    async with housing.client("coop-aurora") as c:
        for day in ("2026-02-30", "2026-31-12"):
            r = await post(c, "/opportunities", opportunity(f"o-day-{uid}", available_from=day))
            assert r.status_code == 422 and {"field": "available_from", "reason": DATE_REASON} in r.json()["errors"]
