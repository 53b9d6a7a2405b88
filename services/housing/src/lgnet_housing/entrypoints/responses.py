"""What housing's routes answer, for the OpenAPI document. `http.py` attaches them as `responses={200: {"model": ...}}`,
documentation only: the handlers' answers are sent as they are, never filtered or re-serialised through these
models (a `response_model` would drop a field a model forgot). The tests check every
answer they receive against them (`lgnet_shared.testing.answers`).

Rows of housing's tables, as the handlers read them: dates are ISO dates, money integer euro cents, codes as
stored. Events answered as they were published (a lease, the proposals of a matching run) are their contract's
models, from `lgnet_shared.events.housing`. An answer may gain fields: the models built on an event's or the rules'
model (closed to other fields, as a contract is) open again (`OPEN`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from lgnet_shared.events.housing import (
    DeclinedBy,
    HousingKind,
    LeaseSigned,
    MatchProposed,
    MatchStalled,
    PlacementEndReason,
    SupportLevel,
)
from pydantic import BaseModel, ConfigDict, Field

from lgnet_housing.domain.rules import CityRules

OPEN = ConfigDict(extra="ignore")  # no `additionalProperties: false` in the answer's schema
MatchStatus = Literal["proposed", "accepted", "placed", "declined", "cancelled", "ended"]
Step = Literal["proposed", "accepted", "placement_started"]


class HousingOpportunity(BaseModel):
    """An opportunity of the city's catalogue, as listed and last changed."""

    opportunity_id: str
    city: str
    partner: str = Field(description="The partner that owns or manages the opportunity")
    kind: HousingKind
    capacity: int = Field(description="How many people it can house")
    bedrooms: int = Field(description="0: a studio")
    accessible: bool
    monthly_rent_cents: int = Field(description="Integer euro cents")
    available_from: date
    available_until: date | None = Field(description="Open-ended when null")
    support_level: SupportLevel
    restrictions: list[str] = Field(description="women_only, men_only, families_only, singles_only, no_minors")
    area: str | None
    languages: list[str] = Field(description="Languages spoken by the host or support team (ISO 639 codes)")
    status: Literal["open", "withdrawn"]
    withdrawn_reason: str | None = Field(description="Code given at the withdrawal; null while open")
    listed_by: str = Field(description="The actor who listed it")
    listed_on: date


class CatalogueOpportunity(HousingOpportunity):
    """An opportunity in the catalogue's list, with the state of the match that holds it."""

    live_match: Literal["proposed", "accepted", "placed"] | None = Field(
        description="Status of the live match on it; null when it is free"
    )


class CityMatchingRules(CityRules):
    """The city's matching rules and score weights in force (its own, or the defaults)."""

    model_config = OPEN

    city: str
    version: int = Field(description="Times saved (0: the defaults, never saved); the ETag, sent back as If-Match")


class UnmatchedHousehold(BaseModel):
    """Why a waiting household got no proposal in this run, counted over the open opportunities considered."""

    household_id: str
    open_opportunities: int = Field(description="Open opportunities considered")
    compatible: int = Field(description="Of them, those passing every hard rule")
    declined_before: int = Field(description="Compatible ones declined before by one side")
    failing_rules: dict[str, int] = Field(description="Hard rule -> opportunities failing it")


class NotWaiting(BaseModel):
    household_id: str
    reason: str = Field(description="'<code>: <detail>', e.g. parked, live match, not assessed")


class Proposal(MatchProposed):
    """A proposal as housing records it and answers it over HTTP: the `match_proposed` fact's fields, with the score
    and the whole breakdown for the city's staff and the case's partner (the fact carries neither: docs/housing.md,
    "What the priority says")."""

    score: float | None = Field(
        default=None,
        description="Priority x fit, which the assignment maximised: for the city's staff and the case's partner;"
        " null for the provider-side partner (with the fit it shows, it would say the priority)",
    )
    score_breakdown: dict[str, float] = Field(
        description="Each priority term, priority, fit_unused_capacity, fit_language, fit; the provider-side partner"
        " reads it without vulnerability, situation, urgency and priority (docs/housing.md)"
    )


class MatchingRun(BaseModel):
    """One city-wide matching: the proposals made (each a match_proposed event) and why the others got none."""

    city: str
    proposals: list[Proposal]
    total_score: float = Field(description="Sum of the proposals' scores, which the assignment maximised")
    unmatched: list[UnmatchedHousehold]
    not_waiting: list[NotWaiting] = Field(description="Households with a housing case that were not candidates")


class WaitingHousehold(BaseModel):
    """A household of the waiting list; the priority fields are absent for one that cannot be matched (`blocked`)."""

    household_id: str
    case_id: str
    blocked: str | None = Field(description="Why it is not a candidate now ('<code>: <detail>'); null if it is")
    priority: float | None = Field(default=None, description="Priority score (docs/housing.md, 'Priority')")
    priority_breakdown: dict[str, float] | None = Field(default=None, description="Component -> points")
    size: int | None = Field(default=None, description="Members of the household")
    minors: int | None = Field(default=None, description="Members under 18 today")


