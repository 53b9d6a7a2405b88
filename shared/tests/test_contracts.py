"""The contract check: committed schemas equal the models, versions stay backward compatible, old events read."""

from __future__ import annotations

import json
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


def test_old_assessments_with_codes_no_list_holds_still_decode() -> None:
    """Written before codes were checked (#18): the fact stays readable; new submissions are refused instead."""
    env = from_record((CONTRACTS / "examples" / "needs_assessed_v2.json").read_bytes(), [], None)
    event = decode(env)
    assert event.model_dump()["vulnerabilities"] == ["psychiatric_condition", "anything_goes_xyz"]
