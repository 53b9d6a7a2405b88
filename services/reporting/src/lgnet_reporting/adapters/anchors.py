"""Reporting's record of where each published report landed on `reporting.events` and of the notary's checkpoints
of that topic, with how far it has read both topics: all three written in one transaction, so a restart continues
where it stopped and never records a record twice."""

from __future__ import annotations

from typing import Any

from lgnet_shared.db import Conn

from lgnet_reporting.domain.anchoring import REPORTS_TOPIC, Anchor

MIGRATION = (
    "reporting-anchors-1",
    """
    create table if not exists report_records (
        report_id text primary key,
        topic_partition int not null,
        record_offset bigint not null
    );
    create table if not exists report_checkpoints (
        origin text not null,
        tree_size bigint not null,
        root_hash text not null,
        note text not null,
        checkpointed_at timestamptz,
        primary key (origin, tree_size)
    );
    create table if not exists anchor_positions (
        topic text not null,
        topic_partition int not null,
        next_offset bigint not null,
        primary key (topic, topic_partition)
    );
    """,
)

Positions = dict[tuple[str, int], int]  # (logical topic, partition) -> next offset to read


async def positions(conn: Conn) -> Positions:
    rows = await conn.fetch("select topic, topic_partition, next_offset from anchor_positions")
    return {(r["topic"], r["topic_partition"]): r["next_offset"] for r in rows}


async def save(conn: Conn, records: list[tuple[str, int, int]], anchors: list[Anchor], read_to: Positions) -> None:
    """Report records (report id, partition, offset: the first one wins), checkpoints and positions, together."""
    async with conn.transaction():
        await conn.executemany(
            "insert into report_records values ($1, $2, $3) on conflict (report_id) do nothing", records
        )
        await conn.executemany(
            "insert into report_checkpoints values ($1, $2, $3, $4, $5) on conflict (origin, tree_size) do nothing",
            [(a.origin, a.tree_size, a.root_hash, a.note, a.checkpointed_at) for a in anchors],
        )
        await conn.executemany(
            """insert into anchor_positions values ($1, $2, $3)
               on conflict (topic, topic_partition) do update set next_offset = excluded.next_offset""",
            [(topic, partition, offset) for (topic, partition), offset in read_to.items()],
        )


_ANCHOR = f"""
    select c.origin, c.tree_size, c.root_hash, c.note, c.checkpointed_at
    from report_records r
    join report_checkpoints c
      on c.origin = $2 || 'lgnet/{REPORTS_TOPIC}/' || r.topic_partition and c.tree_size > r.record_offset
    where r.report_id = $1
    order by c.tree_size
    limit 1
"""


def _anchor(row: Any) -> Anchor | None:
    if row is None:
        return None
    return Anchor(row["origin"], row["tree_size"], row["root_hash"], row["note"], row["checkpointed_at"])


async def anchor_of(conn: Conn, report_id: str, prefix: str = "") -> Anchor | None:
    """The first checkpoint covering the published report's record, once one is known (`prefix`: the topic prefix
    of the log, which its checkpoints' origins name when there is one)."""
    return _anchor(await conn.fetchrow(_ANCHOR, report_id, prefix))


async def anchor_for(
    conn: Conn, report: str, scope: str, digest: str, prefix: str = ""
) -> tuple[str, Anchor | None] | None:
    """The published report with this digest (an anchored one first, then the earliest) and its anchor; None when
    no report with this digest was published."""
    rows = await conn.fetch(
        "select report_id from published_reports where report = $1 and scope = $2 and digest = $3"
        " order by published_at, report_id",
        report,
        scope,
        digest,
    )
    first: tuple[str, Anchor | None] | None = None
    for r in rows:
        anchor = await anchor_of(conn, r["report_id"], prefix)
        if anchor is not None:
            return r["report_id"], anchor
        first = first or (r["report_id"], None)
    return first
