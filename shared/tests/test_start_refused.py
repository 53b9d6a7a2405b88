"""A start that cannot go on for a reason the operator fixes says so on one JSON line, `start refused`, naming the
setting and the reason, and exits — no traceback, no raw line (docs/operators.md, "Deploying").

Found by a city IT team joining the federation: a wrong Kafka password, PostgreSQL or the broker not answering, or
a deployment name whose schema another deployment owns each ended the service with a multi-kilobyte traceback (the
schema refusal, raised inside the start's concurrent steps, even as a CancelledError traceback and a line of plain
text), none of which named the variable to fix. Real processes, on the test's own schema and topics."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_shared import config, db, service
from lgnet_shared.fact_signing import read_registry
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.plugin import fresh_schema
from lgnet_shared.testing.process import ServiceProcess, free_port, service_env

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


async def refusal(env: dict[str, str], log: Path, command: list[str] | None = None) -> str:
    """The probe service's start (or `command`'s) with `env`: it must exit, every line it wrote JSON, no traceback;
    the reason of its one `start refused` line."""
    probe = ServiceProcess(command or [sys.executable, str(HERE / "probe_service.py")], env, log)
    try:
        with pytest.raises(RuntimeError, match="service exited"):
            await probe.start(timeout=60)
    finally:
        probe.stop()
    return refused_reason(log)


def refused_reason(log: Path) -> str:
    records = []
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:300]}") from None
    assert not [r for r in records if "Traceback" in json.dumps(r)], "a traceback was logged"
    refused = [r for r in records if r["event"] == "start refused"]
    assert [r["level"] for r in refused] == ["error"], records
    return str(refused[0]["reason"])


async def test_a_schema_owned_by_another_deployment_is_one_line_naming_the_settings(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [service.DEPLOYMENT_MIGRATION])
        await service.claim_schema(pool, pg_schema, "trieste", "trieste")
    finally:
        await pool.close()
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino")
    reason = await refusal(env, tmp_path / "probe.log")
    assert f"schema {pg_schema!r} belongs to deployment 'trieste'" in reason
    assert "LGNET_DB_SCHEMA" in reason and "LGNET_DEPLOYMENT=trieste" in reason


async def test_a_schema_holding_another_services_tables_is_refused_before_any_migration(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Housing pointed at intake's schema ended in `DuplicateTableError: relation "persons" already exists` (a
    traceback): a schema whose recorded migrations are another service's is refused, naming LGNET_DB_SCHEMA, before
    this service's migrations run."""
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [("intake-1", "create table persons (person_id text primary key)")])
    finally:
        await pool.close()
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino")
    reason = await refusal(env, tmp_path / "probe.log")
    assert reason.startswith(f"LGNET_DB_SCHEMA {pg_schema}: holds intake's tables"), reason
    conn = await asyncpg.connect(database_url)
    try:
        applied = await conn.fetch(f'select id from "{pg_schema}".schema_migrations')
    finally:
        await conn.close()
    assert [r["id"] for r in applied] == ["intake-1"], "nothing of this service was written there"


async def test_a_wrong_kafka_password_names_the_credentials(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    assert os.environ.get("KAFKA_SASL_USERNAME"), "the suite's broker is secured (.local/infra.env)"
    env = {**service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix), "KAFKA_SASL_PASSWORD": "not-it"}
    reason = await refusal(env, tmp_path / "probe.log")
    assert f"KAFKA_BOOTSTRAP_SERVERS {kafka_bootstrap}: the broker refused the credentials" in reason
    assert "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD" in reason and "not-it" not in reason


