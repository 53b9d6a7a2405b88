"""`lgnet-desk-admin`: provision the desk's operators.

    lgnet-desk-admin add-operator maria --name "Maria Rossi" --role staff --city torino   (password from stdin)
    lgnet-desk-admin add-operator luca --name "Luca Bianchi" --role partner --city torino --partner coop-aurora
    lgnet-desk-admin add-operator dpo --name "RPD Torino" --role dpo --city torino
    lgnet-desk-admin purge [--days 730] [--login-days 90]   (daily, from cron: the retention of the desk's logs)
    lgnet-desk-admin deactivate-operator maria   (she left: no login, her sessions end, her tokens revoked)
    lgnet-desk-admin set-password maria   (a forgotten or seen password; new one from stdin; her sessions end)
    lgnet-desk-admin rename-operator maria --name "Maria Rossi Verdi"   (her name corrected; username and role stay)
    lgnet-desk-admin give-services maria   (her token on a service the city runs now: LGNET_DESK_SERVICES)
    lgnet-desk-admin give-services --all   (every operator's who may log in)
    lgnet-desk-admin history [--limit 50] [--json]   (who changed what with these commands, latest first)

Every change is recorded in the desk's `admin_actions` with who ran it: `--by NAME` (before or after the command), else
LGNET_ADMIN_BY, else the OS login (docs/operators.md, "Who ran which admin command"); the DPO reads them on
"Operatori dello sportello".

The DPO has no identity on the services; to read intake's and housing's read logs and payments' download log of its
SEPA files beside the desk's access log, her operator keeps the city's read-log token of each
(`lgnet-admin --schema intake issue-read-log-token --city torino --name "RPD Torino"`, and `--schema housing`,
`--schema payments`), given in LGNET_DESK_READ_LOG_TOKEN (intake's), LGNET_DESK_HOUSING_READ_LOG_TOKEN and
LGNET_DESK_PAYMENTS_READ_LOG_TOKEN when she is added (or later: `set-read-log-token <username> [--service housing|
payments]`, the token from stdin).

Each staff or partner operator gets a token on each service the city runs (LGNET_DESK_SERVICES, default intake, housing
and payments: a service not run has no schema, and no token is issued there, nor a DPO's read-log token kept), issued
with lgnet-admin's code (`lgnet_shared.actors`) in each service's schema: a staff operator as their own staff actor,
drawn when she is added (`desk.op-` and 12 random hex digits: it travels in clear in every fact she causes, so nothing
of her username is in it) and stored with her (one added before migration desk-7 keeps `desk.<username>`), a partner's
operator as the partner's actor (created if the service does not know it yet). Each staff or partner operator also gets
her own operator code (`op-` and 12 random hex digits), which names her to the services as an appointment's operator,
an outing's staff or a session's facilitator, never her username (one added before migration desk-9 keeps her username
as her code). The tokens are sealed in the desk's
schema with a key derived from LGNET_MASTER_KEY. Each service's schema must belong to a deployment of the operator's
city (its `deployment_identity`), or to the one `--deployment` (LGNET_DEPLOYMENT) names — a national deployment serving
every city: another deployment's schema is refused, naming it and the `--<service>-schema` flag, before anything is
written. Needs DATABASE_URL (the services' and the desk's database) and
LGNET_MASTER_KEY, like the desk itself."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import secrets
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
from lgnet_shared import actors, admin_actions, clock, config, db, read_log_readers, runtime_schema, setup_errors
from lgnet_shared import admin as shared_admin
from lgnet_shared.access import Role
from lgnet_shared.admin import days as whole_days
from lgnet_shared.errors import Conflict, ContractError

from lgnet_desk.adapters import store
from lgnet_desk.adapters.schema import MIGRATIONS
from lgnet_desk.domain.operators import (
    SERVICES,
    Operator,
    OperatorRole,
    check_new_operator,
    check_password,
    drawn,
)
from lgnet_desk.entrypoints.web import _token_key
from lgnet_desk.service_layer.access_log import READ_LOGS
from lgnet_desk.service_layer.login import HASHER
from lgnet_desk.settings import DeskSettings

T = TypeVar("T")
# LGNET_DESK_READ_LOG_TOKEN (intake's, the first), LGNET_DESK_HOUSING_READ_LOG_TOKEN, LGNET_DESK_PAYMENTS_READ_LOG_TOKEN
READ_LOG_ENV = {"intake": "", "housing": "HOUSING_", "payments": "PAYMENTS_"}
PROG = "lgnet-desk-admin"


def recorded(conn: Any, by: str | None, command: str, target: str) -> Any:
    """The command's change and its record in the desk's `admin_actions`, one transaction (lgnet_shared.admin_actions):
    who ran it (`by`; None: LGNET_ADMIN_BY, else the OS login), on which operator's username, its outcome."""
    return admin_actions.recorded(conn, admin_actions.who(by), PROG, command, target)


def _on(what: str, tokens: Mapping[str, str]) -> str:
    """`{what} intake, housing`: the services whose tokens a change touched (never a token), or "" for none."""
    services = sorted({key.removesuffix("-read-log") for key in tokens})
    return f"{what} {', '.join(services)}" if services else ""


async def history(settings: DeskSettings, args: argparse.Namespace) -> str:
    """`history`: the desk's recorded admin actions, latest first (read-only)."""
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn:
            return await shared_admin.history(conn, args)
    finally:
        await pool.close()


async def desk_pool(settings: DeskSettings) -> Any:
    """The desk's schema, migrated; refused first (LGNET_DB_SCHEMA named, nothing written) when it holds another
    program's tables: the desk's migrations ran into intake's schema."""
    return await runtime_schema.pool_of(settings.database_url, settings.db_schema, "desk", migrations=MIGRATIONS)


async def service_pool(settings: DeskSettings, service: str, schema: str) -> Any:
    """`service`'s schema (`--<service>-schema`: one that is not there, or holds another's tables, refused naming the
    flag): an operator's actor and token on housing were made among intake's tables. Its record of admin actions made
    if the service has not yet (it makes it at its start)."""
    return await runtime_schema.pool_of(
        settings.database_url, schema, service, f"--{service}-schema", [admin_actions.MIGRATION], create=False
    )


async def add_operator(
    settings: DeskSettings,
    op: Operator,
    password: str,
    schemas: dict[str, str],
    partner_name: str | None = None,
    read_log_tokens: Mapping[str, str] | None = None,
    deployment: str | None = None,
    by: str | None = None,
) -> Operator:
    """`read_log_tokens`: the DPO's read-log tokens by service (`intake`, `payments`; the DPO's only: ignored for
    anyone else). `deployment`: the one whose schemas get her actor (None: one of her city; `check_owners`). The
    operator as stored: with the actor (staff) and the code (who keeps an agenda) the desk drew."""
    check_new_operator(op.role, op.partner, op.username)
    check_password(password)
    op = drawn(op, secrets.token_hex)  # her actor (staff) and her code, nothing of her username
    # a service the city does not run has no schema: nothing issued there
    pool = await desk_pool(settings)  # refused before any token is issued when it is another program's schema
    try:
        async with pool.acquire() as conn:  # before her actor and tokens exist on any service
            if await store.operator(conn, op.username) is not None:
                raise ContractError("username", f"{op.username} is already an operator (one who left keeps hers)")
        tokens = await _service_tokens(
            settings, op, schemas, settings.services, partner_name, read_log_tokens, deployment, by
        )
        async with pool.acquire() as conn, recorded(conn, by, "add-operator", op.username) as action:
            await store.add_operator(conn, op, HASHER.hash(password), tokens, _token_key(settings))
            action.outcome = f"added {op.role.value} of {op.city}" + _on("; tokens on", tokens)
    finally:
        await pool.close()
    return op


