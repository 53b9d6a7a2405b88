"""What a person reads in reports: labels and one-line definitions from the programme's vocabulary
(lgnet_shared.vocabulary, Italian by default, English available) and numbers, amounts and dates in the reader's
format (Babel's CLDR data). Pure: the report's numbers and digest never depend on the language."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Literal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from lgnet_shared import vocabulary

from lgnet_reporting.domain.no_data import NO_DATA

Lang = Literal["it", "en"]
DEFAULT: Lang = "it"
LANGS: tuple[Lang, ...] = ("it", "en")
_CLDR = {"it": "it_IT", "en": "en_GB"}
INDICATORS = "report_indicator"
MEASURES = "report_measure"
TERMS = "report_term"
# Which code list names the categories of each table of the report.
CATEGORY_LISTS = {
    "persons_by_vulnerability": "vulnerability",
    "persons_by_action_area": "action_area",
    "persons_by_channel": "channel",
    "persons_by_sex": "sex",
    "persons_by_referral_source": "referral_source",
    "case_outcomes": "case_outcome",
    "placements_by_kind": "housing_kind",
    "placements_ended_by_reason": "placement_end_reason",
    "leases_by_type": "lease_type",
    "contributions_paid_by_kind": "contribution_kind",
    "contributions_paid_by_budget_line": "contribution_kind",
    "vouchers_issued_by_kind": "voucher_kind",
    "vouchers_redeemed_by_kind": "voucher_kind",
    "employment": "employment_status",
    "civic_by_kind": "civic_activity_kind",
    "contacts_by_service_offered": "street_service",
}


def indicator(code: str, lang: str = DEFAULT) -> str:
    return vocabulary.label(INDICATORS, code, lang)


def definition(code: str, lang: str = DEFAULT) -> str:
    return vocabulary.definition(INDICATORS, code, lang) or ""


# Lists whose codes are also measures: employment tables count statuses, money tutoring its outcomes.
MEASURE_LISTS = (MEASURES, "employment_status", "tutoring_outcome")


def measure(code: str, lang: str = DEFAULT) -> str:
    for listed in MEASURE_LISTS:
        if code in vocabulary.codes(listed):
            return vocabulary.label(listed, code, lang)
    return code


def term(code: str, lang: str = DEFAULT) -> str:
    return vocabulary.label(TERMS, code, lang)


def category(table: str, code: str, lang: str = DEFAULT) -> str:
    """A category of a table: a code of its list, a country (ISO 3166 alpha-2), a city, a month or `unknown`."""
    if code == "unknown" or not code:
        return measure(code, lang) if code else ""
    if table == "persons_by_nationality":
        return str(_locale(lang).territories.get(code, code))
    if table == "by_city":  # a city, or the national aggregate's scope
        return term("national_scope", lang) if code == "national" else code.replace("_", " ").title()
    if table.endswith("monthly"):  # monthly, outreach_monthly, civic_monthly
        return month(code, lang)
    listed = CATEGORY_LISTS.get(table)
    if listed and code in vocabulary.codes(listed):
        return vocabulary.label(listed, code, lang)
    if table == BUDGET_LINES and (lines := budget_lines(lang)).get(code):
        return lines[code]
    return measure(code, lang)  # e.g. employment's at_opening / at_close; a code no list knows, as written


BUDGET_LINES = "contributions_paid_by_budget_line"


def budget_lines(lang: str = DEFAULT) -> dict[str, str]:
    """The grant's budget lines: a contribution kind's (`rent`), or a kind of voucher's (`voucher_babysitting`,
    payments' `voucher_<kind>`), read "Voucher \u2013 Babysitting" rather than as its code."""
    lines = {c: vocabulary.label("contribution_kind", c, lang) for c in vocabulary.codes("contribution_kind")}
    voucher = lines.get("voucher", "Voucher")
    lines |= {
        f"voucher_{k}": f"{voucher} \u2013 {vocabulary.label('voucher_kind', k, lang)}"
        for k in vocabulary.codes("voucher_kind")
    }
    return lines


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(_CLDR.get(lang, _CLDR[DEFAULT]))


