"""The CloudEvents 1.0 envelope every LgNet event travels in, and its Kafka protocol binding.

We write structured mode (one JSON document: attributes + `data`); we read structured and binary mode (attributes
in `ce_*` headers, `data` as the value), so a partner can use whichever its Kafka client makes easy. The model is
pydantic rather than the `cloudevents` SDK so that every rejection names the attribute at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, field_validator

from lgnet_shared.errors import ContractError, NotACloudEvent, NotJson, from_pydantic
from lgnet_shared.events.types import INSTANT_REASON, rfc3339

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
Headers = Sequence[tuple[str, bytes]]
# CloudEvents extension attributes LgNet uses (lower-case alphanumeric, as the spec requires).
EXTENSIONS = (
    "city",
    "partner",
    "correlationid",
    "causationid",
    "traceparent",
    "tracestate",
    "partitionkey",
    "signingkey",
)
# What a partner's record (`lgnet.partner.inbound.<city>`) must carry although LgNet's facts do not, and what only
# facts carry (docs/partners.md, "The envelope": no other attribute is allowed).
PARTNER_REQUIRED = ("partner",)
FACTS_ONLY = ("signingkey",)
# A partner's identifiers of its record that LgNet's facts caused by it carry on (`codec.caused_by`: `correlationid`
# and `causationid`), in clear and never erased: refused holding a person's data (`pseudonymous`).
PARTNER_IDS = ("id", "correlationid", "causationid")
# W3C trace context (version 00), which the facts a partner's record causes carry on as it was sent: hex only.
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", re.IGNORECASE)
# CloudEvents 1.0 "String": control characters U+0000-U+001F and U+007F-U+009F MUST NOT be used. Refusing them here
# also keeps NUL away from PostgreSQL text columns (the inbox), which would refuse the whole transaction.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


class Envelope(BaseModel):
    """One CloudEvent. `city` is the tenant. `partitionkey` is the Kafka record key: on LgNet's fact topics the
    aggregate id; on `lgnet.partner.inbound.<city>` the partner's id, so intake reads one partner's events in order.

    `specversion` and `id` are required, as CloudEvents requires them: a partner's retry must carry the id of its
    first attempt to be recognised as a duplicate, so the reader never invents one (`codec.to_envelope` does, for
    events we produce)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"]
    id: Text = Field(min_length=1, max_length=128)
    source: Text = Field(min_length=1, max_length=256)
    type: Text = Field(min_length=1, max_length=128)
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: Text | None = None
    subject: Text | None = None
    # Strict: from JSON a string only, checked in pydantic's core (no Python call per record); lax, a number was read
    # as a Unix timestamp (a partner's `"time": 0` was 1970). `_validate` reads headers' and partners' attributes with
    # `rfc3339`, which refuses a string of digits too (the one-pass JSON reader takes one as a timestamp).
    time: Annotated[datetime, Strict()] = Field(default_factory=lambda: datetime.now(UTC))
    city: Text = Field(min_length=1, max_length=64)
    partner: Text | None = Field(default=None, max_length=64)
    correlationid: Text | None = Field(default=None, max_length=128)
    causationid: Text | None = Field(default=None, max_length=128)
    traceparent: Text | None = Field(default=None, max_length=55)
    tracestate: Text | None = Field(default=None, max_length=512)
    partitionkey: Text = Field(
        min_length=1,
        max_length=128,
        description=(
            "The Kafka record key: the aggregate id on fact topics, the partner id on lgnet.partner.inbound.<city>"
        ),
    )
    # The key id of the deployment that signed this fact (lgnet_shared.fact_signing); set by the outbox relay.
    signingkey: Text | None = Field(default=None, max_length=128)
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (RFC 3339, e.g. 2026-01-31T09:00:00Z)")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # "9999-12-31T20:00:00-05:00": was refused as "cannot be read: OverflowError", field ""
            raise ValueError(INSTANT_REASON) from None

    @property
    def key(self) -> bytes:
        return self.partitionkey.encode()

    def to_structured(self) -> tuple[bytes, list[tuple[str, bytes]]]:
        """Kafka value and headers in structured content mode."""
        value = self.model_dump_json(exclude_none=True).encode()
        headers = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
        if self.traceparent:  # lets tracing tools that only read headers follow the hop too
            headers.append(("traceparent", self.traceparent.encode()))
        return value, headers


