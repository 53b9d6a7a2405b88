"""What partners' systems send to LgNet on their city's inbound topic (`lgnet.partner.inbound.<city>`).

Each is a request that intake's gatekeeper authenticates (Ed25519 signature of the record), validates and
authorises, then turns into canonical intake events — or answers with `lgnet.intake.inbound_rejected` naming
the field and the reason. Ids of new persons, households, referrals and cases are chosen by the partner
(UUIDs recommended), so a partner can refer to what it sent before without waiting for an answer.
Identifying fields (names, fiscal code, phone, address and, from registration v2, the birth date) are sealed to
intake's public key (HPKE), never plain: one by one, or from registration v3 all at once (`identity.all`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from lgnet_shared import vocabulary
from lgnet_shared.events.base import Event, Sealed, event
from lgnet_shared.events.intake import (
    MEMBER_CHANGE_REASONS,
    ActionArea,
    CaseOutcome,
    Channel,
    ConsentPurpose,
    EmploymentStatus,
    HousingSituation,
    PlanObjectiveCode,
    ReferencePersonChangeReason,
    ReferralSource,
    Sex,
    VulnerabilityCode,
)
from lgnet_shared.events.types import Code, Country, Id, IsoDate, Part, StrictCents

INBOUND = "partner.inbound.{city}"  # each city's partners write their own city's topic


class PartnerIdentity(Part):
    """Identifying fields sealed with `PartnerClient.seal` (HPKE to intake's key). Any may be absent."""

    given_name: Sealed | None = None
    family_name: Sealed | None = None
    fiscal_code: Sealed | None = None
    phone: Sealed | None = None
    address: Sealed | None = None


class PartnerIdentityV2(PartnerIdentity):
    """From v2 of the registration, the birth date too (ISO 8601 `YYYY-MM-DD`), sealed like the names."""

    birth_date: Sealed | None = None


@event("lgnet.partner.person_registration_submitted", key="person_id", topic=INBOUND)
class PersonRegistrationSubmittedV1(Event):
    """Register a person. If intake already knows them (same fiscal code), the two become one person."""

    model_config = ConfigDict(title="PersonRegistrationSubmitted")  # its published schema's title

    person_id: Id
    birth_date: IsoDate
    sex: Sex
    nationality: Country
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(default_factory=list)
    literate: bool | None = None
    identity: PartnerIdentity = Field(default_factory=PartnerIdentity)


BIRTH_DATE_V1_UNTIL = "2027-06-30"  # v1 (birth date in clear) is accepted until then (docs/partners.md)


@event("lgnet.partner.person_registration_submitted", version=2, key="person_id", topic=INBOUND)
class PersonRegistrationSubmittedV2(PersonRegistrationSubmittedV1):
    """Register a person; v2 seals the birth date to intake's key (`identity.birth_date`, required) and leaves
    `birth_date` out. v1, with the birth date in clear, is accepted until 2027-06-30. If intake already knows the
    person (same fiscal code), the two become one person."""

    birth_date: IsoDate | None = Field(default=None, description="v1 only (in clear); v2 sends identity.birth_date")  # type: ignore[assignment]
    identity: PartnerIdentityV2 = Field(default_factory=PartnerIdentityV2)

    @field_validator("identity", mode="before")
    @classmethod
    def _widen(cls, value: object) -> object:
        """An older version's identity (v1's `PartnerIdentity`, v2's in v3) reads as this version's."""
        wanted = cls.model_fields["identity"].annotation
        return (
            value.model_dump(exclude_none=True)
            if isinstance(value, PartnerIdentity) and type(value) is not wanted
            else value
        )


IDENTITY_FIELDS = tuple(PartnerIdentityV2.model_fields)  # what a whole identity sealed at once may hold


class PartnerIdentityV3(PartnerIdentityV2):
    """From v3 of the registration, the whole identity may be sealed at once in `all` (recommended): one HPKE
    encapsulation per registration instead of one per field, for the partner and for intake alike. Its plaintext is
    a JSON object of strings, members among the fields above (`birth_date` required); the fields are then absent."""

    all: Sealed | None = Field(
        default=None,
        description="The identity sealed at once: a JSON object such as"
        ' {"given_name": "Amina", "birth_date": "1991-04-02"}; excludes the fields one by one',
    )


@event("lgnet.partner.person_registration_submitted", version=3, key="person_id", topic=INBOUND)
class PersonRegistrationSubmitted(PersonRegistrationSubmittedV2):
    """Register a person; v3 may seal the whole identity at once (`identity.all`), otherwise as v2: the birth date
    sealed to intake's key (`identity.birth_date`, required), `birth_date` left out. v1, with the birth date in
    clear, is accepted until 2027-06-30. If intake already knows the person (same fiscal code), the two become one
    person."""

    identity: PartnerIdentityV3 = Field(default_factory=PartnerIdentityV3)


@event("lgnet.partner.household_formation_submitted", key="household_id", topic=INBOUND)
class HouseholdFormationSubmitted(Event):
    """Form a household of registered persons; the reference person is one of the members."""

    household_id: Id
    reference_person_id: Id
    member_ids: list[Id] = Field(min_length=1)


@event("lgnet.partner.household_member_change_submitted", key="household_id", topic=INBOUND)
class HouseholdMemberChangeSubmitted(Event):
    """A person joins (birth, reunification, …) or leaves a household."""

    household_id: Id
    person_id: Id
    change: Literal["joined", "left"]
    reason: Code = Field(
        description="A code of the vocabulary list member_joined_reason (birth, reunification, cohabitation, other)"
        " when joining, member_left_reason (moved, separation, autonomy, death, other) when leaving"
    )
    on: IsoDate

    @field_validator("reason")
    @classmethod
    def _listed_for_change(cls, reason: str, info: ValidationInfo) -> str:
        """Checked against the list its `change` says (a `change` at fault is refused on its own, not here)."""
        listed = MEMBER_CHANGE_REASONS.get(info.data.get("change", ""))
        return vocabulary.check(listed, reason) if listed else reason


@event("lgnet.partner.household_reference_person_change_submitted", key="household_id", topic=INBOUND)
class HouseholdReferencePersonChangeSubmitted(Event):
    """Name another current member the household's reference person (the previous one stays a member, and may then
    leave the household with a `household_member_change_submitted`)."""

    household_id: Id
    person_id: Id = Field(description="The new reference person, a current member of the household")
    reason: ReferencePersonChangeReason = Field(
        description="A code, in clear for good (never a person's data): moved, separation, death, household_choice,"
        " other (reference_person_change_reason)"
    )
    on: IsoDate


@event("lgnet.partner.referral_submitted", key="referral_id", topic=INBOUND)
class ReferralSubmitted(Event):
    """A household referred to the network (by a social district, reception project, …)."""

    referral_id: Id
    household_id: Id
    source: ReferralSource
    referrer: Id | None = None
    received_on: IsoDate


@event("lgnet.partner.case_opening_submitted", key="case_id", topic=INBOUND)
class CaseOpeningSubmitted(Event):
    """Take a household in charge; the emitting partner is assigned to the case."""

    case_id: Id
    household_id: Id
    action_area: ActionArea
    channel: Channel
    opened_on: IsoDate
    housing_need: StrictBool = False
    referral_id: Id | None = None


@event("lgnet.partner.needs_assessment_submitted", key="case_id", topic=INBOUND)
class NeedsAssessmentSubmittedV1(Event):
    """The needs assessment of a case's household (replaces any earlier one)."""

    model_config = ConfigDict(title="NeedsAssessmentSubmitted")  # its published schema's title

    case_id: Id
    vulnerabilities: list[VulnerabilityCode] = Field(default_factory=list)
    housing_situation: HousingSituation
    monthly_income_cents: StrictCents
    employment_status: EmploymentStatus
    eviction_date: IsoDate | None = None
    accessibility_needs: StrictBool = False
    specialist_support: StrictBool = False
    assessed_on: IsoDate


@event("lgnet.partner.needs_assessment_submitted", version=2, key="case_id", topic=INBOUND)
class NeedsAssessmentSubmitted(NeedsAssessmentSubmittedV1):
    """The needs assessment of a case's household (replaces any earlier one). v2: vulnerabilities belong to
    persons: give them in `vulnerabilities_by_person` (members of the household on `assessed_on`), and leave
    `vulnerabilities` empty. A v1 assessment with vulnerabilities is accepted only for a one-person household."""

    vulnerabilities_by_person: dict[Id, list[VulnerabilityCode]] = Field(
        default_factory=dict,
        description="person id -> that person's vulnerability codes (lgnet_shared.vocabulary list `vulnerability`)",
    )


@event("lgnet.partner.plan_submitted", key="case_id", topic=INBOUND)
class PlanSubmitted(Event):
    """The individual plan agreed with the household."""

    case_id: Id
    plan_id: Id
    objectives: list[PlanObjectiveCode] = Field(min_length=1)  # codes of the vocabulary list `plan_objective`
    agreed_on: IsoDate


@event("lgnet.partner.plan_objective_update_submitted", key="case_id", topic=INBOUND)
class PlanObjectiveUpdateSubmitted(Event):
    """Progress on one objective of a plan."""

    case_id: Id
    plan_id: Id
    objective: Code
    status: Literal["open", "in_progress", "achieved", "abandoned"]
    on: IsoDate


@event("lgnet.partner.employment_reported", key="person_id", topic=INBOUND)
class EmploymentReported(Event):
    """Employment status of a person as of a date (monitoring)."""

    person_id: Id
    case_id: Id | None = None
    status: EmploymentStatus
    as_of: IsoDate


@event("lgnet.partner.consent_reported", key="person_id", topic=INBOUND)
class ConsentReported(Event):
    """Consent given or withdrawn by the person for one purpose."""

    person_id: Id
    purpose: ConsentPurpose
    granted: StrictBool
    recorded_on: IsoDate


@event("lgnet.partner.case_closure_submitted", key="case_id", topic=INBOUND)
class CaseClosureSubmitted(Event):
    """Close a case with its outcome."""

    case_id: Id
    outcome: CaseOutcome
    closed_on: IsoDate
