"""The desk's rules about the appointments it books (intake keeps the agenda; these say what the desk refuses before
asking it). Pure: no I/O."""

from __future__ import annotations

from datetime import date

from lgnet_desk.domain.days import day_problem, time_problem


def past_day(day: str, today: date) -> str | None:
    """The refusal of an appointment on `day` (ISO) when it is before today (the city's date), else None; a day that
    is not a date is left to intake, which names the field."""
    try:
        on = date.fromisoformat(day)
    except ValueError:
        return None
    return f"day {day} is before today" if on < today else None


def when_problem(day: str, time: str, today: date) -> str | None:
    """The refusal of an appointment's day and time (of a booking, of a move) before intake is asked: a day that is
    none, a past day, a time that is none ("25:00": intake's English RFC 3339 reason was said under the time and the
    duration alike); None when both are right."""
    return day_problem(day) or past_day(day, today) or time_problem(time)


def no_person_named(typed: str) -> str:
    """The refusal of a name that is no person's the operator may see (said at the booking form's person field)."""
    return (
        f"no person named {typed} among those you may see: type the name and surname as in the person's record, or"
        " open the record and choose «Book an appointment»"
    )


def several_named(typed: str, count: int) -> str:
    """The refusal of a name several persons the operator may see have: the desk cannot tell which one is coming."""
    return (
        f"{count} persons you may see are named {typed}: open the record of the one coming and choose «Book an"
        " appointment»"
    )
