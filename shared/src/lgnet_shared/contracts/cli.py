"""`lgnet-contracts`: the JSON Schemas of the event catalogue, exported into the repository and checked.

`export` writes `contracts/<event type>/v<N>.schema.json` for every registered model, plus the envelope.
`check` fails (exit 1) when a committed schema differs from its model, when a committed version has no model any
more (auditors replay old events forever), or when a version is not backward compatible with every earlier
version of the same type (transitively): a reader of version N must accept what any writer of version < N wrote.
It also checks that every schema has a valid example (`contracts/examples/<type>/v<N>.json`, see
lgnet_shared.contracts.examples) and that every AsyncAPI document in `docs/asyncapi/` is up to date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lgnet_shared.contracts import examples
from lgnet_shared.contracts.compat import incompatibilities
from lgnet_shared.envelope import Envelope, partner_schema
from lgnet_shared.events import REGISTRY, event_types, versions
from lgnet_shared.events.base import JsonDict

ENVELOPE_FILE = "envelope.schema.json"
# A partner's record (lgnet.partner.inbound.<city>): `partner` required, no attribute only facts carry.
PARTNER_ENVELOPE_FILE = "envelope.partner.schema.json"
SCHEMA_HEAD = {"$schema": "https://json-schema.org/draft/2020-12/schema"}


def schema_of(event_type: str, version: int) -> JsonDict:
    model = REGISTRY[(event_type, version)].model
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": model.dataschema(),
        "x-lgnet-type": event_type,
        "x-lgnet-version": version,
        "x-lgnet-key": model.key_field,
        "x-lgnet-topic": model.topic,
        **schema,
    }


def rendered() -> dict[str, str]:
    """Relative path -> file content, for every schema the code defines."""
    files = {f"{t}/v{v}.schema.json": _dump(schema_of(t, v)) for t in event_types() for v in versions(t)}
    envelope = Envelope.model_json_schema(mode="validation")
    files[ENVELOPE_FILE] = _dump({**SCHEMA_HEAD, "$id": "urn:lgnet:schema:envelope", **envelope})
    files[PARTNER_ENVELOPE_FILE] = _dump(
        {**SCHEMA_HEAD, "$id": "urn:lgnet:schema:envelope:partner", **partner_schema(envelope)}
    )
    return files


def _dump(doc: JsonDict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(root: Path) -> list[str]:
    written = []
    for rel, text in rendered().items():
        path = root / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(rel)
    return written


def problems(root: Path) -> list[str]:
    found: list[str] = []
    wanted = rendered()
    for rel, text in wanted.items():
        path = root / rel
        if not path.exists():
            found.append(f"{rel}: not exported (run `lgnet-contracts export`)")
        elif path.read_text() != text:
            found.append(f"{rel}: differs from the model (a published version must not change; add a new one)")
    for path in sorted(root.rglob("*.schema.json")):
        rel = path.relative_to(root).as_posix()
        if rel not in wanted:
            found.append(f"{rel}: committed but no model defines it any more (old events must stay readable)")
    for t in event_types():
        vs = versions(t)
        for i, new in enumerate(vs):
            for old in vs[:i]:
                for why in incompatibilities(schema_of(t, old), schema_of(t, new)):
                    found.append(f"{t} v{new} cannot read v{old}: {why}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lgnet-contracts", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["export", "check"])
    parser.add_argument("--dir", type=Path, default=Path("contracts"), help="where the schemas live")
    parser.add_argument("--asyncapi", type=Path, default=Path("docs/asyncapi"), help="AsyncAPI documents")
    args = parser.parse_args(argv)
    from lgnet_shared import asyncapi  # imports the services' specs; only needed here

    if args.command == "export":
        written = export(args.dir) + examples.export(args.dir)
        asyncapi.main(["--out", str(args.asyncapi), "--contracts", str(args.dir)])
        print(f"lgnet-contracts: {len(written)} schema or example file(s) written to {args.dir}")
        return 0
    found = problems(args.dir) + examples.problems(args.dir)
    for line in found:
        print(f"lgnet-contracts: {line}", file=sys.stderr)
    stale = asyncapi.main(["--out", str(args.asyncapi), "--contracts", str(args.dir), "--check"])
    if found or stale:
        return 1
    print(
        f"lgnet-contracts: {len(rendered())} schemas up to date and backward compatible, each with a valid example;"
        " AsyncAPI up to date"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
