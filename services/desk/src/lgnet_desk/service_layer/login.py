"""Logging in and out: argon2 password check, lock-out after repeated failures, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.domain.operators import LockoutPolicy, Operator

HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults
# A hash to verify against when the username is unknown, so an unknown user costs the same time as a wrong password.
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


class LoginRefused(Exception):
    def __init__(self, locked: bool) -> None:
        self.locked = locked


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def log_in(
    conn: Conn, username: str, password: str, policy: LockoutPolicy, session_minutes: int
) -> tuple[str, Operator]:
    """A new session id (for the cookie) or LoginRefused; the same answer for an unknown user as a wrong password."""
    now = datetime.now(UTC)
    found = await store.operator(conn, username)
    if found is None:
        # The same answers as for an account, the lock included: an outside test told existing usernames from
        # unknown ones by the lock message the fifth wrong password brought.
        _verify(_DUMMY, password)
        failures = await store.failures_since(conn, username, now - policy.lock_for)
        await store.record_attempt(conn, username, False, None)
        raise LoginRefused(locked=policy.after_failure(failures + 1, now) is not None)
    op, row = found
    if policy.locked(row["locked_until"], now):
        await store.record_attempt(conn, username, False, None)
        raise LoginRefused(locked=True)
    if row["password_hash"] is None or not _verify(row["password_hash"], password):
        locked_until = policy.after_failure(row["failures"] + 1, now)
        await store.record_attempt(conn, username, False, locked_until)
        raise LoginRefused(locked=locked_until is not None)
    await store.record_attempt(conn, username, True, None)
    if HASHER.check_needs_rehash(row["password_hash"]):
        await store.set_password_hash(conn, username, HASHER.hash(password))
    session_id = secrets.token_urlsafe(32)
    await store.new_session(
        conn, session_hash(session_id), username, secrets.token_urlsafe(32), now + timedelta(minutes=session_minutes)
    )
    return session_id, op


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