def check_partner_record(env: Envelope) -> None:
    """A partner's record is the envelope docs/partners.md describes: `partner` present (the envelope leaves it out
    for facts), no attribute only facts carry, identifiers (`PARTNER_IDS`) that say nothing of the person and a
    `traceparent` of the W3C form (hex only); else `not_cloudevent` naming the attribute."""
    for name in PARTNER_REQUIRED:
        if getattr(env, name) is None:
            raise NotACloudEvent(name, "missing: your partner id, as in your onboarding bundle")
    for name in FACTS_ONLY:
        if name in env.model_fields_set:
            raise NotACloudEvent(name, "not an attribute of a partner's record (only LgNet's own facts carry it)")
    # Here, not at the top: its IBAN check needs schwifty, the services' runtime extra, which the SDK goes without.
    from lgnet_shared.pseudonymous import check_pseudonymous_id

    for name in PARTNER_IDS:
        if (value := getattr(env, name)) is not None:
            try:
                check_pseudonymous_id(value, name)
            except ContractError as err:
                raise NotACloudEvent(name, err.reason) from None
    if env.traceparent is not None and not TRACEPARENT.fullmatch(env.traceparent):
        raise NotACloudEvent(
            "traceparent",
            "must be W3C trace context (00-<32 hex digits>-<16 hex digits>-<2 hex digits>): LgNet's facts carry it on",
        )


def says_nothing_of_the_person(value: str | None) -> bool:
    """An identifier a refusal may repeat (a record's `id`, `correlationid`): none holding a person's data."""
    from lgnet_shared.pseudonymous import identifying  # as in check_partner_record

    return value is None or identifying(value) is None


def loggable(env: Envelope) -> Envelope:
    """`env` as a log line may name it: an id (`PARTNER_IDS`) holding a person's data withheld (a partner's record
    refused for it: logs never hold personal data)."""
    withheld = {n: "[withheld]" for n in PARTNER_IDS if not says_nothing_of_the_person(getattr(env, n))}
    return env.model_copy(update=withheld) if withheld else env


