"""The reports themselves: a city's summary (exact numbers, for that city's staff) and the national aggregate
across cities for the national coordination (small cells suppressed, no personal data). Pure."""

from __future__ import annotations

from itertools import repeat
from typing import Any

from lgnet_shared.countries import is_third_country, is_valid_country

from lgnet_reporting.domain import civic
from lgnet_reporting.domain.indicators import (
    APPOINTMENTS_SUPPRESSED,
    AUDITED,
    CONTACTS_SUPPRESSED,
    DIFFERENCED,
    EMPLOYED,
    HOUSING_ABSENT,
    PARTIAL,
    Facts,
    Shared,
    Window,
    canonical_ids,
    city_rows,
    reached,
    report,
    summary,
)
from lgnet_reporting.domain.suppression import Group, Path, Plan, get, suppress, table_group

CITY_SUMMARY = "city_summary"
NATIONAL = "national"
REPORTS = (CITY_SUMMARY, NATIONAL)
BY_CITY_FIELDS = ("persons", "minors", "adults", "age_unknown", "households", "cases_opened", "placements_started",
                  "paid_count", "paid_cents")  # fmt: skip
# Tables of persons by a category: their cells are tied to the persons total.
PERSON_TABLES = ("persons_by_action_area", "persons_by_channel", "persons_by_vulnerability",
                 "persons_by_nationality", "persons_by_sex", "persons_by_referral_source")  # fmt: skip


def city_summary(facts: Facts, window: Window, city: str) -> dict[str, Any]:
    indicators = summary(of_city(facts, city), window, city)
    return report(CITY_SUMMARY, city, window, indicators, **_not_reported(facts, window, [city]))


# The facts by which a report knows that a city runs a service, on or before as_of: (table, its date column, the
# first method reading it). Payments: a budget line allocated, a contribution requested, a voucher issued (method 8),
# a money tutoring session recorded (method 9: tutoring asks for no budget line, so a payments service recording
# only tutoring read as none). Housing: an opportunity listed, a placement started, a lease signed (method 9).
SERVICE_FACTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "payments_not_reported": (("budget_facts", "on_date", PARTIAL), ("tutoring_sessions", "on_date", HOUSING_ABSENT)),
    "housing_not_reported": (
        ("opportunities", "listed_on", HOUSING_ABSENT),
        ("placements", "started_on", HOUSING_ABSENT),
        ("leases", "signed_on", HOUSING_ABSENT),
    ),
}
SINCE = {"payments_not_reported": PARTIAL, "housing_not_reported": HOUSING_ABSENT}


def _not_reported(facts: Facts, window: Window, cities: list[str]) -> dict[str, list[str]]:
    """The document's `payments_not_reported` (method 8) and `housing_not_reported` (method 9); none before: earlier
    reports replay as published."""
    return {key: not_reported(facts, window, cities, key) for key, since in SINCE.items() if window.method >= since}


def cities_of(facts: Facts) -> list[str]:
    return sorted({c["city"] for c in facts["cases"] if c["city"]})


def of_city(facts: Facts, city: str) -> Facts:
    """The facts a city's summary can use: rows of its cases, households, persons and money."""
    return split_by_city(facts, [city])[city]


