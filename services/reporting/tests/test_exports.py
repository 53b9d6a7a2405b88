"""Report files as a city sends them: the same report gives byte-identical files on every download (XLSX document
properties and ZIP entry dates fixed by the report's as_of), and the PDF embeds its fonts."""

from __future__ import annotations

import io
import re
import time
import zipfile
from typing import Any

import pytest
from lgnet_reporting.adapters import exports

REPORT: dict[str, Any] = {
    "report": "city_summary",
    "scope": "torino",
    "as_of": "2026-06-30",
    "period_from": "2026-01-01",
    "method": 2,
    "indicators": {
        "persons": {"total": 1234, "minors": 400, "adults": 834, "age_unknown": 0},
        "persons_by_vulnerability": {"psychiatric_condition": 3, "single_parent": None},
        "contributions_paid": {"count": 12, "amount_cents": 1234567},
    },
}


def test_two_xlsx_downloads_are_byte_identical() -> None:
    first = exports.to_xlsx(REPORT)
    time.sleep(2.1)  # ZIP entry times have a 2-second resolution: a later second must not show
    assert exports.to_xlsx(REPORT) == first
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time[:3] for i in z.infolist()} == {(2026, 6, 30)}
        core = z.read("docProps/core.xml").decode()
    assert "2026-06-30T00:00:00Z" in core and re.search(r"<dcterms:modified[^>]*>2026-06-30T00:00:00Z<", core)


@pytest.mark.parametrize(("as_of", "dated"), [("1975-03-01", (1980, 1, 1)), ("2200-01-01", (2107, 12, 31))])
def test_a_report_as_of_a_day_zip_cannot_date_still_exports(as_of: str, dated: tuple[int, int, int]) -> None:
    """ZIP dates entries from 1980 to 2107 only: such entries carry the nearest day, the document properties the
    real one."""
    report = {**REPORT, "as_of": as_of, "period_from": None}
    with zipfile.ZipFile(io.BytesIO(exports.to_xlsx(report))) as z:
        assert {i.date_time[:3] for i in z.infolist()} == {dated}
        assert f"{as_of}T00:00:00Z" in z.read("docProps/core.xml").decode()


def test_the_pdf_embeds_its_fonts_and_is_reproducible() -> None:
    pdf = exports.to_pdf(REPORT)
    assert exports.to_pdf(REPORT) == pdf
    fonts = re.findall(rb"/BaseFont\s*/([A-Za-z0-9+_-]+)", pdf)
    assert fonts, "no font in the PDF"
    assert all(b"DejaVu" in f for f in fonts), fonts  # no unembedded standard-14 font (Helvetica ...)
    assert pdf.count(b"/FontFile2") >= len(set(fonts))  # every font program embedded


def test_reports_read_in_italian_by_default_and_in_english_on_request() -> None:
    italian = exports.to_csv(REPORT).decode()
    assert ";psychiatric_condition;;Persone per vulnerabilità;Disagio psichiatrico;;3" in italian
    assert ";single_parent;;Persone per vulnerabilità;Genitore solo con figli minori;;soppresso" in italian
    english = exports.to_csv(REPORT, "en").decode()
    assert "Persons by vulnerability,Psychiatric condition,,3" in english and "suppressed" in english


def test_numbers_amounts_and_dates_in_the_readers_format() -> None:
    from lgnet_reporting.domain import labels

    assert (labels.number(1234, "it"), labels.money(1234567, "it"), labels.day("2026-06-30", "it")) == (
        "1.234", "12.345,67\xa0€", "30 giugno 2026",
    )  # fmt: skip
    assert (labels.number(1234, "en"), labels.money(1234567, "en")) == ("1,234", "€12,345.67")


def test_the_pdf_states_its_digest_and_the_checkpoint_that_anchors_it() -> None:
    """A city sends the PDF: it names the report's digest, says how the published report is anchored in the
    notary's signed checkpoints (and how to check it), and the log positions to replay."""
    from lgnet_reporting.adapters.pdf_document import provenance

    report = {**REPORT, "digest": "ab" * 32, "positions": {"lgnet.intake.events": {"1": 7, "0": 12}}}
    italian = provenance(report, "it")
    assert italian[0] == "SHA-256 " + "ab" * 32
    assert "checkpoint firmato dal notaio" in italian[1] and "lgnet-audit verify" in italian[1]
    assert italian[-1] == "lgnet.intake.events — 0:12, 1:7"
    assert "notary-signed checkpoint" in provenance(report, "en")[1]
    assert exports.to_pdf(report).startswith(b"%PDF")


def test_a_published_body_read_back_with_sorted_keys_gives_the_same_files() -> None:
    """A published report is stored as canonical JSON (keys sorted): its files, rendered from the stored body, are
    laid out in the report's own order and equal the ones the computed report gave."""
    import json

    from lgnet_reporting.domain.canonical import canonical_json

    stored = json.loads(canonical_json(REPORT))
    assert list(stored["indicators"]) != list(REPORT["indicators"])  # sorted: persons_by_vulnerability first
    assert exports.to_csv(stored) == exports.to_csv(REPORT) and exports.to_xlsx(stored) == exports.to_xlsx(REPORT)
    assert exports.to_csv(stored).decode().split("\n")[6].startswith("persons;;total;")  # persons first


def _city_report_with_nobody_taken_in_charge() -> dict[str, Any]:
    return {
        **REPORT,
        "method": 3,
        "indicators": {
            "persons": {"total": 4, "minors": 1, "adults": 3, "age_unknown": 0},
            "days_to_placement": {"placements": 0, "median": None},
            "outreach": {"first_contacts": 0, "taken_in_charge": 0, "taken_in_charge_share": None,
                         "days_to_taking_in_charge_median": None},
            "outreach_monthly": [{"month": "2026-06", "taken_in_charge": 0, "days_to_taking_in_charge_median": None}],
        },
    }  # fmt: skip


def test_a_median_with_no_data_reads_no_data_not_suppressed() -> None:
    """From outside testers: in an exact city report (nothing is ever suppressed there) the median days to taking
    in charge read "soppresso" when nobody was taken in charge. It has no data: "n.d." / "n/a", in every format."""
    report = _city_report_with_nobody_taken_in_charge()
    from lgnet_reporting.domain.canonical import digest

    before = digest(report)
    italian = exports.to_csv(report).decode()
    assert "soppresso" not in italian
    assert ";days_to_taking_in_charge_median;Unità di strada;" in italian
    assert ";2026-06;days_to_taking_in_charge_median;" in italian
    medians = [line for line in italian.splitlines() if "_median" in line or ";median;" in line]
    assert len(medians) == 3 and all(line.endswith(";n.d.") for line in medians), medians
    assert "taken_in_charge_share" in italian and italian.count(";n.d.") == 4
    english = exports.to_csv(report, "en").decode()
    assert english.count(",n/a") == 4 and "suppressed" not in english

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(exports.to_xlsx(report))).active
    values = [row[-1] for row in sheet.iter_rows(values_only=True)]
    assert values.count("n.d.") == 4 and "soppresso" not in values

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(exports.to_pdf(report))).pages
    text = "".join("".join((page.extract_text() or "").split()) for page in pages)  # spaces and breaks aside
    assert "Giornidalprimocontattoallapresaincarico(mediana)n.d." in text
    assert "Quotapresaincaricon.d." in text and "Mediana(giorni)n.d." in text
    assert "n.d.:Nessundato" in text  # the title page says what it means, as it does for "soppresso"
    assert "soppresso" not in text, text  # a city's report hides nothing: no note on suppression either
    # The document keeps its nulls: its digest (and every published one's, replayed) does not change.
    assert digest(report) == before and report == _city_report_with_nobody_taken_in_charge()


def test_a_national_cell_hidden_by_suppression_still_reads_suppressed() -> None:
    """Suppression is kept as it is: nationally a median is hidden with its count (null with a null count), and has
    no data when its count is zero."""
    report = {
        **_city_report_with_nobody_taken_in_charge(),
        "report": "national",
        "scope": "national",
        "suppression": {"threshold": 5, "hidden_cells": 2},
    }
    report["indicators"]["days_to_placement"] = {"placements": None, "median": None}
    lines = exports.to_csv(report).decode().splitlines()
    assert [line.rsplit(";", 1)[1] for line in lines if line.startswith("days_to_placement;")] == ["soppresso"] * 2
    assert [line.rsplit(";", 1)[1] for line in lines if "days_to_taking_in_charge_median" in line] == ["n.d."] * 2


