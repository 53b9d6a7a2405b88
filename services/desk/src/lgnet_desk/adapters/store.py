"""The desk's tables: operators, their sealed service tokens, sessions, login attempts, the access log."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lgnet_shared.db import Conn, where_given

from lgnet_desk.domain.operators import Operator, OperatorRole, ids_in_the_log
from lgnet_desk.domain.resubmission import KEPT_MINUTES


def _operator(row: Any) -> Operator:
    role = OperatorRole(row["role"])
    return Operator(row["username"], row["display_name"], role, row["city"], row["partner"], row["actor"], row["code"])


async def operator(conn: Conn, username: str) -> tuple[Operator, Any] | None:
    """An operator who may log in (not deactivated)."""
    row = await conn.fetchrow("select * from operators where username = $1 and deactivated_at is null", username)
    return None if row is None else (_operator(row), row)


async def active_usernames(conn: Conn) -> list[str]:
    """Every operator who may log in, by username."""
    return [
        r["username"]
        for r in await conn.fetch("select username from operators where deactivated_at is null order by username")
    ]


async def any_operator(conn: Conn, username: str) -> tuple[Operator, bool] | None:
    """An operator whether deactivated or not, and whether she is still active."""
    row = await conn.fetchrow("select * from operators where username = $1", username)
    return None if row is None else (_operator(row), row["deactivated_at"] is None)


async def access_review(conn: Conn, city: str) -> list[dict[str, Any]]:
    """The city's operators for the DPO's access review: active ones first, each with whether she has a password here
    (else she logs in through the identity provider), since when, her last login the log still holds, her end, and her
    earlier names with until when (`former_names`, latest first)."""
    rows = await conn.fetch(
        "select o.username, o.display_name, o.role, o.partner, o.password_hash is not null as has_password,"
        " o.created_at, o.deactivated_at, o.actor, o.code,"
        " (select max(a.at) from login_attempts a where a.username = o.username and a.succeeded) as last_login"
        " from operators o where o.city = $1"
        " order by o.deactivated_at is not null, o.deactivated_at, o.role, o.display_name",
        city,
    )
    former: dict[str, list[dict[str, Any]]] = {}
    for n in await conn.fetch(
        "select n.username, n.display_name, n.until from operator_names n join operators o using (username)"
        " where o.city = $1 order by n.until desc",
        city,
    ):
        former.setdefault(n["username"], []).append({"name": n["display_name"], "until": n["until"]})
    return [
        {**r, "in_the_log": ids_in_the_log(r["actor"], r["code"]), "former_names": former.get(r["username"], [])}
        for r in rows
    ]


async def admin_actions(conn: Conn, city: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest `limit` changes `lgnet-desk-admin` recorded (lgnet_shared.admin_actions), latest first, for the
    city's DPO: those on her city's operators and those on no operator (the logs' purge), never another city's."""
    rows = await conn.fetch(
        "select a.at, a.run_by as by, a.command, a.target, a.outcome from admin_actions a"
        " where not exists (select 1 from operators o where o.username = a.target and o.city <> $1)"
        " order by a.at desc, a.id desc limit $2",
        city,
        limit,
    )
    return [dict(r) for r in rows]


async def city_operators(conn: Conn, city: str) -> list[Operator]:
    """The city's operators, so pages name who wrote, uploaded, booked or requested rather than print an id."""
    return [_operator(row) for row in await conn.fetch("select * from operators where city = $1", city)]


async def operators_named(conn: Conn, usernames: Iterable[str], actors: Iterable[str] = ()) -> list[Operator]:
    """The desk's operators of any city, deactivated ones too, by username or by their actor on the services (a staff
    operator's own: a cooperative's actor is the cooperative, none of its operators), so that the printout for a
    person names whoever looked, another city's operator too, never by her account."""
    rows = await conn.fetch(
        "select * from operators where username = any($1::text[]) or (role = 'staff' and actor = any($2::text[]))",
        list(usernames),
        list(actors),
    )
    return [_operator(row) for row in rows]


