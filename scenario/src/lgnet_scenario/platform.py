"""Where the running platform is, and the scenario's credentials on it.

The scenario acts like the city's operators once (provisioning actors, tokens and partners' signing keys with the
documented admin commands' library calls) and then only through the public interfaces: HTTP APIs, the partner SDK
and raw records on Kafka.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import auth, db, kafka_acls, signing
from lgnet_shared.access import Role
from lgnet_shared.errors import Conflict
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.sdk import PartnerClient, http_client
from pydantic import SecretStr

SERVICES = ("intake", "housing", "payments", "reporting")
DEFAULT_PORTS = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}


@dataclass(frozen=True)
class Endpoints:
    """Where each service answers. `urls`/`schemas` are the deployments serving every city (one national
    deployment, as `make up` runs); `by_city` holds a city's own deployments (federation: Torino runs its
    intake, Trieste its own), which take precedence for that city's actors. The national role uses `urls`."""

    kafka: str
    database_url: str
    urls: dict[str, str]
    schemas: dict[str, str]
    topic_prefix: str = ""
    by_city: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # city -> service -> (url, schema)

    def url(self, service: str, city: str | None) -> str:
        if city is not None and service in self.by_city.get(city, {}):
            return self.by_city[city][service][0]
        if service not in self.urls:
            raise KeyError(f"no {service} deployment serves {city or 'the national level'}")
        return self.urls[service]

    def deployments(self, cities: list[str]) -> list[tuple[str, str | None]]:
        """(schema, city or None for a deployment serving every city) of every deployment to provision."""
        out: list[tuple[str, str | None]] = [(schema, None) for schema in self.schemas.values()]
        out += [(schema, c) for c in cities for _, schema in self.by_city.get(c, {}).values()]
        return out

    def intake_schema(self, city: str) -> str:
        return self.by_city.get(city, {}).get("intake", ("", self.schemas.get("intake", "")))[1]

    @classmethod
    def from_env(cls) -> Endpoints:
        env = os.environ
        return cls(
            kafka=env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=env["DATABASE_URL"],
            urls={
                s: env.get(f"LGNET_{s.upper()}_URL", f"http://127.0.0.1:{env.get(f'LGNET_{s.upper()}_PORT', p)}")
                for s, p in DEFAULT_PORTS.items()
            },
            schemas={s: s for s in SERVICES},
            topic_prefix=env.get("LGNET_TOPIC_PREFIX", ""),
        )


@dataclass
class Actors:
    """Tokens per (service, actor); partners' signing keys and intake's sealing key."""

    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    signing_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    inbound_key: dict[str, str] = field(default_factory=dict)  # "<partner>:key_id", and per intake URL its key
    city_of: dict[str, str | None] = field(default_factory=dict)  # actor -> city (None: national)
    kafka: dict[str, KafkaSecurity] = field(default_factory=dict)  # each partner's own Kafka principal

    def kafka_of(self, partner: str) -> KafkaSecurity:
        return self.kafka.get(partner) or KafkaSecurity.from_env()


def actors_of(cities: dict[str, tuple[str, ...]]) -> list[tuple[str, Role, str | None]]:
    # The auditor reads reporting's reports only (every other service refuses it): provisioned in reporting alone.
    out: list[tuple[str, Role, str | None]] = [
        ("coordination", Role.NATIONAL, None),
        ("audit-office", Role.AUDITOR, None),
    ]
    for city, partners in cities.items():
        out += [(f"staff-{city}", Role.STAFF, city), (f"director-{city}", Role.STAFF, city)]
        out += [(p, Role.PARTNER, city) for p in partners]
    return out


def actor_name(actor_id: str, role: Role) -> str:
    """The name the services show for an actor: a cooperative's is the organisation's ("Cooperativa Aurora", which
    the desk offers in its partner lists); the others are named by their ids."""
    if role is Role.PARTNER and actor_id.startswith("coop-"):
        return "Cooperativa " + actor_id.removeprefix("coop-").replace("-", " ").title()
    return actor_id


