"""The check of a service's answers against its OpenAPI (`testing.answers`), on a small app of its own: a body as
declared passes; a field missing, mistyped or undeclared, an undeclared body and an unknown route fail, naming the
route, the status and what differs; problem answers and files are not its business."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from lgnet_shared import clock
from lgnet_shared.testing.answers import AnswerCheck, AnswerMismatch, of_service, open_request_bodies, undeclared
from pydantic import BaseModel, ConfigDict


class Lease(BaseModel):
    lease_id: str
    monthly_rent_cents: int
    end_date: date | None


def app_answering(body: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/leases/{lease_id}", responses={200: {"model": Lease}})
    async def lease(lease_id: str) -> Any:
        return body

    @app.post("/leases", status_code=201)
    async def undocumented() -> Any:
        return {"lease_id": "l-1"}

    @app.get("/leases/{lease_id}/file", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    async def file(lease_id: str) -> Response:
        return Response("a,b\n", media_type="text/csv")

    @app.get("/anything")
    async def anything() -> list[dict[str, Any]]:  # a free-form object: a client learns nothing of it
        return [body]

    @app.get("/missing")
    async def missing() -> Any:
        return Response('{"detail": "no"}', status_code=404, media_type="application/json")

    return app


async def answer(body: Any, method: str = "GET", path: str = "/leases/l-1") -> httpx.Response:
    app = app_answering(body)
    check = AnswerCheck(app.openapi())
    hooks = {"response": [check.hook]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", event_hooks=hooks) as c:
        return await c.request(method, path)


GOOD = {"lease_id": "l-1", "monthly_rent_cents": 45_000, "end_date": None}


async def test_an_answer_as_declared_passes() -> None:
    assert (await answer(GOOD)).json() == GOOD
    assert (await answer({**GOOD, "end_date": clock.today().isoformat()})).status_code == 200


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({**GOOD, "monthly_rent_cents": "450.00"}, "$.monthly_rent_cents: '450.00' is not of type 'integer'"),
        ({**GOOD, "end_date": "31/12/2027"}, "$.end_date: '31/12/2027' is not valid under any of the given schemas"),
        ({k: v for k, v in GOOD.items() if k != "end_date"}, "$: 'end_date' is a required property"),
        ({**GOOD, "deposit_cents": 0}, "$: Additional properties are not allowed ('deposit_cents' was unexpected)"),
        ([GOOD], "$: [{"),
    ],
)
async def test_an_answer_unlike_its_schema_fails_naming_route_status_and_difference(body: Any, said: str) -> None:
    with pytest.raises(AnswerMismatch) as failed:
        await answer(body)
    assert str(failed.value).startswith("GET /leases/{lease_id} answered 200 not as its OpenAPI schema says: ")
    assert said in str(failed.value)


@pytest.mark.parametrize(
    ("method", "path", "said"),
    [("POST", "/leases", "POST /leases answered 201"), ("GET", "/anything", "GET /anything answered 200")],
)
async def test_a_json_answer_without_a_declared_schema_fails(method: str, path: str, said: str) -> None:
    with pytest.raises(AnswerMismatch) as failed:
        await answer(GOOD, method, path)
    assert str(failed.value) == f"{said} JSON, but the OpenAPI declares no schema for its body"


async def test_problems_files_and_the_document_itself_are_left_to_their_own_checks() -> None:
    assert (await answer(GOOD, path="/missing")).status_code == 404
    assert (await answer(GOOD, path="/leases/l-1/file")).text == "a,b\n"
    assert "paths" in (await answer(GOOD, path="/openapi.json")).json()


def test_undeclared_lists_json_answers_without_schema_and_stale_allowances() -> None:
    doc = app_answering(GOOD).openapi()
    assert undeclared(doc, {"GET /leases/{lease_id}/file": "CSV"}) == [
        "POST /leases 201",
        "GET /anything 200",
        "GET /missing 200",
    ]
    allowed = {"GET /leases/{lease_id}/file": "CSV", "POST /leases": "x", "GET /anything": "x", "GET /missing": "x"}
    allowed |= {"GET /gone": "x"}
    assert undeclared(doc, allowed) == ["GET /gone (allowed a file answer, but no such route)"]


async def test_the_services_document_is_waited_for_as_long_as_its_clients_wait() -> None:
    """A service builds its OpenAPI document at the first `/openapi.json` (seconds of CPU on a busy machine): asked
    with httpx's default 5 s, a CI run under load failed every test of housing's module at setup (ReadTimeout). The
    document is waited for as long as the tests' own clients wait for an answer (30 s)."""
    document = json.dumps(app_answering({}).openapi()).encode()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(6)  # longer than httpx's default timeout
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(document)}\r\n\r\n"
        writer.write(head.encode() + document)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        check = await of_service(f"http://127.0.0.1:{port}")
    assert "/leases/{lease_id}" in check.openapi["paths"]


class Room(BaseModel):  # open: a nested object that ignores what it does not know
    beds: int


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rooms: list[Room]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def test_a_request_body_that_ignores_unknown_members_is_named_with_where() -> None:
    """`open_request_bodies` names the body objects without `additionalProperties: false`, nested ones too."""
    app = FastAPI()

    @app.post("/strict")
    async def strict(body: Strict) -> None: ...

    @app.post("/closed")
    async def closed_(body: Closed) -> None: ...

    assert open_request_bodies(app.openapi()) == ["POST /strict: Room"]
