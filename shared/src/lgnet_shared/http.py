"""HTTP conventions shared by the services: problem+json errors (RFC 9457) that name the field and reason,
bearer-token extraction, and idempotency keys: required for creates, accepted by every other state-changing route
(`replayable`); one-shot transitions without a key are keyed by the transition itself (`transition`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from asyncpg import DataError
from asyncpg import exceptions as pg_errors
from fastapi import FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from lgnet_shared import pii, runtime_schema
from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict, ContractError, Unauthenticated, http_status, pydantic_reason
from lgnet_shared.inputs import InputGuard, allowed_methods
from lgnet_shared.pseudonymous import identifying

PROBLEM = "application/problem+json"
KEY_HEADER = "Idempotency-Key"
KEY_FIELD = "headers.idempotency-key"
KEY_MAX = 200
KEY_MISSING = "missing: every create needs an Idempotency-Key header"
KEY_TOO_LONG = f"longer than {KEY_MAX} characters"
_KEY_REASONS = {"missing": KEY_MISSING, "string_too_long": KEY_TOO_LONG}  # validation's, in the server's words


def problem(
    status: int, kind: str, field: str, reason: str, errors: list[dict[str, str]] | None = None
) -> JSONResponse:
    """`errors`: every field at fault, when more than one may be (a body's validation); `field` and `reason` are the
    first's."""
    return JSONResponse(
        status_code=status,
        media_type=PROBLEM,
        content={
            "type": f"urn:lgnet:problem:{kind}",
            "title": kind.replace("_", " "),
            "status": status,
            # The whole request refused (field ""): the reason alone, capitalised ("request: the national role …"
            # read as if a field named "request" were at fault).
            "detail": f"{field}: {reason}" if field else reason[:1].upper() + reason[1:],
            "field": field,
            "reason": reason,
            "errors": errors or [{"field": field, "reason": reason}],
        },
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


STANDARD_PROBLEMS = {
    400: "The body could not be read at all (e.g. not UTF-8)",
    401: "Not authenticated",
    403: "Not allowed for this actor",
    404: "Not found",
    409: "Conflicts with what is recorded",
    413: "The body is larger than this API takes (inputs.MAX_BODY_BYTES, 15 MiB)",
    422: "Invalid: names the field and reason",
}


# Inline, not a $ref: the schema is embedded in every operation's answers, where a "#/$defs/…" would point nowhere.
FIELD_PROBLEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
        "required": ["field", "reason"],
    },
}


class Problem(BaseModel):
    """Every 4xx answer (RFC 9457 problem details): the field at fault and the reason."""

    type: str = Field(description="urn:lgnet:problem:<kind>")
    title: str
    status: int
    detail: str = Field(description='<field>: <reason>; the reason alone when the whole request is refused (field "")')
    field: str = Field(description="Dotted path of the field at fault (body fields bare; query., path., headers.)")
    reason: str
    errors: Annotated[list[dict[str, str]], WithJsonSchema(FIELD_PROBLEMS)] = Field(
        description="Every field at fault, each with its reason (a body with several mistakes names them all at once);"
        " the first is `field` and `reason`"
    )


PROBLEM_SCHEMA = Problem.model_json_schema()


def quiet_refusal(app: FastAPI) -> Any:
    """The app as uvicorn serves it, except that a start refused (`app.state.start_refused`: its lifespan logged the
    reason on one "start refused" line) is reported to uvicorn without the traceback Starlette attaches, which
    uvicorn logged as one more error line. The services' and the desk's console entry points serve through it."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)

        async def quiet(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed" and getattr(app.state, "start_refused", False):
                message = {**message, "message": ""}
            await send(message)

        await app(scope, receive, quiet)

    return serve


def readiness(checks: dict[str, str]) -> tuple[int, str]:
    """/health/ready's HTTP status and `status` from its named checks ("ok", "degraded: …" or "error: …"). A
    degraded check (a broker of a replicated cluster gone) still serves: ready (200), and said so."""
    ok = all(v == "ok" or v.startswith("degraded") for v in checks.values())
    if not ok:
        return 503, "unavailable"
    return 200, "degraded" if any(v != "ok" for v in checks.values()) else "ok"


def answers(model: Any, description: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: its success answer's body, documented by `model` (documentation only: FastAPI
    filters nothing by it)."""
    return {status: {"model": model, "description": description}}


