"""What one round trip to PostgreSQL costs this process, the unit in which a consumer's fixed cost per fetch is
counted (docs/benchmarks-history.md, "Twentieth pass"): per call, the process's user and system CPU (from
getrusage) and the wall time, medians of BENCH_RUNS (default 3) runs of BENCH_CALLS (default 5000) calls each, for

- `select 1` on one connection (one round trip);
- an empty transaction, `BEGIN` and `COMMIT` (two);
- a pool's acquire and release around `select 1` (as a consumer's fetch or an HTTP request takes its connection).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_round_trip.py
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop
from lgnet_shared import db

CALLS = int(os.environ.get("BENCH_CALLS", "5000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


async def measure(call: Callable[[], Awaitable[object]]) -> tuple[float, float, float]:
    """µs per call: user CPU, system CPU, wall."""
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(CALLS):
        await call()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
    return (
        (after.ru_utime - before.ru_utime) / CALLS * 1e6,
        (after.ru_stime - before.ru_stime) / CALLS * 1e6,
        wall / CALLS * 1e6,
    )


async def main() -> None:
    url = os.environ["DATABASE_URL"]
    conn = await asyncpg.connect(url)
    pool = await db.create_pool(url, "public", max_size=2)

    async def select_1() -> object:
        return await conn.fetchval("select 1")

    async def empty_transaction() -> None:
        async with conn.transaction():
            pass

    async def pooled_select_1() -> object:
        async with pool.acquire() as c:
            return await c.fetchval("select 1")

    cases = {"select 1": select_1, "BEGIN + COMMIT": empty_transaction, "pool acquire + select 1": pooled_select_1}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
    try:
        for _ in range(RUNS):  # interleaved, so machine noise hits every case alike
            for name, call in cases.items():
                results[name].append(await measure(call))
    finally:
        await pool.close()
        await conn.close()
    print(f"calls={CALLS} runs={RUNS} (medians, µs per call)")
    for name, runs in results.items():
        user, system, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{name:24s}: CPU {user + system:6.1f} (user {user:5.1f}, system {system:5.1f}); wall {wall:6.1f}")


if __name__ == "__main__":
    uvloop.run(main())
