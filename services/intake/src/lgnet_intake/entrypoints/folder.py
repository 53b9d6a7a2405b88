"""Intake's read API for the desk: find a person, read the cartella sociale. Same authorisation as
`GET /persons/{id}` for every person shown (see service_layer/folder.py). Answers documented as in http.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from lgnet_shared import clock, pii, vocabulary
from lgnet_shared.auth import Client, Who, Writer
from lgnet_shared.db import Conn
from lgnet_shared.events.types import Code
from lgnet_shared.http import ChangeKey, CreateKey, idempotent, problem_responses, request_secret, transition
from lgnet_shared.service import Runtime
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lgnet_intake.domain.access import in_a_city
from lgnet_intake.entrypoints import responses as r
from lgnet_intake.service_layer.diary import Diary
from lgnet_intake.service_layer.folder import Folder
from lgnet_intake.service_layer.handlers import Context, Intake
from lgnet_intake.service_layer.read_log import logged

FOUND = r.answers(list[r.Person], "The persons found that the reader may see (not the erased), best match first")


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["intake: desk reads"], responses=problem_responses())
    # A note or a document holds personal data: the stored fingerprint of a create's body is keyed.
    secret = request_secret(runtime.settings.master_key_bytes())

    def fiscal_secret() -> bytes:
        return pii.derive(runtime.settings.master_key_bytes(), "fiscal-code-hash")

    @asynccontextmanager
    async def reading(actor: Any) -> AsyncIterator[tuple[Conn, Intake, Context]]:
        """The connection a read runs on (its transaction is the read log's: `logged`)."""
        async with runtime.pool.acquire() as conn:
            assert runtime.keys is not None
            yield conn, Intake(conn, runtime.keys, fiscal_secret()), Context(actor, clock.today())

    async def find(actor: Any, client: str | None, terms: PersonSearch, at: str) -> list[dict[str, Any]]:
        async with reading(actor) as (conn, intake, ctx):
            return await logged(
                conn,
                actor,
                client,
                "search",
                None,
                lambda: Folder(intake).search(ctx, *terms.terms(), at=at, person_ids=terms.person_ids),
                lambda found: [p["person_id"] for p in found],  # each person a search shows
            )

    @api.get(
        "/persons",
        summary="Find persons by name (fuzzy, accent-insensitive), fiscal code or case number"
        " (prefer POST /persons/search: an address, with its names, is kept in proxies' logs and histories)",
        responses=FOUND,
    )
    async def find_persons(
        actor: Who,
        name: Annotated[str | None, Query(max_length=200)] = None,
        fiscal_code: Annotated[str | None, Query(max_length=32)] = None,
        case_id: Annotated[str | None, Query(max_length=200)] = None,
        client: Client = None,
    ) -> Any:
        return await find(actor, client, PersonSearch(name=name, fiscal_code=fiscal_code, case_id=case_id), "query.")

    @api.post(
        "/persons/search",
        summary="Find persons as GET /persons does, the terms in the body: names and fiscal codes stay out of"
        " addresses, so out of proxies' access logs",
        responses=FOUND,
    )
    async def search_persons(body: PersonSearch, actor: Writer, client: Client = None) -> Any:
        return await find(actor, client, body, "")

    @api.get(
        "/persons/{person_id}/record",
        summary="The cartella sociale of a person (who may read the person)",
        responses=r.answers(r.Record, "The cartella sociale"),
    )
    async def read_record(person_id: str, actor: Who, client: Client = None) -> Any:
        # a record names every member of the person's households (their vulnerabilities too): a read of each
        async with reading(actor) as (conn, intake, ctx):
            record = Folder(intake).record
            return await logged(
                conn, actor, client, "record", person_id, lambda: record(ctx, person_id), Folder.shown_in
            )

    async def diary_read(
        actor: Any, client: str | None, kind: str, person_id: str, run: Callable[[Diary, Context], Awaitable[Any]]
    ) -> Any:
        async with reading(actor) as (conn, intake, ctx):
            return await logged(conn, actor, client, kind, person_id, lambda: run(Diary(intake), ctx))

    @asynccontextmanager
    async def diary(actor: Any) -> AsyncIterator[tuple[Diary, Context]]:
        in_a_city(actor)  # before the person is looked up
        async with runtime.pool.acquire() as conn, conn.transaction():
            assert runtime.keys is not None
            yield Diary(Intake(conn, runtime.keys, fiscal_secret())), Context(actor, clock.today())

    async def written(
        actor: Any, key: str | None, person_id: str, body: Any, run: Callable[[Diary, Context], Awaitable[Any]]
    ) -> JSONResponse:
        """A note or document written once per Idempotency-Key (a retry answers what the first call did)."""
        async with diary(actor) as (d, ctx):
            request = {"person_id": person_id, **body.model_dump(mode="json")}
            return await idempotent(d.intake.conn, actor.id, key, request, lambda: run(d, ctx), secret=secret)

    async def withdrawn(
        actor: Any, key: str | None, route: str, body: Withdrawal, run: Callable[[Diary, Context], Awaitable[Any]]
    ) -> Any:
        """A withdrawal, once: the same caller repeating it gets the answer it had; anyone else a 409."""
        async with diary(actor) as (d, ctx):
            return await transition(d.intake.conn, actor.id, key, route, body.model_dump(), lambda: run(d, ctx))

    @api.post(
        "/persons/{person_id}/notes",
        status_code=201,
        summary="Write a diary note (sealed with the person's key)",
        responses=r.answers(r.NoteWritten, "The note written", 201),
    )
    async def add_note(person_id: str, body: NewNote, actor: Writer, key: CreateKey) -> JSONResponse:
        return await written(actor, key, person_id, body, lambda d, ctx: d.add_note(ctx, person_id, body.text))

    @api.get(
        "/persons/{person_id}/notes",
        summary="The person's diary notes (text null once the person is erased)",
        responses=r.answers(list[r.Note], "Oldest first"),
    )
    async def read_notes(person_id: str, actor: Who, client: Client = None) -> Any:
        return await diary_read(actor, client, "notes", person_id, lambda d, ctx: d.notes(ctx, person_id))

    @api.post(
        "/persons/{person_id}/documents",
        status_code=201,
        summary="Attach a document (PDF, JPEG or PNG up to 10 MB; content-hashed, sealed with the person's key)",
        responses=r.answers(r.DocumentAttached, "The document attached", 201),
    )
    async def add_document(person_id: str, body: NewDocument, actor: Writer, key: CreateKey) -> JSONResponse:
        return await written(
            actor,
            key,
            person_id,
            body,
            lambda d, ctx: d.add_document(
                ctx, person_id, body.kind, body.filename, body.media_type, body.content_base64
            ),
        )

    @api.post(
        "/persons/{person_id}/notes/{note_id}/withdrawal",
        summary="Withdraw a note written by mistake (its text destroyed; who, when and why kept): the city's staff,"
        " or the partner that wrote it",
        responses=r.answers(r.NoteWithdrawn, "The note withdrawn"),
    )
    async def withdraw_note(
        person_id: str, note_id: str, body: Withdrawal, actor: Writer, key: ChangeKey = None
    ) -> Any:
        route = f"withdraw note {person_id} {note_id}"
        return await withdrawn(
            actor, key, route, body, lambda d, ctx: d.withdraw(ctx, person_id, "note", note_id, body.reason)
        )

    @api.post(
        "/persons/{person_id}/documents/{document_id}/withdrawal",
        summary="Withdraw a document attached by mistake (its content, name and hash destroyed; who, when and why"
        " kept): the city's staff, or the partner that attached it",
        responses=r.answers(r.DocumentWithdrawn, "The document withdrawn"),
    )
    async def withdraw_document(
        person_id: str, document_id: str, body: Withdrawal, actor: Writer, key: ChangeKey = None
    ) -> Any:
        route = f"withdraw document {person_id} {document_id}"
        return await withdrawn(
            actor, key, route, body, lambda d, ctx: d.withdraw(ctx, person_id, "document", document_id, body.reason)
        )

    @api.get(
        "/persons/{person_id}/documents",
        summary="The person's documents (metadata)",
        responses=r.answers(list[r.Document], "Oldest first"),
    )
    async def list_documents(person_id: str, actor: Who, client: Client = None) -> Any:
        return await diary_read(actor, client, "documents", person_id, lambda d, ctx: d.documents(ctx, person_id))

    @api.get(
        "/persons/{person_id}/documents/{document_id}",
        summary="Download a document",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
    )
    async def download(person_id: str, document_id: str, actor: Who, client: Client = None) -> Response:
        name, media_type, content = await diary_read(
            actor, client, "document", person_id, lambda d, ctx: d.download(ctx, person_id, document_id)
        )
        safe = "".join(ch for ch in name if ch.isalnum() or ch in "._- ")[:100] or "documento"
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{safe}"'}
        )

    return api


