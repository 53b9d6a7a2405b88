"""Three findings of the city's data-protection officer (RPD) on the desk: a household whose reference person was
erased read as hidden from the city's staff ("Nucleo di (non visibile per Lei)"); the printout handed to a person
(GDPR art. 15) counted one cartella opening as four consultations; and it named another city's operator by her
account. Pages as the desk serves them (the services played by the test, axe-core in Chromium)."""

from __future__ import annotations

import csv
import html as markup
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from lgnet_desk.adapters import store
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.domain.subject_access import FOLD_WINDOW, folded
from lgnet_desk.entrypoints.web import _token_key
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import (
    GIULIA,
    MARIA,
    RPD,
    SARA,
    Desk,
    _dpo_token,
    a_record,
    approvals_row,
    axe_problems,
    desk,
    serve_the_cartella,
    text_of,
    two_rents,
)

__all__ = ["desk"]  # the fixture, used by name

ERASED = "persona cancellata (diritto all'oblio)"
HIDDEN = "(non visibile per Lei)"


def a_household_whose_reference_person_was_erased(desk: Desk) -> None:
    """Amina's cartella (p-1), her household's reference person p-9 erased: intake marks her `erased`, no name."""
    today, earlier = clock.today().isoformat(), (clock.today() - timedelta(days=40)).isoformat()
    serve_the_cartella(desk.services, today, earlier)
    record = a_record(today, earlier)
    household = record["households"][0]
    household["reference_person_id"] = "p-9"
    household["members"].append(
        {"person_id": "p-9", "name": None, "birth_date": None, "sex": "female", "joined_on": earlier,
         "left_on": None, "reason": None, "erased": True}
    )  # fmt: skip
    desk.services.answers[("intake", "GET", "/persons/p-1/record")] = record


async def test_the_cartella_names_a_household_whose_reference_person_was_erased_so(desk: Desk, browser: Any) -> None:
    """After an erasure, the city's staff read another member's cartella: "Nucleo familiare nel tempo — Nucleo di (non
    visibile per Lei)", an access restriction where the reference person was erased (staff see everyone). The caption
    says she was erased, as the member's row does."""
    a_household_whose_reference_person_was_erased(desk)
    await desk.as_operator(MARIA)
    page = await desk.client.get("/persons/p-1")
    assert page.status_code == 200, page.text
    caption = re.search(r'<caption id="caption-h-5f1c0a9e7b2d">(.*?)</caption>', page.text)
    assert caption and markup.unescape(caption[1]) == f"Nucleo di {ERASED}", caption
    assert HIDDEN not in text_of(page.text), text_of(page.text)
    english = text_of((await desk.client.get("/persons/p-1?lang=en")).text)
    assert "Household of person erased (right to be forgotten)" in english, english
    assert await axe_problems(desk, browser, {"cartella-reference-erased": page.text}) == []


def search_by(found: dict[str, list[dict[str, Any]]]) -> Any:
    """Intake's `POST /persons/search`: by the case (`case_id`) or by ids (`person_ids`), answering `found[<term>]`
    (each id's: the persons of `found["person_ids"]` asked for)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "person_ids" in body:
            return httpx.Response(200, json=[p for p in found["person_ids"] if p["person_id"] in body["person_ids"]])
        return httpx.Response(200, json=found["case_id"])

    return answer


async def test_an_approval_for_a_household_whose_reference_person_was_erased_says_so(desk: Desk) -> None:
    """The approver's /approvals read "Contributo per il nucleo di (non visibile per Lei)" for a household whose
    reference person was erased: intake's search by the case leaves an erased person out, so the desk could not tell
    her from one hidden from the operator. The case's current members the search did not find are asked by id: all of
    them erased, the reference person is one of them. One the operator may not see stays "(non visibile per Lei)"."""
    answers = two_rents()
    case = answers[("intake", "GET", "/cases/c-8e2b7d41a9f0")]
    case["member_ids"] = ["p-2", "p-9"]
    chidi = {"person_id": "p-2", "household_reference": False,
             "identity": {"given_name": "Chidi", "family_name": "Okafor"}}  # fmt: skip
    erased = {"person_id": "p-9", "erased": True, "identity": {}}
    answers[("intake", "POST", "/persons/search")] = search_by({"case_id": [chidi], "person_ids": [erased]})
    desk.services.answers |= answers
    await desk.as_operator(GIULIA)
    page = await desk.client.get("/approvals")
    assert page.status_code == 200, page.text
    row = text_of(approvals_row(page.text, "r-dec"))
    assert f"Nucleo di {ERASED}" in row and f"per il nucleo di {ERASED}" in row, row
    assert HIDDEN not in row, row
    # no other member left: the search by the case finds nobody, the erased reference person is asked by id
    case["member_ids"] = ["p-9"]
    desk.services.answers[("intake", "POST", "/persons/search")] = search_by({"case_id": [], "person_ids": [erased]})
    row = text_of(approvals_row((await desk.client.get("/approvals")).text, "r-dec"))
    assert f"per il nucleo di {ERASED}" in row and HIDDEN not in row, row
    # the member not found is not shown to the operator (not erased): not visible, as before
    case["member_ids"] = ["p-2", "p-9"]
    desk.services.answers[("intake", "POST", "/persons/search")] = search_by({"case_id": [chidi], "person_ids": []})
    row = text_of(approvals_row((await desk.client.get("/approvals")).text, "r-dec"))
    assert f"per il nucleo di {HIDDEN}" in row and ERASED not in row, row


def printout_rows(html: str) -> list[str]:
    """The printout's rows as read, its heading row left out."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(r) for r in body.split("<tr>")[1:]]