async def test_postgres_and_kafka_not_answering_are_both_named_without_the_password(
    kafka_bootstrap: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    nothing = free_port()  # nobody listens there
    url = f"postgresql://lgnet:s3cret-pw@127.0.0.1:{nothing}/lgnet"
    env = service_env(f"127.0.0.1:{nothing}", url, pg_schema, topic_prefix)
    reason = await refusal(env, tmp_path / "probe.log")
    assert f"DATABASE_URL postgresql://lgnet@127.0.0.1:{nothing}/lgnet: database unreachable" in reason
    assert f"KAFKA_BOOTSTRAP_SERVERS 127.0.0.1:{nothing}: broker unreachable" in reason
    assert "s3cret-pw" not in reason


async def test_a_migration_that_needs_people_first_refuses_the_start(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As intake-3 does while two persons share a fiscal code: the migration's own words, and which schema."""
    for name, value in service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix).items():
        monkeypatch.setenv(name, value)
    spec = service.ServiceSpec(
        name="probe",
        default_port=8099,
        migrations=[("probe-1", "do $$ begin raise exception 'merge p-1 and p-2 first'; end $$")],
    )
    runtime = service.Runtime(spec, config.load())
    try:
        with pytest.raises(service.StartRefused) as refused:
            await runtime.start()
    finally:
        await runtime.stop()
    assert f"schema {pg_schema!r} cannot be upgraded yet: merge p-1 and p-2 first" in str(refused.value)


def test_a_scheduler_whose_database_does_not_answer_says_so_on_one_line(tmp_path: Path) -> None:
    """`lgnet-scheduler` likewise (it was a traceback): DATABASE_URL without its password, and why; exit status 3."""
    nothing = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://lgnet:s3cret-pw@127.0.0.1:{nothing}/lgnet",
        "LGNET_CITY": "torino",
        "LGNET_SCHEDULER_TOKENS": json.dumps({s: {"torino": "t"} for s in ("intake", "housing", "payments")}),
        "LGNET_HTTP_PORT": str(free_port()),
    }
    log = tmp_path / "scheduler.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "lgnet_shared.scheduler.main"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    assert done.returncode == 3, log.read_text()
    reason = refused_reason(log)
    assert reason.startswith(f"DATABASE_URL postgresql://lgnet@127.0.0.1:{nothing}/lgnet: database unreachable"), reason
    assert "s3cret-pw" not in log.read_text()


