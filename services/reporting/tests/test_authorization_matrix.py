"""Reporting's authorisation matrix: every route of the app by (a partner of the city, another partner of the city,
the city's staff, another city's staff, the national role, the auditor, no token), against the rules declared below —
one rule per route, so a new route without one fails. Reports have no case: both partners of the city read its report.
The auditor reads every report of every city (and the financial statement without its payments), never publishes,
never drills down (docs/reporting.md, "Who may read what")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_reporting.entrypoints.main import SPEC
from lgnet_shared.testing.authz import (
    AUTHENTICATED,
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

# Both matrices on one in-process reporting: each attempt's setup publishes a report of its own (fresh ids and
# Idempotency-Keys) and the matrix judges answers by role, never by what else the service holds.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]


@pytest.fixture(scope="module")
async def reporting(database_url: str, module_pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, module_pg_schema, check_answers=True) as service:
        yield service


def fixed(method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
    async def build(_: World) -> Attempt:
        return Attempt(method, path, json=body, params=params)

    return build


async def _published_torino(w: World) -> Attempt:
    made = await w.call("staff-torino", "POST", "/reports/city_summary/publish", {"city": "torino"})
    return Attempt("GET", f"/reports/published/{made['report_id']}")


async def _published_national(w: World) -> Attempt:
    made = await w.call("coordination", "POST", "/reports/national/publish", {})
    return Attempt("GET", f"/reports/published/{made['report_id']}")


async def _published_torino_file(w: World) -> Attempt:
    made = await w.call("staff-torino", "POST", "/reports/city_summary/publish", {"city": "torino"})
    return Attempt("GET", f"/reports/published/{made['report_id']}/export", params={"format": "csv"})


async def _published_national_file(w: World) -> Attempt:
    made = await w.call("coordination", "POST", "/reports/national/publish", {})
    return Attempt("GET", f"/reports/published/{made['report_id']}/export", params={"format": "xlsx"})


TORINO = {"city": "torino"}
AUDITOR = frozenset({Caller.AUDITOR})
READERS = AUTHENTICATED | AUDITOR  # every actor of the cities' network, and the auditor
# A published report of another city is answered as one that does not exist, to its staff and the national role
# alike: a 403 told them which report ids exist (docs/partners.md, "What is not yours").
PROBED = frozenset({Caller.OTHER_CITY_STAFF, Caller.NATIONAL})
ABSENT = {caller: frozenset({404}) for caller in PROBED}
RULES: dict[str, Rule] = {
    "GET /health/live": Rule(EVERYONE, fixed("GET", "/health/live")),
    "GET /health/ready": Rule(EVERYONE, fixed("GET", "/health/ready"), also_fine=frozenset({503})),
    "GET /metrics": Rule(EVERYONE, fixed("GET", "/metrics")),
    "GET /dashboard": Rule(EVERYONE, fixed("GET", "/dashboard")),  # no data in the page: every number needs a token
    "GET /me": Rule(READERS, fixed("GET", "/me")),  # who calls: what the dashboard asks first
    "GET /reports/published": Rule(READERS, fixed("GET", "/reports/published")),  # each its own scopes
    "GET /reports/labels": Rule(READERS, fixed("GET", "/reports/labels")),  # vocabulary only, no numbers
    # Ids and payments behind the figures: the city's staff only (the auditor: the statement's lines, no payments).
    "GET /reports/financial_statement": Rule(
        STAFF | AUDITOR, fixed("GET", "/reports/financial_statement", params=TORINO)
    ),
    "GET /reports/city_summary/drilldown": Rule(
        STAFF, fixed("GET", "/reports/city_summary/drilldown", params=TORINO | {"figure": "persons.total"})
    ),
    "GET /reports/{report}/fund": Rule(CITY | AUDITOR, fixed("GET", "/reports/city_summary/fund", params=TORINO)),
    "GET /reports/{report}/fund/export": Rule(
        CITY | AUDITOR, fixed("GET", "/reports/city_summary/fund/export", params=TORINO | {"format": "csv"})
    ),
    "GET /reports/published/{report_id}": Rule(CITY | AUDITOR, _published_torino, expect=ABSENT),
    "GET /reports/published/{report_id}/export": Rule(CITY | AUDITOR, _published_torino_file, expect=ABSENT),
    "GET /reports/{report}": Rule(CITY | AUDITOR, fixed("GET", "/reports/city_summary", params=TORINO)),
    "GET /reports/{report}/export": Rule(
        CITY | AUDITOR, fixed("GET", "/reports/city_summary/export", params=TORINO | {"format": "csv"})
    ),
    "POST /reports/{report}/publish": Rule(STAFF, fixed("POST", "/reports/city_summary/publish", TORINO)),
}
NATIONAL_RULES: dict[str, Rule] = {
    **RULES,
    "GET /reports/published/{report_id}": Rule(READERS, _published_national),
    "GET /reports/published/{report_id}/export": Rule(READERS, _published_national_file),
    "GET /reports/{report}": Rule(READERS, fixed("GET", "/reports/national")),
    "GET /reports/{report}/fund": Rule(READERS, fixed("GET", "/reports/national/fund")),
    "GET /reports/{report}/fund/export": Rule(
        READERS, fixed("GET", "/reports/national/fund/export", params={"format": "xlsx"})
    ),
    "GET /reports/{report}/export": Rule(READERS, fixed("GET", "/reports/national/export", params={"format": "csv"})),
    "POST /reports/{report}/publish": Rule(
        frozenset({Caller.NATIONAL}), fixed("POST", "/reports/national/publish", {})
    ),
}


async def test_every_route_and_caller_as_declared_for_a_city_report(reporting: InProcessService) -> None:
    assert_matrix("reporting (city report)", await run_matrix(reporting, RULES, probe=PROBED, bad_token=True))


async def test_every_route_and_caller_as_declared_for_the_national_aggregate(reporting: InProcessService) -> None:
    outcome = await run_matrix(reporting, NATIONAL_RULES, probe=PROBED, bad_token=True)
    assert_matrix("reporting (national aggregate)", outcome)


async def test_me_says_who_calls_and_nothing_else(reporting: InProcessService) -> None:
    """`GET /me` (every service's, from the app factory): what the dashboard asks first, so that it requests only what
    its user may read. The actor id, role and city; nothing else."""
    for actor, role, city in (
        ("staff-torino", "staff", "torino"),
        ("coop-aurora", "partner", "torino"),
        ("coordination", "national", None),
        ("audit-office", "auditor", None),
    ):
        async with reporting.client(actor) as c:
            r = await c.get("/me")
        assert r.status_code == 200 and r.json() == {"actor_id": actor, "role": role, "city": city}, r.text


async def test_the_auditor_lists_every_published_report(reporting: InProcessService) -> None:
    w = World(reporting)
    torino = await w.call("staff-torino", "POST", "/reports/city_summary/publish", {"city": "torino"})
    trieste = await w.call("staff-trieste", "POST", "/reports/city_summary/publish", {"city": "trieste"})
    async with reporting.client("audit-office") as c:
        listed = {p["report_id"] for p in (await c.get("/reports/published")).json()}
        one = await c.get(f"/reports/published/{trieste['report_id']}")
    assert {torino["report_id"], trieste["report_id"]} <= listed and one.json()["scope"] == "trieste", one.text


def test_an_auditor_of_a_citys_own_reporting_reads_that_city_only() -> None:
    """A city's own reporting deployment (LGNET_CITY=torino) holds Torino's facts only: another city's report there
    would be zeros read as that city's numbers, so the auditor is refused it, naming the city; a national one serves
    every city."""
    from lgnet_reporting.entrypoints.http import scope_of
    from lgnet_shared.access import Actor, Role
    from lgnet_shared.errors import Forbidden

    auditor = Actor("audit-office", Role.AUDITOR, None)
    assert scope_of(auditor, "city_summary", "torino", served="torino") == "torino"
    assert scope_of(auditor, "city_summary", "trieste", served=None) == "trieste"
    assert scope_of(auditor, "national", None, served="torino") == "national"
    with pytest.raises(Forbidden) as refused:
        scope_of(auditor, "city_summary", "trieste", served="torino")
    assert (refused.value.field, refused.value.reason) == ("query.city", "this deployment serves torino, not trieste")
