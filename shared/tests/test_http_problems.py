"""The shared HTTP conventions on a small app: every 4xx is problem+json naming the field (Starlette's 404/405,
bodies that are not JSON or not UTF-8, validation), and input PostgreSQL cannot store (NUL, unpaired surrogates,
integers beyond int64) is refused before any route sees it, naming the field."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lgnet_shared import db
from lgnet_shared.errors import ContractError
from lgnet_shared.events.types import DATE_REASON, IsoDate
from lgnet_shared.http import (
    PROBLEM,
    ChangeKey,
    CreateKey,
    idempotent,
    install_problem_handlers,
    problem_responses,
    request_fingerprint,
)
from lgnet_shared.runtime_schema import IDEMPOTENCY
from lgnet_shared.storable import CONTROL_REASON, first_problem, json_problems
from pydantic import BaseModel, field_validator


class Even(BaseModel):
    n: int

    @field_validator("n")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("must be even")
        return n


class Thing(BaseModel):
    name: str
    count: int = 0
    tags: list[str] = []


def small_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things/{thing_id}", responses=problem_responses())
    async def read(thing_id: str, status: str | None = None) -> dict[str, Any]:
        return {"thing_id": thing_id, "status": status}

    @app.get("/down/{how}", responses=problem_responses())
    async def down(how: str) -> dict[str, Any]:
        import asyncpg

        raise {
            "refused": ConnectionRefusedError(111, "refused"),
            "cut": asyncpg.ConnectionDoesNotExistError("x"),
            "shutdown": asyncpg.exceptions.AdminShutdownError("terminating"),
            # seen when the server went away mid-transaction (tests/test_postgres_restart_e2e.py)
            "closed": asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"
            ),
            "mid-operation": asyncpg.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress"
            ),
            "misuse": asyncpg.InterfaceError("cannot use Connection.transaction() in a manually started transaction"),
        }[how]

    @app.post("/things", responses=problem_responses())
    async def create(body: Thing) -> dict[str, Any]:
        return body.model_dump()

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_app()), base_url="http://t") as c:
        yield c


def problem(r: httpx.Response) -> tuple[int, str, str]:
    assert r.headers["content-type"].startswith(PROBLEM), (r.status_code, r.text)
    body = r.json()
    assert body["status"] == r.status_code
    return r.status_code, body["field"], body["reason"]


async def test_nul_in_a_query_path_or_body_string_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    assert problem(await client.get("/things/x", params={"status": "\x00"}))[:2] == (422, "query.status")
    assert problem(await client.get("/things/a%00b"))[:2] == (422, "path.thing_id")
    body = b'{"name": "ok", "tags": ["fine", "bad\\u0000"]}'
    r = await client.post("/things", content=body, headers={"content-type": "application/json"})
    assert problem(r)[:2] == (422, "tags.1")
    r = await client.post("/things", content=b'{"name": "\\ud800"}', headers={"content-type": "application/json"})
    assert problem(r)[:2] == (422, "name")


async def test_a_query_parameter_the_route_does_not_take_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    """An undeclared parameter was dropped without a word (`?city=trieste` answered the caller's own city's data)."""
    status, field, reason = problem(await client.get("/things/x", params={"status": "a", "city": "trieste"}))
    assert (status, field) == (422, "query.city") and reason == "this address does not take it (it takes: status)"
    status, field, reason = problem(await client.get("/down/refused", params={"city": "trieste"}))
    assert (status, field, reason) == (422, "query.city", "this address does not take it (it takes none)")
    assert (await client.get("/things/x", params={"status": "a"})).status_code == 200
    assert (await client.get("/things/x?")).status_code == 200


async def test_an_identifier_no_address_can_hold_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    """An id is one segment of the addresses that name it (`/persons/{person_id}/erasure`): with a `/` in it, or
    being `.` or `..`, no address reaches it once it is stored."""
    for bad in ("a/b", "/", ".", ".."):
        status, field, reason = problem(await client.post("/things", json={"name": "x", "thing_id": bad}))
        assert (status, field) == (422, "thing_id") and "one segment of an address" in reason, reason
    status, field, _ = problem(await client.post("/things", json={"name": "x", "tags": ["ok"], "member_ids": ["a/b"]}))
    assert (status, field) == (422, "member_ids.0")
    for fine in ({"thing_id": "a.b"}, {"thing_id": "..."}, {"tags": ["a/b"]}):  # not a dot segment; not an id
        assert (await client.post("/things", json={"name": "x/y", **fine})).status_code == 200


async def test_an_integer_beyond_int64_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "count": 2**63})
    assert problem(r)[:2] == (422, "count")
    r = await client.post("/things", json={"name": "x", "count": 2**63 - 1})
    assert r.status_code == 200, r.text


async def test_bodies_that_do_not_parse_are_problems_naming_the_body(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", content=b'{"name": ', headers={"content-type": "application/json"})
    status, field, reason = problem(r)
    assert (status, field) == (422, "body")
    assert "not valid JSON" in reason
    r = await client.post("/things", content=b'{"name": "\xff"}', headers={"content-type": "application/json"})
    assert problem(r)[:2] == (400, "body")  # not UTF-8: FastAPI's "error parsing the body"
    r = await client.post("/things", content=b"", headers={"content-type": "application/json"})
    assert problem(r)[:2] == (422, "body")
    r = await client.post("/things", json={"count": 1})
    assert problem(r)[:2] == (422, "name")


async def test_a_body_beyond_the_limit_is_a_413_before_it_is_read_whole(client: httpx.AsyncClient) -> None:
    """From an outside test: a 16 MB body was read and parsed before a 422 — any size was, a request could hold the
    service's memory. A body over `inputs.MAX_BODY_BYTES` (the largest a route takes: a document of 10 MB in base64,
    and its JSON) is a 413 naming the body, whether its length is declared or it streams in chunks."""
    from lgnet_shared.inputs import MAX_BODY_BYTES

    big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    status, field, reason = problem(
        await client.post("/things", content=big, headers={"content-type": "application/json"})
    )
    assert (status, field) == (413, "body") and "larger than" in reason, reason

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until the limit, no further
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert problem(r)[:2] == (413, "body")
    r = await client.post("/things", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "text/plain"})
    assert problem(r)[:2] == (413, "body")  # declared too long, whatever its type
    just = {"name": "x" * (MAX_BODY_BYTES - 100)}
    assert (await client.post("/things", json=just)).status_code == 200


async def test_every_invalid_field_of_a_body_is_named_at_once(client: httpx.AsyncClient) -> None:
    """Only the first invalid field was named: a partner (or the desk's registration form) fixing a body learnt of
    the next mistake one round trip at a time. `errors` lists each field and reason; `field` and `reason` stay the
    first's, for clients that read only those."""
    r = await client.post("/things", json={"count": "many", "tags": "red"})
    assert problem(r) == (422, "name", "Field required")
    assert [(e["field"], e["reason"]) for e in r.json()["errors"]] == [
        ("name", "Field required"),
        ("count", "Input should be a valid integer, unable to parse string as an integer"),
        ("tags", "Input should be a valid list"),
    ]
    r = await client.post("/things", json={"name": "x", "count": 2**63})  # refused before validation: one field
    assert [(e["field"], e["reason"][:20]) for e in r.json()["errors"]] == [("count", r.json()["reason"][:20])]


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert problem(await client.get("/nowhere"))[:2] == (404, "path")
    r = await client.delete("/things/x")
    assert problem(r)[:2] == (405, "method")
    assert "GET" in r.headers["allow"]


def test_the_openapi_documents_every_problem_with_its_schema() -> None:
    spec = small_app().openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "409", "422"):
                content = op["responses"][status]["content"]
                assert "schema" in content[PROBLEM], (method, path, status)


def test_the_json_walk_names_every_bad_value() -> None:
    doc = {"a": ["ok", "x\x00"], "b": {"c": 2**64, "d\x00": 1}, "e": True, "f": 1.5}
    assert sorted(f for f, _ in json_problems(doc)) == ["a.1", "b.c", "b.d\x00"]


def test_identifiers_hold_no_control_characters_but_free_text_may() -> None:
    """An id becomes a Kafka key and a CloudEvents attribute: a control character in one answered 500 (the envelope
    refuses it) before the guard refused it as a 422 naming the field."""
    doc = {"opportunity_id": "e\x01", "member_ids": ["ok", "x\x9b"], "id": "\x7f", "note": "line\nbreak\tand tab"}
    found = dict(json_problems(doc))
    assert found == {
        "opportunity_id": CONTROL_REASON,
        "member_ids.1": CONTROL_REASON,
        "id": CONTROL_REASON,
    }


@pytest.mark.parametrize(
    "doc",
    [
        {"count": 2**63, "name": "x"},
        {"count": -(2**63) - 1},
        {"count": 2**63 - 1, "other": 10**18},  # long, but storable
        {"a": ["ok", "x\x00"]},
        {"k\x00": 1},
        {"s": "\ud800"},
        {"owner_id": "a\nb"},
        {"owner_id": "a\x7fb"},
        {"owner_id": "a\x9bb"},
        {"note": "line\nbreak", "name": "città"},
        {"name": "plain", "n": [1, 2, 3]},
    ],
)
def test_the_quick_look_at_the_json_text_never_hides_a_problem_the_walk_finds(doc: dict[str, Any]) -> None:
    """As JSON writes it (escapes) and as a client may (raw UTF-8; a lone surrogate cannot be valid UTF-8 at all)."""
    texts = [json.dumps(doc).encode()]
    with contextlib.suppress(UnicodeEncodeError):
        texts.append(json.dumps(doc, ensure_ascii=False).encode())
    for raw in texts:
        assert first_problem(doc, raw) == next(json_problems(doc), None), raw


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\rb", "a\bb", "a\fb", "a\x01b"])
async def test_a_control_character_in_an_identifier_of_a_body_is_a_422_naming_it(
    client: httpx.AsyncClient, value: str
) -> None:
    """JSON writes most control characters as `\\n`, `\\t`, ...: the guard's quick look at a body missed them and
    let such an id through (a 200 here; in a service, an envelope that refuses it)."""
    r = await client.post("/things", json={"name": "x", "owner_id": value})
    assert problem(r)[:2] == (422, "owner_id")
    assert (await client.post("/things", json={"name": "line\nbreak"})).status_code == 200  # free text may


