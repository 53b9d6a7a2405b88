"""AsyncAPI 3.1 document per service, generated from code so it cannot drift from what runs: the service's
`ServiceSpec` (topics it produces), its consumers (topics and event types it handles), the topic registry and
the event catalogue. Payloads are the CloudEvents envelope with `data` replaced by the event model's JSON Schema;
each message carries its example from `contracts/examples/<type>/v<N>.json` (in the envelope its reader gets).

`python -m lgnet_shared.asyncapi --out docs/asyncapi [--contracts contracts]` writes `<service>.json` for the four
services; `--check` exits 1 when the files on disk differ. Consumers are read with
`SPEC.consumers(SimpleNamespace(settings=None))`, so a service's consumers must be declarable without a started
runtime: a consumer factory may close over the runtime but must not use its pool, producer or keys when called, and
must tolerate `settings` being None.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic.json_schema import models_json_schema

from lgnet_shared import signing
from lgnet_shared.broker_time import TIMESTAMP_TYPE
from lgnet_shared.cities import CITIES
from lgnet_shared.deadletter import DLQ_HEADERS, H_REDRIVEN, MARKER_HEADERS
from lgnet_shared.envelope import STRUCTURED_CONTENT_TYPE, Envelope, partner_schema
from lgnet_shared.events import REGISTRY, Event
from lgnet_shared.events.partner import INBOUND
from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec
from lgnet_shared.signing import HEADER as SIGNATURE_HEADER
from lgnet_shared.topics import TOPICS, family_of, physical

SERVICES = ("intake", "housing", "payments", "reporting")
CONTENT_TYPE = "application/cloudevents+json"
ASYNCAPI_VERSION = "3.1.0"
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"
Json = dict[str, Any]

ATTRIBUTES = {  # what the envelope's attributes mean to a reader of the document
    "id": "Unique, time-ordered event id (UUIDv7); consumers dedupe on (source, id)",
    "source": "Emitter, e.g. /lgnet/intake or the partner's own URI",
    "city": "Tenant: the city the event belongs to",
    "partner": "Partner organisation that emitted or is concerned by the event",
    "correlationid": "Id of the conversation this event belongs to",
    "causationid": "Id of the event that caused this one",
    "traceparent": "W3C trace context of the emitting span",
    "partitionkey": (
        "The Kafka record key: the aggregate id on fact topics, the partner id on lgnet.partner.inbound.<city>"
    ),
    "dataschema": "urn:lgnet:schema:<type>:v<version>; absent means the latest version",
}

SCRAM: Json = {  # how every client logs in (docs/operators.md, "Kafka security")
    "type": "scramSha512",
    "description": (
        "SASL/SCRAM-SHA-512 over TLS: username and password of the client's own principal (a partner's:"
        " `partner.<partner id>`, from its onboarding bundle; a deployment's: from `lgnet-kafka-admin add-deployment`)"
    ),
}
# The worked example's signing key of docs/partners.md (RFC 8032's first test seed): examples are signed with it.
EXAMPLE_SIGNER = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)
EXAMPLE_KEY_ID = "coop-aurora-2026"
SIGNATURE: Json = {  # what the gatekeeper authenticates a partner's record by (docs/partners.md, "Signing")
    "type": "string",
    "pattern": "^ed25519;[^;]+;[A-Za-z0-9_-]+$",
    "description": (
        "Required: ed25519;<key id>;<signature>, the partner's Ed25519 signature (base64url without padding) over the"
        " record value (binary mode: the value, a newline and the sorted ce_* headers as name=value lines), under the"
        " key id the city registered. A record without a valid one is not answered: it is dead-lettered"
    ),
}


def document(spec: ServiceSpec, consumer_specs: Sequence[ConsumerSpec], contracts: Path | None = None) -> Json:
    """The AsyncAPI 3.1 document of one service; `contracts` is where the examples are (none when None)."""
    channels: dict[str, list[type[Event]]] = {}
    operations: Json = {}
    for topic in spec.produces:
        models = [m.model for m in REGISTRY.values() if m.model.topic == topic and m.service == spec.name]
        _add(channels, topic, models)
        operations[f"send.{topic}"] = _operation("send", topic, models, f"{spec.name} publishes (outbox relay)")
    for cs in consumer_specs:
        for topic in dict.fromkeys(_registry_name(t) for t in cs.topics):  # a national gatekeeper: 16 cities, 1 channel
            models = [r.model for r in REGISTRY.values() if r.model.type in cs.handlers and r.model.topic == topic]
            _add(channels, topic, models)
            suffix = f".{spec.name}.{cs.name}"
            summary = f"consumer group <deployment>{suffix} (LGNET_TOPIC_PREFIX first), effectively once (inbox)"
            op = _operation("receive", topic, models, summary)
            group = {"type": "string", "pattern": f"^[a-z0-9.][a-z0-9_.-]*{re.escape(suffix)}$"}
            op["bindings"] = {"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING}}
            operations[f"receive.{topic}.{cs.name}"] = op
    everything = sorted({m for ms in channels.values() for m in ms}, key=_message_id)
    schemas, data_schemas = _schemas(everything)
    doc: Json = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"LgNet {spec.name}",
            "version": "0.1.0",
            "description": (
                f"Kafka events the LgNet {spec.name} service publishes and consumes. Every message is a CloudEvents"
                " 1.0 event in structured mode; the record key is the aggregate id (the partner id on"
                " lgnet.partner.inbound.<city>). Topic addresses get the deployment's prefix (LGNET_TOPIC_PREFIX)"
                " in front."
                " Generated by lgnet_shared.asyncapi."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": (
                    "The city's (or the national) Kafka cluster. TLS only (the cluster's CA: a partner's bundle"
                    " `kafka.ca_pem`, KAFKA_SSL_CAFILE), every client logs in with SASL/SCRAM-SHA-512 as its own"
                    " principal and may touch only what its ACLs allow (Kafka's security.protocol=SASL_SSL)"
                ),
                "variables": {"bootstrap": {"default": "localhost:9092", "description": "KAFKA_BOOTSTRAP_SERVERS"}},
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": {t: _channel(t, ms) for t, ms in sorted(channels.items())},
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": {_message_id(m): _message(m, data_schemas[m], contracts) for m in everything},
            "securitySchemes": {"scram": SCRAM},
        },
    }
    if consumer_specs:  # the runtime dead-letters what its consumers cannot process
        doc["channels"]["deadletter"] = _dead_letter_channel()
        doc["operations"]["send.deadletter"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/deadletter"},
            "summary": "A record a consumer could not process after bounded retries, unchanged, with error headers",
            "messages": [{"$ref": "#/channels/deadletter/messages/deadletter"}],
        }
    used = _reachable(doc, schemas)
    if used:
        doc["components"]["schemas"] = {name: schemas[name] for name in sorted(used)}
    return doc


def _registry_name(topic: str) -> str:
    """The registry's name of a topic a consumer reads: a family's member ('partner.inbound.torino') is its family."""
    return topic if topic in TOPICS else family_of(topic)[0].name


def _add(channels: dict[str, list[type[Event]]], topic: str, models: list[type[Event]]) -> None:
    if topic not in TOPICS:
        raise ValueError(f"topic {topic!r} is not in lgnet_shared.topics.TOPICS")
    known = channels.setdefault(topic, [])
    known += [m for m in models if m not in known]


def _message_id(model: type[Event]) -> str:
    return f"{model.type}.v{model.version}"


def _operation(action: str, topic: str, models: list[type[Event]], summary: str) -> Json:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic}"},
        "summary": summary,
        "messages": [
            {"$ref": f"#/channels/{topic}/messages/{_message_id(m)}"} for m in sorted(models, key=_message_id)
        ],
    }


def _channel(topic: str, models: list[type[Event]]) -> Json:
    t = TOPICS[topic]
    channel: Json = {
        "address": _address(topic),
        "title": topic,
        "description": f"{t.description}. Key: {t.key}.",
        "messages": {
            _message_id(m): {"$ref": f"#/components/messages/{_message_id(m)}"} for m in sorted(models, key=_message_id)
        },
        "bindings": {"kafka": _topic_binding(topic)},
    }
    if t.per_partner:
        channel["parameters"] = {
            "partner": {"description": "The partner's id: each partner has its own topic, which only it may read"}
        }
    if t.per_city:
        channel["parameters"] = {
            "city": {
                "description": "The partner's city: a partner writes its own city's topic only, and only that city's"
                " intake (and a national one) reads it",
                "enum": list(CITIES),
            }
        }
    if topic.startswith("partner."):
        channel["tags"] = [{"name": "partner-facing", "description": "Read or written by partners' own systems"}]
    if topic == INBOUND:
        channel["description"] += (
            " Structured or binary CloudEvents mode; every record signed "
            f"(header {SIGNATURE_HEADER}: ed25519;<key id>;<base64url signature>)."
        )
    return channel


def _address(topic: str) -> str:
    t = TOPICS[topic]
    return f"lgnet.{t.name}" if t.family else physical(topic)  # 'lgnet.partner.rejections.{partner}'


def _topic_binding(topic: str) -> Json:
    t = TOPICS[topic]
    cfg: Json = {}
    for k, v in t.configs().items():
        if k == TIMESTAMP_TYPE:  # not a field of the binding's TopicConfiguration: the broker's, not a reader's concern
            continue
        cfg[k] = [v] if k == "cleanup.policy" else int(v)
    return {
        "topic": _address(topic),
        "partitions": t.partitions,
        "topicConfiguration": cfg,
        "bindingVersion": KAFKA_BINDING,
    }


def _schemas(models: list[type[Event]]) -> tuple[dict[str, Json], dict[type[Event], Json]]:
    """Every model's schema, with nested parts as shared components (pydantic disambiguates clashing names)."""
    if not models:
        return {}, {}
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=SCHEMAS + "{model}")
    defs: dict[str, Json] = top.get("$defs", {})
    data = {m: copy.deepcopy(defs[refs[(m, "validation")]["$ref"].removeprefix(SCHEMAS)]) for m in models}
    return defs, data


