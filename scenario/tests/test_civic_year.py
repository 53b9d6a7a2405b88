"""The scenario's civic year is pure and plausible: the same seed gives the same year; sessions lie within their
activity and in the past; certificates go only to who attended enough; the truth adds up."""

from __future__ import annotations

from datetime import date

from lgnet_scenario import civic_steps
from lgnet_scenario.population import DEFAULT_CITIES, population


def test_the_civic_year_is_deterministic_and_consistent() -> None:
    people = population(DEFAULT_CITIES, seed=2026)
    for plan in DEFAULT_CITIES:
        year = civic_steps.plan(plan.city, plan.partners, people[plan.city], 2026)
        again = civic_steps.plan(plan.city, plan.partners, people[plan.city], 2026)
        assert year.truth() == again.truth()
        adults = {p.person_id for h in people[plan.city] for p in h.members if not p.minor}
        for a in year.activities:
            for _, day, present, absent in a.sessions:
                assert a.starts_on <= day <= a.ends_on <= date(2026, 11, 30)
                assert set(present) <= adults and set(absent) <= adults and not set(present) & set(absent)
            for _, person, entry, reached in a.certificates:
                attended = sum(person in s[2] for s in a.sessions)
                assert attended * 100 >= a.min_percent * len(a.sessions)
                assert entry is not None and reached is not None
        total = year.truth()["total"]
        assert total["activities"] == 5 and 90 <= total["sessions"] <= 110
        assert 0 < total["cefr_improved"] <= total["completed"] < total["participants"]
