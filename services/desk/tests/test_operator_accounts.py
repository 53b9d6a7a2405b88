"""Operators' accounts over their life: an operator who leaves the city or the cooperative is deactivated at once,
everywhere (the desk, her live sessions, her tokens on the services); IT sets a new password for one who forgot
hers; an operator changes her own at the desk. In-process on real PostgreSQL, the services' schemas real too."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest
from lgnet_desk.adapters import store
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.entrypoints import admin
from lgnet_desk.entrypoints.web import _token_key
from lgnet_shared import actors, db, read_log_readers, runtime_schema
from lgnet_shared.errors import ContractError
from lgnet_shared.testing.plugin import fresh_schema

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import Desk, desk, login_from, text_of, with_password

pytestmark = pytest.mark.integration
__all__ = ["desk"]  # the fixture

NADIA = Operator("nadia", "Nadia Ferri", OperatorRole.STAFF, "torino", None, "desk.op-0ad1a0000001", "op-0ad1a0000002")
PIA = Operator("pia", "Pia Conti", OperatorRole.PARTNER, "torino", "coop-aurora", code="op-91a000000001")
ELSA = Operator(
    "elsa", "Elsa Ricci", OperatorRole.PARTNER, "torino", "coop-aurora", code="op-e15a00000001"
)  # Pia's colleague
PASSWORD = "la-password-di-nadia"


@asynccontextmanager
async def service_schemas(database_url: str) -> AsyncIterator[dict[str, str]]:
    """intake's, housing's and payments' schemas with their actors and read-log tokens, as the services make them."""
    async with fresh_schema(database_url) as i, fresh_schema(database_url) as h, fresh_schema(database_url) as p:
        schemas = {"intake": i, "housing": h, "payments": p}
        for schema in schemas.values():
            pool = await db.create_pool(database_url, schema, max_size=1)
            try:
                await db.migrate(pool, [actors.MIGRATION, read_log_readers.MIGRATION])
            finally:
                await pool.close()
        yield schemas


async def token_works(database_url: str, schema: str, token: str) -> bool:
    pool = await db.create_pool(database_url, schema, max_size=1)
    try:
        async with pool.acquire() as conn:
            if token.startswith(read_log_readers.READER_PREFIX):
                return await read_log_readers.reader_city(conn, token) is not None
            return await actors.actor_by_token(conn, token) is not None
    finally:
        await pool.close()


async def read_log_tokens(database_url: str, schemas: dict[str, str]) -> dict[str, str]:
    """Torino's DPO's read-log token on each service, as `lgnet-admin issue-read-log-token` gives it."""
    issued = {}
    for service, schema in schemas.items():
        pool = await db.create_pool(database_url, schema, max_size=1)
        try:
            async with pool.acquire() as conn:
                issued[service] = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
        finally:
            await pool.close()
    return issued


async def tokens_of(desk: Desk, username: str) -> dict[str, str]:
    async with desk.pool.acquire() as conn:
        return await store.tokens(conn, username, _token_key(desk.settings))


async def session_of(desk: Desk, address: str, username: str, password: str) -> httpx.AsyncClient:
    """A browser at `address` logged in as `username` (its session cookie kept)."""
    app = cast(httpx.ASGITransport, desk.client._transport).app  # desk_of serves the app in process
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50_000)), base_url="http://desk.test")
    form = await c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    r = await c.post("/login", data={"csrf": csrf.group(1), "username": username, "password": password})
    assert r.status_code == 303, text_of(r.text)
    return c


async def test_an_operator_who_leaves_is_deactivated_at_once_everywhere(
    desk: Desk, database_url: str, capsys: Any, monkeypatch: Any
) -> None:
    """Nothing took an operator's access away: a social worker who left the cooperative kept her login, her live
    sessions and her token on every service (a partner's token reads its cases). `lgnet-desk-admin deactivate-operator`
    ends all three at once; her name stays on what she wrote; a colleague of the same cooperative keeps hers."""
    async with service_schemas(database_url) as schemas:
        for op in (NADIA, PIA, ELSA):
            await admin.add_operator(desk.settings, op, PASSWORD, schemas)
        nadia = await session_of(desk, "198.51.100.7", "nadia", PASSWORD)
        assert (await nadia.get("/")).status_code == 200
        before = {op.username: await tokens_of(desk, op.username) for op in (NADIA, PIA, ELSA)}
        for username, tokens in before.items():
            for service, token in tokens.items():
                assert await token_works(database_url, schemas[service], token), (username, service)

        for name, value in (("DATABASE_URL", desk.settings.database_url), ("LGNET_DB_SCHEMA", desk.settings.db_schema),
                            ("LGNET_MASTER_KEY", desk.settings.master_key)):  # fmt: skip
            monkeypatch.setenv(name, value)  # the command's settings: the desk's
        args = [f"--{s}-schema={schema}" for s, schema in schemas.items()]
        for username in ("nadia", "pia"):
            assert await asyncio.to_thread(admin.main, ["deactivate-operator", username, *args]) == 0
        r = await nadia.get("/", follow_redirects=False)  # her live session: over
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.headers
        await nadia.aclose()
        refused = await login_from(desk, "198.51.100.7", "nadia", PASSWORD)  # as a wrong password: no telling
        wrong = await login_from(desk, "198.51.100.8", "nobody-at-all", PASSWORD)
        assert refused.status_code == wrong.status_code == 401
        assert text_of(refused.text) == text_of(wrong.text)
        for username in ("nadia", "pia"):
            for service, token in before[username].items():
                assert not await token_works(database_url, schemas[service], token), (username, service)
        for service, token in before["elsa"].items():  # the same cooperative's actor: her token still works
            assert await token_works(database_url, schemas[service], token), service
        async with desk.pool.acquire() as conn:  # who wrote what stays named
            assert "Nadia Ferri" in {op.display_name for op in await store.city_operators(conn, "torino")}
        assert (
            await asyncio.to_thread(admin.main, ["deactivate-operator", "nobody-at-all", *args]) == 1
        )  # named, not a traceback
        assert "username: no operator nobody-at-all" in capsys.readouterr().err
        # Run again (a failed run's rest): nothing left to revoke, said so.
        assert await asyncio.to_thread(admin.main, ["deactivate-operator", "nadia", *args]) == 0
        assert "tokens revoked on: none" in capsys.readouterr().out


