"""Housing's pure domain: hard rules, priority, the optimal assignment (against brute force), explanations."""

from __future__ import annotations

import functools
import itertools
import random
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lgnet_housing.domain import explain, matching, priority, rules, solver
from lgnet_housing.domain.as_of import CLOCK_SKEW_TOLERANCE, check_day, lease_terms, placement_start, step_day
from lgnet_housing.domain.model import RESTRICTIONS, Household, Member, Opportunity
from lgnet_housing.domain.rules import CityRules
from lgnet_shared.errors import ContractError
from lgnet_shared.events.housing import HousingKind, SupportLevel
from pydantic import ValidationError

TODAY = date(2026, 11, 23)
ADULT_F = Member("f", date(1990, 1, 1), "female", ("en",))
ADULT_M = Member("m", date(1985, 1, 1), "male", ("fr",))
CHILD = Member("k", date(2020, 1, 1), "male")
RULES = CityRules()


def hh(hid: str = "h1", members: tuple[Member, ...] = (ADULT_F,), **kw: Any) -> Household:
    base: dict[str, Any] = {
        "household_id": hid,
        "case_id": f"{hid}-case",
        "city": "torino",
        "partner": "coop",
        "members": members,
        "waiting_since": date(2026, 6, 1),
        "monthly_income_cents": 100_000,
    }
    return Household(**(base | kw))


def opp(oid: str = "o1", **kw: Any) -> Opportunity:
    base: dict[str, Any] = {
        "opportunity_id": oid,
        "city": "torino",
        "partner": "coop",
        "kind": HousingKind.PRIVATE_RENTAL,
        "capacity": 2,
        "bedrooms": 1,
        "accessible": False,
        "monthly_rent_cents": 30_000,
        "available_from": TODAY,
    }
    return Opportunity(**(base | kw))


def failed(h: Household, o: Opportunity, r: CityRules = RULES) -> set[str]:
    return {c.rule for c in rules.checks(h, o, r, TODAY) if not c.passed}


# ---------------------------------------------------------------- hard rules


def test_a_fitting_pair_passes_every_rule_and_says_why() -> None:
    checks = rules.checks(hh(), opp(), RULES, TODAY)
    assert [c.rule for c in checks] == list(rules.ALL_RULES)
    assert all(c.passed for c in checks)
    assert "1 person(s) for 2 place(s)" in {c.rule: c.detail for c in checks}["capacity"]


def test_capacity_bedrooms_city_and_availability() -> None:
    assert failed(hh(members=(ADULT_F, ADULT_M, CHILD)), opp(capacity=2)) == {"capacity", "bedrooms"}
    assert failed(hh(members=(ADULT_F, ADULT_M, CHILD)), opp(capacity=3, bedrooms=1)) == {"bedrooms"}
    assert failed(hh(members=(ADULT_F, ADULT_M, CHILD)), opp(capacity=3, bedrooms=0)) == {"bedrooms"}
    assert failed(hh(), opp(city="trieste")) == {"city"}
    assert failed(hh(), opp(available_from=TODAY + timedelta(days=61))) == {"availability"}
    assert failed(hh(), opp(available_until=TODAY)) == {"availability"}


def test_restrictions() -> None:
    family = hh(members=(ADULT_F, CHILD))
    assert failed(family, opp(restrictions=frozenset({"no_minors"}))) == {"no_minors"}
    assert failed(hh(members=(ADULT_M,)), opp(restrictions=frozenset({"women_only"}))) == {"women_only"}
    assert failed(hh(members=(ADULT_F, ADULT_M)), opp(restrictions=frozenset({"women_only"}))) == {"women_only"}
    assert failed(hh(members=(ADULT_F,)), opp(restrictions=frozenset({"women_only"}))) == set()
    assert failed(hh(), opp(restrictions=frozenset({"men_only"}))) == {"men_only"}
    assert failed(hh(), opp(restrictions=frozenset({"families_only"}))) == {"families_only"}
    assert failed(family, opp(restrictions=frozenset({"families_only"}))) == set()
    assert failed(family, opp(restrictions=frozenset({"singles_only"}))) == {"singles_only"}


