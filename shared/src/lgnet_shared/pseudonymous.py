"""What an identifier or a text in clear must not hold (DESIGN section 5), checked where a client's input is admitted.

Identifiers travel in clear on every topic and into every service and reporting, and an erasure shreds only sealed
fields. Machine-recognisable identifying data is refused in a NEW identifier a client chooses (a person's, a case's, a
voucher provider's, a redemption's, a housing opportunity's…) and in a free text that travels in clear (a place, a
title): a fiscal code (omocodia letters too), an IBAN (its check digits right), an e-mail address, a phone number in
international form or an Italian mobile (347 1234567) or landline (011 1234567) one. Each stands alone (not inside a
longer run of letters and digits, as in a hex id). What is already stored is never checked again: only admission of a
new value (an HTTP call, a partner's event) is.
"""

from __future__ import annotations

import re

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from lgnet_shared.errors import ContractError

_ALONE = r"(?<![A-Za-z0-9]){}(?![A-Za-z0-9])"
_FISCAL_CODE = re.compile(
    _ALONE.format(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"),
    re.IGNORECASE,
)
_IBAN = re.compile(_ALONE.format(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"), re.IGNORECASE)
_E_MAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![A-Za-z0-9])\+[0-9][0-9 .-]{7,}[0-9]")
# An Italian mobile number as people write it, without the country code: ten digits, 3xx then seven, whole or grouped
# 3 + 7 or 3 + 3 + 4 ("3471234567", "347 1234567", "347.123.4567"), standing alone. Not any run of nine digits and
# dashes: "p-312-456789", a counter and a hex suffix, is an id.
_MOBILE = re.compile(r"(?<![A-Za-z0-9])3[0-9]{2}(?:[ .-]?[0-9]{7}|[ .-]?[0-9]{3}[ .-][0-9]{4})(?![A-Za-z0-9])")
# An Italian landline: 0 and the rest of its area code (no area code starts with 00), then the number, whole or after
# one separator, or in two groups ("011 1234567", "02/12345678", "0461-123456", "011 123 4567"), not followed by a
# dash (a UUID's first group may be all digits: "01934567-7c1e-…"); a date has no run of five digits. How many digits
# (`_landline`): standing alone, 8 to 11 grouped or 9 to 11 whole (an eight-digit run is a zero-padded counter as
# often); after an id's dash or underscore, only 10 or 11 whole ("p-012-456789" is a counter and a suffix,
# "o-04512345" eight hex digits of a test's or a system's).
_LANDLINE = re.compile(
    r"(?<![A-Za-z0-9])0[1-9][0-9]{0,2}[ ./-]?(?:[0-9]{5,8}|[0-9]{3,4}[ .-][0-9]{3,4})(?![A-Za-z0-9-])"
)


def _landline(value: str) -> bool:
    for m in _LANDLINE.finditer(value):
        number = m.group(0)
        digits, whole = sum(c.isdigit() for c in number), number.isdigit()
        if value[m.start() - 1 : m.start()] in ("-", "_"):
            found = whole and 10 <= digits <= 11
        else:
            found = 9 <= digits <= 11 if whole else 8 <= digits <= 11
        if found:
            return True
    return False


def _iban_checks(candidate: str) -> bool:
    """An IBAN schwifty accepts: its country's length and format, its check digits."""
    try:
        IBAN(candidate.upper())
    except SchwiftyException:
        return False
    return True


def identifying(value: str) -> str | None:
    """What recognisable identifying data the text holds ("a fiscal code", …), or None (see above)."""
    found = [
        ("a fiscal code", _FISCAL_CODE.search(value) is not None),
        ("an IBAN", any(_iban_checks(m.group(0)) for m in _IBAN.finditer(value))),
        ("an e-mail address", _E_MAIL.search(value) is not None),
        ("a phone number", _PHONE.search(value) is not None or _MOBILE.search(value) is not None or _landline(value)),
    ]
    return next((what for what, held in found if held), None)


def check_pseudonymous_id(value: str, field: str) -> None:
    """A new identifier holds no identifying data that can be recognised (see above)."""
    if what := identifying(value):
        raise ContractError(
            field,
            f"holds {what}: identifiers travel in clear and are never erased; choose one that says nothing of"
            " the person (e.g. a UUID)",
        )


def check_no_identifying_text(value: str, field: str) -> None:
    """A free text that travels in clear (a place's name) holds no identifying data that can be recognised."""
    if what := identifying(value):
        raise ContractError(field, f"holds {what}: this text travels in clear and is never erased; name no person")
