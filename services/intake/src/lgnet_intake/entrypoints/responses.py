"""What intake's routes answer, for the OpenAPI document. The routers attach them as `responses={200: {"model": ...}}`,
documentation only: the handlers' answers are sent as they are, never filtered or re-serialised through these models
(a `response_model` would drop a field a model forgot). The tests check every answer they receive against them
(`lgnet_shared.testing.answers`).

Rows of intake's tables, as the handlers read them: dates are ISO dates, instants RFC 3339 date-times, codes as
stored (the vocabulary lists of `lgnet_shared.vocabulary`). A needs assessment is answered as it was submitted: the
contract's model, open again to fields added later (`OPEN`)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from lgnet_shared.events.partner import NeedsAssessmentSubmitted
from lgnet_shared.http import answers as answers  # the routes read it as `r.answers`
from pydantic import BaseModel, ConfigDict, Field

OPEN = ConfigDict(extra="ignore")  # no `additionalProperties: false` in the answer's schema
Code = Annotated[str, Field(description="A code of its vocabulary list (lgnet_shared.vocabulary)")]

# ---------------------------------------------------------------- intake's own


class InboundKey(BaseModel):
    """Intake's current public key: partners seal identifying fields to it."""

    key_id: str
    public_key: str = Field(description="base64url of the 32 raw bytes of the X25519 public key")
    suite: str = Field(description="The HPKE suite")


class Partner(BaseModel):
    """A partner organisation of the city (an organisation, not a person)."""

    partner_id: str
    name: str


class Registration(BaseModel):
    """A person registered, and the duplicates found."""

    person_id: str
    same_as: str | None = Field(description="The person already registered with the same fiscal code (merged into)")
    possible_duplicates: list[str] = Field(
        description="Persons of the same name and birth date, flagged for the city's staff to review (GET /duplicates)"
        "; always empty to a partner: another party's person is not its to know"
    )


class Person(BaseModel):
    """A person; `identity` holds the identifying fields the reader may see, opened (empty once erased)."""

    person_id: str = Field(description="The surviving person's id (a merged one is followed)")
    city: str
    birth_date: date | None = Field(description="Null once the person is erased (intake keeps it, never gives it out)")
    sex: Code
    nationality: str = Field(description="ISO 3166-1 alpha-2 code")
    third_country: bool = Field(description="A nationality outside the EU")
    languages: list[str] = Field(description="ISO 639 codes")
    literate: bool | None
    erased: bool
    identity: dict[str, str | None] = Field(
        description="given_name, family_name, fiscal_code, ... -> value (null: not readable any more)"
    )
    household_reference: bool | None = Field(
        default=None,
        description="In a search by case number: whether the person is the reference person of the case's household"
        " (by whom a page names the household); absent otherwise",
    )


class PersonRef(BaseModel):
    person_id: str


class PersonsMerged(BaseModel):
    person_id: str = Field(description="The surviving person")
    merged_person_id: str


class PersonErased(BaseModel):
    person_id: str
    erased_on: date


class DuplicateFlag(BaseModel):
    """Two persons that may be the same, waiting for staff's review."""

    person_id: str
    candidate_person_id: str
    match: str = Field(description="What matched, e.g. name_birth_date")
    status: Literal["open", "merged", "dismissed"]


class ConsentRecorded(BaseModel):
    person_id: str
    purpose: Code
    granted: bool


class EmploymentRecorded(BaseModel):
    person_id: str
    status: Code
    as_of: date


class HouseholdFormed(BaseModel):
    household_id: str
    member_ids: list[str] = Field(description="The members' surviving person ids")


class HouseholdChanged(BaseModel):
    household_id: str
    person_id: str
    change: Literal["joined", "left"]


class ReferencePersonChanged(BaseModel):
    household_id: str
    person_id: str = Field(description="The household's reference person now")
    previous_person_id: str = Field(description="Its reference person until this change, still a member")


class ReferralReceived(BaseModel):
    referral_id: str


class ReferralOutcome(BaseModel):
    referral_id: str
    outcome: Code