def problem_responses(*, without: tuple[int, ...] = (), **details: str) -> dict[int | str, dict[str, Any]]:
    """A router's OpenAPI `responses`: the problem+json answers its routes may give. `details` sharpen a
    description for the service (`s409="... (over budget)"`); `without` leaves statuses out."""
    described = {**STANDARD_PROBLEMS, **{int(k.removeprefix("s")): v for k, v in details.items()}}
    return {status: problem_response(text) for status, text in sorted(described.items()) if status not in without}


def problem_response(description: str) -> dict[str, Any]:
    """One problem+json answer of an operation's OpenAPI `responses` (one route's own, e.g. its 412)."""
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


_KIND_OF_STATUS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}
_FIELD_OF_STATUS = {400: "body", 404: "path", 405: "method", 413: "body", 415: "headers.content-type"}


def _validation_field(loc: list[str]) -> str:
    """Body fields bare (`identity.fiscal_code`), others with where they are (`query.status`); never empty."""
    if not loc:
        return "request"
    if loc[0] == "body":
        return ".".join(loc[1:]) or "body"
    if loc[0] == "header":
        return ".".join(["headers", *(p.lower() for p in loc[1:])])
    return ".".join(loc)


def _validation_problem(error: Any) -> dict[str, str]:
    """A validation error's field and reason; an Idempotency-Key's in the server's own words (`idempotent`)."""
    field = _validation_field([str(p) for p in error["loc"]])
    if field == KEY_FIELD and error["type"] in _KEY_REASONS:
        return {"field": field, "reason": _KEY_REASONS[error["type"]]}
    return {"field": field, "reason": pydantic_reason(error["msg"])}


# What a request meets while its database restarts or fails over: connection refused or cut, the server shutting
# down or not yet accepting connections, a pooled connection that died.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    pg_errors.ConnectionDoesNotExistError,
    pg_errors.PostgresConnectionError,
    pg_errors.OperatorInterventionError,
)

# The words of asyncpg's InterfaceError / InternalClientError when the server dropped the connection under a request.
CONNECTION_DIED = ("connection is closed", "another operation", "connection was closed")


