"""A contribution request's payee at the desk: its reads through payments' API in the DPO's access log (payments'
`GET /read-log`), and the payee form of the cartella opened with what is on file (the name, the BIC, the IBAN
masked: an IBAN left empty keeps the one on file)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import (
    A_HOUSING_CASE,
    LUCA,
    RPD,
    Desk,
    _dpo_token,
    axe_problems,
    desk,
    serve_the_cartella,
    text_of,
)

pytestmark = pytest.mark.integration
__all__ = ["desk"]  # a fixture, used by name

READS = [
    {"at": "2026-12-05T10:00:00+00:00", "principal": "coop-aurora", "principal_name": "Cooperativa Aurora",
     "role": "partner", "partner": "coop-aurora", "city": "torino", "request_id": "r-7", "case_id": "c-1",
     "household_id": "h-1", "person_ids": ["p-1", "p-2"], "kind": "payee", "outcome": "shown", "via": "api"},
    {"at": "2026-12-05T09:00:00+00:00", "principal": "staff-trieste", "principal_name": None, "role": "staff",
     "partner": None, "city": "torino", "request_id": "r-7", "case_id": "c-1", "household_id": "h-1",
     "person_ids": ["p-1", "p-2"], "kind": "payee", "outcome": "denied", "via": "api"},
    {"at": "2026-12-05T08:00:00+00:00", "principal": "coop-aurora", "principal_name": "Cooperativa Aurora",
     "role": "partner", "partner": "coop-aurora", "city": "torino", "request_id": "r-7", "case_id": "c-1",
     "household_id": "h-1", "person_ids": ["p-1", "p-2"], "kind": "iban_masked", "outcome": "shown", "via": "api"},
]  # fmt: skip


async def test_a_payees_read_through_payments_is_on_the_dpos_access_log(desk: Desk, browser: Any) -> None:
    """Payments answers a request's payee (name, IBAN masked) and the DPO could not see who read it: its read log
    (`GET /read-log`, her payments read-log token) is on her page beside the SEPA files' downloads — who, when, which
    request, the household's members as the persons (the payee, maybe a landlord, never named), shown or denied —, a
    person's entries asked by her id and by a household's; Italian, and English."""
    async with desk.pool.acquire() as conn:
        await _dpo_token(conn, desk, "payments", "lgr_pay")
    asked: list[httpx.Request] = []

    def read_log(request: httpx.Request) -> Any:
        asked.append(request)
        person = request.url.params.get("person_id")
        return READS if person in (None, "p-1") else []

    desk.services.answers |= {("payments", "GET", "/read-log"): read_log, ("payments", "GET", "/download-log"): []}
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log")
    assert page.status_code == 200, page.text
    assert asked and asked[0].headers["authorization"] == "Bearer lgr_pay", asked
    text = text_of(page.text)
    said = "Beneficiario di una richiesta di contributo (nome, IBAN mascherato) (API) r-7"
    assert text.count(said) == 2 and "Cooperativa Aurora" in text and "staff-trieste" in text, text
    assert "IBAN del beneficiario di una richiesta di contributo, mascherato (API) r-7" in text, text
    assert "p-1 , p-2" in text and "negato" in text and "pagamenti non è leggibile" not in text, text
    english = text_of((await desk.client.get("/access-log?lang=en")).text)
    assert "A contribution request's payee (name, masked IBAN) (API) r-7" in english, english
    asked.clear()
    hers = text_of((await desk.client.get("/access-log?person_id=p-1&lang=it")).text)
    assert said in hers, hers
    assert {(a.url.params.get("person_id"), a.url.params.get("household_id")) for a in asked} == {
        ("p-1", None),
        (None, "p-1"),
    }, [str(a.url) for a in asked]
    printout = text_of((await desk.client.get("/access-log/subject/p-1")).text)
    assert "Il nome e l'IBAN (mascherato) di chi riceve i pagamenti per il suo nucleo" in printout, printout
    assert await axe_problems(desk, browser, {"access-log-payee": page.text}) == []


async def test_the_payee_form_opens_with_what_is_on_file_and_keeps_the_iban_left_empty(
    desk: Desk, browser: Any
) -> None:
    """The payee form opened empty with a payee on file: a social worker retyped the name and the IBAN to fix one
    letter. It opens with the payee's name and BIC as payments answers them, the IBAN on file said masked under its
    field (never the IBAN: the desk has it not); left empty, the IBAN is not sent and payments keeps it; a new one
    replaces it. A request with a payee on file, waiting for approval, offers the form too."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    put: list[dict[str, Any]] = []

    def beneficiary(request: httpx.Request) -> httpx.Response:
        put.append(json.loads(request.content))
        return httpx.Response(200, json={"request_id": "r-1", "status": "requested"})

    desk.services.answers |= {
        ("payments", "GET", "/contribution-requests"): [
            {"request_id": "r-1", "case_id": "c-8e2b7d41a9f0", "kind": "rent", "amount_cents": 45000,
             "period_from": "2026-11-01", "period_to": "2026-11-30", "requested_by": "desk.maria",
             "status": "requested", "has_beneficiary": True, "iban_masked": "••••3456",
             "payee_name": "Immobiliare Po srl", "bic": "BCITITMM", "payee_refused": None}],
        ("payments", "PUT", "/contribution-requests/r-1/beneficiary"): beneficiary,
        ("intake", "GET", "/cases/c-8e2b7d41a9f0"): A_HOUSING_CASE,
    }  # fmt: skip
    await desk.as_operator(LUCA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    assert 'name="payee_name" maxlength="70" autocomplete="off" spellcheck="false" value="Immobiliare Po srl"' in (
        page.text
    ), page.text
    assert 'value="BCITITMM"' in page.text and 'aria-describedby="payee_iban-r-1-on-file"' in page.text, page.text
    text = text_of(page.text)
    assert "IBAN registrato: ••••3456 — lo lasci vuoto per mantenerlo, o scriva quello nuovo" in text, text
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "IBAN on file: ••••3456 — leave it empty to keep it, or type the new one" in english, english
    form = {"csrf": "csrf-luca", "request_id": "r-1", "payee_name": "Immobiliare Po s.r.l.", "payee_iban": "",
            "payee_bic": "BCITITMM"}  # fmt: skip
    r = await desk.client.post("/persons/p-1/contributions/r-1/payee", data=form)
    assert r.status_code == 303, r.text
    assert put[-1] == {"name": "Immobiliare Po s.r.l.", "bic": "BCITITMM"}, put  # no IBAN: the one on file stays
    r = await desk.client.post(
        "/persons/p-1/contributions/r-1/payee", data=form | {"payee_iban": "DE89370400440532013000"}
    )
    assert r.status_code == 303 and put[-1]["iban"] == "DE89370400440532013000", put
    assert await axe_problems(desk, browser, {"cartella-payee-on-file": page.text}) == []
