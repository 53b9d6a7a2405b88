"""Report exports: CSV, XLSX (openpyxl) and PDF (fpdf2), all from the same flat rows, so every format shows
exactly the JSON's numbers, in the reader's language (Italian by default, English available): labels and
definitions from the programme's vocabulary, numbers, amounts and dates in the reader's format (domain.labels).

- CSV and XLSX are data for the managing authority: one row per number, with the codes (stable, for machines) and
  the labels (for people); counts and amounts as numbers (amounts in euro cents, as everywhere in LgNet); a hidden
  (suppressed) cell is the word "soppresso"/"suppressed", a cell with no data (a median over nobody) "n.d."/"n/a".
- The PDF is the document a city sends: title page (city, period), headline figures, charts, every table with
  labels and definitions, suppressed cells marked and explained, the report digest and the log positions.
Every file is dated by the report's as_of, never the clock: the same report gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime, time
from importlib import resources
from typing import Any, NamedTuple

from lgnet_shared import vocabulary

from lgnet_reporting.domain import fund, no_data
from lgnet_reporting.domain import labels as lb
from lgnet_reporting.domain.layout import in_report_order

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
COLUMNS = ("indicator", "category", "measure", "value")


class Row(NamedTuple):
    indicator: str
    category: str
    measure: str
    value: Any  # int, float, None (suppressed) or no_data.NO_DATA


def rows(report: dict[str, Any]) -> list[Row]:
    """One row per number of the report, by codes, in the report's own order whatever the dict's (a published
    report's stored body has its keys sorted): the same report gives the same rows."""
    report = no_data.marked(in_report_order(report))
    out: list[Row] = []

    def walk(indicator: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    out.extend(Row(indicator, str(k), str(m), x) for m, x in v.items())
                elif _categories(indicator):
                    out.append(Row(indicator, str(k), "", v))
                else:
                    out.append(Row(indicator, "", str(k), v))
        elif isinstance(value, list):
            for item in value:
                out.extend(Row(indicator, str(item.get("month", "")), m, x) for m, x in item.items() if m != "month")
        else:
            out.append(Row(indicator, "", "", value))

    for name, value in report["indicators"].items():
        walk(name, value)
    for city, value in (report.get("by_city") or {}).items():
        out.extend(Row("by_city", city, m, x) for m, x in value.items())
    return out


def _categories(indicator: str) -> bool:
    """A table of categories (persons by nationality: IT, MA ...) rather than a record of measures."""
    return "_by_" in indicator or indicator == "case_outcomes"


def labelled(r: Row, lang: str) -> tuple[str, str, str]:
    return lb.indicator(r.indicator, lang), lb.category(r.indicator, r.category, lang), lb.measure(r.measure, lang)


def data_labelled(r: Row, lang: str) -> tuple[str, str, str]:
    """The labels of a data file's row: an amount's measure names its unit, the value being in euro cents ("Importo
    (centesimi di euro)": a reader of the XLSX took 3.240.000 for euros); a share's says it is the fraction of 1
    ("Quota presa in carico (frazione: 1 = 100 %)": the CSV has no format, the XLSX shows it as a percentage)."""
    indicator, category, measure = labelled(r, lang)
    if r.measure.endswith("_cents"):
        measure = f"{measure} ({lb.term('euro_cents', lang)})"
    elif lb.is_share(r.measure):
        measure = f"{measure} ({lb.term('share_unit', lang)})"
    return indicator, category, measure


def title(report: dict[str, Any], lang: str = lb.DEFAULT) -> list[tuple[str, str]]:
    """The report's parameters, labelled (dates as ISO in data files)."""
    meta = [
        (lb.term("report", lang), lb.term(report["report"], lang)),
        (lb.term("scope", lang), lb.category("by_city", report["scope"], lang)),
    ]
    if report.get("period_from"):  # a period is read from its start
        meta.append((lb.term("period_from", lang), report["period_from"]))
    meta.append((lb.term("as_of", lang), report["as_of"]))
    if "suppression" in report:
        meta.append((lb.term("suppression_threshold", lang), str(report["suppression"]["threshold"])))
    meta.extend(not_reported(report, lang))
    meta.append((lb.term("method", lang), str(report.get("method", 1))))
    if report.get("digest"):
        meta.append((lb.term("digest", lang), report["digest"]))
    return meta


def not_reported(report: dict[str, Any], lang: str = lb.DEFAULT) -> list[tuple[str, str]]:
    """The cities whose payments or housing the report has no fact of (methods 8 and 9), labelled: "Pagamenti non
    rilevati", "Bologna, Trieste" (their cells read n.d. and the totals leave them out; the reader of a total is
    told so where it is read)."""
    return [
        (lb.term(key, lang), ", ".join(lb.category("by_city", c, lang) for c in report[key]))
        for key in no_data.NOT_REPORTED
        if report.get(key)
    ]


def _cell(v: Any, lang: str) -> Any:
    """A data file's value: the word of an empty cell, or the number, a whole one as a whole number (a median of
    267 days is `267`, as the PDF and the dashboard read it, not Python's `267.0`)."""
    text = lb.empty(v, lang)
    if text is not None:
        return text
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _header(lang: str) -> list[str]:
    names = [lb.term(c, lang) for c in COLUMNS]
    return [f"{c}_code" for c in COLUMNS[:3]] + names


# A CSV is opened by double-click in a spreadsheet, which splits it by the locale's list separator: ";" in an
# Italian Excel (whose decimal separator is ","), "," in an English one. The file starts with a UTF-8 byte order
# mark, without which Excel reads the bytes as Windows-1252 ("EtÃ " for "Età"); an Italian file writes a decimal
# with a comma (Italian Excel read `15.5` as 15 May). Whole numbers are written alike in both.
CSV_SEPARATOR = {"it": ";", "en": ","}
BOM = "\ufeff"


def _csv_writer(buf: io.StringIO, lang: str) -> Any:
    return csv.writer(buf, delimiter=CSV_SEPARATOR.get(lang, ","), lineterminator="\n")


def _csv_cell(v: Any, lang: str) -> Any:
    """A CSV value in the reader's spreadsheet's form: a decimal with a comma in Italian."""
    return str(v).replace(".", ",") if lang == "it" and isinstance(v, float) else v


def _csv_bytes(buf: io.StringIO) -> bytes:
    return (BOM + buf.getvalue()).encode()


def to_csv(report: dict[str, Any], lang: str = lb.DEFAULT) -> bytes:
    buf = io.StringIO()
    w = _csv_writer(buf, lang)
    for k, v in title(report, lang):
        w.writerow([f"# {k}", v])
    w.writerow(_header(lang))
    for r in rows(report):
        value = _csv_cell(_cell(r.value, lang), lang)
        w.writerow([r.indicator, r.category, r.measure, *data_labelled(r, lang), value])
    return _csv_bytes(buf)


def _dated(report: dict[str, Any]) -> datetime:
    return datetime.combine(date.fromisoformat(report["as_of"]), time(0), tzinfo=UTC)


def _percent(lang: str) -> str:
    """The PDF's percentage (`labels.percent_pattern`) as an XLSX number format: the pattern syntax is the same (`%`
    scales the fraction by 100, so the cell keeps 0.6667 for formulas), the non-breaking space quoted, a literal
    that Excel and LibreOffice show as is, whatever the reader's locale ("66,7 %"; it read "66,7%")."""
    return lb.percent_pattern(lang).replace("\u00a0", '"\u00a0"')


def _number_format(measure: str, value: int | float, lang: str) -> str:
    """An XLSX cell's number format: a share (a fraction of 1, 0.6667) as a percentage (66,7 %, as the PDF reads it;
    it read 0,7), whole too (1 is 100,0 %); a count whole, a median with one decimal."""
    if lb.is_share(measure):
        return _percent(lang)
    return "#,##0" if isinstance(value, int) else "#,##0.0"


def to_xlsx(report: dict[str, Any], lang: str = lb.DEFAULT) -> bytes:
    from openpyxl import Workbook  # imported by the first export, not by every start of the service
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    ws = wb.active
    ws.title = lb.term("report", lang)
    for k, v in title(report, lang):
        ws.append([k, v])
    ws.append([])
    ws.append(_header(lang))
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for r in rows(report):
        value = _cell(r.value, lang)
        ws.append([r.indicator, r.category, r.measure, *data_labelled(r, lang), value])
        if isinstance(value, int | float):
            ws.cell(ws.max_row, 7).number_format = _number_format(r.measure, value, lang)
    for col, width in zip("ABCDEFG", (28, 20, 18, 40, 30, 26, 14), strict=True):
        ws.column_dimensions[col].width = width
    when = _dated(report).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = wb.properties.lastModifiedBy = "LgNet"
    wb.properties.title = _document_title(report, lang)
    wb.properties.language = lang
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not openpyxl.save_workbook: it stamps `modified` with the clock
    return _zip_dated(buf.getvalue(), when)


FUND_COLUMNS = ("code", "framework", "kind", "label", "value", "unit", "source", "why_not")


def fund_table(figures: list[dict[str, Any]], lang: str) -> list[list[Any]]:
    """The fund's indicators as the managing authority's table, in the reader's language: the columns' names, then
    one row per indicator (a suppressed figure is the word 'soppresso', one the report's method did not count 'n.d.',
    one LgNet cannot derive yet 'non ancora ricavabile', as the dashboard says, with the reason)."""
    words = fund.words()
    out: list[list[Any]] = [[fund.say(words["columns"][c], lang) for c in FUND_COLUMNS]]
    for f in figures:
        value = (
            no_data.NO_DATA
            if f.get("no_data")
            else f["value"]
            if f["derivable"]
            else fund.say(words["not_derivable"], lang)
        )
        out.append([f["code"], f["framework"], fund.say(words["kinds"][f["kind"]], lang), f["label"],
                    _cell(value, lang), fund.say(words["units"][f["unit"]], lang), f["source"] or "",
                    f["why_not"] or ""])  # fmt: skip
    return out


def fund_csv(report: dict[str, Any], figures: list[dict[str, Any]], lang: str = lb.DEFAULT) -> bytes:
    """Headed like the report's CSV (`to_csv`): each parameter a `# ` line, so one reader takes both."""
    buf = io.StringIO()
    w = _csv_writer(buf, lang)
    w.writerows([f"# {k}", v] for k, v in title(report, lang))
    w.writerows([_csv_cell(c, lang) for c in row] for row in fund_table(figures, lang))
    return _csv_bytes(buf)


def fund_xlsx(report: dict[str, Any], figures: list[dict[str, Any]], lang: str = lb.DEFAULT) -> bytes:
    table = [[k, v] for k, v in title(report, lang)] + fund_table(figures, lang)
    return _workbook(report, table, lang, vocabulary.list_label("fund_indicator", lang))


def _workbook(report: dict[str, Any], table: list[list[Any]], lang: str, sheet: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet  # openpyxl's default is "Sheet", English in an Italian file
    for r in table:
        ws.append(r)
    when = _dated(report).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = wb.properties.lastModifiedBy = "LgNet"
    wb.properties.title = f"{sheet} \u2014 {lb.category('by_city', report['scope'], lang)}"
    wb.properties.language = lang
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _zip_dated(buf.getvalue(), when)


ZIP_FIRST, ZIP_LAST = datetime(1980, 1, 1), datetime(2107, 12, 31)


def _zip_dated(data: bytes, when: datetime) -> bytes:
    """The same archive with every entry dated `when` (zipfile stamps entries with the clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            # ZIP dates entries from 1980 to 2107 only (a report as of a day outside is still a valid request).
            entry = zipfile.ZipInfo(info.filename, date_time=min(max(when, ZIP_FIRST), ZIP_LAST).timetuple()[:6])
            entry.compress_type, entry.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def _document_title(report: dict[str, Any], lang: str) -> str:
    return f"{lb.term(report['report'], lang)} — {lb.category('by_city', report['scope'], lang)}"


def to_pdf(report: dict[str, Any], lang: str = lb.DEFAULT) -> bytes:
    from lgnet_reporting.adapters import pdf_document  # fpdf2 costs ~1.5 s of imports: paid by the first PDF

    return pdf_document.render(report, lang, rows(report), _dated(report))


RENDER = {"csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}
FONT_DIR = resources.files(__package__).joinpath("fonts")