def install_problem_handlers(app: FastAPI) -> None:
    """Every error answer is problem+json naming the field: the services' own errors, request validation (incl.
    JSON that does not parse), Starlette's 404/405/400, and input PostgreSQL could not store (`inputs`)."""
    app.add_middleware(InputGuard)

    @app.exception_handler(ContractError)
    async def contract_error(request: Request, exc: ContractError) -> JSONResponse:
        status = http_status(exc)
        field = exc.field or (_whole(request) if status == 422 else "")  # an invalid input always names where
        return problem(status, exc.kind, field, exc.reason, [{"field": field, "reason": exc.reason}, *exc.each()[1:]])

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The body's faults first, as when a create's missing Idempotency-Key was found only once the body was read.
        faults = sorted(exc.errors(), key=lambda e: _validation_field([str(p) for p in e["loc"]]) == KEY_FIELD)
        first = faults[0]
        loc = [str(p) for p in first["loc"]]
        if first.get("type") == "json_invalid":
            error = (first.get("ctx") or {}).get("error", "")
            where = f" at position {loc[1]}" if len(loc) > 1 else ""
            return problem(422, "invalid", "body", f"not valid JSON{where}: {error}".rstrip(": "))
        errors = [_validation_problem(e) for e in faults]
        return problem(422, "invalid", errors[0]["field"], errors[0]["reason"], errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        kind = _KIND_OF_STATUS.get(status, "invalid" if status < 500 else "unavailable")
        response = problem(status, kind, _FIELD_OF_STATUS.get(status, ""), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if status == 405 and (methods := allowed_methods(request.scope)):
            response.headers["Allow"] = ", ".join(methods)
        return response

    async def database_unreachable(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL restarting or failing over: nothing was committed, so the same request may simply be sent
        # again (the SDK's RetryingTransport does, with the same Idempotency-Key).
        response = problem(503, "unavailable", "", f"the database is unreachable, retry shortly ({type(exc).__name__})")
        response.headers["Retry-After"] = "1"
        return response

    for unreachable in DATABASE_UNREACHABLE:
        app.add_exception_handler(unreachable, database_unreachable)

    async def connection_died(request: Request, exc: Exception) -> JSONResponse:
        # asyncpg reports a connection the server dropped mid-transaction with these classes, which also name
        # misuse (a bug): only the former is the database going away.
        if any(words in str(exc) for words in CONNECTION_DIED):
            return await database_unreachable(request, exc)
        raise exc

    for died in (pg_errors.InterfaceError, pg_errors.InternalClientError):
        app.add_exception_handler(died, connection_died)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        # Last line: input the models let through but PostgreSQL refuses (a value out of a column's range).
        return problem(422, "invalid", _whole(request), f"a value cannot be stored: {type(exc).__name__}")


def _whole(request: Request) -> str:
    """The field of an error about the request as a whole: its body when it has one."""
    return "body" if request.method in ("POST", "PUT", "PATCH") else "request"


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("headers.authorization", "missing: send 'Authorization: Bearer <token>'")
    return token.strip()


MIGRATION = runtime_schema.IDEMPOTENCY


KEYED = "hmac-sha256:"


def request_secret(master_key: bytes) -> bytes:
    """The secret that keys a service's stored request fingerprints (`idempotent`'s `secret`)."""
    return pii.derive(master_key, "idempotency-request-hash")


def request_fingerprint(request: Any, secret: bytes | None = None) -> str:
    """What `idempotent` stores to recognise a retry: HMAC-SHA256 of the canonical JSON body under `secret`
    (prefixed `hmac-sha256:`), or its plain SHA-256 without one."""
    body = json.dumps(request, sort_keys=True, default=str).encode()
    if secret is None:
        return hashlib.sha256(body).hexdigest()
    return KEYED + hmac.new(secret, body, hashlib.sha256).hexdigest()


# A create's key (`idempotent`): required, so that a client generated from the OpenAPI document sends one; a missing
# or too long one is answered in the server's own words (`install_problem_handlers`), after the body's faults.
CreateKey = Annotated[
    str,
    Header(
        alias=KEY_HEADER,
        max_length=KEY_MAX,
        description="Yours, one per operation (a UUID): a retry with the same key and body gets the first answer",
    ),
]
# Any other state change's key (`replayable`, `transition`): accepted, its absence too.
ChangeKey = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        max_length=KEY_MAX,
        description="Optional: a retry with the same key and body gets the first answer",
    ),
]


@dataclass(frozen=True)
class Sealed:
    """Members of a create's answer not stored with it (`idempotent`): `read` gives them back from where the
    service keeps them sealed, for a retry's answer (the stored answer without them)."""

    members: frozenset[str]
    read: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def idempotent(
    conn: Conn,
    actor_id: str,
    key: str | None,
    request: Any,
    create: Callable[[], Awaitable[dict[str, Any]]],
    status_code: int = 201,
    secret: bytes | None = None,
    sealed: Sealed | None = None,
) -> JSONResponse:
    """Run `create` once per (actor, Idempotency-Key); a retry with the same key and body gets the first answer,
    a reuse of the key with another body is a conflict. Must run inside the caller's transaction.

    `secret` keys the stored fingerprint of the body (HMAC-SHA256): a body holding personal data (a registration's
    name, a payee's IBAN) then cannot be confirmed from the table by hashing guesses; a plain fingerprint stored
    before a service keyed them still recognises its retry. Without it, an unkeyed SHA-256 is stored. `sealed`:
    the answer's members that the service keeps sealed elsewhere (a provider's name) are not stored with it; a
    retry's answer reads them back."""
    if not key:
        raise ContractError(KEY_FIELD, KEY_MISSING)
    if len(key) > KEY_MAX:
        raise ContractError(KEY_FIELD, KEY_TOO_LONG)
    digest = request_fingerprint(request, secret)
    # Serialise concurrent retries of the same key.
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"{actor_id}:{key}")
    row = await conn.fetchrow(
        "select request_hash, status_code, response from idempotency_keys where actor_id = $1 and key = $2",
        actor_id,
        key,
    )
    if row is not None:
        stored = row["request_hash"]
        older = secret is not None and not stored.startswith(KEYED)  # stored before the service keyed them
        if not hmac.compare_digest(stored, request_fingerprint(request) if older else digest):
            raise Conflict(KEY_FIELD, "already used for a different request")
        answer = row["response"]
        if sealed is not None and isinstance(answer, dict):
            answer = {**answer, **await sealed.read(answer)}
        return JSONResponse(status_code=row["status_code"], content=answer, headers={"Idempotent-Replayed": "true"})
    if what := identifying(key):  # a new key only: one kept from before is answered above
        raise ContractError(KEY_FIELD, f"holds {what}: the key is kept in clear with the answer; use a UUID")
    body = await create()
    kept = {k: v for k, v in body.items() if k not in sealed.members} if sealed is not None else body
    await conn.execute(
        "insert into idempotency_keys (actor_id, key, request_hash, status_code, response) values ($1, $2, $3, $4, $5)",
        actor_id,
        key,
        digest,
        status_code,
        kept,
    )
    return JSONResponse(status_code=status_code, content=body)


