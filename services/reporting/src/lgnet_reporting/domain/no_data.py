"""Which empty cells of a report have no data, as opposed to being suppressed. Pure.

A median or a share over nobody (days to taking in charge when nobody was taken in charge) is undefined; a small
cell of the national aggregate is hidden. Both are `null` in the report document, and stay so: the document is
what the digest covers, published reports are stored as it, and the auditors' replay compares digests, so
changing the value would change the digest of every report with such a cell, old published ones included. Which
null is which is read off the document itself instead: a median or a share is computed over a count shown beside
it (OVER_A_COUNT); it has no data exactly when that count is zero. A city's report is exact (nothing in it is ever
hidden), and in the national aggregate such a cell is hidden only together with its count (suppression's links: a
hidden count is null, never zero), so every other null is a suppressed cell, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from lgnet_reporting.domain.suppression import Path

# Cells that are undefined when the count they are computed over is zero: (record, cell, its count). A record
# named with "*" is each item of that list (a month).
OVER_A_COUNT = (
    (("days_to_placement",), "median", "placements"),
    (("outreach",), "taken_in_charge_share", "first_contacts"),
    (("outreach",), "days_to_taking_in_charge_median", "taken_in_charge"),
    (("outreach_monthly", "*"), "days_to_taking_in_charge_median", "taken_in_charge"),
)


class NoData:
    """The value of a cell with no data, where exports lay a report out (never in the document itself)."""

    def __repr__(self) -> str:
        return "NO_DATA"


NO_DATA = NoData()


class NotReported(NamedTuple):
    """A service's cells, when the report names the cities of which it has no fact of that service (a city that runs
    no such service has no data there, not 0): a city's in the national aggregate's `by_city`, and the indicators'
    (and each month's) when no city of the report has such a fact (a city's own summary, or a national one)."""

    by_city: tuple[str, ...]
    indicators: tuple[Path, ...]
    monthly: str


# The document's key naming those cities -> the cells: payments (method 8), housing (method 9).
NOT_REPORTED: dict[str, NotReported] = {
    "payments_not_reported": NotReported(
        ("paid_count", "paid_cents"),
        (("contributions_paid", "count"), ("contributions_paid", "amount_cents"), ("contribution_payments_failed",),
         ("vouchers_expired", "count"), ("vouchers_expired", "remaining_cents"), ("money_tutoring", "sessions"),
         ("money_tutoring", "households_followed")),
        "paid_cents",
    ),
    "housing_not_reported": NotReported(
        ("placements_started",),
        (("placements", "started"), ("placements", "ended"), ("placements", "active_at_as_of"),
         ("days_to_placement", "placements"), ("days_to_placement", "median")),
        "placements_started",
    ),
}  # fmt: skip


def cells(report: dict[str, Any]) -> set[Path]:
    """The paths of the report's cells that have no data: computed over a count of zero, or a service's cells of a
    scope of which the report has no fact of that service (`payments_not_reported`, method 8;
    `housing_not_reported`, method 9: those cells are 0, not null)."""
    found = set().union(*(not_reported(report, key) for key in NOT_REPORTED))
    ind = report.get("indicators", {})
    for record, cell, count in OVER_A_COUNT:
        for path, values in _records(ind, record):
            if isinstance(values, dict) and cell in values and values[cell] is None and values.get(count) == 0:
                found.add(("indicators", *path, cell))
    return found


def paths(report: dict[str, Any]) -> list[str]:
    """The cells with no data as dotted paths (`indicators.outreach_monthly.0.days_to_taking_in_charge_median`),
    for a reader of the JSON (the dashboard)."""
    return sorted(".".join(str(step) for step in path) for path in cells(report))


def marked(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of the report in which every cell with no data is NO_DATA (suppressed cells stay None)."""
    empty = cells(report)

    def copy(value: Any, path: Path) -> Any:
        if path in empty:
            return NO_DATA
        if isinstance(value, dict):
            return {k: copy(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [copy(v, (*path, n)) for n, v in enumerate(value)]
        return value

    out: dict[str, Any] = copy(report, ())
    return out


def not_reported(report: dict[str, Any], key: str) -> set[Path]:
    """The cells of the service that the report's `key` (`payments_not_reported`, `housing_not_reported`) names
    cities of, as paths: those cities' by_city cells, and the indicators' when no city of the report has its facts."""
    absent = set(report.get(key) or ())
    if not absent:
        return set()
    cells = NOT_REPORTED[key]
    by_city = report.get("by_city")
    found: set[Path] = {("by_city", c, cell) for c in by_city or {} if c in absent for cell in cells.by_city}
    if by_city is None or set(by_city) <= absent:  # a city's own summary, or a national one with no city's facts
        ind = report.get("indicators", {})
        found |= {("indicators", *path) for path in cells.indicators if _has(ind, path)}
        found |= {("indicators", "monthly", n, cells.monthly) for n in range(len(ind.get("monthly") or ()))}
    return found


def _has(ind: dict[str, Any], path: Path) -> bool:
    value: Any = ind
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return True


def _records(ind: dict[str, Any], record: tuple[str, ...]) -> Iterator[tuple[Path, Any]]:
    name, *rest = record
    value = ind.get(name)
    if rest == ["*"]:
        for n, item in enumerate(value if isinstance(value, list) else []):
            yield (name, n), item
    else:
        yield (name,), value
