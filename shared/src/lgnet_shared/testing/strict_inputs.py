"""What a JSON body field of an HTTP API accepts besides its own type. Pydantic's lax mode reads `"300"` or `true`
as the integer 300 or 1, `"yes"` or `1` as true, and `0` or a timestamp as a date; the contract (docs/partners.md)
says an integer is a JSON integer, a boolean a JSON boolean, a date a `YYYY-MM-DD` string and a time an RFC 3339
string, so each service's tests hold every body field of every route to it (`coerced_fields`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from lgnet_shared import config
from lgnet_shared.service import ServiceSpec, create_app
from lgnet_shared.testing.authz import _flat_routes

# JSON Schema type of a field -> values of other JSON types that it must refuse
WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "integer": ("300", True, 12.0),
    "boolean": ("yes", "true", 1),
    "date": (0, 20261130, "2026-11-30T00:00:00", "2026-11-30T00:00:00Z"),
    "date-time": (0, 1764979200, "1764979200", 1764979200.5),  # Unix timestamps, read as times in 1970 or 2025
}


def coerced_fields(app: FastAPI) -> list[str]:
    """'METHOD /path: model.field accepts <value>' for every JSON body field that reads a value of another JSON type
    as its own."""
    found: list[str] = []
    seen: set[type[BaseModel]] = set()
    for route in _flat_routes(app.routes):
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        where = f"{'/'.join(sorted(route.methods or ()))} {route.path}"
        for model in _models(route.body_field.field_info.annotation):  # one model, or a union or list of them
            found += [f"{where}: {problem}" for problem in _coerced(model, seen)]
    return found


def _coerced(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        annotation = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)  # type: ignore[arg-type]
        kind, many = _kind(adapter.json_schema())
        for value in WRONG_TYPES.get(kind or "", ()):
            probe = [value] if many else value
            try:
                adapter.validate_python(probe)
            except ValidationError:
                continue
            yield f"{model.__name__}.{name} accepts {probe!r}"
        for nested in _models(field.annotation):
            yield from _coerced(nested, seen)


def _kind(schema: dict[str, Any]) -> tuple[str | None, bool]:
    """(integer | boolean | date | date-time | None, whether it is a list of them) of a field's JSON Schema."""
    options = schema.get("anyOf", [schema])
    for option in options:
        many = option.get("type") == "array"
        item = option.get("items", {}) if many else option
        if item.get("type") in ("integer", "boolean"):
            return item["type"], many
        if item.get("type") == "string" and item.get("format") in ("date", "date-time"):
            return item["format"], many
    return None, False


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _models(arg)


def unstarted_app(spec: ServiceSpec) -> FastAPI:
    """A service's app as it serves its routes, built without starting it (no Kafka, no PostgreSQL): for checks of
    its route table and body models."""
    settings = config.Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        database_url="postgresql://unused@127.0.0.1:1/unused",
        city="torino",
        master_key=base64.b64encode(bytes(32)).decode(),
    )
    return create_app(spec, settings)
