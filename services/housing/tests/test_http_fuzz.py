"""Property-based fuzzing of housing's HTTP API from its OpenAPI document (schemathesis), in-process against the
real app on real PostgreSQL: no 5xx for any input, every answer as documented, every 4xx problem+json naming the
field. Seeded with a placed match like the authorisation matrix's, so fuzzed bodies also reach existing objects."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.testing.api_fuzz import fuzz
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, in_process, sibling_module

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
    outcome = fuzz(SPEC, database_url, max_examples=15, seed=seed)
    print(outcome.report("housing"))
    assert not outcome.failures, (
        outcome.report("housing") + "\n" + "\n\n".join(f"{name}: {error}" for name, error in outcome.failures.items())
    )


async def test_the_reported_500s_are_422s_naming_the_field(database_url: str, pg_schema: str) -> None:
    """From the outside test: a rent above int64 and a NUL in a string answered 500 with a plain-text body."""
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        body = {
            "opportunity_id": "o-1",
            "partner": matrix.A,
            "kind": "private_rental",
            "capacity": 2,
            "bedrooms": 1,
            "monthly_rent_cents": 2**63,
            "available_from": "2026-01-01",
        }
        r = await staff.post("/opportunities", json=body, headers={"Idempotency-Key": "k1"})
        assert (r.status_code, r.json()["field"]) == (422, "monthly_rent_cents"), r.text
        r = await staff.post(
            "/opportunities", json=body | {"monthly_rent_cents": 1, "area": "a\x00"}, headers={"Idempotency-Key": "k2"}
        )
        assert (r.status_code, r.json()["field"]) == (422, "area"), r.text
        r = await staff.get("/households/h%00/why")
        assert (r.status_code, r.json()["field"]) == (422, "path.household_id"), r.text


# Rules that the matching cannot compute with (found by the fuzzer: a horizon of 2**31 days was accepted, and from
# then on every re-matching of the city, e.g. ending a placement, answered 500 with an OverflowError).
BREAKING_RULES = {
    "availability_horizon_days": ({"availability_horizon_days": 2**31}, "availability_horizon_days"),
    "stalled_after_days": ({"stalled_after_days": 10**12}, "stalled_after_days"),
    "max_hold_days": ({"max_hold_days": 10**12}, "max_hold_days"),
    "max_people_per_bedroom": ({"max_people_per_bedroom": 2**63}, "max_people_per_bedroom"),
    "planned_contribution_cents": ({"planned_contribution_cents": 2**63}, "planned_contribution_cents"),
    "vulnerability": ({"priority": {"vulnerability": 1e300}}, "priority.vulnerability"),
    "situation": ({"priority": {"situation": {"homeless": 1e300}}}, "priority.situation.homeless"),
    "waiting_cap_months": ({"priority": {"waiting_cap_months": 10**9}}, "priority.waiting_cap_months"),
    "urgency_horizon_days": ({"priority": {"urgency_horizon_days": 10**12}}, "priority.urgency_horizon_days"),
}


@pytest.mark.parametrize("case", BREAKING_RULES)
async def test_rules_the_matching_cannot_compute_with_are_refused_naming_the_field(
    database_url: str, pg_schema: str, case: str
) -> None:
    body, field = BREAKING_RULES[case]
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        seeded = await seed(service)
        r = await staff.put("/rules", json=body, headers={"Idempotency-Key": "k1"})
        assert (r.status_code, r.json()["field"]) == (422, field), r.text
        r = await staff.post(
            f"/placements/{seeded['placement_id']}/end",
            json={"reason": "autonomy_reached", "ended_on": str(clock.today())},
            headers={"Idempotency-Key": "k2"},
        )
        assert r.status_code == 200, r.text


def _bound(schema: dict[str, Any]) -> Any:
    """A field's maximum as the API takes it: FastAPI's OpenAPI writes an integer's bound as a number (10.0), and an
    integer field takes only a JSON integer."""
    return int(schema["maximum"]) if schema.get("type") == "integer" else schema["maximum"]


async def test_the_largest_accepted_rules_still_match_and_explain(database_url: str, pg_schema: str) -> None:
    """Every bound at its maximum together: ending a placement re-matches the city, and a household's
    explanation is computed, without a 5xx."""
    async with (
        in_process(SPEC, database_url, pg_schema, check_answers=True) as service,
        service.client(matrix.STAFF_TO) as staff,
    ):
        seeded = await seed(service)
        limits = (await staff.get("/openapi.json")).json()["components"]["schemas"]
        rules, priority = limits["SetRules"]["properties"], limits["PriorityWeights"]["properties"]
        most = {k: _bound(p) for k, p in rules.items() if "maximum" in p}
        body = most | {
            "priority": {k: _bound(p) for k, p in priority.items() if "maximum" in p}
            | {"situation": {"homeless": priority["situation"]["additionalProperties"]["maximum"]}},
        }
        assert {"availability_horizon_days", "max_people_per_bedroom", "planned_contribution_cents"} <= set(most)
        r = await staff.put("/rules", json=body, headers={"Idempotency-Key": "k1"})
        assert r.status_code == 200, r.text
        r = await staff.post(
            f"/placements/{seeded['placement_id']}/end",
            json={"reason": "autonomy_reached", "ended_on": str(clock.today())},  # a step is dated today at the latest
            headers={"Idempotency-Key": "k2"},
        )
        assert r.status_code == 200, r.text
        r = await staff.post("/matching/runs", json={}, headers={"Idempotency-Key": "k3"})
        assert r.status_code in (200, 201), r.text
        r = await staff.get(f"/households/{seeded['household_id']}/why")
        assert r.status_code == 200, r.text
