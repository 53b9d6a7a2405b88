"""Credentials: actors and API tokens (lgnet_shared.auth, as in every service), partners' Ed25519 public keys,
and intake's own HPKE key pair whose private half rests wrapped with the master key."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lgnet_shared import pii
from lgnet_shared.auth import add_actor, issue_token, token_hash
from lgnet_shared.db import Conn

__all__ = ["add_actor", "add_signing_key", "inbound_key", "inbound_private_key", "issue_token", "token_hash"]


async def add_signing_key(conn: Conn, key_id: str, actor_id: str, public_key: bytes) -> None:
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    await conn.execute(
        "insert into signing_keys (key_id, actor_id, public_key) values ($1, $2, $3)",
        key_id,
        actor_id,
        public_key,
    )


CURRENT_INBOUND_KEY = "select * from inbound_keys order by created_at desc, key_id limit 1"


async def inbound_key(conn: Conn, master_key: bytes) -> tuple[str, X25519PrivateKey, str]:
    """Intake's current HPKE key (id, private, public base64url), created on first use: once, however many first
    calls arrive together (the creator holds a transaction lock; the others wait for it and read its key)."""
    row = await conn.fetchrow(CURRENT_INBOUND_KEY)
    if row is None:
        async with conn.transaction():  # a savepoint when the caller already has a transaction
            await conn.execute("select pg_advisory_xact_lock(hashtext(current_schema() || '.inbound_keys'))")
            row = await conn.fetchrow(CURRENT_INBOUND_KEY)
            if row is None:
                private, public = pii.hpke_keypair()
                raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                row = await conn.fetchrow(
                    "insert into inbound_keys (key_id, private_wrapped, public_key) values ($1, $2, $3) returning *",
                    f"intake-{secrets.token_hex(4)}",
                    aes_key_wrap(master_key, raw),
                    public,
                )
    private = X25519PrivateKey.from_private_bytes(aes_key_unwrap(master_key, bytes(row["private_wrapped"])))
    return row["key_id"], private, row["public_key"]


async def inbound_private_key(conn: Conn, master_key: bytes, key_id: str) -> X25519PrivateKey | None:
    row = await conn.fetchrow("select private_wrapped from inbound_keys where key_id = $1", key_id)
    if row is None:
        return None
    return X25519PrivateKey.from_private_bytes(aes_key_unwrap(master_key, bytes(row["private_wrapped"])))
