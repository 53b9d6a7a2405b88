"""Property-based fuzzing of reporting's HTTP API from its OpenAPI document (schemathesis), in-process against the
real app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the
field. Seeded with a published city report, so fuzzed requests reach it too."""

from __future__ import annotations

import pytest
from lgnet_reporting.entrypoints.main import SPEC
from lgnet_shared.testing.api_fuzz import fuzz
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService

pytestmark = pytest.mark.integration


async def seed(service: InProcessService) -> dict[str, str]:
    made = await World(service).call("staff-torino", "POST", "/reports/city_summary/publish", {"city": "torino"})
    return {"report_id": made["report_id"], "report": "city_summary"}


def test_no_input_breaks_the_api(database_url: str) -> None:
    outcome = fuzz(SPEC, database_url, max_examples=25, seed=seed)
    print(outcome.report("reporting"))
    assert not outcome.failures, (
        outcome.report("reporting") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )


def test_the_openapi_documents_the_idempotency_conflict_of_a_publication() -> None:
    """Found by the fuzzer: a reused Idempotency-Key answered an undocumented 409."""
    from lgnet_shared.service import create_app
    from lgnet_shared.testing.inprocess import settings_for

    spec = create_app(SPEC, settings_for("postgresql://unused@127.0.0.1/x", "unused")).openapi()
    assert "409" in spec["paths"]["/reports/{report}/publish"]["post"]["responses"]