async def _service_tokens(
    settings: DeskSettings,
    op: Operator,
    schemas: dict[str, str],
    services: tuple[str, ...] | list[str],
    partner_name: str | None = None,
    read_log_tokens: Mapping[str, str] | None = None,
    deployment: str | None = None,
    by: str | None = None,
    command: str = "add-operator",
) -> dict[str, str]:
    """The operator's tokens on `services`, by the name the desk keeps them under: a staff or partner operator's actor
    and a token in each one's schema (lgnet-admin's code), recorded there as `command` by `by` on the actor; a DPO's
    read-log tokens given of those."""
    tokens: dict[str, str] = {}
    if op.role is OperatorRole.DPO:
        given = (read_log_tokens or {}).items()
        tokens |= {READ_LOGS[service]: token for service, token in given if token and service in services}
    actor = op.service_actor
    if actor is not None:
        role = Role.PARTNER if op.role is OperatorRole.PARTNER else Role.STAFF
        await check_owners(settings.database_url, op.city, deployment, {s: schemas[s] for s in services})
        pools: dict[str, Any] = {}
        try:
            for service in services:  # every schema checked before an actor is made in any
                pools[service] = await service_pool(settings, service, schemas[service])
            for service, pool in pools.items():
                async with pool.acquire() as conn, recorded(conn, by, command, actor) as action:
                    action.outcome = "actor added, token issued"
                    try:
                        await actors.add_actor(conn, actor, role, op.city, op.service_actor_name(partner_name))
                    except Conflict:  # the partner's actor exists already: one more token for it
                        action.outcome = "token issued"
                    tokens[service] = await actors.issue_token(conn, actor)
        finally:
            for pool in pools.values():
                await pool.close()
    return tokens


async def check_owners(database_url: str, city: str, deployment: str | None, schemas: Mapping[str, str]) -> None:
    """Before any actor is made: each schema belongs to a deployment serving her city, or to the one `deployment`
    names (a national deployment serving every city, on purpose). The default schema names (`intake`, `housing`) are
    the national demo's: a Bologna operator added without --intake-schema got a staff actor and tokens in the national
    deployment's schemas of a shared database."""
    conn = await asyncpg.connect(database_url)
    try:
        for service, schema in schemas.items():
            owner = await actors.schema_owner(conn, schema)
            actors.check_party_owner(schema, owner, city, deployment, f"--{service}-schema")
    finally:
        await conn.close()


async def give_services(
    settings: DeskSettings,
    username: str,
    schemas: dict[str, str],
    read_log_tokens: Mapping[str, str] | None = None,
    deployment: str | None = None,
    by: str | None = None,
) -> list[str]:
    """An operator added before the city ran a service of LGNET_DESK_SERVICES (payments started later): her token on
    each such service she has none on yet (a DPO: the read-log tokens given of those). The services given, sorted."""
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn:
            found = await store.operator(conn, username)
            if found is None:
                raise ValueError(f"username: no operator {username} (or deactivated)")
            held = {key.removesuffix("-read-log") for key in await store.tokens(conn, username, _token_key(settings))}
        op = found[0]
        missing = [s for s in settings.services if s not in held]
        tokens = await _service_tokens(
            settings, op, schemas, missing, None, read_log_tokens, deployment, by, "give-services"
        )
        async with pool.acquire() as conn, recorded(conn, by, "give-services", username) as action:
            for key, token in tokens.items():
                await store.set_token(conn, username, key, token, _token_key(settings))
            action.outcome = "tokens given" + (_on(" on", tokens) or " on none")
        return sorted(key.removesuffix("-read-log") for key in tokens)
    finally:
        await pool.close()


async def operators(settings: DeskSettings) -> list[str]:
    """The usernames of every operator who may log in."""
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn:
            return await store.active_usernames(conn)
    finally:
        await pool.close()


@dataclass(frozen=True)
class Deactivation:
    revoked: list[str]  # the services where a token of hers was revoked, sorted
    without_schema: list[str]  # services she had a token on whose schema is gone (the city stopped them): nothing left


