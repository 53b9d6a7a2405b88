"""Authorisation matrices: every route of a service's app by every kind of caller, against what the service's
table declares. The routes come from the app's own route table (`app.routes`), so a new route without a declared
rule fails the test, and a rule for a route that no longer exists does too.

Each (route, role) attempt builds its own fresh objects first (`Rule.build`: a case assigned to the
assigned partner, a request, a match ...) as staff or as the assigned partner, then sends the one request as the
role under test. An allowed role must get a 2xx answer (which also proves the request itself is valid, so the
denials are decided by authorisation, not by validation); a denied role must get 401 (no token) or 403.

A rule's key may also name a query filter of a route (`"GET /vouchers?household_id"`): its own cell per caller, as
the route's, since a filter naming what the caller may not see must be refused, not answered `200 []`. And
`run_matrix(..., probe=...)` sends each refusal of those callers again with every id of the attempt (path
parameters `{…_id}`, `…_id` fields of the body and the query, each id of a `…_ids` list) replaced by one that
exists nowhere: the answer must be the same (status, field, reason but for the id), or the caller can tell which
ids exist (an existence oracle)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from lgnet_shared.testing.inprocess import InProcessService, in_process
from lgnet_shared.testing.plugin import fresh_schema


class Caller(StrEnum):
    ASSIGNED_PARTNER = "assigned_partner"  # coop-aurora: the partner of the case the request is about
    OTHER_PARTNER = "other_partner"  # coop-borgo: another partner of the same city
    STAFF = "staff"  # staff-torino: staff of the case's city
    OTHER_CITY_STAFF = "other_city_staff"  # staff-trieste
    NATIONAL = "national"  # coordination
    AUDITOR = "auditor"  # audit-office: reporting's reports only; every other service refuses it at authentication
    ANONYMOUS = "anonymous"  # no token


ACTOR_OF = {
    Caller.ASSIGNED_PARTNER: "coop-aurora",
    Caller.OTHER_PARTNER: "coop-borgo",
    Caller.STAFF: "staff-torino",
    Caller.OTHER_CITY_STAFF: "staff-trieste",
    Caller.NATIONAL: "coordination",
    Caller.AUDITOR: "audit-office",
    Caller.ANONYMOUS: None,
}
EVERYONE = frozenset(Caller)
AUTHENTICATED = EVERYONE - {Caller.ANONYMOUS, Caller.AUDITOR}  # every actor of the cities' network (not the auditor)
CITY = frozenset({Caller.ASSIGNED_PARTNER, Caller.OTHER_PARTNER, Caller.STAFF})  # anyone of the case's city
CASE = frozenset({Caller.ASSIGNED_PARTNER, Caller.STAFF})  # the case's partner and the city's staff
STAFF = frozenset({Caller.STAFF})
NOBODY: frozenset[Caller] = frozenset()


@dataclass
class Attempt:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class World:
    """What a rule's `build` uses to prepare its attempt: clients as any actor, fresh ids."""

    def __init__(self, service: InProcessService) -> None:
        self.service = service
        self._n = itertools.count()

    def id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n)}-{uuid.uuid4().hex[:6]}"

    async def call(self, actor: str, method: str, path: str, body: Any = None, *, ok: int = 299) -> Any:
        """A setup call that must succeed; its JSON answer."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        async with self.service.client(actor) as c:
            r = await c.request(method, path, json=body, headers=headers)
        assert 200 <= r.status_code <= ok, f"setup {method} {path} as {actor}: {r.status_code} {r.text}"
        return r.json() if r.content and r.headers.get("content-type", "").endswith("json") else None


Build = Callable[[World], Awaitable[Attempt]]


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[Caller]
    build: Build
    also_fine: frozenset[int] = frozenset()  # statuses that count as allowed besides 2xx (e.g. readiness 503)
    # Exact answers for a caller whose request means something else for it: e.g. another city's staff creating a
    # batch acts in its own city, where nothing waits (409): neither allowed on this city's data nor a denial.
    expect: Mapping[Caller, frozenset[int]] = field(default_factory=dict)
    # Callers that may read what the route names anyway (a city's housing catalogue is open to all its partners): a
    # precise refusal tells them nothing they cannot read, so the existence probe leaves them out.
    readable: frozenset[Caller] = frozenset()


@dataclass
class Outcome:
    attempts: int = 0
    wrongly_allowed: list[str] = field(default_factory=list)
    wrongly_denied: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # a denial expected, but another 4xx/5xx came
    oracles: list[str] = field(default_factory=list)  # a refusal said otherwise for an id that exists nowhere


def _flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 keeps included routers as a node
        if included is not None:
            yield from _flat_routes(included.routes)
        else:
            yield route


def route_keys(app: FastAPI) -> set[str]:
    """'METHOD /path' of every route the app serves (not the docs pages, nor the HEAD Starlette adds to GET)."""
    keys = set()
    for route in _flat_routes(app.routes):
        if isinstance(route, APIRoute | Route) and route.include_in_schema:
            for method in route.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    keys.add(f"{method} {route.path}")
    documented = {f"{m.upper()} {path}" for path, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= keys, f"documented operations missing from the route table: {documented - keys}"
    return keys


def _unknown_ids(key: str, attempt: Attempt) -> tuple[Attempt, dict[str, str]]:
    """The attempt with each id it names replaced by a fresh one; the replaced ids (real → fresh)."""
    swapped: dict[str, str] = {}

    def fresh(real: str) -> str:
        return swapped.setdefault(real, str(uuid.uuid4()))

    template = key.split("?")[0].split(" ", 1)[1].split("/")
    parts = attempt.path.split("?")[0].split("/")
    if len(parts) == len(template):
        parts = [
            fresh(p) if t.startswith("{") and t.endswith("_id}") else p for t, p in zip(template, parts, strict=True)
        ]

    def ids(values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {k: _swapped(k, v, fresh) for k, v in values.items()}

    query = "?" + attempt.path.split("?", 1)[1] if "?" in attempt.path else ""
    other = Attempt(
        attempt.method,
        "/".join(parts) + query,
        ids(attempt.json),
        attempt.content,
        ids(attempt.params),
        attempt.headers,
    )
    return other, swapped


def _swapped(key: str, value: Any, fresh: Callable[[str], str]) -> Any:
    """A body's or query's id (`…_id`), or each of a list of them (`…_ids`: a household's `member_ids`), made fresh."""
    if key.endswith("_id") and isinstance(value, str):
        return fresh(value)
    if key.endswith("_ids") and isinstance(value, list):
        return [fresh(v) if isinstance(v, str) else v for v in value]
    return value


async def _send(service: InProcessService, caller: Caller, attempt: Attempt) -> httpx.Response:
    headers = dict(attempt.headers)
    if attempt.method in ("POST", "PUT", "PATCH"):
        headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
    async with service.client(ACTOR_OF[caller]) as c:
        return await c.request(
            attempt.method,
            attempt.path,
            json=attempt.json,
            content=attempt.content,
            params=attempt.params,
            headers=headers,
        )


def _said(r: httpx.Response, ids: Iterable[str]) -> tuple[int, str, str]:
    body = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    reason = str(body.get("reason", ""))
    for i in ids:
        reason = reason.replace(i, "ID")
    return r.status_code, str(body.get("field", "")), reason


async def run_matrix(
    service: InProcessService,
    rules: Mapping[str, Rule],
    *,
    probe: frozenset[Caller] = frozenset(),
    bad_token: bool = False,
) -> Outcome:
    """`bad_token`: where no token is refused, a token that is not one (`Bearer` of a made-up value) is too (401)."""
    served, declared = route_keys(service.app), {k for k in rules if "?" not in k}
    filters = {k.split("?")[0] for k in rules if "?" in k}
    assert filters <= served, f"filters of routes the app does not serve: {sorted(filters - served)}"
    assert not served - declared, f"routes without a declared authorisation rule: {sorted(served - declared)}"
    assert not declared - served, f"rules for routes the app does not serve: {sorted(declared - served)}"
    world = World(service)
    outcome = Outcome()
    auditors = bool(service.app.state.spec.admits_auditors)
    for key, rule in sorted(rules.items()):
        refused: Attempt | None = None  # the last attempt refused (401/403): it changed nothing, it may be sent again
        # Denied callers first: an allowed call may change what the next attempt finds.
        for caller in sorted(Caller, key=lambda c: (c in rule.allowed, c.value)):
            # The auditor refused at authentication (no service but reporting admits it): the attempt just refused
            # serves again, which spares the setup of a fresh one (a case, a request ...) per route.
            again = caller is Caller.AUDITOR and not auditors and caller not in rule.allowed and refused is not None
            attempt = refused if again and refused is not None else await rule.build(world)
            r = await _send(service, caller, attempt)
            if r.status_code in (401, 403):
                refused = attempt
            outcome.attempts += 1
            what = f"{key} as {caller.value}: {r.status_code} {_short(r)}"
            ok = 200 <= r.status_code < 300 or r.status_code in rule.also_fine
            if caller in rule.expect:
                if r.status_code not in rule.expect[caller]:
                    (outcome.wrongly_allowed if ok else outcome.undecided).append(what)
            elif caller in rule.allowed:
                if not ok:
                    outcome.wrongly_denied.append(what)
            elif ok:
                outcome.wrongly_allowed.append(what)
            elif r.status_code not in (401, 403) or (caller is Caller.ANONYMOUS) != (r.status_code == 401):
                outcome.undecided.append(what)
            if r.status_code in (401, 403):
                assert r.headers["content-type"].startswith("application/problem+json"), what
            denied = caller not in rule.allowed
            if caller is Caller.AUDITOR and not auditors and denied and "auditor role reads reports only" not in r.text:
                outcome.undecided.append(f"{what} (not refused at authentication as the auditor)")
            if bad_token and caller is Caller.ANONYMOUS and r.status_code == 401:
                made_up = {"Authorization": "Bearer " + "x" * 43}
                forged = Attempt(**{**attempt.__dict__, "headers": attempt.headers | made_up})
                f = await _send(service, caller, forged)
                outcome.attempts += 1
                if f.status_code != 401 or f.json().get("field") != "headers.authorization":
                    outcome.wrongly_allowed.append(f"{key} with a made-up token: {f.status_code} {_short(f)}")
            if caller in probe and caller not in rule.readable and 400 <= r.status_code < 500:
                unknown, swapped = _unknown_ids(key, attempt)
                if swapped:
                    u = await _send(service, caller, unknown)
                    real, fresh = _said(r, swapped), _said(u, swapped.values())
                    if real != fresh:
                        outcome.oracles.append(f"{key} as {caller.value}: {real} for an existing id, {fresh} for none")
    return outcome


def _short(r: httpx.Response) -> str:
    return r.text[:200]


def report(service: str, outcome: Outcome) -> str:
    return (
        f"{service}: {outcome.attempts} attempts, {len(outcome.wrongly_allowed)} wrongly allowed, "
        f"{len(outcome.wrongly_denied)} wrongly denied, {len(outcome.undecided)} not decided by authorisation, "
        f"{len(outcome.oracles)} telling an existing id from none"
    )


def assert_matrix(service: str, outcome: Outcome) -> None:
    print(report(service, outcome))  # the count, in -s / CI logs
    problems = outcome.wrongly_allowed + outcome.wrongly_denied + outcome.undecided + outcome.oracles
    assert not problems, report(service, outcome) + "\n" + "\n".join(problems)


def national_may_not_change(rules: Mapping[str, Rule]) -> list[str]:
    """The routes of a rule table that change something (not GET) and refuse the national role."""
    return sorted(k for k, rule in rules.items() if not k.startswith("GET ") and Caller.NATIONAL not in rule.allowed)


def staff_may_change(rules: Mapping[str, Rule]) -> list[str]:
    """The routes of a rule table that change something (not GET) for the city's staff alone."""
    staff = {Caller.STAFF, Caller.OTHER_CITY_STAFF}
    return sorted(k for k, rule in rules.items() if not k.startswith("GET ") and rule.allowed and rule.allowed <= staff)


async def assert_refused_before_the_request(service: InProcessService, caller: Caller, route: str) -> None:
    """`caller` refused by role (403, field "") before the request is read: sent without an Idempotency-Key and with
    bodies that would not validate, it must never be told what the request should hold."""
    method, template = route.split(" ", 1)
    path = re.sub(r"\{[^}]+\}", "x-1", template.split("?", 1)[0])
    for body in ({}, {"unexpected": 1}, None):
        async with service.client(ACTOR_OF[caller]) as c:
            r = await c.request(method, path, json=body)
        assert r.status_code == 403, (route, caller, body, r.status_code, r.text)
        assert r.json()["field"] == "", (route, caller, r.text)


class RoleBeforeRequestCases:
    """Shared test cases, subclassed by a service's test module (`spec`: its ServiceSpec, `rules`: its authorisation
    matrix's table): a role refused by the route is refused before the request is read — the national role (read-only)
    on every route that changes something, a partner on the staff's own. Both were answered 422 naming the body's
    fields or the missing Idempotency-Key before the 403. Reads (GET) are not held to it: their refusals are kept in
    the read and download logs, which the handlers write."""

    spec: ClassVar[Any]
    rules: ClassVar[Mapping[str, Rule]]

    @pytest.fixture(scope="class")
    @classmethod
    async def service(cls, database_url: str) -> AsyncIterator[InProcessService]:
        async with fresh_schema(database_url) as schema, in_process(cls.spec, database_url, schema) as s:
            yield s

    def test_the_table_has_routes_of_each_kind(self) -> None:
        assert len(national_may_not_change(self.rules)) >= 8 and staff_may_change(self.rules), self.rules

    async def test_the_national_role_is_refused_before_the_request_is_read(self, service: InProcessService) -> None:
        for route in national_may_not_change(self.rules):
            await assert_refused_before_the_request(service, Caller.NATIONAL, route)

    async def test_a_partner_is_refused_a_staff_route_before_the_request_is_read(
        self, service: InProcessService
    ) -> None:
        for route in staff_may_change(self.rules):
            await assert_refused_before_the_request(service, Caller.ASSIGNED_PARTNER, route)
