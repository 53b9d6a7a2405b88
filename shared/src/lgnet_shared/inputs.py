"""One rule for every HTTP input of every service, before any route sees it: text is storable UTF-8 without NUL
characters, and whole numbers fit PostgreSQL's bigint. PostgreSQL refuses a NUL in text and a number above int64,
so without this rule such input reached the database and answered 500. The refusal is a 422 problem+json naming
the field (`query.status`, `path.request_id`, `headers.idempotency-key`, `identity.given_name`, ...).

A pure ASGI middleware, cheap on the common path: a JSON body is parsed here only when its bytes could hold such a
value (a `\\u` escape or a run of 19+ digits); query, path and headers are scanned as text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SUSPECT_BODY = re.compile(rb"\\u|\d{19}|\x7f|\xc2[\x80-\x9f]")  # escapes, long numbers, DEL, C1 controls
NUL_REASON = "contains a NUL character (\\u0000), which text fields cannot hold"
SURROGATE_REASON = "contains an unpaired surrogate (\\ud800-\\udfff): not valid Unicode text"
INT_REASON = f"is out of range: whole numbers must be between {INT64_MIN} and {INT64_MAX}"
CONTROL_REASON = "contains a control character: identifiers are printable text"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_identifier(key: str) -> bool:
    """Ids name aggregates, become Kafka keys and CloudEvents attributes, which hold no control characters."""
    return key == "id" or key.endswith(("_id", "_ids"))


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    if "\x00" in value:
        return NUL_REASON
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_REASON
    return None


def json_problems(value: Any, path: str = "", identifier: bool = False) -> Iterator[tuple[str, str]]:
    """(dotted field, reason) for every string or integer in a JSON document that cannot be stored, and every
    identifier (`id`, `*_id`, `*_ids`) holding a control character."""
    if isinstance(value, str):
        if reason := text_problem(value):
            yield path, reason
        elif identifier and _CONTROL.search(value):
            yield path, CONTROL_REASON
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield path, INT_REASON
    elif isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if reason := text_problem(str(k)):
                yield sub, f"the key {reason}"
            yield from json_problems(v, sub, _is_identifier(str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from json_problems(v, f"{path}.{i}" if path else str(i), identifier)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class InputGuard:
    """Refuses, with 422 naming the field, a request whose path, query, headers or JSON body hold text PostgreSQL
    cannot store (NUL, unpaired surrogates) or an integer beyond int64."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._path_problem(scope) or self._query_problem(scope) or self._header_problem(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if found is None and scope["method"] in ("POST", "PUT", "PATCH") and _is_json(headers.get("content-type", "")):
            body, more = await _read_body(receive)
            found = _body_problem(body)
            receive = _replay(body, more, receive)
        if found is not None:
            from lgnet_shared.http import problem  # the shared problem+json shape (http imports this module)

            await problem(422, "invalid", *found)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _path_problem(self, scope: Scope) -> tuple[str, str] | None:
        path: str = scope.get("path", "")
        if (reason := text_problem(path)) is None:
            return None
        app = scope.get("app")
        for route in _flat_routes(getattr(getattr(app, "router", None), "routes", [])):
            match, child = route.matches(scope)
            if match is not Match.NONE:
                for name, value in child.get("path_params", {}).items():
                    if isinstance(value, str) and text_problem(value):
                        return f"path.{name}", reason
        return "path", reason

    @staticmethod
    def _query_problem(scope: Scope) -> tuple[str, str] | None:
        raw = scope.get("query_string", b"").decode("latin-1")
        if "%00" not in raw and "\x00" not in raw:
            return None  # Starlette decodes the rest with replacement characters: always valid text
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if "\x00" in name:
                return "query", f"a parameter name {NUL_REASON}"
            if "\x00" in value:
                return f"query.{name}", NUL_REASON
        return None

    @staticmethod
    def _header_problem(scope: Scope) -> tuple[str, str] | None:
        for name, value in scope.get("headers", []):
            if b"\x00" in value:
                return f"headers.{name.decode('latin-1').lower()}", NUL_REASON
        return None


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the app serves at the request's path (Starlette's 405 names only the first
    route's)."""
    app = scope.get("app")
    methods: set[str] = set()
    for route in _flat_routes(getattr(getattr(app, "router", None), "routes", [])):
        if getattr(route, "methods", None) and route.matches({**scope, "method": "\x00"})[0] is Match.PARTIAL:
            methods |= set(route.methods)
    return sorted(methods)


def _flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 keeps an included router as a node
        if included is not None:
            yield from _flat_routes(included.routes)
        else:
            yield route


def _body_problem(body: bytes) -> tuple[str, str] | None:
    if not _SUSPECT_BODY.search(body):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing answers 422 naming the body
    for field, reason in json_problems(doc):
        return field or "body", reason
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay if complete else receive
