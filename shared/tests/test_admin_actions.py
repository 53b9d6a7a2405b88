"""Who ran which admin command: `lgnet-admin` records every change it makes (when, by whom, the command, its target,
the outcome) in the schema it acts on, in the same transaction, and says it in one JSON log line; `history` reads
them back. A refused command records nothing. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from typing import Any

import asyncpg
import pytest
from lgnet_shared import admin, admin_actions, db, read_log_readers

pytestmark = pytest.mark.integration


async def _rows(database_url: str, schema: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return [dict(r) for r in await conn.fetch("select * from admin_actions order by id")]
    finally:
        await conn.close()


async def _with_read_log(database_url: str, schema: str) -> None:
    pool = await db.create_pool(database_url, schema, max_size=1)
    try:
        await db.migrate(pool, [read_log_readers.MIGRATION])
    finally:
        await pool.close()


def _log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_every_change_lgnet_admin_makes_says_who_made_it_and_history_reads_them_back(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    """A token that reads personal data was issued, an actor's tokens revoked, and no one could tell which of the IT
    team did it. Each change is now kept with who (`--by`, else LGNET_ADMIN_BY, else the OS login), never a token."""
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    monkeypatch.delenv("LGNET_ADMIN_BY", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "os-login")
    asyncio.run(_with_read_log(database_url, pg_schema))
    base = ["--schema", pg_schema]
    capsys.readouterr()

    add = ["add-actor", "staff-torino", "--role", "staff", "--city", "torino", "--name", "Ufficio casa"]
    assert admin.main(["--by", "anna", *base, *add]) == 0
    monkeypatch.setenv("LGNET_ADMIN_BY", "it-marco")
    assert admin.main([*base, "issue-token", "staff-torino", "--days", "30"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    monkeypatch.delenv("LGNET_ADMIN_BY")
    assert admin.main([*base, "issue-read-log-token", "--city", "torino", "--name", "RPD Torino"]) == 0
    reader = capsys.readouterr().out.strip().splitlines()[-1]
    assert admin.main([*base, "revoke-tokens", "staff-torino", "--by", "anna"]) == 0  # --by after the command too
    capsys.readouterr()
    # refused and read-only commands record nothing
    assert admin.main([*base, "issue-token", "nobody"]) == 2
    refused = capsys.readouterr().err
    assert "no actor nobody" in refused and not _log_lines(refused)
    assert admin.main([*base, "list-actors"]) == 0
    capsys.readouterr()

    rows = asyncio.run(_rows(database_url, pg_schema))
    assert [(r["run_by"], r["program"], r["command"], r["target"]) for r in rows] == [
        ("anna", "lgnet-admin", "add-actor", "staff-torino"),
        ("it-marco", "lgnet-admin", "issue-token", "staff-torino"),
        ("os-login", "lgnet-admin", "issue-read-log-token", "read-log of torino"),
        ("anna", "lgnet-admin", "revoke-tokens", "staff-torino"),
    ]
    assert rows[0]["outcome"] == "added staff of torino" and rows[3]["outcome"] == "revoked 1 token(s)"
    assert all(r["at"].utcoffset() is not None for r in rows)
    kept = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    assert token not in kept and reader not in kept and "Ufficio casa" not in kept and "RPD Torino" not in kept

    # `history`: latest first, JSON lines or a table, --limit
    assert admin.main([*base, "history", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["command"] for r in listed] == ["revoke-tokens", "issue-read-log-token", "issue-token", "add-actor"]
    assert set(listed[0]) == {"at", "by", "program", "command", "target", "outcome"} and listed[0]["by"] == "anna"
    assert admin.main([*base, "history", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["at", "by", "program", "command", "target", "outcome"] and len(lines) == 3, lines
    assert "revoke-tokens" in lines[1] and "issue-read-log-token" in lines[2]
    with pytest.raises(SystemExit) as refused:
        admin.main([*base, "history", "--limit", "0"])
    assert refused.value.code == 2 and "'0' is not a number of actions" in capsys.readouterr().err


def test_each_change_is_one_json_log_line_naming_the_same(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    """The log line (stderr: stdout keeps what scripts read, a token) names who, the command, its target, its outcome
    and where it is kept, as the table does."""
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    capsys.readouterr()
    assert admin.main(["--by", "anna", "--schema", pg_schema, "add-actor", "aud", "--role", "auditor"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"added auditor aud to {pg_schema}"  # stdout as before
    (line,) = _log_lines(out.err)
    assert line["event"] == "admin action" and line["level"] == "info" and line["timestamp"].endswith("Z")
    assert {k: line[k] for k in ("by", "program", "command", "target", "outcome", "schema")} == {
        "by": "anna", "program": "lgnet-admin", "command": "add-actor", "target": "aud",
        "outcome": "added auditor", "schema": pg_schema,
    }  # fmt: skip
    assert out.err.startswith('{"event"')  # as a service's lines: the tests' filters of log lines know them


def test_who_is_the_option_then_the_variable_then_the_os_login(monkeypatch: Any) -> None:
    monkeypatch.setenv("LGNET_ADMIN_BY", "  it-marco ")
    monkeypatch.setattr(getpass, "getuser", lambda: "os-login")
    assert admin_actions.who("anna") == "anna"
    assert admin_actions.who(None) == "it-marco"
    monkeypatch.delenv("LGNET_ADMIN_BY")
    assert admin_actions.who(None) == "os-login"

    def nobody() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", nobody)  # a container's user without a name
    assert admin_actions.who(None) == f"uid {os.getuid()}"
    with pytest.raises(ValueError, match="--by"):
        admin_actions.who("  ")


async def test_a_change_and_its_record_are_one_transaction(database_url: str, pg_schema: str, capsys: Any) -> None:
    """What fails inside the block (after the change was written) leaves neither the change nor the record, and logs
    nothing; what succeeds leaves both, and one log line."""
    pool = await db.create_pool(database_url, pg_schema, max_size=1)
    try:
        await db.migrate(pool, [admin_actions.MIGRATION, ("test-changes-1", "create table changes (n int)")])
        async with pool.acquire() as conn:

            async def failing() -> None:
                async with admin_actions.recorded(conn, "anna", "lgnet-admin", "test", "t") as action:
                    await conn.execute("insert into changes values (1)")
                    action.outcome = "changed"
                    raise RuntimeError("the command fails after its change")

            with pytest.raises(RuntimeError):
                await failing()
            assert await conn.fetchval("select count(*) from changes") == 0
            assert await conn.fetchval("select count(*) from admin_actions") == 0
            assert not capsys.readouterr().err
            async with admin_actions.recorded(conn, "anna", "lgnet-admin", "test", "t") as action:
                await conn.execute("insert into changes values (2)")
                action.outcome = "changed"
            assert await conn.fetchval("select count(*) from changes") == 1
            assert [r["outcome"] for r in await admin_actions.history(conn, 10)] == ["changed"]
            assert len(_log_lines(capsys.readouterr().err)) == 1
    finally:
        await pool.close()
