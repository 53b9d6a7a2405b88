"""The programme's calendar. Business dates — a contact made on, a session held on, the "today" that a date may not
be after — are the cities' local dates (Europe/Rome), not UTC's: between local midnight and UTC midnight (one or two
hours) they differ by a day, just when mobile units are out at night, so a UTC "today" refused tonight's contact as
"in the future" and dated a desk's forms yesterday. Instants (timestamps, event times) stay UTC (DESIGN §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# Every city of the programme is in Italy; a deployment elsewhere would make this a setting.
ZONE = ZoneInfo("Europe/Rome")


def now() -> datetime:
    return datetime.now(UTC)


def today(at: datetime | None = None) -> date:
    """The local date at `at` (default: now)."""
    return (at or now()).astimezone(ZONE).date()