class CaseOfPartner(BaseModel):
    """A case opened or transferred, and the partner it is assigned to now."""

    case_id: str
    partner: str


class CaseRef(BaseModel):
    case_id: str


class PlanAgreed(BaseModel):
    case_id: str
    plan_id: str


class PlanObjectives(PlanAgreed):
    objectives: dict[str, str] = Field(description="Objective code -> its status")


class CaseClosed(BaseModel):
    case_id: str
    outcome: Code


class CaseFacts(BaseModel):
    """A case: a household taken in charge by a partner in an action area."""

    case_id: str
    household_id: str
    action_area: Code
    channel: Code
    partner: str
    opened_on: date
    housing_need: bool
    closed_on: date | None
    outcome: Code | None


class Case(CaseFacts):
    """A case, with its household's current members."""

    city: str
    transferred_on: date | None = Field(description="The last transfer's date")
    member_ids: list[str] = Field(description="The household's current members")


# ---------------------------------------------------------------- the desk's reads (folder.py)


class Assessment(NeedsAssessmentSubmitted):
    """The needs assessment as submitted, with only the vulnerabilities of the persons the reader may see."""

    model_config = OPEN


class Member(BaseModel):
    person_id: str
    name: str | None = Field(
        description="Null for a member the reader may not see (`sex` null too), or shown with no name recorded"
    )
    birth_date: date | None = Field(description="Null for a member the reader may not see, or erased")
    sex: Code | None = Field(description="Null for a member the reader may not see")
    joined_on: date
    left_on: date | None
    reason: str
    erased: bool = Field(description="The member was erased (right to be forgotten): nothing of theirs is given")


class HouseholdOfRecord(BaseModel):
    household_id: str
    reference_person_id: str
    members: list[Member] = Field(description="Every membership, past ones too")
    may_change_members: bool = Field(
        description="Whether the reader may change its members, name its reference person and record its referrals"
        " (POST /households/members, /households/reference-person, /referrals): the city's staff, the partner of"
        " its open case, or the partner that formed it while no other partner has an open case on it"
    )


class PlanOfRecord(BaseModel):
    plan_id: str
    agreed_on: date
    objectives: dict[str, str] = Field(description="Objective code -> its status")


class CaseOfRecord(CaseFacts):
    assessment: Assessment | None
    plans: list[PlanOfRecord]


class ReferralOfRecord(BaseModel):
    referral_id: str
    household_id: str
    source: Code
    received_on: date
    outcome: Code | None
    case_id: str | None


class ConsentOfRecord(BaseModel):
    purpose: Code
    granted: bool
    recorded_on: date


class EmploymentOfRecord(BaseModel):
    status: Code
    as_of: date
    case_id: str | None


class Registered(BaseModel):
    on: date | None
    kind: Literal["registered"]


class MemberJoined(BaseModel):
    on: date
    kind: Literal["member_joined"]
    person_id: str
    household_id: str
    reason: str


class MemberLeft(BaseModel):
    on: date
    kind: Literal["member_left"]
    person_id: str
    household_id: str


class ReferencePersonNamed(BaseModel):
    on: date
    kind: Literal["reference_person_named"]
    person_id: str = Field(description="The household's reference person from `on`")
    previous_person_id: str = Field(description="Its reference person until then, still a member unless she left")
    household_id: str
    reason: str


class CaseOpened(BaseModel):
    on: date
    kind: Literal["case_opened"]
    case_id: str
    action_area: Code
    partner: str


class NeedsAssessed(BaseModel):
    on: date
    kind: Literal["needs_assessed"]
    case_id: str


class CaseClosedEntry(BaseModel):
    on: date
    kind: Literal["case_closed"]
    case_id: str
    outcome: Code | None


class PlanAgreedEntry(BaseModel):
    on: date
    kind: Literal["plan_agreed"]
    case_id: str
    plan_id: str


class ReferralEntry(BaseModel):
    on: date
    kind: Literal["referral_received"]
    source: Code


class ConsentEntry(BaseModel):
    on: date
    kind: Literal["consent_recorded"]
    purpose: Code
    granted: bool


