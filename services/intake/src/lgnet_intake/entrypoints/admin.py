"""`lgnet-intake-admin`: provision who may use intake. Reads DATABASE_URL and LGNET_DB_SCHEMA (default intake).

lgnet-intake-admin add-actor coop-aurora --role partner --city torino --name "Cooperativa Aurora"
lgnet-intake-admin issue-token coop-aurora            # prints the API token once
lgnet-intake-admin add-signing-key coop-aurora-2026 coop-aurora <base64 Ed25519 public key>  # raw 32 bytes
lgnet-intake-admin rotate-inbound-key [--now]        # the inbound key's schedule (cron); --now retires it at once
lgnet-intake-admin issue-read-log-token --city torino --name "RPD Torino"  # the DPO's: opens GET /read-log only
lgnet-intake-admin revoke-read-log-tokens --city torino
lgnet-intake-admin purge-read-log [--days 730]       # entries older than the retention (cron, daily)
lgnet-intake-admin history [--limit 50] [--json]     # who changed what with these commands, latest first

Every change is recorded in intake's `admin_actions` with who ran it: `--by NAME` (before or after the command), else
LGNET_ADMIN_BY, else the OS login (docs/operators.md, "Who ran which admin command").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import os
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
from lgnet_shared import admin as shared_admin
from lgnet_shared import admin_actions, db, read_log_readers, setup_errors
from lgnet_shared.admin import days as whole_days
from lgnet_shared.errors import ContractError
from lgnet_shared.runtime_schema import all_migrations, pool_of

from lgnet_intake import settings
from lgnet_intake.adapters import credentials, diary, read_log
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_intake.domain.access import Role

PROG = "lgnet-intake-admin"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise ContractError("DATABASE_URL", "not set (postgresql://user:password@host/db)")
    return url


def public_key_bytes(value: str, field: str = "public_key") -> bytes:
    """Base64 of the raw 32-byte key, standard or URL-safe alphabet, padded or not."""
    standard = value.strip().translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ContractError(field, "not base64") from None


async def run(args: argparse.Namespace) -> str:
    url = database_url()
    public = public_key_bytes(args.public_key) if args.command == "add-signing-key" else b""
    schema = os.environ.get("LGNET_DB_SCHEMA", "intake")
    if not await db.schema_exists(url, schema):  # provisioning before intake's first start, or a mistyped name
        print(
            f"{PROG}: schema {schema!r} did not exist: made, with intake's tables (intake uses it when started with"
            f" LGNET_DB_SCHEMA={schema})",
            file=sys.stderr,
        )
    # The whole schema as the service makes it (an IT team may provision before intake first starts), as main's SPEC;
    # refused, as the service's start is, when it holds another service's tables.
    own = all_migrations([*MIGRATIONS, *diary.MIGRATIONS, *read_log.MIGRATIONS])
    pool = await pool_of(url, schema, "intake", migrations=own)
    try:
        async with pool.acquire() as conn:
            if args.command == "history":
                return await shared_admin.history(conn, args)
            async with admin_actions.recorded(conn, args.by, PROG, args.command, target_of(args)) as action:
                said, action.outcome = await change(conn, args, public)
                return said
    finally:
        await pool.close()


def target_of(args: argparse.Namespace) -> str:
    """What a command acts on, for the record: an actor's id, a key's, a city's read log (never a key or a name)."""
    if args.command in ("add-actor", "issue-token"):
        return str(args.actor_id)
    if args.command == "add-signing-key":
        return f"{args.key_id} of {args.actor_id}"
    if args.command == "rotate-inbound-key":
        return "inbound key"
    if args.command == "purge-read-log":
        return "read log"
    return f"read-log of {args.city}"


async def change(conn: asyncpg.Connection, args: argparse.Namespace, public: bytes) -> tuple[str, str]:
    """The command's change: what it prints, and its outcome for the record (never the token it prints)."""
    if args.command == "add-actor":
        await credentials.add_actor(conn, args.actor_id, Role(args.role), args.city, args.name or args.actor_id)
        return f"added {args.role} {args.actor_id}", f"added {args.role}" + (f" of {args.city}" if args.city else "")
    if args.command == "issue-token":
        return await credentials.issue_token(conn, args.actor_id), "token issued"
    if args.command == "issue-read-log-token":
        return await read_log_readers.issue_reader_token(conn, args.city, args.name), "read-log token issued"
    if args.command == "revoke-read-log-tokens":
        said = f"revoked {await read_log_readers.revoke_reader_tokens(conn, args.city)}"
        return said, f"{said} read-log token(s)"
    if args.command == "purge-read-log":
        before = datetime.now(UTC) - timedelta(days=args.days)
        deleted = await read_log_readers.purge(conn, before)
        said = f"deleted {deleted} entries before {before.date().isoformat()}"
        return said, said
    if args.command == "rotate-inbound-key":
        retired = await credentials.retire_inbound_key(conn) if args.now else []
        destroyed = await credentials.rotate_inbound_keys(conn, settings.inbound_key_policy())
        said = f"retired {retired or 'none'}; destroyed {destroyed or 'none'}"
        return said, said
    await credentials.add_signing_key(conn, args.key_id, args.actor_id, public)
    return f"added signing key {args.key_id} for {args.actor_id}", "signing key added"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add-actor")
    a.add_argument("actor_id")
    # Not the auditor: it reads reporting's reports only, and intake refuses its token on every route.
    a.add_argument("--role", choices=[r.value for r in Role if r is not Role.AUDITOR], required=True)
    a.add_argument("--city")
    a.add_argument("--name")
    t = sub.add_parser("issue-token")
    t.add_argument("actor_id")
    k = sub.add_parser("add-signing-key")
    k.add_argument("key_id")
    k.add_argument("actor_id")
    k.add_argument("public_key", help="base64 of the 32-byte Ed25519 public key")
    r = sub.add_parser("rotate-inbound-key", help="retire the inbound key when due, destroy those past their grace")
    r.add_argument("--now", action="store_true", help="retire the current key now, whatever its age")
    rl = sub.add_parser("issue-read-log-token", help="a token for the city's DPO: it opens GET /read-log only")
    rl.add_argument("--city", required=True)
    rl.add_argument("--name", required=True, help="whose token it is, e.g. RPD Torino")
    rv = sub.add_parser("revoke-read-log-tokens")
    rv.add_argument("--city", required=True)
    pr = sub.add_parser("purge-read-log", help="delete the read log's entries older than the retention")
    pr.add_argument("--days", type=whole_days, default=settings.READ_LOG_DAYS)
    admin_actions.add_history_command(sub, "intake's schema")
    admin_actions.add_by_option(parser, sub)
    args = parser.parse_args(argv)
    try:
        args.by = admin_actions.who(args.by)
        print(asyncio.run(run(args)))
    except (ContractError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except setup_errors.SetupError as exc:  # LGNET_DB_SCHEMA another service's: named, nothing written
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:  # the database is unreachable or refuses us
        print(f"{PROG}: error: database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
