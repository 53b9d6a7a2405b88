"""Intake events: taking charge of persons and households (DESIGN section 4, "intake").

Identifying fields (names, fiscal code, phone, address, and from person_registered v3 the birth date) are
`Sealed`; everything reporting counts (sex, nationality, minor or adult at a date, vulnerabilities) is plain so
that counts survive erasure. Vulnerabilities and other health-related
fields are special-category data: the needs assessment travels on the restricted topic `intake.special` (need to
know: housing, reporting, auditors), never on `intake.events`; they never appear in logs.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, field_validator

from lgnet_shared import vocabulary
from lgnet_shared.events.base import Event, Sealed, event
from lgnet_shared.events.types import Cents, Code, Country, Id, Part

# A code of the `vulnerability` list (lgnet_shared.vocabulary), checked where new data comes in (partners' and the
# desk's submissions): the error names the list and every valid code. Facts already recorded (needs_assessed) keep
# plain codes: old events must decode forever.
VulnerabilityCode = Annotated[Code, AfterValidator(vocabulary.known("vulnerability"))]
# A code of the `plan_objective` list, the one reporting labels plans from: checked where a plan is agreed (partners'
# and the desk's submissions). `bogus` was stored and shown raw. Facts (individual_plan_agreed) keep plain codes.
PlanObjectiveCode = Annotated[Code, AfterValidator(vocabulary.known("plan_objective"))]
# Why the reference person changed, and a referral's outcome: codes of their lists, checked likewise where they come
# in (facts keep plain codes). Why a member joins or leaves depends on `change`: checked by the submission's model.
ReferencePersonChangeReason = Annotated[Code, AfterValidator(vocabulary.known("reference_person_change_reason"))]
ReferralOutcomeCode = Annotated[Code, AfterValidator(vocabulary.known("referral_outcome"))]
MEMBER_CHANGE_REASONS = {"joined": "member_joined_reason", "left": "member_left_reason"}  # the list of each change


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


class ReferralSource(StrEnum):
    SOCIAL_DISTRICT = "social_district"
    TERRITORY = "territory"
    RECEPTION_EXIT = "reception_exit"
    SELF = "self"
    PARTNER = "partner"


class ActionArea(StrEnum):
    CIVIC_ENGAGEMENT = "civic_engagement"
    TAKING_CHARGE = "taking_charge"
    HOUSING_INCLUSION = "housing_inclusion"


class Channel(StrEnum):
    DESK = "desk"
    MOBILE_UNIT = "mobile_unit"


class EmploymentStatus(StrEnum):
    UNEMPLOYED = "unemployed"
    EMPLOYED_PERMANENT = "employed_permanent"
    EMPLOYED_FIXED_TERM = "employed_fixed_term"
    SELF_EMPLOYED = "self_employed"
    TRAINING = "training"
    INACTIVE = "inactive"


class HousingSituation(StrEnum):
    HOMELESS = "homeless"
    RECEPTION_PROJECT = "reception_project"
    EMERGENCY_SHELTER = "emergency_shelter"
    PRECARIOUS = "precarious"
    FACING_EVICTION = "facing_eviction"
    OVERCROWDED = "overcrowded"
    HOUSED = "housed"


class CaseOutcome(StrEnum):
    HOUSING_AUTONOMY = "housing_autonomy"
    TRANSFERRED = "transferred"
    DROPPED_OUT = "dropped_out"
    MOVED_AWAY = "moved_away"
    OTHER = "other"


class ConsentPurpose(StrEnum):
    SERVICE = "service"
    PARTNER_SHARING = "partner_sharing"
    REPORTING = "reporting"


class Identity(Part):
    """Sealed identifying fields of a person. Any may be absent."""

    given_name: Sealed | None = None
    family_name: Sealed | None = None
    fiscal_code: Sealed | None = None
    phone: Sealed | None = None
    address: Sealed | None = None


@event("lgnet.intake.person_registered", version=1, key="person_id")
class PersonRegisteredV1(Event):
    person_id: Id
    household_id: Id | None = None
    registered_by: Id = Field(description="Partner or staff member that registered the person")
    birth_date: date
    sex: Sex
    nationality: Country
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(default_factory=list)
    literate: bool | None = None
    fiscal_code_hash: str | None = Field(default=None, description="Keyed hash (HMAC) of the fiscal code")
    identity: Identity = Field(default_factory=Identity)


@event("lgnet.intake.person_registered", version=2, key="person_id")
class PersonRegisteredV2(PersonRegisteredV1):
    """v2 adds `third_country` (not an EU citizen), derived from the nationality; v1 records are upcast."""

    model_config = ConfigDict(title="PersonRegistered")  # its published schema's title

    third_country: bool | None = None


class IdentityV2(Identity):
    """Sealed identifying fields of a person, from v3 on with the birth date (ISO 8601 `YYYY-MM-DD`, sealed with
    the person's key like the names: erasing the person erases it too)."""

    birth_date: Sealed | None = None


def _widen(value: object) -> object:
    """An `Identity` (v1/v2) given where an `IdentityV2` is expected reads as one (it only lacks the birth date)."""
    return value.model_dump(exclude_none=True) if type(value) is Identity else value


MINOR = "Under 18 on the event's date, computed by intake (the birth date itself is sealed)"
MINOR_IN_CASES = "case id -> under 18 on that case's opening date, computed by intake"


@event("lgnet.intake.person_registered", version=3, key="person_id")
class PersonRegisteredV3(PersonRegisteredV2):
    """v3 seals the birth date (`identity.birth_date`) instead of carrying it in clear, and carries what
    consumers need of it: `minor` on the registration date. v1 and v2 records keep their clear `birth_date`."""

    birth_date: date | None = Field(default=None, description="In clear in v1 and v2 only; v3 seals it")  # type: ignore[assignment]
    identity: IdentityV2 = Field(default_factory=IdentityV2)
    minor: bool | None = Field(default=None, description=MINOR)

    _identity = field_validator("identity", mode="before")(lambda v: _widen(v))


NATIONAL_KEY = (
    "Pseudonymous cross-city key: HMAC-SHA256 (hex) of the fiscal code under the programme's national pseudonym key"
    " (the same person registered in two cities has the same value; never the fiscal code itself). Absent without a"
    " fiscal code or where the deployment has no national key (docs/operators.md, 'National pseudonym key')"
)


@event("lgnet.intake.person_registered", version=4, key="person_id")
class PersonRegistered(PersonRegisteredV3):
    """v4 adds `national_key`, with which the national level counts a person who moved between cities once."""

    national_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description=NATIONAL_KEY)


