"""Housing events (DESIGN section 4, "housing"), owned by the housing service.

Matching households to housing opportunities: the catalogue (opportunity listed/updated/withdrawn), the match
workflow (proposed → accepted/declined → placement started → lease signed → placement ended), holds (parked
households) and stalled-match reminders. No identifying personal data travels here: households, cases and
opportunities are referred to by id only.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from lgnet_shared import vocabulary
from lgnet_shared.events.base import Event, event
from lgnet_shared.events.types import Cents, Code, Id, Part


class HousingKind(StrEnum):
    PRIVATE_RENTAL = "private_rental"
    SUB_LEASE = "sub_lease"
    SOCIAL_HOUSING = "social_housing"
    SOLIDARITY_COHOUSING = "solidarity_cohousing"
    HOTEL_ROOM = "hotel_room"
    NON_HOTEL_ROOM = "non_hotel_room"
    HOST_FAMILY = "host_family"
    COLLECTIVE_FACILITY = "collective_facility"


class SupportLevel(StrEnum):
    NONE = "none"
    LIGHT = "light"
    SPECIALIST_TEAM = "specialist_team"


class DeclinedBy(StrEnum):
    HOUSEHOLD = "household"
    PROVIDER = "provider"


class LeaseType(StrEnum):
    LEASE = "lease"
    SUB_LEASE = "sub_lease"


class PlacementEndReason(StrEnum):
    AUTONOMY_REACHED = "autonomy_reached"
    MOVED = "moved"
    DROPPED_OUT = "dropped_out"
    OTHER = "other"


# Why a household is parked: a code of the `hold_reason` list, checked where a hold is asked for (the HTTP API, the
# desk); the fact (household_parked) keeps a plain code. A decline's reason stays any code (docs/housing.md).
HoldReasonCode = Annotated[Code, AfterValidator(vocabulary.known("hold_reason"))]


class RuleCheck(Part):
    """One line of a proposal's explanation: a rule, whether the pair passed it, and why."""

    rule: Code
    passed: bool
    detail: str = Field(max_length=500)


@event("lgnet.housing.opportunity_listed", key="opportunity_id")
class OpportunityListed(Event):
    opportunity_id: Id
    city: Code
    partner: Id = Field(description="Partner that owns or manages the opportunity")
    kind: HousingKind
    capacity: int = Field(ge=1, description="How many people it can house")
    bedrooms: int = Field(ge=0)
    accessible: bool = False
    monthly_rent_cents: Cents
    available_from: date
    available_until: date | None = None
    support_level: SupportLevel = SupportLevel.NONE
    restrictions: list[Code] = Field(
        default_factory=list, description="women_only, families_only, no_minors, ... (see docs/housing.md)"
    )
    area: Code | None = None
    languages: list[str] = Field(default_factory=list, description="Languages spoken by the host/support team")


@event("lgnet.housing.opportunity_updated", key="opportunity_id")
class OpportunityUpdatedV1(Event):
    """Only the fields present changed; absent (null) fields keep their value."""

    model_config = ConfigDict(title="OpportunityUpdated")  # its published schema's title

    opportunity_id: Id
    kind: HousingKind | None = None
    capacity: int | None = Field(default=None, ge=1)
    bedrooms: int | None = Field(default=None, ge=0)
    accessible: bool | None = None
    monthly_rent_cents: Cents | None = None
    available_from: date | None = None
    available_until: date | None = None
    support_level: SupportLevel | None = None
    restrictions: list[Code] | None = None
    area: Code | None = None
    languages: list[str] | None = None


# The optional fields of an opportunity that a change may clear (empty); the others always have a value.
CLEARABLE = ("available_until", "area")
Clearable = Literal["available_until", "area"]


@event("lgnet.housing.opportunity_updated", version=2, key="opportunity_id")
class OpportunityUpdated(OpportunityUpdatedV1):
    """Only the fields present changed; absent (null) fields keep their value. v2 adds `cleared`: the optional
    fields emptied by the change (`available_until`: open-ended from now on; `area`: none), each absent from the
    fields present. v1 records are read with nothing cleared (v1 could not say it)."""

    cleared: list[Clearable] = Field(
        default_factory=list, description="Optional fields the change emptied (available_until, area)"
    )

    @model_validator(mode="after")
    def _cleared_not_given(self) -> OpportunityUpdated:
        both = [name for name in self.cleared if getattr(self, name) is not None]
        if both:
            raise ValueError(f"cleared and given at once: {', '.join(both)}")
        return self


