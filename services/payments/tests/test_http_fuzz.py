"""Property-based fuzzing of payments' HTTP API from its OpenAPI document (schemathesis), in-process against the
real app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the
field. Seeded with a paid batch and a voucher like the authorisation matrix's, so fuzzed bodies reach them too."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_payments.entrypoints.main import SPEC
from lgnet_shared.testing.api_fuzz import fuzz
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, in_process, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")
pytestmark = pytest.mark.integration


async def seed(service: InProcessService) -> dict[str, str]:
    w = World(service)
    await w.call(
        matrix.STAFF_TO, "PUT", "/policies/torino", {"debtor_name": "Comune di Torino", "debtor_iban": matrix.CITY_IBAN}
    )
    b = await matrix.batch(w)
    v = await matrix.voucher(w)
    line = await w.call(matrix.STAFF_TO, "POST", "/budget-lines", {"line": "deposit", "amount_cents": 10_000})
    return {
        "city": "torino",
        "request_id": b["request_id"],
        "batch_id": b["batch_id"],
        "voucher_id": v["voucher_id"],
        "budget_line_id": line["budget_line_id"],
    }


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=20, seed=seed)
    print(outcome.report("payments"))
    assert not outcome.failures, (
        outcome.report("payments") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )


async def test_the_file_of_a_batch_whose_paying_account_was_removed_is_still_its_stored_file(
    database_url: str, pg_schema: str
) -> None:
    """Found by the fuzzer: a policy without the paying account, set after the batch, answered 500. Since files
    are stored when the batch is made (issue #17), the batch's file is served as it was; a new batch is refused."""
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        await seed(service)
        w = World(service)
        b = await matrix.batch(w)
        async with service.client(matrix.STAFF_TO) as staff:
            before = await staff.get(f"/batches/{b['batch_id']}/pain.001")
        await w.call(matrix.STAFF_TO, "PUT", "/policies/torino", {})
        async with service.client(matrix.STAFF_TO) as staff:
            r = await staff.get(f"/batches/{b['batch_id']}/pain.001")
            assert r.status_code == 200 and r.content == before.content, r.text
            made = await staff.post("/batches", json={}, headers={"Idempotency-Key": "after-removal"})
        assert (made.status_code, made.json()["field"]) == (422, "policy.debtor_iban"), made.text


async def test_the_reported_500s_are_422s_naming_the_field(database_url: str, pg_schema: str) -> None:
    """From the outside test: `GET /contribution-requests?status=%00` answered 500 with a plain-text body."""
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        for path, field in (
            ("/contribution-requests?status=%00", "query.status"),
            ("/contribution-requests/r%00", "path.request_id"),
            ("/vouchers?household_id=h%00", "query.household_id"),
        ):
            r = await staff.get(path)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text
            assert r.headers["content-type"].startswith("application/problem+json")
