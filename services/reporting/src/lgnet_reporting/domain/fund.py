"""The fund's indicators (AMIF Annex VIII, FAMI 2014-2020) read off a computed report through a mapping kept as
data (fund_indicators.json): each figure is the report's own number at a path, so it is suppressed where the
report is, reproduces with the report's digest and drills down like it. Pure."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from lgnet_shared import vocabulary

from lgnet_reporting.domain import labels
from lgnet_reporting.domain.no_data import NO_DATA, NOT_REPORTED, not_reported

LIST = "fund_indicator"
NOT_COUNTED = {
    "it": "non contato dal metodo di questo rapporto (la partecipazione civica si conta dal metodo 3)",
    "en": "not counted by this report's method (civic engagement is counted from method 3 on)",
}
WHY_NOT_REPORTED = {  # by the report's key naming the cities (no_data.NOT_REPORTED)
    "payments_not_reported": {
        "it": "pagamenti non rilevati: la città non registra i pagamenti su LgNet (non usa il servizio pagamenti)",
        "en": "payments not reported: the city does not record its payments on LgNet (it runs no payments service)",
    },
    "housing_not_reported": {
        "it": "alloggi non rilevati: la città non registra gli inserimenti abitativi su LgNet (non usa il servizio"
        " alloggi)",
        "en": "housing not reported: the city does not record its placements on LgNet (it runs no housing service)",
    },
}

# A national total of a service some cities do not run on LgNet: the cities it leaves out, in `why_not`.
LEAVES_OUT = {"it": "non comprende {cities} ({why})", "en": "leaves out {cities} ({why})"}


@cache
def mapping() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("fund_indicators.json").read_text(encoding="utf-8")
    )
    return data


def words() -> dict[str, Any]:
    """The table's words (columns, kinds, units, "not yet derivable") in Italian and English: the mapping's `words`."""
    found: dict[str, Any] = mapping()["words"]
    return found


def say(text: dict[str, str], lang: str) -> str:
    """One of `words`' texts in the reader's language (Italian when the language has none)."""
    return text.get(lang) or text[vocabulary.DEFAULT_LOCALE]


def _in(text: dict[str, str] | None, lang: str) -> str | None:
    """A reason in the reader's language (Italian when it has none in theirs)."""
    return None if text is None else say(text, lang)


def _at(doc: dict[str, Any], path: list[str]) -> Any:
    if path == ["by_city_count"]:  # local authorities supported: cities with a case in scope
        by_city = doc.get("by_city")
        if by_city is not None:
            return sum(1 for row in by_city.values() if row.get("persons") != 0)
        return 1 if doc["indicators"]["persons"]["total"] else 0
    node: Any = doc["indicators"]
    if path[0] == "civic_by_kind" and path[0] not in node:
        return NO_DATA  # a report of a method before civic engagement (method 3) never counted it: nothing hidden
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step, 0)  # a category absent from a table is zero
    return node


def figures(doc: dict[str, Any], lang: str = vocabulary.DEFAULT_LOCALE) -> list[dict[str, Any]]:
    """Every fund indicator: its label and definition, the report path it comes from, and its value (None when
    suppressed, not derivable or not counted by the report's method: `no_data` tells the last two from a suppressed
    figure, and `why_not` says why)."""
    out = []
    absent = {key: not_reported(doc, key) for key in NOT_REPORTED}
    for spec in mapping()["indicators"]:
        path = spec["from"]
        value = _at(doc, path) if path else None
        why = next(
            (WHY_NOT_REPORTED[key] for key, cells in absent.items() if path and ("indicators", *path) in cells), None
        )
        uncounted = value is NO_DATA or why is not None
        why = why or _leaves_out(doc, path, lang)
        out.append(
            {
                "code": spec["code"],
                "framework": spec["code"].split(".", 1)[0],
                "kind": spec["kind"],
                "unit": spec["unit"],
                "label": vocabulary.label(LIST, spec["code"], lang),
                "definition": vocabulary.definition(LIST, spec["code"], lang) or "",
                "derivable": path is not None,
                "source": ".".join(path) if path else None,
                "value": None if uncounted else value,
                "no_data": uncounted,
                "why_not": _in(why or (NOT_COUNTED if uncounted else spec.get("why_not")), lang),
            }
        )
    return out


def _leaves_out(doc: dict[str, Any], path: list[str] | None, lang: str) -> dict[str, str] | None:
    """A total of a service that some of the report's cities do not run on LgNet (no_data.NOT_REPORTED): which
    cities it leaves out, and why ("non comprende Bologna, Trieste (pagamenti non rilevati)")."""
    for key, cells in NOT_REPORTED.items():
        if path and tuple(path) in cells.indicators and (absent := doc.get(key)):
            names = ", ".join(labels.category("by_city", c, lang) for c in absent)
            text = _in(LEAVES_OUT, lang) or ""
            return {lang: text.format(cities=names, why=labels.term(key, lang).lower())}
    return None
