"""Partners' inbound events are read strictly, as the published JSON Schema types say: a date is a `YYYY-MM-DD`
string (not a number, not `20261130`, not a timestamp string), a boolean is `true`/`false`, a whole number is a
JSON integer. Lax coercion would store what the partner did not mean (`1764460800` became a date)."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.errors import InvalidEventData
from lgnet_shared.events import partner as inbound

OPENING = inbound.CaseOpeningSubmitted(
    case_id="c-1", household_id="h-1", action_area="taking_charge", channel="desk", opened_on="2026-11-30"
)


def envelope_with(**data: Any) -> Any:
    env = to_envelope(OPENING, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
    return env.model_copy(update={"data": {**env.data, **data}})


def test_a_well_typed_event_is_read_strictly() -> None:
    assert decode(envelope_with(), strict=True) == OPENING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("opened_on", 1764460800),  # a number where the contract says a date string
        ("opened_on", 20261130),
        ("opened_on", "20261130"),  # a string, but not an ISO 8601 date
        ("opened_on", "1764460800"),
        ("opened_on", "2026-11-30T00:00:00Z"),
        ("housing_need", 1),  # a number for a boolean
        ("housing_need", "true"),
        ("case_id", 17),  # a number for a string
    ],
)
def test_a_value_of_another_json_type_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidEventData) as refused:
        decode(envelope_with(**{field: value}), strict=True)
    assert refused.value.field == f"data.{field}"
    assert refused.value.kind == "invalid_data"


def test_whole_numbers_must_be_json_integers() -> None:
    assessment = inbound.NeedsAssessmentSubmitted(
        case_id="c-1",
        housing_situation="homeless",
        monthly_income_cents=0,
        employment_status="unemployed",
        assessed_on="2026-11-30",
    )
    env = to_envelope(assessment, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
    for wrong in ("12000", 12000.5):
        bad = env.model_copy(update={"data": {**env.data, "monthly_income_cents": wrong}})
        with pytest.raises(InvalidEventData) as refused:
            decode(bad, strict=True)
        assert refused.value.field == "data.monthly_income_cents"
