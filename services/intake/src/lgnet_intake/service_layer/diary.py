"""The cartella's diary (operators' notes) and documents, sealed with the person's key. Reading needs what
`GET /persons/{id}` needs; writing needs what writing the person's data needs (`Intake._person_for_write`)."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lgnet_shared import vocabulary
from lgnet_shared.errors import Conflict, ContractError, NotFound

from lgnet_intake.adapters import diary as store
from lgnet_intake.domain import documents as rules
from lgnet_intake.service_layer.handlers import Context, Intake


class Erased(NotFound):
    """The person was erased: the content cannot be read any more."""


class Diary:
    def __init__(self, intake: Intake) -> None:
        self.intake, self.conn = intake, intake.conn

    async def _key(self, person_id: str) -> bytes | None:
        return await self.intake.keys.key(self.conn, person_id)

    def _seal(self, key: bytes, aad: str, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(key).encrypt(nonce, data, aad.encode())

    def _open(self, key: bytes | None, aad: str, sealed: bytes | None) -> bytes | None:
        if key is None or sealed is None:  # the person erased, or the note or document withdrawn
            return None
        try:
            return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad.encode())
        except InvalidTag:
            return None

    async def _writable(self, ctx: Context, person_id: str) -> tuple[str, bytes]:
        p = await self.intake._person_for_write(ctx, person_id)
        await self.intake.read_person(ctx, person_id)  # and the caller may read it (consent, for a partner)
        key = await self._key(p["person_id"])
        if key is None or p["erased_at"] is not None:
            raise Erased("person_id", "the person was erased")
        return p["person_id"], key

    async def add_note(self, ctx: Context, person_id: str, text: str) -> dict[str, Any]:
        pid, key = await self._writable(ctx, person_id)
        note_id = f"note-{uuid.uuid4()}"
        sealed = self._seal(key, f"{pid}|diary|{note_id}", rules.check_note(text).encode())
        at = await store.add_note(self.conn, note_id, pid, ctx.actor.id, sealed)
        return {"note_id": note_id, "written_at": at.isoformat()}

    async def notes(self, ctx: Context, person_id: str) -> list[dict[str, Any]]:
        pid = (await self.intake.read_person(ctx, person_id))["person_id"]
        key = await self._key(pid)
        out = []
        for n in await store.notes(self.conn, pid):
            text = self._open(key, f"{pid}|diary|{n['note_id']}", n["sealed"])
            out.append(
                {
                    "note_id": n["note_id"],
                    "written_by": n["written_by"],
                    "written_at": n["written_at"].isoformat(),
                    "text": None if text is None else text.decode(),
                    **withdrawal(n),
                }
            )
        return out

    async def add_document(
        self, ctx: Context, person_id: str, kind: str, filename: str, media_type: str, content_base64: str
    ) -> dict[str, Any]:
        if kind not in vocabulary.codes("document_kind"):
            raise ContractError(
                "kind", f"not a document kind; valid: {', '.join(sorted(vocabulary.codes('document_kind')))}"
            )
        try:
            content = base64.b64decode(content_base64, validate=True)
        except ValueError:
            raise ContractError("content_base64", "is not base64") from None
        digest = rules.check_document(media_type, content)
        pid, key = await self._writable(ctx, person_id)
        document_id = f"doc-{uuid.uuid4()}"
        await store.add_document(
            self.conn,
            {
                "document_id": document_id,
                "person_id": pid,
                "kind": kind,
                "media_type": media_type,
                "size_bytes": len(content),
                "sha256": digest,
                "uploaded_by": ctx.actor.id,
                "sealed_name": self._seal(key, f"{pid}|document-name|{document_id}", filename.encode()),
                "sealed": self._seal(key, f"{pid}|document|{document_id}", content),
            },
        )
        return {"document_id": document_id, "sha256": digest, "size_bytes": len(content)}

    async def documents(self, ctx: Context, person_id: str) -> list[dict[str, Any]]:
        pid = (await self.intake.read_person(ctx, person_id))["person_id"]
        key = await self._key(pid)
        out = []
        for d in await store.documents(self.conn, pid):
            name = self._open(key, f"{pid}|document-name|{d['document_id']}", d["sealed_name"])
            out.append(
                {
                    "document_id": d["document_id"],
                    "kind": d["kind"],
                    "media_type": d["media_type"],
                    "size_bytes": d["size_bytes"],
                    "sha256": d["sha256"],
                    "uploaded_by": d["uploaded_by"],
                    "uploaded_at": d["uploaded_at"].isoformat(),
                    "filename": None if name is None else name.decode(),
                    **withdrawal(d),
                }
            )
        return out

    async def download(self, ctx: Context, person_id: str, document_id: str) -> tuple[str, str, bytes]:
        pid = (await self.intake.read_person(ctx, person_id))["person_id"]
        d = await store.document(self.conn, document_id)
        if d is None or d["person_id"] != pid:
            raise NotFound("document_id", f"no document {document_id} of this person")
        if d["withdrawn_at"] is not None:
            raise NotFound("document_id", f"the document was withdrawn on {d['withdrawn_at']:%Y-%m-%d}")
        key = await self._key(pid)
        content = self._open(key, f"{pid}|document|{document_id}", d["sealed"])
        name = self._open(key, f"{pid}|document-name|{document_id}", d["sealed_name"])
        if content is None or name is None:
            raise Erased("document_id", "the person was erased: the document cannot be read any more")
        return name.decode(), d["media_type"], content

    async def withdraw(
        self, ctx: Context, person_id: str, what: Literal["note", "document"], item_id: str, reason: str
    ) -> dict[str, Any]:
        """Withdraw the person's note or document `item_id` (`store.WITHDRAWABLE`)."""
        find, withdraw, author, absent = WITHDRAWABLE[what]
        field = f"{what}_id"
        pid, _ = await self._writable(ctx, person_id)
        row = await find(self.conn, item_id)
        if row is None or row["person_id"] != pid:
            raise NotFound(field, absent.format(item_id))
        rules.may_withdraw(ctx.actor, row[author], field)
        at = await withdraw(self.conn, item_id, ctx.actor.id, reason)
        return {field: item_id, "withdrawn_at": withdrawn(at, row, field).isoformat()}


# What is withdrawn: how it is found, how withdrawn, the column naming who wrote it, and an id not the person's.
WITHDRAWABLE = {
    "note": (store.note, store.withdraw_note, "written_by", "no note {} of this person"),
    "document": (store.document, store.withdraw_document, "uploaded_by", "no document {} of this person"),
}


def withdrawal(row: dict[str, Any]) -> dict[str, Any]:
    """Who withdrew a note or document, when and why (all None while it stands)."""
    at = row["withdrawn_at"]
    return {
        "withdrawn_at": None if at is None else at.isoformat(),
        "withdrawn_by": row["withdrawn_by"],
        "withdrawal_reason": row["withdrawal_reason"],
    }


def withdrawn(at: datetime | None, row: dict[str, Any], field: str) -> datetime:
    """When this withdrawal was made; a second one of the same is a conflict naming the first's day."""
    if at is None:
        first = row["withdrawn_at"] or datetime.now(UTC)
        raise Conflict(field, f"already withdrawn on {first:%Y-%m-%d}")
    return at
