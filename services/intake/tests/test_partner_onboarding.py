"""`lgnet-partner-admin onboard` gives a partner everything in one bundle, which works as it is: its Kafka user
produces to the inbound topic and reads its rejections over TLS + SCRAM, its tokens open every service it uses,
intake knows its signing key. `offboard` takes all of it back. Wrong arguments are one clear line."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_intake.entrypoints import partner_admin
from lgnet_shared import auth, db, signing
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.service import DEPLOYMENT_MIGRATION, claim_schema
from lgnet_shared.testing.plugin import fresh_schema

pytestmark = pytest.mark.integration

KEY = Ed25519PrivateKey.generate()
PUBLIC = base64.b64encode(signing.public_bytes(KEY)).decode()


@pytest.fixture
async def env(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> AsyncIterator[dict[str, str]]:
    """The IT team's environment: the cluster admin's KAFKA_*, one database with intake's and reporting's schemas."""
    async with fresh_schema(database_url) as intake, fresh_schema(database_url) as reporting:
        yield {
            **{k: v for k, v in os.environ.items() if k.startswith("KAFKA_")},
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": database_url,
            "LGNET_INTAKE_DB_SCHEMA": intake,
            "LGNET_REPORTING_DB_SCHEMA": reporting,
            "LGNET_TOPIC_PREFIX": topic_prefix,
            "LGNET_INTAKE_URL": "https://lgnet.torino.example/intake",
        }


def partner_security(bundle: dict[str, object], tmp_path: Path) -> KafkaSecurity:
    kafka = bundle["kafka"]
    assert isinstance(kafka, dict)
    ca = tmp_path / "partner-ca.pem"
    ca.write_text(kafka["ca_pem"])
    return KafkaSecurity(
        security_protocol=kafka["security_protocol"],
        sasl_mechanism=kafka["sasl_mechanism"],
        sasl_username=kafka["username"],
        sasl_password=kafka["password"],
        ssl_cafile=ca,
    )


async def produces(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    producer = AIOKafkaProducer(**client_kwargs(bootstrap, security), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), 15)
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 15)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await producer.stop()


async def actor_of(database_url: str, schema: str, token: str) -> str | None:
    pool = await db.create_pool(database_url, schema)
    try:
        async with pool.acquire() as conn:
            actor = await auth.actor_by_token(conn, token)
            return None if actor is None else f"{actor.id}/{actor.role.value}/{actor.city}"
    finally:
        await pool.close()


async def test_onboard_writes_one_bundle_that_works_and_offboard_revokes_it(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partner = f"coop-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "bundle.json"
    argv = ["onboard", partner, "--city", "torino", "--signing-key-id", f"{partner}-2026"]
    argv += ["--signing-public-key", PUBLIC, "--out", str(out), "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, argv, env) == 0, capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    bundle = json.loads(out.read_text())
    prefix = env["LGNET_TOPIC_PREFIX"]
    assert bundle["format"] == "lgnet-partner-onboarding/1"
    assert (bundle["partner"], bundle["city"]) == (partner, "torino")
    assert bundle["kafka"]["inbound_topic"] == f"{prefix}lgnet.partner.inbound.torino"  # its city's only
    assert bundle["kafka"]["rejections_topic"] == f"{prefix}lgnet.partner.rejections.{partner}"
    assert bundle["kafka"]["reminders_topic"] == f"{prefix}lgnet.partner.reminders.{partner}"
    assert bundle["kafka"]["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert bundle["inbound_key_url"] == "https://lgnet.torino.example/intake/inbound-key"
    assert bundle["signing"] == {"key_id": f"{partner}-2026", "public_key": PUBLIC, "header": "lgnet-signature"}
    assert set(bundle["services"]) == {"intake", "reporting"}
    assert bundle["services"]["intake"]["expires_at"] is None  # no end asked: until revoked
    for service in ("intake", "reporting"):
        token = bundle["services"][service]["token"]
        assert await actor_of(env["DATABASE_URL"], env[f"LGNET_{service.upper()}_DB_SCHEMA"], token) == (
            f"{partner}/partner/torino"
        )
    pool = await db.create_pool(env["DATABASE_URL"], env["LGNET_INTAKE_DB_SCHEMA"])
    async with pool.acquire() as conn:
        assert bytes(await conn.fetchval("select public_key from signing_keys where actor_id = $1", partner)) == (
            signing.public_bytes(KEY)
        )
    # The bundle alone connects: produce to the inbound topic, read the partner's own rejection topic.
    bootstrap = bundle["kafka"]["bootstrap_servers"]
    security = partner_security(bundle, tmp_path)
    assert await produces(bootstrap, security, bundle["kafka"]["inbound_topic"])
    consumer = AIOKafkaConsumer(
        bundle["kafka"]["rejections_topic"],
        group_id=f"{prefix}{bundle['kafka']['group_prefix']}check",
        auto_offset_reset="earliest",
        **client_kwargs(bootstrap, security),
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=2000)  # joins its group and reads: no authorisation error
    finally:
        await consumer.stop()

    # Onboarding again re-issues: the first tokens stop working; `--token-days` gives the new ones an end, which the
    # bundle says (the partner's developer knows when to ask for the next ones).
    first_token = bundle["services"]["intake"]["token"]
    assert await asyncio.to_thread(partner_admin.main, [*argv, "--token-days", "365"], env) == 0
    assert await actor_of(env["DATABASE_URL"], env["LGNET_INTAKE_DB_SCHEMA"], first_token) is None
    bundle = json.loads(out.read_text())
    end = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    assert {s["expires_at"] for s in bundle["services"].values()} == {end}, bundle["services"]
    assert await actor_of(env["DATABASE_URL"], env["LGNET_INTAKE_DB_SCHEMA"], bundle["services"]["intake"]["token"])
    security = partner_security(bundle, tmp_path)

    capsys.readouterr()
    off = ["offboard", partner, "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, off, env) == 0
    said = capsys.readouterr().out
    assert "intake: 1 token(s) revoked, 1 signing key(s)" in said and "credentials deleted" in said
    for service in ("intake", "reporting"):
        token = bundle["services"][service]["token"]
        assert await actor_of(env["DATABASE_URL"], env[f"LGNET_{service.upper()}_DB_SCHEMA"], token) is None
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from signing_keys where revoked_at is null") == 0
    await pool.close()
    for _ in range(10):  # a deleted SCRAM user reaches the broker's authenticator a moment later
        if not await produces(bootstrap, security, bundle["kafka"]["inbound_topic"]):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the offboarded partner still produces")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--city", "atlantis"], "invalid choice: 'atlantis'"),
        (["--signing-public-key", "not base64!"], "signing_public_key: not base64"),
        (["--signing-public-key", base64.b64encode(b"short").decode()], "is 32 bytes, not 5"),
        (["--signing-key-id", "a;b"], "signing_key_id: must be non-empty and contain no ';'"),
        (["--out", "/no/such/folder/b.json"], "out: no folder /no/such/folder"),
        (["--services", "intake,banking"], "--services: choose among"),
    ],
)
def test_wrong_arguments_are_one_clear_line(
    argv: list[str], message: str, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--city": "torino", "--signing-key-id": "k-1", "--signing-public-key": PUBLIC}
    base["--out"] = str(tmp_path / "b.json")
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    full = ["onboard", "coop-x", *[x for kv in base.items() for x in kv]]
    assert exit_code(full, env) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists()


def test_a_bad_partner_id_and_no_kafka_are_named(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--city", "torino", "--signing-key-id", "k", "--signing-public-key", PUBLIC, "--out", "/tmp/x.json"]
    assert partner_admin.main(["onboard", "bad id!", *common], env) == 2
    assert "partner id 'bad id!'" in capsys.readouterr().err
    no_kafka = {k: v for k, v in env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    assert partner_admin.main(["onboard", "coop-x", *common], no_kafka) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS: not set" in capsys.readouterr().err


def exit_code(argv: list[str], env: dict[str, str]) -> int | str | None:
    """What the shell would see: argparse's own errors exit too."""
    try:
        return partner_admin.main(argv, env)
    except SystemExit as exc:
        return exc.code


