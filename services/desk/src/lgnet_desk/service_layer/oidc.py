"""Logging in through the city's OpenID Connect provider: authorization code flow with PKCE (S256), state and
nonce, the ID token's signature checked against the provider's published keys (Authlib's PKCE helpers, joserfc for
the JWT — both maintained by the Authlib project). The provider proves who the person is; the desk still decides
what they are (the operator must exist, with its role and city)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.domain.operators import Operator
from lgnet_desk.service_layer.login import LoginRefused, session_hash
from lgnet_desk.settings import DeskSettings

PENDING_FOR = timedelta(minutes=10)


@dataclass
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    issuer: str


async def discover(http: httpx.AsyncClient, issuer: str) -> Provider:
    r = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    meta = r.json()
    return Provider(meta["authorization_endpoint"], meta["token_endpoint"], meta["jwks_uri"], meta["issuer"])


async def begin(conn: Conn, http: httpx.AsyncClient, settings: DeskSettings) -> str:
    """The provider's authorization URL to send the browser to."""
    assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_redirect_url
    provider = await discover(http, settings.oidc_issuer)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    await conn.execute("delete from oidc_pending where created_at < $1", datetime.now(UTC) - PENDING_FOR)
    await conn.execute(
        "insert into oidc_pending (state, nonce, code_verifier) values ($1, $2, $3)", state, nonce, verifier
    )
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": settings.oidc_redirect_url,
        "scope": "openid profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{provider.authorization_endpoint}?{urlencode(query)}"


async def finish(
    conn: Conn, http: httpx.AsyncClient, settings: DeskSettings, code: str, state: str, session_minutes: int
) -> tuple[str, Operator]:
    """A new desk session for the operator the provider vouched for, or LoginRefused."""
    assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_redirect_url
    pending = await conn.fetchrow(
        "delete from oidc_pending where state = $1 and created_at > $2 returning nonce, code_verifier",
        state,
        datetime.now(UTC) - PENDING_FOR,
    )
    if pending is None:
        raise LoginRefused(locked=False)
    provider = await discover(http, settings.oidc_issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.oidc_redirect_url,
        "client_id": settings.oidc_client_id,
        "code_verifier": pending["code_verifier"],
    }
    auth = (settings.oidc_client_id, settings.oidc_client_secret) if settings.oidc_client_secret else None
    r = await http.post(provider.token_endpoint, data=form, auth=auth, timeout=10)  # type: ignore[arg-type]
    if r.status_code != 200 or "id_token" not in r.json():
        raise LoginRefused(locked=False)
    claims = await _verified_claims(http, provider, r.json()["id_token"], settings.oidc_client_id, pending["nonce"])
    username = str(claims.get(settings.oidc_username_claim, ""))
    found = await store.operator(conn, username)
    if found is None:
        raise LoginRefused(locked=False)
    op, _ = found
    # The provider checked who it is: wrong passwords typed at the desk's form (locked per address) do not refuse it.
    await store.record_attempt(conn, username, "oidc", True)
    session_id = secrets.token_urlsafe(32)
    await store.new_session(
        conn,
        session_hash(session_id),
        username,
        secrets.token_urlsafe(32),
        datetime.now(UTC) + timedelta(minutes=session_minutes),
    )
    return session_id, op


async def _verified_claims(
    http: httpx.AsyncClient, provider: Provider, id_token: str, client_id: str, nonce: str
) -> dict[str, Any]:
    keys = KeySet.import_key_set((await http.get(provider.jwks_uri, timeout=10)).json())
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
        JWTClaimsRegistry(
            now=int(time.time()),
            leeway=60,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError):
        raise LoginRefused(locked=False) from None
    return dict(token.claims)
