"""SQL of the report tables: applying the projection's writes, reading the facts of a report, bulk loading a
replay, the log positions the tables cover, and the published reports."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from lgnet_shared.db import Conn

from lgnet_reporting.adapters.schema import CONSUMER
from lgnet_reporting.domain.indicators import Facts
from lgnet_reporting.domain.projection import TABLES, Tables, Write

Positions = dict[str, dict[str, int]]
_SQL: dict[tuple[str, str, tuple[str, ...]], str] = {}


def _statement(w: Write) -> str:
    """insert (first write wins) or upsert (the written columns are overwritten), cached per shape."""
    cols = tuple(w.row)
    shape = (w.mode, w.table, cols)
    if shape not in _SQL:
        t = TABLES[w.table]
        values = ", ".join(f"${n}" for n in range(1, len(cols) + 1))
        sql = f"insert into {t.name} ({', '.join(cols)}) values ({values}) on conflict ({', '.join(t.key)}) do "
        changed = [c for c in cols if c not in t.key]
        if w.mode == "upsert" and changed:
            sql += "update set " + ", ".join(f"{c} = excluded.{c}" for c in changed)
        else:
            sql += "nothing"
        _SQL[shape] = sql
    return _SQL[shape]


async def apply(conn: Conn, writes: Sequence[Write]) -> None:
    """In order; consecutive writes of one shape go in one pipelined `executemany` (same effect, one round trip)."""
    for sql, group in itertools.groupby(writes, key=_statement):
        await conn.executemany(sql, [tuple(w.row.values()) for w in group])


async def load_facts(conn: Conn) -> Facts:
    """Every report table, rows as dicts, in key order (so the computation never depends on physical order)."""
    facts: Facts = {}
    for t in TABLES.values():
        rows = await conn.fetch(f"select * from {t.name} order by {', '.join(t.key)}")
        facts[t.name] = [dict(r) for r in rows]
    return facts


async def bulk_load(conn: Conn, tables: Tables) -> dict[str, int]:
    """Write a replay's tables (folded in memory) with COPY into empty tables of a fresh schema."""
    loaded = {}
    for name in TABLES:
        records = tables.records(name)
        if records:
            await conn.copy_records_to_table(name, records=records, columns=TABLES[name].names)
        loaded[name] = len(records)
    return loaded


async def positions(conn: Conn, consumer: str = CONSUMER) -> Positions:
    """physical topic -> partition -> next offset the tables cover (absent partitions: nothing read yet)."""
    out: Positions = {}
    for r in await conn.fetch(
        "select topic, partition, next_offset from consumer_positions where consumer = $1 order by 1, 2", consumer
    ):
        out.setdefault(r["topic"], {})[str(r["partition"])] = int(r["next_offset"])
    return out


async def save_positions(conn: Conn, pos: Positions, consumer: str = CONSUMER) -> None:
    await conn.executemany(
        "insert into consumer_positions values ($1, $2, $3, $4) on conflict (consumer, topic, partition)"
        " do update set next_offset = excluded.next_offset",
        [(consumer, t, int(p), o) for t, parts in pos.items() for p, o in parts.items()],
    )


async def save_published(
    conn: Conn,
    *,
    report_id: str,
    report: str,
    scope: str,
    as_of: date,
    period_from: date | None,
    digest: str,
    pos: Positions,
    body: bytes,
    published_by: str,
    published_at: datetime,
) -> None:
    await conn.execute(
        "insert into published_reports values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        report_id,
        report,
        scope,
        as_of,
        period_from,
        digest,
        pos,
        body,
        published_by,
        published_at,
    )


def _published(row: Any, with_body: bool) -> dict[str, Any]:
    out = {
        "report_id": row["report_id"],
        "report": row["report"],
        "scope": row["scope"],
        "as_of": row["as_of"].isoformat(),
        "period_from": row["period_from"].isoformat() if row["period_from"] else None,
        "digest": row["digest"],
        "positions": row["positions"],
        "published_by": row["published_by"],
        "published_at": row["published_at"].isoformat(),
    }
    if with_body:
        out["body"] = json.loads(bytes(row["body"]))
    return out


async def published(conn: Conn, scopes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select * from published_reports where $1::text[] is null or scope = any($1) order by published_at, report_id",
        list(scopes) if scopes is not None else None,
    )
    return [_published(r, False) for r in rows]


async def published_one(conn: Conn, report_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("select * from published_reports where report_id = $1", report_id)
    return None if row is None else _published(row, True)