def empty(value: Any, lang: str = DEFAULT) -> str | None:
    """How an empty cell reads: "soppresso" when hidden (None), "n.d." when it has no data (no_data.NO_DATA); None
    for a number."""
    if value is None:
        return term("suppressed", lang)
    if value is NO_DATA:
        return term("no_data", lang)
    return None


def number(value: Any, lang: str = DEFAULT) -> str:
    return empty(value, lang) or format_decimal(value, locale=_CLDR.get(lang, "it_IT"))


def money(cents: Any, lang: str = DEFAULT) -> str:
    if (text := empty(cents, lang)) is not None:
        return text
    return format_currency(cents / 100, "EUR", locale=_CLDR.get(lang, "it_IT"))


def day(iso: str | None, lang: str = DEFAULT) -> str:
    return "" if not iso else format_date(date.fromisoformat(iso), format="long", locale=_CLDR.get(lang, "it_IT"))


def moment(iso: str | None, lang: str = DEFAULT) -> str:
    """A time (ISO 8601) in the reader's format, in UTC like every time in LgNet: '1 dic 2026, 03:10:00 UTC'."""
    if not iso:
        return ""
    when = datetime.fromisoformat(iso)
    return format_datetime(when, format="medium", tzinfo=UTC, locale=_CLDR.get(lang, "it_IT")) + " UTC"


def month(yyyy_mm: str, lang: str = DEFAULT) -> str:
    return format_date(date.fromisoformat(f"{yyyy_mm}-01"), format="MMM yyyy", locale=_CLDR.get(lang, "it_IT"))


def value(measure_code: str, v: Any, lang: str = DEFAULT) -> str:
    """A cell as a person reads it: amounts (`*_cents`) in euro, counts and medians as numbers."""
    if measure_code.endswith("_cents"):
        return money(v, lang)
    if is_share(measure_code) and isinstance(v, int | float):  # a fraction (0.1769) reads as "17,7 %"
        return format_percent(v, format=percent_pattern(lang), locale=_CLDR.get(lang, "it_IT"))
    return number(v, lang)


_PERCENT = {"it": "#,##0.0\u00a0%", "en": "#,##0.0%"}  # one decimal, as the four of the report allow


def percent_pattern(lang: str = DEFAULT) -> str:
    """How a share is written in `lang` (CLDR pattern syntax): Italian typography puts a (non-breaking) space before
    %, English none. The PDF's, the dashboard's and the XLSX's number format (`exports`) alike."""
    return _PERCENT[lang if lang in _PERCENT else DEFAULT]


def is_share(measure_code: str) -> bool:
    """A share (`taken_in_charge_share`): a fraction of 1 in the document, a percentage wherever a person reads it."""
    return measure_code.endswith("_share")


def catalogue(lang: str = DEFAULT, cities: Sequence[str] = ()) -> dict[str, Any]:
    """Every label and definition a report reader (the dashboard) needs, in one document; with the names of the
    programme's `cities` (those a reader may ask a report of, reported yet or not)."""
    return {
        "lang": lang,
        "cities": {c: category("by_city", c, lang) for c in cities},
        "indicators": {
            c: {"label": indicator(c, lang), "definition": definition(c, lang)} for c in vocabulary.codes(INDICATORS)
        },
        "measures": {c: measure(c, lang) for c in vocabulary.codes(MEASURES)},
        "terms": {c: term(c, lang) for c in vocabulary.codes(TERMS)},
        "categories": {
            table: budget_lines(lang)
            if table == BUDGET_LINES
            else {c: vocabulary.label(listed, c, lang) for c in vocabulary.codes(listed)}
            for table, listed in CATEGORY_LISTS.items()
        },
        "suppressed_note": vocabulary.definition(TERMS, "suppressed", lang),
        "no_data_note": vocabulary.definition(TERMS, "no_data", lang),
    }
