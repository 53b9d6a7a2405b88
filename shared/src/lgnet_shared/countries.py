"""Countries: ISO 3166-1 alpha-2 codes (pycountry) and whether one is a third country (not in the EU)."""

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