def test_accessibility_and_specialist_support() -> None:
    assert failed(hh(accessibility_needs=True), opp()) == {"accessibility"}
    assert failed(hh(accessibility_needs=True), opp(accessible=True)) == set()
    assert failed(hh(specialist_support=True), opp(support_level=SupportLevel.LIGHT)) == {"specialist_support"}
    assert failed(hh(specialist_support=True), opp(support_level=SupportLevel.SPECIALIST_TEAM)) == set()


def test_affordability_counts_income_share_and_planned_contribution() -> None:
    poor = hh(monthly_income_cents=50_000)  # 40% = 200 EUR
    assert failed(poor, opp(monthly_rent_cents=30_000)) == {"affordability"}
    assert failed(poor, opp(monthly_rent_cents=20_000)) == set()
    helped = CityRules(planned_contribution_cents=10_000)
    assert failed(poor, opp(monthly_rent_cents=30_000), helped) == set()
    detail = {c.rule: c.detail for c in rules.checks(poor, opp(), helped, TODAY)}["affordability"]
    assert "300.00 EUR" in detail and "300.00 EUR" in detail.split("affordable")[1]


def test_rules_are_per_city_data() -> None:
    lenient = CityRules(hard_rules=("affordability",))
    assert lenient.hard_rules == ("city", "capacity", "affordability")  # city and capacity always apply
    assert failed(hh(accessibility_needs=True), opp(), lenient) == set()
    with pytest.raises(ValidationError, match="unknown rule"):
        CityRules(hard_rules=("city", "pets"))
    with pytest.raises(ValidationError):
        CityRules(rent_share_of_income=1.5)


# ---------------------------------------------------------------- priority


def test_priority_components() -> None:
    plain = hh(housing_situation=None)
    assert priority.breakdown(plain, RULES, TODAY) == {
        "base": 1.0,
        "vulnerability": 0.0,
        "situation": 0.0,
        "waiting": round(0.5 * (TODAY - date(2026, 6, 1)).days / 30, 6),
        "urgency": 0.0,
        "minors": 0.0,
    }
    urgent = hh(eviction_date=TODAY, members=(ADULT_F, CHILD), vulnerabilities=("psychiatric",))
    parts = priority.breakdown(urgent, RULES, TODAY)
    assert parts["urgency"] == 6.0 and parts["minors"] == 1.0 and parts["vulnerability"] == 2.0
    assert priority.breakdown(hh(eviction_date=TODAY + timedelta(days=45)), RULES, TODAY)["urgency"] == 3.0
    assert priority.breakdown(hh(eviction_date=TODAY + timedelta(days=200)), RULES, TODAY)["urgency"] == 0.0
    assert priority.breakdown(hh(housing_situation="homeless"), RULES, TODAY)["situation"] == 4.0


def test_ties_are_broken_by_eviction_then_waiting_then_id() -> None:
    a = hh("a", waiting_since=date(2026, 1, 1), eviction_date=None)
    b = hh("b", waiting_since=date(2026, 1, 1), eviction_date=None)
    ordered = sorted([b, a], key=lambda h: priority.rank_key(h, RULES, TODAY))
    assert [h.household_id for h in ordered] == ["a", "b"]
    # Equal weights for one opportunity: the household that ranks first gets it, whatever the input order.
    for order in ([a, b], [b, a]):
        [p] = matching.assign(order, [opp()], RULES, TODAY).proposals
        assert p.household_id == "a"


def test_fit_prefers_full_use_and_a_shared_language() -> None:
    h = hh()
    assert priority.fit(h, opp(capacity=1), RULES) == 1.0
    assert priority.fit(h, opp(capacity=2), RULES) == 0.75
    assert priority.fit(h, opp(capacity=1, languages=frozenset({"en"})), RULES) == 1.1