async def provision(ep: Endpoints, cities: dict[str, tuple[str, ...]]) -> Actors:
    """Actors and tokens in every deployment's schema (a city's own deployment knows only its city's actors);
    Ed25519 keys of the partners registered with the intake serving their city."""
    actors = Actors()
    everyone = actors_of(cities)
    actors.city_of = {actor_id: city for actor_id, _, city in everyone}
    for schema, only_city in ep.deployments(list(cities)):
        service = schema_service(ep, schema)
        pool = await db.create_pool(ep.database_url, schema)
        try:
            await db.migrate(pool, [auth.MIGRATION])
            async with pool.acquire() as conn:
                for actor_id, role, city in everyone:
                    if (only_city is not None and city != only_city) or (
                        role is Role.AUDITOR and service != "reporting"
                    ):
                        continue
                    with contextlib.suppress(Conflict):  # provisioned by an earlier run: a new token is enough
                        await auth.add_actor(conn, actor_id, role, city, actor_name(actor_id, role))
                    if only_city is not None or (service, actor_id) not in actors.tokens:
                        actors.tokens[(service, actor_id)] = await auth.issue_token(conn, actor_id)
        finally:
            await pool.close()

    async def register_signing_key(actor_id: str, city: str) -> None:
        env = {**os.environ, "DATABASE_URL": ep.database_url, "LGNET_DB_SCHEMA": ep.intake_schema(city)}
        key = Ed25519PrivateKey.generate()
        key_id = f"{actor_id}-{os.urandom(3).hex()}"
        public = base64.b64encode(signing.public_bytes(key)).decode()
        cmd = [sys.executable, "-m", "lgnet_intake.entrypoints.admin", "add-signing-key", key_id, actor_id, public]
        done = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"registering {actor_id}'s signing key failed: {done.stderr.strip()}")
        actors.signing_keys[actor_id] = key
        actors.inbound_key[f"{actor_id}:key_id"] = key_id

    # As each partner's operator would, with intake's admin CLI; side by side (each run is mostly Python starting).
    await asyncio.gather(
        *(register_signing_key(a, city) for a, role, city in everyone if role is Role.PARTNER and city is not None)
    )
    await provision_kafka(ep, {a: city for a, role, city in actors_of(cities) if role is Role.PARTNER and city}, actors)
    return actors


def schema_service(ep: Endpoints, schema: str) -> str:
    for service, s in ep.schemas.items():
        if s == schema:
            return service
    for services in ep.by_city.values():
        for service, (_, s) in services.items():
            if s == schema:
                return service
    raise KeyError(schema)


def partner_password(operator: KafkaSecurity, partner: str) -> str:
    """The partner's Kafka password in the scenario, derived from the operator's: every play on one broker sets the
    same one, so plays running at once (parallel tests) never lock each other's partners out."""
    secret = (operator.sasl_password.get_secret_value() if operator.sasl_password else "").encode()
    digest = hmac.new(secret, f"lgnet-scenario-partner:{partner}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def provision_kafka(ep: Endpoints, partners: dict[str, str], actors: Actors) -> None:
    """On a secured cluster, as its operator would (lgnet-kafka-admin add-partner --city): each partner (id → city)
    logs in as `partner.<id>` and may only write its city's inbound topic and read its own rejections. Without operator
    credentials the partners use the environment's."""
    operator = KafkaSecurity.from_env()
    if not operator.sasl_username:
        return
    try:
        async with Admin(ep.kafka, operator, ep.topic_prefix) as admin:
            for partner, city in partners.items():
                password = partner_password(operator, partner)
                # Added, not replaced: plays under other topic prefixes (parallel tests) keep their partners' ACLs.
                # Its city's intake and housing deployments answer it (a national deployment answers every city's).
                principal = kafka_acls.Principal.partner_(partner, city=city)
                await admin.provision(principal, password=password, exclusive=False)
                actors.kafka[partner] = operator.model_copy(
                    update={"sasl_username": f"partner.{partner}", "sasl_password": SecretStr(password)}
                )
    except (kafka_acls.AdminError, KafkaError) as exc:
        print(f"[scenario] partners use {operator.sasl_username}'s Kafka credentials (cannot provision theirs: {exc})")
        actors.kafka.clear()


@dataclass
class Platform:
    ep: Endpoints
    actors: Actors
    _clients: dict[tuple[str, str], httpx.AsyncClient] = field(default_factory=dict)

    def http(self, service: str, actor: str) -> httpx.AsyncClient:
        """A client of the deployment serving the actor's city (the national one for the national role)."""
        key = (service, actor)
        if key not in self._clients:
            # As a partner's system should: a service restarting under a step delays it (retries with backoff and
            # the same Idempotency-Key), it does not end the scenario.
            self._clients[key] = http_client(
                self.ep.url(service, self.actors.city_of.get(actor)), self.actors.tokens[key], timeout=60
            )
        return self._clients[key]

    async def intake_public_key(self, partner: str) -> dict[str, str]:
        """The sealing key of the intake serving the partner's city: {"key_id", "public_key"}."""
        url = self.ep.url("intake", self.actors.city_of.get(partner))
        if f"{url}:public_key" not in self.actors.inbound_key:
            answer = await self.http("intake", partner).get("/inbound-key")
            answer.raise_for_status()
            key = answer.json()
            self.actors.inbound_key[f"{url}:key_id"] = key["key_id"]
            self.actors.inbound_key[f"{url}:public_key"] = key["public_key"]
        return {k: self.actors.inbound_key[f"{url}:{k}"] for k in ("key_id", "public_key")}

    async def partner_client(self, partner: str, city: str, **kafka: Any) -> PartnerClient:
        """The partner's SDK client, logged in as the partner; `kafka`: further aiokafka producer settings."""
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
            security=self.actors.kafka_of(partner),
            **kafka,
        )

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