IF_MATCH_FIELD = "headers.if-match"
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag of the record as it was read (e.g. "3"): saved only if it is still the recorded one',
    ),
]


def if_match_version(value: str | None) -> int | None:
    """The version an If-Match names (`"3"`, as the record's ETag gave it); None when the client sets no condition
    (no header, or `*`: the record always has a representation). RFC 9110 13.1.1: strong tags only."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip()
    if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    raise ContractError(
        IF_MATCH_FIELD, 'an entity tag as the ETag of the last read gave it, e.g. "3" (quotes included)'
    )


def check_echoed_city(said: str | None, city: str) -> None:
    """A whole-record PUT may carry back the `city` its GET answered (a client sending back what it read): accepted
    when it is the city whose record is set, refused naming `city` otherwise (nothing is set for another city)."""
    if said is not None and said != city:
        raise ContractError("city", f"{said} is not the city whose settings these are ({city}): read {city}'s")


def etagged(answer: Any, version: Callable[[Any], int]) -> JSONResponse:
    """An answer (a fresh one, or a replayed JSONResponse) with its record's version as strong ETag."""
    response = answer if isinstance(answer, JSONResponse) else JSONResponse(jsonable_encoder(answer))
    response.headers["ETag"] = f'"{version(json.loads(bytes(response.body)))}"'
    return response


async def replayable(
    conn: Conn,
    actor_id: str,
    key: str | None,
    request: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
    secret: bytes | None = None,
    sealed: Sealed | None = None,
) -> Any:
    """A state-changing route other than a create: with an Idempotency-Key, a retry of a committed request gets
    the original answer (as `idempotent`, `secret` and `sealed` as there); without one, `run` simply runs. Inside
    the caller's transaction."""
    if not key:
        return await run()

    async def once() -> dict[str, Any]:
        return jsonable_encoder(await run())  # type: ignore[no-any-return]

    return await idempotent(conn, actor_id, key, request, once, status_code, secret, sealed)


async def transition(
    conn: Conn,
    actor_id: str,
    key: str | None,
    route: str,
    body: Any,
    run: Callable[[], Awaitable[Any]],
    status_code: int = 200,
    sealed: Sealed | None = None,
) -> Any:
    """A one-shot transition (accept, decline, approve, end, erase, ...): with an Idempotency-Key as
    `replayable`; without one, the transition itself is the key (route with its ids, and the body), so the same
    actor repeating the same transition gets the answer it had (200, `Idempotent-Replayed: true`) instead of a
    409 "already accepted". Another body, or another actor, meets the domain's own rules (usually 409)."""
    if not key:
        digest = hashlib.sha256(json.dumps([route, body], sort_keys=True, default=str).encode()).hexdigest()
        key = f"transition:{digest}"
    return await replayable(conn, actor_id, key, {"route": route, "body": body}, run, status_code, sealed=sealed)
