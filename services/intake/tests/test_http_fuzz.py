"""Property-based fuzzing of intake's HTTP API from its OpenAPI document (schemathesis), in-process against the real
app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the field.
Seeded with a case like the authorisation matrix's, so fuzzed bodies also reach existing persons and cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.api_fuzz import fuzz
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, in_process, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")

pytestmark = pytest.mark.integration


async def seed(service: InProcessService) -> dict[str, str]:
    w = World(service)
    r = await matrix.referral(w)
    return {"person_id": r["person_id"], "case_id": r["case_id"], "referral_id": r["referral_id"]}


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=20, seed=seed)
    print(outcome.report("intake"))
    assert not outcome.failures, (
        outcome.report("intake") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )


async def test_the_reported_500s_are_422s_naming_the_field(database_url: str, pg_schema: str) -> None:
    """From the outside test: a NUL in a string answered 500 with a plain-text body on 17 routes."""
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        r = await staff.get("/persons/p%00")
        assert (r.status_code, r.json()["field"]) == (422, "path.person_id"), r.text
        body = matrix.person("p-1") | {"identity": {"given_name": "A\x00"}}
        r = await staff.post("/persons", json=body, headers={"Idempotency-Key": "k1"})
        assert (r.status_code, r.json()["field"]) == (422, "identity.given_name"), r.text
        r = await staff.post("/persons", json=matrix.person("p-2"), headers={"Idempotency-Key": "k\x00"})
        assert (r.status_code, r.json()["field"]) == (422, "headers.idempotency-key"), r.text


async def test_a_control_character_in_a_path_id_and_a_utf16_body_are_refused(database_url: str, pg_schema: str) -> None:
    """From an outside test: `GET /persons/a%01b` answered 404 "no person a\\u0001b" (ids hold no control character:
    a 422 naming the field wherever it is, as `%00` already was), and a UTF-16 body with a byte-order mark was read
    and the person registered (the contract's bodies are UTF-8: a 400 naming the body)."""
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        r = await staff.get("/persons/a%01b")
        assert (r.status_code, r.json()["field"]) == (422, "path.person_id"), r.text
        assert "control character" in r.json()["reason"]
        for encoding in ("utf-16", "utf-16-le", "utf-32-be"):  # with a byte-order mark, and without (a review)
            encoded = json.dumps(matrix.person("p-16")).encode(encoding)
            r = await staff.post("/persons", content=encoded,
                                 headers={"Idempotency-Key": "k16", "Content-Type": "application/json"})  # fmt: skip
            assert (r.status_code, r.json()["field"]) == (400, "body") and "UTF-8" in r.json()["reason"], r.text
        assert (await staff.get("/persons/p-16")).status_code == 404