def _message(model: type[Event], data_schema: Json, contracts: Path | None = None) -> Json:
    payload = Envelope.model_json_schema(ref_template=SCHEMAS + "{model}")
    if model.topic == INBOUND:  # what a partner's record carries (`envelope.check_partner_record`)
        payload = partner_schema(payload)
    props = payload["properties"]
    for name, text in ATTRIBUTES.items():
        props[name]["description"] = text
    props["type"] = {"type": "string", "const": model.type, "description": "CloudEvents type"}
    props["dataschema"] = {"type": "string", "const": model.dataschema(), "description": ATTRIBUTES["dataschema"]}
    props["data"] = data_schema
    payload["title"] = f"{model.__name__} (CloudEvent)"
    doc = (model.__doc__ or "").strip()
    message: Json = {
        "name": model.type,
        "title": f"{model.__name__} v{model.version}",
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {
                "content-type": {"type": "string", "const": STRUCTURED_CONTENT_TYPE},
                "traceparent": {"type": "string", "description": ATTRIBUTES["traceparent"]},
            },
        },
        "payload": payload,
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": _key_description(model)},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    if model.topic == INBOUND:  # what the gatekeeper authenticates by
        message["headers"]["properties"][SIGNATURE_HEADER] = SIGNATURE
        message["headers"]["required"] = [SIGNATURE_HEADER]
    if doc:
        message["summary"] = doc.splitlines()[0]
    if contracts is not None and (example := _example(model, contracts)) is not None:
        message["examples"] = [example]
    return message


