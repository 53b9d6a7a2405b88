"""What PostgreSQL can store, one rule for every input from outside (HTTP bodies, paths, queries, headers:
`inputs.InputGuard`; partners' events over Kafka: `codec.decode(strict=True)`): text is UTF-8 without NUL
characters, whole numbers fit bigint, and identifiers hold no control characters. A value that breaks it would
otherwise be accepted and then fail in some service's database, far from whoever sent it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUL_REASON = "contains a NUL character (\\u0000), which text fields cannot hold"
SURROGATE_REASON = "contains an unpaired surrogate (\\ud800-\\udfff): not valid Unicode text"
INT_REASON = f"is out of range: whole numbers must be between {INT64_MIN} and {INT64_MAX}"
CONTROL_REASON = "contains a control character: identifiers are printable text"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_identifier(key: str) -> bool:
    """Ids name aggregates, become Kafka keys and CloudEvents attributes, which hold no control characters."""
    return key == "id" or key.endswith(("_id", "_ids"))


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    if "\x00" in value:
        return NUL_REASON
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_REASON
    return None


def json_problems(value: Any, path: str = "", identifier: bool = False) -> Iterator[tuple[str, str]]:
    """(dotted field, reason) for every string or integer in a JSON document that cannot be stored, and every
    identifier (`id`, `*_id`, `*_ids`) holding a control character."""
    if isinstance(value, str):
        if reason := text_problem(value):
            yield path, reason
        elif identifier and _CONTROL.search(value):
            yield path, CONTROL_REASON
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield path, INT_REASON
    elif isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if reason := text_problem(str(k)):
                yield sub, f"the key {reason}"
            yield from json_problems(v, sub, _is_identifier(str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from json_problems(v, f"{path}.{i}" if path else str(i), identifier)


def first_problem(doc: Any) -> tuple[str, str] | None:
    """(dotted field, reason) of the first value of a JSON document that cannot be stored, or None."""
    return next(json_problems(doc), None)