async def test_the_printout_counts_one_cartella_opening_once_with_what_it_read(desk: Desk) -> None:
    """The printout for the person says "Ogni riga è una volta in cui i suoi dati sono stati consultati", but one
    cartella opened by one operator printed four rows, all "allo sportello": the desk's entry (with its purpose),
    intake's read of the record it made (purpose "—"), of the diary notes and of the list of documents. On the
    printout the services' reads made through the desk fold into the desk's entry of the same operator and moment,
    which lists what was read with it; a read through the desk with no desk entry near it, and an organisation's own
    software's, keep their rows. The DPO's own log and CSV keep every entry."""
    async with desk.pool.acquire() as conn:
        await _dpo_token(conn, desk, "intake", "lgr_rpd")
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        opened: datetime = await conn.fetchval("select at from access_log where person_id = 'p-1'")

    def at(seconds: float) -> str:
        return (opened + timedelta(seconds=seconds)).isoformat()

    read = {"principal": "desk.maria", "principal_name": "Maria Rossi", "role": "staff", "partner": None,
            "city": "torino", "person_id": "p-1", "outcome": "shown", "via": "desk"}  # fmt: skip
    desk.services.answers[("intake", "GET", "/read-log")] = [
        read | {"at": at(600), "kind": "record"},  # ten minutes later, no desk entry near it: its own row
        read | {"at": at(0.4), "kind": "documents"},
        read | {"at": at(0.3), "kind": "notes"},
        read | {"at": at(-0.05), "kind": "record"},  # the desk logs its view once intake has answered
        read | {"at": at(-3600), "kind": "record", "principal": "coop-aurora", "principal_name": "Cooperativa Aurora",
                "role": "partner", "partner": "coop-aurora", "via": "api"},  # its own software's
    ]  # fmt: skip
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log/subject/p-1")
    assert page.status_code == 200, page.text
    rows = printout_rows(page.text)
    assert len(rows) == 3, rows
    opening = next(r for r in rows if "gestione della pratica" in r)
    assert "Maria Rossi" in opening and "La sua cartella sociale" in opening, opening
    assert "Le note di diario che la riguardano" in opening and "L'elenco dei suoi documenti" in opening, opening
    assert "nella stessa consultazione" in opening and opening.count("La sua cartella sociale") == 1, opening
    later = [r for r in rows if "Maria Rossi" in r and r != opening]
    assert len(later) == 1 and "La sua cartella sociale" in later[0] and "nella stessa" not in later[0], later
    assert any("Cooperativa Aurora" in r and "dal sistema informatico di un ente" in r for r in rows), rows
    english = printout_rows((await desk.client.get("/access-log/subject/p-1?lang=en")).text)
    assert any("in the same consultation: The diary notes about you" in r for r in english), english
    # the DPO's own log and CSV: every entry, the desk's and intake's five
    log = (await desk.client.get("/access-log?person_id=p-1")).text
    assert log.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr") == 6, text_of(log)
    lines = list(csv.reader(io.StringIO((await desk.client.get("/access-log.csv?person_id=p-1")).text)))
    assert len(lines) == 7, lines