# ---------------------------------------------------------------- assignment


def test_optimal_beats_first_come_greedy() -> None:
    """The first-come household takes the only room the urgent family could use: the city-wide optimum
    gives it the other one."""
    early = hh("early", waiting_since=date(2025, 1, 1), housing_situation=None)
    family = hh("family", members=(ADULT_F, CHILD), eviction_date=TODAY)
    big, small = opp("big", capacity=2), opp("small", capacity=1)
    best = matching.assign([early, family], [big, small], RULES, TODAY)
    assert {(p.household_id, p.opportunity_id) for p in best.proposals} == {("family", "big"), ("early", "small")}
    greedy = matching.greedy_first_come([early, family], [big, small], RULES, TODAY)
    assert best.total_weight >= greedy.total_weight


def test_excluded_pairs_are_never_proposed_and_unmatched_get_counts() -> None:
    a = hh("a")
    result = matching.assign([a], [opp("o1")], RULES, TODAY, excluded=frozenset({("a", "o1")}))
    assert result.proposals == []
    [u] = result.unmatched
    assert (u.compatible, u.declined_before, u.failing) == (1, 1, {})
    result = matching.assign([hh("big", members=(ADULT_F,) * 3)], [opp()], RULES, TODAY)
    assert result.unmatched[0].failing == {"capacity": 1, "bedrooms": 1}


def test_why_unmatched_names_rules_and_competition() -> None:
    big = hh("big", members=(ADULT_F,) * 3)
    reasons = explain.why_unmatched(big, [opp("o1"), opp("o2", capacity=3)], RULES, TODAY)
    codes = [r.code for r in reasons]
    assert codes[0] == "no_compatible_opportunity"
    assert "bedrooms" in codes and "capacity" in codes
    reasons = explain.why_unmatched(hh(), [opp("o1")], RULES, TODAY, held_by={"o1": "other"})
    assert [r.code for r in reasons] == ["taken_by_others"]
    assert explain.why_unmatched(hh(), [], RULES, TODAY)[0].code == "no_open_opportunities"


# ---------------------------------------------------------------- properties

members = st.builds(
    Member,
    person_id=st.just("p"),
    birth_date=st.dates(date(1950, 1, 1), TODAY),
    sex=st.sampled_from(["female", "male", "other"]),
    languages=st.lists(st.sampled_from(["en", "fr", "ar"]), max_size=2).map(tuple),
)
households = st.builds(
    Household,
    household_id=st.just(""),
    case_id=st.just("c"),
    city=st.sampled_from(["torino", "trieste"]),
    partner=st.just("coop"),
    members=st.lists(members, min_size=1, max_size=5).map(tuple),
    waiting_since=st.dates(date(2024, 1, 1), TODAY),
    monthly_income_cents=st.sampled_from([0, 30_000, 80_000, 150_000]),
    accessibility_needs=st.booleans(),
    specialist_support=st.booleans(),
    eviction_date=st.none() | st.dates(TODAY - timedelta(days=10), TODAY + timedelta(days=120)),
    vulnerabilities=st.lists(st.sampled_from(["psychiatric", "elderly", "addiction"]), max_size=3, unique=True).map(
        tuple
    ),
    housing_situation=st.sampled_from([None, "homeless", "precarious"]),
)
opportunities = st.builds(
    Opportunity,
    opportunity_id=st.just(""),
    city=st.sampled_from(["torino", "trieste"]),
    partner=st.just("coop"),
    kind=st.sampled_from(list(HousingKind)),
    capacity=st.integers(1, 5),
    bedrooms=st.integers(0, 3),
    accessible=st.booleans(),
    monthly_rent_cents=st.sampled_from([0, 20_000, 40_000, 60_000]),
    available_from=st.dates(TODAY - timedelta(days=30), TODAY + timedelta(days=90)),
    available_until=st.none() | st.dates(TODAY - timedelta(days=5), TODAY + timedelta(days=300)),
    support_level=st.sampled_from(list(SupportLevel)),
    restrictions=st.sets(st.sampled_from(RESTRICTIONS), max_size=2).map(frozenset),
    languages=st.sets(st.sampled_from(["en", "fr", "ar"]), max_size=2).map(frozenset),
)
city_rules = st.builds(
    CityRules,
    hard_rules=st.sets(st.sampled_from(rules.ALL_RULES)).map(tuple),
    planned_contribution_cents=st.sampled_from([0, 15_000]),
    rent_share_of_income=st.sampled_from([0.3, 0.5]),
)


