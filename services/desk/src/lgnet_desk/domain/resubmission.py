"""A form sent twice (a double click, the browser's resend) is one request for the services. Each form that creates
something carries a key made when the form is rendered (kept when it is shown again after a refusal); every call the
form makes is sent with an Idempotency-Key derived from it, and the ids the desk makes for what it creates (a case's,
an appointment's, a person's) are derived from it too, so the second sending has the same body and the services
answer it what they answered the first (the services' `idempotent`: same key and body, same answer). Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
import secrets

FIELD = "form_key"  # the form's hidden field
# A form sent after its session lapsed is kept this long (service_layer/kept_forms.py), then not given back and
# forgotten: at the next login, and by the daily purge (a desk nobody logs in to kept it for good).
KEPT_MINUTES = 60
_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def fresh() -> str:
    """Hex: the services refuse an Idempotency-Key holding identifying data, and `token_urlsafe`'s letters, digits and
    underscores made a fiscal code's shape once in about 40,000 keys; a run of 32 hex digits makes none."""
    return secrets.token_hex(16)


def kept(form: dict[str, str]) -> str | None:
    """The key a form was sent with, when it looks like one the desk makes (anything else is ignored: the calls then
    get fresh keys, as before)."""
    key = str(form.get(FIELD, ""))
    return key if _SHAPE.fullmatch(key) else None


def call_key(form: dict[str, str], *call: str) -> str | None:
    """The Idempotency-Key of one call of the form (`call` names it: the action, a member's row, a purpose), else
    None when the form carried no key."""
    key = kept(form)
    return ":".join(("desk", key, *call)) if key else None


def derived_id(prefix: str, key: str) -> str:
    """An id like the desk's random ones (`<prefix>-<12 hex>`), the same for the same call key."""
    return f"{prefix}-{hashlib.sha256(f'{prefix}:{key}'.encode()).hexdigest()[:12]}"