async def test_the_printout_names_another_citys_operator_never_by_her_account(desk: Desk, browser: Any) -> None:
    """The printout showed "carso — gestione della pratica — La sua cartella sociale — rifiutato": a cooperative's
    operator of another city refused, named by her account, where the page promises "the operator by name, not the
    account" (the desk named only its own city's operators). Any desk operator is named, another city's saying so;
    a staff operator of another city whom a service's log names by her actor too."""
    anna = Operator("anna-ts", "Anna Giuliani", OperatorRole.STAFF, "trieste", None, "desk.op-5e1d7a", "op-5e1d7a")
    async with desk.pool.acquire() as conn:
        await _dpo_token(conn, desk, "intake", "lgr_rpd")
        await store.add_operator(conn, anna, "x", {}, _token_key(desk.settings))
        await store.log_access(conn, MARIA, "p-1", "case_work", "cartella", "shown")
        await store.log_access(conn, SARA, "p-1", "case_work", "cartella", "denied")
        await store.log_access(conn, anna, "p-1", "case_work", "cartella", "denied")
    desk.services.answers[("intake", "GET", "/read-log")] = [
        {"at": "2026-12-05T09:00:00+00:00", "principal": "desk.op-5e1d7a", "principal_name": None, "role": "staff",
         "partner": None, "city": "trieste", "person_id": "p-1", "kind": "person", "outcome": "denied", "via": "api"},
    ]  # fmt: skip
    await desk.as_operator(RPD)
    page = await desk.client.get("/access-log/subject/p-1")
    assert page.status_code == 200, page.text
    rows = printout_rows(page.text)
    text = " ".join(rows)
    for account in ("sara", "anna-ts", "desk.op-5e1d7a"):
        assert f" {account} " not in f" {text} ", (account, rows)
    assert any("Sara Carso, dello sportello di un altro Comune gestione della pratica" in r for r in rows), rows
    assert sum("Anna Giuliani, dello sportello di un altro Comune" in r for r in rows) == 2, rows
    assert any("Maria Rossi" in r and "altro Comune" not in r for r in rows), rows
    english = text_of((await desk.client.get("/access-log/subject/p-1?lang=en")).text)
    assert "Sara Carso, of another city's desk" in english, english
    assert await axe_problems(desk, browser, {"subject-access-other-city": page.text}) == []


def test_a_services_read_folds_into_the_nearest_desk_view_of_its_operator_and_outcome_within_the_window() -> None:
    """The folding rule (`domain.subject_access.folded`): a service's read made through the desk goes to the desk
    entry of the operator whose actor read, with the same outcome, the nearest within FOLD_WINDOW either side; one of
    another operator, of another outcome, beyond the window or by an organisation's own software keeps its row."""
    t = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)

    def desk_view(op: str, seconds: float, outcome: str = "shown") -> dict[str, Any]:
        return {"source": "desk", "operator": op, "actor": None, "at": t + timedelta(seconds=seconds),
                "action": "cartella", "outcome": outcome, "via": None}  # fmt: skip

    def read(actor: str, seconds: float, action: str, outcome: str = "shown", via: str = "desk") -> dict[str, Any]:
        return {"source": "intake", "operator": None, "actor": actor, "at": t + timedelta(seconds=seconds),
                "action": action, "outcome": outcome, "via": via}  # fmt: skip

    rows = [
        read("desk.maria", 20, "api notes"),  # 10 s after her second view: beyond the window
        desk_view("maria", 10),
        read("desk.maria", 9, "api record"),  # nearer her second view than her first
        read("desk.giulia", 1, "api documents"),  # Giulia's read: not Maria's view
        read("desk.maria", 0.5, "api notes"),
        read("desk.maria", 0.2, "api documents", outcome="denied"),  # refused: not the view that was allowed
        read("desk.maria", 0.1, "api record", via="api"),  # her actor's token from other software
        desk_view("maria", 0),
        read("desk.maria", -FOLD_WINDOW.total_seconds(), "api record"),  # the window's edge: in it
    ]
    out = folded(rows, {"maria": "desk.maria", "giulia": "desk.giulia"})
    views = [r for r in out if r["source"] == "desk"]
    assert [v["also"] for v in views] == [["api record"], ["api record", "api notes"]], views
    assert [(r["actor"], r["action"]) for r in out if r["source"] != "desk"] == [
        ("desk.maria", "api notes"), ("desk.giulia", "api documents"), ("desk.maria", "api documents"),
        ("desk.maria", "api record")]  # fmt: skip