# A member a body does not have (misspelt, another route's) is answered 422 naming it, as every other body of
# intake's is (`additionalProperties: false`): a search ignored `birth_date` and answered as if unasked.
CLOSED = ConfigDict(extra="forbid")


class PersonSearch(BaseModel):
    """What to look for: a name, a fiscal code, a case number or persons' identifiers (one is enough)."""

    model_config = CLOSED

    name: str | None = Field(default=None, max_length=200, description="fuzzy and accent-insensitive")
    fiscal_code: str | None = Field(default=None, max_length=32)
    case_id: str | None = Field(default=None, max_length=200, description="the persons of the case's household")
    person_ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None,
        max_length=100,
        description="those of these persons the caller may read, in this order (others left out): a page naming"
        " many persons reads them in one call",
    )

    def terms(self) -> tuple[str | None, str | None, str | None]:
        return self.name, self.fiscal_code, self.case_id


class NewNote(BaseModel):
    model_config = CLOSED

    text: str = Field(min_length=1, max_length=10_000)


class Withdrawal(BaseModel):
    model_config = CLOSED

    reason: Annotated[Code, AfterValidator(vocabulary.known("record_withdrawal_reason"))] = Field(
        description="Why: a record_withdrawal_reason code (wrong_person, wrong_content, duplicate, not_needed, other)"
    )


class NewDocument(BaseModel):
    model_config = CLOSED

    kind: str = Field(min_length=1, max_length=40, description="document_kind code (lgnet_shared.vocabulary)")
    filename: str = Field(min_length=1, max_length=200)
    media_type: str = Field(description="application/pdf, image/jpeg or image/png")
    content_base64: str = Field(min_length=1, max_length=14_000_000)
