"""Property-based fuzzing of intake's HTTP API from its OpenAPI document (schemathesis), in-process against the real
app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the field."""

from __future__ import annotations

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.fuzz import fuzz

pytestmark = pytest.mark.integration


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=25, budget_seconds=75)
    print(outcome.report("intake"))
    assert not outcome.failures, (
        outcome.report("intake") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )
