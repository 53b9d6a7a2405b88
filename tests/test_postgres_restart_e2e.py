"""PostgreSQL restarts mid-run: a small scenario of Torino and Trieste is played while the database server is
stopped (fast shutdown: every connection cut) and started again, twice. The services are not restarted: their pools
reconnect, the outbox relay and the consumers retry. Then nothing is lost or doubled and the reports equal the
scenario's truth. The server restarted is one of the test's own (deploy/local/infra.py's, on a free port), so
tests running in parallel keep theirs."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lgnet_scenario import driver, reports
from lgnet_scenario.platform import Platform, provision
from lgnet_scenario.population import scaled
from lgnet_shared.testing.process import start_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SCALE = float(os.environ.get("LGNET_PG_RESTART_SCALE", "0.15"))
SEED = 5
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A PostgreSQL server of this module's own (deploy/local/infra.py's, on a free port): restarting the shared
    one would cut every other test running in parallel."""
    from lgnet_shared.testing.process import free_port

    spec = importlib.util.spec_from_file_location("lgnet_infra_pg", ROOT / "deploy" / "local" / "infra.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    pg = module.Postgres(home=tmp_path_factory.mktemp("pgrestart-server"), port=free_port())
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
async def platform(
    kafka_bootstrap: str, own_postgres: Any, tmp_path_factory: pytest.TempPathFactory, platform4_class: Any
) -> AsyncIterator[Any]:
    p = platform4_class(kafka_bootstrap, own_postgres.url, tmp_path_factory.mktemp("pgrestart"), "pgrestart")
    try:
        await start_all(p.processes.values(), timeout=120)
        yield p
    finally:
        await p.close()


async def restarts(pg: Any, log: list[tuple[float, float]], under_way: asyncio.Event) -> None:
    """Once the scenario is under way, twice: wait, stop the server (fast: connections cut), keep it down 3 s,
    start it."""
    await under_way.wait()
    began = time.monotonic()
    for wait in (2, 8):
        await asyncio.sleep(wait)
        t0 = time.monotonic()
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(pg.start)
        log.append((round(t0 - began, 1), round(time.monotonic() - t0, 1)))


async def test_a_postgres_restart_mid_run_loses_and_doubles_nothing(
    platform: Any, own_postgres: Any, ledger: Any
) -> None:
    pg = own_postgres
    pids = {name: p.proc.pid for name, p in platform.processes.items()}
    cities = scaled(SCALE)
    log: list[tuple[float, float]] = []
    under_way = asyncio.Event()

    def progress(line: str) -> None:
        print(line, flush=True)
        if line.startswith("provisioned actors"):  # from now on the partners send and call
            under_way.set()

    restarter = asyncio.create_task(restarts(pg, log, under_way))
    try:
        truth = await driver.run(platform.ep, cities=cities, seed=SEED, progress=progress)
    finally:
        under_way.set()  # a scenario that failed early: the restarts still end
        await restarter
    print(f"PostgreSQL restarts (at s, s down): {log}")
    assert len(log) == 2
    plat = Platform(platform.ep, await provision(platform.ep, {c.city: c.partners for c in cities}))
    try:
        bodies = await reports.caught_up(plat, truth, timeout=180)
    finally:
        await plat.close()
    ledger.reports_equal_truth(bodies, truth)
    await ledger.nothing_lost_or_doubled(platform.ep, truth)
    # The services were never restarted.
    assert {name: p.proc.pid for name, p in platform.processes.items() if p.proc.poll() is None} == pids


async def test_a_url_listing_several_hosts_reaches_the_writable_one(database_url: str) -> None:
    """What docs/operators.md tells operators of a replicated PostgreSQL to write: every node listed, the first one
    here down, `target_session_attrs=read-write`; the services' pool (lgnet_shared.db) connects to the one up."""
    from urllib.parse import urlsplit

    from lgnet_shared import db
    from lgnet_shared.testing.process import free_port

    url = urlsplit(database_url)
    down = f"127.0.0.1:{free_port()}"
    listed = f"{url.scheme}://{url.username}@{down},{url.hostname}:{url.port}{url.path}?target_session_attrs=read-write"
    pool = await db.create_pool(listed, "public", max_size=2)
    try:
        assert await pool.fetchval("select not pg_is_in_recovery()") is True
    finally:
        await pool.close()
