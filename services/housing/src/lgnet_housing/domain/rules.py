"""Hard rules of a household-opportunity pair, and the per-city configuration that selects and tunes them.

Rules are data: a city's `CityRules` names which hard rules apply (`city` and `capacity` always do) and their
parameters. Every check answers (rule, passed, detail), which is what a proposal's explanation and the
"why isn't this household matching?" answer are made of. `domain/matching.py` evaluates the same rules on whole
arrays at once; the property tests hold the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from lgnet_shared.events.housing import SupportLevel
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from lgnet_housing.domain.model import Household, Opportunity

ALL_RULES = (
    "city",
    "availability",
    "capacity",
    "bedrooms",
    "no_minors",
    "women_only",
    "men_only",
    "families_only",
    "singles_only",
    "accessibility",
    "specialist_support",
    "affordability",
)
ALWAYS = ("city", "capacity")

# Upper bounds of a city's settings (docs/housing.md, "Rules"). Beyond them the matching cannot compute: a horizon
# past the last representable date, 64-bit columns that overflow, a weight too large for the solver's exact integer
# costs. At these maxima together a pair's weight stays below 40,000, which the solver handles for millions of nodes.
MAX_POINTS = 100.0  # any one priority weight, in points
MAX_COUNTED = 20  # vulnerabilities or minors counted at most
MAX_DAYS = 3650  # ten years: horizons and waits
MAX_WAITING_MONTHS = 120
MAX_PEOPLE_PER_BEDROOM = 10
MAX_PLANNED_CONTRIBUTION_CENTS = 10_000_000  # 100,000 EUR a month
INT64_MAX = 2**63 - 1


class PriorityWeights(BaseModel):
    """Weights of the priority score (docs/housing.md, "Priority")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vulnerability: float = Field(default=2.0, ge=0, le=MAX_POINTS, description="Points per recorded vulnerability")
    vulnerability_cap: StrictInt = Field(default=5, ge=0, le=MAX_COUNTED, description="Vulnerabilities counted at most")
    situation: dict[str, Annotated[float, Field(ge=0, le=MAX_POINTS)]] = Field(
        default_factory=lambda: {
            "homeless": 4.0,
            "facing_eviction": 3.0,
            "emergency_shelter": 3.0,
            "reception_project": 2.0,
            "precarious": 1.5,
            "overcrowded": 1.0,
        },
        description="Points per housing situation (intake's needs assessment)",
    )
    waiting_per_month: float = Field(
        default=0.5, ge=0, le=MAX_POINTS, description="Points per 30 days on the waiting list"
    )
    waiting_cap_months: StrictInt = Field(default=24, ge=0, le=MAX_WAITING_MONTHS)
    urgency: float = Field(default=6.0, ge=0, le=MAX_POINTS, description="Points when eviction is today or past")
    urgency_horizon_days: StrictInt = Field(
        default=90, ge=1, le=MAX_DAYS, description="Urgency grows linearly inside this window"
    )
    minors: float = Field(default=1.0, ge=0, le=MAX_POINTS, description="Points per minor")
    minors_cap: StrictInt = Field(default=5, ge=0, le=MAX_COUNTED)


class FitWeights(BaseModel):
    """How well a compatible pair fits (multiplies the priority)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unused_capacity: float = Field(default=0.5, ge=0, le=0.9, description="Penalty x share of empty places")
    shared_language: float = Field(default=0.1, ge=0, le=1, description="Bonus when host and household share one")


class CityRules(BaseModel):
    """A city's matching configuration (defaults below; PUT /rules changes them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hard_rules: tuple[str, ...] = Field(default=ALL_RULES, description=f"Subset of {', '.join(ALL_RULES)}")
    max_people_per_bedroom: StrictInt = Field(
        default=2, ge=1, le=MAX_PEOPLE_PER_BEDROOM, description="A studio (0 bedrooms) counts as one"
    )
    rent_share_of_income: float = Field(default=0.4, ge=0, le=1, description="Share of income rent may take")
    planned_contribution_cents: StrictInt = Field(
        default=0, ge=0, le=MAX_PLANNED_CONTRIBUTION_CENTS, description="Monthly rent support the city plans"
    )
    availability_horizon_days: StrictInt = Field(
        default=60, ge=0, le=MAX_DAYS, description="Listed as available within N days"
    )
    stalled_after_days: StrictInt = Field(
        default=14, ge=1, le=MAX_DAYS, description="A match step waiting longer is stalled"
    )
    max_hold_days: StrictInt = Field(
        default=180, ge=1, le=MAX_DAYS, description="A hold (parked household) ends at most this many days ahead"
    )
    auto_match: StrictBool = Field(default=True, description="Re-run matching after every relevant change")
    priority: PriorityWeights = Field(default_factory=PriorityWeights)
    fit: FitWeights = Field(default_factory=FitWeights)

    @field_validator("hard_rules")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in v if r not in ALL_RULES]
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(ALL_RULES)}")
        # The two that keep matching meaningful cannot be switched off; order follows ALL_RULES.
        return tuple(r for r in ALL_RULES if r in v or r in ALWAYS)


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    detail: str