@pytest.mark.parametrize("how", ["refused", "cut", "shutdown", "closed", "mid-operation"])
async def test_an_unreachable_database_is_503_to_retry_not_500(client: httpx.AsyncClient, how: str) -> None:
    """While PostgreSQL restarts or fails over nothing is committed: the answer says so, and when to retry."""
    r = await client.get(f"/down/{how}")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == "urn:lgnet:problem:unavailable"


async def test_a_misused_connection_is_not_mistaken_for_an_unreachable_database() -> None:
    """A bug must not hide behind "retry shortly": only a closed or cut connection is the database going away."""
    transport = httpx.ASGITransport(app=small_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/down/misuse")).status_code == 500


async def test_a_rules_reason_is_said_without_pydantics_value_error_prefix() -> None:
    """Partners read "Value error, must be an ISO 8601 date string, YYYY-MM-DD": pydantic's prefix for a validator's
    ValueError, which says nothing to them. The reason is the rule's own words, over HTTP and in a rejection."""
    from lgnet_shared.errors import from_pydantic
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as bad:
        Even(n=3)
    assert (from_pydantic(bad.value, "data").field, from_pydantic(bad.value).reason) == ("data.n", "must be even")
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/even")
    async def even(body: Even) -> dict[str, Any]:
        return body.model_dump()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/even", json={"n": 3})
    assert problem(r) == (422, "n", "must be even")
    assert r.json()["errors"] == [{"field": "n", "reason": "must be even"}]


async def test_a_creates_key_is_required_in_the_document_and_refused_in_the_servers_words() -> None:
    """A client generated from the OpenAPI document sends what it declares required: a create's Idempotency-Key is
    (at most 200 characters), another change's is not; a missing or too long key is still the server's own problem,
    after the body's faults (as when the create checked the key once the body was read)."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things", status_code=201, responses=problem_responses())
    async def create(body: Thing, key: CreateKey) -> dict[str, Any]:
        return {"key": key}

    @app.post("/things/{thing_id}/end", responses=problem_responses())
    async def end(thing_id: str, key: ChangeKey = None) -> dict[str, Any]:
        return {"key": key}

    params = [op["post"]["parameters"][-1] for op in app.openapi()["paths"].values()]
    assert [(p["name"], p["required"]) for p in params] == [("Idempotency-Key", True), ("Idempotency-Key", False)]
    assert params[0]["schema"]["maxLength"] == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        missing = await c.post("/things", json={"name": "a"})
        both = await c.post("/things", json={"count": "x"})
        long = await c.post("/things", json={"name": "a"}, headers={"Idempotency-Key": "k" * 201})
        keyless = await c.post("/things/t-1/end")
    assert problem(missing) == (422, "headers.idempotency-key", "missing: every create needs an Idempotency-Key header")
    assert [e["field"] for e in both.json()["errors"]] == ["name", "count", "headers.idempotency-key"]
    assert problem(long) == (422, "headers.idempotency-key", "longer than 200 characters")
    assert (keyless.status_code, keyless.json()) == (200, {"key": None})


async def test_a_new_idempotency_key_holding_identifying_data_is_refused_a_kept_one_answered(
    database_url: str, pg_schema: str
) -> None:
    """An Idempotency-Key rests in clear with the answer (`idempotency_keys`), erased by no person's erasure: a new
    one holding a fiscal code, an IBAN, an e-mail address or a phone number is refused (422 naming the header, nothing
    created); one kept from before is answered as the retry it is."""
    pool = await db.create_pool(database_url, pg_schema)
    created: list[str] = []

    async def create() -> dict[str, Any]:
        created.append("x")
        return {"person_id": "p-1"}

    try:
        await db.migrate(pool, [IDEMPOTENCY])
        async with pool.acquire() as conn:
            for key in ("RSSMRA85T10A562S", "reg-mario.rossi@example.org", "+39 333 123 4567"):
                with pytest.raises(ContractError) as refused:
                    await idempotent(conn, "coop-aurora", key, {"n": 1}, create)
                assert refused.value.field == "headers.idempotency-key" and "kept in clear" in refused.value.reason
            assert created == [] and await conn.fetchval("select count(*) from idempotency_keys") == 0
            await conn.execute(
                "insert into idempotency_keys (actor_id, key, request_hash, status_code, response)"
                " values ('coop-aurora', 'RSSMRA85T10A562S', $1, 201, '{\"person_id\": \"p-0\"}')",
                request_fingerprint({"n": 1}),
            )
            kept = await idempotent(conn, "coop-aurora", "RSSMRA85T10A562S", {"n": 1}, create)
            fresh = await idempotent(conn, "coop-aurora", "a8f0c2d4-new", {"n": 1}, create)
        assert (kept.status_code, json.loads(bytes(kept.body))) == (201, {"person_id": "p-0"}) and created == ["x"]
        assert fresh.status_code == 201
    finally:
        await pool.close()


class Dated(BaseModel):
    on: IsoDate


@pytest.mark.parametrize("text", ["2026-31-12", "2026-02-30", "2026-00-10", "2026-04-31", "2025-02-29"])
def test_a_date_of_no_calendar_day_is_refused_with_the_documented_reason(text: str) -> None:
    """The shape YYYY-MM-DD with a month or day that does not exist: Python's own words ("month must be in 1..12",
    "day is out of range for month") reached partners instead of the documented reason."""
    from lgnet_shared.errors import from_pydantic
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as bad:
        Dated(on=text)
    assert (from_pydantic(bad.value).field, from_pydantic(bad.value).reason) == ("on", DATE_REASON)
    assert Dated(on="2024-02-29").on.isoformat() == "2024-02-29"


async def test_a_refusal_of_the_whole_request_reads_as_its_reason() -> None:
    """A refusal by role names no field (field ""): its detail is the reason itself, not "request: …" (read as if a
    field named "request" were at fault); a field's refusal stays "<field>: <reason>"."""
    from lgnet_shared.errors import Forbidden

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/whole")
    async def whole() -> None:
        raise Forbidden("", "the national role is read-only and sees aggregates only")

    @app.get("/field")
    async def field() -> None:
        raise Forbidden("query.city", "staff of torino cannot read trieste")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        whole_r, field_r = await client.get("/whole"), await client.get("/field")
    assert whole_r.json()["detail"] == "The national role is read-only and sees aggregates only", whole_r.text
    reason = "the national role is read-only and sees aggregates only"
    assert (whole_r.json()["field"], whole_r.json()["reason"]) == ("", reason)
    assert field_r.json()["detail"] == "query.city: staff of torino cannot read trieste", field_r.text
