"""Personal data: per-person keys and crypto-shredding.

Each identifying field is sealed with AES-256-GCM under a key that belongs to one person; the associated data
binds the ciphertext to the key id and the field name, so a sealed value cannot be moved to another field or
person. Keys rest in the owning service's PostgreSQL schema, wrapped (RFC 3394) with the service's master key.
Erasing a person destroys their key: every copy of every event stays replayable, the fields become unreadable.

Partners seal identifying fields for intake with HPKE (RFC 9180, X25519 + HKDF-SHA256 + AES-128-GCM) to the
city's intake public key, so plaintext never reaches Kafka from their side either (see docs/partners.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from lgnet_shared import runtime_schema
from lgnet_shared.sealed import Sealed

if TYPE_CHECKING:  # a partner's SDK seals with this module and has no database driver (pip install lgnet-shared)
    from lgnet_shared.db import Conn

MIGRATION = runtime_schema.PERSON_KEYS
HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
HPKE_PREFIX = "hpke:"


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _aad(kid: str, field: str) -> bytes:
    return f"lgnet:{kid}:{field}".encode()


def parse_master_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error: "Incorrect padding" named neither the variable's form nor its size
        key = b""
    if len(key) != 32:
        raise ValueError("must be base64 of exactly 32 bytes")
    return key


async def opens_stored_keys(conn: Conn, master_key: bytes) -> bool:
    """Whether this master key unwraps the keys already stored (one is enough: all were wrapped with one key). A
    service started with another key (a secret regenerated, another host's key file) reported ready, then answered
    500 to every read of a person and wrapped new persons' keys with the wrong one, mixing two keys in one table."""
    wrapped = await conn.fetchval("select wrapped from person_keys where wrapped is not null limit 1")
    if wrapped is None:
        return True
    try:
        aes_key_unwrap(master_key, wrapped)
    except InvalidUnwrap:
        return False
    return True


MASTER_KEY_CHECK_LABEL = "lgnet master key check"


def master_key_check(master_key: bytes) -> str:
    """What a schema records of the master key its service started with: a keyed hash of a fixed label, from which the
    key cannot be recovered."""
    return keyed_hash(derive(master_key, "master-key-check"), MASTER_KEY_CHECK_LABEL)


async def is_the_schemas_master_key(conn: Conn, master_key: bytes) -> bool:
    """Whether this master key is the one the schema's service started with (`runtime_schema.MASTER_KEY_CHECK`); at the
    first start — of a new schema, or of one made before the check — it is recorded as such."""
    check = master_key_check(master_key)
    recorded = await conn.fetchval(
        "insert into master_key_check (check_value) values ($1)"
        " on conflict (only_row) do update set only_row = true returning check_value",
        check,
    )
    return hmac.compare_digest(str(recorded), check)


class KeyStore:
    """Per-person data keys in the owning service's schema, wrapped with its master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._kek = master_key

    def blind_index(self, purpose: str, value: str) -> str:
        """A keyed, deterministic pseudonym of `value` (HMAC-SHA256 under a secret derived from the master key for
        `purpose`): equal values match, the value itself is neither stored nor recoverable without the key."""
        return keyed_hash(derive(self._kek, purpose), value)

    def new_key(self) -> tuple[bytes, bytes]:
        """A new data key and its wrapped form, the only one stored (in `person_keys.wrapped`)."""
        new = AESGCM.generate_key(bit_length=256)
        return new, aes_key_wrap(self._kek, new)

    async def key(self, conn: Conn, kid: str, *, create: bool = False) -> bytes | None:
        """The person's key; None once erased (or never created and not asked to create)."""
        if create:
            new, wrapped = self.new_key()
            created = await conn.fetchval(
                "insert into person_keys (kid, wrapped) values ($1, $2) on conflict (kid) do nothing returning true",
                kid,
                wrapped,
            )
            if created:
                return new
        row = await conn.fetchrow("select wrapped from person_keys where kid = $1", kid)
        return None if row is None or row["wrapped"] is None else aes_key_unwrap(self._kek, row["wrapped"])

    async def erased_at(self, conn: Conn, kid: str) -> datetime | None:
        """When the key was destroyed (None: it was not), e.g. to tell an erased nickname from one never given."""
        erased: datetime | None = await conn.fetchval("select erased_at from person_keys where kid = $1", kid)
        return erased

    async def keys(self, conn: Conn, kids: Sequence[str]) -> dict[str, bytes]:
        """Many persons' keys in one query (the erased and unknown are absent): e.g. a search over a city."""
        rows = await conn.fetch(
            "select kid, wrapped from person_keys where kid = any($1::text[]) and wrapped is not null", list(kids)
        )
        return {r["kid"]: aes_key_unwrap(self._kek, r["wrapped"]) for r in rows}

    async def erase(self, conn: Conn, kid: str) -> bool:
        """Destroy the key (crypto-shredding). True if a live key existed."""
        status = await conn.execute(
            "insert into person_keys (kid, wrapped, erased_at) values ($1, null, now())"
            " on conflict (kid) do update set wrapped = null, erased_at = coalesce(person_keys.erased_at, now())"
            " where person_keys.wrapped is not null",
            kid,
        )
        return bool(status.endswith(" 1"))

    async def seal_all(self, conn: Conn, kid: str, fields: dict[str, str]) -> dict[str, Sealed]:
        """Seal several fields of one person with one key lookup."""
        if not fields:
            return {}
        key = await self.key(conn, kid, create=True)
        if key is None:
            raise PermissionError(f"person {kid} was erased: no new personal data may be stored")
        return {f: seal_with(key, kid, f, v) for f, v in fields.items()}

    async def open(self, conn: Conn, sealed: Sealed, field: str) -> str | None:
        """The plaintext, or None when the person was erased."""
        key = await self.key(conn, sealed.kid)
        return None if key is None else open_with(key, sealed, field)


def seal_with(key: bytes, kid: str, field: str, plaintext: str) -> Sealed:
    nonce = os.urandom(12)
    return Sealed(kid=kid, n=_b64(nonce), ct=_b64(AESGCM(key).encrypt(nonce, plaintext.encode(), _aad(kid, field))))


def open_with(key: bytes, sealed: Sealed, field: str) -> str:
    try:
        return AESGCM(key).decrypt(_unb64(sealed.n), _unb64(sealed.ct), _aad(sealed.kid, field)).decode()
    except InvalidTag:
        raise ValueError(f"{field}: sealed value does not belong to this field or key") from None


def derive(master_key: bytes, purpose: str) -> bytes:
    """A secret for one purpose (e.g. the fiscal-code hash key) derived from the master key (HKDF-SHA256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt=None, info=f"lgnet:{purpose}".encode()).derive(master_key)


def keyed_hash(secret: bytes, value: str) -> str:
    """Deterministic pseudonym (HMAC-SHA256) for matching without revealing, e.g. the fiscal code."""
    return hmac.new(secret, value.strip().upper().encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- partner → intake (HPKE)


def hpke_keypair() -> tuple[X25519PrivateKey, str]:
    """A new intake inbound key pair; the public half as base64url raw bytes, for partners."""
    private = X25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private, _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def seal_for(public_key_b64: str, key_id: str, field: str, plaintext: str) -> Sealed:
    """What a partner does: seal a field to intake's public key. Only intake's private key opens it."""
    public = X25519PublicKey.from_public_bytes(_unb64(public_key_b64))
    kid = f"{HPKE_PREFIX}{key_id}"
    blob = HPKE_SUITE.encrypt(plaintext.encode(), public, _aad(kid, field))
    return Sealed(kid=kid, n="", ct=_b64(blob))


def open_from(private: X25519PrivateKey, sealed: Sealed, field: str) -> str:
    try:
        return HPKE_SUITE.decrypt(_unb64(sealed.ct), private, _aad(sealed.kid, field)).decode()
    except Exception:
        raise ValueError(f"{field}: cannot be opened with intake's key (wrong key id or field)") from None
