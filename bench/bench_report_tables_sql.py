"""What the service does before computing a report: read every report table from PostgreSQL (`store.load_facts`,
one `select * ... order by <primary key>` per table, in one repeatable-read snapshot). The tables of
bench_national_report.py (BENCH_FACTS, or folded afresh) are COPYed into a fresh schema, then the snapshot is timed
and EXPLAIN (ANALYZE, BUFFERS) of the largest tables' queries printed. The schema is dropped at the end.

    set -a; . .local/infra.env; set +a
    BENCH_FACTS=/tmp/facts1m.pickle .venv/bin/python bench/bench_report_tables_sql.py

Each run also computes the national report on the rows just read (a cold report = snapshot + report).

Environment: DATABASE_URL; BENCH_EVENTS, BENCH_FACTS as bench_national_report.py; BENCH_RUNS (default 3).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

import bench_national_report as nat_bench
from lgnet_reporting.adapters.schema import MIGRATIONS
from lgnet_reporting.domain import national as nat
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.projection import TABLES
from lgnet_reporting.service_layer.reports import Request, build, snapshot
from lgnet_shared import consumer, db

RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def tables() -> dict[str, list[dict[str, Any]]]:
    cache = os.environ.get("BENCH_FACTS")
    if cache and Path(cache).exists():
        loaded: dict[str, list[dict[str, Any]]] = pickle.loads(Path(cache).read_bytes())
        return loaded
    return nat_bench.facts_of(nat_bench.N)


async def main() -> None:
    facts = tables()
    url = os.environ["DATABASE_URL"]
    schema = f"bench_tables_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(url, schema, max_size=2)
    try:
        await db.migrate(pool, [consumer.MIGRATION, *MIGRATIONS])
        async with pool.acquire() as conn:
            for name, t in TABLES.items():
                rows = [tuple(r.get(c) for c in t.names) for r in facts[name]]
                if rows:
                    await conn.copy_records_to_table(name, records=rows, columns=t.names)
            await conn.execute("analyze")
            times, builds, digests = [], [], set()
            national = Request(nat.NATIONAL, nat.NATIONAL, nat_bench.WINDOW)
            for run in range(RUNS):
                t0 = time.perf_counter()
                _, loaded = await snapshot(conn)
                times.append(time.perf_counter() - t0)
                # A cold report: the national one computed on the rows just read, as the service does.
                t0 = time.perf_counter()
                digests.add(digest(build(loaded, national, 5)))
                builds.append(time.perf_counter() - t0)
                size = f"{sum(map(len, loaded.values())):,} rows"
                print(f"run {run + 1}: snapshot of {size} in {times[-1]:.2f}s, national report on it {builds[-1]:.2f}s")
            assert all(len(loaded[n]) == len(facts[n]) for n in TABLES)
            for name in sorted(TABLES, key=lambda n: -len(facts[n]))[:3]:
                t = TABLES[name]
                plan = await conn.fetch(f"explain (analyze, buffers) select * from {name} order by {', '.join(t.key)}")
                print(f"-- {name} ({len(facts[name]):,} rows)")
                print("\n".join(r[0] for r in plan))
            report = f"{statistics.median(builds):.2f}s, digest {sorted(digests)[0][:8]} ({len(digests)} distinct)"
            print(f"median snapshot (load_facts) {statistics.median(times):.2f}s, national report on it {report}")
    finally:
        await pool.close()
        conn2 = await asyncpg.connect(url)
        try:
            await conn2.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn2.close()


if __name__ == "__main__":
    asyncio.run(main())
