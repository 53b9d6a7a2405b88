"""The storage rule (`lgnet_shared.storable`) for every HTTP input of every service, before any route sees it:
text is storable UTF-8 without NUL characters, whole numbers fit PostgreSQL's bigint, identifiers hold no control
characters. Without it such input reached the database and answered 500. The refusal is a 422 problem+json naming
the field (`query.status`, `path.request_id`, `headers.idempotency-key`, `identity.given_name`, ...). A query
parameter the route does not declare is refused the same way (it was ignored: `?city=trieste` answered the caller's
own city's data).

A pure ASGI middleware, cheap on the common path: a JSON body is parsed here only when its bytes could hold such a
value (an escape such as `\\u` or `\\n`, a run of 19+ digits, DEL or a C1 control); query, path and headers are
scanned as text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lgnet_shared.storable import (
    CONTROL_REASON,
    NUL_REASON,
    has_control,
    is_identifier,
    json_problems,
    may_hold_problems,
    text_problem,
)

# The largest body a route takes: a document of 10 MB (intake's `content_base64`, at most 14,000,000 characters) and
# its JSON. A body beyond it is refused (413) before it is read whole: a 16 MB body was read and parsed, and any size
# would have been (an outside test).
MAX_BODY_BYTES = 15 * 1024 * 1024
TOO_LARGE = f"larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB, the most any request of this API holds"


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
        found = (
            self._path_problem(scope)
            or self._query_problem(scope)
            or self._header_problem(scope)
            or _undeclared_query(scope)
        )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if _declared_length(headers) > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        if found is None and scope["method"] in ("POST", "PUT", "PATCH") and _is_json(headers.get("content-type", "")):
            body, more = await _read_body(receive)
            if body is None:  # streamed past the limit
                await _too_large(scope, receive, send)
                return
            if not _utf8(body):  # JSON's parser reads UTF-16 and UTF-32 too (a byte-order mark): the contract is UTF-8
                from lgnet_shared.http import problem

                await problem(400, "invalid", "body", "is not UTF-8 JSON (no byte-order mark)")(scope, receive, send)
                return
            found = _body_problem(body)
            receive = _replay(body, more, receive)
        if found is not None:
            from lgnet_shared.http import problem  # the shared problem+json shape (http imports this module)

            await problem(422, "invalid", *found)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _path_problem(self, scope: Scope) -> tuple[str, str] | None:
        path: str = scope.get("path", "")
        reason = text_problem(path)
        if reason is None and not has_control(path):
            return None
        app = scope.get("app")
        for route in _flat_routes(getattr(getattr(app, "router", None), "routes", [])):
            match, child = route.matches(scope)
            if match is not Match.NONE:
                for name, value in child.get("path_params", {}).items():
                    if not isinstance(value, str):
                        continue
                    if found := text_problem(value):
                        return f"path.{name}", found
                    if is_identifier(name) and has_control(value):  # `a%01b` was looked up and "not found"
                        return f"path.{name}", CONTROL_REASON
        return ("path", reason) if reason else None

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


def _undeclared_query(scope: Scope) -> tuple[str, str] | None:
    """A query parameter the route does not declare: it was dropped without a word, so `GET /rules?city=trieste`
    answered the caller's own city's rules with 200, and `?household_id=` on a route without it the whole list."""
    raw = scope.get("query_string", b"")
    if not raw:
        return None
    app = scope.get("app")
    for route in _flat_routes(getattr(getattr(app, "router", None), "routes", [])):
        dependant = getattr(route, "dependant", None)
        if dependant is None or route.matches(scope)[0] is not Match.FULL:
            continue
        taken = _query_names(dependant)
        for name, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if name not in taken:
                takes = f"it takes: {', '.join(sorted(taken))}" if taken else "it takes none"
                return f"query.{name}", f"this address does not take it ({takes})"
        return None
    return None


def _query_names(dependant: Any) -> frozenset[str]:
    """The query parameters a FastAPI route declares, its dependencies' included (by their alias). Walked on each
    request that has a query (a few short lists; a cache keyed by id() gave a new app's route a dead one's names)."""
    found: set[str] = set()
    todo = [dependant]
    while todo:
        current = todo.pop()
        for param in current.query_params:
            model = getattr(param.field_info, "annotation", None)
            fields = getattr(model, "model_fields", None) if isinstance(model, type) else None
            # A query model (`Annotated[Model, Query()]`) takes its fields' names; a plain parameter its own.
            found |= {f.alias or n for n, f in fields.items()} if fields else {param.alias}
        todo.extend(current.dependencies)
    return frozenset(found)


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


def _utf8(body: bytes) -> bool:
    # A byte-order mark, or a raw NUL (never in JSON text, always in UTF-16/32 of ASCII text, which is ASCII bytes).
    if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:
        return False
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _body_problem(body: bytes) -> tuple[str, str] | None:
    if not may_hold_problems(body):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing answers 422 naming the body
    for field, reason in json_problems(doc):
        return field or "body", reason
    return None


async def _read_body(receive: Receive) -> tuple[bytes | None, bool]:
    """The body and whether it was read to its end; None once it grows past MAX_BODY_BYTES (not read further)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:
            return None, False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _declared_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:  # not a number: the server's HTTP parser answers it
        return 0


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    from lgnet_shared.http import problem  # the shared problem+json shape (http imports this module)

    await problem(413, "invalid", "body", TOO_LARGE)(scope, receive, send)


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay if complete else receive
