"""Logging in and out: argon2 password check, lock-out after repeated failures, server-side sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.domain.operators import LockoutPolicy, Operator, new_password_problem

HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults
# A hash to verify against when the username is unknown, so an unknown user costs the same time as a wrong password.
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


class LoginRefused(Exception):
    """`locked`: the account is locked from this address; `throttled`: this address is refused on every account."""

    def __init__(self, locked: bool, throttled: bool = False) -> None:
        self.locked, self.throttled = locked, throttled


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def attempted_as(username: str, known: bool, name_key: bytes) -> str:
    """How a login attempt keeps the name typed: an operator's username as it is; anything else — a password typed
    into the username field, a guess — as a keyed hash, so that it never rests in clear and the lock of that name
    from an address still counts (a DPO's review found passwords in `login_attempts`)."""
    if known:
        return username
    return "hmac-sha256:" + hmac.new(name_key, username.encode(), hashlib.sha256).hexdigest()


async def log_in(
    conn: Conn,
    username: str,
    password: str,
    client: str,
    policy: LockoutPolicy,
    session_minutes: int,
    *,
    name_key: bytes,
) -> tuple[str, Operator]:
    """A new session id (for the cookie) or LoginRefused; the same answer for an unknown user as a wrong password
    (the lock included: an outside test told existing usernames from unknown ones by the lock message). `client`:
    the address the attempt comes from (see `LockoutPolicy`); `name_key` keys a name no operator has
    (`attempted_as`)."""
    now = datetime.now(UTC)
    since = policy.since(now)
    found = await store.operator(conn, username)
    attempted = attempted_as(username, found is not None, name_key)
    if policy.client_throttled(await store.client_failures_since(conn, client, since)):
        await store.record_attempt(conn, attempted, client, False)
        raise LoginRefused(locked=True, throttled=True)
    failures = await store.account_failures_since(conn, attempted, client, since)
    if policy.account_locked(failures):
        await store.record_attempt(conn, attempted, client, False)
        raise LoginRefused(locked=True)
    password_hash = None if found is None else found[1]["password_hash"]
    if password_hash is None or not _verify(password_hash, password):
        if password_hash is None:
            _verify(_DUMMY, password)  # an unknown user costs the same time as a wrong password
        await store.record_attempt(conn, attempted, client, False)
        raise LoginRefused(locked=policy.account_locked(failures + 1))
    assert found is not None
    op = found[0]
    await store.record_attempt(conn, username, client, True)
    if HASHER.check_needs_rehash(password_hash):
        await store.set_password_hash(conn, username, HASHER.hash(password))
    session_id = secrets.token_urlsafe(32)
    await store.new_session(
        conn, session_hash(session_id), username, secrets.token_urlsafe(32), now + timedelta(minutes=session_minutes)
    )
    return session_id, op


class PasswordRefused(Exception):
    """A password change refused: the form's `field` and why (`locked`: the lock of logins from this address)."""

    def __init__(self, field: str, reason: str, locked: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.locked = field, reason, locked


async def change_password(
    conn: Conn, username: str, current: str, new: str, again: str, client: str, policy: LockoutPolicy, keep: str
) -> int:
    """The operator's own password changed, her other sessions ended (all but `keep`, this one's hash): how many.
    A wrong current password counts as a failed login from `client`, and the login's lock applies, so that the page
    is no way to guess it."""
    since = policy.since(datetime.now(UTC))
    throttled = policy.client_throttled(await store.client_failures_since(conn, client, since))
    if throttled or policy.account_locked(await store.account_failures_since(conn, username, client, since)):
        raise PasswordRefused("current_password", "locked", locked=True)
    if problem := new_password_problem(new, again):
        raise PasswordRefused(*problem)
    found = await store.operator(conn, username)
    password_hash = None if found is None else found[1]["password_hash"]
    if password_hash is None:  # her login is the identity provider's
        raise PasswordRefused("current_password", "no password at the desk")
    if not _verify(password_hash, current):
        await store.record_attempt(conn, username, client, False)
        raise PasswordRefused("current_password", "wrong")
    if new == current:
        raise PasswordRefused("new_password", "the same as the current one")
    await store.set_password_hash(conn, username, HASHER.hash(new))
    return await store.end_sessions(conn, username, but=keep)


async def has_password(conn: Conn, username: str) -> bool:
    found = await store.operator(conn, username)
    return found is not None and found[1]["password_hash"] is not None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
