"""Drill-down: the pseudonymous ids and the facts behind one figure of a city's report (staff of the city only;
the national aggregate has none: it is suppressed and holds no ids). Pure, from the same facts and rules as the
report, so the list's length is the figure."""

from __future__ import annotations

from typing import Any

from lgnet_reporting.domain.indicators import Facts, Population, Window, paid_in
from lgnet_reporting.domain.national import not_reported

PERSON_TABLES = {"persons_by_action_area": "action_area", "persons_by_channel": "channel"}
# Figures of a service the city may not run on LgNet (national.SERVICE_FACTS): no data there, not zero items.
SERVICE_OF = {"placements.started": "housing_not_reported", "contributions_paid.count": "payments_not_reported"}
SUPPORTED = ("persons.total", "persons_with_individual_plan", "cases.opened", "cases.closed", "placements.started",
             "contributions_paid.count", *(f"{t}.<category>" for t in PERSON_TABLES))  # fmt: skip


class NoDrillDown(ValueError):
    pass


def behind(facts: Facts, window: Window, city: str, figure: str) -> dict[str, Any]:
    """{"figure", "count", "items": [{"person_id" | "case_id" | "placement_id" | "request_id", ...}]}: what a
    figure counts, each with the cases (and so the case_opened/closed events) it comes from."""
    cases = [
        c
        for c in facts["cases"]
        if c["city"] == city
        and c["opened_on"] is not None
        and c["opened_on"] <= window.as_of
        and (window.period_from is None or not window.closed(c["closed_on"]) or c["closed_on"] >= window.period_from)
    ]
    pop = Population(facts, cases, window)
    table, _, category = figure.partition(".")

    def persons(keep: Any) -> list[dict[str, Any]]:
        return [
            {"person_id": p, "cases": sorted({c["case_id"] for c in cs})}
            for p, cs in sorted(pop.cases_of.items())
            if keep(cs)
        ]

    if figure == "persons.total":
        items = persons(lambda cs: True)
    elif figure == "persons_with_individual_plan":
        planned = {pl["case_id"] for pl in facts["plans"] if window.closed(pl["agreed_on"])}
        items = persons(lambda cs: any(c["case_id"] in planned for c in cs))
    elif table in PERSON_TABLES and category:
        attr = PERSON_TABLES[table]
        items = persons(lambda cs: any(c[attr] == category for c in cs))
    elif figure in ("cases.opened", "cases.closed"):
        field = "opened_on" if figure == "cases.opened" else "closed_on"
        items = [{"case_id": c["case_id"], field: c[field].isoformat()} for c in cases if c[field] in window]
    elif figure == "placements.started":
        items = [
            {"placement_id": p["placement_id"], "case_id": p["case_id"], "started_on": p["started_on"].isoformat()}
            for p in facts["placements"]
            if p["city"] == city and p["started_on"] in window
        ]
    elif figure == "contributions_paid.count":
        items = [
            {"request_id": c["request_id"], "case_id": c["case_id"], "amount_cents": c["amount_cents"],
             "paid_on": c["paid_on"].isoformat()}
            for c in paid_in(facts, window, city)
        ]  # fmt: skip
    else:
        raise NoDrillDown(f"no drill-down for {figure!r} yet; supported: {', '.join(SUPPORTED)}")
    service = SERVICE_OF.get(figure)
    absent = service is not None and bool(not_reported(facts, window, [city], service))
    return {
        "figure": figure,
        "count": len(items),
        "items": sorted(items, key=lambda x: sorted(x.items())),
        "no_data": absent,  # the report reads "n.d." there: the city has no fact of that service by as_of
    }