@event("lgnet.intake.person_updated", key="person_id")
class PersonUpdatedV1(Event):
    model_config = ConfigDict(title="PersonUpdated")  # its published schema's title

    person_id: Id
    birth_date: date | None = None
    sex: Sex | None = None
    nationality: Country | None = None
    third_country: bool | None = None
    languages: list[str] | None = None
    literate: bool | None = None
    identity: Identity | None = None


@event("lgnet.intake.person_updated", version=2, key="person_id")
class PersonUpdatedV2(PersonUpdatedV1):
    """v2: a corrected birth date is sealed (`identity.birth_date`), never in clear; with it come `minor` (on the
    event's date) and `minor_in_cases` (for every case of the person's households, whether under 18 at its
    opening), which replace what earlier events said."""

    identity: IdentityV2 | None = None
    minor: bool | None = Field(default=None, description=MINOR)
    minor_in_cases: dict[Id, bool] | None = Field(default=None, description=MINOR_IN_CASES)

    _identity = field_validator("identity", mode="before")(lambda v: _widen(v))


@event("lgnet.intake.person_updated", version=3, key="person_id")
class PersonUpdated(PersonUpdatedV2):
    """v3 adds `national_key` when the fiscal code is given or corrected after the registration (a migrant's often
    comes later): the national level then counts the person once across cities, as person_registered v4's key does."""

    national_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description=NATIONAL_KEY)


