"""Every example under contracts/examples/<type>/v<N>.json against contracts/<type>/v<N>.schema.json, judged by
check-jsonschema (an independent validator, formats checked), in one process: `make check-examples` (in lint)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from check_jsonschema import main as check_jsonschema

ROOT = Path(__file__).resolve().parents[1] / "contracts"


def main() -> int:
    examples = sorted(ROOT.glob("examples/lgnet.*/v*.json"))
    schemas = sorted(ROOT.glob("lgnet.*/v*.schema.json"))
    failed = []
    for example in examples:
        m = re.fullmatch(r"(v\d+)\.json", example.name)
        schema = ROOT / example.parent.name / f"{m[1] if m else example.stem}.schema.json"
        try:
            check_jsonschema(["-q", "--schemafile", str(schema), str(example)])
        except SystemExit as exc:
            if exc.code:
                failed.append(f"{example.relative_to(ROOT)}: not valid against {schema.relative_to(ROOT)}")
    missing = {s.relative_to(ROOT).as_posix() for s in schemas} - {
        f"{e.parent.name}/{e.stem}.schema.json" for e in examples
    }
    failed += [f"{m}: no example under contracts/examples/" for m in sorted(missing)]
    for line in failed:
        print(f"check-examples: {line}", file=sys.stderr)
    if not failed:
        print(f"check-jsonschema: {len(examples)} examples valid against their schemas (one per schema)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
