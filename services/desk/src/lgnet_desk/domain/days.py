"""A day and a time as an Italian desk writes them: `gg/mm/aaaa`, day first (in English too: the desk's English is
for staff working in Italy). A browser's date field (`<input type="date">`) follows the browser's language, not the
page's (an operator's browser in English showed "mm/dd/yyyy" on the Italian desk, and "05/12/2026" there is the 12th
of May), so the desk's date fields are text fields saying their format; a time likewise, `hh:mm` on the 24-hour
clock (a browser in English asked for "--:-- AM/PM"). Pure: no I/O."""

from __future__ import annotations

import re
from datetime import date

TYPED = re.compile(r"\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
CLOCK = re.compile(r"\s*(\d{1,2})\s*[:.]\s*(\d{2})\s*")


def iso_day(typed: str) -> str:
    """The ISO date (`YYYY-MM-DD`) of a day typed `gg/mm/aaaa` (also `g/m/aaaa`, with dots or dashes), or of an ISO
    date; anything else, an impossible day included ("31/02/2027"), as typed: the service refuses it at its field."""
    if m := TYPED.fullmatch(typed):
        try:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        except ValueError:
            return typed
    return typed.strip() if ISO.fullmatch(typed.strip()) else typed


def typed_day(value: object) -> str:
    """A day as its field shows it, `gg/mm/aaaa`; what is not an ISO date (a wrong day typed, sent back) as it is."""
    text = "" if value is None else str(value)
    if ISO.fullmatch(text):
        try:
            return date.fromisoformat(text).strftime("%d/%m/%Y")
        except ValueError:
            return text
    return text


def clock_time(typed: str) -> str:
    """`HH:MM` of a time typed `h:mm`, `hh.mm` (the 24-hour clock); anything else as typed (refused at its field)."""
    if (m := CLOCK.fullmatch(typed)) and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return f"{int(m.group(1)):02}:{m.group(2)}"
    return typed
