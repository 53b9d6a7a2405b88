"""Outreach events (issue #19): mobile units, their outings, street contacts, and the agenda of appointments.

Facts (`lgnet.intake.*`) are intake's; requests (`lgnet.partner.*`) are what partners' systems send on the inbound
topic, checked by intake's gatekeeper exactly like registrations (signature, sealing, rejection feedback).

A street contact is anonymous at first: what the unit saw (age band, sex, nationality if known, needs observed,
services offered, place). Its pseudonymous `street_id`, chosen by intake, ties the repeated contacts of one unnamed
person — by the nickname or code the unit gives them, or by naming an earlier contact — until the person is taken
in charge and the street person is linked to a registered person (`street_person_linked`), the first-contact date
kept. The nickname identifies (a street name, a code tied to a face): it is sealed with the street person's own key,
like a registered person's names, and never travels or rests in clear. Needs observed include health needs:
contacts travel on the restricted topic `intake.special`, with their link (same key, same order).
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, WithJsonSchema

from lgnet_shared.events.base import Event, Sealed, event
from lgnet_shared.events.intake import Channel, Sex
from lgnet_shared.events.types import Code, Country, Id, Instant, IsoDate, Part

INBOUND = "partner.inbound.{city}"  # each city's partners write their own city's topic
SPECIAL = "intake.special"
Place = Annotated[str, Field(min_length=1, max_length=100, description="A place's common name (no address)")]
ShortText = Annotated[str, Field(min_length=1, max_length=120)]


def _local(value: time) -> time:
    """The schema's pattern, which pydantic's own time parsing does not apply: "20:30Z" was taken, and an outing's
    length then subtracted an aware time from a naive one (a 500, a partner's record dead-lettered unanswered)."""
    if value.tzinfo is not None:
        raise ValueError("a local time of the city (Europe/Rome), HH:MM, without an offset")
    return value


# A wall-clock time of the city (Europe/Rome), no offset: JSON Schema's `format: time` would demand one (RFC 3339).
LocalTime = Annotated[
    time,
    AfterValidator(_local),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?$",
            "description": "Local time (Europe/Rome), HH:MM or HH:MM:SS, no offset",
        }
    ),
]


class AgeBand(StrEnum):
    UNDER_18 = "under_18"
    FROM_18_TO_29 = "18_29"
    FROM_30_TO_44 = "30_44"
    FROM_45_TO_64 = "45_64"
    OVER_64 = "65_plus"
    UNKNOWN = "unknown"


class StreetNeed(StrEnum):
    FOOD = "food"
    SHELTER = "shelter"
    HEALTH_CARE = "health_care"
    HYGIENE = "hygiene"
    CLOTHING = "clothing"
    DOCUMENTS = "documents"
    WORK = "work"
    INFORMATION = "information"
    SOCIAL_CONTACT = "social_contact"


class StreetService(StrEnum):
    FOOD = "food"
    INFORMATION = "information"
    HEALTH_REFERRAL = "health_referral"
    SHELTER_REFERRAL = "shelter_referral"
    CLOTHING = "clothing"
    HYGIENE_KIT = "hygiene_kit"
    DESK_REFERRAL = "desk_referral"
    LISTENING = "listening"


class AppointmentPurpose(StrEnum):
    FIRST_INTERVIEW = "first_interview"
    NEEDS_ASSESSMENT = "needs_assessment"
    PLAN_REVIEW = "plan_review"
    DOCUMENTS = "documents"
    HOUSING_VISIT = "housing_visit"
    HEALTH_ACCOMPANIMENT = "health_accompaniment"
    STREET_FOLLOW_UP = "street_follow_up"
    OTHER = "other"


class AppointmentCancellation(StrEnum):
    BY_PERSON = "by_person"
    BY_OPERATOR = "by_operator"
    BOOKED_IN_ERROR = "booked_in_error"
    OTHER = "other"


class AppointmentOutcome(StrEnum):
    ATTENDED = "attended"
    NO_SHOW = "no_show"


# ---------------------------------------------------------------- facts: mobile units and outings


@event("lgnet.intake.mobile_unit_registered", key="unit_id")
class MobileUnitRegistered(Event):
    """A city's mobile unit: its team, its vehicle and the area it covers (no personal data)."""

    unit_id: Id
    city: Code
    name: ShortText = Field(description="The team's name, e.g. 'Unità di strada Nord'")
    vehicle: ShortText | None = Field(default=None, description="e.g. 'camper', 'furgone attrezzato'")
    area: ShortText = Field(description="The area it covers, e.g. 'Circoscrizioni 6 e 7'")
    partner: Id | None = Field(default=None, description="The partner that runs the unit (none: the city itself)")
    team_size: int = Field(ge=1, le=50, description="Operators in the team")


