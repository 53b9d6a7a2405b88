"""What an identifier or a text in clear must not hold (DESIGN section 5): one check, every service's."""

from __future__ import annotations

import uuid

import pytest
import uuid_utils
from lgnet_shared.errors import ContractError
from lgnet_shared.pseudonymous import check_no_identifying_text, check_pseudonymous_id, identifying


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("RSSMRA85T10A562S", "a fiscal code"),
        ("prov-rssmra85t10a562s", "a fiscal code"),
        ("IT60X0542811101000000123456", "an IBAN"),
        ("maria.rossi@example.org", "an e-mail address"),
        ("+39 347 1234567", "a phone number"),
        # An Italian mobile number as people write it, without the country code (a desk's "chiamare 347 1234567").
        ("chiamare 347 1234567", "a phone number"),
        ("contatto-3471234567", "a phone number"),
        ("347.123.4567", "a phone number"),
        ("347-1234567", "a phone number"),
        ("case-20261206-0001", None),  # a date and a counter
        ("ref-3471234567890", None),  # thirteen digits: no phone number
        ("h-34712345", None),  # eight digits
        ("p-312-456789", None),  # a counter and a suffix: nine digits
        ("347 123 4567", "a phone number"),
        ("0193b2a4-7c1e-7d2a-9f00-3e5b8c1d2a4f", None),
        ("prov-42", None),
        ("IT60X0542811101000000123457", None),  # wrong check digits: not an IBAN
        # An Italian landline as people write it: 0, the rest of the area code, the number; 8 to 11 digits in all.
        ("tel. 011 1234567", "a phone number"),
        ("06 12345678", "a phone number"),
        ("ufficio: 040-123456", "a phone number"),
        ("0461 123456", "a phone number"),
        ("02/12345678", "a phone number"),
        ("0111234567", "a phone number"),
        ("chiamare lo 055.1234567", "a phone number"),
        ("011 123 4567", "a phone number"),
        ("nota-0612345678", "a phone number"),
        ("01934567-7c1e-7d2a-9f00-3e5b8c1d2a4f", None),  # a UUIDv7 whose first group is all digits
        ("p-012-456789", None),  # a counter and a suffix, as the matrices make ids
        ("dal 01/01/2026 al 31.12.2026", None),  # dates
        ("01-01-2026", None),
        ("h-01234", None),
        ("000123456", None),  # no area code starts with 00
        ("ref-01234567890123", None),  # fourteen digits
        ("o-prio-04512345", None),  # eight hex digits after an id's dash (a test's `uid`)
        ("c-012345678", None),  # a zero-padded counter
        ("01234567", None),
        ("040 123456", "a phone number"),  # Trieste: eight digits, grouped
    ],
)
def test_identifying_data_is_recognised(value: str, what: str | None) -> None:
    assert identifying(value) == what


def test_the_refusals_name_the_field_and_say_why() -> None:
    with pytest.raises(ContractError) as e:
        check_pseudonymous_id("RSSMRA85T10A562S", "provider_id")
    assert e.value.field == "provider_id"
    assert e.value.reason.startswith("holds a fiscal code: identifiers travel in clear and are never erased")
    with pytest.raises(ContractError) as e:
        check_no_identifying_text("da Maria, +39 347 1234567", "title")
    assert (e.value.field, e.value.reason) == (
        "title",
        "holds a phone number: this text travels in clear and is never erased; name no person",
    )
    check_pseudonymous_id("prov-42", "provider_id")


def test_no_uuid_is_taken_for_identifying_data() -> None:
    """The ids the check recommends (UUIDs, v4 and the time-ordered v7 whose first groups are often all digits), and
    eight hex or zero-padded digits after a dash (the suite's `uid`; a counter)."""
    ids = [str(uuid.uuid4()) for _ in range(5000)] + [str(uuid_utils.uuid7()) for _ in range(5000)]
    ids += [f"0{n:07d}-7c1e-7d2a-9f00-{n:012d}" for n in range(1, 10**7, 7919)]  # digits wherever a group may hold them
    ids += [f"o-{uuid.uuid4().hex[:8]}" for _ in range(5000)] + [f"c-{n:08d}" for n in range(1, 10**8, 99991)]
    assert [i for i in ids if identifying(i)] == []