async def test_a_dpo_who_leaves_loses_her_read_log_tokens(desk: Desk, database_url: str) -> None:
    rpd2 = Operator("rpd2", "RPD Torino (sostituta)", OperatorRole.DPO, "torino", None)
    async with service_schemas(database_url) as schemas:
        issued = await read_log_tokens(database_url, schemas)
        await admin.add_operator(desk.settings, rpd2, PASSWORD, schemas, read_log_tokens=issued)
        done = await admin.deactivate_operator(desk.settings, "rpd2", schemas)
        assert (done.revoked, done.without_schema) == (["housing", "intake", "payments"], [])
        for service, token in issued.items():
            assert not await token_works(database_url, schemas[service], token), service


async def test_an_operator_who_leaves_a_city_that_stopped_a_service_is_deactivated_everywhere_else(
    desk: Desk, database_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city that stopped running payments on LgNet dropped its schema: deactivating an operator who had a token there
    stopped on "--payments-schema: no schema" after her desk login was gone and before the other services' tokens
    were revoked (run again, the same). The tokens of the services that still run are revoked; the service without a
    schema is named, with nothing left there to revoke."""
    rpd3 = Operator("rpd3", "RPD Torino (terza)", OperatorRole.DPO, "torino", None)
    async with service_schemas(database_url) as schemas:
        issued = await read_log_tokens(database_url, schemas)
        await admin.add_operator(desk.settings, rpd3, PASSWORD, schemas, read_log_tokens=issued)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'drop schema "{schemas["payments"]}" cascade')
        finally:
            await conn.close()
        done = await admin.deactivate_operator(desk.settings, "rpd3", schemas)
        assert (done.revoked, done.without_schema) == (["housing", "intake"], ["payments"])
        for service in ("intake", "housing"):
            assert not await token_works(database_url, schemas[service], issued[service]), service
        for name, value in (("DATABASE_URL", desk.settings.database_url), ("LGNET_DB_SCHEMA", desk.settings.db_schema),
                            ("LGNET_MASTER_KEY", desk.settings.master_key)):  # fmt: skip
            monkeypatch.setenv(name, value)
        args = [f"--{s}-schema={schema}" for s, schema in schemas.items()]
        assert await asyncio.to_thread(admin.main, ["deactivate-operator", "rpd3", *args]) == 0  # run again
        out = capsys.readouterr().out
        assert "tokens revoked on: none" in out and "no schema any more (nothing to revoke): payments" in out, out


async def test_it_sets_a_new_password_for_an_operator_who_forgot_hers(desk: Desk, capsys: Any) -> None:
    """An operator who forgot her password (or whose password was seen) had no way back but a new account. IT sets a
    new one (`set-password`, from stdin): the old one stops working and her sessions end; the rule is said."""
    await with_password(desk, NADIA, PASSWORD)
    old = await session_of(desk, "198.51.100.7", "nadia", PASSWORD)
    new = "una-nuova-password-lunga"
    assert await admin.set_password(desk.settings, "nadia", new) == 1  # her one session, ended
    assert (await old.get("/", follow_redirects=False)).status_code == 303
    await old.aclose()
    assert (await login_from(desk, "198.51.100.9", "nadia", PASSWORD)).status_code == 401
    assert (await login_from(desk, "198.51.100.9", "nadia", new)).status_code == 303
    with pytest.raises(ValueError, match="password: at least 12 characters"):
        await admin.set_password(desk.settings, "nadia", "corta")
    with pytest.raises(ValueError, match="username: no operator nobody"):
        await admin.set_password(desk.settings, "nobody", new)


async def test_an_operator_changes_her_own_password_at_the_desk(desk: Desk) -> None:
    """ "Cambia la password" (in the menu): the current one, the new one twice. Each refusal at its field in Italian,
    nothing changed; changed, her other sessions end (a password someone saw may have opened one), this one goes on.
    A wrong current password counts as a failed login: the page cannot be used to guess it."""
    await with_password(desk, NADIA, PASSWORD)
    other = await session_of(desk, "198.51.100.7", "nadia", PASSWORD)
    here = await session_of(desk, "198.51.100.8", "nadia", PASSWORD)
    page = await here.get("/password")
    assert page.status_code == 200 and "Cambia la password" in text_of(page.text)
    assert "Current password" in text_of((await here.get("/password?lang=en")).text)  # English available
    here.cookies.delete("desk_lang")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    new = "una-nuova-password-lunga"

    async def change(current: str, password: str, again: str) -> httpx.Response:
        assert csrf is not None
        form = {"csrf": csrf.group(1), "current_password": current, "new_password": password}
        return await here.post("/password", data=form | {"new_password_again": again})

    for (current, password, again), field, said in (
        (("sbagliata", new, new), "current_password", "La password attuale non è corretta"),
        ((PASSWORD, "corta", "corta"), "new_password", "almeno 12 caratteri"),
        ((PASSWORD, new, new + "x"), "new_password_again", "Le due nuove password non coincidono"),
        ((PASSWORD, PASSWORD, PASSWORD), "new_password", "uguale a quella attuale"),
    ):
        r = await change(current, password, again)
        assert r.status_code == 422, (field, text_of(r.text))
        assert f'id="{field}-error"' in r.text and said in text_of(r.text), (field, text_of(r.text))
        assert 'value="' + password + '"' not in r.text  # a password is never written back into the page
    assert (await login_from(desk, "198.51.100.9", "nadia", PASSWORD)).status_code == 303  # unchanged
    r = await change(PASSWORD, new, new)
    assert r.status_code == 303, text_of(r.text)
    done = await here.get(r.headers["location"])
    assert "La password è stata cambiata" in text_of(done.text)
    assert (await other.get("/", follow_redirects=False)).status_code == 303  # her other session: ended
    assert (await here.get("/")).status_code == 200  # this one goes on
    assert (await login_from(desk, "198.51.100.9", "nadia", PASSWORD)).status_code == 401
    assert (await login_from(desk, "198.51.100.9", "nadia", new)).status_code == 303
    # No CSRF token: refused, nothing changed.
    r = await here.post("/password", data={"current_password": new, "new_password": PASSWORD + "!",
                                           "new_password_again": PASSWORD + "!"})  # fmt: skip
    assert r.status_code == 403
    # Guessing through the page: after the lock's count of wrong current passwords, refused like a login.
    for _ in range(desk.settings.max_failures):
        await change("sbagliata", PASSWORD + "!", PASSWORD + "!")
    locked = await change(new, PASSWORD + "!", PASSWORD + "!")
    assert locked.status_code == 422 and "bloccato" in text_of(locked.text), text_of(locked.text)
    # Sent after the session lapsed: passwords are never kept with a lapsed session's form (nothing else is in it).
    async with desk.pool.acquire() as conn:
        await conn.execute("update sessions set seen_at = now() - interval '31 minutes' where username = 'nadia'")
    lapsed = await here.post("/password", data={"csrf": csrf.group(1), "current_password": new,
                                                "new_password": PASSWORD + "!", "new_password_again": PASSWORD + "!"},
                             headers={"Referer": "http://desk.test/password"})  # fmt: skip
    assert (lapsed.status_code, lapsed.headers["location"]) == (303, "/login")
    async with desk.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from kept_forms") == 0
    for c in (other, here):
        await c.aclose()


async def test_an_operator_who_logs_in_through_the_citys_identity_provider_is_sent_there(desk: Desk) -> None:
    """Her password is the identity provider's: the page says so and offers no form."""
    oidc = Operator(
        "olivia", "Olivia Sarti", OperatorRole.STAFF, "torino", None, "desk.op-011b1a000001", "op-011b1a000002"
    )
    async with desk.pool.acquire() as conn:
        await store.add_operator(conn, oidc, None, {}, _token_key(desk.settings))
        await conn.execute(
            "insert into sessions (session_hash, username, csrf_token, expires_at)"
            " values ($1, 'olivia', 'csrf-olivia', now() + interval '1 hour')",
            admin_session_hash("sid-olivia"),
        )
    desk.client.cookies.set("desk_session", "sid-olivia")
    page = await desk.client.get("/password")
    assert page.status_code == 200
    assert "gestore delle identità del Comune" in text_of(page.text) and 'name="new_password"' not in page.text


def admin_session_hash(sid: str) -> str:
    from lgnet_desk.service_layer.login import session_hash

    return session_hash(sid)


async def test_the_dpo_reviews_who_has_access_to_the_desk(desk: Desk) -> None:
    """An access review (who may read the city's persons' data, since when, last seen, who left and when): the DPO
    had no list of the desk's operators at all. "Operatori" lists the city's (never another city's), active first,
    each with how she logs in and her last login; the CSV for the review's file. Nobody else's page."""
    from test_desk_pages import MARIA, RPD

    await with_password(desk, NADIA, PASSWORD)
    await with_password(desk, PIA, PASSWORD)
    assert (await login_from(desk, "198.51.100.7", "nadia", PASSWORD)).status_code == 303
    oidc = Operator(
        "olivia", "Olivia Sarti", OperatorRole.STAFF, "torino", None, "desk.op-011b1a000001", "op-011b1a000002"
    )
    async with desk.pool.acquire() as conn:
        await store.add_operator(conn, oidc, None, {}, _token_key(desk.settings))
        assert await store.deactivate(conn, "pia")
    await desk.as_operator(RPD)
    page = await desk.client.get("/operators")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Operatori dello sportello" in text
    rows = {m.group(1): text_of(m.group(0)) for m in re.finditer(r'<tr id="op-([a-z0-9]+)">.*?</tr>', page.text, re.S)}
    assert set(rows) == {"maria", "giulia", "luca", "rpd", "nadia", "pia", "olivia"}, rows  # not Trieste's sara
    assert "Nadia Ferri" in rows["nadia"] and "password" in rows["nadia"] and "attivo" in rows["nadia"]
    assert "mai" not in rows["nadia"]  # she logged in: its day, not "never"
    assert "mai" in rows["maria"]  # never logged in with a password here (the tests' session only)
    assert "disattivato il" in rows["pia"] and "attivo" not in rows["pia"].replace("disattivato", "")
    assert "gestore delle identità" in rows["olivia"]
    assert list(rows).index("pia") == len(rows) - 1  # who left, last
    # Who an id seen in the services' facts is: a staff operator's actor (`recorded_by`, `booked_by`) and every
    # operator's code (an appointment's operator, an outing's staff); a cooperative's operator acts as the cooperative
    assert "desk.op-011b1a000001" in rows["olivia"] and "op-011b1a000002" in rows["olivia"]
    assert "desk.maria" in rows["maria"]
    assert "Nel registro degli eventi" in text
    english = text_of((await desk.client.get("/operators?lang=en")).text)  # English available, as every page
    assert "Desk operators" in english and "deactivated on" in english and "the city's identity provider" in english
    desk.client.cookies.delete("desk_lang")  # the choice is remembered: back to Italian for the CSV below
    csv_text = (await desk.client.get("/operators.csv")).text
    lines = csv_text.splitlines()
    assert lines[0].startswith("Nome utente,Nome,Ruolo"), lines[0]
    assert any(line.startswith("pia,Pia Conti,") and "disattivato" in line for line in lines), lines
    assert "Nel registro degli eventi come" in lines[0], lines[0]
    assert any(line.startswith("olivia,") and "desk.op-011b1a000001 op-011b1a000002" in line for line in lines), lines
    await desk.as_operator(MARIA)
    assert (await desk.client.get("/operators")).status_code == 403
    assert (await desk.client.get("/operators.csv")).status_code == 403


async def actor_of(database_url: str, schema: str, token: str) -> dict[str, Any]:
    """The actor a service knows a token by, as its access review lists it (its id, its role, its name)."""
    pool = await db.create_pool(database_url, schema, max_size=1)
    try:
        async with pool.acquire() as conn:
            found = await actors.actor_by_token(conn, token)
            assert found is not None
            return next(a for a in await actors.review(conn) if a["actor_id"] == found.id)
    finally:
        await pool.close()


async def test_a_new_staff_operators_actor_on_the_services_is_opaque_and_stored_with_her(
    desk: Desk, database_url: str
) -> None:
    """A review: a staff operator acted on the services as `desk.<username>`, and a username is usually her name
    (`maria.bianchi`): it travelled in clear in every fact she caused (`recorded_by`, `booked_by`, …) and is never
    erased. The desk now draws her actor when she is added (`desk.op-` and 12 hex digits) and stores it with her; the
    services know her by it and still show her name (in their own tables, never on Kafka); two staff are two actors;
    her tokens are given and revoked on that actor."""
    bianchi = Operator("maria.bianchi", "Maria Bianchi", OperatorRole.STAFF, "torino", None)
    before_payments = {"LGNET_DESK_SERVICES": "intake,housing"}  # payments started later (give-services below)
    settings = type(desk.settings)(**desk.settings.model_dump(by_alias=True) | before_payments)
    async with service_schemas(database_url) as schemas:
        await admin.add_operator(settings, bianchi, PASSWORD, schemas)
        await admin.add_operator(settings, NADIA, PASSWORD, schemas)
        async with desk.pool.acquire() as conn:
            found = await store.operator(conn, "maria.bianchi")
            other = await store.operator(conn, "nadia")
        assert found is not None and other is not None
        actor = found[0].service_actor
        assert actor is not None and re.fullmatch(r"desk\.op-[0-9a-f]{12}", actor), actor
        assert "maria" not in actor and "bianchi" not in actor
        assert other[0].service_actor not in (None, actor)  # four-eyes: two staff, two actors
        tokens = await tokens_of(desk, "maria.bianchi")
        assert sorted(tokens) == ["housing", "intake"]
        for service, token in tokens.items():
            seen = await actor_of(database_url, schemas[service], token)
            assert (seen["actor_id"], seen["role"], seen["name"]) == (actor, "staff", "Maria Bianchi"), service

        given = await admin.give_services(desk.settings, "maria.bianchi", schemas)  # payments runs now
        assert given == ["payments"]
        payments_token = (await tokens_of(desk, "maria.bianchi"))["payments"]
        assert (await actor_of(database_url, schemas["payments"], payments_token))["actor_id"] == actor

        done = await admin.deactivate_operator(desk.settings, "maria.bianchi", schemas)
        assert (done.revoked, done.without_schema) == (["housing", "intake", "payments"], [])
        for service, token in (await tokens_of(desk, "maria.bianchi")).items():
            assert not await token_works(database_url, schemas[service], token), service
        for service, token in (await tokens_of(desk, "nadia")).items():  # her colleague's own actor: untouched
            assert await token_works(database_url, schemas[service], token), service


async def test_a_username_taken_is_refused_before_any_service_is_given_an_actor(desk: Desk, database_url: str) -> None:
    """`add-operator` drew the new operator's actor and issued her tokens on every service, then failed on the desk's
    own row (the username taken: a unique violation, "UniqueViolationError: duplicate key …"): the services kept an
    actor and live tokens nobody holds. The username is checked first now, named, and nothing is issued."""
    bianchi = Operator("maria.bianchi", "Maria Bianchi", OperatorRole.STAFF, "torino", None)
    async with service_schemas(database_url) as schemas:
        await admin.add_operator(desk.settings, bianchi, PASSWORD, schemas)

        async def actors_on(schema: str) -> int:
            pool = await db.create_pool(database_url, schema, max_size=1)
            try:
                async with pool.acquire() as conn:
                    return int(await conn.fetchval("select count(*) from actors"))
            finally:
                await pool.close()

        before = {service: await actors_on(schema) for service, schema in schemas.items()}
        again = Operator("maria.bianchi", "Maria Bianchi (bis)", OperatorRole.STAFF, "torino", None)
        with pytest.raises(ContractError, match=r"username: maria\.bianchi is already an operator"):
            await admin.add_operator(desk.settings, again, PASSWORD, schemas)
        assert {service: await actors_on(schema) for service, schema in schemas.items()} == before


async def test_an_operator_added_before_actors_were_opaque_keeps_desk_username(desk: Desk, database_url: str) -> None:
    """The operators added before migration desk-7 keep `desk.<username>`: their facts already carry it, and the
    services' actors, tokens and four-eyes rules use it. The migration stores it explicitly; nothing already recorded
    changes. Her tokens are still given (a service started later) and revoked on that actor."""
    from lgnet_desk.adapters.schema import MIGRATIONS

    async with fresh_schema(database_url) as schema, service_schemas(database_url) as schemas:
        settings = type(desk.settings)(**desk.settings.model_dump(by_alias=True) | {"LGNET_DB_SCHEMA": schema})
        key = _token_key(settings)
        pool = await db.create_pool(database_url, schema, max_size=1)
        try:
            await db.migrate(pool, MIGRATIONS[: [m[0] for m in MIGRATIONS].index("desk-7")])
            async with pool.acquire() as conn:  # the desk as it was: rows of the old shape, actors of `desk.<username>`
                for username, name, role, partner in (("anna", "Anna Neri", "staff", None),
                                                      ("pia", "Pia Conti", "partner", "coop-aurora"),
                                                      ("ivo.rea@coop-aurora.it", "Ivo Rea", "partner", "coop-aurora"),
                                                      ("rpd", "RPD Torino", "dpo", None)):  # fmt: skip
                    await conn.execute(
                        "insert into operators (username, display_name, role, city, partner, password_hash)"
                        " values ($1, $2, $3, 'torino', $4, 'x')",
                        username,
                        name,
                        role,
                        partner,
                    )
                for service in ("intake", "housing"):
                    service_pool = await db.create_pool(database_url, schemas[service], max_size=1)
                    try:
                        async with service_pool.acquire() as service_conn:
                            await actors.add_actor(service_conn, "desk.anna", actors.Role.STAFF, "torino", "Anna Neri")
                            token = await actors.issue_token(service_conn, "desk.anna")
                    finally:
                        await service_pool.close()
                    await store.set_token(conn, "anna", service, token, key)
            await db.migrate(pool, MIGRATIONS)
            async with pool.acquire() as conn:
                anna, pia, ivo, rpd = [
                    await store.operator(conn, u) for u in ("anna", "pia", "ivo.rea@coop-aurora.it", "rpd")
                ]
                assert await conn.fetchval("select count(*) from operators where actor is not null") == 1
        finally:
            await pool.close()
        assert anna is not None and pia is not None and rpd is not None
        assert (anna[0].service_actor, pia[0].service_actor, rpd[0].service_actor) == ("desk.anna", "coop-aurora", None)
        # migration desk-9: their codes (an appointment's operator, an outing's staff) are their usernames, which the
        # appointments and outings already recorded carry; the DPO keeps no agenda
        assert (anna[0].code, pia[0].code, rpd[0].code) == ("anna", "pia", None)
        # ... but for a username intake refuses as an operator's id (an e-mail: partners' usernames were never
        # checked), which could name nobody in an appointment or an outing: hers is drawn
        assert ivo is not None and re.fullmatch(r"op-[0-9a-f]{12}", ivo[0].code or ""), ivo

        assert await admin.give_services(settings, "anna", schemas) == ["payments"]
        pool = await db.create_pool(database_url, schema, max_size=1)
        try:
            async with pool.acquire() as conn:
                tokens = await store.tokens(conn, "anna", key)
        finally:
            await pool.close()
        assert (await actor_of(database_url, schemas["payments"], tokens["payments"]))["actor_id"] == "desk.anna"
        done = await admin.deactivate_operator(settings, "anna", schemas)
        assert done.revoked == ["housing", "intake", "payments"]
        for service, token in tokens.items():
            assert not await token_works(database_url, schemas[service], token), service


async def test_an_operator_of_a_city_is_not_added_to_another_deployments_schemas(desk: Desk, database_url: str) -> None:
    """Bologna's IT ran `lgnet-desk-admin add-operator … --city bologna` without --intake-schema/--housing-schema on a
    database where the national deployment runs: a Bologna staff actor and tokens were made in the national schemas.
    Now refused before anything is written, naming the schema, its owner and the flag; `deployment="national"` (the
    CLI's --deployment, as the demo's `make up` passes) says the national deployment serves the city."""
    nadia = Operator("nadia.bo", "Nadia Ferri", OperatorRole.STAFF, "bologna", None)
    settings = type(desk.settings)(**desk.settings.model_dump(by_alias=True) | {"LGNET_DESK_SERVICES": "intake"})
    async with service_schemas(database_url) as schemas:
        pool = await db.create_pool(database_url, schemas["intake"], max_size=1)
        try:
            await db.migrate(pool, [runtime_schema.DEPLOYMENT])
            async with pool.acquire() as conn:
                await conn.execute("insert into deployment_identity (deployment, city) values ('national', 'national')")
        finally:
            await pool.close()
        with pytest.raises(ContractError, match="--intake-schema") as refused:
            await admin.add_operator(settings, nadia, PASSWORD, schemas)
        said = str(refused.value)
        assert f"schema {schemas['intake']!r} belongs to deployment 'national'" in said, said
        assert "--deployment national" in said, said
        conn = await asyncpg.connect(database_url)
        try:
            made = await conn.fetchval(f'select count(*) from "{schemas["intake"]}".actors where city = $1', "bologna")
            added = await conn.fetchval(
                f'select count(*) from "{desk.settings.db_schema}".operators where username = $1', "nadia.bo"
            )
            assert (made, added) == (0, 0)
        finally:
            await conn.close()
        await admin.add_operator(settings, nadia, PASSWORD, schemas, deployment="national")
        assert sorted(await tokens_of(desk, "nadia.bo")) == ["intake"]


async def intakes_tables(database_url: str, schema: str) -> None:
    """`schema` as intake leaves it: its own migrations recorded (one here), its actors beside them."""
    pool = await db.create_pool(database_url, schema, max_size=1)
    try:
        await db.migrate(pool, [("intake-1", "create table persons (person_id text primary key)"), actors.MIGRATION])
    finally:
        await pool.close()


async def written_in(database_url: str, schema: str) -> tuple[list[str], int]:
    """What a schema records as migrated, and how many actors it holds (none: no actors table)."""
    conn = await asyncpg.connect(database_url)
    try:
        recorded = sorted(await db.recorded_migrations_of(conn, schema))
        has_actors = await conn.fetchval("select to_regclass(format('%I.actors', $1::text))", schema) is not None
        count = await conn.fetchval(f'select count(*) from "{schema}".actors') if has_actors else 0
        return recorded, count
    finally:
        await conn.close()


async def test_the_desk_and_its_admin_refuse_a_schema_holding_another_services_tables(
    desk: Desk, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every service refuses to start on another service's schema; the desk did not: `lgnet-desk` or
    `lgnet-desk-admin` with LGNET_DB_SCHEMA set to intake's ran the desk's migrations there. Now the desk's start and
    each admin command refuse on one line naming LGNET_DB_SCHEMA and whose tables the schema holds, before any
    migration, nothing written there (nor an actor on the services)."""
    from lgnet_desk.entrypoints.main import create_app
    from lgnet_shared import setup_errors

    async with fresh_schema(database_url) as intakes, service_schemas(database_url) as schemas:
        await intakes_tables(database_url, intakes)
        refused = f"LGNET_DB_SCHEMA {intakes}: holds intake's tables (migrations intake-1), not desk's"
        settings = type(desk.settings)(**desk.settings.model_dump(by_alias=True) | {"LGNET_DB_SCHEMA": intakes})
        app = create_app(settings)
        with pytest.raises(setup_errors.SetupError, match=f"^{re.escape(refused)}"):
            async with app.router.lifespan_context(app):
                pass
        assert app.state.start_refused
        for name, value in settings.model_dump(by_alias=True).items():
            if name.isupper() and value is not None:
                monkeypatch.setenv(name, str(value.get_secret_value() if hasattr(value, "get_secret_value") else value))
        monkeypatch.setenv("LGNET_DB_SCHEMA", intakes)
        monkeypatch.setenv("LGNET_DESK_PASSWORD", PASSWORD)
        flags = [f"--{service}-schema={schema}" for service, schema in schemas.items()]
        for argv in (
            ["add-operator", "nadia", "--name", "Nadia Ferri", "--role", "staff", "--city", "torino", *flags],
            ["set-password", "nadia"],
            ["purge"],
        ):
            assert await asyncio.to_thread(admin.main, argv) in (1, 2), argv  # it runs its own event loop
            said = capsys.readouterr().err.strip()
            assert said.startswith(f"lgnet-desk-admin: {refused}") and "\n" not in said, said
        assert await written_in(database_url, intakes) == (sorted(["intake-1", actors.MIGRATION[0]]), 0)
        for schema in schemas.values():
            assert (await written_in(database_url, schema))[1] == 0, "no actor made on a service"


async def test_the_desk_admin_refuses_a_services_schema_holding_another_services_tables(
    desk: Desk, database_url: str
) -> None:
    """`--housing-schema` naming intake's schema made the operator's housing actor and token among intake's (and a
    deactivation revoked there): refused on one line naming the flag, before an actor is made on any service (a
    deactivation revokes what it can, as after any failed run, and is run again)."""
    from lgnet_shared import setup_errors

    async with service_schemas(database_url) as schemas:
        await intakes_tables(database_url, schemas["intake"])
        wrong = schemas | {"housing": schemas["intake"]}
        refused = f"--housing-schema {schemas['intake']}: holds intake's tables (migrations intake-1), not housing's"
        with pytest.raises(setup_errors.SetupError, match=f"^{re.escape(refused)}"):
            await admin.add_operator(desk.settings, NADIA, PASSWORD, wrong)
        for schema in schemas.values():
            assert (await written_in(database_url, schema))[1] == 0, "no actor made on a service"
        added = await admin.add_operator(desk.settings, NADIA, PASSWORD, schemas)
        tokens = await tokens_of(desk, added.username)
        with pytest.raises(setup_errors.SetupError, match=f"^{re.escape(refused)}"):
            await admin.deactivate_operator(desk.settings, added.username, wrong)
        assert await token_works(database_url, schemas["housing"], tokens["housing"]), "housing's not revoked yet"
        done = await admin.deactivate_operator(desk.settings, added.username, schemas)  # again, named right
        assert "housing" in done.revoked and not await token_works(database_url, schemas["housing"], tokens["housing"])


async def test_lgnet_admin_refuses_a_schema_that_is_no_one_services(
    desk: Desk, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lgnet-admin --schema <the desk's>` made actors' tables and a token in the desk's schema, which no service
    reads; so on a schema holding two services' tables. Refused on one line naming --schema, before any migration."""
    from lgnet_shared import admin as lgnet_admin

    monkeypatch.setenv("DATABASE_URL", database_url)
    desks = desk.settings.db_schema
    async with fresh_schema(database_url) as both:
        await intakes_tables(database_url, both)
        pool = await db.create_pool(database_url, both, max_size=1)
        try:
            await db.migrate(pool, [("housing-1", "create table units (unit_id text primary key)")])
        finally:
            await pool.close()
        for schema, held in ((desks, "desk's tables (migrations desk-1, desk-2, desk-3, …)"),
                             (both, "intake's tables (migrations intake-1)")):  # fmt: skip
            before = await written_in(database_url, schema)
            argv = ["--schema", schema, "add-actor", "staff-x", "--role", "staff", "--city", "torino"]
            code = await asyncio.to_thread(lgnet_admin.main, argv)  # it runs its own event loop
            said = capsys.readouterr().err.strip()
            assert code == 1 and said.startswith(f"lgnet-admin: error: --schema {schema}: holds {held}"), said
            assert "\n" not in said and await written_in(database_url, schema) == before, "nothing written"


async def test_it_corrects_an_operators_name_her_username_role_and_actor_unchanged(
    desk: Desk, database_url: str, capsys: Any, monkeypatch: Any
) -> None:
    """A name misspelt when she was added, or changed (marriage), could not be corrected: `lgnet-desk-admin` only added
    and deactivated operators. `rename-operator` changes her display name, nothing else (username, role, actor and
    code stay: the access log and the services' facts keep naming her by them); when, and the name before, are kept
    and shown on the DPO's "Operatori dello sportello"; a staff operator's actor is named anew on the services (their
    access review showed the old name); a cooperative's actor is the cooperative's and stays."""
    from test_desk_pages import RPD

    async with service_schemas(database_url) as schemas:
        for op in (NADIA, PIA):
            await admin.add_operator(desk.settings, op, PASSWORD, schemas)
        async with desk.pool.acquire() as conn:
            before = {op.username: (await store.operator(conn, op.username)) for op in (NADIA, PIA)}
        tokens = {op.username: await tokens_of(desk, op.username) for op in (NADIA, PIA)}
        for name, value in (("DATABASE_URL", desk.settings.database_url), ("LGNET_DB_SCHEMA", desk.settings.db_schema),
                            ("LGNET_MASTER_KEY", desk.settings.master_key)):  # fmt: skip
            monkeypatch.setenv(name, value)  # the command's settings: the desk's
        args = [f"--{s}-schema={schema}" for s, schema in schemas.items()]
        rename = ["rename-operator", "nadia", "--name", "Nadia Ferri Bruno", *args]
        assert await asyncio.to_thread(admin.main, rename) == 0, capsys.readouterr().err
        assert "operator nadia renamed" in capsys.readouterr().out
        assert await asyncio.to_thread(admin.main, ["rename-operator", "pia", "--name", "Pia Conti Sala", *args]) == 0
        async with desk.pool.acquire() as conn:
            after = {op.username: (await store.operator(conn, op.username)) for op in (NADIA, PIA)}
        for username, new in (("nadia", "Nadia Ferri Bruno"), ("pia", "Pia Conti Sala")):
            was, now = before[username], after[username]
            assert was is not None and now is not None
            assert now[0].display_name == new
            assert now[0] == dataclasses.replace(was[0], display_name=new)  # nothing else changed
        for service, schema in schemas.items():  # the services name her staff actor anew; the cooperative's stays
            assert (await actor_of(database_url, schema, tokens["nadia"][service]))["name"] == "Nadia Ferri Bruno"
            assert (await actor_of(database_url, schema, tokens["pia"][service]))["name"] == "coop-aurora"
        # refused, said in one line, nothing changed: nobody of that username, a blank name, a deactivated operator
        assert await asyncio.to_thread(admin.main, ["rename-operator", "nobody-at-all", "--name", "X Y", *args]) == 1
        assert "username: no operator nobody-at-all" in capsys.readouterr().err
        assert await asyncio.to_thread(admin.main, ["rename-operator", "nadia", "--name", "  ", *args]) == 1
        assert "name:" in capsys.readouterr().err
        await desk.as_operator(RPD)
        page = await desk.client.get("/operators?lang=it")
        rows = {
            m.group(1): text_of(m.group(0)) for m in re.finditer(r'<tr id="op-([a-z0-9]+)">.*?</tr>', page.text, re.S)
        }
        assert "Nadia Ferri Bruno" in rows["nadia"] and "prima Nadia Ferri, fino al" in rows["nadia"], rows["nadia"]
        english = text_of((await desk.client.get("/operators?lang=en")).text)
        assert "formerly Nadia Ferri, until" in english, english
        desk.client.cookies.delete("desk_lang")
        csv_text = (await desk.client.get("/operators.csv")).text
        assert "Nomi precedenti" in csv_text.splitlines()[0], csv_text
        assert any(line.startswith("nadia,Nadia Ferri Bruno,") and '"prima Nadia Ferri, fino al' in line
                   for line in csv_text.splitlines()), csv_text  # fmt: skip


async def test_the_desks_admin_changes_say_who_made_them_and_the_dpo_reads_them(
    desk: Desk, database_url: str, monkeypatch: Any, capsys: Any, browser: Any
) -> None:
    """An operator added, renamed, her password set, deactivated, the access log purged: nothing said which of the
    city's IT team did it (GDPR art. 5(2)). Each is kept in the desk's schema with who (`--by`, else LGNET_ADMIN_BY,
    else the OS login), the command, the operator's username and the outcome — never a password or a name — read
    back by `history` and on the DPO's "Operatori dello sportello" page. A refused command records nothing."""
    import getpass
    import json

    from test_desk_pages import MARIA, RPD, axe_problems

    async with service_schemas(database_url) as schemas:
        env = {"DATABASE_URL": desk.settings.database_url, "LGNET_DB_SCHEMA": desk.settings.db_schema,
               "LGNET_MASTER_KEY": desk.settings.master_key, "LGNET_DESK_PASSWORD": PASSWORD}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("LGNET_ADMIN_BY", raising=False)
        monkeypatch.setattr(getpass, "getuser", lambda: "os-login")
        args = [f"--{s}-schema={schema}" for s, schema in schemas.items()]

        def main(*argv: str) -> Any:
            return asyncio.to_thread(admin.main, list(argv))  # it runs its own event loop

        add = ["add-operator", "nadia", "--name", "Nadia Ferri", "--role", "staff", "--city", "torino", *args]
        assert await main("--by", "it-anna", *add) == 0
        monkeypatch.setenv("LGNET_ADMIN_BY", "it-marco")
        assert await main("rename-operator", "nadia", "--name", "Nadia Ferri Verdi", *args) == 0
        assert await main("set-password", "nadia") == 0
        monkeypatch.delenv("LGNET_ADMIN_BY")
        assert await main("deactivate-operator", "nadia", *args) == 0
        capsys.readouterr()
        assert await main("deactivate-operator", "nobody-at-all", *args) == 1  # refused: said, not recorded
        refused = capsys.readouterr().err
        assert "no operator nobody-at-all" in refused and '"admin action"' not in refused
        assert await main("purge", "--by", "it-anna") == 0
        said = capsys.readouterr()
        logged = [json.loads(line) for line in said.err.splitlines() if line.startswith('{"event"')]
        assert [(line["by"], line["command"]) for line in logged] == [("it-anna", "purge")], said.err
        assert await main("history", "--json") == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["by"], r["program"], r["command"], r["target"]) for r in listed] == [
            ("it-anna", "lgnet-desk-admin", "purge", "access log and login attempts"),
            ("os-login", "lgnet-desk-admin", "deactivate-operator", "nadia"),
            ("it-marco", "lgnet-desk-admin", "set-password", "nadia"),
            ("it-marco", "lgnet-desk-admin", "rename-operator", "nadia"),
            ("it-anna", "lgnet-desk-admin", "add-operator", "nadia"),
        ]
        assert listed[-1]["outcome"].startswith("added staff of torino; tokens on housing, intake, payments")
        assert listed[2]["outcome"] == "password set, 0 session(s) ended", listed
        kept = json.dumps(listed)
        assert PASSWORD not in kept and "Nadia Ferri" not in kept
        assert await main("history", "--limit", "1") == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2 and "purge" in lines[1], lines
        # each service's schema keeps what the command did there, under the actor the service knows (not her name)
        async with desk.pool.acquire() as conn:
            actor = (await store.any_operator(conn, "nadia"))[0].service_actor  # type: ignore[index]
        for schema in schemas.values():
            conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
            try:
                there = await conn.fetch("select * from admin_actions order by id")
            finally:
                await conn.close()
            assert [(r["run_by"], r["program"], r["command"], r["target"]) for r in there] == [
                ("it-anna", "lgnet-desk-admin", "add-operator", actor),
                ("it-marco", "lgnet-desk-admin", "rename-operator", actor),
                ("os-login", "lgnet-desk-admin", "deactivate-operator", actor),
            ], there
            assert [r["outcome"] for r in there] == ["actor added, token issued", "actor renamed", "revoked 1 token(s)"]

    await desk.as_operator(RPD)
    page = await desk.client.get("/operators")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Modifiche amministrative" in text
    rows = re.findall(r'<tr class="admin-action">.*?</tr>', page.text, re.S)
    assert len(rows) == 5, rows  # latest first
    assert "deactivate-operator" in text_of(rows[1]) and "os-login" in text_of(rows[1]) and "nadia" in rows[1]
    assert "it-anna" in text_of(rows[4]) and "add-operator" in text_of(rows[4])
    # each outcome said in Italian, as the rest of the page (they were shown as recorded, in English)
    assert "nuovo operatore: personale del Comune, Torino; token su housing, intake, payments" in text_of(rows[4])
    assert "disattivazione: sessioni chiuse" in text_of(rows[1]) and "password impostata" in text_of(rows[2])
    assert "nome corretto" in text_of(rows[3]) and "cancellate 0 voci del registro degli accessi" in text_of(rows[0])
    english = text_of((await desk.client.get("/operators?lang=en")).text)
    assert "Administrative changes" in english and "added staff of torino" in english
    desk.client.cookies.delete("desk_lang")
    assert await axe_problems(desk, browser, {"operators": page.text}) == []
    await desk.as_operator(MARIA)
    assert (await desk.client.get("/operators")).status_code == 403
