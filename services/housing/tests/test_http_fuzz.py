"""Property-based fuzzing of housing's HTTP API from its OpenAPI document (schemathesis), in-process against the
real app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the
field. Seeded with a placed match like the authorisation matrix's, so fuzzed bodies also reach existing objects."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.fuzz import fuzz
from lgnet_shared.testing.inprocess import InProcessService, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")

pytestmark = pytest.mark.integration


async def seed(service: InProcessService) -> dict[str, str]:
    w = World(service)
    matrix.WORLDS.open_cases = []
    m = await matrix.match(w, "placed")
    return {
        "household_id": m["household_id"],
        "match_id": m["match_id"],
        "placement_id": m["placement_id"],
        "opportunity_id": await matrix.opportunity(w),
    }


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=15, budget_seconds=75, seed=seed)
    print(outcome.report("housing"))
    assert not outcome.failures, (
        outcome.report("housing") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )
