"""What a phone number must look like, one rule for intake (a registration over HTTP, a partner's sealed phone once
opened, a correction) and for the desk, which checks it before it sends a registration so that it is said with the
form's other faults. Pure.

Digits, an optional leading "+", and the separators people write between groups (spaces, dashes, dots,
parentheses); 6 to 15 digits (the shortest Italian numbers have 6; E.164 allows at most 15). An outside test
registered "abcde": the rule was five characters of anything."""

from __future__ import annotations

import re

_SHAPE = re.compile(r"\+?[0-9 ().\-]+")
MIN_DIGITS = 6
MAX_DIGITS = 15
PHONE_REASON = (
    f"is not a phone number: digits ({MIN_DIGITS} to {MAX_DIGITS}), an optional leading +, and spaces, dashes, dots"
    " or parentheses between them"
)


def phone_problem(value: str) -> str | None:
    """PHONE_REASON when `value` is no phone number, else None. The reason never repeats the value (personal data)."""
    text = value.strip()
    digits = sum(c.isdigit() for c in text)
    if not _SHAPE.fullmatch(text) or not MIN_DIGITS <= digits <= MAX_DIGITS:
        return PHONE_REASON
    return None
