"""What a phone number must look like (`lgnet_shared.phones`): one rule that intake applies to a registration, a
correction and a partner's sealed phone, and that the desk checks before it sends a registration. An outside test
registered "abcde" as a phone (intake's only rule was five characters) and the cartella showed "Telefono abcde"."""

from __future__ import annotations

import pytest
from lgnet_shared.phones import PHONE_REASON, phone_problem


@pytest.mark.parametrize(
    "typed",
    ["+39 011 555 0101", "011-555.0101", "(011) 5550101", "3331234567", "+393331234567", "  011 555 0101 ", "112233"],
)
def test_a_phone_number_as_people_write_it_is_one(typed: str) -> None:
    assert phone_problem(typed) is None


@pytest.mark.parametrize(
    "typed",
    ["abc", "abcde", "12", "12345", "011 555 0101 int. 3", "39+011555010", "+39 +011 555", "1234567890123456", "   "],
)
def test_letters_too_few_or_too_many_digits_or_a_plus_inside_is_no_phone_number(typed: str) -> None:
    assert phone_problem(typed) == PHONE_REASON