def partner_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The envelope's JSON Schema as a partner's record must meet it (`check_partner_record`): the attributes it
    requires present and not null, no attribute only facts carry, a `traceparent` of the W3C form."""
    props = {k: v for k, v in schema["properties"].items() if k not in FACTS_ONLY}
    for name in PARTNER_REQUIRED:
        props[name] = _not_null(props[name])
    hex_any_case = f"^{TRACEPARENT.pattern.replace('[0-9a-f]', '[0-9a-fA-F]')}$"  # a schema's pattern has no flags
    trace = props["traceparent"]
    props["traceparent"] = {
        **trace,
        "anyOf": [o if o.get("type") == "null" else {**o, "pattern": hex_any_case} for o in trace["anyOf"]],
    }
    return {**schema, "properties": props, "required": [*schema.get("required", []), *PARTNER_REQUIRED]}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A property `X | None = None` as pydantic writes it (anyOf the type and null, a default) as the type alone."""
    typed = [option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"]
    assert len(typed) == 1, prop
    return {**typed[0], **{k: v for k, v in prop.items() if k not in ("anyOf", "default")}}


def _header(headers: Headers, name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("utf-8", errors="replace") if v is not None else None
    return None


def _validate(attrs: dict[str, Any], field_prefix: str = "") -> Envelope:
    """Attributes read from headers or from JSON: a time is text there, which strict validation from Python objects
    does not take; `rfc3339` reads it."""
    if "time" in attrs:
        try:
            attrs = {**attrs, "time": rfc3339(attrs["time"])}
        except ValueError as exc:
            raise NotACloudEvent(f"{field_prefix}time", str(exc)) from None
    try:
        return Envelope.model_validate(attrs)
    except ValidationError as exc:
        raise from_pydantic(exc, field_prefix, NotACloudEvent) from None
    except RecursionError:
        raise NotACloudEvent("data", "nested too deeply") from None


def is_binary_mode(headers: Headers) -> bool:
    """A record is a binary-mode CloudEvent when it has a `ce_specversion` header with a value; otherwise its value
    is a structured-mode one. The one rule for `from_record` and the one-pass readers (consumers, the replay), so
    they never disagree on a record. Compared by length first: facts carry several other headers (content type,
    traceparent, signature) and this runs for every record: a plain loop, a third of `any` over a generator."""
    for k, v in headers:  # noqa: SIM110 (the loop is the point)
        if len(k) == 14 and v is not None and k.lower() == "ce_specversion":
            return True
    return False


def from_record(
    value: bytes | None, headers: Headers = (), key: bytes | None = None, *, partner: bool = False
) -> Envelope:
    """Decode a Kafka record in structured or binary CloudEvents mode; errors name the attribute. A `partner`'s record
    (the gatekeeper's, a partner's own check) is read attribute by attribute: its `time` a date-time string, never a
    string of digits, which the one-pass JSON reader takes as a Unix timestamp (facts: ours, never such)."""
    if is_binary_mode(headers):
        return _from_binary(value, headers, key)
    if value is None:
        raise NotACloudEvent("", "empty record (no value and no ce_* headers)")
    try:  # the common case, parsed and checked in one pass (same result); anything wrong is diagnosed below
        if not partner:
            return Envelope.model_validate_json(value)
    except ValidationError:
        pass
    doc = _json(value, "")
    if not isinstance(doc, dict):
        raise NotACloudEvent("", "value must be a JSON object with CloudEvents attributes")
    if "specversion" not in doc:
        raise NotACloudEvent("specversion", "missing: not a CloudEvent (structured mode needs specversion)")
    if "partitionkey" not in doc and key is not None:
        doc["partitionkey"] = key.decode("utf-8", errors="replace")
    return _validate(doc)


def _from_binary(value: bytes | None, headers: Headers, key: bytes | None) -> Envelope:
    attrs: dict[str, Any] = {}
    for k, v in headers:
        if k.lower().startswith("ce_") and v is not None:
            attrs[k[3:].lower()] = v.decode("utf-8", errors="replace")
    if ct := _header(headers, "content-type"):
        attrs["datacontenttype"] = ct.split(";")[0].strip()
    if "partitionkey" not in attrs and key is not None:
        attrs["partitionkey"] = key.decode("utf-8", errors="replace")
    attrs["data"] = _json(value, "data") if value else None
    return _validate(attrs)


def claimed(value: bytes | None, headers: Headers = ()) -> tuple[str | None, str | None]:
    """The `id` and `type` a record that is not a valid CloudEvent claims, when they are readable text: an answer to
    it names the event its sender knows (an envelope with one wrong attribute was answered by partition:offset)."""
    attrs: Any
    if is_binary_mode(headers):
        attrs = {k[3:].lower(): v.decode("utf-8", "replace") for k, v in headers if k.lower().startswith("ce_") and v}
    else:
        try:
            attrs = json.loads((value or b"").decode("utf-8"))
        except (ValueError, RecursionError):
            return None, None
    if not isinstance(attrs, dict):
        return None, None

    def text(name: str, size: int) -> str | None:
        v = attrs.get(name)
        ok = isinstance(v, str) and 0 < len(v) <= size and v.isprintable()
        return v if ok else None

    return text("id", 128), text("type", 128)


def _json(value: bytes, field: str) -> Any:
    """Parse JSON; every way it can fail is the record's fault and names the field, never a crash of the consumer:
    not UTF-8, not JSON, nested too deep (RecursionError), a number past Python's int-digits limit (ValueError)."""
    try:  # decoded first: json.loads of bytes would read UTF-16 and UTF-32 too; the contract is UTF-8
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotJson(field, f"value is not JSON: {exc}") from None
    except RecursionError:
        raise NotJson(field, "value is nested too deeply") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise NotJson(field, f"value cannot be read: {str(exc)[:200]}") from None