async def add_operator(
    conn: Conn, op: Operator, password_hash: str | None, tokens: dict[str, str], token_key: bytes
) -> None:
    await conn.execute(
        "insert into operators (username, display_name, role, city, partner, password_hash, actor, code)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8)",
        op.username,
        op.display_name,
        op.role.value,
        op.city,
        op.partner,
        password_hash,
        op.actor if op.role is OperatorRole.STAFF else None,
        op.code if op.keeps_agenda else None,
    )
    for service, token in tokens.items():
        await conn.execute(
            "insert into service_tokens values ($1, $2, $3)", op.username, service, seal(token_key, op.username, token)
        )


async def set_token(conn: Conn, username: str, service: str, token: str, token_key: bytes) -> None:
    await conn.execute(
        "insert into service_tokens values ($1, $2, $3)"
        " on conflict (username, service) do update set sealed = excluded.sealed",
        username,
        service,
        seal(token_key, username, token),
    )


def seal(key: bytes, username: str, token: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, token.encode(), username.encode())


def unseal(key: bytes, username: str, sealed: bytes) -> str:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], username.encode()).decode()


async def opens_stored_tokens(conn: Conn, token_key: bytes) -> bool:
    """Whether this key opens the service tokens already sealed (one is enough: all were sealed with one key). A desk
    started with another LGNET_MASTER_KEY served its pages, and every operator's call to a service then failed."""
    row = await conn.fetchrow("select username, sealed from service_tokens limit 1")
    if row is None:
        return True
    try:
        unseal(token_key, row["username"], row["sealed"])
    except InvalidTag:
        return False
    return True


async def tokens(conn: Conn, username: str, token_key: bytes) -> dict[str, str]:
    rows = await conn.fetch("select service, sealed from service_tokens where username = $1", username)
    return {r["service"]: unseal(token_key, username, r["sealed"]) for r in rows}


async def record_attempt(conn: Conn, username: str, client: str, ok: bool) -> None:
    await conn.execute(
        "insert into login_attempts (username, client, succeeded) values ($1, $2, $3)", username, client, ok
    )


async def account_failures_since(conn: Conn, username: str, client: str, since: datetime) -> int:
    """Failed attempts at this username from this address since then, and since its last success from there."""
    count = await conn.fetchval(
        "select count(*) from login_attempts where username = $1 and client = $2 and not succeeded"
        " and at >= greatest($3, (select max(at) from login_attempts"
        " where username = $1 and client = $2 and succeeded))",
        username,
        client,
        since,
    )
    return int(count)


async def client_failures_since(conn: Conn, client: str, since: datetime) -> int:
    """Failed attempts from this address since then, whichever usernames."""
    count = await conn.fetchval(
        "select count(*) from login_attempts where client = $1 and not succeeded and at >= $2", client, since
    )
    return int(count)


async def set_password_hash(conn: Conn, username: str, password_hash: str) -> None:
    await conn.execute("update operators set password_hash = $2 where username = $1", username, password_hash)


async def end_sessions(conn: Conn, username: str, but: str | None = None) -> int:
    """Every session of the operator ended (all but the session `but`, a hash): how many. Ended, not deleted: a form
    sent from one of them is still known as hers and kept for her, as a lapsed session's (deleted, the desk could not
    tell whose it was, and the note written in it was lost without a word); `forget_lapsed` deletes them a day on."""
    status = await conn.execute(
        "update sessions set expires_at = now() where username = $1 and session_hash is distinct from $2"
        " and expires_at > now()",
        username,
        but,
    )
    return int(status.split()[-1])


async def deactivate(conn: Conn, username: str) -> bool:
    """The operator deactivated, her sessions ended and her kept form forgotten (her service tokens stay sealed here,
    to be revoked on the services). False if no active operator has that username."""
    done = await conn.fetchval(
        "update operators set deactivated_at = now() where username = $1 and deactivated_at is null returning username",
        username,
    )
    if done is None:
        return False
    # deleted, not only ended: nothing is kept any more for an operator who has left
    await conn.execute("delete from sessions where username = $1", username)
    await conn.execute("delete from kept_forms where username = $1", username)
    return True


