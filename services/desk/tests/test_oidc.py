"""OpenID Connect login against a provider played by the test (httpx MockTransport): the desk sends the browser with
PKCE (S256), state and nonce; the provider checks the verifier; the desk checks the ID token's signature, issuer,
audience, expiry and nonce, and admits only an operator it knows. Real PostgreSQL for the desk's schema."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey
from lgnet_desk.adapters import store
from lgnet_desk.adapters.schema import MIGRATIONS
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints.main import create_app
from lgnet_desk.settings import DeskSettings
from lgnet_shared import db

pytestmark = pytest.mark.integration
ISSUER = "https://idp.comune.test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


class FakeProvider:
    def __init__(self) -> None:
        self.challenge = self.nonce = ""
        self.username = "maria"
        self.audience = "lgnet-desk"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/token":
            form = parse_qs(request.content.decode())
            if create_s256_code_challenge(form["code_verifier"][0]) != self.challenge:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": self.audience,
                "sub": "u-1",
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce,
                "preferred_username": self.username,
            }
            return httpx.Response(
                200,
                json={
                    "id_token": jwt.encode({"alg": "RS256", "kid": "k1"}, claims, KEY),
                    "access_token": "x",
                    "token_type": "Bearer",
                },
            )
        return httpx.Response(404)


@pytest.fixture
async def desk(database_url: str, pg_schema: str) -> AsyncIterator[tuple[httpx.AsyncClient, FakeProvider]]:
    settings = DeskSettings(
        DATABASE_URL=database_url,
        LGNET_DB_SCHEMA=pg_schema,
        LGNET_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        LGNET_DESK_OIDC_ISSUER=ISSUER,
        LGNET_DESK_OIDC_CLIENT_ID="lgnet-desk",
        LGNET_DESK_OIDC_REDIRECT_URL="http://desk.test/login/oidc/callback",
        LGNET_DESK_COOKIE_SECURE="false",
    )
    app = create_app(settings)
    provider = FakeProvider()
    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await store.add_operator(
            conn,
            Operator("maria", "Maria", OperatorRole.STAFF, "torino", None, "desk.op-5e1f0a9b2c7d", "op-5e1f0a9b2c7e"),
            "x",
            {},
            b"k" * 32,
        )
    app.state.pool = pool
    await app.state.http.aclose()
    app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk.test") as c:
            yield c, provider
    finally:
        await pool.close()


async def start(c: httpx.AsyncClient, provider: FakeProvider) -> dict[str, Any]:
    r = await c.get("/login/oidc")
    assert r.status_code == 303
    target = urlparse(r.headers["location"])
    assert target.netloc == "idp.comune.test"
    q = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert q["code_challenge_method"] == "S256"
    provider.challenge, provider.nonce = q["code_challenge"], q["nonce"]
    return q


async def test_a_known_operator_logs_in_through_the_provider(desk: tuple[httpx.AsyncClient, FakeProvider]) -> None:
    c, provider = desk
    q = await start(c, provider)
    r = await c.get("/login/oidc/callback", params={"code": "abc", "state": q["state"]})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"
    home = await c.get("/")
    assert home.status_code == 200
    assert "Cerca una persona" in home.text
    # the state is single-use
    again = await c.get("/login/oidc/callback", params={"code": "abc", "state": q["state"]})
    assert again.status_code == 401


async def test_unknown_operators_wrong_audience_and_forged_state_are_refused(
    desk: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    c, provider = desk
    provider.username = "sconosciuto"
    q = await start(c, provider)
    assert (await c.get("/login/oidc/callback", params={"code": "a", "state": q["state"]})).status_code == 401
    provider.username, provider.audience = "maria", "another-app"
    q = await start(c, provider)
    r = await c.get("/login/oidc/callback", params={"code": "a", "state": q["state"]})
    assert r.status_code == 401
    assert "non è stato accettato" in r.text
    provider.audience = "lgnet-desk"
    await start(c, provider)
    assert (await c.get("/login/oidc/callback", params={"code": "a", "state": "forged"})).status_code == 401


async def test_an_operator_who_left_is_refused_even_with_the_providers_login(
    desk: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    """The identity provider may still vouch for her (its account not yet closed): the desk's deactivation is enough."""
    c, provider = desk
    app = cast(FastAPI, cast(httpx.ASGITransport, c._transport).app)  # the fixture's desk, served in process
    async with app.state.pool.acquire() as conn:
        assert await store.deactivate(conn, "maria")
    q = await start(c, provider)
    r = await c.get("/login/oidc/callback", params={"code": "a", "state": q["state"]})
    assert r.status_code == 401 and "non è stato accettato" in r.text