def _ids(hs: list[Household], os: list[Opportunity]) -> tuple[list[Household], list[Opportunity]]:
    from dataclasses import replace

    return (
        [replace(h, household_id=f"h{i}") for i, h in enumerate(hs)],
        [replace(o, opportunity_id=f"o{j}") for j, o in enumerate(os)],
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(households, max_size=8), st.lists(opportunities, max_size=8), city_rules)
def test_every_proposal_respects_every_hard_rule(hs: list[Household], os: list[Opportunity], city: CityRules) -> None:
    hs, os = _ids(hs, os)
    result = matching.assign(hs, os, city, TODAY)
    hmap, omap = {h.household_id: h for h in hs}, {o.opportunity_id: o for o in os}
    assert len({p.opportunity_id for p in result.proposals}) == len(result.proposals)  # one household each
    assert len({p.household_id for p in result.proposals}) == len(result.proposals)
    for p in result.proposals:
        h, o = hmap[p.household_id], omap[p.opportunity_id]
        assert all(c.passed for c in rules.checks(h, o, city, TODAY)), rules.checks(h, o, city, TODAY)
        assert p.weight == pytest.approx(priority.score(h, o, city, TODAY)[0], abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(households, max_size=8), st.lists(opportunities, max_size=8), city_rules)
def test_array_rules_agree_with_pair_rules(hs: list[Household], os: list[Opportunity], city: CityRules) -> None:
    hs, os = _ids(hs, os)
    masks = matching.rule_masks(hs, os, city, TODAY)
    ok = matching.compatibility(hs, os, city, TODAY)  # computed on the distinct kinds, then spread
    failing = matching.failing_counts(hs, os, city, TODAY)
    for i, h in enumerate(hs):
        for j, o in enumerate(os):
            checks = {c.rule: c.passed for c in rules.checks(h, o, city, TODAY)}
            assert checks == {name: bool(m[i, j]) for name, m in masks.items()}
            assert bool(ok[i, j]) == all(checks.values())
        for name, m in masks.items():
            assert failing[name][i] == len(os) - m[i].sum()


def brute_force(hs: list[Household], os: list[Opportunity], city: CityRules) -> float:
    """The best total over every way to give each opportunity at most one household (compatible pairs only)."""
    weight = {
        (i, j): priority.score(h, o, city, TODAY)[0]
        for i, h in enumerate(hs)
        for j, o in enumerate(os)
        if rules.compatible(h, o, city, TODAY)
    }
    best = 0.0
    for k in range(min(len(hs), len(os)) + 1):
        for rows in itertools.combinations(range(len(hs)), k):
            for cols in itertools.permutations(range(len(os)), k):
                pairs = list(zip(rows, cols, strict=True))
                if all(p in weight for p in pairs):
                    best = max(best, sum(weight[p] for p in pairs))
    return best


@settings(max_examples=120, deadline=None)
@given(st.lists(households, max_size=5), st.lists(opportunities, max_size=4), city_rules)
def test_assignment_equals_brute_force_optimum(hs: list[Household], os: list[Opportunity], city: CityRules) -> None:
    hs, os = _ids(hs, os)
    assert matching.assign(hs, os, city, TODAY).total_weight == pytest.approx(brute_force(hs, os, city), abs=1e-5)