def test_the_no_data_marker_is_in_the_labels_the_dashboard_reads() -> None:
    from lgnet_reporting.domain import labels

    assert (labels.term("no_data", "it"), labels.term("no_data", "en")) == ("n.d.", "n/a")
    assert labels.catalogue("it")["no_data_note"].startswith("Nessun dato")


def test_an_italian_export_of_the_national_aggregate_and_of_the_funds_table_is_italian_throughout() -> None:
    """From an outside test: the national report's CSV read "Ambito,National" and its PDF "Aggregato nazionale —
    National"; the fund's table explained in English why an indicator has no figure, in the Italian file too."""
    from lgnet_reporting.domain import fund

    national = {**REPORT, "report": "national", "scope": "national"}
    assert ("Ambito", "Nazionale") in exports.title(national)
    assert ("Scope", "National") in exports.title(national, "en")
    assert ("Ambito", "Torino") in exports.title(REPORT)
    italian = exports.fund_csv(REPORT, fund.figures(REPORT, "it"), "it").decode()
    [row] = [r for r in italian.splitlines() if r.startswith("AMIF.R.2.9;")]
    assert "non raccoglie" in row and "not collected" not in row, row
    english = exports.fund_csv(REPORT, fund.figures(REPORT, "en"), "en").decode()
    [row] = [r for r in english.splitlines() if r.startswith("AMIF.R.2.9,")]
    assert "participants' feedback is not collected by LgNet" in row, row


def test_the_funds_csv_is_headed_like_the_reports_and_says_every_word_in_the_readers_language() -> None:
    """From an outside auditor: the fund's CSV wrote its parameters without the report CSV's `#` (one parser could not
    read both), its kind and unit in English in the Italian file (`output`, `persons`, `euro_cents`), its columns'
    names in English, and an indicator LgNet cannot derive as an empty value (the dashboard: "non ancora
    ricavabile")."""
    from lgnet_reporting.domain import fund

    italian = exports.fund_csv(REPORT, fund.figures(REPORT, "it"), "it").decode().splitlines()
    params = [line for line in italian if not line.startswith("AMIF") and not line.startswith("FAMI")]
    assert params[0] == "\ufeff# Rapporto;Rapporto della città" and all(
        p.lstrip("\ufeff").startswith("# ") for p in params[:-1]
    ), params
    assert (
        params[-1]
        == "Codice;Programma;Tipo;Indicatore;Valore;Unità di misura;Fonte nel rapporto;Perché manca il valore"
    )
    [row] = [r for r in italian if r.startswith("AMIF.O.2.3;")]
    assert row.startswith("AMIF.O.2.3;AMIF;Realizzazione;Partecipanti sostenuti;") and ";persone;" in row, row
    [row] = [r for r in italian if r.startswith("AMIF.R.2.9;")]
    assert ";Risultato;" in row and ";non ancora ricavabile;" in row, row
    english = exports.fund_csv(REPORT, fund.figures(REPORT, "en"), "en").decode().splitlines()
    assert "Code,Framework,Kind,Indicator,Value,Unit,Source in the report,Why there is no value" in english
    [row] = [r for r in english if r.startswith("AMIF.R.2.9,")]
    assert ",Result," in row and ",not yet derivable," in row, row


def test_the_funds_workbook_names_its_sheet_and_title_in_the_readers_language() -> None:
    """Its only sheet was openpyxl's "Sheet" (English in the Italian file) and the workbook had no title."""
    import openpyxl
    from lgnet_reporting.domain import fund

    for lang, sheet, title in (("it", "Indicatore del fondo", "Indicatore del fondo — Torino"),
                               ("en", "Fund indicator", "Fund indicator — Torino")):  # fmt: skip
        wb = openpyxl.load_workbook(io.BytesIO(exports.fund_xlsx(REPORT, fund.figures(REPORT, lang), lang)))
        assert wb.sheetnames == [sheet] and wb.properties.title == title


def test_an_amount_in_a_data_file_names_its_unit_euro_cents() -> None:
    """CSV and XLSX keep amounts in euro cents (for machines): the label says so, where it read only "Importo" beside
    1234567 (a person read 1.234.567 €, not 12.345,67 €). The PDF shows euros and keeps the plain label."""
    import openpyxl

    csv_text = exports.to_csv(REPORT).decode()
    assert "contributions_paid;;amount_cents;Contributi pagati;;Importo (centesimi di euro);1234567" in csv_text
    assert "contributions_paid;;count;Contributi pagati;;Numero;12" in csv_text
    assert "Amount (euro cents),1234567" in exports.to_csv(REPORT, "en").decode()
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(REPORT))).active
    assert ["Importo (centesimi di euro)", 1234567] in [[r[5], r[6]] for r in sheet.iter_rows(values_only=True)]


