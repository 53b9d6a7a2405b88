"""A route for the city's staff only refuses another role before it reads the body: a partner (or the national role)
sending anything gets 403, never a 422 telling it what the body should hold (a DPO's review found partners got 422
first). Generic over the authorisation matrix's table: every route whose rule admits staff alone (a GET's query
too: `GET /appointments/reminders` named its `day`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.authz import Caller
from lgnet_shared.testing.inprocess import InProcessService, in_process, sibling_module

pytestmark = pytest.mark.integration
matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")
STAFF_ONLY = sorted(
    route
    for route, rule in matrix.RULES.items()
    if rule.allowed <= {Caller.STAFF, Caller.OTHER_CITY_STAFF} and rule.allowed
)


QUERY = {"GET /appointments/reminders": {"day": "not a day"}}  # a query that would be refused (422) if read first


@pytest.fixture
async def intake(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        yield service


def test_the_table_has_staff_only_routes() -> None:
    assert {"POST /persons/{person_id}/merge", "POST /mobile-units", "GET /appointments/reminders"} <= set(
        STAFF_ONLY
    ), STAFF_ONLY


@pytest.mark.parametrize("route", STAFF_ONLY)
async def test_a_staff_only_route_refuses_another_role_before_reading_the_body(
    intake: InProcessService, route: str
) -> None:
    method, template = route.split(" ", 1)
    path = re.sub(r"\{[^}]+\}", "x-1", template)
    for actor in ("coop-aurora", "coordination"):
        for body in ({}, {"unexpected": 1}, None) if method != "GET" else (None,):
            async with intake.client(actor) as c:
                r = await c.request(
                    method, path, json=body, headers={"Idempotency-Key": "k-1"}, params=QUERY.get(route)
                )
            assert r.status_code == 403, (route, actor, body, r.status_code, r.text)
            assert r.json()["field"] == "", (route, actor, r.text)  # the role, not a field of the body


NOT_NATIONAL = sorted(route for route, rule in matrix.RULES.items() if Caller.NATIONAL not in rule.allowed)


def test_the_national_role_is_refused_by_most_routes() -> None:
    assert {"POST /persons", "POST /cases", "GET /persons/{person_id}/record"} <= set(NOT_NATIONAL), NOT_NATIONAL


@pytest.mark.parametrize("route", NOT_NATIONAL)
async def test_a_route_the_national_role_may_not_use_refuses_it_before_reading_the_request(
    intake: InProcessService, route: str
) -> None:
    """The national role was refused by role only once the request had been read: a create without its
    Idempotency-Key, or with a body that would not validate, was answered 422 naming the header or the fields."""
    method, template = route.split(" ", 1)
    path = re.sub(r"\{[^}]+\}", "x-1", template)
    for body in ({}, {"unexpected": 1}, None) if method != "GET" else (None,):
        async with intake.client("coordination") as c:
            r = await c.request(method, path, json=body, params=QUERY.get(route))  # no Idempotency-Key either
        assert r.status_code == 403, (route, body, r.status_code, r.text)
        # the role ("" field), or for the DPO's read log any actor's credential: never a field of the request
        assert r.json()["field"] in ("", "headers.authorization"), (route, r.text)
