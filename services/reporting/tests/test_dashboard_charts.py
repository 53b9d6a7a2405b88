"""The dashboard's charts in headless Chromium, from the page alone (no service: the page is served by the browser's
router and its drawing functions called with a report's numbers): a suppressed month of the national aggregate is not
drawn as a zero, and the national scope reads "Nazionale", not the report's name twice."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from lgnet_reporting.domain import labels
from playwright.async_api import Browser

pytestmark = pytest.mark.integration  # `browser`: the testing plugin's shared Chromium

PROGRAMME = {"bologna": "Bologna", "torino": "Torino", "trieste": "Trieste"}  # GET /reports/labels: `cities`
PAGE = resources.files("lgnet_reporting.entrypoints").joinpath("static/dashboard.html").read_text()


async def _page(browser: Browser) -> Any:
    page = await browser.new_page()
    await page.route("**/*", lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE))
    await page.goto("http://dashboard.test/dashboard")
    await page.evaluate("L = {terms: {suppressed: 'soppresso'}}")
    return page


async def test_a_suppressed_month_is_a_grey_mark_not_a_zero(browser: Browser) -> None:
    page = await _page(browser)
    await page.evaluate(
        "lineChart('chart-time', 'Casi aperti per mese', [['2026-01', 16], ['2026-02', null], ['2026-03', 0]], month)"
    )
    dots = await page.eval_on_selector_all(
        "#chart-time circle",
        "ds => ds.map(d => [d.getAttribute('class'), d.getAttribute('data-value'), d.textContent])",
    )
    assert dots == [["dot", "16", "gen 2026: 16"], ["dot hidden-dot", "soppresso", "feb 2026: soppresso"],
                    ["dot", "0", "mar 2026: 0"]]  # fmt: skip
    # the line breaks at the hidden month: it never runs through it as if it were 0
    lines = await page.eval_on_selector_all("#chart-time polyline", "ls => ls.map(l => l.getAttribute('points'))")
    assert len(lines) == 2 and all(len(points.split()) == 1 for points in lines)
    # one month (a report as of 12 January) is named once under its mark, not at both ends of the axis
    await page.evaluate("lineChart('chart-time', 'Casi aperti per mese', [['2026-01', null]], month)")
    assert await page.eval_on_selector_all("#chart-time svg > text", "ts => ts.map(t => t.textContent)") == ["gen 2026"]


async def test_the_months_chart_has_a_value_axis(browser: Browser) -> None:
    """The line of cases opened per month had no value axis: a council member read its height from the hover's
    tooltip only. The axis names 0 and the highest month, where a line at that height marks it; a chart of hidden
    months alone has no axis (a "1" would be invented)."""
    page = await _page(browser)
    await page.evaluate(
        "lineChart('chart-time', 'Casi aperti per mese', [['2026-01', 1234], ['2026-02', null], ['2026-03', 7]], month)"
    )
    axis = await page.eval_on_selector_all("#chart-time g.axis text", "ts => ts.map(t => t.textContent)")
    assert axis == ["0", "1.234"], axis
    top = await page.eval_on_selector("#chart-time g.axis line.gridline", "l => l.getAttribute('y1')")
    highest = await page.eval_on_selector("#chart-time circle", "d => d.getAttribute('cy')")
    assert float(top) == float(highest)  # the line at the highest month's height
    await page.evaluate("lineChart('chart-time', 'Casi aperti per mese', [['2026-01', null]], month)")
    assert await page.eval_on_selector_all("#chart-time g.axis", "gs => gs.length") == 0


def _report(report: str, scope: str) -> dict[str, Any]:
    """A report with nobody in the action-area and vulnerability tables (as of a day before any case)."""
    return {
        "report": report, "scope": scope, "as_of": "2026-01-31", "period_from": None,
        "digest": "a" * 64, "anchor": None, "no_data": [], "by_city": {"torino": {"persons": 9}},
        "indicators": {"persons": {"total": 9, "minors": 0, "adults": 9}, "households": {"total": 3},
                       "cases": {"opened": 3}, "placements": {"started": 0}, "persons_by_action_area": {},
                       "persons_by_vulnerability": {}, "monthly": []}}  # fmt: skip


async def _served(
    browser: Browser,
    me: dict[str, Any],
    report: dict[str, Any],
    statement: int,
    asked: list[str],
    drilldown: int = 200,
    locale: str | None = None,
) -> Any:
    """The page served with the service's answers stubbed: who calls (`me`), the report (also as the national one),
    the financial statement answering `statement` (its status) with the service's English reason, and the drill-down
    answering `drilldown` (200: two pseudonymous ids); in a browser of `locale` when given."""
    national = {**report, "report": "national", "scope": "national"}

    async def answer(route: Any) -> None:
        url = route.request.url
        asked.append(url.split("dashboard.test", 1)[1])
        if url.endswith("/me"):
            await route.fulfill(status=200, json=me)
        elif "/reports/" not in url:
            await route.fulfill(status=200, content_type="text/html", body=PAGE)
        elif "/drilldown" in url:
            found = {"count": 2, "items": [{"person_id": "p-1"}, {"person_id": "p-2"}]}
            failed = {"reason": "the database is down"}
            await route.fulfill(status=drilldown, json=found if drilldown == 200 else failed)
        elif "financial_statement" in url:
            await route.fulfill(status=statement, json={"reason": "the database is not reachable"})
        elif "/labels" in url:
            lang = "en" if "lang=en" in url else "it"
            await route.fulfill(status=200, json={**labels.catalogue(lang), "cities": PROGRAMME})
        elif "/fund" in url:
            await route.fulfill(status=200, json={"figures": []})
        else:
            await route.fulfill(status=200, json=national if "/reports/national" in url else report)

    page = await (browser.new_page(locale=locale) if locale else browser.new_page())
    await page.route("**/*", answer)
    return page


async def _submitted(page: Any, asked: list[str]) -> None:
    """The form submitted again, once its answer is drawn or its refusal said."""
    asked.clear()
    await page.evaluate("document.body.removeAttribute('data-loaded'); document.getElementById('error').textContent=''")
    await page.click("#show")
    await page.wait_for_selector("body[data-loaded], #error:not(:empty)", timeout=20000)


async def test_dates_are_typed_day_first_whatever_the_browsers_language(browser: Browser) -> None:
    """The dates were the browser's own pickers: in an English browser the Italian page asked "mm/dd/yyyy", where
    "05/06/2026" is the 6th of May. They are text fields saying their format, day first, as the desk's."""
    asked: list[str] = []
    me = {"actor_id": "staff-torino", "role": "staff", "city": "torino"}
    page = await _served(browser, me, _report("city_summary", "torino"), 503, asked, locale="en-US")
    await page.goto("http://dashboard.test/dashboard#token=t&report=city_summary&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    assert await page.input_value("#as_of") == "30/06/2026"  # a link's ISO day, shown as typed
    assert "gg/mm/aaaa" in await page.inner_text("label[for='from']")
    await page.fill("#from", "5/6/2026")
    await _submitted(page, asked)
    reports = [u for u in asked if u.startswith("/reports/city_summary?")]
    assert reports and all("to=2026-06-30" in u and "from=2026-06-05" in u for u in reports), asked
    assert await page.input_value("#from") == "05/06/2026"


@pytest.mark.parametrize(
    ("lang", "said"),
    [("it", ("«Al»: questa data non esiste: controlli il giorno e il mese (gg/mm/aaaa)",
             "«Dal»: non è una data valida: la scriva come gg/mm/aaaa", "«Al»: non può essere successiva a oggi")),
     ("en", ("“To”: there is no such day: check the day and the month (dd/mm/yyyy)",
             "“From”: not a date: type it as dd/mm/yyyy", "“To”: cannot be after today"))],
)  # fmt: skip
async def test_a_date_that_is_no_day_is_said_at_its_field(
    browser: Browser, lang: str, said: tuple[str, str, str]
) -> None:
    """Typed dates are read by the page: a day the calendar has not, no date, a day still to come (the service
    refuses a report as of one) are said at their field in the page's language, and nothing is asked."""
    asked: list[str] = []
    me = {"actor_id": "staff-torino", "role": "staff", "city": "torino"}
    page = await _served(browser, me, _report("city_summary", "torino"), 503, asked)
    await page.goto(f"http://dashboard.test/dashboard#token=t&report=city_summary&lang={lang}")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    for field, typed, words in (("as_of", "31/02/2026", said[0]), ("from", "2026", said[1]),
                                ("as_of", "01/01/2999", said[2])):  # fmt: skip
        await page.fill("#from", "")
        await page.fill("#as_of", "")
        await page.fill(f"#{field}", typed)
        await _submitted(page, asked)
        assert await page.inner_text("#error") == words
        assert await page.get_attribute(f"#{field}", "aria-invalid") == "true"
        assert not [u for u in asked if "/reports/" in u], asked


async def test_the_national_scope_is_named_once(browser: Browser) -> None:
    """It read "Aggregato nazionale · Aggregato nazionale · 31 gennaio 2026": the report's name, then again for its
    scope (the files say "Nazionale")."""
    asked: list[str] = []
    me = {"actor_id": "coordination", "role": "national", "city": None}  # asks no city's report, nor the statement
    page = await _served(browser, me, _report("national", "national"), 403, asked)
    await page.goto("http://dashboard.test/dashboard#report=national&token=t&as_of=2026-01-31")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    assert await page.inner_text("#meta") == f"Aggregato nazionale · Nazionale · 31 gennaio 2026 · impronta {'a' * 12}"
    assert not [u for u in asked if "financial_statement" in u or "city_summary" in u], asked


@pytest.mark.parametrize(
    ("lang", "words"),
    [("it", ("Nessun dato per la data o il periodo scelti.", "Impossibile caricare il rendiconto: 503 Servizio non "
             "disponibile: riprovare più tardi")),
     ("en", ("No data for the chosen date or period.", "Could not load the financial statement: 503 Service "
             "unavailable: try again later"))],
)  # fmt: skip
async def test_empty_charts_and_a_failed_statement_are_said_in_the_readers_language(
    browser: Browser, lang: str, words: tuple[str, str]
) -> None:
    """As of a day before any case, the action-area and vulnerability charts were blank boxes under their titles; and
    a statement the service failed to give (503) read "Solo il personale della città e i revisori vedono il
    rendiconto." to the city's own staff, as if refused. Each says what happened, in the page's language."""
    me = {"actor_id": "staff-torino", "role": "staff", "city": "torino"}
    page = await _served(browser, me, _report("city_summary", "torino"), 503, [])
    await page.goto(f"http://dashboard.test/dashboard#report=city_summary&token=t&as_of=2026-01-31&lang={lang}")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    for chart in ("chart-area", "chart-vuln"):
        assert await page.inner_text(f"#{chart}") == words[0]
    assert await page.inner_text("#money") == words[1]


@pytest.mark.parametrize(("drilldown", "said"), [(200, "Identificativi pseudonimi dietro la cifra: 2 \u2013 p-1, p-2"),
                                                  (503, "Impossibile caricare gli identificativi dietro la cifra: 503 "
                                                        "Servizio non disponibile: riprovare più tardi")])  # fmt: skip
async def test_a_drill_down_the_service_fails_to_give_is_said(browser: Browser, drilldown: int, said: str) -> None:
    """A figure's drill-down is asked for the city's staff only (who may read it): one the service failed to give was
    dropped without a word, the staff member left to think there was nothing behind the figure."""
    me = {"actor_id": "staff-torino", "role": "staff", "city": "torino"}
    page = await _served(browser, me, _report("city_summary", "torino"), 200, [], drilldown=drilldown)
    await page.goto("http://dashboard.test/dashboard#report=city_summary&token=t&as_of=2026-01-31")
    await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
    await page.click("#btn-persons")
    await page.wait_for_selector("#behind", timeout=20000)
    assert await page.inner_text("#behind") == said


def _failing(outcome: str) -> Any:
    """Routes serving the page, and every call to the service failing: a gateway's 502 page, or no answer."""

    async def answer(route: Any) -> None:
        if route.request.url.split("dashboard.test", 1)[1].startswith("/dashboard"):
            await route.fulfill(status=200, content_type="text/html", body=PAGE)
        elif outcome == "abort":
            await route.abort()
        else:
            await route.fulfill(status=502, content_type="text/html", body="<html>Bad gateway</html>")

    return answer


async def test_a_service_that_fails_or_cannot_be_reached_is_said_in_the_readers_language(browser: Browser) -> None:
    """A gateway's HTML error page read "Impossibile caricare il rapporto: Unexpected token '<', \"<html>Bad\"... is
    not valid JSON", and an unreachable service "… Failed to fetch": the browser's English."""
    failed = "Impossibile caricare il rapporto: "
    for outcome, expected in (("502", failed + "502 Servizio non disponibile: riprovare più tardi"),
                              ("abort", failed + "servizio non raggiungibile")):  # fmt: skip
        page = await browser.new_page()
        await page.route("**/*", _failing(outcome))
        await page.goto("http://dashboard.test/dashboard#token=t&as_of=2026-01-31")
        await page.wait_for_selector("#error:not(:empty)", timeout=20000)
        assert await page.inner_text("#error") == expected
        await page.close()


async def test_the_anchoring_is_said_plainly_with_the_auditors_particulars_folded_beneath(browser: Browser) -> None:
    """The line under a published report read "Ancorato nel checkpoint firmato dal notaio: lgnet/… · dimensione
    dell'albero 212 · Radice (hash) …": jargon to a council member. Said plainly first; the checkpoint's particulars,
    which an auditor checks, folded beneath."""
    anchor = {"origin": "lgnet.test/facts", "tree_size": 212, "root_hash": "cm9vdA==", "report_id": "r-1"}
    me = {"actor_id": "staff-torino", "role": "staff", "city": "torino"}
    for lang in ("it", "en"):
        page = await _served(browser, me, {**_report("city_summary", "torino"), "anchor": anchor}, 503, [])
        await page.goto(f"http://dashboard.test/dashboard#report=city_summary&token=t&as_of=2026-01-31&lang={lang}")
        await page.wait_for_selector("body[data-loaded='city_summary']", timeout=20000)
        assert (await page.inner_text("#anchor")).startswith(labels.term("anchored_plain", lang))
        assert await page.inner_text("#anchor summary") == labels.term("audit_details", lang)
        assert await page.get_attribute("#anchor details", "open") is None  # folded
        folded = await page.eval_on_selector("#anchor details", "d => d.textContent")
        assert "lgnet.test/facts" in folded and "212" in folded and "cm9vdA==" in folded, folded
        await page.close()


async def test_the_auditor_is_offered_every_city_of_the_programme(browser: Browser) -> None:
    """The auditor's chooser listed the cities of the national aggregate only: a city of the programme with nothing
    reported yet could not be chosen, though its report (empty) is one an auditor checks. It lists the programme's
    cities on the cluster, as the labels name them (`GET /reports/labels`: `cities`)."""
    me = {"actor_id": "audit-office", "role": "auditor", "city": None}
    page = await _served(browser, me, _report("national", "national"), 200, [])  # the aggregate: Torino only
    await page.goto("http://dashboard.test/dashboard#token=t&as_of=2026-01-31")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    offered = await page.eval_on_selector_all("#city option", "os => os.map((o) => [o.value, o.textContent])")
    assert offered == [["", "(scegli una città)"], *[[c, n] for c, n in PROGRAMME.items()]], offered
