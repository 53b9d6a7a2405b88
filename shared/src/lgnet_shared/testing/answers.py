"""Every successful JSON answer a test receives, checked against the response schema its service's OpenAPI document
declares for the route and status: the documented answers are proven by the tests' real traffic, not only by the
fuzzer's generated requests.

Opt-in per test client: `AnswerCheck(openapi).hook` as an httpx response event hook (`InProcessService.client` with
`check_answers`, or a test's own client of a service process). A 2xx JSON answer fails the request with
`AnswerMismatch` naming the route, the status and what differs when the OpenAPI declares no schema for it, or when
the body does not conform to it. Conformance is stricter than the document: an object that lists its properties
takes no others here (`additionalProperties: false`), so a field the handler returns and the model forgot fails
too, while the published document may leave them open to fields added later."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker

from lgnet_shared.testing import HTTP_TIMEOUT_S

JSON = "application/json"
DOCUMENT = "/openapi.json"  # the document itself, not one of the routes it describes
ANNOTATIONS = {"title", "description", "examples"}  # keywords that say nothing of the body


class AnswerMismatch(AssertionError):
    pass


def _formats() -> FormatChecker:
    """jsonschema's checkers, with `date-time` (RFC 3339) checked without its optional dependency."""
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_date_time)
    return checker


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper() or datetime.fromisoformat(value).tzinfo is None:
        raise ValueError("not an RFC 3339 date-time with an offset")
    return True