@event("lgnet.intake.possible_duplicate_flagged", key="person_id")
class PossibleDuplicateFlagged(Event):
    person_id: Id
    candidate_person_id: Id
    match: Code = Field(description="fiscal_code (exact) or name_birth_date (likely)")


@event("lgnet.intake.persons_merged", key="surviving_person_id")
class PersonsMerged(Event):
    surviving_person_id: Id
    merged_person_id: Id
    decided_by: Id


@event("lgnet.intake.household_formed", key="household_id")
class HouseholdFormed(Event):
    household_id: Id
    city: Code
    reference_person_id: Id
    member_ids: list[Id] = Field(min_length=1)


@event("lgnet.intake.household_member_joined", key="household_id")
class HouseholdMemberJoinedV1(Event):
    model_config = ConfigDict(title="HouseholdMemberJoined")  # its published schema's title

    household_id: Id
    person_id: Id
    reason: Code = Field(description="birth, reunification, joined, ...")
    on: date


@event("lgnet.intake.household_member_joined", version=2, key="household_id")
class HouseholdMemberJoined(HouseholdMemberJoinedV1):
    """v2 adds `minor_in_cases`: for the household's cases open when the person joins, whether they were under 18
    on the case's opening date (reports count age at a case's opening without a birth date)."""

    minor_in_cases: dict[Id, bool] | None = Field(default=None, description=MINOR_IN_CASES)


@event("lgnet.intake.household_member_left", key="household_id")
class HouseholdMemberLeft(Event):
    household_id: Id
    person_id: Id
    reason: Code
    on: date


@event("lgnet.intake.household_reference_person_changed", key="household_id")
class HouseholdReferencePersonChanged(Event):
    """Another member is named the household's reference person (the one it is named after and answers for its
    cases): the previous one moved out, separated or died, or the household chose so. She stays a member until a
    `household_member_left` of her own. Keyed by the household, so it follows the facts of its members in order."""

    household_id: Id
    person_id: Id = Field(description="The new reference person, a current member of the household")
    previous_person_id: Id = Field(description="The reference person until this change")
    reason: Code = Field(
        description="A code: moved, separation, death, household_choice, other (reference_person_change_reason)"
    )
    on: date


@event("lgnet.intake.referral_received", key="referral_id")
class ReferralReceived(Event):
    referral_id: Id
    household_id: Id
    source: ReferralSource
    referrer: Id | None = Field(default=None, description="Social district, project or partner code")
    received_on: date


@event("lgnet.intake.referral_outcome_recorded", key="referral_id")
class ReferralOutcomeRecorded(Event):
    referral_id: Id
    outcome: Code = Field(description="taken_in_charge, redirected, not_eligible, withdrawn")
    case_id: Id | None = None


@event("lgnet.intake.needs_assessed", key="case_id")
class NeedsAssessedV1(Event):
    # v1 travelled on `intake.events`, readable by every reader of that topic; kept for replay (upcast to v2).
    # Its published schema must not change: same title, no description.
    model_config = ConfigDict(title="NeedsAssessed")

    case_id: Id
    household_id: Id
    vulnerabilities: list[Code] = Field(default_factory=list)
    housing_situation: HousingSituation
    monthly_income_cents: Cents
    employment_status: EmploymentStatus
    eviction_date: date | None = None
    accessibility_needs: bool = False
    specialist_support: bool = False
    assessed_on: date


@event("lgnet.intake.needs_assessed", version=2, key="case_id", topic="intake.special")
class NeedsAssessedV2(NeedsAssessedV1):
    """Special-category data (vulnerabilities, specialist support, income): v2 travels on the restricted topic
    `intake.special`, read only by housing, reporting and auditors (lgnet_shared.topics). Same fields as v1."""


@event("lgnet.intake.needs_assessed", version=3, key="case_id", topic="intake.special")
class NeedsAssessed(NeedsAssessedV2):
    """v3: vulnerabilities belong to persons. `vulnerabilities_by_person` says whose each one is (members of the
    household on `assessed_on`; a member without any is absent); `vulnerabilities` is then their union, what a
    reader scoring the household (housing) uses. Upcast from v1/v2 it is null: those recorded the household's
    vulnerabilities without saying whose, and reports count them as they did then (every member)."""

    vulnerabilities_by_person: dict[Id, list[Code]] | None = Field(
        default=None,
        description="person id -> that person's vulnerability codes (null: recorded per household, before v3)",
    )


