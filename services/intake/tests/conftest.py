"""The intake service under test: a real process on the test's own topics and schema, with actors of two cities
(Torino and Trieste) provisioned: staff, partners (API tokens and Ed25519 signing keys) and the national role."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Role
from lgnet_shared import db, signing
from lgnet_shared.events import Event
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.testing.topics import read_events, read_records
from lgnet_shared.topics import physical

sys.path.insert(0, str(Path(__file__).parent))  # partner_records, importable by the test modules (importlib mode)

# The programme's national pseudonym key (base64 of 32 bytes): the same in every city's intake.
NATIONAL_KEY = "bmF0aW9uYWwtcHNldWRvbnltLWtleS1vZi10ZXN0cyE="
ACTORS = [
    ("staff-torino", Role.STAFF, "torino"),
    ("staff-trieste", Role.STAFF, "trieste"),
    ("coop-aurora", Role.PARTNER, "torino"),  # Torino partner
    ("coop-borgo", Role.PARTNER, "torino"),  # another Torino partner
    ("coop-carso", Role.PARTNER, "trieste"),  # Trieste partner
    ("coordination", Role.NATIONAL, None),
]


@dataclass
class IntakeUnderTest:
    process: ServiceProcess
    pool: Any
    bootstrap: str
    prefix: str
    tokens: dict[str, str] = field(default_factory=dict)
    signing_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    inbound_key: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def client(self, actor: str) -> httpx.AsyncClient:
        return self.process.client(self.tokens[actor], timeout=10)

    def partner(self, actor: str, city: str) -> PartnerClient:
        return PartnerClient(
            self.bootstrap,
            partner=actor,
            city=city,
            topic_prefix=self.prefix,
            signing_key=self.signing_keys[actor],
            signing_key_id=f"{actor}-key",
            intake_public_key=self.inbound_key["public_key"],
            intake_key_id=self.inbound_key["key_id"],
        )

    async def events(self, topic: str = "intake.events", *, want: int = 1, timeout: float = 20) -> list[Event]:
        """Every event on a topic so far (waits until at least `want` are there)."""
        return await read_events(self.bootstrap, physical(topic, self.prefix), want=want, timeout=timeout)

    async def raw_records(self, topic: str, *, missing_ok: bool = False) -> list[Any]:
        return await read_records(self.bootstrap, physical(topic, self.prefix), missing_ok=missing_ok)


@pytest.fixture
def intake_env() -> dict[str, str]:
    """More environment for the intake process (a test module overrides it, e.g. to run the sandbox)."""
    return {}


@pytest.fixture
def intake_actors() -> list[tuple[str, Role, str | None]]:
    """The actors provisioned (a test module of one city's intake overrides it: a city's schema knows its own)."""
    return ACTORS


@pytest.fixture
async def intake(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    topic_prefix: str,
    tmp_path: Path,
    intake_env: dict[str, str],
    intake_actors: list[tuple[str, Role, str | None]],
) -> AsyncIterator[IntakeUnderTest]:
    env = {
        **service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix),
        "LGNET_NATIONAL_PSEUDONYM_KEY": NATIONAL_KEY,
        **intake_env,
    }
    process = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, tmp_path / "intake.log")
    await process.start()
    await process.check_answers()  # every answer the tests get, as intake's OpenAPI documents it
    pool = await db.create_pool(database_url, pg_schema)
    under_test = IntakeUnderTest(process, pool, kafka_bootstrap, topic_prefix, env=env)
    try:
        async with pool.acquire() as conn:
            for actor_id, role, city in intake_actors:
                await credentials.add_actor(conn, actor_id, role, city, actor_id)
                under_test.tokens[actor_id] = await credentials.issue_token(conn, actor_id)
                if role is Role.PARTNER:
                    key = Ed25519PrivateKey.generate()
                    await credentials.add_signing_key(conn, f"{actor_id}-key", actor_id, signing.public_bytes(key))
                    under_test.signing_keys[actor_id] = key
        async with under_test.client("coop-aurora") as c:
            under_test.inbound_key = (await c.get("/inbound-key")).json()
        yield under_test
    finally:
        await pool.close()
        process.stop()
