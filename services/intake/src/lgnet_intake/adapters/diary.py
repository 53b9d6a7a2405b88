"""Intake's tables for the desk's diary notes and documents: their content sealed with the person's own key
(AES-256-GCM), so erasing the person (destroying the key) makes them unreadable everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lgnet_shared.db import Conn

# What an erasure forgets of the person's documents (`{persons}`: an array of person ids): the content's hash, in the
# table and in the upload's stored answer, whose fingerprint is a keyed hash of the content.
FORGET_HASHES = "update documents set sha256 = null where person_id = any({persons})"
FORGET_UPLOADS = (
    "update idempotency_keys set request_hash = 'erased', response = response - 'sha256' where response ? 'sha256'"
    " and key not like 'transition:%' and response->>'document_id' in"
    " (select document_id from documents where person_id = any({persons}))"
)
ERASED_BEFORE = "array(select person_id from persons where erased_at is not null)"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "intake-desk-1",
        """
        create table diary_notes (
            note_id text primary key,
            person_id text not null references persons,
            written_by text not null,
            written_at timestamptz not null default now(),
            sealed bytea not null
        );
        create index diary_notes_person on diary_notes (person_id, written_at);
        create table documents (
            document_id text primary key,
            person_id text not null references persons,
            kind text not null,
            media_type text not null,
            size_bytes int not null,
            sha256 text not null,
            uploaded_by text not null,
            uploaded_at timestamptz not null default now(),
            sealed_name bytea not null,
            sealed bytea not null
        );
        create index documents_person on documents (person_id, uploaded_at);
        """,
    ),
    (
        "intake-desk-2",
        f"""
        -- A document's SHA-256 confirms that its person held a given document (a copy is enough to compute it): an
        -- erasure forgets it (forget_documents), and so for the persons erased before. `idempotency_keys` is the
        -- runtime's table, which a schema may not hold yet.
        alter table documents alter column sha256 drop not null;
        do $$ begin
        if to_regclass('idempotency_keys') is not null then
            {FORGET_UPLOADS.format(persons=ERASED_BEFORE)};
        end if;
        end $$;
        {FORGET_HASHES.format(persons=ERASED_BEFORE)};
        """,
    ),
    (
        "intake-desk-3",
        """
        -- a note or document withdrawn (written in the wrong cartella, the wrong one, a duplicate): its content gone,
        -- who withdrew it, when and why kept
        alter table diary_notes alter column sealed drop not null,
            add column withdrawn_at timestamptz, add column withdrawn_by text, add column withdrawal_reason text;
        alter table documents alter column sealed drop not null, alter column sealed_name drop not null,
            add column withdrawn_at timestamptz, add column withdrawn_by text, add column withdrawal_reason text;
        """,
    ),
]


async def add_note(conn: Conn, note_id: str, person_id: str, by: str, sealed: bytes) -> datetime:
    at: datetime = await conn.fetchval(
        "insert into diary_notes (note_id, person_id, written_by, sealed) values ($1, $2, $3, $4) returning written_at",
        note_id,
        person_id,
        by,
        sealed,
    )
    return at


async def notes(conn: Conn, person_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("select * from diary_notes where person_id = $1 order by written_at", person_id)
    return [dict(r) for r in rows]


async def add_document(conn: Conn, row: dict[str, Any]) -> None:
    await conn.execute(
        "insert into documents (document_id, person_id, kind, media_type, size_bytes, sha256, uploaded_by,"
        " sealed_name, sealed) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        *(
            row[k]
            for k in (
                "document_id",
                "person_id",
                "kind",
                "media_type",
                "size_bytes",
                "sha256",
                "uploaded_by",
                "sealed_name",
                "sealed",
            )
        ),
    )


async def note(conn: Conn, note_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("select * from diary_notes where note_id = $1", note_id)
    return dict(row) if row else None


# A withdrawal answers when it was made, or None when another made it first (the row is then left as it was).


async def withdraw_note(conn: Conn, note_id: str, by: str, reason: str) -> datetime | None:
    at: datetime | None = await conn.fetchval(
        "update diary_notes set sealed = null, withdrawn_at = now(), withdrawn_by = $2, withdrawal_reason = $3"
        " where note_id = $1 and withdrawn_at is null returning withdrawn_at",
        note_id,
        by,
        reason,
    )
    return at


async def withdraw_document(conn: Conn, document_id: str, by: str, reason: str) -> datetime | None:
    """The content, its name and its hash destroyed; the upload's stored answer forgets the hash as an erasure does."""
    await conn.execute(
        "update idempotency_keys set request_hash = 'erased', response = response - 'sha256'"
        " where response ? 'sha256' and key not like 'transition:%' and response->>'document_id' = $1",
        document_id,
    )
    at: datetime | None = await conn.fetchval(
        "update documents set sealed = null, sealed_name = null, sha256 = null, withdrawn_at = now(),"
        " withdrawn_by = $2, withdrawal_reason = $3 where document_id = $1 and withdrawn_at is null"
        " returning withdrawn_at",
        document_id,
        by,
        reason,
    )
    return at


async def forget_documents(conn: Conn, person_id: str) -> None:
    """At the person's erasure (the sealed bytes stay, unreadable without the key)."""
    for sql in (FORGET_UPLOADS, FORGET_HASHES):  # the uploads first: they are found by the documents' person
        await conn.execute(sql.format(persons="array[$1::text]"), person_id)


async def documents(conn: Conn, person_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select document_id, person_id, kind, media_type, size_bytes, sha256, uploaded_by, uploaded_at, sealed_name,"
        " withdrawn_at, withdrawn_by, withdrawal_reason from documents where person_id = $1 order by uploaded_at",
        person_id,
    )
    return [dict(r) for r in rows]


async def document(conn: Conn, document_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("select * from documents where document_id = $1", document_id)
    return dict(row) if row else None
