"""HTTP conventions shared by the services: problem+json errors (RFC 9457) that name the field and reason,
bearer-token extraction, and idempotency keys: required for creates, accepted by every other state-changing route
(`replayable`); one-shot transitions without a key are keyed by the transition itself (`transition`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict, ContractError, Unauthenticated, http_status

PROBLEM = "application/problem+json"


def problem(status: int, kind: str, field: str, reason: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        media_type=PROBLEM,
        content={
            "type": f"urn:lgnet:problem:{kind}",
            "title": kind.replace("_", " "),
            "status": status,
            "detail": f"{field or 'request'}: {reason}",
            "field": field,
            "reason": reason,
        },
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


STANDARD_PROBLEMS = {
    401: "Not authenticated",
    403: "Not allowed for this actor",
    404: "Not found",
    409: "Conflicts with what is recorded",
    422: "Invalid: names the field and reason",
}


def problem_responses(*, without: tuple[int, ...] = (), **details: str) -> dict[int | str, dict[str, Any]]:
    """A router's OpenAPI `responses`: the problem+json answers its routes may give. `details` sharpen a
    description for the service (`s409="... (over budget)"`); `without` leaves statuses out."""
    described = {**STANDARD_PROBLEMS, **{int(k.removeprefix("s")): v for k, v in details.items()}}
    return {
        status: {"description": text, "content": {PROBLEM: {}}}
        for status, text in sorted(described.items())
        if status not in without
    }


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ContractError)
    async def contract_error(_: Request, exc: ContractError) -> JSONResponse:
        return problem(http_status(exc), exc.kind, exc.field, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        where = loc[0] if loc else ""
        path = ".".join(loc[1:]) if where == "body" else ".".join(loc)
        return problem(422, "invalid", path, first["msg"])


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("headers.authorization", "missing: send 'Authorization: Bearer <token>'")
    return token.strip()


MIGRATION = (
    "lgnet-idempotency-1",
    """
    create table if not exists idempotency_keys (
        actor_id text not null,
        key text not null,
        request_hash text not null,
        status_code int not null,
        response jsonb not null,
        created_at timestamptz not null default now(),
        primary key (actor_id, key)
    )
    """,
)


async def idempotent(
    conn: Conn,
    actor_id: str,
    key: str | None,
    request: Any,
    create: Callable[[], Awaitable[dict[str, Any]]],
    status_code: int = 201,
) -> JSONResponse:
    """Run `create` once per (actor, Idempotency-Key); a retry with the same key and body gets the first answer,
    a reuse of the key with another body is a conflict. Must run inside the caller's transaction."""
    if not key:
        raise ContractError("headers.idempotency-key", "missing: every create needs an Idempotency-Key header")
    if len(key) > 200:
        raise ContractError("headers.idempotency-key", "longer than 200 characters")
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    # Serialise concurrent retries of the same key.
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"{actor_id}:{key}")
    row = await conn.fetchrow(
        "select request_hash, status_code, response from idempotency_keys where actor_id = $1 and key = $2",
        actor_id,
        key,
    )
    if row is not None:
        if row["request_hash"] != digest:
            raise Conflict("headers.idempotency-key", "already used for a different request")
        return JSONResponse(
            status_code=row["status_code"], content=row["response"], headers={"Idempotent-Replayed": "true"}
        )
    body = await create()
    await conn.execute(
        "insert into idempotency_keys (actor_id, key, request_hash, status_code, response) values ($1, $2, $3, $4, $5)",
        actor_id,
        key,
        digest,
        status_code,
        body,
    )
    return JSONResponse(status_code=status_code, content=body)


async def replayable(
    conn: Conn,
    actor_id: str,
    key: str | None,
    request: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
) -> Any:
    """A state-changing route other than a create: with an Idempotency-Key, a retry of a committed request gets
    the original answer (as `idempotent`); without one, `run` simply runs. Inside the caller's transaction."""
    if not key:
        return await run()

    async def once() -> dict[str, Any]:
        return jsonable_encoder(await run())  # type: ignore[no-any-return]

    return await idempotent(conn, actor_id, key, request, once, status_code)


async def transition(
    conn: Conn,
    actor_id: str,
    key: str | None,
    route: str,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
) -> Any:
    """A one-shot transition (accept, decline, approve, end, erase, ...): with an Idempotency-Key as
    `replayable`; without one, the transition itself is the key (route with its ids, and the body), so the same
    actor repeating the same transition gets the answer it had (200, `Idempotent-Replayed: true`) instead of a
    409 "already accepted". Another body, or another actor, meets the domain's own rules (usually 409)."""
    if not key:
        digest = hashlib.sha256(json.dumps([route, body], sort_keys=True, default=str).encode()).hexdigest()
        key = f"transition:{digest}"
    return await replayable(conn, actor_id, key, {"route": route, "body": body}, run, status_code)
