"""The auditors' replay run as an auditor runs it (`lgnet-replay`, the command docs/reporting.md gives), on a broken
environment: each failure is one JSON line naming the setting and what failed, exit 2 (could not run; 1 means "a
digest differs"), no traceback, and no `replay_*` schema left behind — also when interrupted (SIGINT, SIGTERM).

From an outside tester's report: an unreachable broker, a wrong SASL password, an unreachable database and the
live mode against an auditor's own empty database each ended in a traceback and exit 1; a principal without READ
on a fact topic made `--published` hang, logging "Topic … is not authorized" tens of thousands of times; a SIGTERM
left the rebuilt schema in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.adapters import store
from lgnet_reporting.adapters.schema import MIGRATIONS
from lgnet_shared import consumer, db
from lgnet_shared import kafka_acls as ka
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.testing.process import free_port
from lgnet_shared.topics import ensure_topics, physical

pytestmark = pytest.mark.integration


@dataclass
class Ran:
    code: int | None  # None: still running when the test gave up on it
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def error(self) -> str:
        return str(self.lines[-1]["error"]) if self.lines else ""


async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """The command in a session of its own: a run that hangs is killed with its worker processes. The console script
    installed beside the interpreter, as an auditor types it (it was `python -m lgnet_reporting.entrypoints.replay`)."""
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("lgnet-replay")), *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


async def kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


async def replay(env: dict[str, str], *args: str, timeout: float = 60) -> Ran:
    proc = await start(env, *args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await kill(proc)
        return Ran(None, [], "")
    return Ran(proc.returncode, _lines(out), err.decode(errors="replace"))


def _lines(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.decode().splitlines() if x.strip()]


def one_line_exit_2(ran: Ran) -> str:
    """The run could not run: one summary line, exit 2, nothing on stderr (no traceback, no client's log lines)."""
    assert ran.code == 2, (ran.code, ran.lines, ran.stderr[-2000:])
    assert len(ran.lines) == 1 and ran.lines[0]["ok"] is False and ran.lines[0]["reports"] == 0, ran.lines
    assert ran.stderr == "", ran.stderr[-2000:]
    return ran.error


async def schema_exists(database_url: str, name: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return bool(await conn.fetchval("select 1 from pg_namespace where nspname = $1", name))
    finally:
        await conn.close()


@dataclass
class Setup:
    env: dict[str, str]
    prefix: str
    live_schema: str
    database_url: str
    into: str  # the schema each run is told to rebuild into: it must not exist afterwards


@pytest.fixture
async def setup(kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str) -> AsyncIterator[Setup]:
    """A live reporting schema (the tables, positions naming one record on `intake.events`) and the replay's env."""
    await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events", "intake.special", "reporting.events"])
    topic = physical("intake.events", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for n in range(2):
            await producer.send_and_wait(topic, b"not an event", key=b"k", partition=n)
    finally:
        await producer.stop()
    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    try:
        await db.migrate(pool, [consumer.MIGRATION, *MIGRATIONS])
        async with pool.acquire() as conn:
            await store.save_positions(conn, {topic: {"0": 1, "1": 1}})
    finally:
        await pool.close()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "LGNET_TOPIC_PREFIX": topic_prefix,
        "LGNET_DB_SCHEMA": pg_schema,
        "LGNET_CITY": "national",
        # No service ran here to register a signing key: a log as written before signatures (see the test below).
        "LGNET_FACT_SIGNATURES": "off",
    }
    into = f"replay_t{uuid.uuid4().hex[:10]}"
    try:
        yield Setup(env, topic_prefix, pg_schema, database_url, into)
    finally:
        assert not await schema_exists(database_url, into), f"the replay left {into} behind"


async def test_the_live_replay_of_the_test_log_works(setup: Setup) -> None:
    """The fixture's live schema replays (the failures below are the environment's, not the setup's)."""
    ran = await replay(setup.env, "--into", setup.into)
    assert ran.code == 0, (ran.lines, ran.stderr[-2000:])
    assert ran.lines[0]["replay"]["records"] == 2 and ran.lines[-1]["ok"] is True


async def test_records_deleted_at_the_start_of_the_log_fail_the_replay_naming_where_it_now_starts(
    setup: Setup, kafka_bootstrap: str
) -> None:
    """From an outside auditor: the first records of a partition deleted (the admin API's DeleteRecords), the replay
    read fewer records and said "ok" — it rebuilds from offset zero, and could not. Now it fails (exit 1), naming the
    partition and where it starts (`lgnet-audit verify` names the records gone)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.records_to_delete import RecordsToDelete

    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(physical("intake.events", setup.prefix), 0): RecordsToDelete(1)})
    finally:
        await admin.close()
    ran = await replay(setup.env, "--into", setup.into)
    assert ran.code == 1, (ran.lines, ran.stderr[-2000:])
    assert ran.lines[-1]["ok"] is False, ran.lines
    assert "intake.events[0] starts at offset 1" in ran.error, ran.error


# Signatures `required` (the default, as a deployment runs) and `off`: with `required` the registry of signing keys is
# read first (--published), and a Kafka failure there was said as "KafkaConnectionError: … Unable to bootstrap", not
# naming the variable nor telling a refused login from a closed port (an outside tester's report).
SIGNATURES = pytest.mark.parametrize("signatures", ["off", "required"])


@SIGNATURES
async def test_an_unreachable_broker_is_one_line_naming_the_address_and_exit_2(setup: Setup, signatures: str) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {**setup.env, "KAFKA_BOOTSTRAP_SERVERS": address, "LGNET_FACT_SIGNATURES": signatures}
    for mode in (["--published"], []):
        error = one_line_exit_2(await replay(env, *mode, "--into", setup.into))
        assert error.startswith(f"KAFKA_BOOTSTRAP_SERVERS {address}: broker unreachable: "), (mode, error)
        assert "Connect call failed" in error, error


@SIGNATURES
async def test_a_wrong_sasl_password_is_said_as_a_refused_login_not_as_unreachable(
    setup: Setup, signatures: str
) -> None:
    if KafkaSecurity.from_env().security_protocol != "SASL_SSL":
        pytest.fail("this test needs the secured broker (make test, or .local/infra.env)", pytrace=False)
    env = {**setup.env, "KAFKA_SASL_PASSWORD": "not-the-password", "LGNET_FACT_SIGNATURES": signatures}
    user = env["KAFKA_SASL_USERNAME"]
    for mode in (["--published"], []):  # live: it went as far as the worker processes (_rebuild_parallel)
        error = one_line_exit_2(await replay(env, *mode, "--into", setup.into))
        assert error.startswith(f"KAFKA_BOOTSTRAP_SERVERS {env['KAFKA_BOOTSTRAP_SERVERS']}: "), (mode, error)
        assert f"refused the credentials of {user!r}" in error and "KAFKA_SASL_PASSWORD" in error, error
        assert "unreachable" not in error, error


async def test_workers_below_one_are_refused_before_anything_is_read(setup: Setup) -> None:
    """`--workers 0` ended in a generic error from deep in the rebuild (after the schema was made); it is refused
    first, as `lgnet-audit verify --workers 0` is."""
    for workers in ("0", "-2"):
        error = one_line_exit_2(await replay(setup.env, "--workers", workers, "--into", setup.into))
        assert error.startswith(f"--workers {workers}: at least 1 process"), error


async def test_a_period_ending_before_it_starts_or_a_day_to_come_is_refused_not_replayed(setup: Setup) -> None:
    """`--from` after `--as-of` (an auditor's slip) replayed empty reports and said `"ok": true`, and `--as-of` a day
    to come replayed today's figures under that date: reports the API refuses (422) were certified. Refused first."""
    late = await replay(setup.env, "--as-of", "2026-06-30", "--from", "2026-07-01", "--into", setup.into)
    assert one_line_exit_2(late).startswith("--from 2026-07-01: must not be after 2026-06-30 (--as-of)"), late.lines
    error = one_line_exit_2(await replay(setup.env, "--as-of", "2999-01-01", "--into", setup.into))
    assert error.startswith("--as-of 2999-01-01: is in the future: today is "), error


async def test_options_of_the_other_mode_are_refused_not_ignored(setup: Setup) -> None:
    """`--published --as-of 2026-06-30` checked every published report whatever its date, and `--report-id` without
    `--published` replayed the live reports as of today: an auditor believed they had checked what they asked."""
    for args, said in (
        (["--published", "--as-of", "2026-06-30"], "--as-of: the live mode's"),
        (["--published", "--from", "2026-01-01"], "--from: the live mode's"),
        (["--report-id", "r-1"], "--report-id: with --published only"),
    ):
        error = one_line_exit_2(await replay(setup.env, *args, "--into", setup.into))
        assert error.startswith(said), (args, error)


async def test_no_signing_key_in_sight_is_a_setup_error_not_a_log_of_forgeries(setup: Setup) -> None:
    """The replay takes the live consumers' signature decisions with the keys registered on the cluster. Every
    deployment registers its key before it writes a fact, so none in sight means a wrong LGNET_TOPIC_PREFIX or a
    principal that may not read the registry: every fact would be refused and every report said to differ."""
    env = {k: v for k, v in setup.env.items() if k != "LGNET_FACT_SIGNATURES"}  # required, the default
    error = one_line_exit_2(await replay(env, "--into", setup.into))
    assert error.startswith(f"no signing keys found under prefix {setup.prefix!r}"), error
    assert "LGNET_FACT_SIGNATURES=off" in error, error


async def test_a_schema_name_that_is_not_one_is_refused_before_anything_is_made_or_dropped(setup: Setup) -> None:
    """`--into` went into `create schema "<name>"` as written: a name with a double quote was a PostgresSyntaxError
    naming neither the option nor what a name may hold, and "Audit 2026" made a schema the service could never be
    pointed at (LGNET_DB_SCHEMA: the upgrade's rebuild is `--into <new schema> --keep`). Refused first, by the rule of
    LGNET_DB_SCHEMA."""
    for name in ('audit"2026', 'x", "public', "Audit 2026"):
        error = one_line_exit_2(await replay(setup.env, "--into", name))
        assert error.startswith(f"--into {name}: not a schema name"), error
    assert await schema_exists(setup.database_url, "public")


async def test_an_out_folder_that_cannot_be_one_is_refused_before_the_log_is_read(setup: Setup, tmp_path: Path) -> None:
    """`--out <a file>` replayed the whole log, then ended in "FileExistsError: [Errno 17] File exists: …", naming
    neither the option nor what to give. Refused first, as `lgnet-audit verify --state` is."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for out, why in ((a_file, "is a file, not a folder"), ("/proc/nope", "cannot be made or written")):
        ran = await replay(setup.env, "--as-of", "2026-06-30", "--out", str(out), "--into", setup.into)
        assert one_line_exit_2(ran).startswith(f"--out {out}: {why}"), ran.lines
    assert a_file.read_text() == "mine"


async def test_a_bad_argument_is_the_summary_line_too(setup: Setup) -> None:
    """`--as-of 30/06/2026` printed argparse's usage and error on stderr and nothing on stdout, where the command
    promises one JSON line naming what could not run (a script reading it found nothing)."""
    for args, said in ((["--as-of", "30/06/2026"], "--as-of 30/06/2026: "), (["--workers", "two"], "--workers two: "),
                       (["--bogus"], "--bogus: ")):  # fmt: skip
        ran = await replay(setup.env, *args)
        assert ran.code == 2 and len(ran.lines) == 1 and ran.lines[0]["ok"] is False, (ran.lines, ran.stderr)
        assert ran.error.startswith(said), ran.error


async def test_an_unreachable_database_is_one_line_naming_it_without_its_password(setup: Setup) -> None:
    port = free_port()
    env = {**setup.env, "DATABASE_URL": f"postgresql://auditor:s3cr3t@127.0.0.1:{port}/audit"}
    error = one_line_exit_2(await replay(env, "--into", setup.into))
    assert error.startswith(f"DATABASE_URL postgresql://auditor@127.0.0.1:{port}/audit: database unreachable: "), error
    assert "s3cr3t" not in error


async def test_the_live_mode_against_an_empty_database_says_what_it_needs_and_creates_nothing(setup: Setup) -> None:
    """An auditor's own database: no `reporting` schema (it was created, empty, then a traceback), or an empty one."""
    absent = f"reporting_{uuid.uuid4().hex[:8]}"
    error = one_line_exit_2(await replay({**setup.env, "LGNET_DB_SCHEMA": absent}, "--into", setup.into))
    assert error.startswith(f"--live-schema {absent} (LGNET_DB_SCHEMA): no such schema in this database"), error
    assert "the platform's reporting database" in error and "use --published" in error, error
    assert not await schema_exists(setup.database_url, absent)
    conn = await asyncpg.connect(setup.database_url)
    try:
        await conn.execute(f'create schema "{absent}"')  # there, but without the reporting tables
        env = {**setup.env, "LGNET_DB_SCHEMA": absent}
        error = one_line_exit_2(await replay(env, "--into", setup.into))
        assert 'no reporting tables (relation "consumer_positions" does not exist)' in error, error
        assert "use --published" in error, error
        assert await conn.fetchval("select count(*) from pg_tables where schemaname = $1", absent) == 0
    finally:
        await conn.execute(f'drop schema if exists "{absent}" cascade')
        await conn.close()


async def test_into_an_existing_schema_is_refused_and_that_schema_is_left_alone(setup: Setup) -> None:
    """It used to drop the schema `--into` named when the rebuild failed there — the live one, given its name."""
    error = one_line_exit_2(await replay(setup.env, "--into", setup.live_schema))
    assert error == (
        f"--into {setup.live_schema}: that schema already exists: name a new one (the replay creates it)"
    ), error
    conn = await asyncpg.connect(setup.database_url)
    try:
        assert await conn.fetchval(f'select count(*) from "{setup.live_schema}".consumer_positions') == 2
    finally:
        await conn.close()


@pytest.fixture
async def national_principal(setup: Setup, kafka_bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """The national coordination's principal (reads facts, but never `intake.special`), as lgnet-kafka-admin
    provisions it under this test's prefix; the replay's env as that principal."""
    admin_security = KafkaSecurity.from_env()
    if admin_security.security_protocol != "SASL_SSL":
        pytest.fail("this test needs the secured broker (make test, or .local/infra.env)", pytrace=False)
    principal = ka.Principal.national(f"nat-{uuid.uuid4().hex[:8]}")
    special = physical("intake.special", setup.prefix)
    assert not ka.allowed(principal, "read", special, setup.prefix)  # by design
    assert ka.allowed(principal, "read", physical("reporting.events", setup.prefix), setup.prefix)
    async with Admin(kafka_bootstrap, admin_security, setup.prefix) as admin:
        password, _ = await admin.provision(principal)
    assert password is not None
    try:
        yield {**setup.env, "KAFKA_SASL_USERNAME": principal.name, "KAFKA_SASL_PASSWORD": password}
    finally:
        async with Admin(kafka_bootstrap, admin_security, setup.prefix) as admin:
            await ka.delete_credentials(admin.client, principal.name)
            await ka.delete_acls(admin.client, principal.user)


async def test_a_principal_that_may_not_read_a_fact_topic_stops_at_once_naming_it(
    setup: Setup, national_principal: dict[str, str], kafka_bootstrap: str
) -> None:
    """It hung (killed after 300 s), logging `Topic lgnet.intake.special is not authorized for this client` 83,174
    times, and left its `replay_*` schemas behind."""
    special, events = physical("intake.special", setup.prefix), physical("reporting.events", setup.prefix)
    published = ReportPublished(
        report_id=str(uuid.uuid4()), report="national", scope="national", as_of=date(2026, 6, 30), digest="0" * 64,
        positions={special: {"0": 1}, physical("intake.events", setup.prefix): {"0": 1}},
        published_at=datetime.now(UTC), method=2,
    )  # fmt: skip
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(special, b"a vulnerability", key=b"k", partition=0)
        value, headers = to_envelope(published, source="/lgnet/reporting", city="national").to_structured()
        await producer.send_and_wait(events, value, key=published.report_id.encode(), headers=headers)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(setup.database_url)
    try:  # the live tables cover intake.special too
        await conn.execute(
            f'insert into "{setup.live_schema}".consumer_positions select consumer, $1, 0, 1'
            f' from "{setup.live_schema}".consumer_positions limit 1',
            special,
        )
    finally:
        await conn.close()
    wanted = f"not authorised to read {special}: use the auditor principal"
    for mode in (["--published"], []):
        ran = await replay(national_principal, *mode, "--into", setup.into, timeout=30)
        assert ran.code is not None, f"{mode}: still running after 30 s"
        error = one_line_exit_2(ran)
        assert error.startswith(f"KAFKA_SASL_USERNAME {national_principal['KAFKA_SASL_USERNAME']}: "), error
        assert wanted in error, error


async def _held_at_migrations(setup: Setup, holder: asyncpg.Connection) -> asyncio.subprocess.Process:
    """A live replay started and held while it prepares its schema (`holder` takes the lock its migrations take)."""
    await holder.execute("select pg_advisory_lock(hashtext($1))", f"{setup.into}:migrate")
    proc = await start(setup.env, "--into", setup.into, "--workers", "2")
    waiting = "select 1 from pg_locks where locktype = 'advisory' and not granted and objid = hashtext($1)::oid"
    for _ in range(300):
        if await holder.fetchval(waiting, f"{setup.into}:migrate"):
            return proc
        await asyncio.sleep(0.1)
    await kill(proc)
    raise AssertionError("the replay never reached its schema's migrations")


async def _rebuild_blocked(setup: Setup, sig: signal.Signals) -> Ran:
    """A live replay held while it prepares its schema (the test holds the lock its migrations take), then `sig`."""
    holder = await asyncpg.connect(setup.database_url)
    try:
        proc = await _held_at_migrations(setup, holder)
        try:
            assert await schema_exists(setup.database_url, setup.into)
            proc.send_signal(sig)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                await kill(proc)
        return Ran(proc.returncode, _lines(out), err.decode(errors="replace"))
    finally:
        await holder.close()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_an_interrupted_replay_drops_the_schema_it_created(setup: Setup, sig: signal.Signals, code: int) -> None:
    ran = await _rebuild_blocked(setup, sig)
    assert ran.code == code, (ran.code, ran.lines, ran.stderr[-2000:])
    assert ran.lines and ran.lines[-1]["ok"] is False, ran.lines
    assert ran.error == f"interrupted ({sig.name}): every schema it created was dropped", ran.lines
    assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
    assert not await schema_exists(setup.database_url, setup.into)


async def test_a_second_ctrl_c_stops_a_drop_that_waits_and_names_the_schema_left(setup: Setup) -> None:
    """A second Ctrl-C was ignored ("the drop finishes"): with the drop waiting on a lock (someone else's session
    inside the schema), the auditor could only `kill -9` it, and then nothing said what was left. Now the first
    Ctrl-C drops what the run created; a second one stops waiting and names the schema to drop by hand."""
    holder = await asyncpg.connect(setup.database_url)
    blocker = await asyncpg.connect(setup.database_url)
    try:
        proc = await _held_at_migrations(setup, holder)
        try:
            await blocker.execute("begin")  # an object made in the schema, uncommitted: a drop of the schema waits
            await blocker.execute(f'create table "{setup.into}".blocker (x int)')
            proc.send_signal(signal.SIGINT)
            dropping = "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like 'drop schema%'"
            for _ in range(300):
                if await holder.fetchval(dropping):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the replay never tried to drop its schema")
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                await kill(proc)
        ran = Ran(proc.returncode, _lines(out), err.decode(errors="replace"))
        assert ran.code == 130, (ran.code, ran.lines, ran.stderr[-2000:])
        assert ran.error == f"interrupted (SIGINT, twice): left behind: {setup.into}", ran.lines
        assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
        assert await schema_exists(setup.database_url, setup.into)
    finally:
        await blocker.close()  # its transaction rolled back: the schema can go
        await holder.execute(f'drop schema if exists "{setup.into}" cascade')
        await holder.close()