def _example(model: type[Event], contracts: Path) -> Json | None:
    """The committed example of the model's schema, in the envelope and with the headers its reader gets."""
    from lgnet_shared.contracts.examples import envelope_of, example_path

    path = example_path(contracts, model.type, model.version)
    if not path.exists():
        return None
    env = envelope_of(model.type, model.version, json.loads(path.read_text(encoding="utf-8")))
    payload = env.model_dump(mode="json", exclude_none=True)
    headers = {"content-type": STRUCTURED_CONTENT_TYPE}
    if model.topic == INBOUND:  # signed as a partner signs: the value as produced (here: compact JSON)
        value = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers[SIGNATURE_HEADER] = signing.sign(EXAMPLE_SIGNER, EXAMPLE_KEY_ID, value, [])[1].decode()
    return {
        "name": f"{model.type.rsplit('.', 1)[1]}-v{model.version}",
        "summary": f"contracts/examples/{model.type}/v{model.version}.json in its envelope",
        "headers": headers,
        "payload": payload,
    }


def _key_description(model: type[Event]) -> str:
    if model.topic == INBOUND:  # one partner's events in one partition, in the order it sent them
        return "the partner id (= partitionkey), so intake reads one partner's events in order"
    return f"{model.key_field}: the aggregate id (= partitionkey)"


