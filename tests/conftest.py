"""The whole platform under test: the four services as real processes on the test's own topics and schemas, one
national deployment serving both scenario cities (actors are city-scoped), as `make up` runs them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lgnet_reporting.service_layer import projector
from lgnet_scenario import driver
from lgnet_scenario.platform import SERVICES, Endpoints
from lgnet_shared.codec import decode
from lgnet_shared.consumer import inbox_id
from lgnet_shared.envelope import from_record
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.events import payments as pev
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_acls import Principal, delete_acls, delete_credentials, new_password
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.testing import schema_pool
from lgnet_shared.testing.kafka_access import as_user
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.process import ServiceProcess, service_env, start_all, stop_all
from lgnet_shared.testing.topics import read_topics
from lgnet_shared.topics import physical


@pytest.fixture(scope="module")
def platform_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's platform writes each service's log (`<service>.log`): what its operators would search."""
    return tmp_path_factory.mktemp("e2e")


@contextlib.asynccontextmanager
async def platform_of(
    kafka_bootstrap: str, database_url: str, logs: Path, services: Sequence[str] = SERVICES, city: str = "national"
) -> AsyncIterator[Endpoints]:
    """These services as processes of one deployment (all four, or only some: a city running part of the platform),
    on the test's own topics and schemas; stopped, their schemas kept or dropped and their logs' tails printed at
    the end."""
    run = uuid.uuid4().hex[:8]
    prefix = new_topic_prefix("e2e")
    schemas = {s: f"e2e_{run}_{s}" for s in services}
    master = base64.b64encode(os.urandom(32)).decode()
    processes = {
        s: ServiceProcess(
            [sys.executable, "-m", f"lgnet_{s}.entrypoints.main"],
            service_env(kafka_bootstrap, database_url, schemas[s], prefix, city=city, master_key=master),
            logs / f"{s}.log",
        )
        for s in services
    }
    try:
        await start_all(processes.values(), timeout=120)
        yield Endpoints(
            kafka=kafka_bootstrap,
            database_url=database_url,
            urls={s: p.url for s, p in processes.items()},
            schemas=schemas,
            topic_prefix=prefix,
        )
    finally:
        stop_all(processes.values())
        conn = await asyncpg.connect(database_url)
        try:
            for schema in schemas.values():
                await schema_pool.keep_or_drop(conn, schema)
        finally:
            await conn.close()
        for s in services:  # shown by pytest when a test of the module failed
            print(f"--- {s} log tail ---\n{(logs / f'{s}.log').read_bytes()[-1500:].decode(errors='replace')}")


@pytest.fixture(scope="module")
def platform_starter(kafka_bootstrap: str, database_url: str) -> Callable[..., AbstractAsyncContextManager[Endpoints]]:
    """`platform_of` on the session's Kafka and PostgreSQL: `async with platform_starter(logs, ("intake",), "genova")`
    (a city running intake alone)."""
    return functools.partial(platform_of, kafka_bootstrap, database_url)


@pytest.fixture(scope="module")
async def platform_endpoints(kafka_bootstrap: str, database_url: str, platform_logs: Path) -> AsyncIterator[Endpoints]:
    async with platform_of(kafka_bootstrap, database_url, platform_logs) as endpoints:
        yield endpoints


FEDERATED_CITIES = ("torino", "trieste")
# The federation's nine processes start side by side, at most this many at a time: each spends its first seconds
# importing (CPU) and the rest waiting on Kafka and PostgreSQL, so a few at once fill two cores without starving.
FEDERATION_STARTING_AT_ONCE = 5


@dataclass
class Federation:
    endpoints: Endpoints
    principals: dict[str, tuple[Principal, KafkaSecurity]]  # "<city>.<service>" or "national.reporting"