@event("lgnet.intake.outing_recorded", key="outing_id")
class OutingRecorded(Event):
    """One outing of a unit: its day, hours and places, and the operators who went (their actor ids)."""

    outing_id: Id
    unit_id: Id
    city: Code
    on: date
    start_time: LocalTime
    end_time: LocalTime = Field(description="Earlier than start_time for an outing past midnight")
    minutes: int = Field(ge=1, le=24 * 60, description="Length of the outing, computed by intake")
    places: list[Place] = Field(min_length=1, max_length=30)
    staff: list[Id] = Field(min_length=1, max_length=20, description="Operators' actor ids (never names)")


# ---------------------------------------------------------------- facts: street contacts


@event("lgnet.intake.street_contact_recorded", key="street_id", topic=SPECIAL)
class StreetContactRecorded(Event):
    """A contact made during an outing, anonymous. `street_id` is the street person: the same for every contact
    the unit tied to them (nickname or earlier contact). `first_contact_on` is that person's first contact so far."""

    contact_id: Id
    street_id: Id
    outing_id: Id
    unit_id: Id
    city: Code
    contacted_on: date
    first_contact_on: date
    age_band: AgeBand
    sex: Sex
    nationality: Country | None = Field(default=None, description="ISO 3166-1 alpha-2, when known")
    needs_observed: list[StreetNeed] = Field(default_factory=list)
    services_offered: list[StreetService] = Field(default_factory=list)
    place: Place
    nickname: Sealed | None = Field(
        default=None, description="The nickname or code the unit gave, sealed with the street person's key"
    )


@event("lgnet.intake.street_person_linked", key="street_id", topic=SPECIAL)
class StreetPersonLinked(Event):
    """The street person was taken in charge: from now on they are this registered person. The first contact's date
    is kept (the days from first contact to taking in charge are a programme indicator)."""

    street_id: Id
    person_id: Id
    city: Code
    linked_on: date
    first_contact_on: date
    case_id: Id | None = None


# ---------------------------------------------------------------- facts: appointments


@event("lgnet.intake.appointment_booked", key="appointment_id")
class AppointmentBookedV1(Event):
    """An appointment in an operator's agenda (the desk's or a mobile unit's) with a person or a street person."""

    model_config = ConfigDict(title="AppointmentBooked")  # its published schema's title

    appointment_id: Id
    city: Code
    agenda: Channel
    operator: Id = Field(description="The operator's actor id (never a name)")
    unit_id: Id | None = None
    person_id: Id | None = None
    street_id: Id | None = None
    purpose: AppointmentPurpose
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    booked_by: Id


@event("lgnet.intake.appointment_booked", version=2, key="appointment_id")
class AppointmentBooked(AppointmentBookedV1):
    """v2 adds `operator_partner`: whose operator `operator` names (a published version never changes, and a
    deployment on the code before it refuses a field it does not know)."""

    operator_partner: Id | None = Field(
        default=None,
        description="Whose operator `operator` names: a partner's (an operator value is the partner's own namespace), "
        "none: the city's staff's. No double booking holds within that party. Absent in appointments booked before it "
        "was recorded (v1): the booking partner's, or the city's when the city's staff booked it",
    )


@event("lgnet.intake.appointment_moved", key="appointment_id")
class AppointmentMoved(Event):
    appointment_id: Id
    operator: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    previous_starts_at: AwareDatetime


@event("lgnet.intake.appointment_cancelled", key="appointment_id")
class AppointmentCancelled(Event):
    appointment_id: Id
    reason: AppointmentCancellation
    cancelled_on: date


@event("lgnet.intake.appointment_outcome_recorded", key="appointment_id")
class AppointmentOutcomeRecorded(Event):
    """Whether the person came: a no-show is recorded, never inferred."""

    appointment_id: Id
    outcome: AppointmentOutcome
    on: date


@event("lgnet.intake.appointment_reminder_due", key="appointment_id")
class AppointmentReminderDueV1(Event):
    """Tomorrow's appointment: remind the operator (and, through them, the person). One per appointment and time."""

    model_config = ConfigDict(title="AppointmentReminderDue")  # its published schema's title

    appointment_id: Id
    city: Code
    agenda: Channel
    operator: Id
    person_id: Id | None = None
    street_id: Id | None = None
    starts_at: AwareDatetime
    due_on: date