def test_a_citys_row_of_the_national_aggregate_reads_in_the_reports_order() -> None:
    """The PDF's "Per città" read "Adulti, Età non nota, Casi aperti, Nuclei, Minori, Pagato, Pagamenti, Persone,
    Inserimenti avviati" (code order): persons first, as in the JSON, however the body's keys are sorted."""
    from lgnet_reporting.domain.national import BY_CITY_FIELDS

    row = {f: 7 for f in sorted(BY_CITY_FIELDS)}
    national = {**REPORT, "report": "national", "scope": "national", "method": 4, "by_city": {"torino": row}}
    assert [r.measure for r in exports.rows(national) if r.indicator == "by_city"] == list(BY_CITY_FIELDS)


def test_the_pdfs_tables_are_not_painted_in_the_bar_charts_colour() -> None:
    """The council's PDF had every table cell filled in the bars' dark blue, the figures in dark ink on it: the
    charts left their fill colour set, and fpdf2's tables take the current fill colour for their cells. The tables'
    cells are outlined on white paper ("re S"), never filled ("re B")."""
    import zlib

    pdf = exports.to_pdf(REPORT)
    pages = [zlib.decompress(s) for s in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S) if s[:1] == b"x"]
    content = b"\n".join(pages)
    assert b" re f" in content, "no bar drawn: the report should have a chart"  # the bars are filled
    assert b" re S" in content and b" re B" not in content


def test_the_pdfs_title_page_names_the_date_or_the_period_as_a_reader_says_it() -> None:
    """The title page read "Periodo: Alla data 5 dicembre 2026" (a phrase's capital in its middle): a report as of a
    date says so, a period's report gives its period."""
    from pypdf import PdfReader

    def first_page(report: dict[str, Any], lang: str = "it") -> str:
        return PdfReader(io.BytesIO(exports.to_pdf(report, lang))).pages[0].extract_text() or ""

    report = {**_city_report_with_nobody_taken_in_charge(), "as_of": "2026-06-30", "period_from": None}
    assert "Alla data: 30 giugno 2026" in first_page(report)
    assert "As of: 30 June 2026" in first_page(report, "en")
    text = first_page({**report, "period_from": "2026-04-01"})
    assert "Periodo: 1 aprile 2026 \u2013 30 giugno 2026" in text and "Alla data" not in text


def test_whole_numbers_read_alike_in_the_csv_the_xlsx_and_the_pdf() -> None:
    """The tester's CSV wrote the median and the street units' hours as `267.0` and `1248.0` (the JSON's floats as
    Python prints them), the XLSX's cell read 267 but was formatted `#,##0.0` (267.0 on screen), the PDF and the
    dashboard 267. A whole number is written whole in every format; a fraction keeps its decimals."""
    report = {
        **REPORT,
        "method": 3,
        "indicators": {
            "persons": {"total": 4, "minors": 1, "adults": 3, "age_unknown": 0},
            "days_to_placement": {"placements": 9, "median": 267.0},
            "outreach": {"outings": 300, "outing_hours": 1248.0, "first_contacts": 8, "taken_in_charge": 2,
                         "taken_in_charge_share": 0.25, "days_to_taking_in_charge_median": 15.5},
        },
    }  # fmt: skip
    lines = exports.to_csv(report).decode().splitlines()

    def last(code: str) -> str:
        return next(line.rsplit(";", 1)[1] for line in lines if f";{code};" in line)

    assert (last("median"), last("outing_hours")) == ("267", "1248"), lines  # an Italian decimal has a comma
    assert (last("days_to_taking_in_charge_median"), last("taken_in_charge_share")) == ("15,5", "0,25")
    assert not any(line.endswith(".0") for line in lines), lines

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(exports.to_xlsx(report))).active
    cells = {row[2].value: row[6] for row in sheet.iter_rows() if row[2].value}
    assert (cells["median"].value, cells["median"].number_format) == (267, "#,##0")
    assert (cells["outing_hours"].value, cells["outing_hours"].number_format) == (1248, "#,##0")
    median = cells["days_to_taking_in_charge_median"]
    assert (median.value, median.number_format) == (15.5, "#,##0.0")

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(exports.to_pdf(report))).pages
    text = "".join("".join((page.extract_text() or "").split()) for page in pages)
    assert "Mediana(giorni)267" in text and "267,0" not in text and "1.248,0" not in text, text


