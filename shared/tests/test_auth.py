"""Actors and API tokens, the same in every service: hashed at rest, revocable, city-scoped rules."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg
import pytest
from lgnet_shared import admin, auth, db, read_log_readers
from lgnet_shared.access import Actor, Role, may_read_city, may_write_in_city
from lgnet_shared.errors import Conflict, ContractError, Forbidden


def test_city_rules_name_the_field() -> None:
    torino = Actor("staff-torino", Role.STAFF, "torino")
    may_write_in_city(torino, "torino")
    with pytest.raises(Forbidden) as denied:
        may_write_in_city(torino, "trieste", "opportunity.city")
    assert denied.value.field == "opportunity.city" and "cannot act in trieste" in denied.value.reason
    national = Actor("coordination", Role.NATIONAL, None)
    may_read_city(national, "trieste")
    with pytest.raises(Forbidden, match="read-only"):
        may_write_in_city(national, "trieste")
    auditor = Actor("audit-office", Role.AUDITOR, None)  # never a city's staff, should a service let it through
    for rule in (may_read_city, may_write_in_city):
        with pytest.raises(Forbidden, match="the auditor role reads reports only"):
            rule(auditor, "torino")


async def test_tokens_are_hashed_and_revocable(database_url: str, pg_schema: str) -> None:
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [auth.MIGRATION])
        async with pool.acquire() as conn:
            await auth.add_actor(conn, "coop-aurora", Role.PARTNER, "torino", "Aurora")
            with pytest.raises(Conflict):
                await auth.add_actor(conn, "coop-aurora", Role.PARTNER, "torino", "Aurora")
            token = await auth.issue_token(conn, "coop-aurora")
            stored = await conn.fetchval("select token_hash from api_tokens")
            assert token not in stored and stored == auth.token_hash(token)
            assert await auth.actor_by_token(conn, token) == Actor("coop-aurora", Role.PARTNER, "torino")
            assert await auth.revoke_tokens(conn, "coop-aurora") == 1
            assert await auth.actor_by_token(conn, token) is None
    finally:
        await pool.close()


async def test_a_schema_made_before_the_auditor_role_gains_it(database_url: str, pg_schema: str) -> None:
    """A schema whose actors table was made under `lgnet-auth-2` (role checked against partner, staff, national) takes
    an auditor once migrated again (`lgnet-auth-3`, idempotent); a role that is none is still refused."""
    pool = await db.create_pool(database_url, pg_schema)
    try:
        old = auth.MIGRATION[1].split("-- lgnet-auth-3")[0].replace(", 'auditor')", ")", 1)
        await db.migrate(pool, [("lgnet-auth-2", old)])
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.CheckViolationError):
                await auth.add_actor(conn, "audit-office", Role.AUDITOR, None, "before")
        assert await db.migrate(pool, [auth.MIGRATION]) == ["lgnet-auth-3"]
        async with pool.acquire() as conn:  # run again over itself (a schema that lists it twice, a rerun): no error
            await conn.execute(auth.MIGRATION[1])
        async with pool.acquire() as conn:
            await auth.add_actor(conn, "audit-office", Role.AUDITOR, None, "after")
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute("insert into actors (actor_id, role, display_name) values ('x', 'admin', 'x')")
    finally:
        await pool.close()


async def test_an_actor_id_holding_identifying_data_is_refused(database_url: str, pg_schema: str) -> None:
    """An actor's id travels in clear (`partner`, `booked_by`, `recorded_by` on every topic) and is never erased: an
    e-mail address or a fiscal code as one is refused and nothing is stored; an actor kept from before is a conflict,
    as any other existing actor."""
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [auth.MIGRATION])
        async with pool.acquire() as conn:
            for actor_id, what in (("desk.mario.rossi@comune.torino.it", "an e-mail address"),
                                   ("RSSMRA85T10A562S", "a fiscal code")):  # fmt: skip
                with pytest.raises(ContractError, match=what) as refused:
                    await auth.add_actor(conn, actor_id, Role.STAFF, "torino", "Mario")
                assert refused.value.field == "actor_id"
            assert await conn.fetchval("select count(*) from actors") == 0
            await conn.execute(
                "insert into actors (actor_id, role, city, display_name)"
                " values ('old@example.org', 'staff', 'torino', 'before')"
            )
            with pytest.raises(Conflict):
                await auth.add_actor(conn, "old@example.org", Role.STAFF, "torino", "again")
    finally:
        await pool.close()


def test_admin_cli_provisions_a_service_schema(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    assert (
        admin.main(["--schema", pg_schema, "add-actor", "staff-trieste", "--role", "staff", "--city", "trieste"]) == 0
    )
    assert admin.main(["--schema", pg_schema, "issue-token", "staff-trieste"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert token.startswith(auth.TOKEN_PREFIX)
    assert admin.main(["--schema", pg_schema, "add-actor", "x", "--role", "staff"]) == 2  # no city
    assert "belong to a city" in capsys.readouterr().err
    # The auditor: the whole programme's, no city; a city given is refused rather than ignored.
    assert admin.main(["--schema", pg_schema, "add-actor", "audit-office", "--role", "auditor"]) == 0
    assert capsys.readouterr().out.strip() == f"added auditor audit-office to {pg_schema}"
    assert admin.main(["--schema", pg_schema, "add-actor", "a2", "--role", "auditor", "--city", "torino"]) == 2
    assert "an auditor reads every city's reports: add it without --city" in capsys.readouterr().err
    # Another service's schema would hold a token every route refuses: refused, naming whose schema it is.
    other = pg_schema + "_intake"

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'create schema "{other}"; create table "{other}".schema_migrations (id text primary key);'
                    f""" insert into "{other}".schema_migrations values ('intake-1')"""))  # fmt: skip
    try:
        assert admin.main(["--schema", other, "add-actor", "audit-office", "--role", "auditor"]) == 2
        said = f"--role auditor: {other} is intake's schema; auditors read reporting's API only"
        assert said in capsys.readouterr().err
    finally:
        asyncio.run(sql(f'drop schema "{other}" cascade'))
    # From an outside test: a mistyped schema ("housng") was created, the actor added there, and "added" printed.
    typo = pg_schema + "_typo"
    assert admin.main(["--schema", typo, "add-actor", "y", "--role", "staff", "--city", "torino"]) == 2
    assert f"--schema: no schema {typo!r}" in capsys.readouterr().err

    async def schema_exists() -> bool:
        conn = await asyncpg.connect(database_url)
        try:
            return bool(await conn.fetchval("select 1 from pg_namespace where nspname = $1", typo))
        finally:
            await conn.close()

    assert not asyncio.run(schema_exists())


def test_admin_cli_issues_a_dpos_read_log_token_only_where_the_service_keeps_a_read_log(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    args = ["--schema", pg_schema, "issue-read-log-token", "--city", "torino", "--name", "RPD Torino"]
    assert admin.main(args) == 2  # a schema whose service keeps no read log (housing's): said, nothing made
    assert f"--schema: {pg_schema} keeps no read log" in capsys.readouterr().err

    async def as_payments_made_it() -> str | None:
        pool = await db.create_pool(database_url, pg_schema)
        try:
            await db.migrate(pool, [read_log_readers.MIGRATION])
            async with pool.acquire() as conn:
                return await read_log_readers.reader_city(conn, token)
        finally:
            await pool.close()

    token = ""
    asyncio.run(as_payments_made_it())
    assert admin.main(args) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert token.startswith(read_log_readers.READER_PREFIX)
    assert asyncio.run(as_payments_made_it()) == "torino"
    assert admin.main(["--schema", pg_schema, "revoke-read-log-tokens", "--city", "torino"]) == 0
    assert capsys.readouterr().out.strip() == "revoked 1 read-log token(s)"
    assert asyncio.run(as_payments_made_it()) is None
    # Retention: a schema with a read log (intake's, housing's, payments') has its old entries purged; one without
    # (this bare schema, not migrated) is told it keeps none.
    purge = ["--schema", pg_schema, "purge-read-log", "--days", "730"]
    assert admin.main(purge) == 2 and "keeps no read log to purge" in capsys.readouterr().err

    async def a_read_log(*days_ago: int) -> int:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
        try:
            await conn.execute("create table if not exists read_log (entry_id bigserial, at timestamptz not null)")
            for days in days_ago:
                await conn.execute("insert into read_log (at) values (now() - make_interval(days => $1))", days)
            return int(await conn.fetchval("select count(*) from read_log"))
        finally:
            await conn.close()

    assert asyncio.run(a_read_log(800, 10)) == 2
    assert admin.main(purge) == 0
    assert capsys.readouterr().out.startswith("deleted 1 entries before ")
    assert asyncio.run(a_read_log()) == 1  # the recent one kept


async def answers_of(
    pool: Any,
    city_filter: str | None,
    tokens: dict[str, str],
    leaves_out: frozenset[str] | None = None,
    admits_auditors: bool = False,
) -> dict[str, Any]:
    """Each actor's answer from a route that only authenticates, on a deployment of `city_filter` (None: national)
    that leaves `leaves_out` to their own deployments; `admits_auditors`: reporting's, else any other service's."""
    from types import SimpleNamespace

    import httpx
    from fastapi import FastAPI
    from lgnet_shared.http import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = SimpleNamespace(
        pool=pool,
        settings=SimpleNamespace(city_filter=city_filter),
        leaves_out=leaves_out,
        spec=SimpleNamespace(name="reporting" if admits_auditors else "intake", admits_auditors=admits_auditors),
    )

    @app.get("/whoami")
    async def whoami(actor: auth.Who) -> dict[str, str]:
        return {"actor": actor.id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return {a: await client.get("/whoami", headers={"Authorization": f"Bearer {t}"}) for a, t in tokens.items()}


async def test_a_city_deployment_knows_only_its_city_actors(database_url: str, pg_schema: str) -> None:
    """Federation: Torino's deployment neither provisions nor admits Trieste's staff (they have their own)."""
    from lgnet_shared import service

    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [auth.MIGRATION, service.DEPLOYMENT_MIGRATION])
        async with pool.acquire() as conn:
            await auth.add_actor(conn, "staff-trieste", Role.STAFF, "trieste", "before the deployment started")
            await service.claim_schema(pool, pg_schema, "torino", "torino")
            with pytest.raises(ContractError, match="serves torino") as refused:
                await auth.add_actor(conn, "coop-trieste", Role.PARTNER, "trieste", "x")
            assert refused.value.field == "city"
            await auth.add_actor(conn, "staff-torino", Role.STAFF, "torino", "y")
            await auth.add_actor(conn, "coordination", Role.NATIONAL, None, "z")
            await auth.add_actor(conn, "audit-office", Role.AUDITOR, None, "the programme's auditors")
            actors = ("staff-trieste", "staff-torino", "coordination", "audit-office")
            tokens = {a: await auth.issue_token(conn, a) for a in actors}
        answers = await answers_of(pool, "torino", tokens)
        assert answers["staff-torino"].status_code == 200 and answers["coordination"].status_code == 200
        assert answers["staff-trieste"].status_code == 403
        assert answers["staff-trieste"].json()["reason"] == "this deployment serves torino, not trieste"
        # The auditor: refused at authentication by every service but reporting, on every route, saying why (it would
        # otherwise reach the `role is not Role.PARTNER` branches the city's staff take); Torino's reporting admits it.
        refused = answers["audit-office"]
        assert refused.status_code == 403 and refused.json()["field"] == "headers.authorization", refused.text
        assert refused.json()["reason"] == (
            "the auditor role reads reports only (reporting's API), never a city's records: intake refuses it"
        )
        assert (await answers_of(pool, "torino", tokens, admits_auditors=True))["audit-office"].status_code == 200
    finally:
        await pool.close()


async def test_a_national_deployment_refuses_the_parties_of_a_city_it_leaves_out(
    database_url: str, pg_schema: str
) -> None:
    """A national deployment a city has left for its own (LGNET_SERVED_CITIES without it) answers that city's parties
    403: an outside tester's Bologna partner, onboarded in the national schemas, used national payments."""
    from lgnet_shared import service

    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [auth.MIGRATION, service.DEPLOYMENT_MIGRATION])
        async with pool.acquire() as conn:
            await auth.add_actor(conn, "staff-bologna", Role.STAFF, "bologna", "before Bologna ran its own")
            await auth.add_actor(conn, "staff-torino", Role.STAFF, "torino", "y")
            tokens = {a: await auth.issue_token(conn, a) for a in ("staff-bologna", "staff-torino")}
        answers = await answers_of(pool, None, tokens, leaves_out=frozenset({"bologna"}))
        assert answers["staff-torino"].status_code == 200
        assert answers["staff-bologna"].status_code == 403
        assert answers["staff-bologna"].json()["reason"] == "this deployment does not serve bologna: it runs its own"
        everyone = await answers_of(pool, None, tokens)  # reporting's runtime, or no LGNET_SERVED_CITIES
        assert everyone["staff-bologna"].status_code == 200
    finally:
        await pool.close()