async def rename(conn: Conn, username: str, display_name: str) -> str | None:
    """The operator's display name changed, the one before kept with when it ended (`operator_names`); her previous
    name, or None if no active operator has that username. Nothing else of her changes."""
    previous = await conn.fetchval(
        "select display_name from operators where username = $1 and deactivated_at is null for update", username
    )
    if previous is None:
        return None
    await conn.execute("update operators set display_name = $2 where username = $1", username, display_name)
    await conn.execute("insert into operator_names (username, display_name) values ($1, $2)", username, previous)
    return str(previous)


async def new_session(conn: Conn, session_hash: str, username: str, csrf: str, expires_at: datetime) -> None:
    await conn.execute(
        "insert into sessions (session_hash, username, csrf_token, expires_at) values ($1, $2, $3, $4)",
        session_hash,
        username,
        csrf,
        expires_at,
    )


async def session(conn: Conn, session_hash: str, idle_minutes: int) -> tuple[Operator, str] | None:
    """The live session's operator and CSRF token, its last page now; None past its end or `idle_minutes` idle."""
    row = await conn.fetchrow(
        "update sessions s set seen_at = now() from operators o where s.session_hash = $1 and o.username = s.username"
        " and o.deactivated_at is null and s.expires_at > now() and s.seen_at > now() - make_interval(mins => $2)"
        " returning o.*, s.csrf_token",
        session_hash,
        idle_minutes,
    )
    return None if row is None else (_operator(row), row["csrf_token"])


async def lapsed_session(conn: Conn, session_hash: str) -> str | None:
    """The operator of a session the desk still holds, live or not (a lapsed one's form is kept for her)."""
    username: str | None = await conn.fetchval("select username from sessions where session_hash = $1", session_hash)
    return username


async def forget_lapsed(conn: Conn, kept_minutes: int) -> None:
    """Sessions ended a day ago and more (nobody's form is kept for them any more), and the forms kept longer than
    `kept_minutes`, which will not be given back (what they hold is not kept longer than it serves)."""
    await conn.execute("delete from sessions where expires_at < now() - interval '1 day'")
    await conn.execute("delete from kept_forms where kept_at < now() - make_interval(mins => $1)", kept_minutes)


async def keep_form(conn: Conn, username: str, path: str, anchor: str | None, sealed: bytes) -> None:
    await conn.execute(
        "insert into kept_forms (username, path, anchor, sealed) values ($1, $2, $3, $4) on conflict (username)"
        " do update set path = excluded.path, anchor = excluded.anchor, sealed = excluded.sealed, kept_at = now()",
        username,
        path,
        anchor,
        sealed,
    )


async def kept_form_page(conn: Conn, username: str, minutes: int) -> tuple[str, str | None] | None:
    """(the page, the section of its form) of the operator's form kept, if it is still in time."""
    row = await conn.fetchrow(
        "select path, anchor from kept_forms where username = $1 and kept_at > now() - make_interval(mins => $2)",
        username,
        minutes,
    )
    return None if row is None else (row["path"], row["anchor"])


async def take_kept_form(conn: Conn, username: str, path: str, minutes: int) -> bytes | None:
    """The operator's form kept for this page, once (gone, whether still in time or not)."""
    row = await conn.fetchrow(
        "delete from kept_forms where username = $1 and path = $2 returning sealed,"
        " kept_at > now() - make_interval(mins => $3) as in_time",
        username,
        path,
        minutes,
    )
    return row["sealed"] if row is not None and row["in_time"] else None


async def end_session(conn: Conn, session_hash: str) -> None:
    await conn.execute("delete from sessions where session_hash = $1", session_hash)


