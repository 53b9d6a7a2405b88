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


ASSESSMENT = inbound.NeedsAssessmentSubmitted(
    case_id="c-1", housing_situation="homeless", monthly_income_cents=0, employment_status="unemployed",
    assessed_on="2026-11-30",
)  # fmt: skip


@pytest.mark.parametrize(
    ("event", "field", "value", "reason"),
    [
        (ASSESSMENT, "monthly_income_cents", 2**63, "out of range"),  # beyond PostgreSQL's bigint
        (ASSESSMENT, "monthly_income_cents", 10**30, "out of range"),
        (OPENING, "household_id", "h\x00-1", "NUL"),  # text PostgreSQL refuses
        (OPENING, "referral_id", "r\n-1", "control character"),  # ids become keys and CloudEvents attributes
        # ids become segments of addresses: a person registered as "a/b" could be found but never read, corrected
        # or erased (every /persons/{person_id}/... answered 404), and ".." is resolved away by HTTP clients
        (OPENING, "case_id", "c/1", "one segment of an address"),
        (OPENING, "household_id", "..", "one segment of an address"),
    ],
)
def test_a_value_no_database_can_store_is_refused_naming_the_field(
    event: Any, field: str, value: Any, reason: str
) -> None:
    """The same rule as every HTTP input (lgnet_shared.storable), for what partners send over Kafka."""
    env = to_envelope(event, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
    with pytest.raises(InvalidEventData) as refused:
        decode(env.model_copy(update={"data": {**env.data, field: value}}), strict=True)
    assert (refused.value.field, refused.value.kind) == (f"data.{field}", "invalid_data")
    assert reason in str(refused.value)


def test_the_largest_whole_number_a_database_stores_is_accepted() -> None:
    env = to_envelope(ASSESSMENT, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
    largest = env.model_copy(update={"data": {**env.data, "monthly_income_cents": 2**63 - 1}})
    assert decode(largest, strict=True).monthly_income_cents == 2**63 - 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("written", "data", "field"),
    [
        (2, {"identity": {"all": {"kid": "hpke:k", "n": "", "ct": "AAAA"}}}, "data.identity.all"),  # v3's
        (
            1,
            {"birth_date": "1990-01-01", "identity": {"birth_date": {"kid": "hpke:k", "n": "", "ct": "AAAA"}}},
            "data.identity.birth_date",
        ),
    ],
)
def test_a_record_naming_an_older_version_is_held_to_that_versions_schema(
    written: int, data: dict[str, Any], field: str
) -> None:
    """The latest model takes fields an older version does not have: read strictly, a record is first held to the
    schema of the version its `dataschema` names (a v1 registration with a clear birth date and a sealed one, the
    sealed one silently winning; a v2 one carrying v3's whole identity)."""
    registration = inbound.PersonRegistrationSubmittedV1(
        person_id="p-1", birth_date="1990-01-01", sex="female", nationality="NG"
    )
    env = to_envelope(registration, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
    env = env.model_copy(
        update={
            "data": {**env.data, **data},
            "dataschema": f"urn:lgnet:schema:{registration.type}:v{written}",
        }
    )
    with pytest.raises(InvalidEventData) as refused:
        decode(env, strict=True)
    assert refused.value.field == field
    assert refused.value.reason == "Extra inputs are not permitted"
    assert isinstance(decode(env), inbound.PersonRegistrationSubmitted)  # our own facts are still read leniently