def affordable_rent_cents(h: Household, rules: CityRules) -> int:
    """Saturated at the largest 64-bit integer: income has no upper bound in the contract, rents do."""
    return min(int(h.monthly_income_cents * rules.rent_share_of_income) + rules.planned_contribution_cents, INT64_MAX)


def bedroom_limit(o: Opportunity, rules: CityRules) -> int:
    return max(o.bedrooms, 1) * rules.max_people_per_bedroom


def eur(cents: int) -> str:
    return f"{cents / 100:.2f} EUR"


def _restriction(name: str, ok: Callable[[Household, date], bool], what: str) -> RuleFn:
    def check(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
        if name not in o.restrictions:
            return Check(name, True, "no such restriction")
        good = ok(h, today)
        return Check(name, good, f"restricted to {what}: household {'is' if good else 'is not'}")

    return check


RuleFn = Callable[[Household, Opportunity, CityRules, date], Check]


def _city(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    return Check("city", h.city == o.city, f"household in {h.city}, opportunity in {o.city}")


def _availability(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    horizon = today + timedelta(days=rules.availability_horizon_days)
    if o.available_from > horizon:
        return Check("availability", False, f"available from {o.available_from}, after {horizon}")
    if o.available_until is not None and o.available_until <= today:
        return Check("availability", False, f"available only until {o.available_until}")
    return Check("availability", True, f"available from {o.available_from} until {o.available_until or 'open end'}")


def _capacity(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    return Check("capacity", h.size <= o.capacity, f"{h.size} person(s) for {o.capacity} place(s)")


def _bedrooms(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    limit = bedroom_limit(o, rules)
    return Check("bedrooms", h.size <= limit, f"{h.size} person(s), {o.bedrooms} bedroom(s) house at most {limit}")


def _accessibility(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    if not h.accessibility_needs:
        return Check("accessibility", True, "no accessibility needs")
    return Check("accessibility", o.accessible, f"needs accessible housing; opportunity accessible: {o.accessible}")


def _specialist(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    if not h.specialist_support:
        return Check("specialist_support", True, "no specialist support needed")
    ok = o.support_level == SupportLevel.SPECIALIST_TEAM
    return Check("specialist_support", ok, f"needs a specialist team; support level: {o.support_level.value}")


def _affordability(h: Household, o: Opportunity, rules: CityRules, today: date) -> Check:
    limit = affordable_rent_cents(h, rules)
    return Check(
        "affordability",
        o.monthly_rent_cents <= limit,
        f"rent {eur(o.monthly_rent_cents)} vs affordable {eur(limit)} "
        f"({rules.rent_share_of_income:.0%} of income {eur(h.monthly_income_cents)}"
        f" + planned contribution {eur(rules.planned_contribution_cents)})",
    )


RULES: dict[str, RuleFn] = {
    "city": _city,
    "availability": _availability,
    "capacity": _capacity,
    "bedrooms": _bedrooms,
    "no_minors": _restriction("no_minors", lambda h, t: h.minors(t) == 0, "adults only"),
    "women_only": _restriction("women_only", lambda h, t: h.all_women, "women"),
    "men_only": _restriction("men_only", lambda h, t: h.all_men, "men"),
    "families_only": _restriction("families_only", lambda h, t: h.is_family(t), "families with minors"),
    "singles_only": _restriction("singles_only", lambda h, t: h.size == 1, "single persons"),
    "accessibility": _accessibility,
    "specialist_support": _specialist,
    "affordability": _affordability,
}


def checks(h: Household, o: Opportunity, rules: CityRules, today: date) -> list[Check]:
    """Every hard rule the city applies, in a fixed order."""
    return [RULES[name](h, o, rules, today) for name in rules.hard_rules]


def compatible(h: Household, o: Opportunity, rules: CityRules, today: date) -> bool:
    return all(c.passed for c in checks(h, o, rules, today))


def unfit_for_placement(h: Household, o: Opportunity, rules: CityRules, today: date) -> list[Check]:
    """The hard rules an accepted pair fails when its placement starts (the household or the opportunity changed since
    the acceptance: a child joined, the room was restricted). Availability is the placement's own day rule
    (as_of.placement_start). An accepted match was placed as it was: a household of two in a one-place room."""
    return [c for c in checks(h, o, rules, today) if not c.passed and c.rule != "availability"]
