"""The whole platform under test: the four services as real processes on the test's own topics and schemas, one
national deployment serving both scenario cities (actors are city-scoped), as `make up` runs them."""

from __future__ import annotations

import base64
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from lgnet_scenario.platform import SERVICES, Endpoints
from lgnet_shared.testing.process import ServiceProcess, service_env


@pytest.fixture(scope="module")
async def platform_endpoints(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Endpoints]:
    run = uuid.uuid4().hex[:8]
    prefix = f"e2e{run}."
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
