"""Field types shared by the event catalogue."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

Id = Annotated[str, Field(min_length=1, max_length=64)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
Cents = Annotated[int, Field(ge=0, description="Integer euro cents")]
PositiveCents = Annotated[int, Field(gt=0, description="Integer euro cents, more than zero")]
StrictCents = Annotated[StrictInt, Field(ge=0, description="Integer euro cents")]
"""Cents as callers send them (HTTP bodies, partners' events): a JSON integer only. Pydantic's lax mode would read
`"300"`, `true` or `12.0` as a whole number; what callers send uses `StrictInt`, `StrictBool` and `IsoDate` alike
(`lgnet_shared.testing.strict_inputs` holds every service's bodies to it)."""
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATE_REASON = "must be an ISO 8601 date string, YYYY-MM-DD"


def _iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD` (or a `date`): pydantic would also read a number or `"20261130"` as a Unix timestamp."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(DATE_REASON)
    try:
        return date.fromisoformat(value)
    except ValueError:  # a day no calendar has (2026-02-30, 2026-31-12): said like the rest, not in Python's words
        raise ValueError(DATE_REASON) from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A date as the JSON Schema publishes it (`format: date`), for what partners send: nothing else reads as one."""
INSTANT_REASON = "is out of range: in UTC it must fall between 0001-01-01 and 9999-12-31"


def _instant(value: datetime) -> datetime:
    """An aware time must be an instant in UTC too: "9999-12-31T20:00:00-05:00" is valid RFC 3339, yet falls in the
    year 10000 in UTC, which no datetime holds (nor "0001-01-01T00:30:00+01:00", in the year 0). Comparing or storing
    it failed far from its field (a partner's record dead-lettered unanswered, HTTP a 422 naming the whole body)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(INSTANT_REASON) from None
    return value


RFC3339_REASON = "must be an RFC 3339 date-time string with its offset, e.g. 2026-12-06T09:30:00+01:00"
_RFC3339_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def rfc3339(value: Any) -> Any:
    """Only a date-time string (or a `datetime`): pydantic would also read `0` or `"1764979200"` as a Unix timestamp,
    a time in 1970 or wherever the number falls."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339_START.match(value):
        try:
            return datetime.fromisoformat(value)  # a datetime for strict validation too (the contracts' check)
        except ValueError:
            pass
    raise ValueError(RFC3339_REASON)


Instant = Annotated[AwareDatetime, BeforeValidator(rfc3339), AfterValidator(_instant)]
"""A time with its offset, as callers send them (`format: date-time`; never a number), that is an instant in UTC
too."""
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class Part(BaseModel):
    """A nested part of an event payload: immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
