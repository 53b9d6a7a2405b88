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


async def test_the_national_scope_is_named_once(browser: Browser) -> None:
    """It read "Aggregato nazionale · Aggregato nazionale · 31 gennaio 2026": the report's name, then again for its
    scope (the files say "Nazionale")."""
    report: dict[str, Any] = {
        "report": "national", "scope": "national", "as_of": "2026-01-31", "period_from": None,
        "digest": "a" * 64, "anchor": None, "no_data": [], "by_city": {"torino": {"persons": 9}},
        "indicators": {"persons": {"total": 9, "minors": 0, "adults": 9}, "households": {"total": 3},
                       "cases": {"opened": 3}, "placements": {"started": 0}, "persons_by_action_area": {},
                       "persons_by_vulnerability": {}, "monthly": []}}  # fmt: skip
    answers = {"labels": labels.catalogue("it"), "national": report, "fund": {"figures": []}}

    asked: list[str] = []

    async def answer(route: Any) -> None:
        url = route.request.url
        asked.append(url.split("dashboard.test", 1)[1])
        if url.endswith("/me"):  # the national role: the page asks no city's report, nor the statement
            await route.fulfill(status=200, json={"actor_id": "coordination", "role": "national", "city": None})
        elif "/reports/" not in url:
            await route.fulfill(status=200, content_type="text/html", body=PAGE)
        elif "financial_statement" in url:
            await route.fulfill(status=403, json={"reason": "staff only"})
        else:
            key = "labels" if "/labels" in url else "fund" if "/fund" in url else "national"
            await route.fulfill(status=200, json=answers[key])

    page = await browser.new_page()
    await page.route("**/*", answer)
    await page.goto("http://dashboard.test/dashboard#report=national&token=t&as_of=2026-01-31")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    assert await page.inner_text("#meta") == f"Aggregato nazionale · Nazionale · 31 gennaio 2026 · impronta {'a' * 12}"
    assert not [u for u in asked if "financial_statement" in u or "city_summary" in u], asked
