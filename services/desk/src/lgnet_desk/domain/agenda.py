"""The desk's rules about the appointments it books (intake keeps the agenda; these say what the desk refuses before
asking it). Pure: no I/O."""

from __future__ import annotations

from datetime import date


def past_day(day: str, today: date) -> str | None:
    """The refusal of an appointment on `day` (ISO) when it is before today (the city's date), else None; a day that
    is not a date is left to intake, which names the field."""
    try:
        on = date.fromisoformat(day)
    except ValueError:
        return None
    return f"day {day} is before today" if on < today else None
