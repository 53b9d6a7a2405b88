"""The canonical form of a report: one byte string per report, whoever computes it, and its SHA-256 digest.

Keys sorted, no insignificant whitespace, UTF-8, dates as ISO strings: the same facts give byte-identical output.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(report: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(report)).hexdigest()