def split_by_city(facts: Facts, cities: list[str]) -> dict[str, Facts]:
    """Every city's cut of the facts in one pass over them (keeps the national report linear in the log): the
    rows of its cases, their households and persons (merged persons stay with their survivor), its placements,
    leases, payments and vouchers. Merges and budget lines stay whole."""
    canon = canonical_ids(facts["person_merges"]).get  # a person's survivor (or `None`: herself)
    out: dict[str, Facts] = {c: {**facts, **{t: [] for t in _CUT}} for c in cities}
    by_household: dict[str, set[str]] = {}  # a household may have cases in two cities
    case_city: dict[str, str] = {}
    for c in facts["cases"]:
        if c["city"] in out:
            out[c["city"]]["cases"].append(c)
            by_household.setdefault(c["household_id"], set()).add(c["city"])
            case_city[c["case_id"]] = c["city"]
    # Each row's cities as a sorted tuple made once per household and per person (a row a city's, in the cities'
    # order): sorting a set per row was most of the cut's time.
    household_cities = {h: tuple(sorted(cs)) for h, cs in by_household.items()}
    by_person: dict[str, set[str]] = {}
    none: tuple[str, ...] = ()
    for m in facts["memberships"]:
        cities_of_row = household_cities.get(m["household_id"], none)
        for city in cities_of_row:
            out[city]["memberships"].append(m)
        if cities_of_row:
            pid = m["person_id"]
            by_person.setdefault(canon(pid) or pid, set()).update(cities_of_row)
    for p in facts["persons"]:
        if cities_of_row := household_cities.get(p["household_id"] or "", none):
            pid = p["person_id"]
            by_person.setdefault(canon(pid) or pid, set()).update(cities_of_row)
    person_cities = {pid: tuple(sorted(cs)) for pid, cs in by_person.items()}
    for table in ("persons", "employment", "consents"):
        for r in facts[table]:
            pid = r["person_id"]
            for city in person_cities.get(canon(pid) or pid, none):
                out[city][table].append(r)
    for table in ("households", "referrals"):
        for r in facts[table]:
            for city in household_cities.get(r["household_id"], none):
                out[city][table].append(r)
    for table in ("assessments", "person_vulnerabilities", "plans"):
        for r in facts[table]:
            if (case_in := case_city.get(r["case_id"])) is not None:
                out[case_in][table].append(r)
    voucher_city: dict[str, str] = {}
    for table in ("placements", "leases", "contributions", "vouchers"):
        for r in facts[table]:
            if r["city"] in out:
                out[r["city"]][table].append(r)
                if table == "vouchers":
                    voucher_city[r["voucher_id"]] = r["city"]
    for r in facts["voucher_redemptions"]:
        if (voucher_in := voucher_city.get(r["voucher_id"])) is not None:
            out[voucher_in]["voucher_redemptions"].append(r)
    return out


_CUT = ("cases", "memberships", "persons", "employment", "consents", "households", "referrals", "assessments",
        "person_vulnerabilities", "plans", "placements", "leases", "contributions", "vouchers",
        "voucher_redemptions")  # fmt: skip


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
    shared = Shared(facts)  # computed once for the national population and the sixteen cities' rows
    everyone = reached(facts, window, None, shared)
    indicators = summary(facts, window, None, shared, everyone)
    cities = cities_of(facts)
    by_city = city_rows(facts, window, cities, shared, everyone)
    doc = report(NATIONAL, NATIONAL, window, indicators, by_city=by_city, **_not_reported(facts, window, cities))
    plan = plan_for(doc)
    if window.method >= DIFFERENCED and threshold > 1:  # methods 1-12 replay as published
        plan.readers = readers(facts, window, doc, plan)
    hidden, count = suppress(doc, plan, threshold)
    hidden["suppression"] = {"threshold": threshold, "hidden_cells": count}
    return hidden


def readers(facts: Facts, window: Window, doc: dict[str, Any], plan: Plan) -> dict[str, dict[Path, int]]:
    """Method 12: what each city's staff know exactly of the national cells — their city's own report (partners
    too) — for every count of the indicators: the national cell less it is what the other cities have, which with
    two cities is the other city's own cell. Every city with a fact in the log (a city's staff may ask their report
    though it has no case yet); `by_city` rows are left to the groups over the cities (`Group.known`)."""
    named: set[Any] = set()
    for rows in facts.values():
        named.update(map(dict.get, rows, repeat("city")))
    cities = sorted(c for c in named if isinstance(c, str) and c)
    cut = split_by_city(facts, cities)
    # A city's payments and failures are those of its requests (what `standing` reads of them): cut too, else each
    # city's summary walked every city's.
    requests = facts["contributions"]
    city_of: dict[str, str] = {r["request_id"]: r["city"] for r in requests}
    for table in ("contribution_payments", "contribution_failures"):
        mine: dict[str, list[dict[str, Any]]] = {c: [] for c in cities}
        for r in facts[table]:
            if (kept := mine.get(city_of.get(r["request_id"], ""))) is not None:
                kept.append(r)
        for city in cities:
            cut[city][table] = mine[city]
    paths = [p for p in plan.counts if p[0] == "indicators"]
    out = {}
    for city in cities:
        own = {"indicators": summary(cut[city], window, city)}
        out[city] = {p: _own_cell(own, doc, p) for p in paths}
    return out


