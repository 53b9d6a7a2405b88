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


MAX_LANGUAGES = 20  # a person's, an opportunity's: without a bound 300,000 codes made a 1.5 MB fact


def check_languages(codes: list[str], field: str = "languages") -> list[str]:
    """Languages as the contract lists them: ISO 639 codes, each once, at most MAX_LANGUAGES (a ContractError names
    the list or the code at fault)."""
    from lgnet_shared.errors import ContractError

    if len(codes) > MAX_LANGUAGES:
        raise ContractError(field, f"lists {len(codes)} languages: at most {MAX_LANGUAGES}")
    for i, code in enumerate(codes):
        if not is_valid_language(code):
            raise ContractError(f"{field}.{i}", f"{code!r} is not an ISO 639 language code")
        if code in codes[:i]:
            raise ContractError(f"{field}.{i}", f"{code!r} is listed twice")
    return list(codes)
