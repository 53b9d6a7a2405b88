"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright): the page loads, the charts
render as SVG, every number it shows equals the JSON API's, it reads in Italian by default (English on request),
and axe-core finds no serious or critical accessibility violation. LGNET_WRITE_SCREENSHOTS=1 refreshes the
screenshots in docs/reporting/."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # ships no types
from lgnet_shared import clock
from lgnet_shared.testing import HTTP_TIMEOUT_S
from playwright.async_api import Browser

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

# `browser`: the testing plugin's shared Chromium. One loaded reporting for the module (`loaded_shared`): every test
# only reads it (the pages, the API, the exports), none sends a fact or publishes.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]


async def _api(rt: ReportingUnderTest, actor: str, path: str) -> dict[str, Any]:
    async with rt.client(actor) as c:
        r = await c.get(path, params={"as_of": "2026-06-30"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _bars(page: Any, chart: str) -> dict[str, str]:
    rects = await page.query_selector_all(f"#{chart} svg rect.bar")
    return {await r.get_attribute("data-label"): await r.get_attribute("data-value") for r in rects}


async def test_dashboard_shows_the_api_numbers(loaded_shared: ReportingUnderTest, browser: Browser) -> None:
    city = await _api(loaded_shared, "staff-torino", "/reports/city_summary")
    national = await _api(loaded_shared, "staff-torino", "/reports/national")
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    token = loaded_shared.tokens["staff-torino"]
    await page.goto(f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)

    ind = city["indicators"]
    for key, value in (
        ("persons", ind["persons"]["total"]),
        ("minors", ind["persons"]["minors"]),
        ("adults", ind["persons"]["adults"]),
        ("households", ind["households"]["total"]),
        ("cases_opened", ind["cases"]["opened"]),
        ("placements", ind["placements"]["started"]),
    ):
        assert await page.inner_text(f"#kpi-{key}") == str(value)
    assert await page.inner_text("#kpi-persons") == "7"
    # Charts: SVG drawn client-side, one bar/point per category, values equal to the API's.
    assert await _bars(page, "chart-area") == {k: str(v) for k, v in ind["persons_by_action_area"].items()}
    expected_cities = {
        c: "soppresso" if r["persons"] is None else str(r["persons"]) for c, r in national["by_city"].items()
    }
    assert (
        await _bars(page, "chart-city")
        == expected_cities
        == {"bologna": "soppresso", "torino": "soppresso", "trieste": "soppresso"}  # method 7: Bologna knows its 1
    )
    # Italian by default: the page's language, labels from the vocabulary, the fund and the financial statement.
    assert await page.get_attribute("html", "lang") == "it"
    assert "Persone" in await page.inner_text("#btn-persons")
    assert "Partecipanti sostenuti" in await page.inner_text("#fund")
    assert "100.000,00" in await page.inner_text("#money")  # BL1's budget, Italian format
    # Grouped as the exports and the desk write it (Babel: "1.200,00 €"), not as Chromium's Italian default ("1200,00").
    assert "1.200,00\xa0€" in await page.inner_text("#money")  # BL2's paid
    # Drill-down from a figure to its definition and the pseudonymous ids behind it.
    await page.click("#btn-persons")
    await page.wait_for_selector("#behind", timeout=10000)
    assert "Persone distinte" in await page.inner_text("#definition")
    assert "7" in await page.inner_text("#behind")
    dots = await page.query_selector_all("#chart-time svg circle.dot")
    shown = [(await d.get_attribute("data-label"), await d.get_attribute("data-value")) for d in dots]
    assert shown == [(m["month"], str(m["cases_opened"])) for m in ind["monthly"]]
    assert await page.query_selector("#chart-time svg polyline.line") is not None
    assert city["digest"][:12] in await page.inner_text("#meta")
    # Nobody met by the street units was taken in charge: the medians have no data ("n.d."), they are not hidden.
    assert "indicators.outreach.days_to_taking_in_charge_median" in city["no_data"]
    assert await _medians(page) == ["n.d."] * len(ind["outreach_monthly"]) != []
    # Trieste and Bologna have no payments fact (no payments service of theirs): their money is "n.d.", not 0,00 €.
    assert national["payments_not_reported"] == ["bologna", "trieste"]
    cells = [[await c.inner_text() for c in await row.query_selector_all("td, th")]
             for row in await page.query_selector_all("#compare tbody tr")]  # fmt: skip
    paid = {row[0]: row[-1] for row in cells}
    assert paid["Trieste"] == paid["Bologna"] == "n.d." and paid["Torino"] != "n.d.", paid
    assert errors == []


async def _medians(page: Any) -> list[str]:
    """The street units' table's last column (days to taking in charge, median), one cell per month."""
    return [await c.inner_text() for c in await page.query_selector_all("#outreach tbody tr td:last-child")]


def _console_errors(page: Any) -> list[str]:
    """The page's console errors as they come (a refused request is one: "Failed to load resource: … 403")."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


async def test_national_role_gets_the_suppressed_aggregate(loaded_shared: ReportingUnderTest, browser: Browser) -> None:
    """The page asks who calls first (`GET /me`) and then only what the national role may read: it asked for the
    city's report and the financial statement, and the browser's console showed their two 403s."""
    national = await _api(loaded_shared, "coordination", "/reports/national")
    page = await browser.new_page()
    errors = _console_errors(page)
    token = loaded_shared.tokens["coordination"]
    await page.goto(f"{loaded_shared.process.url}/dashboard#token={token}&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    assert errors == []
    assert await page.inner_text("#kpi-persons") == str(national["indicators"]["persons"]["total"]) == "10"
    assert await page.inner_text("#kpi-placements") == "soppresso"
    assert await _medians(page) == ["n.d."] * len(national["indicators"]["outreach_monthly"])  # not "soppresso"
    assert "Solo il personale" in await page.inner_text("#money")  # the national role has no statement
    bars = await _bars(page, "chart-area")
    assert bars == {
        k: "soppresso" if v is None else str(v) for k, v in national["indicators"]["persons_by_action_area"].items()
    }


async def test_the_auditor_reads_any_citys_report_and_statement_without_drilling_down(
    loaded_shared: ReportingUnderTest, browser: Browser
) -> None:
    """The auditor (read-only, every city): the national aggregate until it names a city, then that city's report and
    its financial statement; a figure shows its definition, never the ids behind it. No request refused."""
    city = await _api(loaded_shared, "staff-torino", "/reports/city_summary")
    page = await browser.new_page()
    errors = _console_errors(page)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    token = loaded_shared.tokens["audit-office"]
    await page.goto(f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)  # no city of its own
    assert await page.inner_text("#money") == "Il rendiconto è di una città: sceglierne una."
    # The city's report asked without a city: said at the field (it showed the national aggregate again, unexplained)
    await page.select_option("#report", "city_summary")
    await page.click("#show")
    await page.wait_for_selector("#error:not(:empty)", timeout=10000)
    assert await page.inner_text("#error") == "Scegliere una città per il rapporto della città."
    assert await page.get_attribute("#city", "aria-invalid") == "true"
    await page.select_option("#city", "torino")
    # Picking a city asks for its report (it stayed on "Aggregato nazionale": the national aggregate again)
    assert await page.input_value("#report") == "city_summary"
    await page.click("#show")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    assert await page.inner_text("#kpi-persons") == str(city["indicators"]["persons"]["total"])
    assert "Torino" in await page.inner_text("#meta") and await page.query_selector("#money table")
    await page.click("#btn-persons")
    await page.wait_for_selector("#definition")
    assert await page.query_selector("#behind") is None
    assert errors == [] and not [u for u in asked if "drilldown" in u], (errors, asked)


async def test_a_partner_is_offered_only_its_own_city(loaded_shared: ReportingUnderTest, browser: Browser) -> None:
    """The city chooser offered a partner (and a city's staff) every city of the aggregate, and choosing another ended
    in the service's 403 shown as an error. It offers the reader's own city only: a link naming another city opens
    the partner's own report, with no refused request, and axe finds no serious violation."""
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = _console_errors(page)
    token = loaded_shared.tokens["coop-aurora"]  # partner of Torino
    await page.goto(
        f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&city=trieste&as_of=2026-06-30"
    )
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    offered = await page.eval_on_selector_all("#city option", "os => os.map((o) => [o.value, o.textContent])")
    assert offered == [["torino", "Torino"]], offered
    assert "Torino" in await page.inner_text("#meta") and await page.inner_text("#error") == ""
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["impact"], v["help"]) for v in bad]
    assert errors == []


@pytest.mark.parametrize("lang", ["it", "en"])
async def test_the_summary_names_the_cities_its_totals_leave_out(
    loaded_shared: ReportingUnderTest, browser: Browser, lang: str
) -> None:
    """Bologna runs neither payments nor housing on LgNet, Trieste no payments: the national key figures and the
    fund's totals are those of the cities that report, and the page said so nowhere but in the comparison table's
    "n.d." cells. The key figures name the cities each total leaves out, in the page's language; Bologna's
    placements read "n.d." in the comparison; the fund's contributions of Trieste's own report read "n.d." (they read
    "soppresso", a hidden value, though a city's report hides nothing); and axe finds no serious violation."""
    national = await _api(loaded_shared, "coordination", "/reports/national")
    assert (national["payments_not_reported"], national["housing_not_reported"]) == (
        ["bologna", "trieste"],
        ["bologna"],
    )
    words = {"it": ("Pagamenti non rilevati (non compresi nel totale): Bologna, Trieste",
                    "Alloggi non rilevati (non compresi nel totale): Bologna", "n.d."),
             "en": ("Payments not reported (not in the total): Bologna, Trieste",
                    "Housing not reported (not in the total): Bologna", "n/a")}[lang]  # fmt: skip
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    await page.goto(
        f"{loaded_shared.process.url}/dashboard#token={loaded_shared.tokens['coordination']}&as_of=2026-06-30&lang={lang}"
    )
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    summary = await page.inner_text("#not-reported")
    assert words[0] in summary and words[1] in summary, summary
    cells = [[await c.inner_text() for c in await row.query_selector_all("td, th")]
             for row in await page.query_selector_all("#compare tbody tr")]  # fmt: skip
    placements = {row[0]: row[-2] for row in cells}
    assert placements["Bologna"] == words[2] != placements["Torino"], placements
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["impact"], v["help"]) for v in bad]
    await page.close()
    page = await browser.new_page()
    await page.goto(
        f"{loaded_shared.process.url}/dashboard#token={loaded_shared.tokens['staff-trieste']}&report=city_summary&as_of=2026-06-30"
        f"&lang={lang}"
    )
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    fund = {row[0]: row[-1] for row in [[await c.inner_text() for c in await r.query_selector_all("th, td")]
                                        for r in await page.query_selector_all("#fund tbody tr")]}  # fmt: skip
    assert fund["FAMI.contributi_erogati"] == words[2], fund
    assert words[0].split(" (")[0] + ": Trieste" in await page.inner_text("#not-reported")
    # Trieste's financial statement: its payments are not on LgNet (it read an empty table of a budget of nothing).
    assert await page.inner_text("#money") == words[0].split(" (")[0] + ": Trieste"