def _own_cell(own: dict[str, Any], doc: dict[str, Any], path: Path) -> int:
    """A city's cell at a national path: a month of a series is the city's entry of the same month, a category the
    city does not have is 0."""
    mine: Any = own
    ours: Any = doc
    for step in path:
        if isinstance(step, int):  # a month of a series: the city's series may start later, or skip months
            month = ours[step]["month"]
            mine = next((m for m in mine if m["month"] == month), None)
        else:
            mine = mine.get(step)
        ours = ours[step]
        if mine is None:
            return 0
    return int(mine)


def not_reported(facts: Facts, window: Window, cities: list[str], service: str) -> list[str]:
    """The cities of which the log has no fact of the service (`SERVICE_FACTS`) on or before as_of: cities that run
    no such service (their contributions paid, their households housed outside LgNet), or not yet. Their figures of
    it are not 0 but not reported."""
    reporting = {
        r["city"]
        for table, day, since in SERVICE_FACTS[service]
        if window.method >= since
        for r in facts[table]
        if r["city"] and window.closed(r[day])
    }
    return [c for c in cities if c not in reporting]


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
    if "money_tutoring" in ind:  # method 2
        tutored: Path = (*i, "money_tutoring")  # outcomes: one per session, so they add up to the sessions
        counts((*tutored, "sessions"), (*tutored, "households_followed"))
        outcomes = list(ind["money_tutoring"]["outcomes"])
        counts(*[(*tutored, "outcomes", k) for k in outcomes])
        if outcomes:
            plan.groups.append(table_group((*tutored, "outcomes"), outcomes, (*tutored, "sessions")))
    if "civic_engagement" in ind:  # method 3: participants, completions and volunteers are counts of persons
        counts(*[(*i, *path) for path in civic.person_cells(ind)])
        kinds = list(ind["civic_by_kind"])
        for cell in [(*i, "civic_engagement"), *((*i, "civic_by_kind", k) for k in kinds)]:
            plan.links.append(((*cell, "participants"), (*cell, "participation_minutes")))
        for n in range(len(ind["civic_monthly"])):
            plan.links.append(
                ((*i, "civic_monthly", n, "participants"), (*i, "civic_monthly", n, "participation_minutes"))
            )
        for f in ("completed", "cefr_improved"):  # each certificate counts in one kind: the kinds add up
            plan.groups.append(table_group((*i, "civic_by_kind"), kinds, (*i, "civic_engagement", f), f))
    if "outreach" in ind:  # method 3 (#19): people contacted are persons; their small cells are suppressed
        street: Path = (*i, "outreach")
        counts(*[(*street, k) for k in ("persons_contacted", "first_contacts", "taken_in_charge")])
        for dependent in ("taken_in_charge_share", "days_to_taking_in_charge_median"):
            plan.links.append(((*street, "taken_in_charge"), (*street, dependent)))
        for m in range(len(ind["outreach_monthly"])):
            month: Path = (*i, "outreach_monthly", m)
            counts(*[(*month, k) for k in ("persons_contacted", "first_contacts", "taken_in_charge")])
            plan.links.append(((*month, "taken_in_charge"), (*month, "days_to_taking_in_charge_median")))
    if "appointments" in ind and doc.get("method", 1) >= APPOINTMENTS_SUPPRESSED:  # each appointment is a person's;
        counts(*[(*i, "appointments", k) for k in ind["appointments"]])  # methods 3-9 showed them, replayed as such
    if "outreach" in ind and doc.get("method", 1) >= CONTACTS_SUPPRESSED:  # methods 3-10 showed them, replayed as such
        _contact_cells(doc, plan)
    consenting: Path = persons_total
    if "persons_with_individual_plan" in ind:
        counts((*i, "persons_with_individual_plan"))
    if "reporting_consent" in ind:  # method 2: consent-based indicators are tied to the consenting persons
        consent = [(*i, "reporting_consent", k) for k in ("granted", "not_granted")]
        counts(*consent)
        plan.groups.append(Group(consent, persons_total))
        consenting = consent[0]
    emp: Path = (*i, "employment")
    counts(*[(*emp, k) for k in ("persons_closed", "employed_at_opening", "employed_at_close")])
    for moment, total in (("at_opening", consenting), ("at_close", (*emp, "persons_closed"))):
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
        if cells:  # from method 7 each city knows its own cell (its own report: docs/reporting.md, Methods)
            plan.groups.append(Group(cells, national_total[field], known=doc.get("method", 1) >= AUDITED))
    for c in cities:
        plan.groups.append(Group([("by_city", c, k) for k in ages], ("by_city", c, "persons")))
        plan.links.append((("by_city", c, "paid_count"), ("by_city", c, "paid_cents")))
    if doc.get("method", 1) >= 4:  # groups method 3 left open (docs/reporting.md, Methods); older reports replay as
        _closed_groups(doc, plan)  # they were published
    if doc.get("method", 1) >= 5:
        _nationality_groups(doc, plan)
    if doc.get("method", 1) >= DIFFERENCED:  # sums methods 1-12 left open; reports published with them replay so
        _sums_of_method_12(doc, plan)
    return plan


