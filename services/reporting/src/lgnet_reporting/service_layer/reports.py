"""Computing and publishing reports. A report is computed from one consistent snapshot of the report tables and
the log positions they cover (both read in one repeatable-read transaction), so its digest can be reproduced by
replaying the log up to exactly those positions."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lgnet_shared import outbox
from lgnet_shared.codec import to_envelope
from lgnet_shared.db import Conn, Pool
from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.ids import new_id

from lgnet_reporting.adapters import store
from lgnet_reporting.domain import national as reports
from lgnet_reporting.domain.canonical import canonical_json, digest
from lgnet_reporting.domain.indicators import Facts, Window
from lgnet_reporting.domain.projection import as_read_by
from lgnet_reporting.service_layer import collector

SOURCE = "/lgnet/reporting"


@dataclass(frozen=True)
class Request:
    report: str  # city_summary or national
    scope: str  # city code, or "national"
    window: Window


@dataclass(frozen=True)
class Computed:
    request: Request
    body: dict[str, Any]
    positions: store.Positions

    @property
    def digest(self) -> str:
        return digest(self.body)


def build(facts: Facts, request: Request, threshold: int) -> dict[str, Any]:
    # millions of short-lived objects beside millions of fact rows, no cycles: nothing for the collector to do
    facts = as_read_by(facts, request.window.method)  # the days its method reads (a replayed report's own)
    with collector.paused():
        if request.report == reports.NATIONAL:
            return reports.national(facts, request.window, threshold)
        return reports.city_summary(facts, request.window, request.scope)


async def snapshot(conn: Conn) -> tuple[store.Positions, Facts]:
    """Positions and facts as one consistent snapshot (the consumer commits both together). Read with the collector
    paused: each row is a dict kept to the end, and the full collections walked them all (1.36 M rows: 3.2 s read,
    1.7 s paused); in a service, its other tasks meanwhile only collect later."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        with collector.paused():
            return await store.positions(conn), await store.load_facts(conn)


# Reports already computed, by (log positions, request, threshold): the tables only change when the positions do,
# so a report asked again (the dashboard, an export after the JSON) is not recomputed from the whole log.
_CACHE: OrderedDict[tuple[str, Request, int], Computed] = OrderedDict()
CACHE_SIZE = 64


async def compute(pool: Pool, requests: list[Request], threshold: int) -> list[Computed]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        pos = await store.positions(conn)
        at = json.dumps(pos, sort_keys=True)
        missing = [r for r in requests if (at, r, threshold) not in _CACHE]
        if missing:
            facts = await store.load_facts(conn)
            for r in missing:
                _CACHE[(at, r, threshold)] = Computed(r, build(facts, r, threshold), pos)
    out = []
    for r in requests:
        _CACHE.move_to_end((at, r, threshold))
        out.append(_CACHE[(at, r, threshold)])
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


async def publish(pool: Pool, conn: Conn, request: Request, threshold: int, actor_id: str) -> dict[str, Any]:
    """Compute (from a snapshot), then record and announce the report (lgnet.reporting.report_published, via the
    outbox) in the caller's transaction on `conn`."""
    (done,) = await compute(pool, [request], threshold)
    now = datetime.now(UTC)
    event = ReportPublished(
        report_id=new_id(),
        report=request.report,
        scope=request.scope,
        as_of=request.window.as_of,
        period_from=request.window.period_from,
        method=request.window.method,
        threshold=threshold,
        digest=done.digest,
        positions=done.positions,
        published_at=now,
    )
    await store.save_published(
        conn,
        report_id=event.report_id,
        report=event.report,
        scope=event.scope,
        as_of=event.as_of,
        period_from=event.period_from,
        digest=event.digest,
        pos=event.positions,
        body=canonical_json(done.body),
        published_by=actor_id,
        published_at=now,
    )
    city = request.scope if request.report == reports.CITY_SUMMARY else "national"
    await outbox.append(conn, [to_envelope(event, source=SOURCE, city=city, time=now)])
    return event.model_dump(mode="json")


async def facts_of(pool: Pool) -> tuple[store.Positions, Facts]:
    """The facts and positions of one consistent snapshot (drill-down, financial statement)."""
    async with pool.acquire() as conn:
        return await snapshot(conn)
