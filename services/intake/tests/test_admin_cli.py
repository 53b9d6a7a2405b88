"""`lgnet-intake-admin` answers wrong arguments with one clear line naming what is wrong, never a traceback,
and works on a schema intake has never started on (the city's IT team provisions before the first start)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys

import pytest
from lgnet_intake.entrypoints import admin
from lgnet_shared.testing import schema_pool

pytestmark = pytest.mark.integration

PUBLIC = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def schema_env(monkeypatch: pytest.MonkeyPatch, database_url: str, pg_schema: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LGNET_DB_SCHEMA", pg_schema)
    return pg_schema


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = admin.main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    # What the command says, without JSON log lines another test's still-open Kafka client may log meanwhile.
    said = [line for line in (out.out + out.err).splitlines() if not line.startswith('{"event"')]
    return code, "\n".join(said).strip()


def test_a_schema_made_by_the_command_is_said_with_the_variable_intake_needs_to_use_it(
    schema_env: str, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: a mistyped LGNET_DB_SCHEMA (or none: `intake`) was created and migrated in silence, and
    the actor added there, where intake never reads: its partner's token answered 401 with no hint why. Provisioning
    before intake's first start stays possible; the command says so when it makes the schema."""
    import asyncpg

    fresh = f"{schema_env}_typo"
    monkeypatch.setenv("LGNET_DB_SCHEMA", fresh)
    try:
        code, said = run(capsys, "add-actor", "coop-new", "--role", "partner", "--city", "torino")
        assert code == 0
        assert said == (
            f"added partner coop-new\nlgnet-intake-admin: schema {fresh!r} did not exist: made, with intake's tables"
            f" (intake uses it when started with LGNET_DB_SCHEMA={fresh})"
        )
        code, said = run(capsys, "issue-token", "coop-new")
        assert code == 0 and "did not exist" not in said
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(database_url)
            await schema_pool.keep_or_drop(conn, fresh)
            await conn.close()

        asyncio.run(drop())