class Match(Proposal):
    """A proposal of an opportunity to a household, as housing records it, and where it stands."""

    model_config = OPEN

    status: MatchStatus
    step_since: date = Field(description="When the match entered its current step (stalled reminders count from it)")
    stalled_step: Step | None = Field(description="The step already reminded as stalled, if any")
    declined_by: DeclinedBy | None
    decline_reason: str | None = Field(description="Code of the decline or cancellation")
    decided_on: date | None = Field(description="Day of the last decision (accepted, declined, cancelled)")


class LeaseTerms(BaseModel):
    """The lease signed for a placement, as its terms read."""

    lease_id: str
    lease_type: str
    monthly_rent_cents: int
    deposit_cents: int
    start_date: date
    end_date: date | None
    signed_on: date


class PlacementOfMatch(BaseModel):
    """A match's placement as its reader sees it: so that it can be ended (`POST /placements/{id}/end`)."""

    placement_id: str
    started_on: date
    ended_on: date | None
    end_reason: str | None
    lease: LeaseTerms | None = Field(description="The lease signed for it; null before one is")


class MatchDetail(Match):
    """A match with the partners of both sides and the opportunity's kind."""

    case_partner: str = Field(description="The partner of the household's case (household side)")
    opportunity_partner: str = Field(description="The partner of the opportunity (provider side)")
    kind: HousingKind
    placement: PlacementOfMatch | None = Field(
        default=None, description="Its placement, once started (`GET /matches/{id}` and the answers to its steps)"
    )


class Reason(BaseModel):
    code: str = Field(description="A hard rule, or no_open_opportunities, occupied, taken_by_others, declined_before…")
    detail: str


class WhyNotMatching(BaseModel):
    """Why a household is not matching: its state, then what each open opportunity fails."""

    household_id: str
    waiting: bool = Field(description="Whether it is a candidate of the matching now")
    reasons: list[Reason]
    priority: float | None = Field(default=None, description="Present when it is waiting")
    match: MatchDetail | None = Field(default=None, description="Its live match, when that is what blocks it")


class Placement(BaseModel):
    """A household housed in an opportunity, from an accepted match."""

    placement_id: str
    match_id: str
    household_id: str
    case_id: str
    opportunity_id: str
    city: str
    kind: HousingKind
    started_on: date
    ended_on: date | None
    end_reason: PlacementEndReason | None
    lease_id: str | None = Field(description="The signed lease or sub-lease, once recorded")
    case_partner: str
    opportunity_partner: str


class Lease(LeaseSigned):
    """The lease or sub-lease recorded: the data of the lease_signed event published."""

    model_config = OPEN


class Hold(BaseModel):
    """A household on hold until a date (no proposals meanwhile)."""

    household_id: str
    parked: Literal[True]
    reason: str
    until: date


class HoldLifted(BaseModel):
    household_id: str
    parked: Literal[False]
    on: date


class StalledCheckOutcome(BaseModel):
    stalled: list[MatchStalled] = Field(description="The match_stalled events emitted by this check")
    unparked: list[str] = Field(description="Households whose expired hold was released")


class StalledStepReminder(BaseModel):
    """An open reminder: a match step waiting longer than the city's limit."""

    kind: Literal["match_stalled"]
    match_id: str
    household_id: str
    case_id: str
    case_partner: str = Field(description="The case's partner, who is reminded")
    opportunity_id: str
    step: Step
    since: date = Field(description="The day the step began")
    waiting_days: int


class HoldEndingReminder(BaseModel):
    """A hold ending within seven days: the household is back on the waiting list then (check that it can be)."""

    kind: Literal["hold_ending"]
    household_id: str
    case_id: str
    case_partner: str = Field(description="The case's partner, who is reminded")
    reason: str = Field(description="The hold's reason (vocabulary `hold_reason`)")
    until: date = Field(description="The hold's end")
    waiting_days: Literal[0] = Field(description="Nothing waits yet: listed after the stalled steps")


Reminder = Annotated[StalledStepReminder | HoldEndingReminder, Field(discriminator="kind")]


class ReadLogEntry(BaseModel):
    """One read of a household's data through housing's API (the DPO's log): ids, never names."""

    at: datetime
    principal: str = Field(description="The actor whose token read: a partner's id, a staff actor (desk.op-…)")
    principal_name: str | None = Field(description="Its name in housing (`lgnet-admin add-actor --name`)")
    role: str
    partner: str | None
    city: str = Field(description="The household's city")
    household_id: str
    person_ids: list[str] = Field(description="The household's members when it was read (a subject-access request's)")
    kind: Literal["waiting_list", "household", "why", "matches", "match", "reminders", "matching_run"]
    outcome: Literal["shown", "denied"] = Field(description="denied: refused (404 to a caller it is not for, 403)")
    via: Literal["desk", "api"] = Field(description="desk (the desk said it called) or api")