def _adds_up(doc: dict[str, Any], parts: list[Path], total: Path) -> bool:
    """The parts add up to the total (or a cell is hidden already: the plan of a suppressed document)."""
    cells = [get(doc, p) for p in (*parts, total)]
    return None in cells or sum(cells[:-1]) == cells[-1]


def _sums_of_method_12(doc: dict[str, Any], plan: Plan) -> None:
    """Method 12 (the national coordination's reporting officer): cells methods 1-11 tied to nothing though a sum or
    a copy of them is shown.
    - Appointments: attended and no-shows are parts of the booked (those without an outcome yet are the rest, not
      shown): under method 11 February's 12 booked and 9 attended gave the hidden 3 no-shows back. A group, always:
      a reader of a past period takes the rest to be 0.
    - Days to placement's `placements` are the placements started whose case is known (all of them, normally): under
      method 11 they showed 51 beside a hidden `placements.started`. Hidden with it (a link), and tied to it when
      equal (a group of one part).
    - The months' people contacted and the civic participants by kind and by month add up to their totals when no
      one was met (or took part) in two months or kinds: a group then, as the months' contacts (method 11). The civic
      minutes by kind and by month always add up to the total minutes: a group (amounts, like the payments')."""
    ind = doc["indicators"]
    i: Path = ("indicators",)
    if "appointments" in ind:
        plan.groups.append(
            Group([(*i, "appointments", k) for k in ("attended", "no_show")], (*i, "appointments", "booked"))
        )
    started, waited = (*i, "placements", "started"), (*i, "days_to_placement", "placements")
    plan.links.append((started, waited))
    if _adds_up(doc, [waited], started):
        plan.groups.append(Group([waited], started))
    if "outreach" in ind:
        months = [(*i, "outreach_monthly", m, "persons_contacted") for m in range(len(ind["outreach_monthly"]))]
        total: Path = (*i, "outreach", "persons_contacted")
        if months and _adds_up(doc, months, total):
            plan.groups.append(Group(months, total))
    if "civic_engagement" in ind:
        civic_total: Path = (*i, "civic_engagement")
        kinds = [(*i, "civic_by_kind", k) for k in ind["civic_by_kind"]]
        civic_months = [(*i, "civic_monthly", m) for m in range(len(ind["civic_monthly"]))]
        for cells in (kinds, civic_months):
            if not cells:
                continue
            plan.groups.append(
                Group([(*c, "participation_minutes") for c in cells], (*civic_total, "participation_minutes"))
            )
            people = [(*c, "participants") for c in cells]
            if _adds_up(doc, people, (*civic_total, "participants")):
                plan.groups.append(Group(people, (*civic_total, "participants")))