def _dead_letter_channel() -> Json:
    headers = {h: {"type": "string"} for h in (*DLQ_HEADERS, H_REDRIVEN)}
    headers[H_REDRIVEN]["description"] = "On re-driven records and redrive markers: <dlq topic>:<partition>:<offset>"
    headers |= {h: {"type": "string", "description": text} for h, text in MARKER_HEADERS.items()}
    return {
        "address": physical("deadletter"),
        "title": "deadletter",
        "description": f"{TOPICS['deadletter'].description}. List and re-drive with `lgnet-deadletters`.",
        "messages": {
            "deadletter": {
                "name": "deadletter",
                "title": "Dead letter",
                "contentType": "application/octet-stream",
                "summary": "The original record's value and key, unchanged, plus its headers and these",
                "headers": {"type": "object", "properties": headers},
                "payload": {"description": "The original record's value, byte for byte (possibly not JSON)"},
                "bindings": {"kafka": {"key": {"type": "string", "description": "The original key"}}},
            }
        },
        "bindings": {"kafka": _topic_binding("deadletter")},
    }


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(SCHEMAS):
                yield v.removeprefix(SCHEMAS)
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _reachable(doc: Json, schemas: dict[str, Json]) -> set[str]:
    """Component schemas the messages use, transitively; the event models themselves are inlined."""
    seen: set[str] = set()
    todo = list(_refs(doc))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(schemas[name])
    return seen


def declared_consumers(spec: ServiceSpec) -> list[ConsumerSpec]:
    """Consumers as declared without a runtime; a factory that needs one is left out (and reported)."""
    try:
        return list(spec.consumers(cast(Runtime, SimpleNamespace(settings=None))))
    except Exception as exc:
        print(f"asyncapi: {spec.name}: consumers not declarable without a runtime ({exc!r}); left out", file=sys.stderr)
        return []


def render(service: str, contracts: Path | None = None) -> str:
    spec: ServiceSpec = importlib.import_module(f"lgnet_{service}.entrypoints.main").SPEC
    doc = document(spec, declared_consumers(spec), contracts)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lgnet_shared.asyncapi", description="AsyncAPI documents of the services"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/asyncapi"), help="folder of <service>.json files")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the generated ones")
    parser.add_argument("--contracts", type=Path, default=Path("contracts"), help="where contracts/examples/ is")
    args = parser.parse_args(argv)
    stale = []
    for service in SERVICES:
        path: Path = args.out / f"{service}.json"
        text = render(service, args.contracts if args.contracts.is_dir() else None)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run `python -m lgnet_shared.asyncapi --out {args.out}`", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
