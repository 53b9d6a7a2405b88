"""Civic engagement (issue #19, point 2): activities a city or a partner organises (Italian language courses,
orientation to local services, community and volunteering activities, peer groups), their sessions, the attendance
register of each session and certificates of attendance. Owned by intake, which knows the persons (docs/
civic-engagement.md says why); the facts travel on `intake.events`, keyed by the activity so that one activity's
events stay in order.

Nothing identifying travels here: persons (beneficiaries and volunteers, who are registered persons like any other,
their identity sealed with their own key and erased with it) are ids; facilitators are operators' ids. Titles and
places are the organiser's words about the activity, never about a person.

Partners send the same as `lgnet.partner.civic_*_submitted` on the inbound topic; the gatekeeper checks them like
registrations and answers refusals with `inbound_rejected`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from lgnet_shared.events.base import Event, event
from lgnet_shared.events.types import Id, IsoDate

INBOUND = "partner.inbound.{city}"  # each city's partners write their own city's topic
Text = Annotated[str, Field(min_length=1, max_length=200)]
Minutes = Annotated[
    StrictInt, Field(ge=15, le=720, description="Length of the session in minutes (15 minutes to 12 hours)")
]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]


class CivicActivityKind(StrEnum):
    ITALIAN_LANGUAGE_COURSE = "italian_language_course"
    CIVIC_ORIENTATION = "civic_orientation"
    COMMUNITY_VOLUNTEERING = "community_volunteering"
    PEER_GROUP = "peer_group"


class CefrLevel(StrEnum):
    """Common European Framework of Reference for languages; `PRE_A1` for who starts below A1 (literacy)."""

    PRE_A1 = "pre_A1"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


CEFR_ORDER = list(CefrLevel)  # ascending: a level "improves" when it moves right


# ------------------------------------------------------------------ the facts (intake.events)


@event("lgnet.intake.civic_activity_organised", key="activity_id")
class CivicActivityOrganised(Event):
    """An activity of civic engagement, organised by the city (`partner` null) or one of its partners."""

    activity_id: Id
    city: Id
    kind: CivicActivityKind
    title: Text = Field(description="The organiser's name for it, e.g. 'Italiano A2 serale' (never a person's name)")
    partner: Id | None = Field(default=None, description="The organising partner; null when the city organises it")
    starts_on: date
    ends_on: date | None = None
    target_level: CefrLevel | None = Field(default=None, description="Language courses: the level the course aims at")
    min_attendance_percent: Percent = Field(
        default=70, description="Share of the held sessions a participant attends to complete (earn a certificate)"
    )


@event("lgnet.intake.civic_session_held", key="activity_id")
class CivicSessionHeld(Event):
    """A session of an activity took place: when, where, how long, who ran it and which volunteers helped."""

    activity_id: Id
    session_id: Id
    held_on: date
    place: Text = Field(description="Where: a venue, e.g. 'Biblioteca civica Villa Amoretti'")
    duration_minutes: Minutes
    facilitators: list[Id] = Field(default_factory=list, description="Operators' ids (teachers, mediators, …)")
    volunteer_ids: list[Id] = Field(default_factory=list, description="Volunteers: persons registered in intake")


@event("lgnet.intake.civic_attendance_recorded", key="activity_id")
class CivicAttendanceRecorded(Event):
    """The attendance register of one session: who was there and who was expected but absent. A later record for the
    same session and person replaces the earlier one (a correction)."""

    activity_id: Id
    session_id: Id
    present: list[Id] = Field(default_factory=list, description="Persons who attended")
    absent: list[Id] = Field(default_factory=list, description="Persons expected who did not attend")


@event("lgnet.intake.civic_certificate_issued", key="activity_id")
class CivicCertificateIssued(Event):
    """A certificate of attendance: the person completed the activity (attended enough of its sessions). For a
    language course, the CEFR level at entry (placement test) and the level reached."""

    activity_id: Id
    certificate_id: Id
    person_id: Id
    issued_on: date
    attended_sessions: int = Field(ge=0)
    held_sessions: int = Field(ge=1)
    level_at_entry: CefrLevel | None = None
    level_reached: CefrLevel | None = None


# ------------------------------------------------------------------ what partners send (partner.inbound.<city>)


@event("lgnet.partner.civic_activity_submitted", key="activity_id", topic=INBOUND)
class CivicActivitySubmitted(Event):
    """Organise an activity (the emitting partner organises it; the city's staff may name none)."""

    activity_id: Id
    kind: CivicActivityKind
    title: Text
    starts_on: IsoDate
    ends_on: IsoDate | None = None
    target_level: CefrLevel | None = None
    min_attendance_percent: Percent = 70


@event("lgnet.partner.civic_session_submitted", key="activity_id", topic=INBOUND)
class CivicSessionSubmitted(Event):
    """A session held of an activity of the partner's (its rules: docs/civic-engagement.md)."""

    activity_id: Id
    session_id: Id
    held_on: IsoDate
    place: Text
    duration_minutes: Minutes
    facilitators: list[Id] = Field(default_factory=list)
    volunteer_ids: list[Id] = Field(default_factory=list)


@event("lgnet.partner.civic_attendance_submitted", key="activity_id", topic=INBOUND)
class CivicAttendanceSubmitted(Event):
    """The attendance register of a session (persons of the city; each person once)."""

    activity_id: Id
    session_id: Id
    present: list[Id] = Field(default_factory=list)
    absent: list[Id] = Field(default_factory=list)


@event("lgnet.partner.civic_certificate_submitted", key="activity_id", topic=INBOUND)
class CivicCertificateSubmitted(Event):
    """Issue a certificate of attendance to a participant who completed the activity."""

    activity_id: Id
    certificate_id: Id
    person_id: Id
    issued_on: IsoDate
    level_at_entry: CefrLevel | None = None
    level_reached: CefrLevel | None = None
