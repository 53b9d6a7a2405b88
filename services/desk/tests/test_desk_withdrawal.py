"""A note or document written or attached by mistake (an outside test as a social worker: a permit uploaded to the
wrong person's cartella could not be taken back): each is withdrawn from the cartella with a reason chosen from the
list, by the city's staff or by the cooperative that wrote it; a withdrawn one is shown as such, who, when and why.
Service-layer units (a form in, the request out) and pages (the desk in process, intake played by the test, axe-core
in Chromium)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgnet_desk.service_layer import cartella_forms
from lgnet_desk.service_layer.desk import FieldErrors
from lgnet_shared import clock

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_corrections import as_data, sent_form
from test_desk_pages import LUCA, MARIA, Desk, axe_problems, desk, keeping, serve_the_cartella, text_of

__all__ = ["desk"]  # the fixture, used by name


def test_a_withdrawal_is_sent_with_its_reason_to_the_note_or_document_named() -> None:
    document = sent_form({"withdrawal_reason": "wrong_person"}, at={"document_id": "d-1"})
    call = cartella_forms.document_withdrawal(document)
    assert (call.service, call.path, call.body) == ("intake", "/persons/p-1/documents/d-1/withdrawal",
                                                    {"reason": "wrong_person"})  # fmt: skip
    note = cartella_forms.note_withdrawal(sent_form({"withdrawal_reason": "duplicate"}, at={"note_id": "n-1"}))
    assert (note.path, note.body) == ("/persons/p-1/notes/n-1/withdrawal", {"reason": "duplicate"})
    with pytest.raises(FieldErrors) as refused:  # a reason is chosen, never preset
        cartella_forms.note_withdrawal(sent_form({"withdrawal_reason": ""}, at={"note_id": "n-1"}))
    assert refused.value.errors == {"withdrawal_reason": "required"}


async def cartella_of(desk: Desk, operator: Any, **answers: Any) -> str:
    today = clock.today().isoformat()
    serve_the_cartella(desk.services, today, today)
    for key, answer in answers.items():
        method, path = key.split(" ", 1)
        desk.services.answers[("intake", method, path)] = answer
    await desk.as_operator(operator)
    return (await desk.client.get("/persons/p-1?lang=it")).text


async def test_the_staff_withdraw_a_document_from_the_cartella_with_a_reason(desk: Desk, browser: Any) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    page = await cartella_of(desk, MARIA, **{"POST /persons/p-1/documents/d-1/withdrawal": keeping(sent, 200)})
    action = "/persons/p-1/documents/d-1/withdrawal"
    assert f'action="{action}"' in page and 'action="/persons/p-1/notes/n-1/withdrawal"' in page
    assert await axe_problems(desk, browser, {"cartella-withdrawals": page}) == []
    r = await desk.client.post(action, data=as_data(page, action, withdrawal_reason="wrong_person"))
    assert r.status_code == 303, r.text
    assert [body for _, body in sent] == [{"reason": "wrong_person"}]


async def test_a_cooperative_is_offered_to_withdraw_only_what_it_attached(desk: Desk) -> None:
    page = await cartella_of(desk, LUCA)
    assert 'action="/persons/p-1/documents/d-2/withdrawal"' in page  # coop-aurora's own
    assert 'action="/persons/p-1/documents/d-1/withdrawal"' not in page  # the city's
    assert 'action="/persons/p-1/notes/n-1/withdrawal"' not in page


async def test_a_withdrawn_note_and_document_say_who_withdrew_them_when_and_why(desk: Desk) -> None:
    today = clock.today().isoformat()
    withdrawn = {"withdrawn_at": f"{today}T10:00:00+00:00", "withdrawn_by": "desk.maria",
                 "withdrawal_reason": "wrong_person"}  # fmt: skip
    note = {"note_id": "n-1", "written_at": f"{today}T09:00:00+00:00", "written_by": "desk.giulia", "text": None}
    document = {"document_id": "d-1", "kind": "residence_permit", "filename": None, "media_type": "application/pdf",
                "uploaded_at": f"{today}T09:00:00+00:00", "uploaded_by": "desk.giulia", "size_bytes": 17,
                "sha256": None}  # fmt: skip
    page = await cartella_of(
        desk,
        MARIA,
        **{"GET /persons/p-1/notes": [note | withdrawn], "GET /persons/p-1/documents": [document | withdrawn]},
    )
    text = text_of(page)
    assert text.count("ritirato il") + text.count("ritirata il") == 2, text
    assert "Nella cartella di un'altra persona" in text and "Maria Rossi" in text, text
    assert 'action="/persons/p-1/documents/d-1/withdrawal"' not in page  # nothing left to withdraw
    assert 'href="/persons/p-1/documents/d-1"' not in page


async def test_intakes_refusal_of_a_withdrawal_is_said_at_its_row(desk: Desk) -> None:
    refused = httpx.Response(
        409, json={"status": 409, "field": "document_id", "reason": "already withdrawn on 2026-12-07"}
    )
    page = await cartella_of(desk, MARIA, **{"POST /persons/p-1/documents/d-1/withdrawal": refused})
    action = "/persons/p-1/documents/d-1/withdrawal"
    r = await desk.client.post(action, data=as_data(page, action, withdrawal_reason="duplicate"))
    assert r.status_code == 422, r.text  # the form shown again, refused at its row
    assert "già ritirato il" in text_of(r.text), text_of(r.text)
