"""Three findings of the city's data-protection officer (RPD) on the desk: a household whose reference person was
erased read as hidden from the city's staff ("Nucleo di (non visibile per Lei)"); the printout handed to a person
(GDPR art. 15) counted one cartella opening as four consultations; and it named another city's operator by her
account. Pages as the desk serves them (the services played by the test, axe-core in Chromium)."""

from __future__ import annotations

import html as markup
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import (
    GIULIA,
    MARIA,
    Desk,
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
