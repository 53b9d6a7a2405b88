"""Rules about persons: age and minority, third-country status, the Italian fiscal code, name matching keys.

What an identifier must not hold is shared by every service (`lgnet_shared.pseudonymous`); its three names stay
here as intake's callers know them."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from codicefiscale import codicefiscale
from lgnet_shared.countries import is_third_country, is_valid_country
from lgnet_shared.errors import ContractError
from lgnet_shared.phones import phone_problem
from lgnet_shared.pseudonymous import check_no_identifying_text as check_no_identifying_text
from lgnet_shared.pseudonymous import check_pseudonymous_id as check_pseudonymous_id
from lgnet_shared.pseudonymous import identifying as identifying

ADULT_AGE = 18


def age_on(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def is_minor(birth_date: date, on: date) -> bool:
    """Minor or adult is judged at the date the case is opened (DESIGN section 4)."""
    return age_on(birth_date, on) < ADULT_AGE


def check_birth_date(birth_date: date, today: date, field: str = "birth_date") -> None:
    if birth_date > today:
        raise ContractError(field, "is in the future")
    if age_on(birth_date, today) > 120:
        raise ContractError(field, "is more than 120 years ago")


def nationality(alpha2: str, field: str = "nationality") -> tuple[str, bool]:
    """Normalised ISO 3166-1 alpha-2 code and whether it is a third country (not an EU member state)."""
    code = alpha2.strip().upper()
    if not is_valid_country(code):
        raise ContractError(field, f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code, is_third_country(code)


def phone(value: str, field: str = "identity.phone") -> str:
    """The phone as typed, once it looks like one (`lgnet_shared.phones`, the rule the desk checks too)."""
    if (problem := phone_problem(value)) is not None:
        raise ContractError(field, problem)
    return value.strip()


def fiscal_code(code: str, *, birth_date: date, sex: str, field: str = "fiscal_code") -> str:
    """The normalised fiscal code, checked with python-codicefiscale: format, check character, birthplace code (an
    Italian municipality or a foreign country, Z…, in force at the birth date), then agreement with the birth date
    and sex (women's day of birth plus 40). Reasons never repeat the code (it is personal data).

    The birth date is read off the code here rather than with the library's `decode`, which also builds all 128
    omocodia variants and the possible first names (≈ 1 ms a code, docs/benchmarks.md) and guesses the century
    from today's year: it read a person aged 100 or more as born this century. With the person's birth date known,
    the code's two-digit year only has to agree with it."""
    normalised = code.strip().upper().replace(" ", "")
    if not codicefiscale.CODICEFISCALE_RE.match(normalised.lower()):
        raise ContractError(
            field,
            "must be 16 characters: 6 letters, 2 digits, a month letter (ABCDEHLMPRST), 2 digits, a birthplace code"
            " (a letter and 3 digits) and a check character (digits may be replaced by letters: omocodia)",
        )
    if codicefiscale.encode_cin(normalised[:15]) != normalised[15]:
        raise ContractError(field, "wrong check character (the 16th, computed from the first 15)")
    year, month, day, female = _encoded_birth(normalised)
    if year is None:
        raise ContractError(field, "is not a valid Italian fiscal code (the birth date it encodes is impossible)")
    if (year, month, day) != (birth_date.year % 100, birth_date.month, birth_date.day):
        raise ContractError(field, "does not match birth_date")
    place = normalised[11] + normalised[12:15].translate(_OMOCODIA)
    try:
        codicefiscale.encode_birthplace(place, datetime(birth_date.year, birth_date.month, birth_date.day))
    except ValueError:
        raise ContractError(
            field, "birthplace code is not an Italian municipality or foreign country in force at the birth date"
        ) from None
    if sex in ("female", "male") and female != (sex == "female"):
        raise ContractError(field, "does not match sex")
    return str(normalised)


# Omocodia: a code's digits may be replaced by these letters (0-9) to tell apart two persons' identical codes.
_OMOCODIA = str.maketrans("LMNPQRSTUV", "0123456789")
_MONTHS = "ABCDEHLMPRST"


def _encoded_birth(code: str) -> tuple[int | None, int, int, bool]:
    """(Two-digit year, month, day, female) from a code of the right shape; year None when no calendar has that date
    in either century the two digits may mean."""
    yy, dd = code[6:8].translate(_OMOCODIA), code[9:11].translate(_OMOCODIA)
    month = _MONTHS.index(code[8]) + 1
    if not (yy.isdigit() and dd.isdigit()):
        return None, month, 0, False
    year, day = int(yy), int(dd)
    female = day > 40
    day -= 40 if female else 0
    for century in (1900, 2000):
        try:
            date(century + year, month, day)
        except ValueError:
            continue
        return year, month, day, female
    return None, month, day, female


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")  # after folding to ASCII lower case


def name_key(given_name: str, family_name: str, birth_date: date) -> str:
    """Key for a likely match on name and birth date: case, accents, spacing and name order ignored."""

    def fold(s: str) -> list[str]:
        plain = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().casefold()
        return _NOT_ALNUM.sub(" ", plain).split()

    return f"{' '.join(sorted(fold(given_name) + fold(family_name)))}|{birth_date.isoformat()}"
