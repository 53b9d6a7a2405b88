"""Explanations: what a proposal passed and scored, and why a household is not matching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from lgnet_shared.events.housing import PUBLISHED_FIT

from lgnet_housing.domain import priority as prio
from lgnet_housing.domain import rules as r
from lgnet_housing.domain.model import Household, Opportunity


@dataclass(frozen=True)
class Reason:
    code: str  # a rule name, or: no_open_opportunities, taken_by_others, declined_before, ...
    detail: str


@dataclass(frozen=True)
class Explanation:
    score: float
    breakdown: dict[str, float]
    checks: list[r.Check]


def explain(h: Household, o: Opportunity, rules: r.CityRules, today: date) -> Explanation:
    score, breakdown = prio.score(h, o, rules, today)
    return Explanation(score, breakdown, r.checks(h, o, rules, today))


# The rules whose detail says a household's special-category data (docs/operators.md, "Special-category data"): its
# accessibility and specialist-support needs and its income. What housing publishes on `housing.events` (read by
# payments and the national level, which never read `intake.special`) says only the opportunity's side of them.
_PUBLISHED_DETAIL = {
    "accessibility": lambda o: f"opportunity accessible: {o.accessible}",
    "specialist_support": lambda o: f"support level: {o.support_level.value}",
    "affordability": lambda o: f"rent {r.eur(o.monthly_rent_cents)}: within the household's affordable rent",
}


def published(checks: Sequence[r.Check], o: Opportunity) -> list[r.Check]:
    """A proposal's checks as a fact may carry them: those of the rules above say the opportunity's side only. A
    proposal's checks all passed, so the line still says what was checked and that it held."""
    return [
        r.Check(c.rule, c.passed, _PUBLISHED_DETAIL[c.rule](o)) if c.rule in _PUBLISHED_DETAIL else c for c in checks
    ]


# The score's terms a fact may carry: the fit's. The priority's own terms (vulnerability, situation, urgency, minors,
# waiting) say the needs assessment as numbers (2 points a vulnerability, 4 for a homeless household, an eviction
# close), and so does the priority, their sum: match_proposed v1 carried it (and the score, priority x fit), v2 not.
PUBLISHED_SCORE = PUBLISHED_FIT


def published_breakdown(breakdown: Mapping[str, float]) -> dict[str, float]:
    """A proposal's score breakdown as `housing.events` carries it: the fit, not the priority nor its terms."""
    return {k: breakdown[k] for k in PUBLISHED_SCORE if k in breakdown}


def why_unmatched(
    h: Household,
    opportunities: Sequence[Opportunity],
    rules: r.CityRules,
    today: date,
    *,
    held_by: Mapping[str, str] | None = None,
    declined: frozenset[str] = frozenset(),
    occupied: frozenset[str] = frozenset(),
) -> list[Reason]:
    """Reasons over the city's open opportunities. `held_by` maps an opportunity to the household it is
    proposed to or placed with; `occupied`, those of them a household accepted or lives in (no matching weighs them
    again: live matches are kept); `declined` are opportunities declined before for this household."""
    held_by = dict(held_by or {})
    if not opportunities:
        return [Reason("no_open_opportunities", f"no open housing opportunity in {h.city}")]
    failures: dict[str, list[str]] = {}
    compatible: list[Opportunity] = []
    for o in opportunities:
        failed = [c for c in r.checks(h, o, rules, today) if not c.passed]
        for c in failed:
            failures.setdefault(c.rule, []).append(f"{o.opportunity_id}: {c.detail}")
        if not failed:
            compatible.append(o)
    total = len(opportunities)
    reasons = [
        Reason(rule, f"{len(items)} of {total} opportunities fail it, e.g. {'; '.join(items[:3])}")
        for rule, items in sorted(failures.items(), key=lambda kv: -len(kv[1]))
    ]
    before = [o.opportunity_id for o in compatible if o.opportunity_id in declined]
    if before:
        reasons.append(Reason("declined_before", f"compatible but declined before: {', '.join(before)}"))
    taken = [o.opportunity_id for o in compatible if o.opportunity_id in held_by and o.opportunity_id not in declined]
    lived_in = [o for o in taken if o in occupied]
    if lived_in:
        reasons.append(
            Reason(
                "occupied",
                f"{len(lived_in)} compatible opportunity(ies) accepted by or housing another household: "
                f"{', '.join(lived_in[:10])}",
            )
        )
    others = [o for o in taken if o not in occupied]
    if others:
        reasons.append(
            Reason(
                "taken_by_others",
                f"{len(others)} compatible opportunity(ies) went to households whose priority-weighted fit "
                f"made the city-wide total higher: {', '.join(others[:10])}",
            )
        )
    free = [o.opportunity_id for o in compatible if o.opportunity_id not in {*held_by, *declined}]
    if free:
        reasons.append(Reason("not_yet_matched", f"compatible and free: {', '.join(free[:10])}; run the matching"))
    if not compatible:
        none = f"none of the {total} open opportunities passes every rule"
        reasons.insert(0, Reason("no_compatible_opportunity", none))
    return reasons


# A household's special-category data as a proposal states it (operators.md, "Special-category data"): income,
# specialist support (a psychiatric condition or an addiction), accessibility needs (a disability), and the priority
# components weighing vulnerabilities and the housing situation. Need to know: the city's staff and the case's
# partner read them; the provider-side partner and the `match_proposed` fact (on `housing.events`, which payments and
# the national level read) get each rule and whether it passed, without these details.
HOUSEHOLD_SPECIAL_RULES = frozenset({"specialist_support", "affordability", "accessibility"})
HOUSEHOLD_SPECIAL_SCORES = frozenset({"vulnerability", "situation", "urgency", "priority"})
WITHHELD = "withheld: the household's need-to-know data"


def outside_the_case(
    explanation: Sequence[Mapping[str, object]], breakdown: Mapping[str, float]
) -> tuple[list[dict[str, object]], dict[str, float]]:
    """A proposal's explanation and score breakdown as those outside the household's case may read them."""
    shown = [
        {**check, "detail": WITHHELD} if check.get("rule") in HOUSEHOLD_SPECIAL_RULES else dict(check)
        for check in explanation
    ]
    return shown, {k: v for k, v in breakdown.items() if k not in HOUSEHOLD_SPECIAL_SCORES}