def scipy_optimum(hs: list[Household], os: list[Opportunity], city: CityRules) -> int:
    """An independent exact solver on the full pair graph (scipy's sparse LAPJVsp) with every pair's weight from
    `priority.score`, in integer units of 1e-6 (every cost is an integer below 2**53: the float sums are exact)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    pairs = {
        (i, j): round(priority.score(h, o, city, TODAY)[0] * 1e6)
        for i, h in enumerate(hs)
        for j, o in enumerate(os)
        if rules.compatible(h, o, city, TODAY)
    }
    if not pairs:
        return 0
    n, m = len(hs), len(os)
    big = max(pairs.values()) + 1
    rows = [i for i, _ in pairs] + list(range(n))
    cols = [j for _, j in pairs] + [m + i for i in range(n)]  # column m + i: household i stays unmatched
    cost = [float(big - u) for u in pairs.values()] + [float(big)] * n
    matched = min_weight_full_bipartite_matching(csr_matrix((cost, (rows, cols)), shape=(n, m + n)))
    return sum(pairs[i, j] for i, j in zip(*matched, strict=True) if j < m)


def units(result: matching.Assignment) -> int:
    return sum(round(p.weight * 1e6) for p in result.proposals)


@pytest.fixture(params=[0, 3, 1], ids=["full rank bonus", "3 rank buckets", "no rank bonus"])
def cost_limit(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The solver with room for one bonus step per rank, or (bigger cities and weights) for a few rank buckets
    only, or none: the optimum must not depend on it."""
    cap: int = request.param
    real = solver.rank_buckets
    monkeypatch.setattr(solver, "rank_buckets", lambda *a: min(real(*a), cap) if cap else real(*a))
    return cap


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(households, max_size=40), st.lists(opportunities, max_size=30), city_rules)
def test_min_cost_flow_equals_an_independent_solver(
    cost_limit: int, hs: list[Household], os: list[Opportunity], city: CityRules
) -> None:
    hs, os = _ids(hs, os)
    result = matching.assign(hs, os, city, TODAY)
    assert units(result) == scipy_optimum(hs, os, city)


@functools.cache
def _random_city(seed: int) -> tuple[list[Household], list[Opportunity], int]:
    """A bigger random city (a few hundred pairs per household) than hypothesis draws, and its optimum by the
    independent solver: the same for every `cost_limit`, so worked out once."""
    rng = random.Random(seed)
    hs = [
        hh(
            f"h{i:03d}",
            members=tuple(rng.choice([ADULT_F, ADULT_M, CHILD]) for _ in range(rng.randint(1, 4))),
            waiting_since=TODAY - timedelta(days=rng.randint(0, 700)),
            monthly_income_cents=rng.choice([0, 50_000, 120_000]),
            vulnerabilities=tuple(rng.sample(["psychiatric", "elderly", "addiction"], rng.randint(0, 2))),
            housing_situation=rng.choice([None, "homeless", "precarious"]),
            accessibility_needs=rng.random() < 0.1,
        )
        for i in range(200)
    ]
    os = [
        opp(
            f"o{j:03d}",
            capacity=rng.randint(1, 5),
            bedrooms=rng.randint(0, 3),
            accessible=rng.random() < 0.3,
            monthly_rent_cents=rng.choice([0, 20_000, 40_000]),
            languages=frozenset(rng.sample(["en", "fr", "ar"], rng.randint(0, 2))),
        )
        for j in range(100)
    ]
    return hs, os, scipy_optimum(hs, os, RULES)


def test_random_cities_match_the_independent_solver(cost_limit: int) -> None:
    for seed in range(3):
        hs, os, optimum = _random_city(seed)
        assert units(matching.assign(list(hs), list(os), RULES, TODAY)) == optimum  # copies: the cache keeps its own


