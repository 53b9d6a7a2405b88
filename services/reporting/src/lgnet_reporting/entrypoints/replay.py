"""The auditors' replay: `lgnet-replay [options]` (docs/reporting.md; `python -m` this module is the same).

Rebuilds every projection from offset zero into a fresh PostgreSQL schema and proves that each report computed
from it has the same canonical digest as the live one, as of the same log positions:

  live (default)   take a consistent snapshot of the live schema (its tables and the log positions they cover),
                   replay the log up to exactly those positions, compare every report (national + each city).
  --published      check every report announced on reporting.events (lgnet.reporting.report_published): replay
                   up to the positions it names and compare with the digest it carries.

Prints one JSON line per report and a summary; exits 0 when every digest matches, 1 otherwise; 2 when it could not
run (a bad argument, a setting or the environment: the summary's `error` names which, in one line); 130/143 when
interrupted (SIGINT/SIGTERM). Every schema it created is dropped on every way out (unless --keep). Environment:
KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, LGNET_TOPIC_PREFIX, LGNET_DB_SCHEMA (live schema, default reporting),
LGNET_CITY (a city deployment replays only its city), LGNET_REPORTING_MIN_CELL (live mode: the live deployment's;
--published: only for reports announced before report_published v3, which carries its own threshold; default 5),
LGNET_FACT_SIGNATURES (the live deployment's: `required`, the default, or `off`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import KafkaConnectionError
from lgnet_shared import clock, db
from lgnet_shared.cities import CITIES
from lgnet_shared.config import SCHEMA_NAME
from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.fact_signing import read_registry
from lgnet_shared.kafka import KafkaConfigError
from lgnet_shared.topics import physical

from lgnet_reporting import settings
from lgnet_reporting.adapters import folders, log, setup_errors, store
from lgnet_reporting.adapters.setup_errors import SetupError
from lgnet_reporting.domain import national as reports
from lgnet_reporting.domain.canonical import canonical_json
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.service_layer import replay
from lgnet_reporting.service_layer.reports import Computed, Request, build, snapshot


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SetupError(f"{name}: not set (see docs/reporting.md, the auditors' replay)")
    return value


def _requests(facts: Any, window: Window, city: str | None) -> list[Request]:
    cities = [city] if city else reports.cities_of(facts)
    return [Request(reports.NATIONAL, reports.NATIONAL, window)] + [
        Request(reports.CITY_SUMMARY, c, window) for c in cities
    ]


SIGNATURES_VAR = "LGNET_FACT_SIGNATURES"


async def _registered(bootstrap: str) -> replay.Keys:
    """The signing keys registered on the cluster, to take the live consumers' decisions on every fact's signature
    (a fact live dead-lettered for it was folded: the live report came out unequal); None with
    LGNET_FACT_SIGNATURES=off, as the live deployment was run to read history written before signatures."""
    mode = os.environ.get(SIGNATURES_VAR, "required").strip() or "required"
    if mode not in ("required", "off"):
        raise SetupError(f"{SIGNATURES_VAR} {mode!r}: required (default) or off, as the live deployment's")
    if mode == "off":
        return None
    prefix = os.environ.get("LGNET_TOPIC_PREFIX", "")
    try:
        keys = await read_registry(bootstrap, prefix)
    except (KafkaConnectionError, KafkaConfigError) as exc:  # the first read with --published: said as lgnet-audit
        raise setup_errors.kafka(exc) from None
    if not keys:  # every deployment registers its key before its first fact: none in sight is the setup's
        raise SetupError(
            f"no signing keys found under prefix {prefix!r}: no registry topic ({prefix}lgnet.signing-keys.*) with a"
            " key this principal may read; check LGNET_TOPIC_PREFIX and use the auditor principal (or, for a log"
            " written before signatures, LGNET_FACT_SIGNATURES=off as the live deployment ran)"
        )
    return keys, prefix


async def _rebuild(
    bootstrap: str,
    url: str,
    schema: str,
    positions: store.Positions,
    city: str | None,
    workers: int,
    keys: replay.Keys,
) -> Any:
    with setup_errors.database(url):
        pool = await db.create_pool(url, schema, max_size=4, create=False)
    try:
        timing = await replay.rebuild(
            bootstrap, pool, positions, city, workers=workers, database_url=url, schema=schema, keys=keys
        )
        async with pool.acquire() as conn:
            _, facts = await snapshot(conn)
        return timing, facts
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def _fresh_schema(url: str, args: argparse.Namespace) -> AsyncIterator[str]:
    """A new schema to rebuild into, dropped on every way out — an error, Ctrl-C, SIGTERM — unless --keep. Only
    a schema this run created is ever dropped: `--into` must name a new one."""
    schema = args.into or f"replay_{uuid.uuid4().hex[:10]}"
    created = False
    try:
        with setup_errors.database(url):
            conn = await asyncpg.connect(url)
            try:
                created = args.into is None  # a random name is this run's even if interrupted mid-statement
                try:
                    await conn.execute(f'create schema "{schema}"')
                except asyncpg.DuplicateSchemaError:
                    created = False
                    raise SetupError(
                        f"--into {schema}: that schema already exists: name a new one (the replay creates it)"
                    ) from None
                except Exception:  # refused (no CREATE right): nothing was created
                    created = False
                    raise
                created = True
            finally:
                await conn.close()
        yield schema
    finally:
        if created:
            LEFT.append(schema)  # until dropped: a second Ctrl-C stops the drop, and the schema is named
            if not args.keep and await _drop(url, schema):
                LEFT.remove(schema)


# Schemas this run created and did not drop (--keep, or a failed drop): what an interrupted run's line names.
LEFT: list[str] = []


async def _drop(url: str, schema: str) -> bool:
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
        return True
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # Said, not raised: the reason the run stopped is the line that matters; this one tells what to drop.
        print(f"replay: could not drop schema {schema}: {exc} (drop it by hand)", file=sys.stderr, flush=True)
        return False


def _line(kind: str, req: Request, expected: str, got: dict[str, Any], threshold: int) -> dict[str, Any]:
    digest = Computed(req, got, {}).digest
    return {
        "check": kind,
        "report": req.report,
        "scope": req.scope,
        "as_of": req.window.as_of.isoformat(),
        "period_from": req.window.period_from.isoformat() if req.window.period_from else None,
        "expected_digest": expected,
        "replayed_digest": digest,
        "equal": digest == expected,
    }


def _write(out: Path | None, req: Request, body: dict[str, Any], report_id: str | None = None) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # The whole period: a --from run must not overwrite the as-of run of the same day. A published report's id
        # too: the same report, scope and period published twice (at other log positions, or with another method)
        # are two reports, and the second file overwrote the first.
        start = f"{req.window.period_from.isoformat()}--" if req.window.period_from else ""
        which = f"-{report_id}" if report_id else ""
        name = f"{req.report}-{req.scope}-{start}{req.window.as_of.isoformat()}{which}.json"
        (out / name).write_bytes(canonical_json(body))


def _no_live_schema(args: argparse.Namespace, what: str) -> SetupError:
    return SetupError(
        f"--live-schema {args.live_schema} (LGNET_DB_SCHEMA): {what} in this database: the live mode reads the"
        " platform's reporting database (DATABASE_URL); against a database of your own, use --published"
    )


async def _live_snapshot(url: str, args: argparse.Namespace) -> tuple[store.Positions, Any]:
    """The live tables and their positions; nothing is created (an auditor's own empty database got an empty
    `reporting` schema, then a traceback)."""
    with setup_errors.database(url):
        conn = await asyncpg.connect(url, server_settings={"search_path": args.live_schema})
    try:
        if not await conn.fetchval("select 1 from pg_namespace where nspname = $1", args.live_schema):
            raise _no_live_schema(args, "no such schema")
        try:
            return await snapshot(conn)
        except asyncpg.UndefinedTableError as exc:
            raise _no_live_schema(args, f"no reporting tables ({exc})") from None
    finally:
        await conn.close()


async def against_live(args: argparse.Namespace, city: str | None, threshold: int) -> list[dict[str, Any]]:
    url, bootstrap = _env("DATABASE_URL"), _env("KAFKA_BOOTSTRAP_SERVERS")
    positions, live_facts = await _live_snapshot(url, args)
    if city is not None and (others := [c for c in reports.cities_of(live_facts) if c != city]):
        raise SetupError(
            f"LGNET_CITY {city}: the live schema {args.live_schema} holds other cities' facts too"
            f" ({', '.join(others)}): it is a national deployment's; replay it with LGNET_CITY=national, as it folds"
        )
    window = Window(args.as_of, args.period_from)
    requests = _requests(live_facts, window, city)
    await log.readable(bootstrap, sorted(positions))  # the broker, the login, the topics: before creating anything
    keys = await _registered(bootstrap)
    async with _fresh_schema(url, args) as schema:
        timing, facts = await _rebuild(bootstrap, url, schema, positions, city, args.workers, keys)
    print(json.dumps({"replay": timing.as_dict(), "schema": schema, "positions": positions}), flush=True)
    lines = []
    for req in requests:
        body = build(facts, req, threshold)
        _write(args.out, req, body)
        lines.append(_line("live", req, Computed(req, build(live_facts, req, threshold), {}).digest, body, threshold))
    return lines


async def published_reports(
    bootstrap: str, prefix: str, keys: replay.Keys
) -> tuple[list[ReportPublished], list[tuple[ReportPublished, str]]]:
    """The reports announced on reporting.events, and the announcements refused with why (`replay.announcements`)."""
    topic = physical("reporting.events", prefix)
    ends = await log.end_positions(bootstrap, [topic])
    return await replay.announcements(log.read(bootstrap, ends, whole=True), keys)


class NothingToReplay(Exception):
    """What --published was asked to check is not there: said as the summary line's error (`usage`: a bad argument,
    exit 2), never as a silent {"reports": 0}."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