async def test_a_city_running_only_some_services_is_not_given_a_token_of_one_it_does_not_run(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A city running intake and reporting only (no housing, no payments) onboarded a partner with the defaults (all
    four): an empty `housing` and `payments` schema was made in its database with an actor and a token, and the
    bundle handed the partner a URL and a token of two services nobody runs. Without `--services`, onboarding now
    refuses, naming the services without a schema, before anything is made; offboarding revokes where there is
    something to revoke and makes no schema."""
    run = uuid.uuid4().hex[:8]
    absent = {"housing": f"nohousing_{run}", "payments": f"nopayments_{run}"}
    city = {**env, **{f"LGNET_{s.upper()}_DB_SCHEMA": schema for s, schema in absent.items()}}
    partner = f"coop-{run[:6]}"
    out = tmp_path / "bundle.json"
    argv = ["onboard", partner, "--city", "torino", "--signing-key-id", f"{partner}-2026"]
    argv += ["--signing-public-key", PUBLIC, "--out", str(out)]
    assert await asyncio.to_thread(partner_admin.main, argv, city) == 2
    err = capsys.readouterr().err
    assert "--services" in err and "housing" in err and "payments" in err and "Traceback" not in err, err
    assert "--services intake,reporting" in err, err  # what to type
    assert not out.exists()
    assert not [s for s in absent.values() if await db.schema_exists(env["DATABASE_URL"], s)]
    # Named, the services the city runs: onboarded there only.
    assert await asyncio.to_thread(partner_admin.main, [*argv, "--services", "intake,reporting"], city) == 0
    assert set(json.loads(out.read_text())["services"]) == {"intake", "reporting"}
    capsys.readouterr()
    assert await asyncio.to_thread(partner_admin.main, ["offboard", partner], city) == 0
    said = capsys.readouterr().out
    assert "intake: 1 token(s) revoked" in said and "reporting: 1 token(s) revoked" in said, said
    assert "housing" not in said and "payments" not in said, said
    assert not [s for s in absent.values() if await db.schema_exists(env["DATABASE_URL"], s)]


async def claimed(database_url: str, schema: str, deployment: str, city: str) -> None:
    """`schema` as a started service leaves it: owned by `deployment`."""
    pool = await db.create_pool(database_url, schema)
    try:
        await db.migrate(pool, [DEPLOYMENT_MIGRATION])
        await claim_schema(pool, schema, deployment, city)
    finally:
        await pool.close()


async def actor_count(database_url: str, schema: str, partner: str) -> int:
    pool = await db.create_pool(database_url, schema)
    try:
        async with pool.acquire() as conn:
            if await conn.fetchval("select to_regclass('actors')") is None:
                return 0
            return int(await conn.fetchval("select count(*) from actors where actor_id = $1", partner))
    finally:
        await pool.close()


async def test_another_deployments_schema_is_refused_and_fewer_services_revoke_the_others(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bologna joining a database where the national deployment runs: `onboard … --city bologna` with the default
    schema names put the cooperative's actor and tokens into the national schemas (they worked). Now refused, naming
    the schema, its owner and the variable, before anything is written; `--deployment national` says the national
    deployment serves it. Onboarding again with fewer --services revoked nothing: now the others' tokens go."""
    for s in ("INTAKE", "REPORTING"):
        await claimed(env["DATABASE_URL"], env[f"LGNET_{s}_DB_SCHEMA"], "national", "national")
    partner = f"coop-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "bundle.json"
    argv = ["onboard", partner, "--city", "bologna", "--signing-key-id", f"{partner}-2026"]
    argv += ["--signing-public-key", PUBLIC, "--out", str(out), "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, argv, env) == 2
    err = capsys.readouterr().err
    intake = env["LGNET_INTAKE_DB_SCHEMA"]
    assert f"schema {intake!r} belongs to deployment 'national' (national), not to a deployment of bologna" in err, err
    assert "LGNET_INTAKE_DB_SCHEMA" in err and "--deployment national" in err and "Traceback" not in err, err
    assert not out.exists()
    # Without --services (every service whose schema is there), the way out of a service the city does not run too.
    async with fresh_schema(env["DATABASE_URL"]) as bologna:  # Bologna's own intake schema, named
        everywhere = {**env, "LGNET_INTAKE_DB_SCHEMA": bologna, "LGNET_HOUSING_DB_SCHEMA": bologna}
        everywhere["LGNET_PAYMENTS_DB_SCHEMA"] = intake  # the national deployment's, by the default names
        assert await asyncio.to_thread(partner_admin.main, argv[:-2], everywhere) == 2
    err = capsys.readouterr().err
    assert f"LGNET_PAYMENTS_DB_SCHEMA: schema {intake!r} belongs to deployment 'national'" in err, err
    assert "or name the services bologna runs (--services), without payments if it runs none" in err, err
    for s in ("INTAKE", "REPORTING"):
        assert await actor_count(env["DATABASE_URL"], env[f"LGNET_{s}_DB_SCHEMA"], partner) == 0
    # Another deployment named than the owner: refused too.
    assert await asyncio.to_thread(partner_admin.main, [*argv, "--deployment", "bologna"], env) == 2
    assert "not 'bologna' (--deployment)" in capsys.readouterr().err
    # The national deployment serving Bologna's partners, on purpose.
    assert await asyncio.to_thread(partner_admin.main, [*argv, "--deployment", "national"], env) == 0
    first = json.loads(out.read_text())["services"]
    assert await actor_of(env["DATABASE_URL"], env["LGNET_REPORTING_DB_SCHEMA"], first["reporting"]["token"])
    capsys.readouterr()
    fewer = [*argv[:-1], "intake", "--deployment", "national"]
    assert await asyncio.to_thread(partner_admin.main, fewer, env) == 0
    assert "tokens revoked in reporting (not in --services)" in capsys.readouterr().out
    assert await actor_of(env["DATABASE_URL"], env["LGNET_REPORTING_DB_SCHEMA"], first["reporting"]["token"]) is None
    # Another service's schema (intake's named as reporting's): refused before anything is written.
    crossed = {**env, "LGNET_REPORTING_DB_SCHEMA": intake}
    assert await asyncio.to_thread(partner_admin.main, [*argv, "--deployment", "national"], crossed) == 2
    assert f"LGNET_REPORTING_DB_SCHEMA: schema {intake!r} holds intake's tables" in capsys.readouterr().err
    # Offboarding takes --deployment as onboarding does: the national deployment's schemas are refused unless named
    # (before anything is revoked: the token still opens intake), another deployment named is refused too.
    assert await asyncio.to_thread(partner_admin.main, ["offboard", partner], env) == 2
    err = capsys.readouterr().err
    assert f"schema {intake!r} belongs to deployment 'national' (national), not to a deployment of bologna" in err, err
    assert "LGNET_INTAKE_DB_SCHEMA" in err and "--deployment national" in err and "Traceback" not in err, err
    intake_token = json.loads(out.read_text())["services"]["intake"]["token"]
    assert await actor_of(env["DATABASE_URL"], intake, intake_token) == f"{partner}/partner/bologna"
    assert await asyncio.to_thread(partner_admin.main, ["offboard", partner, "--deployment", "bologna"], env) == 2
    assert "not 'bologna' (--deployment)" in capsys.readouterr().err
    assert await actor_of(env["DATABASE_URL"], intake, intake_token) == f"{partner}/partner/bologna"
    assert await asyncio.to_thread(partner_admin.main, ["offboard", partner, "--deployment", "national"], env) == 0
    assert await actor_of(env["DATABASE_URL"], intake, intake_token) is None


async def test_onboarding_and_offboarding_say_who_did_it_in_each_schema_they_change(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner's tokens and keys issued or revoked in every service, and nothing said which of the IT team did it:
    each schema the command changes keeps it (`admin_actions`: who, the command, the partner, the outcome), never a
    token or a key."""
    partner = f"coop-{uuid.uuid4().hex[:6]}"
    argv = ["onboard", partner, "--city", "torino", "--signing-key-id", f"{partner}-2026"]
    argv += ["--signing-public-key", PUBLIC, "--out", str(tmp_path / "b.json"), "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, ["--by", "it-anna", *argv], env) == 0, capsys.readouterr().err
    tokens = json.loads((tmp_path / "b.json").read_text())["services"]
    off = ["offboard", partner, "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, off, {**env, "LGNET_ADMIN_BY": "it-marco"}) == 0
    for service in ("intake", "reporting"):
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            schema = env[f"LGNET_{service.upper()}_DB_SCHEMA"]
            rows = await conn.fetch(f'select * from "{schema}".admin_actions where target = $1 order by id', partner)
        finally:
            await conn.close()
        assert [(r["run_by"], r["program"], r["command"]) for r in rows] == [
            ("it-anna", "lgnet-partner-admin", "onboard"),
            ("it-marco", "lgnet-partner-admin", "offboard"),
        ], rows
        assert rows[0]["outcome"].startswith("partner of torino: ") and "1 token(s)" in rows[1]["outcome"]
        assert tokens[service]["token"] not in str([dict(r) for r in rows]) and PUBLIC not in str(rows)