def test_interchangeable_households_are_served_in_rank_order(cost_limit: int) -> None:
    """Same needs, same priority: the places go to the better-ranked (here: earlier id), whatever bonus fits."""
    twins = [hh(f"h{i}") for i in (5, 3, 9, 1, 7)]
    result = matching.assign(twins, [opp("o1"), opp("o2")], RULES, TODAY)
    assert sorted(p.household_id for p in result.proposals) == ["h1", "h3"]


def test_minors_without_birth_dates_come_from_intakes_word() -> None:
    """Since person_registered v3 the birth date is sealed: intake says who is a minor instead."""
    sealed_child = Member("k2", None, "male", minor=True)
    sealed_adult = Member("a2", None, "female", minor=False)
    h = Household("h", "c", "torino", "p", (sealed_adult, sealed_child, CHILD), waiting_since=date(2026, 1, 1))
    assert h.minors(date(2026, 6, 1)) == 2
    assert Member("u", None, "female").is_minor(date(2026, 6, 1)) is False


def test_a_check_looks_from_a_past_day_or_today_never_beyond_the_skew_tolerance() -> None:
    today = date(2026, 3, 10)
    assert check_day(None, today) == today
    assert check_day(date(2026, 1, 1), today) == date(2026, 1, 1)
    assert check_day(today + CLOCK_SKEW_TOLERANCE, today) == date(2026, 3, 11)
    with pytest.raises(ContractError) as refused:
        check_day(date(2027, 1, 10), today)
    assert refused.value.field == "on" and "future" in refused.value.reason


def test_a_workflow_step_happened_after_the_previous_one_and_not_in_the_future() -> None:
    """From an outside test: an acceptance dated 2030-01-01 was taken, and the match could then not be placed before
    2030 (a placement may not predate its acceptance)."""
    today, proposed = date(2026, 12, 3), date(2026, 11, 20)
    assert step_day(today, proposed, today, "on") == today
    assert step_day(today + CLOCK_SKEW_TOLERANCE, proposed, today, "on") == date(2026, 12, 4)
    with pytest.raises(ContractError) as refused:
        step_day(date(2030, 1, 1), proposed, today, "on")
    assert refused.value.field == "on" and "future" in refused.value.reason
    with pytest.raises(ContractError) as refused:
        step_day(date(2026, 11, 1), proposed, today, "started_on")
    assert refused.value.field == "started_on" and "before 2026-11-20" in refused.value.reason


def test_an_income_beyond_any_rent_is_affordable_everywhere_and_still_matches() -> None:
    """Income is integer cents without an upper bound in the contract: the matching's 64-bit columns saturate
    instead of overflowing (an OverflowError here failed every re-matching of the city)."""
    rich = hh(monthly_income_cents=10**30)
    assert rules.affordable_rent_cents(rich, RULES) == 2**63 - 1
    [p] = matching.assign([rich], [opp(monthly_rent_cents=2**63 - 1)], RULES, TODAY).proposals
    assert p.household_id == "h1"


def test_a_placement_starts_while_the_opportunity_is_available() -> None:
    """From an outside test: a placement was started before the opportunity's `available_from` (and could be after its
    `available_until`). The day must also be a valid step (after the acceptance, not in the future)."""
    today, accepted = date(2026, 12, 3), date(2026, 11, 20)
    assert placement_start(today, accepted, date(2026, 12, 1), None, today) == today
    assert placement_start(today, accepted, today, today + timedelta(days=1), today) == today
    with pytest.raises(ContractError) as refused:
        placement_start(today, accepted, date(2026, 12, 20), None, today)
    assert refused.value.field == "started_on"
    assert "before the opportunity is available (from 2026-12-20)" in refused.value.reason
    with pytest.raises(ContractError) as refused:
        placement_start(today, accepted, date(2026, 1, 1), today, today)
    assert refused.value.field == "started_on"
    assert "the opportunity is available only until 2026-12-03" in refused.value.reason
    with pytest.raises(ContractError) as refused:  # the step rules still hold
        placement_start(date(2026, 11, 1), accepted, date(2026, 1, 1), None, today)
    assert "before 2026-11-20" in refused.value.reason


