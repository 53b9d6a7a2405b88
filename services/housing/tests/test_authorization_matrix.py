"""Housing's authorisation matrix: every route of the app by (the case's partner, another partner of the city, the
city's staff, another city's staff, the national role, no token), against the rules declared below — one rule per
route, so a new route without one fails. The case's partner here also owns the opportunities (provider side)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any, cast

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_housing.service_layer.intake_events import HANDLERS
from lgnet_shared import clock
from lgnet_shared.events import Event
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.authz import (
    AUTHENTICATED,
    CASE,
    CITY,
    EVERYONE,
    STAFF,
    Attempt,
    Caller,
    Rule,
    World,
    assert_matrix,
    run_matrix,
)
from lgnet_shared.testing.inprocess import InProcessService, in_process
from lgnet_shared.testing.plugin import own_or_shared

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
A, B, STAFF_TO = "coop-aurora", "coop-borgo", "staff-torino"


# A module's one in-process housing (`shared_service`), or a test's own (`own_service`): the in-process modules of
# housing's tests (this one, test_household_entry.py, test_races.py) take these fixtures from here.
@pytest.fixture
def housing(request: pytest.FixtureRequest) -> InProcessService:
    return cast(InProcessService, own_or_shared(request, "housing"))


@pytest.fixture
async def housing_own(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        yield service


@pytest.fixture(scope="module")
async def housing_shared(database_url: str, module_pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, module_pg_schema, check_answers=True) as service:
        yield service


@pytest.fixture
async def housing_view(housing_shared: InProcessService) -> InProcessService:
    await close_what_is_live(housing_shared.pool)
    return housing_shared


async def close_what_is_live(pool: Any) -> None:
    """Matching is city-wide, and so are the waiting lists and reminders: what the tests before left live (open
    cases, open opportunities, live matches, holds) is closed before a test on a shared housing, as if housing had
    just started, so that its matching weighs only its own households and opportunities; closed before, not after,
    so that a test that failed halfway leaves nothing to the next. Only earlier tests' rows change."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("update matches set status = 'cancelled' where status in ('proposed', 'accepted', 'placed')")
        await conn.execute("update opportunities set status = 'withdrawn' where status = 'open'")
        await conn.execute("update cases set closed_on = $1 where closed_on is null", clock.today())
        await conn.execute("delete from holds")


def intake_events(hid: str, cid: str) -> list[Event]:
    """What intake publishes for one Torino household of one adult with a housing need, assigned to A (her consent to
    sharing with partners recorded with her registration, as the desk and a partner record it)."""
    pid = f"{hid}-p"
    return [
        iev.PersonRegistered(
            person_id=pid, registered_by=A, birth_date=date(1985, 1, 1), sex=iev.Sex.FEMALE, nationality="NG"
        ),
        iev.ConsentRecorded(
            person_id=pid, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=True, recorded_on=clock.today()
        ),
        iev.HouseholdFormed(household_id=hid, city="torino", reference_person_id=pid, member_ids=[pid]),
        iev.CaseOpened(
            case_id=cid,
            household_id=hid,
            city="torino",
            action_area=iev.ActionArea.HOUSING_INCLUSION,
            channel=iev.Channel.DESK,
            partner=A,
            opened_on=clock.today(),
            housing_need=True,
        ),
        iev.NeedsAssessed(
            case_id=cid,
            household_id=hid,
            housing_situation=iev.HousingSituation.HOMELESS,
            monthly_income_cents=150_000,
            employment_status=iev.EmploymentStatus.EMPLOYED_FIXED_TERM,
            assessed_on=clock.today(),
        ),
    ]


class Worlds:
    """Each attempt's household is the only one waiting: earlier attempts' cases are closed first."""

    def __init__(self) -> None:
        self.open_cases: list[str] = []

    async def household(self, w: World) -> dict[str, Any]:
        for cid in self.open_cases:
            closed = iev.CaseClosed(case_id=cid, outcome=iev.CaseOutcome.OTHER, closed_on=clock.today())
            await w.service.deliver(HANDLERS, closed, "torino", A)
        hid, cid = w.id("h"), w.id("c")
        self.open_cases = [cid]
        for e in intake_events(hid, cid):
            await w.service.deliver(HANDLERS, e, "torino", A)
        return {"household_id": hid, "case_id": cid}


