"""`lgnet-admin`: provision who may call a service's HTTP API. Each service keeps its own actors and tokens.

    lgnet-admin --schema housing add-actor staff-torino --role staff --city torino --name "Ufficio casa"
    lgnet-admin --schema housing issue-token staff-torino      # prints the token once; only its hash is kept
    lgnet-admin --schema housing revoke-tokens staff-torino
    lgnet-admin --schema payments issue-read-log-token --city torino --name "RPD Torino"  # the DPO's: opens the
    lgnet-admin --schema payments revoke-read-log-tokens --city torino                   # service's log only
    lgnet-admin --schema housing purge-read-log [--days 730]        # its read log's entries past retention (daily)
    lgnet-admin --schema intake list-actors [--city torino] [--json]  # who may call it: an access review
    lgnet-admin --schema intake outbox [--json]            # what the outbox relay has not published, per topic
    lgnet-admin --schema intake drop-answers coop-aurora [--yes]  # a departed partner's waiting answers, only those
    lgnet-admin --schema intake history [--limit 50] [--json]  # who changed what with these commands, latest first

Every change is recorded in the schema's `admin_actions` with who ran it: `--by NAME` (before or after the command),
else LGNET_ADMIN_BY, else the OS login (docs/operators.md, "Who ran which admin command").

DATABASE_URL is read from the environment; --schema defaults to LGNET_DB_SCHEMA.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from lgnet_shared import actors, admin_actions, db, outbox_waiting, read_log_readers, runtime_schema, setup_errors
from lgnet_shared.errors import ContractError


async def auditor_schema(conn: Any, schema: str) -> None:
    """An auditor reads reporting's API only: added to another service's schema it would hold a token every route
    refuses, so that is refused here, naming the schema's service."""
    recorded = await db.recorded_migrations_of(conn, schema)
    owner = next((m.split("-", 1)[0] for m in sorted(recorded) if m.split("-", 1)[0] in runtime_schema.SERVICES), "")
    if owner and owner != "reporting":
        raise ValueError(f"--role auditor: {schema} is {owner}'s schema; auditors read reporting's API only")


async def run(args: argparse.Namespace) -> str:
    # A service creates its schema at its first start: one that is not there is a typo ("housng").
    # Refused when it holds another program's tables (the desk's, two services'): a service's schema, one service's.
    pool = await runtime_schema.pool_of(
        os.environ["DATABASE_URL"],
        args.schema,
        None,
        "--schema",
        [actors.MIGRATION, admin_actions.MIGRATION],
        create=False,
    )
    try:
        async with pool.acquire() as conn:
            if args.command in READ_ONLY:
                return await read_only(conn, args)
            if args.command == "drop-answers" and not args.yes:
                return await outbox_command(conn, args)  # says what it would drop: no change
            if "read-log" in args.command:
                # the service made the table at its start: one without it (reporting) keeps no read log
                if await conn.fetchval("select to_regclass('read_log_readers')") is None:
                    raise ValueError(f"--schema: {args.schema} keeps no read log (intake, housing and payments do)")
                if args.command == "purge-read-log" and await conn.fetchval("select to_regclass('read_log')") is None:
                    # (payments' download log is kept with its files; its read log of payees is purged so)
                    said = "keeps no read log to purge (intake, housing and payments do)"
                    raise ValueError(f"--schema: {args.schema} {said}")
            async with admin_actions.recorded(conn, args.by, PROG, args.command, target_of(args)) as action:
                return await change(conn, args, action)
    finally:
        await pool.close()


PROG = "lgnet-admin"
READ_ONLY = ("outbox", "list-actors", "history")


def target_of(args: argparse.Namespace) -> str:
    """What a command acts on, for the record: an actor's id, a partner's, a city's read log (never a name)."""
    if args.command in ("add-actor", "issue-token", "revoke-tokens"):
        return str(args.actor_id)
    if args.command == "drop-answers":
        return str(args.partner)
    if args.command == "purge-read-log":
        return "read log"
    return f"read-log of {args.city}"