def closed(schema: Any) -> Any:
    """`schema` with every object that lists its properties closed to others (`additionalProperties: false`)."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^/}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def declares_body(schema: Any) -> bool:
    """Whether a response schema says what the body is: not FastAPI's `{}` or bare title for `Any`, nor a free-form
    object (`dict[str, Any]`) or a list of them, which a generated client can only type as "anything"."""
    if not isinstance(schema, dict) or set(schema) <= ANNOTATIONS:
        return False
    if "$ref" in schema or "properties" in schema:
        return True
    if any(k in schema for k in ("anyOf", "oneOf", "allOf")):
        return all(declares_body(s) for k in ("anyOf", "oneOf", "allOf") for s in schema.get(k, []))
    if schema.get("type") == "array":
        return declares_body(schema.get("items"))
    if schema.get("type") == "object":
        return isinstance(schema.get("additionalProperties"), dict) and declares_body(schema["additionalProperties"])
    return "type" in schema or "enum" in schema or "const" in schema


class AnswerCheck:
    """The OpenAPI document of one service, and a check of the answers its routes give."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.openapi = openapi
        self.components = closed(openapi.get("components", {}))
        self.checked: Counter[str] = Counter()  # "METHOD /template status" -> answers checked
        # Literal paths before templated ones (`/vouchers/expiry` before `/vouchers/{voucher_id}`), as the
        # router declares them; each parameter matches one path segment.
        templates: list[str] = sorted(openapi.get("paths", {}), key=lambda p: (p.count("{"), p))
        self._routes = [(_pattern(p), p) for p in templates]
        self._validators: dict[tuple[str, str, str], Any] = {}  # jsonschema's Draft202012Validator

    def route_of(self, method: str, path: str) -> str | None:
        for pattern, template in self._routes:
            if pattern.match(path) and method.lower() in self.openapi["paths"][template]:
                return template
        return None

    def schema_of(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        responses = self.openapi["paths"][template][method.lower()].get("responses", {})
        content = (responses.get(str(status)) or {}).get("content", {})
        schema = (content.get(JSON) or {}).get("schema")
        return schema if isinstance(schema, dict) else None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raises AnswerMismatch unless a 2xx JSON answer conforms to its route's declared schema."""
        if not 200 <= status < 300 or not content_type.startswith(JSON) or path == DOCUMENT:
            return
        template = self.route_of(method, path)
        if template is None:
            raise AnswerMismatch(f"{method} {path} answered {status}: no route of the OpenAPI document matches it")
        route = f"{method.upper()} {template}"
        schema = self.schema_of(method, template, status)
        if not declares_body(schema):
            raise AnswerMismatch(f"{route} answered {status} JSON, but the OpenAPI declares no schema for its body")
        assert schema is not None
        key = (method.lower(), template, str(status))
        if key not in self._validators:
            whole = {**closed(schema), "components": self.components}  # `#/components/...` resolves in it
            self._validators[key] = Draft202012Validator(whole, format_checker=_formats())
        document = json.loads(body)
        errors = sorted(self._validators[key].iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            shown = "; ".join(f"{e.json_path}: {e.message[:300]}" for e in errors[:5])
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise AnswerMismatch(f"{route} answered {status} not as its OpenAPI schema says: {shown}{more}")
        self.checked[f"{route} {status}"] += 1

    async def hook(self, response: httpx.Response) -> None:
        """An httpx response event hook: the answer is read, then checked."""
        await response.aread()
        request = response.request
        content_type = response.headers.get("content-type", "")
        self.check(request.method, request.url.path, response.status_code, content_type, response.content)


async def of_service(base_url: str, **client: Any) -> AnswerCheck:
    """The check of a running service's answers, from the OpenAPI document it serves: waited for as long as the tests'
    own clients wait (`ServiceProcess.client`), the service building it at this first request (seconds of CPU on a
    busy machine; httpx's default 5 s failed a whole module's setup under load)."""
    async with httpx.AsyncClient(base_url=base_url, **{"timeout": HTTP_TIMEOUT_S, **client}) as c:
        answer = await c.get("/openapi.json")
        answer.raise_for_status()
        return AnswerCheck(answer.json())


def undeclared(openapi: dict[str, Any], files: dict[str, str]) -> list[str]:
    """Every success answer ("METHOD /template status") of the document that declares no JSON body schema, but
    for the routes of `files` ("METHOD /template" -> what they answer instead of JSON) and the operational routes
    every service shares (tag `operations`: health and metrics, lgnet_shared.service; docs/operators.md). An entry
    of `files` that names no route of the document is listed too, so the allow-list cannot outlive its routes."""
    missing = []
    routes = set()
    for template, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            route = f"{method.upper()} {template}"
            routes.add(route)
            if route in files or "operations" in operation.get("tags", []):
                continue
            for status, answer in operation.get("responses", {}).items():
                schema = ((answer.get("content") or {}).get(JSON) or {}).get("schema")
                if status.startswith("2") and not declares_body(schema):
                    missing.append(f"{route} {status}")
    return missing + [f"{route} (allowed a file answer, but no such route)" for route in files if route not in routes]


def open_request_bodies(openapi: dict[str, Any]) -> list[str]:
    """Every object of a JSON request body ("METHOD /template: where") that does not refuse members it does not know
    (`additionalProperties: false`): a member misspelt or the wrong API's (`birth_date` to a search) was ignored, and
    the call answered as if it had not been sent, where every other body answers 422 naming it."""
    schemas = openapi.get("components", {}).get("schemas", {})
    found: list[str] = []

    def walk(schema: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas.get(name), name, seen | {name})
            return
        if schema.get("type") == "object" or "properties" in schema:
            if "properties" in schema and schema.get("additionalProperties") is not False:
                found.append(where)
            for member, sub in schema.get("properties", {}).items():
                walk(sub, f"{where}.{member}", seen)
            walk(schema.get("additionalProperties"), f"{where}.*", seen)
        for key in ("items", "anyOf", "oneOf", "allOf"):
            subs = schema.get(key)
            for sub in subs if isinstance(subs, list) else [subs]:
                walk(sub, where, seen)

    for template, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            body = ((operation.get("requestBody") or {}).get("content") or {}).get(JSON) or {}
            before = len(found)
            walk(body.get("schema"), "body", frozenset())
            found[before:] = [f"{method.upper()} {template}: {where}" for where in dict.fromkeys(found[before:])]
    return found
