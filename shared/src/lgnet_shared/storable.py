"""What PostgreSQL can store, one rule for every input from outside (HTTP bodies, paths, queries, headers:
`inputs.InputGuard`; partners' events over Kafka: `codec.decode(strict=True)`): text is UTF-8 without NUL
characters, whole numbers fit bigint, and identifiers hold no control characters and are one segment of an address
(no `/`, not `.` or `..`). A value that breaks it would
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
SEGMENT_REASON = "is not one segment of an address: an identifier holds no '/' and is not '.' or '..'"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a JSON text holds when one of its values may break the rule: a \u escape, or \b \t \n \f \r (control
# characters, which an id may not hold); a run of 19+ digits; DEL; a C1 control as raw UTF-8. Looked for piece by
# piece: one regular expression with the digit run in it took 36 µs for an 800-byte registration, this 3.5 µs.
_ESCAPE = re.compile(rb"\\[ubtnfr]")
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_DIGITS = b"0" * 48 + b"1" * 10 + b"0" * 198  # translate: ASCII digits to 1, every other byte to 0
_LONG_NUMBER = b"1" * 19
# A '/' in the value of an identifier (`is_identifier`: "id", "…_id", a string of "…_ids"), as JSON writes it (a
# string holding an escape other than \\ and \/ is looked at anyway, and an escaped quote too).
_ID_SLASH = re.compile(rb'"(?:id|[^"]*_id)"\s*:\s*"[^"]*/|"[^"]*_ids"\s*:\s*\[\s*(?:"[^"]*"\s*,\s*)*"[^"]*/')


def is_identifier(key: str) -> bool:
    """Ids name aggregates, become Kafka keys and CloudEvents attributes, which hold no control characters."""
    return key == "id" or key.endswith(("_id", "_ids"))


def is_segment(value: str) -> bool:
    """Whether an id can be one segment of the addresses that name it (`/persons/{person_id}/erasure`): with a `/`
    the routers split it (a person registered as "a/b" was found by a search, but never read, corrected or erased:
    404 everywhere), and `.` or `..` are resolved away by HTTP clients (RFC 3986)."""
    return "/" not in value and value not in (".", "..")


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


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
        elif identifier and not is_segment(value):
            yield path, SEGMENT_REASON
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
            yield from json_problems(v, sub, is_identifier(str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from json_problems(v, f"{path}.{i}" if path else str(i), identifier)


def may_hold_problems(json_text: bytes) -> bool:
    """False when a JSON text certainly holds no value `json_problems` would name: most documents, told apart without
    parsing or walking them."""
    return (
        (b"\\" in json_text and _ESCAPE.search(json_text) is not None)
        # an id that is no segment of an address: a '/' in an identifier's value only (a sealed value's base64 and an
        # envelope's source hold them: a '/' anywhere had every registration walked), or an escaped quote before it
        or _ID_SLASH.search(json_text) is not None
        or b'\\"' in json_text
        or b'"."' in json_text
        or b'".."' in json_text
        or b"\x7f" in json_text
        or (b"\xc2" in json_text and _C1.search(json_text) is not None)
        or _LONG_NUMBER in json_text.translate(_DIGITS)
    )


def first_problem(doc: Any, json_text: bytes) -> tuple[str, str] | None:
    """(dotted field, reason) of the first value of a JSON document that cannot be stored, or None; `json_text` is
    the document as JSON, which spares the walk when it holds nothing suspect."""
    return next(json_problems(doc), None) if may_hold_problems(json_text) else None
