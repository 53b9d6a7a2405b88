"""One valid example of every event schema: `contracts/examples/<type>/v<N>.json`, the event's `data`.

`lgnet-contracts export` writes the example of a schema that has none, built from the schema with plausible values
(ids, dates, codes, amounts, sealed fields in the form each side uses; a partner's sealed to the worked example's
intake key under their own names, so the offline kit opens them); a written example is never rewritten, like
a published schema. `lgnet-contracts check` fails when a schema has no example or its example does not decode with
the model (strictly, for what partners send, as the gatekeeper reads it); `make lint` also validates each example
against its JSON Schema with check-jsonschema, an independent validator. The AsyncAPI documents carry them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from lgnet_shared import pii
from lgnet_shared.codec import decode
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import REGISTRY, event_types, versions
from lgnet_shared.events.base import JsonDict
from lgnet_shared.events.partner import IDENTITY_FIELDS

EXAMPLES = "examples"
INBOUND = "partner.inbound.{city}"  # each city's partners write their own city's topic
TIME = "2026-11-30T09:00:00Z"
# What a partner seals to intake (HPKE), by field: to the worked example's intake test key (docs/partners.md, "Worked
# example"), under each field's own name, so that `lgnet-partner check --intake-test-key <its private half>` opens
# them (services/intake/tests/test_partner_check.py holds every example to the kit). The fiscal code is Amina
# Okafor's, born in Nigeria on 1991-04-02: it agrees with the birth date and the sex.
WORKED_EXAMPLE_INTAKE_KEY = ("ik-example", "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo")
IDENTITY = {
    "given_name": "Amina",
    "family_name": "Okafor",
    "fiscal_code": "KFRMNA91D42Z335D",
    "phone": "+39 011 555 0101",
    "address": "Via Roma 1, 10121 Torino",
    "birth_date": "1991-04-02",
    "nickname": "Mina",
}
IDENTITY["all"] = json.dumps({k: v for k, v in IDENTITY.items() if k != "nickname"}, separators=(",", ":"))
# AES-GCM-sealed values of LgNet's facts, the right shape; they open with nothing.
FACT_SEALED = {"kid": "p-0001", "n": "q83vEjRWeJCrzeHy", "ct": "6Lq0d2XbTqk1cJmC8wN3oV4kRb0tZs9YHfA1"}
BY_NAME: dict[str, Any] = {  # plausible values by field name; the schema decides everything else
    "city": "torino",
    "partner": "coop-aurora",
    "to_partner": "coop-borgo",
    "from_partner": "coop-aurora",
    "nationality": "NG",
    "birth_date": IDENTITY["birth_date"],  # a registration v1's, in clear: the one its fiscal code encodes
    "member_ids": ["p-0001"],  # the person the registration's example registers
    "reference_person_id": "p-0001",  # one of member_ids
    "languages": ["it", "en"],
    "sex": "female",
    "reason": "family_reunification",
    "objective": "housing",
    "objectives": ["housing", "money_management"],  # codes of the vocabulary list `plan_objective`
    "vulnerabilities": ["single_parent"],
    "iban": "IT60X0542811101000000123456",
    "bic": "BPMOIT22XXX",
    "currency": "EUR",
    "inbound_event_id": "0193b2a4-8f00-7c1e-9a6e-1f2d3c4b5a69",
    "inbound_type": "lgnet.partner.case_opening_submitted",
    "kind": "not_found",
    "field": "data.household_id",
}
PATTERNED = ("example", "0" * 64, "it", "NG", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "EX-1")
# What an example leaves out, by its path in `data`: v2 sends the birth date sealed, never in clear; v3's example
# seals the whole identity at once (`identity.all`), as recommended, so no field one by one either.
_REGISTRATION = "lgnet.partner.person_registration_submitted"
SKIP = {(_REGISTRATION, 2, "birth_date"), (_REGISTRATION, 3, "birth_date")}
SKIP |= {(_REGISTRATION, 3, f"identity.{name}") for name in IDENTITY_FIELDS}


def example_path(root: Path, event_type: str, version: int) -> Path:
    return root / EXAMPLES / event_type / f"v{version}.json"


def schema_path(root: Path, event_type: str, version: int) -> Path:
    return root / event_type / f"v{version}.schema.json"


def built(event_type: str, version: int, schema: JsonDict) -> JsonDict:
    """An example of `data` built from the schema (then checked by the model: see `problems`)."""
    inbound = REGISTRY[(event_type, version)].model.topic == INBOUND
    defs: JsonDict = schema.get("$defs", {})

    def sealed(field: str) -> JsonDict:
        if not inbound:
            return dict(FACT_SEALED)
        return pii.seal_for(
            WORKED_EXAMPLE_INTAKE_KEY[1], WORKED_EXAMPLE_INTAKE_KEY[0], field, IDENTITY[field]
        ).model_dump()

    def value(node: JsonDict, name: str) -> Any:
        if "$ref" in node:
            ref = node["$ref"].rsplit("/", 1)[-1]
            return sealed(name.rsplit(".", 1)[-1]) if ref == "Sealed" else value(defs[ref], name)
        if "anyOf" in node:
            return value(next(n for n in node["anyOf"] if n.get("type") != "null"), name)
        if "allOf" in node:
            return value(node["allOf"][0], name)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            hinted = BY_NAME.get(name)
            return hinted if hinted in node["enum"] else node["enum"][0]
        kind = node.get("type")
        if name in BY_NAME and kind != "object":
            return BY_NAME[name]
        if kind == "object":
            props: JsonDict = node.get("properties", {})
            return {
                k: value(v, k)
                for k, v in props.items()
                if (event_type, version, k if node is schema else f"{name}.{k}") not in SKIP and v.get("type") != "null"
            }
        if kind == "array":
            return [value(node.get("items", {}), name.removesuffix("s").removesuffix("_id") + "_id")] * max(
                1, node.get("minItems", 1)
            )
        if kind == "boolean":
            return True
        if kind == "integer":
            low = node.get("minimum", node.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in node else 0)
            return max(low, 12000 if name.endswith("cents") else 2 if "count" in name or "size" in name else 1)
        if kind == "number":
            return 1.5
        if kind == "string":
            if node.get("format") == "date":
                return "2026-11-30"
            if node.get("format") == "date-time":
                return TIME
            if name.endswith("_id") or name == "referrer":
                return f"{name.removesuffix('_id')[:1] or 'x'}-0001"
            if "pattern" in node:
                return next(c for c in PATTERNED if re.search(node["pattern"], c))
            if name.endswith("_by"):
                return "staff-torino"
            return f"example-{name}" if name else "example"
        return None

    return value(schema, "")  # type: ignore[no-any-return]


def envelope_of(event_type: str, version: int, data: JsonDict) -> Envelope:
    """The example in the envelope a reader gets it in (a partner's, on the inbound topic)."""
    model = REGISTRY[(event_type, version)].model
    inbound = model.topic == INBOUND
    return Envelope(
        specversion="1.0",
        id="0193b2a4-8f00-7c1e-9a6e-1f2d3c4b5a69",
        source="/partners/coop-aurora" if inbound else f"/lgnet/{event_type.split('.')[1]}",
        type=event_type,
        dataschema=model.dataschema(),
        time=datetime.fromisoformat(TIME),
        city="torino",
        partner="coop-aurora" if inbound else None,
        partitionkey="coop-aurora" if inbound else str(data.get(model.key_field, "x")),
        data=data,
    )


def export(root: Path) -> list[str]:
    written = []
    for t in event_types():
        for v in versions(t):
            path = example_path(root, t, v)
            if path.exists():
                continue  # examples are frozen once written, like the schemas
            schema = json.loads(schema_path(root, t, v).read_text())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(built(t, v, schema), indent=2, ensure_ascii=False) + "\n")
            written.append(path.relative_to(root).as_posix())
    return written


def problems(root: Path) -> list[str]:
    found = []
    for t in event_types():
        for v in versions(t):
            path = example_path(root, t, v)
            rel = path.relative_to(root).as_posix()
            if not path.exists():
                found.append(f"{rel}: no example (run `lgnet-contracts export`)")
                continue
            env = envelope_of(t, v, json.loads(path.read_text()))
            try:
                decode(env, strict=REGISTRY[(t, v)].model.topic == INBOUND)
            except ValueError as exc:
                found.append(f"{rel}: does not decode: {exc}")
    return found