def test_a_token_for_an_unknown_actor_is_a_clear_error(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    assert admin.main(["--schema", pg_schema, "issue-token", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "no actor nobody: add it first" in err and "Traceback" not in err


def test_admin_cli_lists_who_may_call_the_service_for_an_access_review(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    """Who may call a service (each actor, its live tokens, the DPO's read-log tokens) could be read only with SQL:
    an IT team reviewing access, or checking a leaver's tokens were revoked, had no command. `list-actors` prints
    them (a table, or JSON lines with `--json`), a city's with `--city`; never a token or its hash."""
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    base = ["--schema", pg_schema]
    for actor, role, city in (("coop-aurora", "partner", "torino"), ("staff-trieste", "staff", "trieste")):
        assert admin.main([*base, "add-actor", actor, "--role", role, "--city", city, "--name", actor.upper()]) == 0
    for _ in range(2):
        assert admin.main([*base, "issue-token", "coop-aurora"]) == 0
    assert admin.main([*base, "issue-token", "staff-trieste"]) == 0
    assert admin.main([*base, "revoke-tokens", "staff-trieste"]) == 0

    async def reader() -> None:
        pool = await db.create_pool(database_url, pg_schema)
        try:
            await db.migrate(pool, [read_log_readers.MIGRATION])
            async with pool.acquire() as conn:
                await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
        finally:
            await pool.close()

    asyncio.run(reader())
    capsys.readouterr()
    assert admin.main([*base, "list-actors", "--json"]) == 0
    out = capsys.readouterr().out
    rows = {r["actor_id"]: r for r in map(json.loads, out.splitlines())}
    assert rows["coop-aurora"]["live_tokens"] == 2 and rows["coop-aurora"]["role"] == "partner"
    assert rows["staff-trieste"]["live_tokens"] == 0 and rows["staff-trieste"]["last_revoked_at"]
    assert rows["read-log: RPD Torino"]["role"] == "read-log" and rows["read-log: RPD Torino"]["live_tokens"] == 1
    assert auth.TOKEN_PREFIX not in out and "lgr_" not in out and "hash" not in out
    assert admin.main([*base, "list-actors", "--city", "trieste"]) == 0
    table = capsys.readouterr().out
    assert "staff-trieste" in table and "coop-aurora" not in table and "STAFF-TRIESTE" in table
    assert table.splitlines()[0].split()[:3] == ["actor", "role", "city"]


def test_a_token_may_expire_and_the_review_says_when(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    """A partner's token leaked in its software's repository opened the city's API for ever, until someone revoked
    it. `issue-token --days N` gives it an end (none by default, as before): past it the token opens nothing and
    says why; the access review shows when each actor's first live token expires."""
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    base = ["--schema", pg_schema]
    assert admin.main([*base, "add-actor", "coop-aurora", "--role", "partner", "--city", "torino"]) == 0
    assert admin.main([*base, "issue-token", "coop-aurora", "--days", "365"]) == 0
    captured = capsys.readouterr()
    token = captured.out.splitlines()[-1]
    assert token.startswith(auth.TOKEN_PREFIX) and "expires on" in captured.err
    with pytest.raises(SystemExit) as refused:  # at least a day: argparse's usage error
        admin.main([*base, "issue-token", "coop-aurora", "--days", "0"])
    assert refused.value.code == 2 and "--days: '0' is not a number of days" in capsys.readouterr().err

    async def check() -> None:
        pool = await db.create_pool(database_url, pg_schema)
        try:
            async with pool.acquire() as conn:
                assert await auth.actor_by_token(conn, token) == Actor("coop-aurora", Role.PARTNER, "torino")
                assert await auth.token_refusal(conn, token) == "unknown or revoked token"  # not refused: generic
                await conn.execute("update api_tokens set expires_at = '2026-01-31T12:00:00+00'")
                assert await auth.actor_by_token(conn, token) is None
                assert await auth.token_refusal(conn, token) == "token expired on 2026-01-31: ask for a new one"
                assert await auth.token_refusal(conn, "lgn_unknown") == "unknown or revoked token"
        finally:
            await pool.close()

    asyncio.run(check())
    assert admin.main([*base, "list-actors", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["live_tokens"] == 0 and row["expires_at"] is None  # an expired token is not a live one
