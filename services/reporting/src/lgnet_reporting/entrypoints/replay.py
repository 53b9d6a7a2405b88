"""The auditors' replay: `python -m lgnet_reporting.entrypoints.replay [options]` (docs/reporting.md).

Rebuilds every projection from offset zero into a fresh PostgreSQL schema and proves that each report computed
from it has the same canonical digest as the live one, as of the same log positions:

  live (default)   take a consistent snapshot of the live schema (its tables and the log positions they cover),
                   replay the log up to exactly those positions, compare every report (national + each city).
  --published      check every report announced on reporting.events (lgnet.reporting.report_published): replay
                   up to the positions it names and compare with the digest it carries.

Prints one JSON line per report and a summary; exits 0 when every digest matches, 1 otherwise. Environment:
KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, LGNET_TOPIC_PREFIX, LGNET_DB_SCHEMA (live schema, default reporting),
LGNET_CITY (a city deployment replays only its city), LGNET_REPORTING_MIN_CELL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from lgnet_shared import clock, codec, db
from lgnet_shared.envelope import from_record
from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.topics import physical

from lgnet_reporting import settings
from lgnet_reporting.adapters import log, store
from lgnet_reporting.domain import national as reports
from lgnet_reporting.domain.canonical import canonical_json
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.service_layer import replay
from lgnet_reporting.service_layer.reports import Computed, Request, build, snapshot


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SystemExit(f"replay: environment variable {name} is required")
    return value


def _requests(facts: Any, window: Window, city: str | None) -> list[Request]:
    cities = [city] if city else reports.cities_of(facts)
    return [Request(reports.NATIONAL, reports.NATIONAL, window)] + [
        Request(reports.CITY_SUMMARY, c, window) for c in cities
    ]


async def _rebuild(
    bootstrap: str, url: str, schema: str, positions: store.Positions, city: str | None, workers: int
) -> Any:
    pool = await db.create_pool(url, schema, max_size=4)
    try:
        timing = await replay.rebuild(
            bootstrap, pool, positions, city, workers=workers, database_url=url, schema=schema
        )
        async with pool.acquire() as conn:
            _, facts = await snapshot(conn)
        return timing, facts
    finally:
        await pool.close()


async def _drop(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


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


def _write(out: Path | None, req: Request, body: dict[str, Any]) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # The whole period: a --from run must not overwrite the as-of run of the same day.
        start = f"{req.window.period_from.isoformat()}--" if req.window.period_from else ""
        name = f"{req.report}-{req.scope}-{start}{req.window.as_of.isoformat()}.json"
        (out / name).write_bytes(canonical_json(body))


async def against_live(args: argparse.Namespace, city: str | None, threshold: int) -> list[dict[str, Any]]:
    url, bootstrap = _env("DATABASE_URL"), _env("KAFKA_BOOTSTRAP_SERVERS")
    live = await db.create_pool(url, args.live_schema, max_size=2)
    try:
        async with live.acquire() as conn:
            positions, live_facts = await snapshot(conn)
    finally:
        await live.close()
    window = Window(args.as_of, args.period_from)
    requests = _requests(live_facts, window, city)
    schema = args.into or f"replay_{uuid.uuid4().hex[:10]}"
    try:
        timing, facts = await _rebuild(bootstrap, url, schema, positions, city, args.workers)
    finally:
        if not args.keep:
            await _drop(url, schema)
    print(json.dumps({"replay": timing.as_dict(), "schema": schema, "positions": positions}), flush=True)
    lines = []
    for req in requests:
        body = build(facts, req, threshold)
        _write(args.out, req, body)
        lines.append(_line("live", req, Computed(req, build(live_facts, req, threshold), {}).digest, body, threshold))
    return lines


async def published_reports(bootstrap: str, prefix: str) -> list[ReportPublished]:
    topic = physical("reporting.events", prefix)
    ends = await log.end_positions(bootstrap, [topic])
    found = []
    async for batch in log.read(bootstrap, ends):
        for record in batch:
            event = codec.decode(from_record(record.value, record.headers or (), record.key))
            if isinstance(event, ReportPublished):
                found.append(event)
    return found


class NothingToReplay(Exception):
    """What --published was asked to check is not there: said as the summary line's error (`usage`: a bad argument,
    exit 2), never as a silent {"reports": 0}."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