def test_the_admin_commands_name_the_setting_the_servers_refused(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lgnet-admin` with PostgreSQL not answering printed a traceback; `lgnet-deadletters` with a wrong password said
    "kafka: KafkaConnectionError: Unable to bootstrap from [...]", naming no setting."""
    from lgnet_shared import admin, deadletter_cli

    nothing = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://lgnet:s3cret-pw@127.0.0.1:{nothing}/lgnet")
    assert admin.main(["--schema", "housing", "add-actor", "staff-genova", "--role", "staff", "--city", "genova"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lgnet-admin: error: DATABASE_URL postgresql://lgnet@127.0.0.1:{nothing}/lgnet: database")
    assert "Traceback" not in err and "s3cret-pw" not in err

    assert os.environ.get("KAFKA_SASL_USERNAME"), "the suite's broker is secured (.local/infra.env)"
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "not-it")
    assert deadletter_cli.main(["--bootstrap", kafka_bootstrap, "list"]) == 1
    err = capsys.readouterr().err
    assert f"KAFKA_BOOTSTRAP_SERVERS {kafka_bootstrap}: the broker refused the credentials" in err, err
    assert "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD" in err and "not-it" not in err


async def test_another_master_key_than_the_schemas_refuses_the_start(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city IT team restarted intake with another LGNET_MASTER_KEY (a secret regenerated on upgrade): it reported
    ready, every read of a person was a 500 (InvalidUnwrap), and new persons' keys were wrapped with the new key."""
    from lgnet_shared import pii

    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = service.ServiceSpec(name="probe", default_port=8099)
    first = service.Runtime(spec, config.load())
    try:
        await first.start()
        async with first.pool.acquire() as conn:
            await pii.KeyStore(first.settings.master_key_bytes()).key(conn, "p-1", create=True)
    finally:
        await first.stop()
    again = service.Runtime(spec, config.load())  # the same key: starts
    try:
        await again.start()
    finally:
        await again.stop()
    monkeypatch.setenv(
        "LGNET_MASTER_KEY", service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)["LGNET_MASTER_KEY"]
    )
    other = service.Runtime(spec, config.load())
    try:
        with pytest.raises(service.StartRefused) as refused:
            await other.start()
    finally:
        await other.stop()
    assert str(refused.value).startswith("LGNET_MASTER_KEY: does not open the personal-data keys already in schema")


def _new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def _registered(kafka_bootstrap: str, topic_prefix: str, service_name: str) -> set[str]:
    return {k.key_id for k in await read_registry(kafka_bootstrap, topic_prefix) if k.service == service_name}


@pytest.mark.parametrize("service_name", ["reporting", "housing"])
async def test_a_service_keeping_no_person_keys_refuses_another_master_key_before_registering_anything(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path, service_name: str
) -> None:
    """An outside tester started reporting on the live schema with a random LGNET_MASTER_KEY: it started, and left a
    signing key derived from that key in the registry for good (`lgnet-audit keys` then listed a key nobody could
    confirm). Only the person keys were checked, and reporting keeps none. Refused now, naming the variable, before
    anything is registered; the key it started with starts again."""
    command = [str(Path(sys.executable).with_name(f"lgnet-{service_name}"))]  # the console script an operator runs
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix)
    first = ServiceProcess(command, env, tmp_path / "first.log")
    await first.start()
    first.stop()
    registered = await _registered(kafka_bootstrap, topic_prefix, service_name)
    assert len(registered) == 1, registered

    other = {**env, "LGNET_MASTER_KEY": _new_master_key()}
    reason = await refusal(other, tmp_path / "other.log", command)
    assert reason.startswith("LGNET_MASTER_KEY: "), reason
    assert f"schema {pg_schema!r}" in reason and other["LGNET_MASTER_KEY"] not in reason, reason
    assert await _registered(kafka_bootstrap, topic_prefix, service_name) == registered

    again = ServiceProcess(command, env, tmp_path / "again.log")
    await again.start()
    again.stop()


async def test_a_schema_made_before_the_check_records_it_at_its_next_start(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment upgraded from a version that kept no check value: its first start records the one of the key it
    runs with (the person keys, if any, were checked as before); from then on another key is refused."""
    for name, value in service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix).items():
        monkeypatch.setenv(name, value)
    spec = service.ServiceSpec(name="probe", default_port=8099)

    async def started() -> service.Runtime:
        runtime = service.Runtime(spec, config.load())
        try:
            await runtime.start()
        finally:
            await runtime.stop()
        return runtime

    await started()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        recorded = await conn.fetchval("select check_value from master_key_check")
        assert isinstance(recorded, str) and recorded, recorded
        assert os.environ["LGNET_MASTER_KEY"] not in recorded
        await conn.execute("delete from master_key_check")  # as a schema of the version before
        await started()
        assert await conn.fetchval("select check_value from master_key_check") == recorded
    finally:
        await conn.close()
    monkeypatch.setenv("LGNET_MASTER_KEY", _new_master_key())
    with pytest.raises(service.StartRefused) as refused:
        await started()
    assert str(refused.value).startswith("LGNET_MASTER_KEY: "), refused.value


async def test_a_second_deployment_of_one_name_on_another_schema_is_refused_and_a_replacement_takes_over(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    """A review: a second process with Bologna's LGNET_DEPLOYMENT and another LGNET_DB_SCHEMA started, recorded the
    name in its new schema and took partition 1 of Bologna's inbound topic in its consumer group. Now: a schema that
    has processed nothing, while the deployment's groups have committed offsets, is refused, naming the deployment,
    the schema where it runs and the groups; a replica on the same schema still starts; a schema made on purpose to
    replace it takes over with LGNET_TAKE_OVER_DEPLOYMENT once the old processes are stopped, and reads the log
    again from its start."""
    sys.path.insert(0, str(HERE))  # its sibling's helpers (the probe's table, signed facts)
    from test_deployments import count_applied, send_facts

    key = _new_master_key()
    env = service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino", master_key=key)
    probe = HERE / "probe_service.py"
    first = ServiceProcess([sys.executable, str(probe)], env, tmp_path / "first.log")
    group = f"{topic_prefix}torino.probe.probe"
    async with fresh_schema(database_url) as second:
        other = service_env(kafka_bootstrap, database_url, second, topic_prefix, city="torino")
        try:
            await first.start()
            await send_facts(kafka_bootstrap, topic_prefix, [f"o-{i}" for i in range(6)])
            for _ in range(150):
                if await count_applied(database_url, pg_schema) == 6 and await _committed(kafka_bootstrap, group):
                    break
                await asyncio.sleep(0.2)
            assert await _committed(kafka_bootstrap, group), "the first deployment committed no offsets"
            replica = ServiceProcess([sys.executable, str(probe)], env, tmp_path / "replica.log")
            await replica.start()  # a replica on the same schema: ready
            replica.stop()

            reason = await refusal(other, tmp_path / "second.log")
            assert reason.startswith("LGNET_DEPLOYMENT torino: its probe already runs on schema"), reason
            assert repr(pg_schema) in reason and group in reason and "LGNET_TAKE_OVER_DEPLOYMENT=torino" in reason
            assert f"schema {second!r} (LGNET_DB_SCHEMA) has processed nothing" in reason
            assert await _owner(database_url, second) is None, "the refused start claimed the name"

            takeover = {**other, "LGNET_TAKE_OVER_DEPLOYMENT": "torino"}
            held = await refusal(takeover, tmp_path / "held.log")  # the first still runs
            assert held.startswith(f"LGNET_TAKE_OVER_DEPLOYMENT torino: its consumer groups {group} are held"), held
            first.stop()
            replacement = ServiceProcess([sys.executable, str(probe)], takeover, tmp_path / "replacement.log")
            try:
                await replacement.start()
                for _ in range(150):
                    if await count_applied(database_url, second) == 6:
                        break
                    await asyncio.sleep(0.2)
                assert await count_applied(database_url, second) == 6, "the replacement did not read the log again"
                assert await _owner(database_url, second) == "torino"
            finally:
                replacement.stop()
        finally:
            first.stop()


async def _committed(kafka_bootstrap: str, group: str) -> bool:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        return any(o.offset > 0 for o in (await admin.list_consumer_group_offsets(group)).values())
    finally:
        await admin.close()


async def _owner(database_url: str, schema: str) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("select to_regclass(format('%I.deployment_identity', $1::text))", schema) is None:
            return None
        owner: str | None = await conn.fetchval(f'select deployment from "{schema}".deployment_identity')
        return owner
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "command",
    [[str(HERE / "probe_service.py")], ["-m", "lgnet_shared.scheduler.main"], ["-m", "lgnet_desk.entrypoints.main"]],
)
async def test_a_port_in_use_is_named_before_anything_is_made(
    command: list[str], kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """A city IT team gave intake the port housing listens on: the service ran its migrations, claimed its deployment
    name in the schema, made its topics and registered its signing key on the log for good, then uvicorn said
    "[Errno 98] error while attempting to bind on address …" (no variable named) followed by a "Fatal error on SSL
    protocol" traceback. Now the port is taken first: one line naming LGNET_HTTP_PORT, and nothing made."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {
            **service_env(kafka_bootstrap, database_url, pg_schema, topic_prefix, city="torino"),
            "LGNET_HTTP_PORT": str(port),
            "LGNET_SCHEDULER_TOKENS": json.dumps({s: {"torino": "t"} for s in ("intake", "housing", "payments")}),
        }
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, *command], env=env, capture_output=True, text=True, timeout=60
        )
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert f"LGNET_HTTP_PORT: 127.0.0.1:{port} is in use (another process listens there)" in said, said
    assert "Traceback" not in said, said
    assert await _tables(database_url, pg_schema) == 0, "the refused start migrated its schema"


async def _tables(database_url: str, schema: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("select count(*) from pg_tables where schemaname = $1", schema))
    finally:
        await conn.close()