async def change(conn: db.Conn, args: argparse.Namespace, action: admin_actions.Action) -> str:
    """The command's change, its outcome set on `action` (recorded with it); what it prints."""
    if args.command == "add-actor":
        if args.role == actors.Role.AUDITOR.value:  # it would open nothing there (auth.refuse_auditor)
            await auditor_schema(conn, args.schema)
        await actors.add_actor(conn, args.actor_id, actors.Role(args.role), args.city, args.name or args.actor_id)
        action.outcome = f"added {args.role}" + (f" of {args.city}" if args.city else "")
        return f"added {args.role} {args.actor_id} to {args.schema}"
    if args.command == "issue-token":
        token = await actors.issue_token(conn, args.actor_id, args.days)
        action.outcome = "token issued"
        if args.days:  # the token alone on stdout (scripts read it), its end beside it
            ends = (datetime.now(UTC) + timedelta(days=args.days)).date().isoformat()
            action.outcome += f", expires on {ends}"
            print(f"lgnet-admin: the token expires on {ends}", file=sys.stderr)
        return token
    if args.command == "drop-answers":
        said = await outbox_command(conn, args)
        action.outcome = said.replace(f" of {args.partner}", "")  # "dropped 4 waiting row(s) {topic: rows}"
        return said
    if args.command == "issue-read-log-token":
        token = await read_log_readers.issue_reader_token(conn, args.city, args.name)
        action.outcome = "read-log token issued"
        return token
    if args.command == "purge-read-log":
        before = datetime.now(UTC) - timedelta(days=args.days)
        deleted = await read_log_readers.purge(conn, before)
        action.outcome = f"deleted {deleted} entries before {before.date().isoformat()}"
        return action.outcome
    if args.command == "revoke-read-log-tokens":
        action.outcome = f"revoked {await read_log_readers.revoke_reader_tokens(conn, args.city)} read-log token(s)"
        return action.outcome
    action.outcome = f"revoked {await actors.revoke_tokens(conn, args.actor_id)} token(s)"
    return f"{action.outcome} of {args.actor_id}"


async def read_only(conn: db.Conn, args: argparse.Namespace) -> str:
    if args.command == "outbox":
        return await outbox_command(conn, args)
    if args.command == "history":
        return await history(conn, args)
    rows = await actors.review(conn, args.city)
    if await conn.fetchval("select to_regclass('read_log_readers')") is not None:
        rows += await read_log_readers.review(conn, args.city)
    return access_review(rows, as_json=args.json)


async def history(conn: db.Conn, args: argparse.Namespace) -> str:
    """`history`: the schema's recorded admin actions, latest first, to the second (every admin CLI's)."""
    rows = await admin_actions.history(conn, args.limit)
    for r in rows:
        r["at"] = r["at"].astimezone(UTC).isoformat(timespec="seconds")
    return table(rows, admin_actions.COLUMNS, as_json=args.json)


async def outbox_command(conn: db.Conn, args: argparse.Namespace) -> str:
    """`outbox`: what waits, per topic. `drop-answers`: a partner gone from the programme never reads its answers, and
    the relay holds its topic (docs/operators.md); its waiting rows go, never another topic's — facts are the log."""
    if await conn.fetchval("select to_regclass('outbox')") is None:
        raise ValueError(f"--schema: {args.schema} has no outbox (a service's schema has one from its first start)")
    if args.command == "outbox":
        rows = [
            {**{k: r[k] for k in OUTBOX_COLUMNS}, "oldest": r["oldest"].isoformat(timespec="seconds")}
            for r in await outbox_waiting.waiting(conn)
        ]
        return table(rows, OUTBOX_COLUMNS, as_json=args.json)  # to the second: what waits, waits minutes
    topics = outbox_waiting.partner_topics(args.partner)
    if not args.yes:
        counts = {r["topic"]: r["rows"] for r in await outbox_waiting.waiting(conn) if r["topic"] in topics}
        return f"would drop {sum(counts.values())} waiting row(s) of {args.partner} {counts}: nothing dropped (--yes)"
    dropped = await outbox_waiting.drop_waiting(conn, topics)
    return f"dropped {sum(dropped.values())} waiting row(s) of {args.partner} {dropped}"


