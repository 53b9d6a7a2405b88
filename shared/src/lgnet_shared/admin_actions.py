"""Who ran which admin command: the record every state-changing command of `lgnet-admin`, `lgnet-intake-admin`,
`lgnet-partner-admin` and `lgnet-desk-admin` keeps (GDPR art. 5(2), accountability); `lgnet-kafka-admin`, whose
changes live in the broker and no schema of ours, says them in the JSON line alone (`log(…, cluster=…)`).

Each change is one row of the schema's `admin_actions` (`runtime_schema.ADMIN_ACTIONS`), written in the same
transaction as the change (`recorded`): when (UTC), by whom (`--by`, else LGNET_ADMIN_BY, else the OS login: `who`),
the program and command, its target (an actor id, a username, a city's read log — never a password, a token, a key or
a person's data) and the outcome; and, once committed, one JSON log line (structlog) on stderr naming the same — stdout
keeps what scripts read (a token). A refused command raises inside the block: nothing is recorded, nothing logged.
`history` reads them back, latest first."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import AsyncIterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from structlog.typing import Processor

from lgnet_shared.runtime_schema import ADMIN_ACTIONS

MIGRATION = ADMIN_ACTIONS
VARIABLE = "LGNET_ADMIN_BY"
COLUMNS = ("at", "by", "program", "command", "target", "outcome")


@dataclass
class Action:
    """One admin command's change: `outcome` is set by the command inside `recorded`'s block."""

    by: str
    program: str
    command: str
    target: str = ""
    outcome: str = "done"


def who(given: str | None, env: Mapping[str, str] | None = None) -> str:
    """Who runs the command: `--by`, else LGNET_ADMIN_BY (of `env`, default the process's), else the OS login (a
    container's user without a name: its uid). A blank `--by` is refused: it would say no one."""
    if given is not None:
        if not given.strip():
            raise ValueError("--by: say who runs the command (a name or a login), not a blank")
        return given.strip()
    if named := (os.environ if env is None else env).get(VARIABLE, "").strip():
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry for the uid (Python 3.13: OSError)
        return f"uid {os.getuid()}"


def add_by_option(parser: argparse.ArgumentParser, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`--by NAME` before the command (a global option) or after it: who runs it, for the record."""
    helptext = f"who runs the command, for the record of admin actions (default: {VARIABLE}, else the OS login)"
    parser.add_argument("--by", default=None, metavar="NAME", help=helptext)
    for command in commands.choices.values():
        command.add_argument("--by", default=argparse.SUPPRESS, metavar="NAME", help=helptext)


def add_history_command(commands: argparse._SubParsersAction, where: str) -> None:  # type: ignore[type-arg]
    """`history [--limit N] [--json]`: the recorded admin actions of `where`, latest first (read-only)."""
    h = commands.add_parser("history", help=f"the admin actions recorded in {where}, latest first (read-only)")
    h.add_argument("--limit", type=_limit, default=50, help="how many, the latest (default 50)")
    h.add_argument("--json", action="store_true", help="one JSON object per line")


def _limit(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of actions (1 or more)")
    return int(text)


@asynccontextmanager
async def recorded(conn: Any, by: str, program: str, command: str, target: str = "") -> AsyncIterator[Action]:
    """The block's change and its record in one transaction (a savepoint inside the caller's): the block sets the
    action's outcome; one raising leaves neither. The log line once it is committed."""
    action = Action(by, program, command, target)
    async with conn.transaction():
        yield action
        schema = await conn.fetchval(
            "insert into admin_actions (run_by, program, command, target, outcome) values ($1, $2, $3, $4, $5)"
            " returning current_schema()",
            action.by,
            action.program,
            action.command,
            action.target,
            action.outcome,
        )
    if not conn.is_in_transaction():  # else said when the caller's transaction commits (`log`)
        log(action, schema)


def log(action: Action, schema: str | None = None, cluster: str | None = None) -> None:
    """The action as one JSON line on stderr, as the services log (structlog: level, UTC timestamp), to whatever
    `sys.stderr` is now (a test's, an embedding program's): where it was recorded (`schema`), or, for a change to
    the Kafka cluster, which has no table of ours to keep it, the cluster (`cluster`): the line is its record."""
    where = {"schema": schema} if cluster is None else {"cluster": cluster}
    structlog.wrap_logger(structlog.PrintLogger(sys.stderr), processors=_PROCESSORS).info(
        "admin action",
        by=action.by,
        program=action.program,
        command=action.command,
        target=action.target,
        outcome=action.outcome,
        **where,
    )


def _event_first(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`{"event": …` first, as a service's lines begin (what readers of mixed output tell log lines by)."""
    return {"event": event_dict.pop("event"), **event_dict}


_PROCESSORS: list[Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _event_first,
    structlog.processors.JSONRenderer(),
]


async def history(conn: Any, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` admin actions of the connection's schema, latest first."""
    rows = await conn.fetch(
        "select at, run_by as by, program, command, target, outcome from admin_actions order by at desc, id desc"
        " limit $1",
        limit,
    )
    return [dict(r) for r in rows]