async def log_access(conn: Conn, op: Operator, person_id: str, purpose: str, action: str, outcome: str) -> None:
    await conn.execute(
        "insert into access_log (operator, city, person_id, purpose, action, outcome) values ($1, $2, $3, $4, $5, $6)",
        op.username,
        op.city,
        person_id,
        purpose,
        action,
        outcome,
    )


async def log_erasure(conn: Conn, op: Operator, subject_id: str, purpose: str, action: str) -> None:
    """The erasure of a subject (`action`: `erasure`, `street person erasure`), once: the form sent again (intake
    answers it as the first time) adds no second entry."""
    await conn.execute(
        "insert into access_log (operator, city, person_id, purpose, action, outcome)"
        " values ($1, $2, $3, $4, $5, 'erased')"
        " on conflict (person_id, action) where outcome = 'erased' do nothing",
        op.username,
        op.city,
        subject_id,
        purpose,
        action,
    )


async def log_view(conn: Conn, op: Operator, person_ids: list[str], purpose: str, action: str, outcome: str) -> None:
    """One entry for a view naming several persons (the agenda, the to-do list, the civic register): each person is
    in `persons`, so the DPO's filter by person finds it."""
    if person_ids:
        await conn.execute(
            "insert into access_log (operator, city, person_id, persons, purpose, action, outcome)"
            " values ($1, $2, $3, $4, $5, $6, $7)",
            op.username,
            op.city,
            person_ids[0],
            person_ids,
            purpose,
            action,
            outcome,
        )


async def log_export(conn: Conn, op: Operator, action: str, outcome: str) -> None:
    """A file of many persons' data taken out of the services (a SEPA file: the payees' names and IBANs), which names
    no person the desk knows: found by the DPO's list of the city, not by her filter by person."""
    await conn.execute(
        "insert into access_log (operator, city, person_id, persons, purpose, action, outcome)"
        " values ($1, $2, '', '{}', 'payments_office', $3, $4)",
        op.username,
        op.city,
        action,
        outcome,
    )


async def access_entries(
    conn: Conn,
    city: str,
    person_id: str | None = None,
    limit: int = 500,
    since: datetime | None = None,
    before: datetime | None = None,
    operator: str | None = None,
) -> list[dict[str, Any]]:
    # `operator`: her entries only (the DPO's "what did this operator look at?").
    # About one person: the entries of the DPO's city, and another city's operators' refused attempts on a person her
    # city's operators were shown (such an attempt is logged with that operator's city: the desk cannot know the
    # person's city when the service refuses to tell). Every city's entries about the id let Trieste's DPO read who
    # at Torino's desk opened a Torino person's cartella, when and why (a DPO's review).
    args: list[Any] = [person_id or city]
    about = "(person_id = $1 or persons @> array[$1])"
    if person_id:
        args.append(city)
        who = (
            f"{about} and (city = $2 or outcome = 'denied' and exists(select 1 from access_log o"
            " where (o.person_id = $1 or o.persons @> array[$1]) and o.city = $2 and o.outcome = 'shown'))"
        )
    else:
        who = "city = $1"
    where = where_given(who, args, [("operator = {}", operator), ("at >= {}", since), ("at < {}", before)])
    rows = await conn.fetch(
        f"select * from access_log where {where} order by at desc, entry_id desc limit {int(limit)}", *args
    )
    return [dict(r) for r in rows]


async def purge(conn: Conn, access_before: datetime, attempts_before: datetime) -> tuple[int, int]:
    """Delete the access log's entries and the login attempts older than their retention; how many of each. The forms
    kept past their hour and the sessions ended a day ago go too (`forget_lapsed`): they were forgotten only at a
    login, and a form holds what was typed of a person (a note, a payee's IBAN)."""
    await forget_lapsed(conn, KEPT_MINUTES)
    entries = await conn.execute("delete from access_log where at < $1", access_before)
    attempts = await conn.execute("delete from login_attempts where at < $1", attempts_before)
    return int(entries.split()[-1]), int(attempts.split()[-1])