async def _row_labels(page: Any, chart: str) -> dict[str, str]:
    """Each bar's category as the chart writes it beside the bar (its lines joined), by code."""
    texts = await page.query_selector_all(f"#{chart} svg text.category")
    return {
        await t.get_attribute("data-label"): await t.evaluate(
            "t => [...t.querySelectorAll('tspan')].map((s) => s.textContent).join(' ')"
        )
        for t in texts
    }


@pytest.mark.parametrize("lang", ["it", "en"])
async def test_every_category_is_named_in_full_beside_its_bar(
    loaded_shared: ReportingUnderTest, browser: Browser, lang: str
) -> None:
    """Long names ('Vittima di violenza o tortura') are wrapped within the chart's margin, never cut."""
    city = await _api(loaded_shared, "staff-torino", "/reports/city_summary")
    async with loaded_shared.client("staff-torino") as c:
        labels = (await c.get("/reports/labels", params={"lang": lang})).json()["categories"]
    page = await browser.new_page()
    token = loaded_shared.tokens["staff-torino"]
    await page.goto(
        f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30&lang={lang}"
    )
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    names: list[str] = []
    for chart, table in (("chart-vuln", "persons_by_vulnerability"), ("chart-area", "persons_by_action_area")):
        codes = city["indicators"][table]
        shown = await _row_labels(page, chart)
        assert shown == {code: labels[table].get(code, code) for code in codes}, (chart, lang)
        names += shown.values()
    assert any(len(name) > 24 for name in names)  # at least one did not fit on one line
    # Each line stays left of the bars (they start 150 px in).
    widths = await page.eval_on_selector_all(
        "svg text.category tspan", "spans => spans.map((s) => s.getComputedTextLength())"
    )
    assert widths and max(widths) < 146


