"""A document attached or a note written by mistake — a permit in the wrong person's cartella, a note about someone
else — is withdrawn: its content and name destroyed for good (nothing left to read, no fingerprint of it), its trace
kept (who, when, why), by the city's staff or by the party that wrote it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module
from test_folder import STAFF, TRIESTE, A, B, family

pytestmark = pytest.mark.shared_service

intake, intake_own, intake_shared, intake_view = fixtures_per_module("intake", SPEC)

PDF = b"%PDF-1.4 permesso di soggiorno di un'altra persona"


async def attach(w: World, actor: str, person_id: str) -> dict[str, Any]:
    body = {"kind": "residence_permit", "filename": "permesso-altrui.pdf", "media_type": "application/pdf",
            "content_base64": base64.b64encode(PDF).decode()}  # fmt: skip
    return dict(await w.call(actor, "POST", f"/persons/{person_id}/documents", body))


async def withdraw(service: InProcessService, actor: str, path: str, reason: str = "wrong_person") -> Any:
    async with service.client(actor) as c:
        return await c.post(f"{path}/withdrawal", json={"reason": reason}, headers={"Idempotency-Key": f"w-{path}"})


async def test_a_document_withdrawn_is_gone_for_good_and_its_trace_stays(intake: InProcessService, uid: str) -> None:
    w = World(intake)
    f = await family(w, uid)
    doc = await attach(w, A, f["mum"])
    path = f"/persons/{f['mum']}/documents/{doc['document_id']}"
    r = await withdraw(intake, A, path)
    assert r.status_code == 200, r.text
    assert r.json()["document_id"] == doc["document_id"] and r.json()["withdrawn_at"]
    async with intake.client(STAFF) as c:
        gone = await c.get(path)
        [listed] = (await c.get(f"/persons/{f['mum']}/documents")).json()
    assert gone.status_code == 404 and gone.json()["field"] == "document_id", gone.text
    assert "withdrawn" in gone.json()["reason"]
    assert (listed["filename"], listed["sha256"], listed["kind"]) == (None, None, "residence_permit")
    assert (listed["withdrawn_by"], listed["withdrawal_reason"]) == (A, "wrong_person")
    digest = hashlib.sha256(PDF).hexdigest()
    async with intake.pool.acquire() as conn:  # nothing left to open, nor to confirm the document with
        row = await conn.fetchrow("select sealed, sealed_name, sha256 from documents where document_id = $1",
                                  doc["document_id"])  # fmt: skip
        assert (row["sealed"], row["sealed_name"], row["sha256"]) == (None, None, None)
        assert await conn.fetchval("select count(*) from idempotency_keys where response::text like $1",
                                   f"%{digest}%") == 0  # fmt: skip
    again = await withdraw(intake, STAFF, path, "duplicate")
    assert again.status_code == 409 and again.json()["field"] == "document_id", again.text


async def test_a_note_withdrawn_has_no_text_and_says_who_withdrew_it_and_why(
    intake: InProcessService, uid: str
) -> None:
    w = World(intake)
    f = await family(w, uid)
    note = await w.call(A, "POST", f"/persons/{f['mum']}/notes", {"text": "Colloquio con la sorella: sfratto"})
    r = await withdraw(intake, STAFF, f"/persons/{f['mum']}/notes/{note['note_id']}", "wrong_content")
    assert r.status_code == 200, r.text
    async with intake.client(A) as c:
        [listed] = (await c.get(f"/persons/{f['mum']}/notes")).json()
    assert listed["text"] is None
    assert (listed["withdrawn_by"], listed["withdrawal_reason"]) == (STAFF, "wrong_content")
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select sealed from diary_notes where note_id = $1", note["note_id"]) is None


async def test_only_the_citys_staff_or_the_writer_withdraws_and_a_reason_is_a_listed_code(
    intake: InProcessService, uid: str
) -> None:
    w = World(intake)
    f = await family(w, uid)
    staffs = await attach(w, STAFF, f["mum"])
    theirs = f"/persons/{f['mum']}/documents/{staffs['document_id']}"
    refused = await withdraw(intake, A, theirs)  # the case's partner did not attach it
    assert refused.status_code == 403 and refused.json()["field"] == "document_id", refused.text
    assert (await withdraw(intake, B, theirs)).status_code == 404  # not B's person at all: as an unknown id
    assert (await withdraw(intake, TRIESTE, theirs)).status_code == 404  # another city
    bad = await withdraw(intake, STAFF, theirs, "because")
    assert bad.status_code == 422 and bad.json()["field"] == "reason", bad.text
    assert "wrong_person" in bad.json()["reason"]
    unknown = await withdraw(intake, STAFF, f"/persons/{f['mum']}/notes/note-nobody")
    assert unknown.status_code == 404 and unknown.json()["field"] == "note_id", unknown.text
    async with intake.client(STAFF) as c:  # none of it withdrew anything
        assert (await c.get(theirs)).status_code == 200
