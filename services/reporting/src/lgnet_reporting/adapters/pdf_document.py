"""The report as the PDF document a city sends (fpdf2): a title page with the city and the period, the headline
figures, charts (persons per month, action areas, vulnerabilities, housing outcomes, expenditure), every table
with its labels and one-line definition, suppressed cells marked and explained, and the report's digest with the
log positions it covers. Fonts are embedded (DejaVu Sans, shipped in adapters/fonts); the file is dated by the
report's as_of, so the same report gives the same bytes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from fpdf import FPDF

from lgnet_reporting.adapters.exports import FONT_DIR, Row, labelled
from lgnet_reporting.domain import labels as lb
from lgnet_reporting.domain import no_data

FONT = "DejaVu"
INK, MUTED, BAR, HIDDEN = (20, 33, 61), (90, 98, 112), (31, 94, 168), (180, 186, 196)
CHARTS = (  # (indicator, measure within it or None for a category table)
    ("monthly", "new_persons"),
    ("persons_by_action_area", None),
    ("persons_by_vulnerability", None),
    ("placements_by_kind", None),
    ("contributions_paid_by_budget_line", "amount_cents"),
)
HEADLINE = (
    ("persons", "total"), ("persons", "minors"), ("households", "total"), ("cases", "opened"),
    ("placements", "started"), ("contributions_paid", "amount_cents"),
)  # fmt: skip
# A headline figure's service (no_data.NOT_REPORTED): the cities whose facts of it the report has none of are named
# under the figure, the total leaving them out.
HEADLINE_SERVICE = {"placements": "housing_not_reported", "contributions_paid": "payments_not_reported"}


class Document(FPDF):
    lang: str = lb.DEFAULT
    footer_text: str = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.footer_text} — {self.page_no()}", align="C")


def render(report: dict[str, Any], lang: str, table_rows: list[Row], dated: datetime) -> bytes:
    pdf = Document(orientation="portrait", format="A4")
    pdf.lang = lang
    pdf.set_creation_date(dated)
    pdf.set_lang(lang)
    pdf.add_font(FONT, "", str(FONT_DIR.joinpath("DejaVuSans.ttf")))
    pdf.add_font(FONT, "B", str(FONT_DIR.joinpath("DejaVuSans-Bold.ttf")))
    title = f"{lb.term(report['report'], lang)} — {lb.category('by_city', report['scope'], lang)}"
    pdf.set_title(title)
    pdf.set_author("LgNet")
    pdf.set_creator("LgNet reporting")
    pdf.footer_text = f"LgNet · {title} · {_period(report, lang)}"
    pdf.set_auto_page_break(True, margin=16)
    shown = no_data.marked(report)  # a cell with no data reads "n.d." on the cover and the charts, as in the tables
    # The notes explain the words the document shows, no other (a city's report hides nothing: no "soppresso" note);
    # the national report states its suppression policy whether or not a cell is hidden.
    notes = {
        "suppressed": "suppression" in report or any(r.value is None for r in table_rows),
        "no_data": any(r.value is no_data.NO_DATA for r in table_rows),
    }
    _title_page(pdf, shown, title, lang, notes)
    _charts(pdf, shown, lang)
    _tables(pdf, report, table_rows, lang)
    _provenance(pdf, report, lang)
    return bytes(pdf.output())


def _period(report: dict[str, Any], lang: str) -> str:
    end = lb.day(report["as_of"], lang)
    if report.get("period_from"):
        return f"{lb.day(report['period_from'], lang)} \u2013 {end}"
    return f"{lb.term('as_of', lang)} {end}"


def _title_page(pdf: Document, report: dict[str, Any], title: str, lang: str, notes: dict[str, bool]) -> None:
    pdf.add_page()
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 22)
    pdf.ln(30)
    pdf.multi_cell(0, 11, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=13)
    # "Periodo: 1 aprile - 30 giugno 2026", or "Alla data: 30 giugno 2026" (not "Periodo: Alla data …").
    label, when = (
        (lb.term("period", lang), _period(report, lang))
        if report.get("period_from")
        else (lb.term("as_of", lang), lb.day(report["as_of"], lang))
    )
    pdf.cell(0, 9, f"{label}: {when}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    ind = report["indicators"]
    for indicator, measure in HEADLINE:
        if measure not in ind.get(indicator, {}):
            continue
        v = ind[indicator][measure]
        pdf.set_font(FONT, size=11)
        pdf.cell(120, 8, f"{lb.indicator(indicator, lang)} — {lb.measure(measure, lang)}")
        pdf.set_font(FONT, "B", 11)
        pdf.cell(0, 8, lb.value(measure, v, lang), align="R", new_x="LMARGIN", new_y="NEXT")
        if cities := report.get(HEADLINE_SERVICE.get(indicator, "")):
            _not_reported_note(pdf, report, HEADLINE_SERVICE[indicator], cities, lang)
    pdf.ln(8)
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*MUTED)
    words = lb.catalogue(lang)
    if notes["suppressed"]:
        note = lb.term("suppressed", lang) + ": " + (words["suppressed_note"] or "")
        if "suppression" in report:
            threshold = report["suppression"]["threshold"]
            note += f" ({lb.term('suppression_threshold', lang)}: {threshold})"
        pdf.multi_cell(0, 4, note, new_x="LMARGIN", new_y="NEXT")
    if notes["no_data"]:
        note = lb.term("no_data", lang) + ": " + (words["no_data_note"] or "")
        pdf.multi_cell(0, 4, note, new_x="LMARGIN", new_y="NEXT")


def _not_reported_note(pdf: Document, report: dict[str, Any], key: str, cities: list[str], lang: str) -> None:
    """Under a headline total: the cities it leaves out, of which the report has no fact of that service."""
    names = ", ".join(lb.category("by_city", c, lang) for c in cities)
    partial = set(report.get("by_city") or ()) - set(cities)  # a national total with other cities in it
    label = lb.term(key, lang) + (f" ({lb.term('not_in_total', lang)})" if partial else "")
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(0, 5, f"{label}: {names}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)


def _series(report: dict[str, Any], indicator: str, measure: str | None, lang: str) -> list[tuple[str, Any]]:
    data = report["indicators"].get(indicator)
    if isinstance(data, list):
        return [(lb.month(m["month"], lang), m.get(measure or "")) for m in data]
    if not isinstance(data, dict):
        return []
    if measure is None:
        return [(lb.category(indicator, k, lang), v) for k, v in data.items()]
    return [(lb.category(indicator, k, lang), v.get(measure)) for k, v in data.items()]


def _charts(pdf: Document, report: dict[str, Any], lang: str) -> None:
    pdf.add_page()
    for indicator, measure in CHARTS:
        series = _series(report, indicator, measure, lang)
        if not series:
            continue
        height = 9 + 5 * len(series)
        if pdf.get_y() + height > pdf.h - 20:
            pdf.add_page()
        heading = lb.indicator(indicator, lang) + (f" — {lb.measure(measure, lang)}" if measure else "")
        _bar_chart(pdf, heading, series, measure or "", lang)
        pdf.ln(4)


def _bar_chart(pdf: Document, heading: str, series: Sequence[tuple[str, Any]], measure: str, lang: str) -> None:
    """Horizontal bars, one per category; a suppressed value is a grey mark labelled as suppressed."""
    pdf.set_font(FONT, "B", 10)
    pdf.set_text_color(*INK)
    pdf.cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
    top = max((v for _, v in series if isinstance(v, int | float)), default=0) or 1
    left, label_w, bar_w = pdf.l_margin, 55, 95
    pdf.set_font(FONT, size=8)
    for label, v in series:
        y = pdf.get_y()
        pdf.set_text_color(*MUTED)
        pdf.set_xy(left, y)
        pdf.cell(label_w, 4.5, label[:38])
        # Each bar's colour in a local context: left set, fpdf2's tables later filled every cell with it.
        if v is None:
            with pdf.local_context(fill_color=HIDDEN):
                pdf.rect(left + label_w, y + 1, 3, 2.5, style="F")
        elif isinstance(v, int | float) and v:  # no bar for zero, nor for a cell with no data
            with pdf.local_context(fill_color=BAR):
                pdf.rect(left + label_w, y + 1, max(0.5, bar_w * v / top), 2.5, style="F")
        pdf.set_xy(left + label_w + bar_w + 3, y)
        pdf.set_text_color(*INK)
        pdf.cell(0, 4.5, lb.value(measure, v, lang), new_x="LMARGIN", new_y="NEXT")


def _tables(pdf: Document, report: dict[str, Any], table_rows: list[Row], lang: str) -> None:
    pdf.add_page()
    headings = [lb.term("category", lang), lb.term("measure", lang), lb.term("value", lang)]
    for indicator, group in groupby(table_rows, key=lambda r: r.indicator):
        items = list(group)
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
        pdf.set_font(FONT, "B", 11)
        pdf.set_text_color(*INK)
        pdf.cell(0, 7, lb.indicator(indicator, lang), new_x="LMARGIN", new_y="NEXT")
        if text := lb.definition(indicator, lang):
            pdf.set_font(FONT, size=8)
            pdf.set_text_color(*MUTED)
            pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, size=8)
        with pdf.table(col_widths=(80, 60, 40), text_align=("LEFT", "LEFT", "RIGHT"), line_height=4.6) as table:
            table.row(headings)
            for r in items:
                _, category, measure = labelled(r, lang)
                table.row([category, measure, lb.value(r.measure, r.value, lang)])
        pdf.ln(3)


def provenance(report: dict[str, Any], lang: str) -> list[str]:
    """The provenance lines of the document: the digest, how it is anchored in the notary's checkpoints, and the
    log positions the numbers were computed from (anyone can replay the log up to them and get the same digest)."""
    lines = [f"SHA-256 {report.get('digest', '')}", lb.term("anchoring", lang), *anchor_lines(report, lang)]
    positions = report.get("positions") or {}
    if positions:
        lines.append(lb.term("generated_from", lang) + ":")
        for topic, parts in sorted(positions.items()):
            text = ", ".join(f"{p}:{o}" for p, o in sorted(parts.items(), key=lambda x: int(x[0])))
            lines.append(f"{topic} — {text}")
    return lines


def anchor_lines(report: dict[str, Any], lang: str) -> list[str]:
    """The checkpoint anchoring the published report (origin, tree size, root hash, time), or that there is none
    yet; nothing for a document that never asked (a file rendered outside the service)."""
    if "anchor" not in report:
        return []
    anchor = report["anchor"]
    if not anchor:
        return [lb.term("not_anchored", lang)]
    when = anchor.get("checkpointed_at")
    return [
        lb.term("anchored_in", lang) + ":",
        f"{anchor['origin']} — {lb.term('tree_size', lang)} {anchor['tree_size']}",
        f"{lb.term('root_hash', lang)} {anchor['root_hash']}",
        *([f"{lb.term('checkpointed_at', lang)} {lb.moment(when, lang)}"] if when else []),
        f"{lb.term('published_report', lang)} {anchor['report_id']}",
    ]


def _provenance(pdf: Document, report: dict[str, Any], lang: str) -> None:
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(FONT, "B", 10)
    pdf.set_text_color(*INK)
    pdf.cell(0, 6, lb.term("digest", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    digest_line, *rest = provenance(report, lang)
    pdf.multi_cell(0, 4, digest_line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*MUTED)
    for line in rest:
        pdf.multi_cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
