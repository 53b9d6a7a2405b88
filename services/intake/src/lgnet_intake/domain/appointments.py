"""Rules of the agenda (issue #19). Pure: no I/O.

- An appointment lasts from `starts_at` to `ends_at` (aware datetimes), at least 5 minutes and at most 8 hours.
- An appointment's `operator` names an operator within a party (its `party`): the city's staff (None) or one partner,
  whose own systems name their operators as they please (two cooperatives may both have an "anna"; a partner naming
  the city's staff operator's code names an operator of its own). The city's staff may book a partner's operator
  (naming the partner); a partner books its own operators only.
- One operator is never booked twice at once: a booked appointment's interval [starts_at, ends_at) may not overlap
  another booked one of the same party and operator (cancelled ones free their time; back-to-back is fine). Another
  party's appointments never make a booking refused.
- An appointment is with a person or with a street contact, exactly one.
- It starts at most 366 days ahead of now, and not before the current minute (booked or moved): an appointment
  is made for the time to come. Recording afterwards one that took place (or was missed, or cancelled) is not a
  booking: its start is then before now.
- Only a booked appointment is moved or cancelled; its outcome (attended, no-show) is recorded once, once it has
  started. A cancelled one has no outcome.
- Reminders: an appointment is due for a reminder on the day before its local (Europe/Rome) start day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from lgnet_shared.errors import Conflict, ContractError

LOCAL = ZoneInfo("Europe/Rome")
SHORTEST = timedelta(minutes=5)
LONGEST = timedelta(hours=8)
FURTHEST = timedelta(days=366)  # booked at most a year ahead: a typo (2062) would hold the operator's time for decades
REMINDER_LEAD_DAYS = 1


@dataclass(frozen=True)
class Slot:
    appointment_id: str
    operator: str
    starts_at: datetime
    ends_at: datetime
    status: str = "booked"  # booked, cancelled
    outcome: str | None = None
    booked_by: str | None = None
    party: str | None = None  # the partner whose operator it is; None: the city's staff

    def same_operator(self, other: Slot) -> bool:
        return self.operator == other.operator and self.party == other.party

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True)
class OperatorFilter:
    """Whose appointments a list is narrowed to (`?operator=` and `?operator_partner=`): those of one party's operators
    (`party`: a partner, None: the city's staff), all of them or only `operator`'s; `narrowed` False: anyone's."""

    narrowed: bool = False
    party: str | None = None
    operator: str | None = None


ANYONE = OperatorFilter()


def operator_filter(operator: str | None, party: str | None, party_named: bool) -> OperatorFilter:
    """The filter a caller asks for: an operator value names an operator within a party, so `operator` is one of
    `party`'s (the caller's own party unless it named another: `access.party_of`); a party named alone, all of its
    operators; neither, anyone's."""
    if operator is None and not party_named:
        return ANYONE
    return OperatorFilter(True, party, operator)


def check_interval(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ContractError("starts_at", "must carry a time zone")
    if ends_at - starts_at < SHORTEST:
        raise ContractError("ends_at", "must be at least 5 minutes after starts_at")
    if ends_at - starts_at > LONGEST:
        raise ContractError("ends_at", "an appointment lasts at most 8 hours")


def check_ahead(starts_at: datetime, now: datetime) -> None:
    """Not further ahead than a year (one at the calendar's end, 9999-12-31T23:30Z, could never be reminded)."""
    if starts_at - now > FURTHEST:
        raise ContractError("starts_at", f"is more than {FURTHEST.days} days ahead")


def check_not_past(starts_at: datetime, now: datetime) -> None:
    """A booking (or a move) starts from the current minute on: a form filled in at 10:42 for 10:42 is taken at
    10:42:59, one for 10:41 is not (a day mistyped booked an appointment in the past without a word)."""
    if starts_at < now.replace(second=0, microsecond=0):
        raise ContractError("starts_at", "is in the past: an appointment is booked from now on")


def check_recorded_afterwards(starts_at: datetime, now: datetime) -> None:
    """An appointment recorded afterwards (it took place, or was missed or cancelled) started before now."""
    if starts_at > now:
        raise ContractError(
            "recorded_afterwards", "the appointment starts after now: book it (an appointment to come is no record)"
        )


def check_one_party(person_id: str | None, contact_id: str | None) -> None:
    if (person_id is None) == (contact_id is None):
        raise ContractError("person_id", "give exactly one of person_id and contact_id")


def check_free(slot: Slot, agenda: Iterable[Slot], shown: Callable[[Slot], bool] = lambda _: True) -> None:
    """The operator's other booked appointments (of the same party: another party's operator of the same name is
    another operator) do not overlap `slot` (no double booking). The refusal names the appointment in the way only
    when `shown` says the caller may know it (a partner, not one the city's staff booked for its operator unseen)."""
    check_interval(slot.starts_at, slot.ends_at)
    clashes = sorted(
        (
            other
            for other in agenda
            if other.appointment_id != slot.appointment_id
            and other.same_operator(slot)
            and other.status == "booked"
            and other.overlaps(slot)
        ),
        key=lambda other: (other.starts_at, other.appointment_id),
    )
    if not clashes:
        return
    # One the caller may know, if any, named; the same answer whatever order the agenda was read in
    named = next((other for other in clashes if shown(other)), None)
    if named is None:
        raise Conflict("starts_at", f"operator {slot.operator} is already booked at that time")
    raise Conflict(
        "starts_at",
        f"operator {slot.operator} already has appointment {named.appointment_id} from "
        f"{named.starts_at.isoformat()} to {named.ends_at.isoformat()}",
    )


def check_changeable(slot: Slot) -> None:
    if slot.status != "booked":
        raise Conflict("appointment_id", f"the appointment is {slot.status}")
    if slot.outcome is not None:
        raise Conflict("appointment_id", f"the appointment's outcome is already recorded ({slot.outcome})")


def check_outcome(slot: Slot, now: datetime, on: date) -> None:
    check_changeable(slot)
    if now < slot.starts_at:
        raise ContractError("outcome", "the appointment has not started yet")
    day = local_day(slot.starts_at)
    if day is not None and on < day:
        raise ContractError("on", f"is before the appointment's day ({day.isoformat()})")


def local_day(at: datetime) -> date | None:
    """The city's day of an instant; None past the calendar's end (9999-12-31T23:30Z is in the year 10000 in Rome)."""
    try:
        return at.astimezone(LOCAL).date()
    except OverflowError:
        return None


def due_for_reminder(slots: Iterable[Slot], day: date) -> list[Slot]:
    """Booked appointments, outcome not yet recorded, starting (local time) the day after `day`, by start time."""
    if day == date.max:
        return []  # no day after it
    target = day + timedelta(days=REMINDER_LEAD_DAYS)
    due = [s for s in slots if s.status == "booked" and s.outcome is None and local_day(s.starts_at) == target]
    return sorted(due, key=lambda s: (s.starts_at, s.appointment_id))


def _instant(at: datetime) -> datetime:
    """`at`, or the first or last instant there is when `at` is none in UTC (a local midnight of 0001-01-01)."""
    try:
        at.astimezone(UTC)
    except OverflowError:
        return (datetime.min if at.year == 1 else datetime.max).replace(tzinfo=UTC)
    return at


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants of a local day's start and end (an agenda's day is the city's day). At the calendar's ends,
    the first and last instants there are: 0001-01-01 and 9999-12-31 were a 500 (no day after the last; the first
    local midnight is in the year 0 in UTC)."""
    start = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
    if day == date.max:
        return _instant(start), datetime.max.replace(tzinfo=UTC)
    end = day + timedelta(days=1)
    return _instant(start), _instant(datetime(end.year, end.month, end.day, tzinfo=LOCAL))
