"""The intake service under test: a real process on the test's own topics and schema, with actors of two cities
(Torino and Trieste) provisioned: staff, partners (API tokens and Ed25519 signing keys) and the national role."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_intake.adapters import credentials
from lgnet_intake.domain.access import Role
from lgnet_shared import db, signing
from lgnet_shared.events import Event
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.testing.plugin import own_or_shared, seen_from_this_test
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.testing.topics import Since, read_events, read_records
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
    since: Since = field(default_factory=dict)  # on a shared intake: where its topics ended when the test began

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
        topic = physical(topic, self.prefix)
        return await read_events(self.bootstrap, topic, want=want, timeout=timeout, since=self.since)

    async def raw_records(self, topic: str, *, missing_ok: bool = False) -> list[Any]:
        return await read_records(self.bootstrap, physical(topic, self.prefix), missing_ok=missing_ok, since=self.since)


@pytest.fixture
def intake_env() -> dict[str, str]:
    """More environment for the intake process (a test module overrides it, e.g. to run the sandbox)."""
    return {}


@pytest.fixture
def intake_actors() -> list[tuple[str, Role, str | None]]:
    """The actors provisioned (a test module of one city's intake overrides it: a city's schema knows its own)."""
    return ACTORS


@pytest.fixture
def intake(request: pytest.FixtureRequest) -> IntakeUnderTest:
    """The test's own intake, or its view of its module's shared one (`own_or_shared`)."""
    return cast(IntakeUnderTest, own_or_shared(request, "intake"))


@pytest.fixture
async def intake_own(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    topic_prefix: str,
    tmp_path: Path,
    intake_env: dict[str, str],
    intake_actors: list[tuple[str, Role, str | None]],
) -> AsyncIterator[IntakeUnderTest]:
    async with started_intake(
        kafka_bootstrap, database_url, pg_schema, topic_prefix, tmp_path, intake_env, intake_actors
    ) as under_test:
        yield under_test


@pytest.fixture(scope="module")
def intake_shared_env() -> dict[str, str]:
    """More environment for a module's shared intake (`intake_env`'s counterpart, of the module's scope)."""
    return {}


@pytest.fixture(scope="module")
async def intake_shared(
    kafka_bootstrap: str,
    database_url: str,
    module_pg_schema: str,
    module_topic_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    intake_shared_env: dict[str, str],
) -> AsyncIterator[IntakeUnderTest]:
    """One intake for a module marked `shared_service` (the default actors)."""
    home = tmp_path_factory.mktemp("intake")
    async with started_intake(
        kafka_bootstrap, database_url, module_pg_schema, module_topic_prefix, home, intake_shared_env
    ) as shared:
        yield shared


@pytest.fixture
async def intake_view(
    intake_shared: IntakeUnderTest, intake_env: dict[str, str], intake_actors: list[tuple[str, Role, str | None]]
) -> IntakeUnderTest:
    """The module's intake seen from this test: its topics read from where they ended when the test began."""
    if intake_env or intake_actors != ACTORS:
        raise pytest.UsageError("a shared intake takes `intake_shared_env` and the default actors, not `intake_env`")
    return cast(IntakeUnderTest, await seen_from_this_test(intake_shared))


@asynccontextmanager
async def started_intake(
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
    prefix: str,
    home: Path,
    more_env: dict[str, str] | None = None,
    actors: list[tuple[str, Role, str | None]] = ACTORS,
) -> AsyncIterator[IntakeUnderTest]:
    env = {
        **service_env(kafka_bootstrap, database_url, schema, prefix),
        "LGNET_NATIONAL_PSEUDONYM_KEY": NATIONAL_KEY,
        **(more_env or {}),
    }
    process = ServiceProcess([sys.executable, "-m", "lgnet_intake.entrypoints.main"], env, home / "intake.log")
    await process.start()
    await process.check_answers()  # every answer the tests get, as intake's OpenAPI documents it
    pool = await db.create_pool(database_url, schema)
    under_test = IntakeUnderTest(process, pool, kafka_bootstrap, prefix, env=env)
    try:
        async with pool.acquire() as conn:
            for actor_id, role, city in actors:
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
