"""pytest fixtures shared by every LgNet test suite (loaded with `-p lgnet_shared.testing.plugin`).

Kafka and PostgreSQL come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set (`make test` sets them after
provisioning), else from testcontainers when a Docker engine answers, else the test fails with a message
saying how to get one. Never a silent skip. Each test gets its own topic prefix and database schema.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from lgnet_shared.cities import PROGRAMME_VAR
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.timings import FileTimings

HOW_TO = (
    "No {what} available. Run the tests with `make test` (it provisions Kafka and PostgreSQL locally), "
    "or set {var}, or start a Docker engine so testcontainers can run one."
)


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if url := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield url
        return
    if not _docker_answers():
        pytest.fail(HOW_TO.format(what="Kafka broker", var="KAFKA_BOOTSTRAP_SERVERS"), pytrace=False)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if not _docker_answers():
        pytest.fail(HOW_TO.format(what="PostgreSQL server", var="DATABASE_URL"), pytrace=False)
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as pg:
        yield pg.get_connection_url()


# Consumers under test fetch as a city's do (fetch.Pace: 64 KiB or 10 ms while busy, 1 byte or 500 ms once a fetch
# comes back empty). The suite used to force 1 byte / 500 ms at all times, from before the idle pace; at the
# product's settings the scenario's end-to-end module takes less CPU and time (fuller batches, fewer transactions:
# docs/benchmarks-history.md, "Tenth pass"), and the tests exercise what cities run. A test may still set its own.


# Topic prefixes handed out this session: their topics are deleted when it ends, so the local broker does not
# gather thousands of partitions run after run (a broker with them takes minutes to start again).
_PREFIXES: set[str] = set()


def new_topic_prefix(kind: str = "t") -> str:
    """A unique topic prefix (`<kind><random>.`), whose topics are deleted at the end of the test session."""
    prefix = f"{kind}{uuid.uuid4().hex[:10]}."
    _PREFIXES.add(prefix)
    return prefix


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix: topics created under it belong to this test alone."""
    return new_topic_prefix()


# A module's shared service. Starting a service for each test (its topics made, its consumers joined, then stopped)
# cost ≈ 0.5 CPU-s; ≈ 300 tests did (docs/benchmarks-history.md, "The suite at the session of 2026-12-06 14:57 UTC"). A
# module marked `shared_service` starts one for all its tests; each test sees it through `since` (what its topics
# held when the test began is not its), makes its own ids (`uid`) and asserts on them, never on whole tables. A
# test that kills, reconfigures or counts a whole service is marked `own_service` and gets one of its own.


@pytest.fixture(scope="module")
def module_topic_prefix() -> str:
    """A unique prefix for the topics of a module's shared service."""
    return new_topic_prefix()


@pytest.fixture(scope="module")
async def module_pg_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for a module's shared service, dropped (or kept emptied) afterwards."""
    async with fresh_schema(database_url) as name:
        yield name


@pytest.fixture
def uid() -> str:
    """Eight hex digits of this test's own, for the ids it makes on a shared service (`f"hh-{uid}"`)."""
    return uuid.uuid4().hex[:8]


async def seen_from_this_test(shared: Any) -> Any:
    """A shared service's handle (a dataclass with `bootstrap`, `prefix` and `since`) as one test sees it: its topics
    read from where they ended when the test began."""
    import dataclasses

    from lgnet_shared.testing.topics import end_offsets

    return dataclasses.replace(shared, since=await end_offsets(shared.bootstrap, shared.prefix))


def own_or_shared(request: pytest.FixtureRequest, service: str) -> Any:
    """The fixture `<service>_view` (this test's view of its module's shared service) when the module is marked
    `shared_service` and the test not `own_service`; else `<service>_own` (a service of the test's own)."""
    node = request.node
    if node.get_closest_marker("shared_service") and not node.get_closest_marker("own_service"):
        request.getfixturevalue(f"{service}_shared")  # started here: a view's setup runs in the loop, which cannot
        return request.getfixturevalue(f"{service}_view")
    return request.getfixturevalue(f"{service}_own")


