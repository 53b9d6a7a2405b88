"""Property-based fuzzing of intake's HTTP API from its OpenAPI document (schemathesis), in-process against the real
app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the field.
Seeded with a case like the authorisation matrix's, so fuzzed bodies also reach existing persons and cases."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.fuzz import fuzz
from lgnet_shared.testing.inprocess import InProcessService, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")

pytestmark = pytest.mark.integration


async def seed(service: InProcessService) -> dict[str, str]:
    w = World(service)
    r = await matrix.referral(w)
    return {"person_id": r["person_id"], "case_id": r["case_id"], "referral_id": r["referral_id"]}


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=20, budget_seconds=75, seed=seed)
    print(outcome.report("intake"))
    assert not outcome.failures, (
        outcome.report("intake") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )
