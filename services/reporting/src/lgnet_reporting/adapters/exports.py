"""Report exports: CSV, XLSX (openpyxl) and PDF (fpdf2), all from the same flat rows, so every format shows
exactly the JSON's numbers. A hidden (suppressed) cell is shown as "suppressed"."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime, time
from importlib import resources
from typing import Any

HEADER = ("indicator", "category", "measure", "value")
HIDDEN = "suppressed"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def rows(report: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """indicator, category, measure, value: one row per number of the report."""
    out: list[tuple[str, str, str, Any]] = []

    def cell(value: Any) -> Any:
        return HIDDEN if value is None else value

    def walk(indicator: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    for m, x in v.items():
                        out.append((indicator, str(k), str(m), cell(x)))
                else:
                    category, measure = (str(k), "") if _categories(indicator) else ("", str(k))
                    out.append((indicator, category, measure, cell(v)))
        elif isinstance(value, list):
            for item in value:
                label = str(item.get("month", ""))
                for m, x in item.items():
                    if m != "month":
                        out.append((indicator, label, m, cell(x)))
        else:
            out.append((indicator, "", "", cell(value)))

    for name, value in report["indicators"].items():
        walk(name, value)
    for city, value in (report.get("by_city") or {}).items():
        for m, x in value.items():
            out.append(("by_city", city, m, cell(x)))
    return out


def _categories(indicator: str) -> bool:
    """A table of categories (persons by nationality: IT, MA ...) rather than a record of measures."""
    return "_by_" in indicator or indicator == "case_outcomes"


def title(report: dict[str, Any]) -> list[tuple[str, str]]:
    meta = [("report", report["report"]), ("scope", report["scope"]), ("as_of", report["as_of"])]
    if report.get("period_from"):
        meta.append(("period_from", report["period_from"]))
    if "suppression" in report:
        meta.append(("suppression_threshold", str(report["suppression"]["threshold"])))
    return meta


def to_csv(report: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for k, v in title(report):
        w.writerow([f"# {k}", v])
    w.writerow(HEADER)
    w.writerows(rows(report))
    return buf.getvalue().encode()


def _dated(report: dict[str, Any]) -> datetime:
    """Every export is dated by the report's as_of, never the clock: the same report gives the same bytes."""
    return datetime.combine(date.fromisoformat(report["as_of"]), time(0), tzinfo=UTC)


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook  # imported by the first export, not by every start of the service
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    ws = wb.active
    ws.title = "report"
    for k, v in title(report):
        ws.append([k, v])
    ws.append([])
    ws.append(list(HEADER))
    for r in rows(report):
        ws.append(list(r))
    when = _dated(report).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = wb.properties.lastModifiedBy = "LgNet"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not openpyxl.save_workbook: it stamps `modified` with the clock
    return _zip_dated(buf.getvalue(), when)


def _zip_dated(data: bytes, when: datetime) -> bytes:
    """The same archive with every entry dated `when` (zipfile stamps entries with the clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            entry.compress_type, entry.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


FONT = "DejaVu"  # shipped with the package (adapters/fonts, DejaVu licence): embedded, the same on every machine


def _fonts(pdf: Any) -> None:
    folder = resources.files(__package__).joinpath("fonts")
    pdf.add_font(FONT, "", str(folder.joinpath("DejaVuSans.ttf")))
    pdf.add_font(FONT, "B", str(folder.joinpath("DejaVuSans-Bold.ttf")))


def to_pdf(report: dict[str, Any]) -> bytes:
    from fpdf import FPDF  # ~1.5 s of imports (fonts, images): paid by the first PDF, not by every start

    pdf = FPDF(orientation="portrait", format="A4")
    # Dated by the report's as_of, not the clock: the same report gives the same file.
    pdf.set_creation_date(_dated(report))
    _fonts(pdf)
    pdf.add_page()
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 10, f"LgNet report: {report['report']} - {report['scope']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    for k, v in title(report):
        pdf.cell(0, 5, f"{k}: {v}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    with pdf.table(col_widths=(55, 45, 50, 30), text_align=("LEFT", "LEFT", "LEFT", "RIGHT")) as table:
        table.row(list(HEADER))
        for r in rows(report):
            table.row([str(x) for x in r])
    return bytes(pdf.output())


RENDER = {"csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}
