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
YEAR_FIRST = re.compile(r"\s*\d{4}\s*[/.\-]\s*\d{1,2}\s*[/.\-]\s*\d{1,2}\s*")  # "2026-31-12": a day's shape
CLOCK = re.compile(r"\s*(\d{1,2})\s*[:.]\s*(\d{2})\s*")
HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")

# The desk's date fields (class `day` in the templates; each template's test checks its names are here): typed
# `gg/mm/aaaa`, sent to the services as ISO dates, each read fully by the desk first (`day_problem`).
DAY_FIELDS = frozenset(
    {"day", "new_day", "on", "since", "until", "linked_on", "contacted_on", "opened_on", "assessed_on", "agreed_on",
     "period_from", "period_to", "valid_until", "held_on", "issued_on", "starts_on", "ends_on", "transfer_on",
     "ended_on", "started_on", "execution_date", "available_from", "available_until", "new_until", "closed_on",
     "employment_as_of", "start_date", "end_date", "signed_on", "joined_on", "new_joined_on", "left_on",
     "received_on", "named_on", "birth_date"}
)  # fmt: skip
MEMBER_DAY = re.compile(r"m(\d+|n)_birth_date")  # the registration form's members' birth dates, a newcomer's
TIME_FIELDS = frozenset({"time", "new_time", "start_time", "end_time"})  # class `time`: hh:mm, the 24-hour clock

# The desk's own refusals of a day or a time (English, as the services' reasons: domain/refusals.py says them in
# Italian). Said by the desk whatever the service would answer (an outside test read Python's "month must be in
# 1..12" and "day is out of range for month", and intake's RFC 3339 under two fields for "25:00").
NO_SUCH_DAY = "there is no such day: check the day and the month (dd/mm/yyyy)"
NOT_A_DATE = "not a date: type it as dd/mm/yyyy"
NOT_A_TIME = "not a time of day: type it as for example 09:30"


def is_day_field(name: str) -> bool:
    return name in DAY_FIELDS or MEMBER_DAY.fullmatch(name) is not None


def iso_day(typed: str) -> str:
    """The ISO date (`YYYY-MM-DD`) of a day typed `gg/mm/aaaa` (also `g/m/aaaa`, with dots or dashes), or of an ISO
    date; anything else, an impossible day included ("31/02/2027"), as typed: the service refuses it at its field."""
    if m := TYPED.fullmatch(typed):
        try:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        except ValueError:
            return typed
    return typed.strip() if ISO.fullmatch(typed.strip()) else typed


def day_problem(value: str) -> str | None:
    """Why a date field's value (as `iso_day` left it) is no day, None if it is one or is empty (a field left blank
    is the service's to require): a day's shape the calendar has not ("31/02/2027", "2026-31-12"), or no date."""
    if not value.strip():
        return None
    if ISO.fullmatch(value.strip()):
        try:
            date.fromisoformat(value.strip())
            return None
        except ValueError:
            return NO_SUCH_DAY
    return NO_SUCH_DAY if TYPED.fullmatch(value) or YEAR_FIRST.fullmatch(value) else NOT_A_DATE


def time_problem(typed: str) -> str | None:
    """Why a time field's value is no time of day on the 24-hour clock (`clock_time` reads "9.30" as 09:30), None if
    it is one; a time left blank is required (the agenda's start: it is no appointment without it)."""
    if not typed.strip():
        return "required"
    return None if HH_MM.fullmatch(clock_time(typed)) else NOT_A_TIME


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