class EmploymentEntry(BaseModel):
    on: date
    kind: Literal["employment_recorded"]
    status: Code


TimelineEntry = Annotated[
    Registered
    | MemberJoined
    | MemberLeft
    | ReferencePersonNamed
    | CaseOpened
    | NeedsAssessed
    | CaseClosedEntry
    | PlanAgreedEntry
    | ReferralEntry
    | ConsentEntry
    | EmploymentEntry,
    Field(discriminator="kind"),
]


class Record(BaseModel):
    """The cartella sociale of a person: what the reader may see of it."""

    person: Person
    households: list[HouseholdOfRecord]
    cases: list[CaseOfRecord] = Field(description="A partner: its own cases only")
    referrals: list[ReferralOfRecord]
    consents: list[ConsentOfRecord]
    employment: list[EmploymentOfRecord]
    timeline: list[TimelineEntry] = Field(description="Oldest first; entries of a day in the order they happened")


class NoteWritten(BaseModel):
    note_id: str
    written_at: datetime


class Withdrawal(BaseModel):
    """Who withdrew a note or document, when and why: all null while it stands."""

    withdrawn_at: datetime | None = Field(description="When it was withdrawn (its content destroyed); null if not")
    withdrawn_by: str | None
    withdrawal_reason: Code | None = Field(description="A record_withdrawal_reason code")


class Note(NoteWritten, Withdrawal):
    written_by: str
    text: str | None = Field(description="Null once the person is erased or the note withdrawn")


class NoteWithdrawn(BaseModel):
    note_id: str
    withdrawn_at: datetime


class DocumentAttached(BaseModel):
    document_id: str
    sha256: str | None = Field(
        description="Hex SHA-256 of the content; null once the person is erased or the document withdrawn"
    )
    size_bytes: int


class Document(DocumentAttached, Withdrawal):
    kind: Code
    media_type: Literal["application/pdf", "image/jpeg", "image/png"]
    uploaded_by: str
    uploaded_at: datetime
    filename: str | None = Field(description="Null once the person is erased or the document withdrawn")


class DocumentWithdrawn(BaseModel):
    document_id: str
    withdrawn_at: datetime


# ---------------------------------------------------------------- civic engagement (civic_http.py)


class ActivityOrganised(BaseModel):
    activity_id: str
    partner: str | None = Field(description="The organising partner; null: the city")


class SessionHeld(BaseModel):
    activity_id: str
    session_id: str


class AttendanceRecorded(BaseModel):
    session_id: str
    present: int = Field(description="How many were present")
    absent: int


class CertificateIssued(BaseModel):
    certificate_id: str
    attended_sessions: int
    held_sessions: int


class Activity(BaseModel):
    """An activity, with its counts."""

    activity_id: str
    city: str
    kind: Code
    title: str
    partner: str | None = Field(description="The organising partner; null: the city")
    starts_on: date
    ends_on: date | None
    target_level: str | None = Field(description="CEFR level aimed at (language courses)")
    min_attendance_percent: int
    created_by: str
    sessions: int = Field(description="Sessions held")
    participants: int = Field(description="Persons present at one session at least")
    certificates: int


class Session(BaseModel):
    session_id: str
    activity_id: str
    held_on: date
    place: str
    duration_minutes: int
    facilitators: list[str]
    volunteer_ids: list[str]


class SessionOfActivity(Session):
    present: int
    absent: int


class Certificate(BaseModel):
    certificate_id: str
    activity_id: str
    person_id: str
    issued_on: date
    attended_sessions: int
    held_sessions: int
    level_at_entry: str | None
    level_reached: str | None


class ActivityDetail(Activity):
    session_list: list[SessionOfActivity]
    certificate_list: list[Certificate]


class Mark(BaseModel):
    person_id: str
    present: bool


class SessionRegister(Session):
    # `register` is a method of pydantic's models: the field keeps the name only as its alias.
    marks: list[Mark] = Field(alias="register", description="Each person's latest mark")


# ---------------------------------------------------------------- outreach (outreach_http.py)


class MobileUnitRegistered(BaseModel):
    unit_id: str