async def deactivate_operator(
    settings: DeskSettings, username: str, schemas: dict[str, str], by: str | None = None
) -> Deactivation:
    """An operator who left: deactivated in the desk (no login; her sessions end at once), then her tokens revoked on
    each service — a staff operator's actor's every token, a cooperative's operator's own token only (her colleagues
    use the same actor), a DPO's read-log tokens. Run again, it revokes what a failed run left. A service whose schema
    was dropped (the city no longer runs it) holds no token to revoke: named, not a stop before the others."""
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn, recorded(conn, by, "deactivate-operator", username) as action:
            found = await store.any_operator(conn, username)
            if found is None:
                raise ValueError(f"username: no operator {username}")
            await store.deactivate(conn, username)
            tokens = await store.tokens(conn, username, _token_key(settings))
            action.outcome = "deactivated, sessions ended" + _on("; revoking her tokens on", tokens)  # next
    finally:
        await pool.close()
    op, revoked, gone = found[0], set(), set()
    for key, token in tokens.items():
        service = key.removesuffix("-read-log")
        target = f"read-log of {op.city}" if key != service else op.service_actor or str(op.partner)
        async with _in_service(settings, service, schemas[service], by, "deactivate-operator", target) as there:
            if there is None:
                gone.add(service)
                continue
            conn, action = there
            if key != service:
                n = int(await read_log_readers.revoke_reader_token(conn, token))
            elif op.role is OperatorRole.STAFF and op.service_actor:
                n = await actors.revoke_tokens(conn, op.service_actor)
            else:
                n = int(await actors.revoke_token(conn, token))
            action.outcome = f"revoked {n} {'read-log ' if key != service else ''}token(s)"
            done = n > 0
        if done:
            revoked.add(service)
    return Deactivation(sorted(revoked), sorted(gone))


@contextlib.asynccontextmanager
async def _in_service(
    settings: DeskSettings, service: str, schema: str, by: str | None, command: str, target: str
) -> AsyncIterator[tuple[Any, admin_actions.Action] | None]:
    """A connection to `service`'s schema in a transaction (committed on leaving) that records there `command` by `by`
    on `target` (the caller sets the outcome); None when the schema is gone (the city no longer runs the service):
    nothing of an operator's is left there."""
    if not await db.schema_exists(settings.database_url, schema):
        yield None
        return
    pool = await service_pool(settings, service, schema)
    try:
        async with pool.acquire() as conn, recorded(conn, by, command, target) as action:
            yield conn, action
    finally:
        await pool.close()


async def set_password(settings: DeskSettings, username: str, password: str, by: str | None = None) -> int:
    """A new password set by IT (one forgotten, or seen): the old one stops working and her sessions end (how
    many). The rule is the one of a new operator's password."""
    check_password(password)
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn, recorded(conn, by, "set-password", username) as action:
            if await store.operator(conn, username) is None:
                raise ValueError(f"username: no operator {username} (or deactivated)")
            await store.set_password_hash(conn, username, HASHER.hash(password))
            ended = await store.end_sessions(conn, username)
            action.outcome = f"password set, {ended} session(s) ended"
        return ended
    finally:
        await pool.close()


@dataclass(frozen=True)
class Renaming:
    previous: str  # her name until now
    renamed: list[str]  # the services where her staff actor is now named so, sorted
    without_schema: list[str]  # services whose schema is gone (the city stopped them): nothing to rename there


async def rename_operator(
    settings: DeskSettings, username: str, name: str, schemas: dict[str, str], by: str | None = None
) -> Renaming:
    """Her display name corrected (misspelt, or changed by marriage), the one before kept with when it ended; nothing
    else changes (username, role, actor, code: what the access log and the services' facts name her by). A staff
    operator's actor is hers, so each service's access review names it anew; a cooperative's operator acts as the
    cooperative, whose actor keeps its name. Run again with the same name, nothing is recorded twice."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("name: an operator's name cannot be blank")
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn, recorded(conn, by, "rename-operator", username) as action:
            found = await store.operator(conn, username)
            if found is None:
                raise ValueError(f"username: no operator {username} (or deactivated)")
            op = found[0]
            previous = op.display_name
            action.outcome = "renamed" if previous != name else "the same name: unchanged"  # the names stay out
            if previous != name:
                await store.rename(conn, username, name)
    finally:
        await pool.close()
    renamed, gone = set(), set()
    if op.role is OperatorRole.STAFF and op.service_actor:
        for service, schema in schemas.items():
            async with _in_service(settings, service, schema, by, "rename-operator", op.service_actor) as there:
                if there is None:
                    gone.add(service)
                    continue
                conn, action = there
                action.outcome = "actor's name unchanged"  # the names stay out
                if await actors.rename_actor(conn, op.service_actor, name):
                    action.outcome = "actor renamed"
                    renamed.add(service)
    return Renaming(previous, sorted(renamed), sorted(gone))


async def purge(settings: DeskSettings, days: int, login_days: int, by: str | None = None) -> tuple[int, int]:
    """The access log's entries older than `days` and the login attempts older than `login_days`, deleted."""
    pool = await desk_pool(settings)
    try:
        now = clock.now()
        async with pool.acquire() as conn, recorded(conn, by, "purge", "access log and login attempts") as action:
            entries, attempts = await store.purge(conn, now - timedelta(days=days), now - timedelta(days=login_days))
            action.outcome = (
                f"deleted {entries} access log entries older than {days} days, {attempts} login attempts older than"
                f" {login_days} days"
            )
        return entries, attempts
    finally:
        await pool.close()