@event("lgnet.housing.opportunity_withdrawn", key="opportunity_id")
class OpportunityWithdrawn(Event):
    opportunity_id: Id
    reason: Code
    on: date


@event("lgnet.housing.match_proposed", key="household_id")
class MatchProposedV1(Event):
    # v1 carried the score (priority x fit) and the priority in its breakdown: the household's needs assessment as
    # a number, read by everyone who reads housing.events. Kept for replay; its published schema must not change.
    model_config = ConfigDict(title="MatchProposed")

    match_id: Id
    household_id: Id
    case_id: Id
    opportunity_id: Id
    city: Code
    score: float = Field(description="Priority-weighted fit the assignment maximised")
    explanation: list[RuleCheck] = Field(description="Every rule checked for this pair, all passed")
    score_breakdown: dict[str, float] = Field(description="Score components (see docs/housing.md)")
    proposed_on: date


PUBLISHED_FIT = ("fit", "fit_unused_capacity", "fit_language")


@event("lgnet.housing.match_proposed", version=2, key="household_id")
class MatchProposed(MatchProposedV1):
    """v2 publishes no priority: not the `score` (priority x fit), not `score_breakdown.priority`. The priority is
    1 + 2 points a vulnerability + the housing situation (4 homeless, 3 facing eviction) + an eviction's urgency +
    minors + waiting: the household's needs assessment (special-category data, on the restricted `intake.special`)
    as a number, and every reader of `housing.events` (payments, the national level, auditors) read it. The breakdown
    carries the fit only (fit, fit_unused_capacity, fit_language: how the household fills the opportunity and whether
    they share a language), which the provider sees anyway. v1 records are read as they were published, their score
    with them (a fact topic is never rewritten)."""

    score: float | None = Field(  # type: ignore[assignment]
        default=None,
        description="v1 only (priority x fit): v2 publishes no priority; housing's staff read it over HTTP",
    )
    score_breakdown: dict[str, float] = Field(
        description="v2: the fit only (fit, fit_unused_capacity, fit_language); v1 also the priority (docs/housing.md)"
    )


@event("lgnet.housing.match_accepted", key="household_id")
class MatchAccepted(Event):
    match_id: Id
    household_id: Id
    opportunity_id: Id
    on: date


@event("lgnet.housing.match_declined", key="household_id")
class MatchDeclined(Event):
    match_id: Id
    household_id: Id
    opportunity_id: Id
    by: DeclinedBy
    reason: Code
    on: date


@event("lgnet.housing.placement_started", key="household_id")
class PlacementStarted(Event):
    placement_id: Id
    match_id: Id
    household_id: Id
    case_id: Id
    opportunity_id: Id
    city: Code
    kind: HousingKind
    started_on: date


@event("lgnet.housing.lease_signed", key="household_id")
class LeaseSigned(Event):
    lease_id: Id
    placement_id: Id
    household_id: Id
    case_id: Id
    city: Code
    lease_type: LeaseType
    monthly_rent_cents: Cents
    deposit_cents: Cents
    start_date: date
    end_date: date | None = None
    signed_on: date


@event("lgnet.housing.placement_ended", key="household_id")
class PlacementEnded(Event):
    placement_id: Id
    household_id: Id
    case_id: Id
    reason: PlacementEndReason
    ended_on: date


@event("lgnet.housing.household_parked", key="household_id")
class HouseholdParked(Event):
    household_id: Id
    reason: Code
    until: date


@event("lgnet.housing.household_unparked", key="household_id")
class HouseholdUnparked(Event):
    household_id: Id
    on: date


@event("lgnet.housing.match_stalled", key="household_id")
class MatchStalled(Event):
    match_id: Id
    household_id: Id
    step: Code = Field(description="Waiting step: proposed (answer), accepted (placement), placement_started (lease)")
    waiting_days: int = Field(ge=0)
    on: date


@event("lgnet.housing.partner_match_reminder", key="partner", topic="partner.reminders.{partner}")
class PartnerMatchReminder(Event):
    """A match step of the partner's own case stalled past the city's limit (the same check as match_stalled),
    told to that partner on its own topic `partner.reminders.<partner>`. Ids and codes only: no personal data."""

    partner: Id = Field(description="The partner this reminder is for: the case's partner (its topic's partner)")
    match_id: Id
    household_id: Id
    case_id: Id
    opportunity_id: Id
    step: Code = Field(description="Waiting step: proposed (answer), accepted (placement), placement_started (lease)")
    waiting_days: int = Field(ge=0)
    since: date = Field(description="The day the step began")
    on: date = Field(description="The day the check ran")