_OPERATOR_PARTNER = (
    "Whose operator `operator` names: a partner's (an operator value is the partner's own namespace), none: the city's "
    "staff's (the appointment's `operator_partner`, docs/outreach.md). Absent in reminders sent before it was told "
    "(v1): the appointment's `operator_partner` in appointment_booked v2, or its booking party's"
)


@event("lgnet.intake.appointment_reminder_due", version=2, key="appointment_id")
class AppointmentReminderDue(AppointmentReminderDueV1):
    """v2 adds `operator_partner`, so that a reminder names whose operator it is (two parties may each have an
    operator of one name); a published version never changes."""

    operator_partner: Id | None = Field(default=None, description=_OPERATOR_PARTNER)


@event("lgnet.intake.partner_appointment_reminder", key="partner", topic="partner.reminders.{partner}")
class PartnerAppointmentReminderV1(Event):
    """Tomorrow's appointment, told to the partner it concerns on its own topic `partner.reminders.<partner>`: the
    partner the person's open case is assigned to (the case's operator), the partner running the unit of a street
    contact's appointment, the partner that booked it. Ids and codes only: no personal data."""

    model_config = ConfigDict(title="PartnerAppointmentReminder")  # its published schema's title

    partner: Id = Field(description="The partner this reminder is for (its topic's partner)")
    appointment_id: Id
    city: Code
    agenda: Channel
    operator: Id
    purpose: AppointmentPurpose
    person_id: Id | None = None
    street_id: Id | None = None
    case_id: Id | None = Field(default=None, description="The person's open case assigned to this partner, if any")
    unit_id: Id | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    due_on: date = Field(description="The day the reminder is sent (the local day before the appointment)")


@event("lgnet.intake.partner_appointment_reminder", version=2, key="partner", topic="partner.reminders.{partner}")
class PartnerAppointmentReminder(PartnerAppointmentReminderV1):
    """v2 adds `operator_partner`: whether `operator` is one of the partner's own operators, the city's staff's or
    another partner's."""

    operator_partner: Id | None = Field(default=None, description=_OPERATOR_PARTNER)


# ---------------------------------------------------------------- what partners send


class StreetIdentity(Part):
    """The nickname or code the unit gives the person, sealed to intake's key (HPKE, field name `nickname`)."""

    nickname: Sealed | None = None


@event("lgnet.partner.outing_submitted", key="outing_id", topic=INBOUND)
class OutingSubmitted(Event):
    """An outing of a mobile unit the partner runs."""

    outing_id: Id
    unit_id: Id
    on: IsoDate
    start_time: LocalTime
    end_time: LocalTime = Field(description="Earlier than start_time for an outing past midnight")
    places: list[Place] = Field(min_length=1, max_length=30)
    staff: list[Id] = Field(min_length=1, max_length=20)


@event("lgnet.partner.street_contact_submitted", key="contact_id", topic=INBOUND)
class StreetContactSubmitted(Event):
    """A contact made during an outing. Tie it to an earlier contact of the same person with `same_as_contact_id`
    or with the same sealed nickname; otherwise it is a new street person."""

    contact_id: Id
    outing_id: Id
    contacted_on: IsoDate
    age_band: AgeBand
    sex: Sex
    nationality: Country | None = None
    needs_observed: list[StreetNeed] = Field(default_factory=list)
    services_offered: list[StreetService] = Field(default_factory=list)
    place: Place
    same_as_contact_id: Id | None = None
    identity: StreetIdentity = Field(default_factory=StreetIdentity)


@event("lgnet.partner.street_contact_link_submitted", key="contact_id", topic=INBOUND)
class StreetContactLinkSubmitted(Event):
    """The person met as this contact was taken in charge: link the street person to the registered person."""

    contact_id: Id
    person_id: Id
    linked_on: IsoDate
    case_id: Id | None = None


@event("lgnet.partner.appointment_booking_submitted", key="appointment_id", topic=INBOUND)
class AppointmentBookingSubmitted(Event):
    """Book an appointment with a person (`person_id`) or a street contact (`contact_id`), exactly one."""

    appointment_id: Id
    agenda: Channel
    operator: Id
    unit_id: Id | None = None
    person_id: Id | None = None
    contact_id: Id | None = None
    purpose: AppointmentPurpose
    starts_at: Instant
    ends_at: Instant


@event("lgnet.partner.appointment_change_submitted", key="appointment_id", topic=INBOUND)
class AppointmentChangeSubmitted(Event):
    """Move (`starts_at`, `ends_at`), cancel (`reason`) or record the outcome (attended, no_show) of an appointment."""

    appointment_id: Id
    change: Literal["moved", "cancelled", "attended", "no_show"]
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    reason: AppointmentCancellation | None = None
    on: IsoDate
