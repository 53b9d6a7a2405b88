"""The day a periodic check looks from, and the day a workflow step happened. A check may look from a past day (an
operator re-checking, a scheduler catching up), never a future one: it cannot know what will have happened. Facts
the check creates are dated the day they are made, whatever day it looks from. A step (a match accepted or
declined, a placement started or ended, a lease signed) is a fact too: dated today at the latest."""

from __future__ import annotations

from datetime import date, timedelta

from lgnet_shared.errors import ContractError

# One day: a caller's clock may run ahead of the server's, and a city's local date (Europe/Rome, UTC+1/+2) is a
# day ahead of the server's UTC date between local midnight and UTC midnight.
CLOCK_SKEW_TOLERANCE = timedelta(days=1)


def check_day(requested: date | None, today: date, field: str = "on") -> date:
    """The day to check as of: `requested` (default today), refused if beyond today plus the tolerance."""
    if requested is None:
        return today
    latest = today + CLOCK_SKEW_TOLERANCE
    if requested > latest:
        raise ContractError(field, f"{requested} is in the future: the check may look from {latest} at the latest")
    return requested


def step_day(day: date, earlier: date | None, today: date, field: str) -> date:
    """The day a workflow step happened: not before the previous step, and not in the future. A future day held the
    next step back until then (an acceptance dated 2030 refused every placement before 2030) and kept the match
    from ever looking stalled."""
    if earlier is not None and day < earlier:
        raise ContractError(field, f"is before {earlier}, when the previous step happened")
    if day > today + CLOCK_SKEW_TOLERANCE:
        raise ContractError(field, f"{day} is in the future: a step is recorded once it has happened")
    return day


def last_step(*days: date | None) -> date | None:
    """The day of the step a new one follows: the latest of the steps taken so far (a match's proposal and its
    acceptance; a placement's start and its lease's signing). A decline of an accepted match was checked against the
    proposal only, and a placement's end against its start only: a match accepted on the 8th was declined "on the
    5th", a placement whose lease was signed on the 7th "ended on the 4th"."""
    taken = [d for d in days if d is not None]
    return max(taken) if taken else None


def placement_start(
    day: date, accepted_on: date | None, available_from: date, available_until: date | None, today: date
) -> date:
    """The day a placement starts: a workflow step (above) on which the opportunity is available. `available_until`
    is the day it is no longer available, as the matching's `availability` rule reads it (domain/rules.py). A
    placement was started before `available_from`: a household moved in before the housing was there."""
    step_day(day, accepted_on, today, "started_on")
    if day < available_from:
        raise ContractError("started_on", f"is before the opportunity is available (from {available_from})")
    if available_until is not None and day >= available_until:
        raise ContractError("started_on", f"the opportunity is available only until {available_until}, not on {day}")
    return day


def lease_terms(
    start: date, end: date | None, signed_on: date, placement_started: date, available_until: date | None
) -> tuple[date, date | None]:
    """A lease's terms: it may start ahead of its signing (by a year at most) but not before the household moved in,
    and it ends by the day the opportunity is no longer available, as a placement does. A lease starting in 1990 on
    a placement started today was signed."""
    if start < placement_started:
        raise ContractError("start_date", f"is before the placement started ({placement_started})")
    if start > signed_on + timedelta(days=366):
        raise ContractError("start_date", f"{start} is more than a year after it is signed ({signed_on})")
    if available_until is not None:
        if start >= available_until:
            raise ContractError("start_date", f"the opportunity is available only until {available_until}")
        if end is None or end > available_until:
            raise ContractError("end_date", f"the opportunity is available only until {available_until}: end by then")
    return start, end


def hold_end(until: date, today: date, max_days: int) -> date:
    """The last day of a hold: after today and within the city's `max_hold_days`. A hold "until 9999-12-31" was taken:
    one that never expires, the household off the waiting list for good."""
    if until <= today:
        raise ContractError("until", "must be after today")
    if until > today + timedelta(days=max_days):
        raise ContractError("until", f"is more than {max_days} days ahead (the city's max_hold_days): a hold ends")
    return until
