"""Credentials: actors and API tokens (lgnet_shared.actors, as in every service), partners' Ed25519 public keys,
and intake's own HPKE key pairs whose private halves rest wrapped with the master key.

Inbound keys rotate: the current one is replaced once older than the policy's `rotate_after` (and at once when a
person is erased); a replaced ("retired") key still opens what partners sealed to it for `grace`, then its private
half is destroyed — everything sealed to it on `lgnet.partner.inbound.<city>`, an erased person's identity included, can
never be opened again. Partners must seal to the key `GET /inbound-key` gives now.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lgnet_shared import pii
from lgnet_shared.actors import add_actor, issue_token, token_hash
from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict, ContractError, NotFound

__all__ = [
    "InboundKeyPolicy",
    "add_actor",
    "add_signing_key",
    "destroy_retired_inbound_keys",
    "inbound_key",
    "inbound_private_key",
    "issue_token",
    "retire_inbound_key",
    "revoke_signing_keys",
    "rotate_inbound_keys",
    "token_hash",
]


@dataclass(frozen=True)
class InboundKeyPolicy:
    rotate_after: timedelta = timedelta(days=30)  # a key is current for this long
    grace: timedelta = timedelta(hours=24)  # then it still opens records sealed to it for this long


async def add_signing_key(conn: Conn, key_id: str, actor_id: str, public_key: bytes) -> None:
    """Register a partner's Ed25519 public key under the key id its records name (`lgnet-signature`)."""
    if len(public_key) != 32:
        raise ContractError("public_key", f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    role = await conn.fetchval("select role from actors where actor_id = $1", actor_id)
    if role is None:
        raise NotFound("actor_id", f"no actor {actor_id}: add it first (add-actor)")
    if role != "partner":
        raise ContractError("actor_id", f"{actor_id} is {role}, not a partner")
    status = await conn.execute(
        "insert into signing_keys (key_id, actor_id, public_key) values ($1, $2, $3) on conflict do nothing",
        key_id,
        actor_id,
        public_key,
    )
    if status.endswith(" 0"):
        raise Conflict("key_id", f"signing key {key_id} already exists")


async def revoke_signing_keys(conn: Conn, actor_id: str) -> int:
    """Revoke every signing key of a partner: its records are no longer authenticated (dead-lettered)."""
    status = await conn.execute(
        "update signing_keys set revoked_at = now() where actor_id = $1 and revoked_at is null", actor_id
    )
    return int(status.split()[-1])


_CURRENT = "select * from inbound_keys where retired_at is null order by created_at desc, key_id limit 1"


async def inbound_key(
    conn: Conn, master_key: bytes, policy: InboundKeyPolicy | None = None
) -> tuple[str, X25519PrivateKey, str]:
    """Intake's current HPKE key (id, private, public base64url), created on first use (and, with a policy, after
    the current one is rotated out): once, however many first calls arrive together (the creator holds a
    transaction lock; the others wait for it and read its key)."""
    if policy is not None:
        await rotate_inbound_keys(conn, policy)
    row = await conn.fetchrow(_CURRENT)
    if row is None:
        async with conn.transaction():  # a savepoint when the caller already has a transaction
            await conn.execute("select pg_advisory_xact_lock(hashtext(current_schema() || '.inbound_keys'))")
            row = await conn.fetchrow(_CURRENT)
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
    """The private half of an inbound key; None when unknown or destroyed."""
    row = await conn.fetchrow("select private_wrapped from inbound_keys where key_id = $1", key_id)
    if row is None or row["private_wrapped"] is None:
        return None
    return X25519PrivateKey.from_private_bytes(aes_key_unwrap(master_key, bytes(row["private_wrapped"])))


async def inbound_key_destroyed(conn: Conn, key_id: str) -> bool:
    return bool(await conn.fetchval("select destroyed_at is not null from inbound_keys where key_id = $1", key_id))


async def retire_inbound_key(conn: Conn) -> list[str]:
    """Stop handing out the current key (the next `inbound_key` makes a new one); it is destroyed after the grace
    period. Erasure calls this, so what partners sealed of the erased person becomes unreadable within `grace`."""
    rows = await conn.fetch("update inbound_keys set retired_at = now() where retired_at is null returning key_id")
    return [r["key_id"] for r in rows]


async def destroy_retired_inbound_keys(conn: Conn, grace: timedelta) -> list[str]:
    """Destroy the private halves of keys retired longer than `grace` ago; the ids destroyed."""
    rows = await conn.fetch(
        "update inbound_keys set private_wrapped = null, destroyed_at = now()"
        " where destroyed_at is null and retired_at <= now() - $1::interval returning key_id",
        grace,
    )
    return [r["key_id"] for r in rows]


async def rotate_inbound_keys(conn: Conn, policy: InboundKeyPolicy) -> list[str]:
    """The schedule: retire the current key once older than `rotate_after`, destroy those past their grace."""
    await conn.execute(
        "update inbound_keys set retired_at = now() where retired_at is null and created_at <= now() - $1::interval",
        policy.rotate_after,
    )
    return await destroy_retired_inbound_keys(conn, policy.grace)
