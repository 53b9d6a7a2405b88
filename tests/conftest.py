"""The whole platform under test: the four services as real processes on the test's own topics and schemas, one
national deployment serving both scenario cities (actors are city-scoped), as `make up` runs them."""

from __future__ import annotations

import base64
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from lgnet_scenario.platform import SERVICES, Endpoints
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_acls import Principal, delete_acls, delete_credentials, new_password
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.testing.kafka_access import as_user
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.process import ServiceProcess, service_env


@pytest.fixture(scope="module")
async def platform_endpoints(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Endpoints]:
    run = uuid.uuid4().hex[:8]
    prefix = new_topic_prefix("e2e")
    schemas = {s: f"e2e_{run}_{s}" for s in SERVICES}
    master = base64.b64encode(os.urandom(32)).decode()
    logs = tmp_path_factory.mktemp("e2e")
    processes = {
        s: ServiceProcess(
            [sys.executable, "-m", f"lgnet_{s}.entrypoints.main"],
            service_env(kafka_bootstrap, database_url, schemas[s], prefix, master_key=master),
            logs / f"{s}.log",
        )
        for s in SERVICES
    }
    try:
        for p in processes.values():
            await p.start(timeout=120)
        yield Endpoints(
            kafka=kafka_bootstrap,
            database_url=database_url,
            urls={s: p.url for s, p in processes.items()},
            schemas=schemas,
            topic_prefix=prefix,
        )
    finally:
        for p in processes.values():
            p.stop()
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            for schema in schemas.values():
                await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
        for s in SERVICES:  # shown by pytest when a test of the module failed
            print(f"--- {s} log tail ---\n{(logs / f'{s}.log').read_bytes()[-1500:].decode(errors='replace')}")


FEDERATED_CITIES = ("torino", "trieste")


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

    async def process(service: str, city: str, schema: str, master: str) -> ServiceProcess:
        deployment = f"{city}-{run}"  # a deployment name of this run's own: its principal is this run's alone
        principal = Principal.service(deployment, service)
        async with Admin(kafka_bootstrap, admin_security, prefix) as admin:
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
    for city in FEDERATED_CITIES:
        master = base64.b64encode(os.urandom(32)).decode()
        by_city[city] = {}
        for s in SERVICES:
            schema = f"fed_{run}_{city}_{s}"
            by_city[city][s] = (await process(s, city, schema, master), schema)
    national_schema = f"fed_{run}_national_reporting"
    national_key = base64.b64encode(os.urandom(32)).decode()
    national = await process("reporting", "national", national_schema, national_key)
    processes = [national, *(p for services in by_city.values() for p, _ in services.values())]
    try:
        for p in processes:  # one at a time: nine processes starting at once on two cores time out
            await p.start(timeout=180)
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
        for p in processes:
            p.stop()
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            for schema in [national_schema, *(sc for services in by_city.values() for _, sc in services.values())]:
                await conn.execute(f'drop schema if exists "{schema}" cascade')
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
