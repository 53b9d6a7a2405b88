"""A city that runs only some services (DESIGN.md, section 3: "a city may run all services or only some"): Trieste's
intake, housing and reporting on the shared broker and PostgreSQL, no payments (its contributions paid by its own
accounting). Nothing waits for the absent service, readiness says nothing is stuck, and the city's own report says its
payments are not reported instead of EUR 0 paid (docs/operators.md, "A city running only some services")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
import httpx
import pytest
from lgnet_scenario.platform import Endpoints
from lgnet_shared import actors
from lgnet_shared.access import Role

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
RUNS = ("intake", "housing", "reporting")  # no payments


@pytest.fixture(scope="module")
async def trieste(
    platform_starter: Callable[..., AbstractAsyncContextManager[Endpoints]], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Endpoints]:
    async with platform_starter(tmp_path_factory.mktemp("partial"), RUNS, city="trieste") as endpoints:
        yield endpoints


async def _staff_token(database_url: str, schema: str) -> str:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        await actors.add_actor(conn, "staff-trieste", Role.STAFF, "trieste", "Trieste staff")
        return await actors.issue_token(conn, "staff-trieste")
    finally:
        await conn.close()


async def test_a_city_without_payments_is_ready_and_reports_its_payments_as_not_reported(
    trieste: Endpoints, database_url: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        await asyncio.sleep(3)  # the consumers have joined and fetched: nothing of payments' to wait for
        for service, url in trieste.urls.items():
            ready = await http.get(f"{url}/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ok", (service, ready.text)
            metrics = (await http.get(f"{url}/metrics")).text
            stuck = [line for line in metrics.splitlines() if line.startswith("lgnet_consumer_stuck_seconds{")]
            assert all(line.endswith(" 0.0") for line in stuck), (service, stuck)
        token = await _staff_token(database_url, trieste.schemas["reporting"])
        r = await http.get(
            f"{trieste.urls['reporting']}/reports/city_summary", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["payments_not_reported"] == ["trieste"]
        assert {"indicators.contributions_paid.amount_cents", "indicators.contributions_paid.count"} <= set(
            body["no_data"]
        )
        csv = await http.get(
            f"{trieste.urls['reporting']}/reports/city_summary/export?format=csv",
            headers={"Authorization": f"Bearer {token}"},
        )
        paid = [line for line in csv.text.splitlines() if line.startswith("contributions_paid;")]
        assert paid and all(line.endswith(";n.d.") for line in paid), (csv.status_code, paid)  # Italian: ";"
        # Housing runs, but has listed no opportunity and housed nobody: reporting cannot tell it from no housing
        # service, so its placements read n.d. (method 9), and the PDF's cover names both services not reported.
        assert body["housing_not_reported"] == ["trieste"]
        assert "indicators.placements.started" in body["no_data"]
        params = [line for line in csv.text.splitlines() if line.startswith("# ")]
        assert "# Pagamenti non rilevati;Trieste" in params and "# Alloggi non rilevati;Trieste" in params, params
