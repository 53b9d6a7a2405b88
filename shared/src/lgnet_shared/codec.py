"""Events in and out of envelopes: encoding with context propagation, decoding with upcasting."""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model

from lgnet_shared import storable
from lgnet_shared.contracts.upcasters import upcast
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import InvalidEventData, UnknownEventType, from_pydantic
from lgnet_shared.events import REGISTRY, Event, latest
from lgnet_shared.ids import new_id

_SCHEMA = re.compile(r"^urn:lgnet:schema:(?P<type>[a-z0-9_.]+):v(?P<version>[0-9]+)$")


def to_envelope(
    event: Event,
    *,
    source: str,
    city: str,
    partner: str | None = None,
    correlationid: str | None = None,
    causationid: str | None = None,
    traceparent: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    extra = {"time": time} if time is not None else {}
    event_id = new_id()
    return Envelope(
        specversion="1.0",
        id=event_id,
        source=source,
        type=event.type,
        dataschema=event.dataschema(),
        city=city,
        partner=partner,
        correlationid=correlationid or event_id,  # a new conversation starts with its own id
        causationid=causationid,
        traceparent=traceparent,
        partitionkey=event.aggregate_id(),
        data=event.model_dump(mode="json", exclude_none=True),
        **extra,
    )


def caused_by(parent: Envelope, event: Event, *, source: str, partner: str | None = None) -> Envelope:
    """An event caused by `parent`: same city, correlation and trace; causation = the parent's id."""
    return to_envelope(
        event,
        source=source,
        city=parent.city,
        partner=partner if partner is not None else parent.partner,
        correlationid=parent.correlationid or parent.id,
        causationid=parent.id,
        traceparent=parent.traceparent,
    )


# dataschema -> (event type, version) it names: the few schemas in use, parsed once (bounded, for partners' input)
_SCHEMAS: dict[str, tuple[str, int]] = {}


def version_of(env: Envelope) -> int:
    """The payload version named by `dataschema`; absent means the latest known version."""
    known = _SCHEMAS.get(env.dataschema) if env.dataschema is not None else None
    if known is not None and known[0] == env.type:
        return known[1]
    if env.dataschema is None:
        model = latest(env.type)
        if model is None:
            raise UnknownEventType("type", f"unknown event type {env.type!r}")
        return model.version
    m = _SCHEMA.match(env.dataschema)
    if not m or m["type"] != env.type:
        raise UnknownEventType("dataschema", f"must be urn:lgnet:schema:{env.type}:v<N>, got {env.dataschema!r}")
    if len(_SCHEMAS) < 1024:
        _SCHEMAS[env.dataschema] = (env.type, int(m["version"]))
    return int(m["version"])


def decode(env: Envelope, *, strict: bool = False) -> Event:
    """The envelope's payload as the latest model of its type (older versions are upcast).

    `strict` (partners' inbound events): each value must already have the JSON type the published schema gives it
    (no number for a string or a date, no `1` for `true`, no `"12"` for an integer), as a JSON Schema validator
    would judge, and must be storable (`storable`: no whole number beyond bigint, no NUL, no control character in
    an id), as every HTTP input must; our own facts are read leniently, as they always were. Strictly, a record
    that names an older version is first held to that version's schema: a field only a later version has (a v2
    registration carrying v3's `identity.all`) is not in it, whatever the latest model would take."""
    if latest(env.type) is None:
        raise UnknownEventType("type", f"unknown event type {env.type!r}")
    version = version_of(env)
    if (env.type, version) not in REGISTRY:
        raise UnknownEventType("dataschema", f"unknown version {version} of {env.type}")
    current, data = upcast(env.type, version, dict(env.data))
    model = REGISTRY[(env.type, current)].model
    try:
        if not strict:
            return model.model_validate(data)
        if current != version:
            REGISTRY[(env.type, version)].model.model_validate_json(json.dumps(env.data).encode(), strict=True)
        text = json.dumps(data).encode()
        event = model.model_validate_json(text, strict=True)  # strict judges JSON types on JSON only
    except ValidationError as exc:
        raise from_pydantic(exc, "data", InvalidEventData) from None
    if problem := storable.first_problem(data, text):
        raise InvalidEventData(f"data.{problem[0]}", problem[1])
    return event


@functools.cache
def typed_envelopes(types: frozenset[str]) -> TypeAdapter[Any] | None:
    """Per type of `types`, the envelope with its `data` typed by the type's latest model, the union told apart by
    `type`: what `read_typed` validates a record's bytes with. None when no type is registered."""
    typed: list[Any] = []
    for etype in sorted(types):
        model = latest(etype)
        if model is None:
            continue
        typed.append(
            create_model(
                f"Typed_{etype.replace('.', '_')}",
                __base__=Envelope,
                type=(Literal[etype], ...),  # type: ignore[arg-type]  # a value only known at run time
                dataschema=(Literal[model.dataschema()], ...),  # type: ignore[arg-type]
                data=(model, ...),
            )
        )
    if not typed:
        return None
    union: Any = Annotated[Union[tuple(typed)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


def read_typed(typed: TypeAdapter[Any], value: bytes) -> tuple[Envelope, Event] | None:
    """A structured-mode record of one of the types at its latest version, envelope and event validated in one pass
    over its bytes (the two-step way, `from_record` then `decode`, parses `data` into Python objects only to validate
    them again: about half a consumer's reading of an event). The same envelope attributes and the same event; but
    its `data` is the event, not a dict. None for anything else — an older version, another type, anything invalid:
    the two-step way then decides, and names the fault."""
    try:
        env = typed.validate_json(value)
    except ValidationError:
        return None
    return cast(Envelope, env), cast(Event, env.data)
