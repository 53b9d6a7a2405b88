"""AsyncAPI documents generated from code: channels, operations and payloads follow the spec and the catalogue."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from lgnet_shared.asyncapi import declared_consumers, document, main
from lgnet_shared.consumer import handlers_of
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import partner as inbound
from lgnet_shared.events.intake import CaseOpened, HouseholdFormed, InboundRejected, PersonRegistered
from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


async def noop(conn: Conn, env: Envelope, event: Event) -> None:
    return None


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


@pytest.fixture
def housing_doc() -> dict[str, Any]:
    spec = ServiceSpec(name="housing", default_port=0, produces=["housing.events"])
    handlers = handlers_of((CaseOpened, noop), (HouseholdFormed, noop))
    handlers["lgnet.intake.not_a_registered_type"] = noop
    return document(spec, [ConsumerSpec("matching", ["intake.events"], handlers)])


def test_channels_and_operations_follow_the_spec(housing_doc: dict[str, Any]) -> None:
    doc = housing_doc
    assert doc["asyncapi"] == "3.1.0" and doc["info"]["title"] == "LgNet housing"
    assert doc["servers"]["kafka"]["protocol"] == "kafka-secure" and doc["servers"]["kafka"]["host"] == "{bootstrap}"
    channels = doc["channels"]
    assert set(channels) == {"housing.events", "intake.events", "deadletter"}
    assert channels["intake.events"]["address"] == "lgnet.intake.events"
    assert set(channels["intake.events"]["messages"]) == {
        "lgnet.intake.case_opened.v1",
        "lgnet.intake.case_opened.v2",
        "lgnet.intake.household_formed.v1",
    }
    assert channels["intake.events"]["bindings"]["kafka"]["partitions"] == 6
    ops = doc["operations"]
    assert set(ops) == {"send.housing.events", "receive.intake.events.matching", "send.deadletter"}
    receive = ops["receive.intake.events.matching"]
    assert receive["action"] == "receive" and receive["channel"] == {"$ref": "#/channels/intake.events"}
    group = re.compile(receive["bindings"]["kafka"]["groupId"]["pattern"])
    assert group.match("torino.housing.matching") and group.match("t1.torino-north.housing.matching")
    assert not group.match("housing.matching") and not group.match("torino.housing.matchingx")
    assert ops["send.housing.events"]["action"] == "send"
    for op in ops.values():  # AsyncAPI 3: an operation's messages are its channel's messages
        channel = op["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in op["messages"])
    for ref in refs(doc):
        assert resolve(doc, ref) is not None, ref


def test_message_payload_is_the_envelope_with_the_model_as_data(housing_doc: dict[str, Any]) -> None:
    message = housing_doc["components"]["messages"]["lgnet.intake.case_opened.v2"]
    assert message["contentType"] == "application/cloudevents+json" and message["name"] == CaseOpened.type
    assert "case_id" in message["bindings"]["kafka"]["key"]["description"]
    payload = message["payload"]
    assert set(payload["required"]) >= {"source", "type", "city", "partitionkey", "data"}
    assert payload["properties"]["type"]["const"] == "lgnet.intake.case_opened"
    assert payload["properties"]["dataschema"]["const"] == CaseOpened.dataschema()
    expected = CaseOpened.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = expected.pop("$defs", {})
    assert payload["properties"]["data"] == expected
    assert set(nested) <= set(housing_doc["components"]["schemas"])  # e.g. enums, as shared components


def test_produced_channels_hold_only_the_services_own_types() -> None:
    spec = ServiceSpec(name="intake", default_port=0, produces=["intake.events", "partner.rejections.{partner}"])
    gatekeeper = ConsumerSpec(  # a national gatekeeper reads every city's inbound topic: one channel, per city
        "gatekeeper",
        ["partner.inbound.torino", "partner.inbound.trieste"],
        handlers_of((inbound.PersonRegistrationSubmitted, noop)),
    )
    doc = document(spec, [gatekeeper])
    produced = set(doc["channels"]["intake.events"]["messages"])
    assert {f"{PersonRegistered.type}.v{v}" for v in (1, 2, 3)} <= produced
    assert all(m.startswith("lgnet.intake.") for m in produced)
    assert set(doc["channels"]["partner.rejections.{partner}"]["messages"]) == {
        f"{InboundRejected.type}.v{v}" for v in (1, 2)
    }
    channel = doc["channels"]["partner.inbound.{city}"]
    assert set(channel["messages"]) == {f"{inbound.PersonRegistrationSubmitted.type}.v{v}" for v in (1, 2, 3)}
    assert channel["address"] == "lgnet.partner.inbound.{city}"
    assert "torino" in channel["parameters"]["city"]["enum"]
    assert "partner.inbound" not in doc["channels"]  # the old shared topic is no longer a channel anyone writes
    assert channel["tags"][0]["name"] == "partner-facing"
    assert doc["operations"]["send.partner.rejections.{partner}"]["action"] == "send"
    assert doc["operations"]["receive.partner.inbound.{city}.gatekeeper"]["action"] == "receive"
    # Another service writing to intake's topic would publish none of intake's types.
    other = document(ServiceSpec(name="housing", default_port=0, produces=["intake.events"]), [])
    assert other["channels"]["intake.events"]["messages"] == {}


def test_consumers_needing_a_started_runtime_are_left_out() -> None:
    def consumers(runtime: Runtime) -> list[ConsumerSpec]:
        runtime.pool.acquire()  # a started runtime only
        return []

    spec = ServiceSpec(name="payments", default_port=0, consumers=consumers, produces=["payments.events"])
    assert declared_consumers(spec) == []
    doc = document(spec, declared_consumers(spec))
    assert set(doc["operations"]) == {"send.payments.events"}


def test_committed_documents_are_up_to_date(tmp_path: Path) -> None:
    assert main(["--out", str(DOCS), "--check"]) == 0, "run `python -m lgnet_shared.asyncapi --out docs/asyncapi`"
    out = tmp_path / "asyncapi"
    assert main(["--out", str(out), "--check"]) == 1  # missing files
    shutil.copytree(DOCS, out)
    assert main(["--out", str(out), "--check"]) == 0
    stale = out / "housing.json"
    stale.write_text(stale.read_text().replace("lgnet.housing.events", "lgnet.housing.old"))
    assert main(["--out", str(out), "--check"]) == 1
    assert main(["--out", str(out)]) == 0
    assert (out / "housing.json").read_text() == (DOCS / "housing.json").read_text()


def test_every_message_carries_its_committed_example_in_its_envelope() -> None:
    """The documents reference contracts/examples/: each message's example is that file's data in its envelope,
    valid against the message's own payload schema."""
    import json

    for service in ("intake", "housing", "payments", "reporting"):
        doc = json.loads((DOCS / f"{service}.json").read_text())
        for message_id, message in doc["components"]["messages"].items():
            (example,) = message["examples"]
            event_type, version = message_id.rsplit(".v", 1)
            stored = json.loads(
                (DOCS.parents[1] / "contracts" / "examples" / event_type / f"v{version}.json").read_text()
            )
            assert example["payload"]["data"] == stored, message_id
            assert example["payload"]["type"] == event_type
            assert example["summary"] == f"contracts/examples/{event_type}/v{version}.json in its envelope"


