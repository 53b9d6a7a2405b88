"""Amounts as operators type them. Pure: no I/O."""

from __future__ import annotations

import re

# An amount as typed in Italy: thousands grouped with dots and decimals after a comma ("1.500", "1.234,50"), or
# ungrouped with either separator before the decimals ("1500", "1234.5", "450,50").
_GROUPED = re.compile(r"(\d{1,3}(?:\.\d{3})+)(?:,(\d{1,2}))?")
_PLAIN = re.compile(r"(\d+)(?:[.,](\d{1,2}))?")


def cents_of(euros: str) -> int | str:
    """ "1.500", "1.234,50" or "1234.50" → cents; anything else is passed on for the service to name the field."""
    text = euros.replace("€", "").replace(" ", "").replace("\xa0", "")
    match = _GROUPED.fullmatch(text) or _PLAIN.fullmatch(text)
    if match is None:
        return euros
    whole, frac = match.group(1).replace(".", ""), match.group(2) or ""
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def typed_euros(cents: int) -> str:
    """Cents as an operator types the amount in Italy ("1.200,50"), which `cents_of` reads back: a form opened with
    an amount on file."""
    whole, frac = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{frac:02d}"
