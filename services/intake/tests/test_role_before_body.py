"""A route for the city's staff only refuses another role before it reads the body: a partner (or the national role)
sending anything gets 403, never a 422 telling it what the body should hold (a DPO's review found partners got 422
first). Generic over the authorisation matrix's table: every route whose rule admits staff alone (a GET's query
too: `GET /appointments/reminders` named its `day`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.authz import Caller, RoleBeforeRequestCases
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module, sibling_module

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")
STAFF_ONLY = sorted(
    route
    for route, rule in matrix.RULES.items()
    if rule.allowed <= {Caller.STAFF, Caller.OTHER_CITY_STAFF} and rule.allowed
)


QUERY = {"GET /appointments/reminders": {"day": "not a day"}}  # a query that would be refused (422) if read first


# The module's intake, in process: one on the module's schema (`shared_service`), or a test's own (`own_service`);
# these stand in for conftest's, which start a process.
intake, intake_own, intake_shared, intake_view = fixtures_per_module("intake", SPEC)


def test_the_table_has_staff_only_routes() -> None:
    assert {"POST /persons/{person_id}/merge", "POST /mobile-units", "GET /appointments/reminders"} <= set(
        STAFF_ONLY
    ), STAFF_ONLY


@pytest.mark.parametrize("route", STAFF_ONLY)
async def test_a_staff_only_route_refuses_another_role_before_reading_the_body(
    intake: InProcessService, route: str, uid: str
) -> None:
    method, template = route.split(" ", 1)
    path = re.sub(r"\{[^}]+\}", f"x-{uid}", template)
    for actor in ("coop-aurora", "coordination"):
        for body in ({}, {"unexpected": 1}, None) if method != "GET" else (None,):
            async with intake.client(actor) as c:
                r = await c.request(
                    method, path, json=body, headers={"Idempotency-Key": f"k-{uid}"}, params=QUERY.get(route)
                )
            assert r.status_code == 403, (route, actor, body, r.status_code, r.text)
            assert r.json()["field"] == "", (route, actor, r.text)  # the role, not a field of the body


class TestRoles(RoleBeforeRequestCases):  # the national role on every change too, not only the staff's routes
    spec = SPEC
    rules = matrix.RULES
