"""Federation end to end: the scenario played against per-city deployments (Torino's and Trieste's own
intake, housing, payments and reporting) and a national reporting deployment, all on one Kafka cluster and one
PostgreSQL server. Every report must equal what the single national deployment produces for the same
scenario: the scenario's truth, which tests/test_scenario_e2e.py checks the single deployment against."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_scenario import driver, reports
from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Endpoints, Platform, provision
from lgnet_scenario.population import scaled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]
SEED = 2026
CITIES = scaled(0.3)


@pytest.fixture(scope="module")
async def federated_run(federated_endpoints: Endpoints) -> dict[str, Any]:
    truth = await driver.run(federated_endpoints, cities=CITIES, seed=SEED, progress=print)
    platform = Platform(federated_endpoints, await provision(federated_endpoints, {c.city: c.partners for c in CITIES}))
    try:
        own = await reports.caught_up(platform, truth, timeout=300)  # each city's own reporting deployment
        national = await call(platform.http("reporting", "coordination"), "GET", "/reports/national")
    finally:
        await platform.close()
    return {"truth": truth, "own": own, "national": national}


async def test_each_city_deployment_reports_exactly_its_truth(federated_run: dict[str, Any]) -> None:
    truth: driver.Truth = federated_run["truth"]
    assert set(truth.cities) == {c.city for c in CITIES}
    for city, t in truth.cities.items():
        ind = federated_run["own"][city]["indicators"]
        assert (ind["persons"]["total"], ind["persons"]["minors"], ind["households"]["total"]) == (
            t.persons,
            t.minors,
            t.households,
        )
        assert ind["households"]["single_person"] == t.single_persons
        assert (ind["cases"]["opened"], ind["cases"]["closed"]) == (t.cases_opened, t.cases_closed)
        assert ind["placements"]["started"] == t.placements
        assert sum(ind["leases_by_type"].values()) == t.leases
        assert ind["contributions_paid"]["amount_cents"] == t.contributions_paid_cents
        assert t.placements > 0 and t.contributions_paid_cents > 0


async def test_the_national_deployment_counts_every_city_as_the_cities_do(federated_run: dict[str, Any]) -> None:
    """The national reporting deployment reads every city's facts; its row per city (cells not suppressed)
    equals what the city's own deployment reports, and its totals are the cities' sums."""
    national = federated_run["national"]
    for city, own in federated_run["own"].items():
        ind = own["indicators"]
        expected = {
            "persons": ind["persons"]["total"],
            "minors": ind["persons"]["minors"],
            "households": ind["households"]["total"],
            "cases_opened": ind["cases"]["opened"],
            "placements_started": ind["placements"]["started"],
            "paid_cents": ind["contributions_paid"]["amount_cents"],
        }
        row = national["by_city"][city]
        assert row["persons"] == expected["persons"] and row["households"] == expected["households"], city
        shown = {k: row[k] for k in expected if isinstance(row.get(k), int)}
        assert shown == {k: expected[k] for k in shown}, city
    truth: driver.Truth = federated_run["truth"]
    assert national["indicators"]["persons"]["total"] == sum(t.persons for t in truth.cities.values())
    assert national["indicators"]["households"]["total"] == sum(t.households for t in truth.cities.values())