@event("lgnet.intake.case_opened", key="case_id")
class CaseOpenedV1(Event):
    model_config = ConfigDict(title="CaseOpened")  # its published schema's title

    case_id: Id
    household_id: Id
    city: Code
    action_area: ActionArea
    channel: Channel
    partner: Id
    opened_on: date
    housing_need: bool = False


@event("lgnet.intake.case_opened", version=2, key="case_id")
class CaseOpened(CaseOpenedV1):
    """v2 adds `minors`: for each member of the household at the opening, whether under 18 on `opened_on`."""

    minors: dict[Id, bool] | None = Field(
        default=None, description="person id -> under 18 on opened_on, computed by intake (birth dates are sealed)"
    )


@event("lgnet.intake.case_transferred", key="case_id")
class CaseTransferred(Event):
    case_id: Id
    from_partner: Id
    to_partner: Id
    on: date


@event("lgnet.intake.case_closed", key="case_id")
class CaseClosed(Event):
    case_id: Id
    outcome: CaseOutcome
    closed_on: date


@event("lgnet.intake.plan_agreed", key="case_id")
class IndividualPlanAgreed(Event):
    case_id: Id
    plan_id: Id
    objectives: list[Code] = Field(min_length=1, description="Objective codes, e.g. housing_autonomy")
    agreed_on: date


@event("lgnet.intake.plan_objective_updated", key="case_id")
class PlanObjectiveUpdated(Event):
    case_id: Id
    plan_id: Id
    objective: Code
    status: Code = Field(description="open, in_progress, achieved, abandoned")
    on: date


@event("lgnet.intake.employment_recorded", key="person_id")
class EmploymentRecorded(Event):
    person_id: Id
    case_id: Id | None = None
    status: EmploymentStatus
    as_of: date


@event("lgnet.intake.consent_recorded", key="person_id")
class ConsentRecorded(Event):
    person_id: Id
    purpose: ConsentPurpose
    granted: bool
    recorded_on: date


@event("lgnet.intake.person_erased", key="person_id")
class PersonErased(Event):
    """The person's key is destroyed: every Sealed field of theirs, in every copy of the log, is unreadable."""

    person_id: Id
    erased_on: date


@event("lgnet.intake.inbound_rejected", key="partner", topic="partner.rejections.{partner}")
class InboundRejectedV1(Event):
    """Answer to a partner's inbound event that intake refused. Read by the partner (keyed by partner)."""

    model_config = ConfigDict(title="InboundRejected")  # its published schema's title (v1 was published so)

    partner: Id
    inbound_event_id: str
    inbound_type: str | None = None
    kind: Code = Field(
        description=(
            "not_json (not UTF-8 JSON), not_cloudevent (an envelope attribute is missing or wrong), unknown_type"
            " (type or dataschema version not in the catalogue), invalid_data (data fails its JSON Schema, types"
            " included), invalid (data breaks a rule the schema cannot say: fiscal code, birth date, sealing, …),"
            " forbidden (not yours: another partner, city or case), not_found (refers to a person, household,"
            " referral, case or plan intake does not have), conflict (contradicts what is recorded)"
        )
    )
    field: str = Field(description="Dotted path of the field at fault ('' for the whole record)")
    reason: str


class FieldAtFault(Part):
    field: str = Field(description="Dotted path of the field at fault ('' for the whole record)")
    reason: str


@event("lgnet.intake.inbound_rejected", version=2, key="partner", topic="partner.rejections.{partner}")
class InboundRejected(InboundRejectedV1):
    """v2 adds `errors`: every field at fault with its reason (a record with several mistakes is corrected in one
    round); `field` and `reason` are the first of them. v1 answers are upcast with their one field."""

    model_config = ConfigDict(title="InboundRejected")  # its published schema's title

    errors: list[FieldAtFault] = Field(default_factory=list, max_length=50)