@pytest.fixture(scope="module")
async def federation(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Federation]:
    """Federation on one cluster and one PostgreSQL server: Torino and Trieste each run their own intake,
    housing, payments and reporting (own schemas, master keys, consumer groups, Kafka principals with exactly the
    ACLs the registry derives), and the national coordination runs a reporting of its own over every city."""
    run = uuid.uuid4().hex[:8]
    prefix = new_topic_prefix("fed")
    logs = tmp_path_factory.mktemp("federated")
    admin_security = KafkaSecurity.from_env()
    principals: dict[str, tuple[Principal, KafkaSecurity]] = {}
    provisioning = time.monotonic()

    async def process(admin: Admin, service: str, city: str, schema: str, master: str) -> ServiceProcess:
        deployment = f"{city}-{run}"  # a deployment name of this run's own: its principal is this run's alone
        principal = Principal.service(deployment, service, city=city)
        password = new_password()
        await admin.provision(principal, password=password)
        security = as_user(admin_security, principal.name, password)
        principals[f"{city}.{service}"] = (principal, security)
        env = service_env(kafka_bootstrap, database_url, schema, prefix, city=city, master_key=master)
        env |= {**security.env(), "LGNET_DEPLOYMENT": deployment}
        return ServiceProcess(
            [sys.executable, "-m", f"lgnet_{service}.entrypoints.main"], env, logs / f"{city}-{service}.log"
        )

    by_city: dict[str, dict[str, tuple[ServiceProcess, str]]] = {}
    national_schema = f"fed_{run}_national_reporting"
    national_key = base64.b64encode(os.urandom(32)).decode()
    async with Admin(kafka_bootstrap, admin_security, prefix) as admin:  # one admin session for the nine principals
        for city in FEDERATED_CITIES:
            master = base64.b64encode(os.urandom(32)).decode()
            by_city[city] = {}
            for s in SERVICES:
                schema = f"fed_{run}_{city}_{s}"
                by_city[city][s] = (await process(admin, s, city, schema, master), schema)
        national = await process(admin, "reporting", "national", national_schema, national_key)
    print(f"federation: {len(principals)} principals provisioned in {time.monotonic() - provisioning:.1f} s")
    processes = [national, *(p for services in by_city.values() for p, _ in services.values())]
    try:
        t0 = time.monotonic()
        await start_all(processes, timeout=180, at_once=FEDERATION_STARTING_AT_ONCE)
        print(f"federation: {len(processes)} processes ready in {time.monotonic() - t0:.1f} s", flush=True)
        yield Federation(
            Endpoints(
                kafka=kafka_bootstrap,
                database_url=database_url,
                urls={"reporting": national.url},
                schemas={"reporting": national_schema},
                topic_prefix=prefix,
                by_city={
                    c: {s: (p.url, schema) for s, (p, schema) in services.items()} for c, services in by_city.items()
                },
            ),
            principals,
        )
    finally:
        stop_all(processes)
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            for schema in [national_schema, *(sc for services in by_city.values() for _, sc in services.values())]:
                await schema_pool.keep_or_drop(conn, schema)
        finally:
            await conn.close()
        async with Admin(kafka_bootstrap, admin_security, prefix) as admin:
            for principal, _ in principals.values():
                await delete_credentials(admin.client, principal.name)
                await delete_acls(admin.client, principal.user)
        for p in processes:
            print(f"--- {p.log_path.name} tail ---\n{p.log_path.read_bytes()[-1200:].decode(errors='replace')}")


@pytest.fixture(scope="module")
def federated_endpoints(federation: Federation) -> Endpoints:
    return federation.endpoints


class Platform4:
    """The four services as processes a fault-injection test may kill, on their own topics and schemas."""

    def __init__(self, kafka: str, database_url: str, logs: Path, name: str, env: dict[str, str] | None = None):
        run = uuid.uuid4().hex[:8]
        self.prefix = new_topic_prefix(name)
        self.schemas = {s: f"{name}_{run}_{s}" for s in SERVICES}
        master = base64.b64encode(os.urandom(32)).decode()
        self.logs = logs
        self.processes = {
            s: ServiceProcess(
                [sys.executable, "-m", f"lgnet_{s}.entrypoints.main"],
                service_env(kafka, database_url, self.schemas[s], self.prefix, master_key=master) | (env or {}),
                logs / f"{s}.log",
            )
            for s in SERVICES
        }
        self.ep = Endpoints(
            kafka=kafka,
            database_url=database_url,
            urls={s: p.url for s, p in self.processes.items()},
            schemas=self.schemas,
            topic_prefix=self.prefix,
        )

    async def close(self) -> None:
        stop_all(self.processes.values())
        conn = await asyncpg.connect(self.ep.database_url)
        try:
            for schema in self.schemas.values():
                await schema_pool.keep_or_drop(conn, schema)
        finally:
            await conn.close()
        for s in SERVICES:  # shown by pytest when the test failed
            tail = (self.logs / f"{s}.log").read_bytes()[-1500:].decode(errors="replace")
            print(f"--- {s} log tail ---\n{tail}")


# One fact per aggregate step: a second one is a doubled effect.
ONCE = {
    iev.PersonRegistered: ("person_id",),
    iev.HouseholdFormed: ("household_id",),
    iev.CaseOpened: ("case_id",),
    iev.CaseClosed: ("case_id",),
    iev.PersonErased: ("person_id",),
    hev.MatchAccepted: ("match_id",),
    hev.PlacementStarted: ("match_id",),
    hev.LeaseSigned: ("placement_id",),
    hev.PlacementEnded: ("placement_id",),
    pev.ContributionRequested: ("case_id", "kind", "period_from", "period_to", "amount_cents"),
    pev.ContributionApproved: ("request_id", "bank_data_version"),  # again after a payee refused: new bank data
    pev.ContributionPaid: ("request_id",),
}


