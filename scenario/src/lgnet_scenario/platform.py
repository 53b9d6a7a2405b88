"""Where the running platform is, and the scenario's credentials on it.

The scenario acts like the city's operators once (provisioning actors, tokens and partners' signing keys with the
documented admin commands' library calls) and then only through the public interfaces: HTTP APIs, the partner SDK
and raw records on Kafka.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import auth, db, signing
from lgnet_shared.access import Role
from lgnet_shared.errors import Conflict
from lgnet_shared.sdk import PartnerClient, http_client

SERVICES = ("intake", "housing", "payments", "reporting")
DEFAULT_PORTS = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    database_url: str
    urls: dict[str, str]
    schemas: dict[str, str]
    topic_prefix: str = ""

    @classmethod
    def from_env(cls) -> Endpoints:
        env = os.environ
        return cls(
            kafka=env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=env["DATABASE_URL"],
            urls={s: env.get(f"LGNET_{s.upper()}_URL", f"http://127.0.0.1:{p}") for s, p in DEFAULT_PORTS.items()},
            schemas={s: s for s in SERVICES},
            topic_prefix=env.get("LGNET_TOPIC_PREFIX", ""),
        )


@dataclass
class Actors:
    """Tokens per (service, actor); partners' signing keys and intake's sealing key."""

    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    signing_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    inbound_key: dict[str, str] = field(default_factory=dict)


def actors_of(cities: dict[str, tuple[str, ...]]) -> list[tuple[str, Role, str | None]]:
    out: list[tuple[str, Role, str | None]] = [("coordination", Role.NATIONAL, None)]
    for city, partners in cities.items():
        out += [(f"staff-{city}", Role.STAFF, city), (f"director-{city}", Role.STAFF, city)]
        out += [(p, Role.PARTNER, city) for p in partners]
    return out


async def provision(ep: Endpoints, cities: dict[str, tuple[str, ...]]) -> Actors:
    """Actors and tokens in every service's schema; Ed25519 keys of the partners registered with intake."""
    actors = Actors()
    for service in SERVICES:
        pool = await db.create_pool(ep.database_url, ep.schemas[service])
        try:
            await db.migrate(pool, [auth.MIGRATION])
            async with pool.acquire() as conn:
                for actor_id, role, city in actors_of(cities):
                    with contextlib.suppress(Conflict):  # provisioned by an earlier run: a new token is enough
                        await auth.add_actor(conn, actor_id, role, city, actor_id)
                    actors.tokens[(service, actor_id)] = await auth.issue_token(conn, actor_id)
        finally:
            await pool.close()
    env = {**os.environ, "DATABASE_URL": ep.database_url, "LGNET_DB_SCHEMA": ep.schemas["intake"]}
    for actor_id, role, _ in actors_of(cities):
        if role is not Role.PARTNER:
            continue
        key = Ed25519PrivateKey.generate()
        key_id = f"{actor_id}-{os.urandom(3).hex()}"
        public = base64.b64encode(signing.public_bytes(key)).decode()
        cmd = [sys.executable, "-m", "lgnet_intake.entrypoints.admin", "add-signing-key", key_id, actor_id, public]
        done = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"registering {actor_id}'s signing key failed: {done.stderr.strip()}")
        actors.signing_keys[actor_id] = key
        actors.inbound_key[f"{actor_id}:key_id"] = key_id
    return actors


@dataclass
class Platform:
    ep: Endpoints
    actors: Actors
    _clients: dict[tuple[str, str], httpx.AsyncClient] = field(default_factory=dict)

    def http(self, service: str, actor: str) -> httpx.AsyncClient:
        key = (service, actor)
        if key not in self._clients:
            # As a partner's system should: a service restarting under a step delays it (retries with backoff and
            # the same Idempotency-Key), it does not end the scenario.
            self._clients[key] = http_client(self.ep.urls[service], self.actors.tokens[key], timeout=60)
        return self._clients[key]

    async def intake_public_key(self, partner: str) -> dict[str, str]:
        if "public_key" not in self.actors.inbound_key:
            answer = await self.http("intake", partner).get("/inbound-key")
            answer.raise_for_status()
            self.actors.inbound_key.update(answer.json())
        return self.actors.inbound_key

    async def partner_client(self, partner: str, city: str) -> PartnerClient:
        key = await self.intake_public_key(partner)
        return PartnerClient(
            self.ep.kafka,
            partner=partner,
            city=city,
            topic_prefix=self.ep.topic_prefix,
            signing_key=self.actors.signing_keys[partner],
            signing_key_id=self.actors.inbound_key[f"{partner}:key_id"],
            intake_public_key=key["public_key"],
            intake_key_id=key["key_id"],
        )

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