async def set_read_log_token(
    settings: DeskSettings, username: str, token: str, service: str = "intake", by: str | None = None
) -> None:
    pool = await desk_pool(settings)
    try:
        async with pool.acquire() as conn, recorded(conn, by, "set-read-log-token", username) as action:
            found = await store.operator(conn, username)
            if found is None or not found[0].reads_access_log:
                raise ValueError(f"username: {username} is no DPO of the desk")
            await store.set_token(conn, username, READ_LOGS[service], token, _token_key(settings))
            action.outcome = f"read-log token of {service} set"
    finally:
        await pool.close()


def _run(settings: DeskSettings, work: Coroutine[Any, Any, T]) -> T | None:
    """A command's work; its refusal (a username, PostgreSQL not answering) said in one line: None."""
    try:
        with setup_errors.database(settings.database_url):
            return asyncio.run(work)
    except (setup_errors.SetupError, ValueError) as e:
        print(f"lgnet-desk-admin: {e}", file=sys.stderr)
        return None


def _password() -> str:
    """LGNET_DESK_PASSWORD, else asked at a terminal, else stdin's first line."""
    return os.environ.get("LGNET_DESK_PASSWORD") or (
        getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lgnet-desk-admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add-operator")
    a.add_argument("username")
    a.add_argument("--name", required=True)
    a.add_argument("--role", required=True, choices=[r.value for r in OperatorRole])
    a.add_argument("--city", required=True)
    a.add_argument("--partner")
    a.add_argument("--partner-name", help="the cooperative's name, when its first operator is added (default: its id)")
    d = sub.add_parser("deactivate-operator", help="an operator who left: no login, sessions ended, tokens revoked")
    d.add_argument("username")
    rn = sub.add_parser("rename-operator", help="an operator's name corrected: username and role stay")
    rn.add_argument("username")
    rn.add_argument("--name", required=True)
    g = sub.add_parser("give-services", help="an operator's tokens on the services of LGNET_DESK_SERVICES she lacks")
    g.add_argument("username", nargs="?")
    g.add_argument("--all", action="store_true", help="every operator who may log in (a service the city started)")
    for command in (a, d, g, rn):
        for s in SERVICES:
            command.add_argument(f"--{s}-schema", default=s)
    for command in (a, g):
        command.add_argument(
            "--deployment",
            default=os.environ.get("LGNET_DEPLOYMENT") or None,
            help="the deployment whose schemas get her actor (default: LGNET_DEPLOYMENT; unset, one of her city):"
            " a schema another deployment owns is refused; name a national one (`national`) on purpose",
        )
    sp = sub.add_parser("set-password", help="a new password for an operator (from stdin): her sessions end")
    sp.add_argument("username")
    rl = sub.add_parser("set-read-log-token", help="the DPO's read-log token of a service, from stdin")
    rl.add_argument("username")
    rl.add_argument("--service", choices=list(READ_LOGS), default="intake")
    pg = sub.add_parser("purge", help="delete the access log's entries and login attempts past their retention")
    pg.add_argument("--days", type=whole_days, default=730, help="the access log's retention in days (default 730)")
    pg.add_argument(
        "--login-days", type=whole_days, default=90, help="the login attempts' retention in days (default 90)"
    )
    admin_actions.add_history_command(sub, "the desk's schema")
    admin_actions.add_by_option(parser, sub)
    args = parser.parse_args(argv)
    try:
        settings = config.load_as(DeskSettings)
        by = admin_actions.who(args.by)
    except config.ConfigError as e:
        print(f"lgnet-desk-admin: {e.code}", file=sys.stderr)
        return 2
    except ValueError as e:  # a blank --by
        print(f"lgnet-desk-admin: {e}", file=sys.stderr)
        return 2
    if args.command == "history":
        listed = _run(settings, history(settings, args))
        if listed is None:
            return 1
        print(listed)
        return 0
    if args.command == "purge":
        try:
            with setup_errors.database(settings.database_url):
                entries, attempts = asyncio.run(purge(settings, args.days, args.login_days, by))
        except setup_errors.SetupError as e:
            print(f"lgnet-desk-admin: {e}", file=sys.stderr)
            return 2
        print(f"deleted {entries} access log entries older than {args.days} days, {attempts} login attempts older"
              f" than {args.login_days} days")  # fmt: skip
        return 0
    if args.command == "set-read-log-token":
        token = sys.stdin.readline().strip()
        try:
            asyncio.run(set_read_log_token(settings, args.username, token, args.service, by))
        except ValueError as e:
            print(f"lgnet-desk-admin: {e}", file=sys.stderr)
            return 1
        print(f"read-log token of {args.username} on {args.service} set")
        return 0
    if args.command == "deactivate-operator":
        schemas = {s: getattr(args, f"{s}_schema") for s in SERVICES}
        done = _run(settings, deactivate_operator(settings, args.username, schemas, by))
        if done is None:
            return 1
        where = ", ".join(done.revoked) or "none"
        print(f"operator {args.username} deactivated, her sessions ended; tokens revoked on: {where}")
        if done.without_schema:
            print(f"no schema any more (nothing to revoke): {', '.join(done.without_schema)}")
        return 0
    if args.command == "rename-operator":
        schemas = {s: getattr(args, f"{s}_schema") for s in settings.services}
        named = _run(settings, rename_operator(settings, args.username, args.name, schemas, by))
        if named is None:
            return 1
        # the names stay out of the output: an operator's name is personal data, and this output ends up in logs
        print(f"operator {args.username} renamed; her actor renamed on: {', '.join(named.renamed) or 'none'}")
        if named.without_schema:
            print(f"no schema any more (nothing to rename): {', '.join(named.without_schema)}")
        return 0
    readers = {s: os.environ.get(f"LGNET_DESK_{pre}READ_LOG_TOKEN", "") for s, pre in READ_LOG_ENV.items()}
    if args.command == "give-services":
        schemas = {s: getattr(args, f"{s}_schema") for s in SERVICES}
        if args.all == bool(args.username):
            print("lgnet-desk-admin: give-services: a username or --all", file=sys.stderr)
            return 2
        usernames = _run(settings, operators(settings)) if args.all else [args.username]
        if usernames is None:
            return 1
        for username in usernames:
            given = _run(settings, give_services(settings, username, schemas, readers, args.deployment, by))
            if given is None:
                return 1
            print(f"{username}: tokens given on {', '.join(given) or 'none'}")
        return 0
    password = _password()
    if args.command == "set-password":
        ended = _run(settings, set_password(settings, args.username, password, by))
        if ended is None:
            return 1
        print(f"password of {args.username} set; {ended} session(s) ended")
        return 0
    op = Operator(args.username, args.name, OperatorRole(args.role), args.city, args.partner)
    schemas = {s: getattr(args, f"{s}_schema") for s in SERVICES}
    try:
        with setup_errors.database(settings.database_url):
            op = asyncio.run(
                add_operator(settings, op, password, schemas, args.partner_name, readers, args.deployment, by)
            )
    except setup_errors.SetupError as e:  # PostgreSQL not answering or refusing: DATABASE_URL named
        print(f"lgnet-desk-admin: {e}", file=sys.stderr)
        return 1
    except (ValueError, Conflict) as e:
        print(f"lgnet-desk-admin: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # e.g. the operator exists already (unique violation): no traceback for an operator
        print(f"lgnet-desk-admin: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(
        f"operator {op.username} added ({op.role.value}, {op.city}; service actor: {op.service_actor or 'none'};"
        f" operator code: {op.code or 'none'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
