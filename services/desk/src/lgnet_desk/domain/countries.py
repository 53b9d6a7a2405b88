"""A nationality as an operator types it: the country's name in Italian or English ("Marocco", "Morocco",
"costa d'avorio"), or its ISO 3166-1 alpha-2 code ("MA"), which is what intake records. Pure: CLDR's names (Babel),
of the countries ISO 3166-1 lists (pycountry, as intake checks them): CLDR's other two-letter territories are not
nationalities ("Pseudo-accenti" XA, "Eurozona" EZ, "Nazioni Unite" UN, "Regione sconosciuta" ZZ)."""

from __future__ import annotations

import functools
import unicodedata

from babel import Locale
from lgnet_shared.countries import is_valid_country

# The desk's refusal, in English as the services write theirs (domain/refusals.py says it in Italian).
UNKNOWN = "no country of that name: write the country's name (e.g. Morocco) or its two-letter code (MA)"


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


@functools.cache
def _codes_by_name() -> dict[str, str]:
    names: dict[str, str] = {}
    for locale in ("it_IT", "en_GB"):
        for code, name in Locale.parse(locale).territories.items():
            if is_valid_country(code):  # countries, not regions ("150" Europe) nor CLDR's own ("XA", "EZ")
                names.setdefault(_plain(name), code)
    return names


@functools.cache
def names(locale: str) -> list[tuple[str, str]]:
    """(code, name) of every country, sorted by name in `locale`: the registration form's suggestions."""
    found = Locale.parse(locale).territories.items()
    return sorted(((c, n) for c, n in found if is_valid_country(c)), key=lambda cn: _plain(cn[1]))


def country_code(typed: str) -> str | None:
    """The ISO code a typed nationality names; None when nothing was typed. Raises ValueError(UNKNOWN) when the text
    is neither a two-letter code nor a country's name (intake checks the code itself)."""
    text = _plain(typed)
    if not text:
        return None
    if len(text) == 2 and text.isalpha():
        return text.upper()
    code = _codes_by_name().get(text)
    if code is None:
        raise ValueError(UNKNOWN)
    return code