def _street_report(share: float | None) -> dict[str, Any]:
    return {
        **REPORT,
        "method": 3,
        "indicators": {
            "persons": {"total": 4, "minors": 1, "adults": 3, "age_unknown": 0},
            "outreach": {"first_contacts": 3, "taken_in_charge": 2, "taken_in_charge_share": share,
                         "days_to_taking_in_charge_median": 15.0},
        },
    }  # fmt: skip


@pytest.mark.parametrize(("share", "pdf"), [(0.6667, "66,7%"), (1.0, "100,0%"), (0.0, "0,0%")])
def test_a_share_reads_as_the_pdfs_percentage_in_the_xlsx_and_names_its_unit_in_the_data_files(
    share: float, pdf: str
) -> None:
    """A reviewer's XLSX showed the street units' share taken in charge as 0,7 (the fraction 0.6667 formatted as a
    number with one decimal) where the PDF says 66,7 %. The XLSX cell is the same number formatted as a percentage
    (Excel and LibreOffice show 66,7 %, formulas still read 0.6667; a whole 1 or 0 too, not "1" and "0"); the CSV,
    which has no format, keeps the fraction and its label says so, as the XLSX's does. The document is unchanged."""
    from lgnet_reporting.domain.canonical import digest
    from openpyxl import load_workbook
    from pypdf import PdfReader

    report = _street_report(share)
    before = digest(report)
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(report))).active
    cells = {row[2].value: row for row in sheet.iter_rows() if row[2].value}
    value = cells["taken_in_charge_share"][6]
    # As the PDF: a (non-breaking) space before % in Italian (it read "66,7%"), none in English; a number still
    assert (value.value, value.number_format) == (share, '#,##0.0"\u00a0"%'), value.number_format
    english = load_workbook(io.BytesIO(exports.to_xlsx(report, "en"))).active
    shares = [row[6] for row in english.iter_rows() if row[2].value == "taken_in_charge_share"]
    assert [(c.value, c.number_format) for c in shares] == [(share, "#,##0.0%")]
    assert cells["taken_in_charge_share"][5].value == "Quota presa in carico (frazione: 1 = 100 %)"
    assert cells["taken_in_charge"][6].number_format == "#,##0"  # a count stays a count
    text = "".join(
        "".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(exports.to_pdf(report))).pages
    )
    assert f"Quotapresaincarico{pdf}" in text, text
    line = next(x for x in exports.to_csv(report).decode().splitlines() if ";taken_in_charge_share;" in x)
    it_share = f"{share:g}".replace(".", ",")  # an Italian decimal has a comma
    assert line.endswith(f";Unità di strada;;Quota presa in carico (frazione: 1 = 100 %);{it_share}"), line
    english = exports.to_csv(report, "en").decode()
    assert f"Share taken in charge (fraction: 1 = 100%),{share:g}" in english
    assert digest(report) == before and report == _street_report(share)


def test_a_hidden_share_reads_suppressed_in_the_xlsx_not_a_percentage() -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(exports.to_xlsx(_street_report(None)))).active
    cells = {row[2].value: row[6] for row in sheet.iter_rows() if row[2].value}
    assert (cells["taken_in_charge_share"].value, cells["taken_in_charge_share"].number_format) == (
        "soppresso",
        "General",
    )


def _pdf_text(report: dict[str, Any], lang: str = "it") -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(exports.to_pdf(report, lang))).pages)


