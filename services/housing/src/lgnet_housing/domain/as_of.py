"""The day a periodic check looks from. It may be a past day (an operator re-checking, a scheduler catching up),
never a future one: a check cannot know what will have happened. Facts the check creates are dated the day they
are made, whatever day it looks from."""

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
