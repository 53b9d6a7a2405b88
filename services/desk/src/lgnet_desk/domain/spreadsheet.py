"""Cells of a file a spreadsheet opens (the DPO's CSV of the access log): text that a spreadsheet would read as a
formula is written as text.

A person's id is chosen by whoever registers the person (a partner, over Kafka or HTTP: 1-64 characters), and the
access log keeps it; a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel and LibreOffice (`=HYPERLINK(...)` sends the sheet's cells away on a click, `=cmd|...` ran commands on older
Excel). OWASP's advice for "CSV injection": such a cell begins with a `'`, which the spreadsheet shows as text and
does not display.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """`value` as a spreadsheet must read it: a text that would start a formula with a `'` before it; anything else
    (numbers, dates, other texts) unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