async def test_a_bad_token_shows_an_error(reporting: ReportingUnderTest, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{reporting.process.url}/dashboard#token=nope")
    await page.wait_for_selector("#error:not(:empty)", timeout=20000)  # no eval: the CSP forbids it
    shown = await page.inner_text("#error")
    # In the page's language: it read "401 " and the service's English reason.
    assert "401" in shown and "Token di accesso non valido o scaduto" in shown, shown
    assert await page.query_selector_all("svg rect.bar") == []


async def test_a_date_still_to_come_is_refused_at_its_field_and_today_is_not(
    loaded_shared: ReportingUnderTest, browser: Browser
) -> None:
    """The service refuses a report as of a date still to come; the page says so at the field before asking (Italy's
    today, as the service's), and takes today."""
    token = loaded_shared.tokens["staff-torino"]
    page = await browser.new_page()
    await page.goto(f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    today = clock.today()
    for day, refused in ((today + timedelta(days=1), True), (today, False)):
        await page.evaluate("document.body.removeAttribute('data-loaded')")
        await page.fill("#as_of", day.strftime("%d/%m/%Y"))
        await page.click("#show")
        await page.wait_for_selector("body[data-loaded], #error:not(:empty)", timeout=20000)
        shown = await page.inner_text("#error")
        assert (shown == "«Al»: non può essere successiva a oggi") is refused, shown
        assert (await page.get_attribute("#as_of", "aria-invalid") == "true") is refused


async def test_a_period_that_ends_before_it_starts_is_said_in_the_readers_language(
    loaded_shared: ReportingUnderTest, browser: Browser
) -> None:
    """ "Dal" 1 July, "Al" 30 June: the page read "Impossibile caricare il rapporto: 422 must not be after
    2026-06-30", the service's English reason on an Italian page. Said in the page's language, at the field."""
    token = loaded_shared.tokens["staff-torino"]
    for lang, expected in (("it", "La data «Dal» non può essere successiva alla data «Al»"),
                           ("en", "The “From” date cannot be after the “To” date")):  # fmt: skip
        page = await browser.new_page()
        await page.goto(
            f"{loaded_shared.process.url}/dashboard#token={token}&as_of=2026-06-30&from=2026-07-01&lang={lang}"
        )
        await page.wait_for_selector("#error:not(:empty)", timeout=20000)  # no eval: the CSP forbids it
        shown = await page.inner_text("#error")
        assert expected in shown and "must not" not in shown, shown
        assert await page.get_attribute("#from", "aria-invalid") == "true"


async def test_the_page_cannot_be_framed_runs_only_its_own_script_and_drops_the_token_from_the_address(
    loaded_shared: ReportingUnderTest, browser: Browser
) -> None:
    """The page that holds a staff or national bearer token was served with no security header at all (only
    Cache-Control): any site could frame it (clickjacking), any injected script would have run, and the token given
    as `#token=` (as `make up` prints the link) stayed in the address bar and the browser's history. It now carries
    the desk's headers: a CSP running only the page's own script (by its hash) and framed by no one, nosniff, no
    referrer; and the script takes the token out of the address once read."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as c:
        r = await c.get(f"{loaded_shared.process.url}/dashboard")
    csp = r.headers.get("content-security-policy", "")
    script = r.text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0], csp
    assert r.headers.get("x-content-type-options") == "nosniff" and r.headers.get("referrer-policy") == "no-referrer"
    page = await browser.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    token = loaded_shared.tokens["staff-torino"]
    await page.goto(f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    assert token not in page.url and "report=city_summary" in page.url, page.url
    assert violations == []


SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "reporting"


async def test_no_serious_or_critical_accessibility_violation(
    loaded_shared: ReportingUnderTest, browser: Browser
) -> None:
    """axe-core (the engine bundled by axe-playwright-python) over the city's view, the national view, English and the
    auditor's view of a city (its report and statement)."""
    views = {
        "dashboard-citta": ("staff-torino", "report=city_summary&from=2026-01-01&as_of=2026-06-30", "city_summary"),
        "dashboard-nazionale": ("coordination", "as_of=2026-06-30", "national"),
        "dashboard-english": ("staff-torino", "report=city_summary&as_of=2026-06-30&lang=en", "city_summary"),
        "dashboard-revisore": ("audit-office", "report=city_summary&city=torino&as_of=2026-06-30", "city_summary"),
    }
    for name, (actor, fragment, loaded_as) in views.items():
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        await page.goto(f"{loaded_shared.process.url}/dashboard#token={loaded_shared.tokens[actor]}&{fragment}")
        await page.wait_for_selector(f"body[data-loaded='{loaded_as}']", timeout=20000)
        results = await Axe().run(page)
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], (name, [(v["id"], v["impact"], v["help"]) for v in bad])
        if name == "dashboard-english":
            assert await page.get_attribute("html", "lang") == "en"
            assert "Persons" in await page.inner_text("#btn-persons")
            assert await page.get_attribute("#controls", "aria-label") == "Choice of report"  # it stayed Italian
        if os.environ.get("LGNET_WRITE_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        await page.close()


@pytest.mark.parametrize("lang", ["it", "en"])
async def test_days_and_months_are_written_as_the_exports_write_them(
    loaded_shared: ReportingUnderTest, browser: Browser, lang: str
) -> None:
    """The report's period, the cases' axis and the street units' months in the reader's language, as the CSV, XLSX
    and PDF write them (Babel: '1 gennaio 2026', 'gen 2026'), not as ISO codes ('2026-01-01', '2026-01')."""
    from lgnet_reporting.domain import labels

    async with loaded_shared.client("staff-torino") as c:
        city = (await c.get("/reports/city_summary", params={"from": "2026-01-01", "to": "2026-06-30"})).json()
    page = await browser.new_page()
    token = loaded_shared.tokens["staff-torino"]
    fragment = f"token={token}&report=city_summary&from=2026-01-01&as_of=2026-06-30&lang={lang}"
    await page.goto(f"{loaded_shared.process.url}/dashboard#{fragment}")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    assert city["period_from"] == "2026-01-01"
    period = f"{labels.day('2026-01-01', lang)} \u2013 {labels.day('2026-06-30', lang)}"
    assert period in await page.inner_text("#meta")
    months = [m["month"] for m in city["indicators"]["outreach_monthly"]]
    shown = [await c.inner_text() for c in await page.query_selector_all("#outreach tbody tr th:first-child")]
    assert shown == [labels.month(m, lang) for m in months] != []
    axis = [await t.text_content() for t in await page.query_selector_all("#chart-time svg > text")]  # the months
    ends = [m["month"] for m in city["indicators"]["monthly"]]
    assert axis == [labels.month(ends[0], lang), labels.month(ends[-1], lang)]


async def _cells(page: Any, selector: str) -> list[list[str]]:
    """A table's body as a reader of it gets it: each row's header and data cells, in order."""
    return [[await c.inner_text() for c in await row.query_selector_all("th, td")]
            for row in await page.query_selector_all(f"{selector} tbody tr")]  # fmt: skip


@pytest.mark.parametrize("lang", ["it", "en"])
async def test_every_charts_figures_are_in_a_named_table_and_every_table_is_captioned_and_headed(
    loaded_shared: ReportingUnderTest, browser: Browser, lang: str
) -> None:
    """The national coordination's reporting officer: a screen reader got only each chart's title (`role="img"` hides
    its bars' values; the cases per month were in hover tooltips only), no table had a caption and the fund's table
    had no column headers. Each chart now has a "Mostra i dati" disclosure holding a table named as the chart (its
    caption), a row per category or month headed by it, the figures equal to the report's; every table has a caption
    and column headers with `scope`."""
    city = await _api(loaded_shared, "staff-torino", "/reports/city_summary")
    async with loaded_shared.client("staff-torino") as c:
        labels = (await c.get("/reports/labels", params={"lang": lang})).json()
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    token = loaded_shared.tokens["staff-torino"]
    await page.goto(
        f"{loaded_shared.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30&lang={lang}"
    )
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    ind = city["indicators"]
    show = {"it": "Mostra i dati", "en": "Show the data"}[lang]
    for chart in ("chart-area", "chart-vuln", "chart-time", "chart-city"):
        summary = page.locator(f"#{chart} details summary")
        assert await summary.inner_text() == show, chart
        await summary.click()
    for chart, name in (("chart-area", "persons_by_action_area"), ("chart-vuln", "persons_by_vulnerability")):
        title = labels["indicators"][name]["label"]
        assert await page.get_by_role("table", name=title, exact=True).count() == 1, (chart, title)
        expected = [[labels["categories"][name].get(k, k), str(v)] for k, v in ind[name].items()]
        assert await _cells(page, f"#{chart} table") == expected != [], chart
    months = await _cells(page, "#chart-time table")
    assert [m[1] for m in months] == [str(m["cases_opened"]) for m in ind["monthly"]] != []
    assert all(m[0] and not m[0][:4].isdigit() for m in months), months  # "gen 2026", as the axis writes it
    assert await page.get_by_role("table", name={"it": "Casi aperti per mese", "en": "Cases opened per month"}[lang],
                                  exact=True).count() == 1  # fmt: skip
    # Every table is named (its caption) and its header cells say what they head.
    captions = await page.eval_on_selector_all("table", "ts => ts.map((t) => t.caption && t.caption.textContent)")
    assert captions and all(captions), captions
    scopes = await page.eval_on_selector_all("thead th", "ths => ths.map((th) => th.scope)")
    assert scopes and set(scopes) == {"col"}, scopes
    fund_head = await page.eval_on_selector_all("#fund thead th", "ths => ths.map((th) => th.textContent)")
    assert fund_head == {"it": ["Codice", "Indicatore", "Valore"], "en": ["Code", "Indicator", "Value"]}[lang]
    assert await page.eval_on_selector_all("#fund tbody th", "ths => ths.map((th) => th.scope)") != []
    results = await Axe().run(page)  # with every chart's data shown
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["impact"], v["help"]) for v in bad]
    await page.close()