def test_a_leases_terms_lie_within_the_placement_and_the_opportunitys_availability() -> None:
    """From an outside review: a lease's `start_date` was checked against nothing (a lease starting in 1990 on a
    placement started today was signed). Its start is not before the placement's, nor more than a year after it is
    signed; its terms end by the opportunity's `available_until`."""
    today, started = date(2026, 12, 3), date(2026, 12, 1)
    assert lease_terms(started, None, today, started, None) == (started, None)
    until = date(2027, 6, 1)
    assert lease_terms(today, until, today, started, until) == (today, until)
    cases = [
        ((date(1990, 1, 1), None, today, started, None), "start_date", "before the placement started (2026-12-01)"),
        ((date(2028, 1, 1), None, today, started, None), "start_date", "more than a year after it is signed"),
        ((until, None, today, started, until), "start_date", "available only until 2027-06-01"),
        ((today, None, today, started, until), "end_date", "available only until 2027-06-01"),
        ((today, date(2027, 6, 2), today, started, until), "end_date", "available only until 2027-06-01"),
    ]
    for args, field, reason in cases:
        with pytest.raises(ContractError) as refused:
            lease_terms(*args)
        assert (refused.value.field, reason in refused.value.reason) == (field, True), (args, refused.value.reason)


def test_a_lease_rent_is_at_most_the_opportunitys() -> None:
    from lgnet_housing.domain.lease import lease_rent
    from lgnet_shared.errors import ContractError

    assert lease_rent(30_000, 30_000, "o-1") == 30_000 and lease_rent(25_000, 30_000, "o-1") == 25_000
    with pytest.raises(ContractError) as refused:
        lease_rent(30_001, 30_000, "o-1")
    assert refused.value.field == "monthly_rent_cents" and "300.01 EUR" in refused.value.reason
    assert "PATCH /opportunities/o-1" in refused.value.reason


def test_only_the_staff_raise_the_rent_a_household_accepted() -> None:
    from lgnet_housing.domain.lease import rent_raise
    from lgnet_shared.errors import Forbidden

    status: str | None
    for status in ("accepted", "placed"):
        with pytest.raises(Forbidden) as refused:
            rent_raise(45_000, 30_000, status, by_staff=False)
        assert refused.value.field == "monthly_rent_cents" and "300.00 EUR" in refused.value.reason
        rent_raise(45_000, 30_000, status, by_staff=True)  # the coordinator agrees it
        rent_raise(25_000, 30_000, status, by_staff=False)  # lowered: the provider's own
    for status in (None, "proposed"):
        rent_raise(45_000, 30_000, status, by_staff=False)  # nobody said yes yet (a proposal is re-checked)


def test_a_raise_above_what_the_committed_household_affords_needs_the_staffs_confirmation() -> None:
    from lgnet_housing.domain.lease import raise_within_means
    from lgnet_shared.errors import Conflict

    city = CityRules(rent_share_of_income=0.4, planned_contribution_cents=5_000)  # 400.00 + 50.00 EUR for 1,000.00
    status: str | None
    for status in ("accepted", "placed"):
        with pytest.raises(Conflict) as refused:
            raise_within_means(45_001, 30_000, status, hh(), city, confirmed=False)
        assert refused.value.field == "monthly_rent_cents" and "450.00 EUR" in refused.value.reason
        raise_within_means(45_000, 30_000, status, hh(), city, confirmed=False)  # within its means
        raise_within_means(90_000, 30_000, status, hh(), city, confirmed=True)  # the staff confirm it
        raise_within_means(29_000, 30_000, status, hh(), city, confirmed=False)  # lowered
    for status in (None, "proposed"):  # nobody said yes yet: a proposal is re-checked instead
        raise_within_means(90_000, 30_000, status, hh(), city, confirmed=False)
