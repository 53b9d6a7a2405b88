"""The desk of a city running intake and housing only (no payments: its own accounting pays), as real processes on
real Kafka and PostgreSQL: its operators are added with no payments schema in the database, the desk is told what
runs, and an operator's day (the menu, a person's record, a page of payments) never reaches for payments, nor counts
it unavailable on /metrics (docs/desk.md, "A city running only some services")."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints.admin import add_operator
from lgnet_desk.settings import DeskSettings

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_e2e import PASSWORD, _api_client, platform

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
RUNS = ("intake", "housing")


@pytest.fixture(scope="module")
async def city(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    added: list[Operator] = []

    async def provision(settings: DeskSettings, schemas: dict[str, str]) -> None:
        # no payments schema in the city's database: the one named for it does not exist
        wanted = {**schemas, "payments": schemas["desk"] + "_no_payments"}
        added.append(await add_operator(settings, Operator("maria", "Maria Rossi", OperatorRole.STAFF, "torino", None),
                                        PASSWORD, wanted, deployment="national"))  # fmt: skip

    logs = tmp_path_factory.mktemp("desk-partial")
    services = ",".join(RUNS)
    async with platform(kafka_bootstrap, database_url, logs, RUNS, provision, LGNET_DESK_SERVICES=services) as (
        url,
        settings,
        schemas,
    ):
        yield {"desk": url, "intake": settings.intake_url, "intake_schema": schemas["intake"],
               "database_url": database_url, "maria": added[0].service_actor or ""}  # fmt: skip


def payments_unavailable(metrics: str) -> float:
    found = re.search(r'lgnet_desk_service_calls_total\{outcome="unavailable",service="payments"\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


async def test_a_city_without_payments_works_at_its_desk(city: dict[str, str]) -> None:
    pid, hid = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("p", "h"))
    staff = await _api_client(city["database_url"], city["intake_schema"], city["intake"], city["maria"])
    async with staff:
        for path, body in (
            ("/persons", {"person_id": pid, "birth_date": "1990-04-01", "sex": "female", "nationality": "NG",
                          "identity": {"given_name": "Grace", "family_name": "Adeyemi"}}),
            ("/households", {"household_id": hid, "reference_person_id": pid, "member_ids": [pid]}),
        ):  # fmt: skip
            r = await staff.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=city["desk"], timeout=30) as c:
        form = await c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        r = await c.post("/login", data={"csrf": csrf.group(1), "username": "maria", "password": PASSWORD})
        assert r.status_code == 303, r.text
        before = payments_unavailable((await c.get("/metrics")).text)
        record = await c.get(f"/persons/{pid}")
        assert record.status_code == 200, record.text
        assert "Grace Adeyemi" in record.text and 'id="h-housing"' in record.text
        assert "Alcune parti" not in record.text and 'id="h-contributions"' not in record.text
        assert 'href="/payments"' not in record.text and 'href="/approvals"' not in record.text
        payments = await c.get("/payments")
        assert payments.status_code == 404 and "non usa il servizio «pagamenti» su LgNet" in payments.text
        assert payments_unavailable((await c.get("/metrics")).text) == before
