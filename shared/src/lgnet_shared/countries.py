"""Countries: ISO 3166-1 alpha-2 codes (pycountry) and whether one is a third country (not in the EU); languages:
ISO 639 codes."""

from __future__ import annotations

import functools
import re

EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def is_third_country(alpha2: str) -> bool:
    return alpha2.upper() not in EU


@functools.cache  # 249 codes; looked up on every registration
def is_valid_country(alpha2: str) -> bool:
    import pycountry

    return bool(re.fullmatch(r"[A-Z]{2}", alpha2)) and pycountry.countries.get(alpha_2=alpha2) is not None


@functools.cache
def is_valid_language(code: str) -> bool:
    """An ISO 639 code as the contract writes languages: 639-1 (`ti`) or 639-2/3 (`tir`, `ger`), lower case."""
    import pycountry

    if not re.fullmatch(r"[a-z]{2,3}", code):
        return False
    if len(code) == 2:
        return pycountry.languages.get(alpha_2=code) is not None
    return (pycountry.languages.get(alpha_3=code) or pycountry.languages.get(bibliographic=code)) is not None
