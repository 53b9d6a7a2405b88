"""The order a report's numbers are laid out in (exports). Pure.

A report is computed as a dict in the order its indicators are defined (persons first, then households ...); a
published report is stored as its canonical JSON, whose keys are sorted. Files are laid out from one order whatever
the dict's: the keys the report's own shape names come in its computed order (the shape is the report of the same
kind and method over no facts), then any other key (categories, cities, months) in sorted order. So the files of a
published report read back from its stored body are byte-identical to those it gave when computed.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from lgnet_reporting.domain import national
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.domain.projection import TABLES

_SHAPE_DAY = date(2000, 1, 31)  # any day: the shape of a report does not depend on it (a period of one month)


@cache
def shape(report: str, method: int) -> dict[str, Any]:
    """The report of this kind and method over no facts: every key it always has, in its computed order."""
    facts: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES.values()}
    window = Window(_SHAPE_DAY, date(2000, 1, 1), method)
    if report == national.NATIONAL:  # a city's row: its measures in the report's order (persons, minors, adults ...)
        return {**national.national(facts, window, 1), "by_city": {"": dict.fromkeys(national.BY_CITY_FIELDS, 0)}}
    return national.city_summary(facts, window, "shape")


def in_report_order(report: dict[str, Any]) -> dict[str, Any]:
    """The same report, its keys in the report's computed order (see the module's docstring)."""
    known = report.get("report") in national.REPORTS
    ordered: dict[str, Any] = _ordered(report, shape(report["report"], report.get("method", 1)) if known else None)
    return ordered


def _ordered(value: Any, template: Any) -> Any:
    if isinstance(value, dict):
        known = template if isinstance(template, dict) else {}
        # Entries of one table share a shape (a kind's record of measures): the first entry of the template's.
        alike = next((v for v in known.values() if isinstance(v, dict)), None)
        keys = [k for k in known if k in value] + sorted(k for k in value if k not in known)
        return {k: _ordered(value[k], known.get(k, alike)) for k in keys}
    if isinstance(value, list):
        item = template[0] if isinstance(template, list) and template else None  # months share one shape
        return [_ordered(v, item) for v in value]
    return value
