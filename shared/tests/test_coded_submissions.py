"""Codes partners and the desk submit are checked against their list of the vocabulary where new data comes in: a
code no list has is refused naming the field, its list and every valid code (it was stored for good and shown raw).
Facts keep plain codes: old events must decode forever."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from lgnet_shared import vocabulary
from lgnet_shared.events import intake as facts
from lgnet_shared.events import partner as inbound
from pydantic import BaseModel, ValidationError

MEMBER_CHANGE = {"household_id": "h-1", "person_id": "p-1", "on": date(2026, 3, 1)}
REFERENCE_CHANGE = {"household_id": "h-1", "person_id": "p-2", "on": date(2026, 3, 1)}


def refusal(model: type[BaseModel], data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    [error] = refused.value.errors()
    return ".".join(str(p) for p in error["loc"]), error["msg"]


@pytest.mark.parametrize(
    ("model", "data", "listed"),
    [
        (inbound.HouseholdMemberChangeSubmitted, {**MEMBER_CHANGE, "change": "joined"}, "member_joined_reason"),
        (inbound.HouseholdMemberChangeSubmitted, {**MEMBER_CHANGE, "change": "left"}, "member_left_reason"),
        (inbound.HouseholdReferencePersonChangeSubmitted, REFERENCE_CHANGE, "reference_person_change_reason"),
    ],
)
def test_a_reason_no_list_has_is_refused_naming_the_field_and_every_valid_code(
    model: type[BaseModel], data: dict[str, Any], listed: str
) -> None:
    field, message = refusal(model, {**data, "reason": "bogus"})
    assert field == "reason"
    assert f"unknown {listed} code 'bogus'" in message
    assert all(code in message for code in vocabulary.codes(listed)), message
    for code in vocabulary.codes(listed):
        assert model.model_validate({**data, "reason": code}).reason == code  # type: ignore[attr-defined]


def test_a_members_reason_is_of_the_list_its_change_says() -> None:
    """`moved` is why a member leaves, `birth` why one joins: each is refused for the other change."""
    field, message = refusal(
        inbound.HouseholdMemberChangeSubmitted, {**MEMBER_CHANGE, "change": "joined", "reason": "moved"}
    )
    assert (field, "unknown member_joined_reason code 'moved'" in message) == ("reason", True)
    field, message = refusal(
        inbound.HouseholdMemberChangeSubmitted, {**MEMBER_CHANGE, "change": "left", "reason": "birth"}
    )
    assert (field, "unknown member_left_reason code 'birth'" in message) == ("reason", True)
    # a change that is neither is refused at `change` alone: no reason's list to judge by
    field, _ = refusal(inbound.HouseholdMemberChangeSubmitted, {**MEMBER_CHANGE, "change": "born", "reason": "birth"})
    assert field == "change"


def test_facts_keep_plain_codes_so_old_events_decode_forever() -> None:
    joined = facts.HouseholdMemberJoined.model_validate(
        {"household_id": "h-1", "person_id": "p-1", "reason": "family_reunification", "on": "2026-03-01"}
    )
    assert joined.reason == "family_reunification"


def test_a_code_holding_a_persons_data_is_not_repeated_in_its_refusal() -> None:
    """A partner's refusal travels on Kafka in clear: a fiscal code in lower case, a valid code's shape, is said to be
    one, not repeated."""
    field, message = refusal(
        inbound.HouseholdReferencePersonChangeSubmitted, {**REFERENCE_CHANGE, "reason": "rssmra85t10a562s"}
    )
    assert field == "reason" and "rssmra85t10a562s" not in message, message
    assert "unknown reference_person_change_reason code, which holds a fiscal code (not repeated here)" in message