def _contact_cells(doc: dict[str, Any], plan: Plan) -> None:
    """Method 11: each street contact is one person's, so a month of 1 contact told the reader that its hidden
    people contacted were 1. The contacts, each month's and those by service offered are small cells. The months'
    contacts add up to the contacts (when the window is within the ten years the months show): a group. The services
    do not: a contact may be offered several services, or none, so they are hidden each on its own, in no group."""
    ind = doc["indicators"]
    i: Path = ("indicators",)
    total: Path = (*i, "outreach", "contacts")
    months: list[Path] = [(*i, "outreach_monthly", m, "contacts") for m in range(len(ind["outreach_monthly"]))]
    plan.counts.extend(
        [total, *months, *((*i, "contacts_by_service_offered", k) for k in ind["contacts_by_service_offered"])]
    )
    cells = [get(doc, p) for p in (*months, total)]
    if months and (None in cells or sum(cells[:-1]) == cells[-1]):  # None: a cell hidden already (a suppressed doc)
        plan.groups.append(Group(months, total))


def _nationality_groups(doc: dict[str, Any], plan: Plan) -> None:
    """Method 5: the third-country nationals are the persons of a third country's nationality, and the others are
    the rest of the persons: under method 4 a hidden nationality came back as the third-country nationals less the
    visible third countries (or the persons less the third-country nationals less the visible others)."""
    i: Path = ("indicators",)
    table: Path = (*i, "persons_by_nationality")
    codes = list(doc["indicators"]["persons_by_nationality"])
    third = [c for c in codes if is_valid_country(c) and is_third_country(c)]
    third_total: Path = (*i, "third_country_nationals")
    if third:
        plan.groups.append(table_group(table, third, third_total))
    others = [(*table, c) for c in codes if c not in third]
    plan.groups.append(Group([*others, third_total], (*i, "persons", "total")))


def _closed_groups(doc: dict[str, Any], plan: Plan) -> None:
    """Method 4: sums a reader could still take a hidden cell from under method 3. The street units' months add up
    to their totals (first contacts and those taken in charge: a cohort per month of first contact), and the share
    taken in charge would give first contacts back from those taken in charge; without a period, the cases opened are
    the closed plus the open ones, the placements started the ended plus the active ones (from method 7 a period's
    too, when they add up); the months' payments add up to the amount paid. `doc`: the report before suppression."""
    ind = doc["indicators"]
    i: Path = ("indicators",)
    if "outreach" in ind:
        street: Path = (*i, "outreach")
        months = range(len(ind["outreach_monthly"]))
        for f in ("first_contacts", "taken_in_charge"):
            if months:
                plan.groups.append(Group([(*i, "outreach_monthly", m, f) for m in months], (*street, f)))
        plan.links.append(((*street, "first_contacts"), (*street, "taken_in_charge_share")))
    for table, parts, total in (("cases", ("closed", "open_at_as_of"), "opened"),
                                ("placements", ("ended", "active_at_as_of"), "started")):  # fmt: skip
        # Without a period they always add up. A period's add up when nothing was under way as it started (they
        # then differ by what was): a reader asking from the programme's start took a hidden cell back (method 7).
        cells = [ind[table][k] for k in (*parts, total)]
        adds_up = None in cells or sum(cells[:-1]) == cells[-1]  # a cell hidden already (a plan of a suppressed doc)
        if doc.get("period_from") is None or (doc.get("method", 1) >= AUDITED and adds_up):
            plan.groups.append(Group([(*i, table, k) for k in parts], (*i, table, total)))
    if ind["monthly"]:
        paid = [(*i, "monthly", m, "paid_cents") for m in range(len(ind["monthly"]))]
        plan.groups.append(Group(paid, (*i, "contributions_paid", "amount_cents")))
