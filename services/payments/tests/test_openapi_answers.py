"""Payments' OpenAPI declares the body of every success answer that is JSON, so that a partner's generated client
knows what comes back (the tests' in-process and process clients then check every answer against it:
`lgnet_shared.testing.answers`). A new route answering JSON without a declared schema fails here."""

from __future__ import annotations

from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.service import create_app
from lgnet_shared.testing.answers import open_request_bodies, undeclared
from lgnet_shared.testing.inprocess import settings_for
from lgnet_shared.testing.openapi_auth import PROBES, auth_gaps

# Routes whose success answer is not JSON, hence no JSON schema to declare: route -> what it answers instead.
FILES = {
    "GET /batches/{batch_id}/pain.001": "the batch's SEPA credit transfer file (XML, as stored)",
    "GET /reimbursement-runs/{run_id}/pain.001": "the run's SEPA credit transfer file (XML, as stored)",
}

PUBLIC = PROBES  # the operations that need no token


def test_every_json_answer_of_payments_declares_its_body() -> None:
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    assert undeclared(openapi, FILES) == []


def test_every_operation_of_payments_declares_the_token_and_the_key_it_needs() -> None:
    """A client generated from the document sends a bearer token and, to a create, its Idempotency-Key."""
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    # A redemption answers 201, yet takes no key: the same redemption_id again is its replay.
    assert auth_gaps(openapi, PUBLIC, {"POST /vouchers/{voucher_id}/redemptions": False}) == []


def test_every_json_body_payments_takes_refuses_members_it_does_not_know() -> None:
    """A member no body of payments's has (misspelt, or another route's) is answered 422 naming it, never ignored."""
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    assert open_request_bodies(openapi) == []


def test_a_contribution_request_offers_only_the_kinds_it_takes() -> None:
    """A voucher is issued (`POST /vouchers`), never asked: a client generated from the document offered `voucher`
    as a request's kind, which the service always refuses (422 `kind`)."""
    openapi = create_app(SPEC, settings_for("postgresql://unused", "unused")).openapi()
    body = openapi["paths"]["/contribution-requests"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    kind = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]["properties"]["kind"]
    assert kind["enum"] == ["lease_activation", "deposit", "rent", "utilities"], kind