def test_issue_token_for_a_missing_actor_says_so(schema_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = run(capsys, "issue-token", "coop-nobody")
    assert code == 2
    assert said == "lgnet-intake-admin: error: actor_id: no actor coop-nobody: add it first (add-actor)"


def test_an_auditor_is_no_actor_of_intake(capsys: pytest.CaptureFixture[str]) -> None:
    """The auditor reads reporting's reports only (intake refuses its token on every route): not offered here."""
    with pytest.raises(SystemExit) as refused:
        admin.main(["add-actor", "audit-office", "--role", "auditor"])
    assert refused.value.code == 2 and "invalid choice: 'auditor'" in capsys.readouterr().err


def test_signing_keys_name_what_is_wrong(schema_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "add-signing-key", "k-1", "coop-nobody", PUBLIC) == (
        2,
        "lgnet-intake-admin: error: actor_id: no actor coop-nobody: add it first (add-actor)",
    )
    assert run(capsys, "add-actor", "coop-aurora", "--role", "partner", "--city", "torino")[0] == 0
    assert run(capsys, "add-actor", "staff-torino", "--role", "staff", "--city", "torino")[0] == 0
    code, said = run(capsys, "add-signing-key", "k-1", "coop-aurora", "not base64!")
    assert (code, said) == (2, "lgnet-intake-admin: error: public_key: not base64")
    code, said = run(capsys, "add-signing-key", "k-1", "staff-torino", PUBLIC)
    assert (code, said) == (2, "lgnet-intake-admin: error: actor_id: staff-torino is staff, not a partner")
    assert run(capsys, "add-signing-key", "k-1", "coop-aurora", PUBLIC) == (0, "added signing key k-1 for coop-aurora")
    code, said = run(capsys, "add-signing-key", "k-1", "coop-aurora", PUBLIC)
    assert (code, said) == (2, "lgnet-intake-admin: error: key_id: signing key k-1 already exists")


def test_a_schema_holding_another_services_tables_is_refused_before_any_migration(
    schema_env: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """LGNET_DB_SCHEMA set to housing's: intake's migrations ran there (a DuplicateTableError traceback, or intake's
    tables beside housing's), as a service started on another's schema once did. Refused on one line naming
    LGNET_DB_SCHEMA, before any migration (the services' own check)."""
    import asyncpg
    from lgnet_shared import db

    async def housing_and_what_it_records() -> list[str]:
        pool = await db.create_pool(database_url, schema_env, max_size=1)
        try:
            await db.migrate(pool, [("housing-1", "create table units (unit_id text primary key)")])
        finally:
            await pool.close()
        conn = await asyncpg.connect(database_url)
        try:
            return await db.recorded_migrations_of(conn, schema_env)
        finally:
            await conn.close()

    before = asyncio.run(housing_and_what_it_records())
    code, said = run(capsys, "add-actor", "coop-new", "--role", "partner", "--city", "torino")
    assert code == 1 and said.startswith(
        f"lgnet-intake-admin: error: LGNET_DB_SCHEMA {schema_env}: holds housing's tables (migrations housing-1),"
        " not intake's"
    ), said
    assert "\n" not in said and asyncio.run(housing_and_what_it_records()) == before == ["housing-1"]


def test_without_a_database_it_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, said = run(capsys, "issue-token", "coop-aurora")
    assert (code, said) == (2, "lgnet-intake-admin: error: DATABASE_URL: not set (postgresql://user:password@host/db)")


HEAVY = ("fastapi", "faststream", "uvicorn", "lgnet_shared.events")


@pytest.mark.parametrize(
    "module", ["lgnet_intake.entrypoints.admin", "lgnet_intake.entrypoints.partner_admin", "lgnet_shared.admin"]
)
def test_the_admin_commands_start_without_the_web_framework_the_kafka_runtime_or_the_event_catalogue(
    module: str,
) -> None:
    """An admin command only writes a few rows: it imported FastAPI, FastStream, uvicorn and every event model
    (0.4 to 0.9 s of CPU per run; the scenario runs intake's once per partner), through the runtime's migrations,
    the HTTP side of `auth` and `pii`'s sealed values. Measured in a process of its own: this one has them all."""
    probe = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"{module} imports {loaded}"


def test_each_change_says_who_made_it_and_history_reads_them_back(
    schema_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner's signing key registered, the inbound key retired: no one could tell which of the IT team did it.
    Each change is kept in intake's schema with who (`--by`, else LGNET_ADMIN_BY, else the OS login), never a key;
    `history` reads them, latest first. A refused command records nothing."""
    import getpass
    import json

    monkeypatch.delenv("LGNET_ADMIN_BY", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "os-login")
    assert run(capsys, "--by", "anna", "add-actor", "coop-aurora", "--role", "partner", "--city", "torino")[0] == 0
    monkeypatch.setenv("LGNET_ADMIN_BY", "it-marco")
    assert run(capsys, "add-signing-key", "k-1", "coop-aurora", PUBLIC)[0] == 0
    assert run(capsys, "add-signing-key", "k-1", "coop-aurora", PUBLIC)[0] == 2  # refused: nothing recorded
    monkeypatch.delenv("LGNET_ADMIN_BY")
    assert run(capsys, "rotate-inbound-key", "--now")[0] == 0
    assert run(capsys, "issue-read-log-token", "--city", "torino", "--name", "RPD Torino")[0] == 0
    assert admin.main(["history", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if not line.startswith('{"event"')]
    assert [(r["by"], r["program"], r["command"], r["target"]) for r in listed] == [
        ("os-login", "lgnet-intake-admin", "issue-read-log-token", "read-log of torino"),
        ("os-login", "lgnet-intake-admin", "rotate-inbound-key", "inbound key"),
        ("it-marco", "lgnet-intake-admin", "add-signing-key", "k-1 of coop-aurora"),
        ("anna", "lgnet-intake-admin", "add-actor", "coop-aurora"),
    ]
    assert listed[1]["outcome"].startswith("retired ") and PUBLIC not in json.dumps(listed)
    assert "RPD Torino" not in json.dumps(listed)
    assert admin.main(["history", "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "issue-read-log-token" in lines[1], lines