WORLDS = Worlds()


async def opportunity(w: World) -> str:
    oid = w.id("o")
    body = {
        "opportunity_id": oid,
        "partner": A,
        "kind": "private_rental",
        "capacity": 3,
        "bedrooms": 2,
        "monthly_rent_cents": 30_000,
        "available_from": str(clock.today()),
    }
    await w.call(A, "POST", "/opportunities", body)
    return oid


async def match(w: World, step: str = "proposed") -> dict[str, Any]:
    """A's household matched with A's opportunity, taken to `step` (proposed, accepted, placed, leased)."""
    h = await WORLDS.household(w)
    await opportunity(w)
    await w.call(STAFF_TO, "POST", "/matching/runs")
    found = [m for m in await w.call(STAFF_TO, "GET", "/proposals") if m["household_id"] == h["household_id"]]
    assert found, "the household was not matched"
    m = h | {"match_id": found[0]["match_id"]}
    if step in ("accepted", "placed", "leased"):
        await w.call(A, "POST", f"/matches/{m['match_id']}/acceptance", {})
    if step in ("placed", "leased"):
        placed = await w.call(A, "POST", f"/matches/{m['match_id']}/placement", {"started_on": str(clock.today())})
        m["placement_id"] = placed["placement_id"]
    return m


def fixed(method: str, path: str, body: Any = None) -> Any:
    async def build(_: World) -> Attempt:
        return Attempt(method, path, json=body)

    return build


async def _list(w: World) -> Attempt:
    body = {
        "opportunity_id": w.id("o"),
        "partner": A,
        "kind": "hotel_room",
        "capacity": 1,
        "bedrooms": 0,
        "monthly_rent_cents": 10_000,
        "available_from": str(clock.today()),
    }
    return Attempt("POST", "/opportunities", json=body)


async def _read_opportunity(w: World) -> Attempt:
    return Attempt("GET", f"/opportunities/{await opportunity(w)}")


async def _patch_opportunity(w: World) -> Attempt:
    return Attempt("PATCH", f"/opportunities/{await opportunity(w)}", json={"monthly_rent_cents": 31_000})


async def _withdraw(w: World) -> Attempt:
    return Attempt("POST", f"/opportunities/{await opportunity(w)}/withdrawal", json={"reason": "sold"})


async def _why(w: World) -> Attempt:
    return Attempt("GET", f"/households/{(await WORLDS.household(w))['household_id']}/why")


async def _entry(w: World) -> Attempt:
    return Attempt("GET", f"/households/{(await WORLDS.household(w))['household_id']}")


async def _read_match(w: World) -> Attempt:
    return Attempt("GET", f"/matches/{(await match(w))['match_id']}")


async def _accept(w: World) -> Attempt:
    return Attempt("POST", f"/matches/{(await match(w))['match_id']}/acceptance", json={})


async def _decline(w: World) -> Attempt:
    m = await match(w)
    return Attempt("POST", f"/matches/{m['match_id']}/decline", json={"by": "household", "reason": "too_far"})


async def _place(w: World) -> Attempt:
    m = await match(w, "accepted")
    return Attempt("POST", f"/matches/{m['match_id']}/placement", json={"started_on": str(clock.today())})


async def _lease(w: World) -> Attempt:
    m = await match(w, "placed")
    body = {
        "lease_type": "lease",
        "monthly_rent_cents": 30_000,
        "deposit_cents": 60_000,
        "start_date": str(clock.today()),
        "signed_on": str(clock.today()),
    }
    return Attempt("POST", f"/placements/{m['placement_id']}/lease", json=body)


