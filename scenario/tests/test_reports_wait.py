"""The scenario's wait for reporting: until each city's report counts at least what the scenario made, and what
another party's records add is said (a partner following docs/partners.md during the first `make up` made it fail,
"reporting for torino has 170 of 164 persons", and the scheduler and the desk never started)."""

from __future__ import annotations

from typing import Any

from lgnet_scenario.driver import CityTruth
from lgnet_scenario.reports import beyond, reached

TRUTH = CityTruth(persons=164, minors=61, households=52, single_persons=10, cases_opened=52, cases_closed=8,
                  placements=20, leases=18, contributions_paid_cents=1, vouchers_issued=0)  # fmt: skip


def report(persons: int, households: int = 52, closed: int = 8, placements: int = 20) -> dict[str, Any]:
    return {"persons": {"total": persons}, "households": {"total": households}, "cases": {"closed": closed},
            "placements": {"started": placements}}  # fmt: skip


def test_a_report_short_of_the_scenarios_records_is_waited_for() -> None:
    assert not reached(TRUTH, report(163))
    assert not reached(TRUTH, report(164, closed=7))
    assert reached(TRUTH, report(164)) and beyond(TRUTH, report(164)) == []


def test_another_partys_records_are_counted_and_said() -> None:
    assert reached(TRUTH, report(170, households=53))
    assert beyond(TRUTH, report(170, households=53)) == [
        "170 persons, the scenario's 164",
        "53 households, the scenario's 52",
    ]