class Ledger:
    """What a run with faults must show, as a run without them: reports equal to the scenario's truth, and no
    event lost or doubled, counted on the fact topics (one fact per aggregate step) and in the inbox tables."""

    @staticmethod
    def reports_equal_truth(bodies: dict[str, Any], truth: driver.Truth) -> None:
        for city, t in truth.cities.items():
            ind = bodies[city]["indicators"]
            assert ind["persons"]["total"] == t.persons
            assert ind["persons"]["minors"] == t.minors
            assert ind["households"]["total"] == t.households
            assert ind["cases"]["opened"] == t.cases_opened
            assert ind["cases"]["closed"] == t.cases_closed
            assert ind["placements"]["started"] == t.placements
            assert sum(ind["leases_by_type"].values()) == t.leases
            assert ind["contributions_paid"]["amount_cents"] == t.contributions_paid_cents

    @staticmethod
    async def facts(ep: Endpoints) -> list[tuple[Any, Any]]:
        out = []
        topics = [
            physical(logical, ep.topic_prefix) for logical in ("intake.events", "housing.events", "payments.events")
        ]
        by_topic = await read_topics(ep.kafka, topics, quiet_ms=2000)  # one quiet period for the three, not three
        for record in (r for topic in topics for r in by_topic[topic]):
            env = from_record(record.value, record.headers or (), record.key)
            out.append((env, decode(env)))
        return out

    @staticmethod
    async def inboxes(ep: Endpoints) -> dict[str, Counter[tuple[str, str]]]:
        """(consumer, event id) of every inbox row, per service."""
        conn = await asyncpg.connect(ep.database_url)
        try:
            return {
                s: Counter(
                    (r["consumer"], r["event_id"])
                    for r in await conn.fetch(f'select consumer, event_id from "{ep.schemas[s]}".inbox')
                )
                for s in SERVICES
            }
        finally:
            await conn.close()

    @classmethod
    async def nothing_lost_or_doubled(cls, ep: Endpoints, truth: driver.Truth) -> dict[str, int]:
        """Asserts; returns inbox rows per service."""
        records = await cls.facts(ep)
        # A relay killed between sending and marking sent sends again (at least once): the same event, same id,
        # which every consumer's inbox absorbs. Facts are counted once per id; effects must be once per step.
        log = list({env.id: (env, e) for env, e in records}.values())
        size = sum(len(env.model_dump_json()) for env, _ in records)
        print(
            f"{len(records)} fact records, {len(log)} distinct events ({len(records) - len(log)} redelivered),"
            f" ≈{size // max(1, len(records))} bytes each as JSON"
        )
        doubled = Counter(
            (type(e).__name__, *(str(getattr(e, f)) for f in fields))
            for _, e in log
            for kind, fields in ONCE.items()
            if type(e) is kind
        )
        assert not {k: n for k, n in doubled.items() if n > 1}, "an effect was doubled"
        by_type = Counter(type(e).__name__ for _, e in log)
        assert by_type["CaseOpened"] == sum(t.households for t in truth.cities.values())
        assert by_type["CaseClosed"] == sum(t.cases_closed for t in truth.cities.values())
        assert by_type["PlacementStarted"] == sum(t.placements for t in truth.cities.values())
        assert by_type["LeaseSigned"] == sum(t.leases for t in truth.cities.values())
        assert by_type["PersonErased"] == 1

        # Inboxes: every fact reporting projects is in its inbox exactly once (the primary key makes a second row
        # impossible; a missing one is a lost event), and housing's and payments' inboxes hold each intake fact
        # they handle at most once per consumer (counted). Reporting consumes asynchronously and the reports'
        # catching up is judged on the figures they show: after a late kill, facts that no compared figure counts
        # (a needs assessment, an employment record) may still be on their way. A fact that has not arrived a
        # minute later is lost.
        projected = set(projector.handlers())
        wanted = {inbox_id(env): env.type for env, _ in log if env.type in projected}
        assert wanted
        started = time.monotonic()
        deadline = started + 60
        while True:
            inbox = await cls.inboxes(ep)
            seen = {event_id for _, event_id in inbox["reporting"]}
            missing = Counter(kind for event_id, kind in wanted.items() if event_id not in seen)
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        if time.monotonic() - started > 1:
            print(f"reporting's inbox held every fact {time.monotonic() - started:.0f} s after the reports caught up")
        assert not missing, (
            f"{missing.total()} of {len(wanted)} facts never processed by reporting (a minute after the reports"
            f" caught up), by type: {dict(missing)}"
        )
        for s in SERVICES:
            assert not [k for k, n in inbox[s].items() if n > 1], f"{s}: an event processed twice"
        rows = {s: len(r) for s, r in inbox.items()}
        print(rows, "inbox rows per service")
        return rows


@pytest.fixture(scope="session")
def ledger() -> type[Ledger]:
    return Ledger


@pytest.fixture(scope="session")
def platform4_class() -> type[Platform4]:
    """Test modules are not importable from each other (--import-mode=importlib): shared helpers come as fixtures."""
    return Platform4
