"""The languages a person speaks, as an operator types them: the languages' names in Italian or English ("arabo",
"Wolof", "creolo haitiano") or their ISO 639 codes ("ar"), separated by commas; intake records the codes. Pure:
CLDR's names (Babel); a code is one the contract takes (`lgnet_shared.countries.is_valid_language`)."""

from __future__ import annotations

import functools
import re

from babel import Locale
from lgnet_shared.countries import is_valid_language

from lgnet_desk.domain.persons import name_words

# The desk's refusal, in English as the services write theirs (domain/refusals.py says it in Italian).
UNKNOWN = "no language named {name}: write the languages' names (e.g. arabo, francese) or their codes (ar, fr)"
_CODE = re.compile(r"[a-z]{2,3}")


def _key(text: str) -> tuple[str, ...]:
    return name_words(text)  # case, accents, punctuation and word order aside


@functools.cache
def _codes_by_name() -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for locale in ("it_IT", "en_GB"):
        for code, name in Locale.parse(locale).languages.items():
            if _CODE.fullmatch(code) and is_valid_language(code):
                found.setdefault(_key(name), code)
    return found


@functools.cache
def names(locale: str) -> list[tuple[str, str]]:
    """(code, name) of every language the contract takes, sorted by name in `locale`: the form's suggestions."""
    found = Locale.parse(locale).languages.items()
    kept = [(c, n) for c, n in found if _CODE.fullmatch(c) and is_valid_language(c)]
    return sorted(kept, key=lambda cn: _key(cn[1]))


def codes_of(typed: str) -> list[str]:
    """The ISO 639 codes of the languages typed, each once, in the order typed. Raises ValueError(UNKNOWN) naming
    the first that is neither a language's name nor a code."""
    codes: list[str] = []
    for part in re.split(r"[,;]", typed):
        if not (text := part.strip()):
            continue
        code = text.lower() if _CODE.fullmatch(text.lower()) and is_valid_language(text.lower()) else None
        code = code or _codes_by_name().get(_key(text))
        if code is None:
            raise ValueError(UNKNOWN.format(name=text))
        if code not in codes:
            codes.append(code)
    return codes
