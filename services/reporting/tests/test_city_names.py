"""A city a request names must be one of the programme's (`lgnet_shared.cities.programme_cities`): the national
coordination's reporting officer read `GET /reports/city_summary?city=Trieste` as the auditor and got 200 with
`persons.total` 0 and `payments_not_reported ["Trieste"]`, a report of a city that does not exist (also for
`city=xyz<b>`, a PDF named `city_summary-Atlantis-….pdf`, the fund's indicators). Every route taking `city` now
answers 422 naming `query.city` (the publication's body: `city`) and the valid codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lgnet_reporting.entrypoints.main import SPEC
from lgnet_shared.cities import programme_cities
from lgnet_shared.testing.inprocess import InProcessService, in_process

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]

# (actor, path, extra query): each route that takes `city`, asked by one who may read a real city's answer there
ROUTES = [
    ("audit-office", "/reports/city_summary", {}),
    ("audit-office", "/reports/city_summary/export", {"format": "pdf"}),
    ("audit-office", "/reports/city_summary/export", {"format": "csv"}),
    ("audit-office", "/reports/city_summary/fund", {}),
    ("audit-office", "/reports/city_summary/fund/export", {"format": "csv"}),
    ("audit-office", "/reports/financial_statement", {}),
    ("staff-torino", "/reports/city_summary", {}),
    ("staff-torino", "/reports/city_summary/drilldown", {"figure": "persons.total"}),
    ("staff-torino", "/reports/financial_statement", {}),
    ("coop-aurora", "/reports/city_summary/fund", {}),
]
BAD = ["Trieste", "TORINO", "xyz<b>", "Atlantis", " torino"]


@pytest.fixture(scope="module")
async def reporting(database_url: str, module_pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, module_pg_schema, check_answers=True) as service:
        yield service


@pytest.mark.parametrize(("actor", "path", "extra"), ROUTES)
async def test_a_city_not_of_the_programme_is_refused_naming_the_valid_codes(
    reporting: InProcessService, actor: str, path: str, extra: dict[str, str]
) -> None:
    codes = ", ".join(programme_cities())
    async with reporting.client(actor) as c:
        for city in BAD:
            r = await c.get(path, params={**extra, "city": city})
            assert r.status_code == 422, (city, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("application/problem+json"), r.headers
            problem = r.json()
            assert problem["field"] == "query.city", problem
            assert repr(city) in problem["reason"] and codes in problem["reason"], problem
        ok = await c.get(path, params={**extra, "city": "torino"})  # a real city is still answered
        assert ok.status_code == 200, ok.text[:300]


async def test_a_publication_naming_no_city_of_the_programme_is_refused_naming_its_body_field(
    reporting: InProcessService,
) -> None:
    async with reporting.client("staff-torino") as c:
        r = await c.post("/reports/city_summary/publish", json={"city": "Torino"}, headers={"Idempotency-Key": "c1"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "city" and "'Torino'" in r.json()["reason"], r.json()


async def test_a_pilot_programme_refuses_a_city_of_the_sixteen_not_taking_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LGNET_PROGRAMME_CITIES=torino,trieste: Bologna is one of the 16 but not on this cluster."""
    from lgnet_reporting.entrypoints.http import scope_of
    from lgnet_shared.access import Actor, Role
    from lgnet_shared.errors import ContractError

    monkeypatch.setenv("LGNET_PROGRAMME_CITIES", "torino,trieste")
    auditor = Actor("audit-office", Role.AUDITOR, None)
    assert scope_of(auditor, "city_summary", "trieste") == "trieste"
    with pytest.raises(ContractError) as refused:
        scope_of(auditor, "city_summary", "bologna")
    assert refused.value.field == "query.city"
    assert refused.value.reason == "'bologna' is not a city of the programme: one of torino, trieste"
