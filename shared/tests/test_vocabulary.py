"""The code lists hold every code the contracts define, each with an Italian and an English label."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from lgnet_shared import vocabulary
from lgnet_shared.events import civic, housing, intake, outreach, payments


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


ENUMS = [
    obj
    for module in (intake, housing, payments, civic, outreach)
    for obj in vars(module).values()
    if isinstance(obj, type) and issubclass(obj, StrEnum) and obj is not StrEnum
]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_contract_enum_has_its_list_with_the_same_codes(enum: type[StrEnum]) -> None:
    assert vocabulary.codes(_snake(enum.__name__)) == {m.value for m in enum}


@pytest.mark.parametrize("name", sorted(vocabulary.lists()))
def test_every_code_has_an_italian_and_an_english_label(name: str) -> None:
    code_list = vocabulary.code_list(name)
    assert code_list.version >= 1 and set(code_list.labels) == {"it", "en"}
    for entry in code_list.entries.values():
        assert entry.labels["it"].strip() and entry.labels["en"].strip(), entry.code


def test_vulnerabilities_have_definitions_in_both_languages() -> None:
    for entry in vocabulary.code_list("vulnerability").entries.values():
        assert set(entry.definitions) == {"it", "en"}, entry.code


def test_labels_are_italian_by_default_and_english_on_request() -> None:
    assert vocabulary.label("vulnerability", "woman_social_emergency") == "Donna in emergenza sociale"
    assert vocabulary.label("vulnerability", "woman_social_emergency", "en") == "Woman in social emergency"
    assert vocabulary.label("channel", "mobile_unit", "de") == "Unità mobile"
    assert vocabulary.list_label("housing_kind") == "Tipologia di alloggio"


def test_an_unknown_code_is_refused_with_the_valid_ones_but_still_shown() -> None:
    with pytest.raises(vocabulary.UnknownCode) as refused:
        vocabulary.check("vulnerability", "anything_goes_xyz")
    assert "anything_goes_xyz" in str(refused.value) and "psychiatric_condition" in str(refused.value)
    assert vocabulary.check("vulnerability", "addiction") == "addiction"
    assert vocabulary.label("vulnerability", "retired_code") == "retired_code"
    with pytest.raises(KeyError, match="no code list"):
        vocabulary.codes("colours")