async def against_published(args: argparse.Namespace, city: str | None, threshold: int) -> list[dict[str, Any]]:
    url, bootstrap = _env("DATABASE_URL"), _env("KAFKA_BOOTSTRAP_SERVERS")
    events = await published_reports(bootstrap, os.environ.get("LGNET_TOPIC_PREFIX", ""))
    if args.report_id:
        if missing := [r for r in args.report_id if r not in {e.report_id for e in events}]:
            raise NothingToReplay(f"--report-id: no published report {', '.join(missing)}", usage=True)
        events = [e for e in events if e.report_id in args.report_id]
    if not events:
        raise NothingToReplay("no report published on lgnet.reporting.events yet")
    by_positions: dict[str, list[ReportPublished]] = {}
    for e in events:
        by_positions.setdefault(json.dumps(e.positions, sort_keys=True), []).append(e)
    lines = []
    for key, group in by_positions.items():
        schema = args.into or f"replay_{uuid.uuid4().hex[:10]}"
        try:
            timing, facts = await _rebuild(bootstrap, url, schema, json.loads(key), city, args.workers)
        finally:
            if not args.keep:
                await _drop(url, schema)
        print(json.dumps({"replay": timing.as_dict(), "schema": schema, "positions": json.loads(key)}), flush=True)
        for e in group:
            req = Request(e.report, e.scope, Window(e.as_of, e.period_from, e.method))  # its own counting rules
            body = build(facts, req, threshold)
            _write(args.out, req, body)
            lines.append({"report_id": e.report_id, **_line("published", req, e.digest, body, threshold)})
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lgnet_reporting.entrypoints.replay", description=__doc__.split("\n")[0])
    p.add_argument("--published", action="store_true", help="check the reports announced on reporting.events")
    p.add_argument("--report-id", action="append", help="with --published: only this report (repeatable)")
    p.add_argument("--as-of", type=date.fromisoformat, default=clock.today(), help="live mode: as of")
    p.add_argument("--from", dest="period_from", type=date.fromisoformat, help="live mode: period start")
    p.add_argument("--live-schema", default=os.environ.get("LGNET_DB_SCHEMA", "reporting"))
    p.add_argument("--into", help="fresh schema to rebuild into (default: a new replay_<random> schema)")
    p.add_argument("--keep", action="store_true", help="keep the rebuilt schema (default: dropped afterwards)")
    p.add_argument("--workers", type=int, default=2, help="processes reading and folding partitions (default 2)")
    p.add_argument("--out", type=Path, help="write each replayed report's canonical JSON into this folder")
    return p.parse_args(argv)


async def run(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    city = os.environ.get("LGNET_CITY", "national").strip().lower()
    city_filter = None if city == "national" else city
    threshold = settings.min_cell()
    try:
        lines = await (against_published if args.published else against_live)(args, city_filter, threshold)
    except (log.LogTooShort, NothingToReplay) as exc:  # records deleted, positions of another log, nothing to check
        print(json.dumps({"reports": 0, "equal": 0, "ok": False, "error": str(exc)}), flush=True)
        return 2 if isinstance(exc, NothingToReplay) and exc.usage else 1
    for line in lines:
        print(json.dumps(line), flush=True)
    ok = bool(lines) and all(line["equal"] for line in lines)
    print(json.dumps({"reports": len(lines), "equal": sum(1 for x in lines if x["equal"]), "ok": ok}), flush=True)
    return 0 if ok else 1


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