class MobileUnit(BaseModel):
    unit_id: str
    city: str
    name: str
    vehicle: str | None
    area: str
    partner: str | None = Field(description="The partner that runs it; null: the city")
    team_size: int
    created_by: str


class OutingRecorded(BaseModel):
    outing_id: str
    minutes: int


class Outing(BaseModel):
    outing_id: str
    unit_id: str
    city: str
    on_date: date
    start_time: time
    end_time: time
    minutes: int
    places: list[str]
    staff: list[str]
    recorded_by: str


class OutingOfList(Outing):
    contacts: int = Field(description="Street contacts made")


class StreetContact(BaseModel):
    """A contact made during an outing (the nickname, if any, is not shown)."""

    contact_id: str
    street_id: str
    outing_id: str
    unit_id: str
    city: str
    contacted_on: date
    age_band: Code
    sex: Code
    nationality: str | None
    needs_observed: list[str]
    services_offered: list[str]
    place: str
    recorded_by: str
    has_nickname: bool
    first_contact_on: date = Field(description="The street person's first contact")
    person_id: str | None = Field(description="The registered person, once linked")
    linked_on: date | None


class OutingDetail(Outing):
    contacts: list[StreetContact]


class ContactRecorded(BaseModel):
    contact_id: str
    street_id: str = Field(description="The street person met (the same again for a nickname met before)")
    first_contact_on: date


class StreetPersonLinked(BaseModel):
    street_id: str
    person_id: str | None
    first_contact_on: date
    days_to_taking_in_charge: int | None


class StreetPerson(StreetPersonLinked):
    city: str
    linked_on: date | None
    nickname: str | None = Field(description="The nickname first given; null once erased, or when none was given")
    nickname_erased_on: date | None = Field(
        description="The day the nickname was erased (its key destroyed); null when it was not: a null nickname with"
        " no such day was never given"
    )
    contacts: list[StreetContact] = Field(description="Oldest first")


class StreetPersonNickname(BaseModel):
    street_id: str
    nickname: str | None = Field(description="The nickname first given; null once erased, or when none was given")
    nickname_erased_on: date | None = Field(description="The day the nickname was erased; null when it was not")


class StreetPersonErased(BaseModel):
    street_id: str
    erased_on: date


class AppointmentBooked(BaseModel):
    appointment_id: str
    person_id: str | None
    street_id: str | None


class AppointmentMoved(BaseModel):
    appointment_id: str
    starts_at: datetime


class AppointmentCancelled(BaseModel):
    appointment_id: str
    status: Literal["cancelled"]


class AppointmentOutcome(BaseModel):
    appointment_id: str
    outcome: Literal["attended", "no_show"]


class Appointment(BaseModel):
    appointment_id: str
    city: str
    agenda: Code
    operator: str
    unit_id: str | None
    person_id: str | None
    street_id: str | None
    purpose: Code
    starts_at: datetime
    ends_at: datetime
    status: Literal["booked", "cancelled"]
    cancel_reason: str | None
    outcome: Literal["attended", "no_show"] | None
    booked_by: str
    operator_partner: str | None = Field(
        description="Whose operator `operator` names: a partner's (its own systems name its operators), none: the "
        "city's staff's"
    )


class AppointmentReminder(BaseModel):
    """An open reminder: an appointment reminded of its current time, still booked, no outcome yet."""

    kind: Literal["appointment_reminder_due"]
    appointment_id: str
    agenda: Code
    operator: str
    operator_partner: str | None = Field(
        description="Whose operator `operator` names: a partner's, none: the city's staff's (docs/outreach.md)"
    )
    unit_id: str | None
    person_id: str | None
    street_id: str | None
    case_id: str | None = Field(description="The open case of the person, if any")
    case_partner: str | None
    purpose: Code
    starts_at: datetime
    ends_at: datetime
    since: date = Field(description="The day it was reminded")
    waiting_days: int


class RemindersSent(BaseModel):
    day: date
    due: list[str] = Field(description="Appointments due for a reminder on the day")
    emitted: list[str] = Field(description="Of them, those reminded by this call (not before)")
