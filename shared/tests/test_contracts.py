"""The contract check: committed schemas equal the models, versions stay backward compatible, old events read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lgnet_shared.codec import decode
from lgnet_shared.contracts import cli
from lgnet_shared.contracts.compat import incompatibilities
from lgnet_shared.envelope import from_record

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


def obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


STR = {"type": "string"}
OPT_STR = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def test_committed_schemas_match_the_models_and_are_compatible() -> None:
    assert cli.problems(CONTRACTS) == []


def test_adding_an_optional_field_is_compatible() -> None:
    assert incompatibilities(obj({"a": STR}, ["a"]), obj({"a": STR, "b": OPT_STR}, ["a"])) == []


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (obj({"a": STR, "b": STR}, ["a"]), obj({"a": STR}, ["a"]), "data.b: removed"),
        (obj({"a": STR}, []), obj({"a": STR}, ["a"]), "data.a: required now"),
        (obj({"a": STR}, ["a"]), obj({"a": {"type": "integer"}}, ["a"]), "data.a: string values are no longer"),
        (
            obj({"a": {"enum": ["x", "y"], "type": "string"}}, ["a"]),
            obj({"a": {"enum": ["x"], "type": "string"}}, ["a"]),
            "data.a: allowed values narrowed",
        ),
        (obj({"a": {"type": "string", "maxLength": 9}}, []), obj({"a": {"type": "string", "maxLength": 5}}, []), "max"),
        (obj({"a": OPT_STR}, []), obj({"a": STR}, []), "data.a: null values are no longer accepted"),
    ],
)
def test_breaking_changes_are_named(old: dict[str, Any], new: dict[str, Any], why: str) -> None:
    found = incompatibilities(old, new)
    assert any(why in f for f in found), found


def test_a_changed_published_schema_fails_the_check(tmp_path: Path) -> None:
    cli.export(tmp_path)
    target = tmp_path / "lgnet.intake.case_opened" / "v1.schema.json"
    doc = json.loads(target.read_text())
    doc["required"] = [*doc["required"], "extra"]
    target.write_text(json.dumps(doc))
    (tmp_path / "lgnet.intake.gone" / "v1.schema.json").parent.mkdir()
    (tmp_path / "lgnet.intake.gone" / "v1.schema.json").write_text("{}")
    found = cli.problems(tmp_path)
    assert any("case_opened/v1.schema.json: differs" in f for f in found)
    assert any("lgnet.intake.gone/v1.schema.json: committed but no model" in f for f in found)


@pytest.mark.parametrize("example", sorted((CONTRACTS / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_stored_old_events_are_upcast_to_the_current_version(example: Path) -> None:
    """Records exactly as an older release wrote them to Kafka; they must read forever."""
    env = from_record(example.read_bytes(), [], None)
    assert env.dataschema is not None, "a stored example names the version it was written as"
    event = decode(env)
    assert event.version > int(env.dataschema.rsplit(":v", 1)[1])
    assert event.aggregate_id() == env.partitionkey


def test_person_registered_v1_gets_third_country_from_nationality() -> None:
    env = from_record((CONTRACTS / "examples" / "person_registered_v1.json").read_bytes(), [], None)
    event = decode(env)
    assert event.version == 4 and event.model_dump()["national_key"] is None  # no cross-city key before v4
    assert event.model_dump()["third_country"] is True  # Afghanistan is not in the EU
    # Written before birth dates were sealed: its clear birth date stays readable (reports count from it).
    assert event.model_dump()["birth_date"].isoformat() == "2011-03-14" and event.model_dump()["minor"] is None


def test_old_needs_assessments_read_as_the_restricted_version() -> None:
    env = from_record((CONTRACTS / "examples" / "needs_assessed_v1.json").read_bytes(), [], None)
    event = decode(env)
    assert event.version == 3 and event.topic == "intake.special"
    assert event.model_dump()["vulnerabilities"] == ["psychiatric_condition"]
    assert event.model_dump()["vulnerabilities_by_person"] is None  # recorded per household: counted as then


def test_every_schema_declares_its_dialect() -> None:
    """A validator must not guess the JSON Schema draft (check-jsonschema and others read `$schema`)."""
    for path in sorted(CONTRACTS.rglob("*.schema.json")):
        assert json.loads(path.read_text())["$schema"] == "https://json-schema.org/draft/2020-12/schema", path


def test_the_rejection_schema_names_every_kind_a_partner_can_receive() -> None:
    """Every kind the gatekeeper answers with is explained where partners look: the schema and docs/partners.md."""
    from lgnet_shared import errors, owned_ids

    classes: list[type[errors.ContractError]] = [errors.ContractError, *errors.ContractError.__subclasses__()]
    answered = {
        cls.kind
        for cls in classes
        # never answered: nobody proven to answer to; an HTTP If-Match's (no inbound event carries a condition); a
        # national consumer's refusal of a city's fact about another city's id (a dead letter, never a partner's)
        if cls not in (errors.Unauthenticated, errors.Unreadable, errors.PreconditionFailed, owned_ids.OtherCitysId)
    }
    schema = json.loads((CONTRACTS / "lgnet.intake.inbound_rejected" / "v1.schema.json").read_text())
    described = schema["properties"]["kind"]["description"]
    partners_md = (ROOT / "docs" / "partners.md").read_text()
    for kind in sorted(answered):
        assert f"{kind} (" in described, kind
        assert f"| `{kind}`" in partners_md or f"`{kind}`," in partners_md, kind


def test_every_schema_has_an_example_the_services_decode() -> None:
    """One example per (type, version), read as its consumers read it (partners' events strictly, as the gatekeeper
    does); `make lint` also validates each against its JSON Schema with check-jsonschema."""
    from lgnet_shared.contracts import examples

    assert examples.problems(CONTRACTS) == []
    assert len(list(CONTRACTS.glob("examples/lgnet.*/v*.json"))) == len(list(CONTRACTS.glob("lgnet.*/v*.schema.json")))


def test_a_missing_or_wrong_example_fails_the_check(tmp_path: Path) -> None:
    import shutil

    from lgnet_shared.contracts import examples

    shutil.copytree(CONTRACTS, tmp_path / "contracts")
    root = tmp_path / "contracts"
    (root / "examples" / "lgnet.intake.case_closed" / "v1.json").unlink()
    wrong = root / "examples" / "lgnet.partner.case_opening_submitted" / "v1.json"
    wrong.write_text(json.dumps({**json.loads(wrong.read_text()), "opened_on": 1764460800}))
    found = examples.problems(root)
    assert any("case_closed/v1.json: no example" in f for f in found)
    assert any("case_opening_submitted/v1.json: does not decode: data.opened_on" in f for f in found)


def test_old_assessments_with_codes_no_list_holds_still_decode() -> None:
    """Written before codes were checked (#18): the fact stays readable; new submissions are refused instead."""
    env = from_record((CONTRACTS / "examples" / "needs_assessed_v2.json").read_bytes(), [], None)
    event = decode(env)
    assert event.model_dump()["vulnerabilities"] == ["psychiatric_condition", "anything_goes_xyz"]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("partner", None),  # required, and a partner id: not null
        ("traceparent", "hello"),  # W3C trace context or absent
        ("traceparent", "00-" + "g" * 32 + "-" + "0" * 16 + "-01"),  # hex only
    ],
)
def test_the_partner_envelope_schema_refuses_what_intake_refuses(attribute: str, value: Any) -> None:
    """A partner validating its records against contracts/envelope.partner.schema.json (and the AsyncAPI inbound
    payloads, made the same way) learnt nothing of what the gatekeeper then refused as `not_cloudevent`: the schema
    took a null `partner` and any `traceparent` of up to 55 characters. Both say the same now."""
    import jsonschema
    from lgnet_shared.envelope import Envelope, check_partner_record
    from lgnet_shared.errors import NotACloudEvent

    schema = json.loads((CONTRACTS / "envelope.partner.schema.json").read_text())
    record = {"specversion": "1.0", "id": "e-1", "source": "coop-aurora", "type": "lgnet.partner.x.v1",
              "time": "2026-12-07T09:00:00Z", "city": "torino", "partner": "coop-aurora", "partitionkey": "coop-aurora",
              "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "data": {}}  # fmt: skip
    jsonschema.validate(record, schema)  # the good one passes both
    check_partner_record(Envelope.model_validate({**record, "time": datetime(2026, 12, 7, 9, tzinfo=UTC)}))
    bad = {**record, attribute: value}
    with pytest.raises(NotACloudEvent):
        check_partner_record(Envelope.model_validate({**bad, "time": datetime(2026, 12, 7, 9, tzinfo=UTC)}))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
