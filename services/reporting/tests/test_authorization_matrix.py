"""Reporting's authorisation matrix: every route of the app by (a partner of the city, another partner of the city,
the city's staff, another city's staff, the national role, no token), against the rules declared below — one rule
per route, so a new route without one fails. Reports have no case: both partners of the city read its report."""

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
# A published report of another city is answered as one that does not exist, to its staff and the national role
# alike: a 403 told them which report ids exist (docs/partners.md, "What is not yours").
PROBED = frozenset({Caller.OTHER_CITY_STAFF, Caller.NATIONAL})
ABSENT = {caller: frozenset({404}) for caller in PROBED}
RULES: dict[str, Rule] = {
    "GET /health/live": Rule(EVERYONE, fixed("GET", "/health/live")),
    "GET /health/ready": Rule(EVERYONE, fixed("GET", "/health/ready"), also_fine=frozenset({503})),
    "GET /metrics": Rule(EVERYONE, fixed("GET", "/metrics")),
    "GET /dashboard": Rule(EVERYONE, fixed("GET", "/dashboard")),  # no data in the page: every number needs a token
    "GET /reports/published": Rule(AUTHENTICATED, fixed("GET", "/reports/published")),  # each its own scopes
    "GET /reports/labels": Rule(AUTHENTICATED, fixed("GET", "/reports/labels")),  # vocabulary only, no numbers
    # Ids and payments behind the figures: the city's staff only.
    "GET /reports/financial_statement": Rule(STAFF, fixed("GET", "/reports/financial_statement", params=TORINO)),
    "GET /reports/city_summary/drilldown": Rule(
        STAFF, fixed("GET", "/reports/city_summary/drilldown", params=TORINO | {"figure": "persons.total"})
    ),
    "GET /reports/{report}/fund": Rule(CITY, fixed("GET", "/reports/city_summary/fund", params=TORINO)),
    "GET /reports/{report}/fund/export": Rule(
        CITY, fixed("GET", "/reports/city_summary/fund/export", params=TORINO | {"format": "csv"})
    ),
    "GET /reports/published/{report_id}": Rule(CITY, _published_torino, expect=ABSENT),
    "GET /reports/published/{report_id}/export": Rule(CITY, _published_torino_file, expect=ABSENT),  # as the report
    "GET /reports/{report}": Rule(CITY, fixed("GET", "/reports/city_summary", params=TORINO)),
    "GET /reports/{report}/export": Rule(
        CITY, fixed("GET", "/reports/city_summary/export", params=TORINO | {"format": "csv"})
    ),
    "POST /reports/{report}/publish": Rule(STAFF, fixed("POST", "/reports/city_summary/publish", TORINO)),
}
NATIONAL_RULES: dict[str, Rule] = {
    **RULES,
    "GET /reports/published/{report_id}": Rule(AUTHENTICATED, _published_national),
    "GET /reports/published/{report_id}/export": Rule(AUTHENTICATED, _published_national_file),
    "GET /reports/{report}": Rule(AUTHENTICATED, fixed("GET", "/reports/national")),
    "GET /reports/{report}/fund": Rule(AUTHENTICATED, fixed("GET", "/reports/national/fund")),
    "GET /reports/{report}/fund/export": Rule(
        AUTHENTICATED, fixed("GET", "/reports/national/fund/export", params={"format": "xlsx"})
    ),
    "GET /reports/{report}/export": Rule(
        AUTHENTICATED, fixed("GET", "/reports/national/export", params={"format": "csv"})
    ),
    "POST /reports/{report}/publish": Rule(
        frozenset({Caller.NATIONAL}), fixed("POST", "/reports/national/publish", {})
    ),
}


async def test_every_route_and_caller_as_declared_for_a_city_report(reporting: InProcessService) -> None:
    assert_matrix("reporting (city report)", await run_matrix(reporting, RULES, probe=PROBED, bad_token=True))


async def test_every_route_and_caller_as_declared_for_the_national_aggregate(reporting: InProcessService) -> None:
    outcome = await run_matrix(reporting, NATIONAL_RULES, probe=PROBED, bad_token=True)
    assert_matrix("reporting (national aggregate)", outcome)
