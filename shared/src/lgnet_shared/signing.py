"""Partners sign what they put on the inbound topic (Ed25519), so intake knows who sent each record.

Header `lgnet-signature: ed25519;<key id>;<base64url signature>`. The signed bytes are the record value; in
binary mode, followed by a newline and the sorted `ce_*` headers as `name=value` lines joined by newlines, so
the attributes are covered too. Any language's Ed25519 library can produce it (docs/partners.md).

Verification uses libsodium (PyNaCl): it is twice as fast as OpenSSL's Ed25519 here (70 against 150 µs), which is
most of what the gatekeeper spends per record on authentication (docs/benchmarks.md), and it is the stricter of
the two (it refuses non-canonical signatures and small-order keys).
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from lgnet_shared.envelope import Headers
from lgnet_shared.errors import Unauthenticated

HEADER = "lgnet-signature"


def signed_bytes(value: bytes | None, headers: Headers) -> bytes:
    for k, _ in headers:  # the third character first: cheap, and no fact's header has '_' there
        if k[2:3] == "_" and k[:3].lower() == "ce_":
            break
    else:  # structured mode (every fact): the value alone, without building anything per header
        return value or b""
    ce = [(k, v) for k, v in headers if k[:3].lower() == "ce_"]
    lines = sorted(f"{k.lower()}={v.decode('utf-8', 'replace')}" for k, v in ce)
    return (value or b"") + ("\n" + "\n".join(lines)).encode()


def sign(private: Ed25519PrivateKey, key_id: str, value: bytes | None, headers: Headers) -> tuple[str, bytes]:
    return header(key_id, private.sign(signed_bytes(value, headers)))


def header(key_id: str, signature: bytes) -> tuple[str, bytes]:
    """The signature header of a record signed by `key_id` (any Ed25519 implementation made `signature`)."""
    return HEADER, f"ed25519;{key_id};{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}".encode()


def key_id_of(headers: Headers) -> str | None:
    """The key id a record claims to be signed with (None when unsigned or malformed)."""
    parts = _parts(headers)
    return parts[1] if parts else None


def verifying_key(public_key: bytes) -> VerifyKey:
    """A partner's raw public key, loaded once to verify many records."""
    return VerifyKey(public_key)


def signature_of(headers: Headers) -> tuple[str, str] | None:
    """(key id, base64url signature) of a signed record, None when unsigned or malformed: parse once, then
    `verify(..., signature=...)` and look the key up with the same result."""
    parts = _parts(headers)
    return (parts[1], parts[2]) if parts else None


def verify(
    public_key: bytes | VerifyKey,
    value: bytes | None,
    headers: Headers,
    signature: tuple[str, str] | None = None,
) -> None:
    """Raises Unauthenticated unless the record is signed by `public_key` (raw bytes, or loaded once and reused).
    `signature`: the record's `signature_of`, when the caller has parsed it already."""
    parts = ["ed25519", *signature] if signature else _parts(headers)
    if parts is None or ";" in parts[2]:  # a batch signature is a fact's (fact_signing), never a partner's
        raise Unauthenticated(f"headers.{HEADER}", "missing or malformed: expected ed25519;<key id>;<signature>")
    try:
        sig = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        if isinstance(public_key, bytes):
            public_key = verifying_key(public_key)
        public_key.verify(signed_bytes(value, headers), sig)
    except (BadSignatureError, ValueError):
        raise Unauthenticated(f"headers.{HEADER}", "signature does not verify with the partner's key") from None


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# Facts only (lgnet_shared.fact_signing): one signature over the root of a batch of records, each record carrying
# its place and inclusion proof: `ed25519-merkle;<key id>;<signature>;<index>;<size>;<proof>` (the proof's hashes
# concatenated, base64url like the signature).
BATCH_ALG = "ed25519-merkle"


def _parts(headers: Headers) -> list[str] | None:
    for k, v in headers:
        if k.lower() == HEADER and v is not None:
            parts = v.decode("utf-8", "replace").split(";")
            if len(parts) == 3 and parts[0] == "ed25519" and parts[1]:
                return parts
            if len(parts) == 6 and parts[0] == BATCH_ALG and parts[1]:
                return [parts[0], parts[1], ";".join(parts[2:])]
    return None
