"""Rules for documents attached to a person (residence permits, ISEE, leases, signed consents). Pure."""

from __future__ import annotations

import hashlib

from lgnet_shared.access import Actor, Role
from lgnet_shared.errors import ContractError, Forbidden

MAX_BYTES = 10 * 1024 * 1024  # a scanned multi-page PDF; larger files are refused, naming the limit
MAX_NOTE_CHARS = 10_000
# The first bytes of each accepted type: the declared type must match the content (a renamed .exe is refused).
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def check_document(media_type: str, content: bytes) -> str:
    """The content's SHA-256 (hex) once its type and size are acceptable."""
    if media_type not in SIGNATURES:
        raise ContractError("media_type", f"only {', '.join(sorted(SIGNATURES))} are accepted")
    if not content:
        raise ContractError("content_base64", "is empty")
    if len(content) > MAX_BYTES:
        raise ContractError("content_base64", f"is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not content.startswith(SIGNATURES[media_type]):
        raise ContractError("content_base64", f"is not a {media_type} file (its first bytes say otherwise)")
    return hashlib.sha256(content).hexdigest()


def check_note(text: str) -> str:
    text = text.strip()
    if not text:
        raise ContractError("text", "is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise ContractError("text", f"is longer than {MAX_NOTE_CHARS} characters")
    return text


def may_withdraw(actor: Actor, written_by: str, field: str) -> None:
    """A note or document is withdrawn by the city's staff (any of the city's persons'), or by the partner that wrote
    or attached it: a partner serving the case does not destroy what the city or another partner recorded."""
    if actor.role is Role.PARTNER and written_by != actor.id:
        raise Forbidden(field, "only the city's staff or the partner that wrote it may withdraw it")
