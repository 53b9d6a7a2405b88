"""A dead letter's error text never carries the values an exception quotes (personal data never travels in plain text
on Kafka): what the failure was stays readable."""

from __future__ import annotations

import pytest
from lgnet_shared.deadletter import Failure, without_values


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "invalid input for query argument $1: 'Maria Rossi' ('str' object cannot be interpreted as an integer)",
            "invalid input for query argument $1: '…' ('…' object cannot be interpreted as an integer)",
        ),
        ('invalid input syntax for type date: "12/03/1980"', "invalid input syntax for type date: '…'"),
        ("Input should be a valid integer [type=int_type, input_value='Ahmed', input_type=str]", None),
        ("no household for fiscal code RSSMRA80A01H501U", "no household for fiscal code …"),
        ("IBAN IT60X0542811101000000123456 refused", "IBAN … refused"),
        ("call +39 333 1234567 or on 1980-01-01", "call … or on …"),
        ("this event always fails", "this event always fails"),
        ("3 attempts, offset 12 of partition 3", "3 attempts, offset 12 of partition 3"),
    ],
)
def test_values_are_masked_and_the_failure_is_still_said(text: str, kept: str | None) -> None:
    masked = without_values(text)
    if kept is not None:
        assert masked == kept
    for value in ("Maria", "Ahmed", "1980", "RSSMRA", "IT60", "1234567"):
        assert value not in masked


def test_a_failure_of_an_exception_names_its_type_and_masks_its_text() -> None:
    failure = Failure.of("processing", KeyError("Maria Rossi"), attempts=3)
    assert (failure.kind, failure.error_type, failure.message, failure.attempts) == ("processing", "KeyError", "'…'", 3)
