"""Civic engagement's rules (issue #19, point 2; docs/civic-engagement.md). Pure; every refusal names its field.

- An activity is organised by the city's staff or by one partner; only they record its sessions, registers and
  certificates (staff of the city act on every activity of their city).
- A session belongs to an activity that exists, is held within the activity's dates and not in the future.
- An attendance register belongs to a session of that activity that exists; it lists each person once, and only
  persons of the activity's city that are not erased (checked by the use case against intake's state).
- A certificate of attendance goes to a participant who attended at least the activity's minimum share of the
  sessions held up to the certificate's date; a CEFR level belongs to language courses only, and the level reached
  is never below the level at entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lgnet_shared.errors import ContractError, NotFound
from lgnet_shared.events import civic as ev
from lgnet_shared.events.civic import CEFR_ORDER, CefrLevel, CivicActivityKind

from lgnet_intake.domain.access import Actor, Role, may_write_in_city, not_theirs, party_of

# What partners may send of civic engagement (the gatekeeper has a use case for each).
SUBMISSIONS = (
    ev.CivicActivitySubmitted,
    ev.CivicSessionSubmitted,
    ev.CivicAttendanceSubmitted,
    ev.CivicCertificateSubmitted,
)


@dataclass(frozen=True)
class Activity:
    activity_id: str
    city: str
    kind: CivicActivityKind
    partner: str | None
    starts_on: date
    ends_on: date | None
    min_attendance_percent: int


def check_activity(
    kind: CivicActivityKind, starts_on: date, ends_on: date | None, target_level: CefrLevel | None
) -> None:
    if ends_on is not None and ends_on < starts_on:
        raise ContractError("ends_on", "is before starts_on")
    if target_level is not None and kind is not CivicActivityKind.ITALIAN_LANGUAGE_COURSE:
        raise ContractError("target_level", "is for Italian language courses only")


def organiser(actor: Actor, named: str | None) -> str | None:
    """Who organises a new activity: a partner organises its own; staff organise for the city (None) or name one of
    the city's partners."""
    return party_of(actor, named, "partner")


def no_activity(activity_id: str, field: str = "activity_id") -> NotFound:
    """An activity id that exists nowhere: what another city's or another partner's activity is answered too."""
    return NotFound(field, f"no activity {activity_id}")


def may_act_on_activity(actor: Actor, activity: Activity, field: str = "activity_id") -> None:
    may_write_in_city(actor, activity.city, field)
    if actor.role is Role.PARTNER and activity.partner != actor.id:  # as an id that exists nowhere (access.py)
        raise not_theirs(no_activity(activity.activity_id, field))


def check_session(activity: Activity, held_on: date, today: date, volunteer_ids: Sequence[str]) -> None:
    if held_on > today:
        raise ContractError("held_on", "is in the future: record a session once it is held")
    if held_on < activity.starts_on:
        raise ContractError("held_on", f"is before the activity starts ({activity.starts_on.isoformat()})")
    if activity.ends_on is not None and held_on > activity.ends_on:
        raise ContractError("held_on", f"is after the activity ends ({activity.ends_on.isoformat()})")
    check_each_once(volunteer_ids, "volunteer_ids")


def check_each_once(person_ids: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    for i, pid in enumerate(person_ids):
        if pid in seen:
            raise ContractError(f"{field}.{i}", f"person {pid} is listed twice")
        seen.add(pid)


def check_register(present: Sequence[str], absent: Sequence[str]) -> None:
    if not present and not absent:
        raise ContractError("present", "the register is empty: list who was present or absent")
    check_each_once(present, "present")
    check_each_once(absent, "absent")
    both = set(present) & set(absent)
    if both:
        i = next(pid for pid in absent if pid in both)
        raise ContractError(f"absent.{list(absent).index(i)}", f"person {i} is also listed as present")


def completed(activity: Activity, attended: int, held: int) -> bool:
    """Attended at least the activity's minimum share of the sessions held (integer arithmetic: no rounding)."""
    return held > 0 and attended * 100 >= activity.min_attendance_percent * held


def check_certificate(
    activity: Activity,
    issued_on: date,
    today: date,
    attended: int,
    held: int,
    level_at_entry: CefrLevel | None,
    level_reached: CefrLevel | None,
) -> None:
    if issued_on > today:
        raise ContractError("issued_on", "is in the future")
    if issued_on < activity.starts_on:
        raise ContractError("issued_on", "is before the activity starts")
    if held == 0:
        raise ContractError("activity_id", "no session of the activity is recorded yet")
    if not completed(activity, attended, held):
        raise ContractError(
            "person_id",
            f"attended {attended} of {held} sessions, below the activity's {activity.min_attendance_percent}%",
        )
    levels = level_at_entry is not None or level_reached is not None
    if levels and activity.kind is not CivicActivityKind.ITALIAN_LANGUAGE_COURSE:
        raise ContractError("level_reached", "CEFR levels are for Italian language courses only")
    if level_at_entry is not None and level_reached is None:
        raise ContractError("level_reached", "give the level reached with the level at entry")
    if level_at_entry is not None and level_reached is not None and not improved_or_kept(level_at_entry, level_reached):
        raise ContractError("level_reached", "is below level_at_entry")


def improved_or_kept(entry: CefrLevel, reached: CefrLevel) -> bool:
    return CEFR_ORDER.index(reached) >= CEFR_ORDER.index(entry)


def check_submission(event: object, today: date) -> None:
    """The rules of a partner's civic submission that need no state (the gatekeeper's and `lgnet-partner check`'s
    stateless pass; the use cases apply them again in their place)."""
    if isinstance(event, ev.CivicActivitySubmitted):
        check_activity(event.kind, event.starts_on, event.ends_on, event.target_level)
    elif isinstance(event, ev.CivicSessionSubmitted):
        if event.held_on > today:
            raise ContractError("held_on", "is in the future: record a session once it is held")
        check_each_once(event.volunteer_ids, "volunteer_ids")
    elif isinstance(event, ev.CivicAttendanceSubmitted):
        check_register(event.present, event.absent)
    elif isinstance(event, ev.CivicCertificateSubmitted) and event.issued_on > today:
        raise ContractError("issued_on", "is in the future")
