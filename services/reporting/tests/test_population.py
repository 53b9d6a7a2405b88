"""The population of a report (who its cases reached, their first case, household sizes) against a plain oracle:
the case-by-case, member-by-member loop the report used before its C-level fast paths. The bench's tables take the
fast path only (everyone a member from the household's start, one case per household); these facts mix dated
joins and departures, households with several cases, persons in several households, merges and registrations
naming a household no membership event names."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lgnet_reporting.domain.indicators import Population, Shared, Window, canonical_ids, reached

Row = dict[str, Any]
DAY0 = date(2026, 1, 1)
PERSONS = [f"p{n}" for n in range(8)]
HOUSEHOLDS = [f"h{n}" for n in range(4)]


def _oracle(facts: dict[str, list[Row]], cases: list[Row], window: Window) -> tuple[Any, Any, Any]:
    """first case, every case and household sizes, by the rule in indicators' docstring, one member at a time."""
    canon = canonical_ids(facts["person_merges"])
    events: dict[tuple[str, str], list[tuple[date, bool]]] = defaultdict(list)
    for m in facts["memberships"]:
        day = date.min if m["change"] == "formed" else m["on_date"]
        pid: str = m["person_id"]
        events[(m["household_id"], canon.get(pid, pid))].append((day, m["change"] == "left"))
    for p in facts["persons"]:
        pid = p["person_id"]
        pair = (p["household_id"], canon.get(pid, pid))
        if p["household_id"] and pair not in events:
            events[pair].append((date.min, False))
    spans: dict[str, dict[str, list[tuple[date, date | None]]]] = defaultdict(dict)
    for (household, person), evs in events.items():
        out: list[tuple[date, date | None]] = []
        start: date | None = None
        for day, left in sorted(evs):
            if not left and start is None:
                start = day
            elif left and start is not None:
                out.append((start, day))
                start = None
        if start is not None:
            out.append((start, None))
        spans[household][person] = out
    first: dict[str, str] = {}
    every: dict[str, list[str]] = defaultdict(list)
    members: dict[str, set[str]] = defaultdict(set)
    for case in sorted(cases, key=itemgetter("opened_on", "case_id")):
        opened, closed = case["opened_on"], case["closed_on"]
        end = closed if closed is not None and closed <= window.as_of else window.as_of
        members[case["household_id"]] |= set()
        for person, dated in spans.get(case["household_id"], {}).items():
            if any(start <= end and (stop is None or stop >= opened) for start, stop in dated):
                first.setdefault(person, case["case_id"])
                every[person].append(case["case_id"])
                members[case["household_id"]].add(person)
    return first, dict(every), {h: len(ms) for h, ms in members.items()}


def _after(day: date, days: int) -> date:
    return day + timedelta(days=days)


_day = st.integers(0, 200).map(lambda n: DAY0 + timedelta(days=n))
# Strategies built once, not inside every draw (where building them cost more than the test).
_person, _household = st.sampled_from(PERSONS), st.sampled_from(HOUSEHOLDS)
_change = st.sampled_from(["formed", "formed", "joined", "left"])
_home = st.sampled_from([None, "", *HOUSEHOLDS])
_merge = st.tuples(st.integers(0, 6), st.integers(1, 7))
_open_for = st.one_of(st.none(), st.integers(0, 120))  # days, or still open


@st.composite
def _facts(draw: Any) -> tuple[dict[str, list[Row]], Window]:
    memberships = [
        {"event_id": f"e{n}", "person_id": draw(_person), "household_id": draw(_household),
         "change": draw(_change), "on_date": draw(_day)}
        for n in range(draw(st.integers(0, 14)))
    ]  # fmt: skip
    persons = [{"person_id": p, "household_id": draw(_home)} for p in draw(st.lists(_person, max_size=10))]
    merges = [
        {"merged_person_id": PERSONS[a], "surviving_person_id": PERSONS[b]}
        for a, b in draw(st.lists(_merge, max_size=3))
        if a < b
    ]
    cases = []
    for n in range(draw(st.integers(0, 7))):
        opened, days = draw(_day), draw(_open_for)
        closed = None if days is None else _after(opened, days)
        cases.append({"case_id": f"c{n}", "household_id": draw(_household), "city": "torino",
                      "opened_on": opened, "closed_on": closed})  # fmt: skip
    window = Window(draw(_day), draw(st.one_of(st.none(), _day)))
    facts = {"memberships": memberships, "persons": persons, "person_merges": merges, "cases": cases,
             "member_ages": []}  # fmt: skip
    return facts, window


@settings(max_examples=400, deadline=None)
@given(_facts())
def test_the_population_is_the_member_by_member_one(drawn: tuple[dict[str, list[Row]], Window]) -> None:
    facts, window = drawn
    cases = [c for c in facts["cases"] if c["opened_on"] <= window.as_of]
    first, every, sizes = _oracle(facts, cases, window)
    for pop in (Population(facts, cases, window), Population(facts, cases, window, shared=Shared(facts))):
        assert {p: c["case_id"] for p, c in pop.first_case.items()} == first
        assert {p: [c["case_id"] for c in cs] for p, cs in pop.cases_of.items()} == every
        assert {p: [c["case_id"] for c in pop.cases_of_person(p)] for p in pop.first_case} == every
        assert set(pop.several) == {p for p, cs in every.items() if len(cs) > 1}
        assert pop.household_sizes == sizes


@settings(max_examples=200, deadline=None)
@given(_facts())
def test_the_age_groups_follow_the_first_cases(drawn: tuple[dict[str, list[Row]], Window]) -> None:
    facts, window = drawn
    facts["persons"] = [
        {**p, "birth_date": date(2008, 5, 10) if p["person_id"] < "p4" else None} for p in facts["persons"]
    ]
    r = reached(facts, window, None)
    assert len(r.group_list) == len(r.pop.first_case)
    assert sum(r.ages.values()) == len(r.pop.first_case)
    assert set(r.groups) == set(r.pop.first_case)
