"""What a connection's release costs: the services' pools (`db.create_pool`: reset only a connection that took
session state) against asyncpg's default reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
every release), in the same run, alternated.

    set -a; . .local/infra.env; set +a; cd bench && ../.venv/bin/python bench_pool_release.py

Each unit of work is what an HTTP read does: acquire, one short query, release; BENCH_CONCURRENCY (default 8) of
them at a time, BENCH_OPS (default 20000) per run, BENCH_RUNS (default 5) runs of each. Prints medians of units per
second and of CPU µs per unit, this process's and PostgreSQL's (its postmaster's children, from /proc).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg
import uvloop
from lgnet_shared import db
from proc_cpu import PG_PIDFILE, cpu_of, pid_of, tree_cpu

DB = os.environ["DATABASE_URL"]
OPS = int(os.environ.get("BENCH_OPS", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
PG_PID = pid_of("BENCH_PG_PID", PG_PIDFILE)


async def default_pool(schema: str) -> Any:
    return await asyncpg.create_pool(
        DB, min_size=CONCURRENCY, max_size=CONCURRENCY, server_settings={"search_path": schema}, init=db.init_connection
    )


async def services_pool(schema: str) -> Any:
    return await db.create_pool(DB, schema, min_size=CONCURRENCY, max_size=CONCURRENCY)


async def run(make: Any, schema: str) -> tuple[float, float, float]:
    pool = await make(schema)
    try:
        async with pool.acquire() as conn:
            await conn.execute("create table if not exists t (id int primary key, v text)")
            await conn.execute("insert into t values (1, 'x') on conflict do nothing")
        left = OPS

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with pool.acquire() as conn:
                    await conn.fetchval("select v from t where id = 1")

        pg0, me0 = tree_cpu(PG_PID), cpu_of(os.getpid())
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
        pg1, me1 = tree_cpu(PG_PID), cpu_of(os.getpid())
    finally:
        await pool.close()
    pg = sum(pg1[p] - pg0[p] for p in pg1 if p in pg0)
    return OPS / elapsed, (me1 - me0) / OPS * 1e6, pg / OPS * 1e6


async def main() -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(DB)
    await conn.execute(f'create schema "{schema}"')
    results: dict[str, list[tuple[float, float, float]]] = {"asyncpg default reset": [], "services' pool": []}
    try:
        for i in range(RUNS):
            for name, make in (("asyncpg default reset", default_pool), ("services' pool", services_pool)):
                results[name].append(await run(make, schema))
                rate, me, pg = results[name][-1]
                print(f"run {i + 1} {name:22}: {rate:8,.0f} units/s, CPU µs/unit: here {me:.0f}, PostgreSQL {pg:.0f}")
    finally:
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()
    print(f"units={OPS} runs={RUNS} concurrency={CONCURRENCY}")
    med = {n: [statistics.median(x[k] for x in r) for k in range(3)] for n, r in results.items()}
    for name, (rate, me, pg) in med.items():
        print(f"{name:22}: {rate:8,.0f} units/s (median); CPU µs/unit this process {me:.0f}, PostgreSQL {pg:.0f}")
    base, ours = med["asyncpg default reset"], med["services' pool"]
    print(
        f"services' pool vs default: {ours[0] / base[0]:.2f}x units/s; CPU per unit (this process + PostgreSQL)"
        f" {(ours[1] + ours[2]) / (base[1] + base[2]):.2f} of the default's"
    )


if __name__ == "__main__":
    uvloop.run(main())
