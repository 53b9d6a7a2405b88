"""The reports themselves: a city's summary (exact numbers, for that city's staff) and the national aggregate
across cities for the national coordination (small cells suppressed, no personal data). Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lgnet_reporting.domain.indicators import EMPLOYED, Facts, Row, Window, canonical_ids, report, summary
from lgnet_reporting.domain.suppression import Group, Path, Plan, suppress, table_group

CITY_SUMMARY = "city_summary"
NATIONAL = "national"
REPORTS = (CITY_SUMMARY, NATIONAL)
BY_CITY_FIELDS = ("persons", "minors", "adults", "age_unknown", "households", "cases_opened", "placements_started",
                  "paid_count", "paid_cents")  # fmt: skip
# Tables of persons by a category: their cells are tied to the persons total.
PERSON_TABLES = ("persons_by_action_area", "persons_by_channel", "persons_by_vulnerability",
                 "persons_by_nationality", "persons_by_sex", "persons_by_referral_source")  # fmt: skip


def city_summary(facts: Facts, window: Window, city: str) -> dict[str, Any]:
    return report(CITY_SUMMARY, city, window, summary(of_city(facts, city), window, city))


def cities_of(facts: Facts) -> list[str]:
    return sorted({c["city"] for c in facts["cases"] if c["city"]})


def of_city(facts: Facts, city: str) -> Facts:
    """The facts a city's summary can use (cutting the national facts once per city keeps the national report
    linear in the log): rows of its cases, households and persons; merges and budget lines stay whole."""
    cases = [c for c in facts["cases"] if c["city"] == city]
    case_ids = {c["case_id"] for c in cases}
    households = {c["household_id"] for c in cases}
    canon = canonical_ids(facts["person_merges"])
    memberships = [m for m in facts["memberships"] if m["household_id"] in households]
    people = {canon.get(m["person_id"], m["person_id"]) for m in memberships}
    people |= {canon.get(p["person_id"], p["person_id"]) for p in facts["persons"] if p["household_id"] in households}
    vouchers = [v for v in facts["vouchers"] if v["city"] == city]
    voucher_ids = {v["voucher_id"] for v in vouchers}

    def mine(table: str, test: Callable[[Row], bool]) -> list[Row]:
        return [r for r in facts[table] if test(r)]

    return {
        **facts,
        "cases": cases,
        "memberships": memberships,
        "households": mine("households", lambda r: r["household_id"] in households),
        "persons": mine("persons", lambda r: canon.get(r["person_id"], r["person_id"]) in people),
        "employment": mine("employment", lambda r: canon.get(r["person_id"], r["person_id"]) in people),
        "referrals": mine("referrals", lambda r: r["household_id"] in households),
        "assessments": mine("assessments", lambda r: r["case_id"] in case_ids),
        "placements": mine("placements", lambda r: r["city"] == city),
        "leases": mine("leases", lambda r: r["city"] == city),
        "contributions": mine("contributions", lambda r: r["city"] == city),
        "vouchers": vouchers,
        "voucher_redemptions": mine("voucher_redemptions", lambda r: r["voucher_id"] in voucher_ids),
    }


def _row(ind: dict[str, Any]) -> dict[str, int]:
    p = ind["persons"]
    return {
        "persons": p["total"],
        "minors": p["minors"],
        "adults": p["adults"],
        "age_unknown": p["age_unknown"],
        "households": ind["households"]["total"],
        "cases_opened": ind["cases"]["opened"],
        "placements_started": ind["placements"]["started"],
        "paid_count": ind["contributions_paid"]["count"],
        "paid_cents": ind["contributions_paid"]["amount_cents"],
    }


def national(facts: Facts, window: Window, threshold: int) -> dict[str, Any]:
    """Every city together, with a row per city; cells under `threshold` are hidden, also by difference."""
    indicators = summary(facts, window, None)
    by_city = {city: _row(summary(of_city(facts, city), window, city)) for city in cities_of(facts)}
    doc = report(NATIONAL, NATIONAL, window, indicators, by_city=by_city)
    hidden, count = suppress(doc, plan_for(doc), threshold)
    hidden["suppression"] = {"threshold": threshold, "hidden_cells": count}
    return hidden


def plan_for(doc: dict[str, Any]) -> Plan:
    """Which cells are counts, which groups tie them together, which amounts follow their counts."""
    ind = doc["indicators"]
    i: Path = ("indicators",)
    plan = Plan()

    def counts(*paths: Path) -> None:
        plan.counts.extend(paths)

    def table(name: str, total: Path, leaf: str | None = None) -> None:
        keys = list(ind[name])
        counts(*[(*i, name, k, leaf) if leaf else (*i, name, k) for k in keys])
        if keys:
            plan.groups.append(table_group((*i, name), keys, total, leaf))

    persons_total = (*i, "persons", "total")
    ages = ("minors", "adults", "age_unknown")
    counts(persons_total, *[(*i, "persons", k) for k in ages], (*i, "third_country_nationals"))
    plan.groups.append(Group([(*i, "persons", k) for k in ages], persons_total))
    shapes = ("single_person", "multi_person", "no_known_member")
    counts(*[(*i, "households", k) for k in ("total", *shapes)])
    plan.groups.append(Group([(*i, "households", k) for k in shapes], (*i, "households", "total")))
    for name in PERSON_TABLES:
        table(name, persons_total)
    counts(*[(*i, "cases", k) for k in ("opened", "closed", "open_at_as_of")])
    table("case_outcomes", (*i, "cases", "closed"))
    counts(*[(*i, "placements", k) for k in ("started", "ended", "active_at_as_of")])
    table("placements_by_kind", (*i, "placements", "started"))
    table("placements_ended_by_reason", (*i, "placements", "ended"))
    counts(*[(*i, "leases_by_type", k) for k in ind["leases_by_type"]])
    counts((*i, "days_to_placement", "placements"))
    plan.links.append(((*i, "days_to_placement", "placements"), (*i, "days_to_placement", "median")))
    paid: Path = (*i, "contributions_paid")
    counts((*paid, "count"), (*i, "contribution_payments_failed"), (*i, "vouchers_expired", "count"))
    plan.links.append(((*i, "vouchers_expired", "count"), (*i, "vouchers_expired", "remaining_cents")))
    for name, total in (("contributions_paid_by_kind", paid), ("contributions_paid_by_budget_line", paid),
                        ("vouchers_issued_by_kind", None), ("vouchers_redeemed_by_kind", None)):  # fmt: skip
        keys = list(ind[name])
        counts(*[(*i, name, k, "count") for k in keys])
        plan.links += [((*i, name, k, "count"), (*i, name, k, "amount_cents")) for k in keys]
        if total is not None and keys:
            plan.groups.append(table_group((*i, name), keys, (*total, "count"), "count"))
            plan.groups.append(table_group((*i, name), keys, (*total, "amount_cents"), "amount_cents"))
    emp: Path = (*i, "employment")
    counts(*[(*emp, k) for k in ("persons_closed", "employed_at_opening", "employed_at_close")])
    for moment, total in (("at_opening", persons_total), ("at_close", (*emp, "persons_closed"))):
        keys = list(ind["employment"][moment])
        counts(*[(*emp, moment, k) for k in keys])
        if keys:
            plan.groups.append(table_group((*emp, moment), keys, total))
        employed = [k for k in keys if k in EMPLOYED]
        if employed:
            plan.groups.append(table_group((*emp, moment), employed, (*emp, f"employed_{moment}")))
    months = range(len(ind["monthly"]))
    for field, total in (("cases_opened", (*i, "cases", "opened")), ("new_persons", persons_total),
                         ("placements_started", (*i, "placements", "started"))):  # fmt: skip
        cells: list[Path] = [(*i, "monthly", m, field) for m in months]
        counts(*cells)
        if cells:
            plan.groups.append(Group(cells, total))
    national_total = {"persons": persons_total, "minors": (*i, "persons", "minors"),
                      "adults": (*i, "persons", "adults"), "age_unknown": (*i, "persons", "age_unknown"),
                      "households": (*i, "households", "total"), "cases_opened": (*i, "cases", "opened"),
                      "placements_started": (*i, "placements", "started"), "paid_count": (*paid, "count"),
                      "paid_cents": (*paid, "amount_cents")}  # fmt: skip
    cities = list(doc["by_city"])
    for field in BY_CITY_FIELDS:
        cells = [("by_city", c, field) for c in cities]
        if field != "paid_cents":
            counts(*cells)
        if cells:
            plan.groups.append(Group(cells, national_total[field]))
    for c in cities:
        plan.groups.append(Group([("by_city", c, k) for k in ages], ("by_city", c, "persons")))
        plan.links.append((("by_city", c, "paid_count"), ("by_city", c, "paid_cents")))
    return plan
