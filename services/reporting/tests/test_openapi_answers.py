"""Reporting's OpenAPI declares the body of every success answer that is JSON, so that a generated client knows what
comes back (the tests' in-process and process clients then check every answer against it:
`lgnet_shared.testing.answers`). A new route answering JSON without a declared schema fails here."""

from __future__ import annotations

from lgnet_reporting.entrypoints.main import SPEC
from lgnet_shared.service import create_app
from lgnet_shared.testing.answers import open_request_bodies, undeclared
from lgnet_shared.testing.inprocess import settings_for
from lgnet_shared.testing.openapi_auth import PROBES, auth_gaps

# Routes whose success answer is not JSON, hence no JSON schema to declare: route -> what it answers instead.
FILES: dict[str, str] = {
    "GET /reports/{report}/export": "the report as a CSV, XLSX or PDF file",
    "GET /reports/published/{report_id}/export": "the published report as a CSV, XLSX or PDF file",
    "GET /reports/{report}/fund/export": "the fund's indicators as a CSV or XLSX file",
    "GET /dashboard": "the dashboard's HTML page",
}

# Operations that need no token: the probes, and the dashboard page (it asks for the token and calls the API with it).
PUBLIC = PROBES | {"GET /dashboard"}


def test_every_json_answer_of_reporting_declares_its_body() -> None:
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    assert undeclared(openapi, FILES) == []


def test_every_operation_of_reporting_declares_the_token_and_the_key_it_needs() -> None:
    """A client generated from the document sends a bearer token and, to a create, its Idempotency-Key."""
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    assert auth_gaps(openapi, PUBLIC) == []


def test_every_json_body_reporting_takes_refuses_members_it_does_not_know() -> None:
    """A member no body of reporting's has (misspelt, or another route's) is answered 422 naming it, never ignored."""
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    assert open_request_bodies(openapi) == []
