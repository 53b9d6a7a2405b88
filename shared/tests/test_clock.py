"""Business dates are the cities' local dates: tonight's contact is not "in the future" after local midnight."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lgnet_shared import clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("instant", "local_day"),
    [
        (datetime(2026, 12, 1, 22, 59, tzinfo=UTC), date(2026, 12, 1)),  # 23:59 in Rome (winter, UTC+1)
        (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), date(2026, 12, 2)),  # 00:30 in Rome: already tomorrow
        (datetime(2026, 7, 1, 22, 30, tzinfo=UTC), date(2026, 7, 2)),  # 00:30 in Rome (summer, UTC+2)
        (datetime(2026, 7, 1, 21, 59, tzinfo=UTC), date(2026, 7, 1)),
    ],
)
def test_today_is_the_local_date_in_italy(instant: datetime, local_day: date) -> None:
    assert clock.today(instant) == local_day


def test_no_service_takes_the_utc_date_as_today() -> None:
    """Every service and the desk ask `clock.today()`: a UTC date is yesterday for the first hours of an Italian day."""
    utc_today = re.compile(r"now\((?:datetime\.)?(?:UTC|timezone\.utc)\)\.date\(\)|\bdate\.today\(\)")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for base in ("services", "shared/src", "scenario/src")
        for path in (ROOT / base).rglob("*.py")
        if "/tests/" not in str(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if utc_today.search(line)
    ]
    assert found == [], "use lgnet_shared.clock.today() for business dates"