async def against_published(args: argparse.Namespace, city: str | None, threshold: int) -> list[dict[str, Any]]:
    url, bootstrap = _env("DATABASE_URL"), _env("KAFKA_BOOTSTRAP_SERVERS")
    keys = await _registered(bootstrap)
    events, refused = await published_reports(bootstrap, os.environ.get("LGNET_TOPIC_PREFIX", ""), keys)
    if args.report_id:
        known = {e.report_id for e in events} | {e.report_id for e, _ in refused}
        if missing := [r for r in args.report_id if r not in known]:
            raise NothingToReplay(f"--report-id: no published report {', '.join(missing)}", usage=True)
        events = [e for e in events if e.report_id in args.report_id]
        refused = [(e, why) for e, why in refused if e.report_id in args.report_id]
    # Announcements no deployment that may publish them signed: not the platform's reports, named (one city's
    # deployment announcing another's summary made that city's report look tampered with).
    not_published = [{"report_id": e.report_id, **_skipped(e, f"not a published report: {why}")} for e, why in refused]
    if not events:
        if not_published:
            return not_published
        raise NothingToReplay("no report published on lgnet.reporting.events yet")
    # A city's replay folds only that city's facts: the national aggregate and other cities' reports are not its to
    # check (recomputed from one city's facts they came out unequal, read as a tampered log). Named, not failed.
    others = [e for e in events if city is not None and (e.report, e.scope) != (reports.CITY_SUMMARY, city)]
    events = [e for e in events if e not in others]
    skipped = [*not_published, *({"report_id": e.report_id, **_not_here(e, city)} for e in others)]
    if not events:
        raise NothingToReplay(
            f"no report of {city} published on lgnet.reporting.events yet ({len(others)} of other scopes:"
            " replay them with LGNET_CITY=national)",
            usage=bool(args.report_id),
        )
    by_positions: dict[str, list[ReportPublished]] = {}
    for e in events:
        by_positions.setdefault(json.dumps(e.positions, sort_keys=True), []).append(e)
    await log.readable(bootstrap, sorted({t for e in events for t in e.positions}))  # before creating anything
    lines = []
    for key, group in by_positions.items():
        async with _fresh_schema(url, args) as schema:
            timing, facts = await _rebuild(bootstrap, url, schema, json.loads(key), city, args.workers, keys)
        print(json.dumps({"replay": timing.as_dict(), "schema": schema, "positions": json.loads(key)}), flush=True)
        for e in group:
            req = Request(e.report, e.scope, Window(e.as_of, e.period_from, e.method))  # its own counting rules
            # Its own threshold (v3); one announced before v3 does not say it: 5, the default, or the auditor's
            # LGNET_REPORTING_MIN_CELL for a deployment that published with another one then.
            body = build(facts, req, e.threshold if e.threshold is not None else threshold)
            _write(args.out, req, body, e.report_id)
            lines.append({"report_id": e.report_id, **_line("published", req, e.digest, body, threshold)})
    return skipped + lines