@pytest.mark.parametrize("service", ["intake", "housing", "payments", "reporting"])
def test_the_server_says_how_every_client_connects(service: str) -> None:
    """The cluster speaks only TLS with SASL/SCRAM-SHA-512 (docs/partners.md, "Connecting to Kafka"): a client
    generated from the document must not try plaintext without a login."""
    import json

    doc = json.loads((DOCS / f"{service}.json").read_text())
    server = doc["servers"]["kafka"]
    assert server["protocol"] == "kafka-secure"
    [scheme] = [resolve(doc, s["$ref"]) for s in server["security"]]
    assert scheme["type"] == "scramSha512"


def test_a_partners_inbound_messages_require_the_signature_header() -> None:
    """Intake answers only records signed in the `lgnet-signature` header (docs/partners.md, "Signing"): every
    message of the inbound channel requires it, and each example carries one that verifies over its value with the
    worked example's key of docs/partners.md."""
    import json

    import jsonschema
    from lgnet_shared import signing

    doc = json.loads((DOCS / "intake.json").read_text())
    channel = doc["channels"]["partner.inbound.{city}"]
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")  # RFC 8032 test 1
    assert channel["messages"]
    for ref in channel["messages"].values():
        message = resolve(doc, ref["$ref"])
        assert message["headers"]["required"] == ["lgnet-signature"], message["name"]
        (example,) = message["examples"]
        jsonschema.validate(example["headers"], message["headers"])
        value = json.dumps(example["payload"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = [(k, v.encode()) for k, v in example["headers"].items()]
        assert signing.key_id_of(headers) == "coop-aurora-2026"
        signing.verify(public, value, headers)
    for message in doc["components"]["messages"].values():  # facts: no partner signature asked for
        if message["name"] not in {resolve(doc, r["$ref"])["name"] for r in channel["messages"].values()}:
            assert "required" not in message["headers"], message["name"]


def test_a_partners_inbound_messages_require_its_partner_and_take_no_facts_attribute() -> None:
    """docs/partners.md, "The envelope": `partner` is required, and no attribute but those listed is allowed — not
    `signingkey`, which only a deployment's signed facts carry. The inbound channel's payloads and the partner-facing
    envelope schema (contracts/envelope.partner.schema.json) say so; facts keep `partner` optional and `signingkey`."""
    import json

    doc = json.loads((DOCS / "intake.json").read_text())
    inbound_names = {
        resolve(doc, r["$ref"])["name"] for r in doc["channels"]["partner.inbound.{city}"]["messages"].values()
    }
    partner_envelope = json.loads((DOCS.parents[1] / "contracts" / "envelope.partner.schema.json").read_text())
    for payload in [partner_envelope] + [
        m["payload"] for m in doc["components"]["messages"].values() if m["name"] in inbound_names
    ]:
        assert "partner" in payload["required"] and "signingkey" not in payload["properties"], payload["title"]
        assert payload["additionalProperties"] is False
    for message in doc["components"]["messages"].values():
        if message["name"] not in inbound_names:
            assert "partner" not in message["payload"]["required"] and "signingkey" in message["payload"]["properties"]


def test_every_committed_channel_lists_only_the_types_its_topic_carries() -> None:
    """The AsyncAPI documents and the rule the consumers and auditors apply (`events.carried_on`: a type belongs on
    the topics its models are published on) say the same: no document lists a message on a channel whose topic
    does not carry its type (a consumer would dead-letter it there)."""
    from lgnet_shared.events import carried_on

    for path in sorted(DOCS.glob("*.json")):
        doc = json.loads(path.read_text())
        for channel, body in doc["channels"].items():
            if channel == "deadletter":  # any record a consumer could not process, whatever its type
                continue
            for message in body["messages"]:
                event_type = message.rsplit(".v", 1)[0]
                assert channel in carried_on(event_type), (path.name, channel, message)
