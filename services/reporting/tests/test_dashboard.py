"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright): the page loads, the charts
render as SVG, and every number it shows equals the JSON API's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Browser, async_playwright

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def chromium() -> str:
    assert CHROMIUM.exists(), "Chromium missing: run `python deploy/local/browser.py ensure` (make test does)"
    return str(CHROMIUM)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def _api(rt: ReportingUnderTest, actor: str, path: str) -> dict[str, Any]:
    async with rt.client(actor) as c:
        r = await c.get(path, params={"as_of": "2026-06-30"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _bars(page: Any, chart: str) -> dict[str, str]:
    rects = await page.query_selector_all(f"#{chart} svg rect.bar")
    return {await r.get_attribute("data-label"): await r.get_attribute("data-value") for r in rects}


async def test_dashboard_shows_the_api_numbers(loaded: ReportingUnderTest, browser: Browser) -> None:
    city = await _api(loaded, "staff-torino", "/reports/city_summary")
    national = await _api(loaded, "staff-torino", "/reports/national")
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    token = loaded.tokens["staff-torino"]
    await page.goto(f"{loaded.process.url}/dashboard#token={token}&report=city_summary&as_of=2026-06-30")
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
        c: "suppressed" if r["persons"] is None else str(r["persons"]) for c, r in national["by_city"].items()
    }
    assert (
        await _bars(page, "chart-city")
        == expected_cities
        == {"bologna": "suppressed", "torino": "7", "trieste": "suppressed"}
    )
    dots = await page.query_selector_all("#chart-time svg circle.dot")
    shown = [(await d.get_attribute("data-label"), await d.get_attribute("data-value")) for d in dots]
    assert shown == [(m["month"], str(m["cases_opened"])) for m in ind["monthly"]]
    assert await page.query_selector("#chart-time svg polyline.line") is not None
    assert city["digest"][:12] in await page.inner_text("#meta")
    assert errors == []


async def test_national_role_gets_the_suppressed_aggregate(loaded: ReportingUnderTest, browser: Browser) -> None:
    national = await _api(loaded, "coordination", "/reports/national")
    page = await browser.new_page()
    token = loaded.tokens["coordination"]
    await page.goto(f"{loaded.process.url}/dashboard#token={token}&as_of=2026-06-30")
    await page.wait_for_selector("body[data-loaded='national']", timeout=20000)
    assert await page.inner_text("#kpi-persons") == str(national["indicators"]["persons"]["total"]) == "10"
    assert await page.inner_text("#kpi-placements") == "suppressed"
    bars = await _bars(page, "chart-area")
    assert bars == {
        k: "suppressed" if v is None else str(v) for k, v in national["indicators"]["persons_by_action_area"].items()
    }


async def test_a_bad_token_shows_an_error(reporting: ReportingUnderTest, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{reporting.process.url}/dashboard#token=nope")
    await page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=20000)
    assert "401" in await page.inner_text("#error")
    assert await page.query_selector_all("svg rect.bar") == []