def _not_here(e: ReportPublished, city: str | None) -> dict[str, Any]:
    """The line of a published report a city's replay does not check."""
    return _skipped(
        e,
        f"it covers {e.scope}'s facts and this replay (LGNET_CITY={city}) folds only {city}'s:"
        " replay it with LGNET_CITY=national",
    )


def _skipped(e: ReportPublished, why: str) -> dict[str, Any]:
    """The line of an announced report the replay does not check, and why."""
    return {
        "check": "published",
        "report": e.report,
        "scope": e.scope,
        "as_of": e.as_of.isoformat(),
        "period_from": e.period_from.isoformat() if e.period_from else None,
        "expected_digest": e.digest,
        "replayed_digest": None,
        "equal": None,
        "skipped": why,
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = setup_errors.CommandLine(prog="lgnet-replay", description=__doc__.split("\n")[0])
    p.add_argument("--published", action="store_true", help="check the reports announced on reporting.events")
    p.add_argument("--report-id", action="append", help="with --published: only this report (repeatable)")
    p.add_argument("--as-of", type=date.fromisoformat, help="live mode: as of (default today, Italy's date)")
    p.add_argument("--from", dest="period_from", type=date.fromisoformat, help="live mode: period start")
    p.add_argument("--live-schema", default=os.environ.get("LGNET_DB_SCHEMA", "reporting"))
    p.add_argument("--into", help="fresh schema to rebuild into (default: a new replay_<random> schema)")
    p.add_argument("--keep", action="store_true", help="keep the rebuilt schema (default: dropped afterwards)")
    p.add_argument("--workers", type=int, default=2, help="processes reading and folding partitions (default 2)")
    p.add_argument("--out", type=Path, help="write each replayed report's canonical JSON into this folder")
    return p.parse_args(argv)


def _one_mode(args: argparse.Namespace) -> None:
    """Options of the other mode are refused, not ignored (an auditor believed they had checked what they asked);
    the live mode's as of is today unless given."""
    if args.published:
        for option, value in (("--as-of", args.as_of), ("--from", args.period_from)):
            if value is not None:
                raise SetupError(
                    f"{option}: the live mode's; with --published each report is replayed with its own dates"
                    " (choose reports with --report-id)"
                )
    elif args.report_id:
        raise SetupError("--report-id: with --published only (the live mode replays every report as of --as-of)")
    else:
        args.as_of = args.as_of or clock.today()


def _failed(error: str) -> None:
    print(json.dumps({"reports": 0, "equal": 0, "ok": False, "error": error}), flush=True)


async def run(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(argv)
    except SetupError as exc:
        _failed(str(exc))
        return 2
    city = os.environ.get("LGNET_CITY", "national").strip().lower()
    city_filter = None if city == "national" else city
    try:
        if city not in (*CITIES, "national"):  # a name that is no city: nothing folded, every report unequal
            raise SetupError(f"LGNET_CITY {city}: not a city of the programme ({', '.join(CITIES)}) nor national")
        if args.workers < 1:  # before anything is read or created, as lgnet-audit verify says it
            raise SetupError(f"--workers {args.workers}: at least 1 process (left out: 2)")
        _one_mode(args)
        if args.out is not None and (why := folders.folder_problem(args.out)):  # before the log is read
            raise SetupError(f"--out {args.out}: {why}: give a folder for the replayed reports (made if missing)")
        if args.into is not None and not SCHEMA_NAME.fullmatch(args.into):  # it becomes LGNET_DB_SCHEMA after --keep
            raise SetupError(
                f"--into {args.into}: not a schema name: lower-case letters, digits, _ and - (at most 63, not"
                " starting with a digit or -), as LGNET_DB_SCHEMA"
            )
        if not args.published and (refused := Window(args.as_of, args.period_from).refused(clock.today())):
            # as the API refuses them (422): such a report was replayed and certified "ok"
            field, reason = refused
            given = f"--from {args.period_from}" if field == "from" else f"--as-of {args.as_of}"
            raise SetupError(f"{given}: {reason}{' (--as-of)' if field == 'from' else ''}")
        threshold = settings.min_cell()
        lines = await (against_published if args.published else against_live)(args, city_filter, threshold)
    except (log.LogTooShort, NothingToReplay) as exc:  # records deleted, positions of another log, nothing to check
        _failed(str(exc))
        return 2 if isinstance(exc, NothingToReplay) and exc.usage else 1
    except SetupError as exc:  # a setting or the environment: could not run (exit 2, as lgnet-audit)
        _failed(str(exc))
        return 2
    except Exception as exc:  # anything else: still one line, never a traceback, never "a digest differs"
        _failed(f"{type(exc).__name__}: {exc}")
        return 2
    for line in lines:
        print(json.dumps(line), flush=True)
    checked = [line for line in lines if "skipped" not in line]
    ok = bool(checked) and all(line["equal"] for line in checked)
    summary = {"reports": len(checked), "equal": sum(1 for x in checked if x["equal"]), "ok": ok}
    if skipped := len(lines) - len(checked):  # reports of other scopes a city's replay does not check
        summary["skipped"] = skipped
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


async def _interruptible(argv: Sequence[str] | None) -> int:
    """`run`, which SIGINT (Ctrl-C) or SIGTERM cancels: the schemas it created are dropped on the way out, and the
    summary says it was interrupted (a SIGTERM used to end the process where it stood, schema left behind)."""
    loop = asyncio.get_running_loop()
    got: list[signal.Signals] = []
    work = asyncio.ensure_future(run(argv))

    def stop(sig: signal.Signals) -> None:
        # The first signal cancels the work, whose way out drops the schemas it created; a second one stops that
        # too (a drop waiting on someone else's lock would otherwise leave only `kill -9`), naming what is left.
        got.append(sig)
        if len(got) <= 2:
            work.cancel()

    for sig in INTERRUPTED:
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await work
    except asyncio.CancelledError:
        if not got:
            raise
        left = f"left behind: {', '.join(LEFT)}" if LEFT else "every schema it created was dropped"
        _failed(f"interrupted ({got[0].name}{', twice' if len(got) > 1 else ''}): {left}")
        return INTERRUPTED[got[0]]
    finally:
        for sig in INTERRUPTED:
            loop.remove_signal_handler(sig)


def quiet_libraries() -> None:
    """The command's own lines only: the Kafka client's and asyncio's log lines ("Unable connect to …", "Topic … is
    not authorized for this client", retries) went to stderr through logging's last-resort handler."""
    logging.getLogger().addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> None:
    quiet_libraries()
    sys.exit(asyncio.run(_interruptible(argv)))


if __name__ == "__main__":
    main()