def test_the_pdf_explains_only_the_empty_cells_it_shows() -> None:
    """A city's PDF explained "soppresso" (and the threshold's policy) though a city's report hides nothing: the notes
    under the headline figures explain the words a reader meets in the document, no other."""
    figures = {"persons": {"total": 12, "minors": 4, "adults": 8, "age_unknown": 0}}
    city = {**REPORT, "indicators": figures}
    text = _pdf_text(city)
    assert "soppresso:" not in text.lower() and "n.d.:" not in text, text
    assert "suppressed:" not in _pdf_text(city, "en").lower()
    national = {**city, "report": "national", "scope": "national", "suppression": {"threshold": 5}}
    assert "soppresso:" in _pdf_text(national).lower()  # the national report says its policy, hidden cells or not
    hidden = {**city, "indicators": {**figures, "persons_by_vulnerability": {"single_parent": None}}}
    assert "soppresso:" in _pdf_text(hidden).lower()
    undefined = {**city, "indicators": {**figures, "days_to_placement": {"placements": 0, "median": None}},
                 "no_data": ["indicators.days_to_placement.median"]}  # fmt: skip
    text = _pdf_text(undefined)
    assert "n.d.:" in text and "soppresso:" not in text.lower(), text


def test_the_log_positions_say_they_name_the_first_record_not_counted() -> None:
    """The PDF listed "0:12, 1:7" under "Calcolato dal registro eventi fino alle posizioni": an auditor could not
    tell whether offset 12 was counted. Positions are the next offset to read (docs/reporting.md): the line says so."""
    from lgnet_reporting.adapters.pdf_document import provenance

    report = {**REPORT, "digest": "ab" * 32, "positions": {"lgnet.intake.events": {"0": 12}}}
    italian = " ".join(provenance(report, "it"))
    assert "primo record non compreso" in italian, italian
    assert "first record not included" in " ".join(provenance(report, "en"))


def test_a_periods_data_files_give_its_start_before_its_end() -> None:
    """The CSV's head read "# Alla data" then "# Dal": a period is read from its start."""
    head = [line for line in exports.to_csv(REPORT).decode().lstrip("\ufeff").splitlines() if line.startswith("# ")]
    assert [line.split(";")[0] for line in head[2:4]] == ["# Dal", "# Alla data"], head


def _as_excel_reads(data: bytes, lang: str) -> list[list[str]]:
    """What a spreadsheet opening the file by double-click gets: the encoding told by a UTF-8 byte order mark (without
    it Excel reads the bytes as Windows-1252: "EtÃ "), then cells split by the locale's list separator (";" in an
    Italian Excel, "," in an English one)."""
    import csv

    assert data.startswith(b"\xef\xbb\xbf"), data[:20]
    text = data[3:].decode("utf-8")
    return list(csv.reader(io.StringIO(text), delimiter=";" if lang == "it" else ","))


def test_the_csv_opens_in_columns_with_its_accents_in_an_italian_and_an_english_excel() -> None:
    """The reporting officer's Italian Excel showed the Italian CSV in one column, "Età" garbled: the file had no
    BOM and "," separators (Italian Excel splits on ";", its decimal separator being ","). A decimal reads with a
    comma in Italian (`0,6667`: Italian Excel took `15.5` for 15 May)."""
    report = {**REPORT, "indicators": {**REPORT["indicators"], "outreach": {"taken_in_charge_share": 0.6667}}}
    italian = _as_excel_reads(exports.to_csv(report), "it")
    row = next(r for r in italian if r[:3] == ["persons_by_vulnerability", "psychiatric_condition", ""])
    assert row == ["persons_by_vulnerability", "psychiatric_condition", "", "Persone per vulnerabilità",
                   "Disagio psichiatrico", "", "3"]  # fmt: skip
    assert next(r for r in italian if r[2:3] == ["taken_in_charge_share"])[-1] == "0,6667"
    assert next(r for r in italian if r[0] == "# Alla data") == ["# Alla data", "2026-06-30"]
    english = _as_excel_reads(exports.to_csv(report, "en"), "en")
    assert next(r for r in english if r[1:2] == ["psychiatric_condition"])[3:] == [
        "Persons by vulnerability", "Psychiatric condition", "", "3"]  # fmt: skip
    assert next(r for r in english if r[2:3] == ["taken_in_charge_share"])[-1] == "0.6667"
    from lgnet_reporting.domain import fund

    fund_it = _as_excel_reads(exports.fund_csv(REPORT, fund.figures(REPORT, "it"), "it"), "it")
    assert all(len(r) == 8 for r in fund_it if not r[0].startswith("# ")), fund_it[:12]
    fund_en = _as_excel_reads(exports.fund_csv(REPORT, fund.figures(REPORT, "en"), "en"), "en")
    assert all(len(r) == 8 for r in fund_en if not r[0].startswith("# ")), fund_en[:12]