async def _end(w: World) -> Attempt:
    m = await match(w, "placed")
    body = {"reason": "moved", "ended_on": str(clock.today())}
    return Attempt("POST", f"/placements/{m['placement_id']}/end", json=body)


async def _park(w: World) -> Attempt:
    h = await WORLDS.household(w)
    body = {"reason": "hospitalised", "until": str(clock.today() + timedelta(days=30))}
    return Attempt("POST", f"/households/{h['household_id']}/park", json=body)


async def _unpark(w: World) -> Attempt:
    h = await WORLDS.household(w)
    body = {"reason": "hospitalised", "until": str(clock.today() + timedelta(days=30))}
    await w.call(STAFF_TO, "POST", f"/households/{h['household_id']}/park", body)
    return Attempt("POST", f"/households/{h['household_id']}/unpark", json={})


OWN_CITY = CITY | {Caller.OTHER_CITY_STAFF}  # acts in (or lists) the caller's own city: Trieste staff see Trieste's
STAFF_OWN_CITY = STAFF | {Caller.OTHER_CITY_STAFF}
CITY_OUTSIDERS, NOT_FOUND = (Caller.OTHER_PARTNER, Caller.OTHER_CITY_STAFF), frozenset({404})
# Another city's opportunity, match or placement is answered as an id that exists nowhere (docs/partners.md, "What is
# not yours"); another partner of the city gets 403 naming it (it is of its city).
# Another city's object, and to a partner a match or placement of neither of its sides, is answered as an id that
# exists nowhere; the city's catalogue is every partner's to read, so another partner's opportunity is refused
# precisely (403 naming its partner: `readable`).
ABSENT = {Caller.OTHER_CITY_STAFF: NOT_FOUND}
OF_NEITHER_SIDE = {Caller.OTHER_CITY_STAFF: NOT_FOUND, Caller.OTHER_PARTNER: NOT_FOUND}
CATALOGUE = frozenset({Caller.OTHER_PARTNER})
RULES: dict[str, Rule] = {
    "GET /health/live": Rule(EVERYONE, fixed("GET", "/health/live")),
    "GET /me": Rule(AUTHENTICATED, fixed("GET", "/me")),  # who calls (the auditor refused, as everywhere)
    "GET /health/ready": Rule(EVERYONE, fixed("GET", "/health/ready"), also_fine=frozenset({503})),
    "GET /metrics": Rule(EVERYONE, fixed("GET", "/metrics")),
    # B cannot list one owned by A, nor Trieste's staff one owned by A, Torino's partner (it could never act on it)
    # (Trieste's staff naming A, Torino's partner, as the owner: 422 `partner`, as a partner no one knows)
    "POST /opportunities": Rule(
        CITY - {Caller.OTHER_PARTNER}, _list, expect={Caller.OTHER_CITY_STAFF: frozenset({422})}
    ),
    "GET /opportunities": Rule(OWN_CITY, fixed("GET", "/opportunities")),
    "GET /opportunities/{opportunity_id}": Rule(CITY, _read_opportunity, expect=ABSENT),  # the city's catalogue
    "PATCH /opportunities/{opportunity_id}": Rule(CASE, _patch_opportunity, expect=ABSENT, readable=CATALOGUE),
    "POST /opportunities/{opportunity_id}/withdrawal": Rule(CASE, _withdraw, expect=ABSENT, readable=CATALOGUE),
    "GET /rules": Rule(OWN_CITY, fixed("GET", "/rules")),
    # a DPO's read-log token only (test_household_entry.py): no actor's
    "GET /read-log": Rule(frozenset(), fixed("GET", "/read-log")),
    "PUT /rules": Rule(STAFF_OWN_CITY, fixed("PUT", "/rules", {"auto_match": False})),
    "POST /matching/runs": Rule(STAFF_OWN_CITY, fixed("POST", "/matching/runs")),
    "GET /households": Rule(OWN_CITY, fixed("GET", "/households")),  # a partner: its own cases' only
    # Not on the list of another partner or city: 404, as for a household that does not exist (never 403): the
    # household's routes (entry, why, holds) alike, so none of them tells that another city or partner has it.
    "GET /households/{household_id}": Rule(CASE, _entry, expect={c: NOT_FOUND for c in CITY_OUTSIDERS}),
    "GET /households/{household_id}/why": Rule(CASE, _why, expect={c: NOT_FOUND for c in CITY_OUTSIDERS}),
    "GET /proposals": Rule(OWN_CITY, fixed("GET", "/proposals")),  # a partner: its own cases' or opportunities'
    "GET /matches/{match_id}": Rule(CASE, _read_match, expect=OF_NEITHER_SIDE),
    "POST /matches/{match_id}/acceptance": Rule(CASE, _accept, expect=OF_NEITHER_SIDE),
    "POST /matches/{match_id}/decline": Rule(CASE, _decline, expect=OF_NEITHER_SIDE),
    "POST /matches/{match_id}/placement": Rule(CASE, _place, expect=OF_NEITHER_SIDE),
    "POST /placements/{placement_id}/lease": Rule(CASE, _lease, expect=OF_NEITHER_SIDE),
    "POST /placements/{placement_id}/end": Rule(CASE, _end, expect=OF_NEITHER_SIDE),
    "POST /households/{household_id}/park": Rule(CASE, _park, expect={c: NOT_FOUND for c in CITY_OUTSIDERS}),
    "POST /households/{household_id}/unpark": Rule(CASE, _unpark, expect={c: NOT_FOUND for c in CITY_OUTSIDERS}),
    "POST /matching/stalled-check": Rule(STAFF_OWN_CITY, fixed("POST", "/matching/stalled-check", {})),
    "GET /reminders": Rule(OWN_CITY, fixed("GET", "/reminders")),  # a partner: its own cases' only
}