OUTBOX_COLUMNS = ("topic", "rows", "oldest", "first_event_id")
REVIEW_COLUMNS = (
    "actor", "role", "city", "name", "since", "live_tokens", "expires_at", "last_issued_at", "last_revoked_at",
)  # fmt: skip


def days(text: str) -> int:
    """A number of days on the command line, at least one (a retention of 0 would delete what was just written; a
    token ending today opens nothing)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (1 or more)")
    return int(text)


def access_review(rows: list[dict[str, Any]], *, as_json: bool) -> str:
    """The review as JSON lines, or as a table with aligned columns (days only: the JSON has the times)."""
    return table(rows, REVIEW_COLUMNS, as_json=as_json, keys=("actor_id", *REVIEW_COLUMNS[1:]))


def table(rows: list[dict[str, Any]], columns: tuple[str, ...], *, as_json: bool, keys: tuple[str, ...] = ()) -> str:
    """Rows as JSON lines, or as a table with aligned `columns` (read from `keys`, default the columns; days only for
    times: the JSON has them whole)."""
    if as_json:
        return "\n".join(json.dumps(r, default=str) for r in rows)

    def cell(value: Any) -> str:
        return value.date().isoformat() if isinstance(value, datetime) else "-" if value is None else str(value)

    lines = [list(columns), *([cell(r[k]) for k in keys or columns] for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lgnet-admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schema", default=os.environ.get("LGNET_DB_SCHEMA"), help="the service's schema")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add-actor")
    a.add_argument("actor_id")
    a.add_argument("--role", choices=[r.value for r in actors.Role], required=True)
    a.add_argument("--city")
    a.add_argument("--name")
    it = sub.add_parser("issue-token")
    it.add_argument("actor_id")
    it.add_argument("--days", type=days, help="the token opens nothing after this many days (default: until revoked)")
    sub.add_parser("revoke-tokens").add_argument("actor_id")
    rl = sub.add_parser("issue-read-log-token", help="the city's DPO's: it opens the service's read log only")
    rl.add_argument("--city", required=True)
    rl.add_argument("--name", required=True)
    sub.add_parser("revoke-read-log-tokens").add_argument("--city", required=True)
    ls = sub.add_parser("list-actors", help="who may call the service: actors and read-log tokens, live tokens")
    ls.add_argument("--city")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    pr = sub.add_parser("purge-read-log", help="delete the service's read log entries older than the retention")
    pr.add_argument("--days", type=days, default=730, help="the retention in days (default 730, as intake's)")
    ob = sub.add_parser("outbox", help="what the outbox relay has not published yet, per topic (no payloads)")
    ob.add_argument("--json", action="store_true", help="one JSON object per line")
    da = sub.add_parser("drop-answers", help="delete a departed partner's waiting answers and reminders, only those")
    da.add_argument("partner")
    da.add_argument("--yes", action="store_true", help="drop them (without it: say what would be dropped)")
    admin_actions.add_history_command(sub, "the service's schema")
    admin_actions.add_by_option(parser, sub)
    args = parser.parse_args(argv)
    if not args.schema or "DATABASE_URL" not in os.environ:
        print("lgnet-admin: error: set DATABASE_URL and pass --schema (or set LGNET_DB_SCHEMA)", file=sys.stderr)
        return 2
    try:
        args.by = admin_actions.who(args.by)
        with setup_errors.database(os.environ["DATABASE_URL"]):
            print(asyncio.run(run(args)))
    except setup_errors.SetupError as exc:  # PostgreSQL not answering or refusing: DATABASE_URL named, no traceback
        print(f"lgnet-admin: error: {exc}", file=sys.stderr)
        return 1
    except (ContractError, ValueError) as exc:
        print(f"lgnet-admin: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