StartService = Callable[[str, str, str, str, Path], AbstractAsyncContextManager[Any]]


def service_fixtures(name: str, start: StartService) -> tuple[Any, Any, Any, Any]:
    """A started service's fixtures, for a service's conftest: `name` (`own_or_shared`), `<name>_own` (on the test's
    own topics and schema), `<name>_shared` (the module's, module scope) and `<name>_view` (`seen_from_this_test`).
    `start(kafka_bootstrap, database_url, schema, topic_prefix, home)` starts one. In the conftest:
    `housing, housing_own, housing_shared, housing_view = service_fixtures("housing", started_housing)`."""

    @pytest.fixture(name=name)
    def dispatch(request: pytest.FixtureRequest) -> Any:
        return own_or_shared(request, name)

    @pytest.fixture(name=f"{name}_own")
    async def own(
        kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
    ) -> AsyncIterator[Any]:
        async with start(kafka_bootstrap, database_url, pg_schema, topic_prefix, tmp_path) as service:
            yield service

    @pytest.fixture(name=f"{name}_shared", scope="module")
    async def shared(
        kafka_bootstrap: str,
        database_url: str,
        module_pg_schema: str,
        module_topic_prefix: str,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> AsyncIterator[Any]:
        home = tmp_path_factory.mktemp(name)
        async with start(kafka_bootstrap, database_url, module_pg_schema, module_topic_prefix, home) as service:
            yield service

    @pytest.fixture(name=f"{name}_view")
    async def view(request: pytest.FixtureRequest) -> Any:
        return await seen_from_this_test(request.getfixturevalue(f"{name}_shared"))  # started: `own_or_shared`

    return dispatch, own, shared, view


# The suite's cluster runs a programme of the cities its tests name (every process it starts inherits it): a
# national deployment of 16 cities made, was granted and fetched 16 inbound topics for every test prefix, 14 of
# them never written (most of the suite's topics). shared/tests/test_programme_cities.py holds the default: all 16.
TEST_PROGRAMME = "bologna,genova,roma,torino,trieste"


def pytest_configure(config: pytest.Config) -> None:
    from lgnet_shared.testing import schema_pool

    os.environ.setdefault(PROGRAMME_VAR, TEST_PROGRAMME)
    schema_pool.install()  # services run in this process take kept schemas (its fork server's processes too)
    if not hasattr(config, "workerinput"):  # the controller sees every worker's reports; a worker only its own
        config.pluginmanager.register(FileTimings(), "lgnet-file-timings")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (every test module, their imports, the models' schemas) lives to the end of the run:
    frozen, the cycle collector's full passes no longer walk it again and again, and they come as rarely as in a
    service after its start (`service.GC_THRESHOLDS`). 13-15 % less CPU for the unit tests of shared, reporting and
    housing in one process (docs/benchmarks.md)."""
    import gc

    from lgnet_shared.service import GC_THRESHOLDS

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@pytest.hookimpl(trylast=True)  # after pytest's own runner has torn the fixtures down (-x, Ctrl-C included)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the service processes tests left running, then delete the session's test topics (only those under the
    prefixes it handed out)."""
    from lgnet_shared.testing.process import stop_leftovers

    if left := stop_leftovers():
        print(f"\n[lgnet] stopped {left} service process(es) a test left running: a fixture or test misses its stop")
    if _PREFIXES:
        _say_deleted(_PREFIXES)


@pytest.fixture(scope="module", autouse=True)
def _module_topics() -> Iterator[None]:
    """Delete the topics of the prefixes a module handed out when it ends (its services stopped: an autouse fixture
    of the module's scope is set up before, so torn down after, the module's own). A broker that kept every test's
    topics to the session's end held ≈ 7,700 partitions by then, and every client's full metadata request (each
    client's start, an admin's topic list) returned them all, to be decoded by every service process and test."""
    before = set(_PREFIXES)
    yield
    if (mine := _PREFIXES - before) and _say_deleted(mine, quiet=True):
        _PREFIXES.difference_update(mine)


def _say_deleted(prefixes: set[str], *, quiet: bool = False) -> bool:
    """Delete the topics under `prefixes` on the suite's broker; say so, and say a failure (cleaning up must not turn
    a run's result: the session's end tries again)."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        return False
    import asyncio

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the loop pytest-asyncio's runner keeps
    try:
        deleted = loop.run_until_complete(_delete_topics(bootstrap, tuple(prefixes)))
    except Exception as exc:
        print(f"\n[lgnet] test topics not deleted: {exc!r}")
        return False
    else:
        if not quiet:
            print(f"\n[lgnet] deleted {deleted} test topics of {len(prefixes)} prefixes")
        return True
    finally:
        loop.close()


async def _delete_topics(bootstrap: str, prefixes: tuple[str, ...]) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap), request_timeout_ms=30000)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        for i in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[i : i + 200])
        return len(doomed)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_schema(database_url: str) -> AsyncIterator[str]:
    """A new PostgreSQL schema, dropped afterwards (a test that needs two, e.g. two deployments, takes another) — or,
    migrated and unchanged but for its rows, emptied and kept for the next test (`schema_pool`)."""
    import asyncpg

    from lgnet_shared.testing import schema_pool

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'create schema "{name}"')
        yield name
    finally:
        await schema_pool.keep_or_drop(conn, name)
        await conn.close()


@pytest.fixture
async def pg_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for this test, dropped afterwards."""
    async with fresh_schema(database_url) as name:
        yield name


@pytest.fixture
async def pg_pool(database_url: str, pg_schema: str) -> AsyncIterator[Any]:
    """An asyncpg pool whose search_path is the test's own schema."""
    import asyncpg

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5, server_settings={"search_path": pg_schema})
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def new_topic(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Any]:
    """Factory: `await new_topic("name", partitions=3)` creates `<prefix>name` and returns its full name."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int = 1) -> str:
        full = f"{topic_prefix}{name}"
        replication = int(os.environ.get("LGNET_TOPIC_REPLICATION") or 1)  # 3 on a local cluster (CLUSTER=3)
        await admin.create_topics([NewTopic(full, num_partitions=partitions, replication_factor=replication)])
        created.append(full)
        return full

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


@pytest.fixture
async def dead_letters(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Any]:
    """A dead-letter writer on the test's own topics, for consumers a test builds in-process (what a handler fails
    into; the tests read `<prefix>lgnet.deadletter`)."""
    from aiokafka import AIOKafkaProducer

    from lgnet_shared.deadletter import DeadLetters
    from lgnet_shared.topics import ensure_topics

    await ensure_topics(kafka_bootstrap, topic_prefix, names=["deadletter"])
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        yield DeadLetters(producer, "test.consumer", topic_prefix)
    finally:
        await producer.stop()


# Debian's Chromium headless shell (`deploy/local/browser.py ensure` installs it; `make test` runs that), driven by
# Playwright: the same engine as the whole browser at less than half its CPU (deploy/local/browser.py says why).
CHROMIUM = os.environ.get("LGNET_CHROMIUM", "/usr/bin/chromium-headless-shell")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip


@pytest.fixture(scope="session")
async def _chromium() -> AsyncIterator[Any]:
    """One headless Chromium per test process: a launch costs more CPU than most page checks."""
    from playwright.async_api import async_playwright, expect

    # A page's assertions retry until the page shows what they expect: on a busy CI machine the page after a form's
    # post was once not there yet when a plain `count()` looked (test_desk_outreach_e2e).
    expect.set_options(timeout=20_000)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run `python deploy/local/browser.py ensure` (make test does)", pytrace=False)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


@pytest.fixture
async def browser(_chromium: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The shared headless Chromium; what a test opens in it (contexts, pages) is closed after the test. When the
    test failed, each open page's address and main text are printed first: what the person saw, in CI's log."""
    yield _chromium
    for context in list(_chromium.contexts):
        if request.node.stash.get(_CALL_FAILED, False):
            for page in context.pages:
                print(f"--- page {page.url}")
                with contextlib.suppress(Exception):
                    print((await page.locator("main").first.inner_text(timeout=2_000))[:3000])
        await context.close()