@pytest.mark.own_service  # reconfigures the city (PUT /rules: auto_match off), runs its matching and stalled check
async def test_every_route_and_caller_as_declared(housing: InProcessService) -> None:
    """Every cell of routes by callers; another city's staff and the national role get the same answer for an id
    that exists nowhere as for the one that exists (no existence oracle)."""
    probe = frozenset({Caller.OTHER_CITY_STAFF, Caller.NATIONAL, Caller.OTHER_PARTNER})
    assert_matrix("housing", await run_matrix(housing, RULES, probe=probe, bad_token=True))


async def test_partners_cannot_run_the_staff_only_checks(housing: InProcessService) -> None:
    for path in ("/matching/stalled-check", "/matching/runs"):
        async with housing.client(A) as a:
            r = await a.post(path, json={})
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_another_partner_sees_none_of_the_households_or_matches(housing: InProcessService) -> None:
    w = World(housing)
    m = await match(w)
    async with housing.client(B) as b:
        assert (await b.get("/households")).json() == []
        assert (await b.get("/proposals")).json() == []
        assert (await b.get(f"/matches/{m['match_id']}")).status_code == 404  # as a match that exists nowhere


async def test_a_query_parameter_the_route_does_not_take_is_refused_not_ignored(housing: InProcessService) -> None:
    """A Torino partner asked GET /rules?city=trieste and GET /opportunities?city=trieste and was answered 200 with
    Torino's rules and opportunities, as if they were Trieste's: a parameter no route declares was dropped without a
    word (payments' GET /contribution-requests?household_id= answered the whole city's requests as the household's).
    A parameter the address does not take is a 422 naming it, with the ones it takes."""
    for path in ("/rules?city=trieste", "/opportunities?city=trieste", "/households?partner=coop-borgo"):
        async with housing.client(A) as a:
            r = await a.get(path)
        name = path.split("?")[1].split("=")[0]
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.json()["field"] == f"query.{name}" and "does not take" in r.json()["reason"], r.json()
    async with housing.client(STAFF_TO) as staff:
        assert (await staff.get("/proposals?status=proposed")).status_code == 200  # a declared one still works
