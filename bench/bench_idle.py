"""What an idle deployment costs: the four services started as real processes (own schemas and topics, the
product's fetch settings), left idle, and the CPU time they and the broker spend over a quiet spell — with the idle
fetch pace (the default: a consumer whose fetch brought nothing asks with 1 byte and 500 ms) and without it
(`LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS=0`: it asks every 10 ms), alternated in one run.

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_idle.py

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; BENCH_RUNS (default 3 of each), BENCH_SECONDS (default 15).
Prints the CPU share of one core per run and the medians.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_backbone import cleanup
from lgnet_shared.testing.process import ServiceProcess, service_env, start_all, stop_all
from proc_cpu import KAFKA_PIDFILE, cpu_of, pid_of

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
SERVICES = ("intake", "housing", "payments", "reporting")
KAFKA_PID = pid_of("BENCH_KAFKA_PID", KAFKA_PIDFILE)
PRODUCT_FETCH = {"LGNET_CONSUMER_FETCH_MIN_BYTES": "65536", "LGNET_CONSUMER_FETCH_MAX_WAIT_MS": "10"}


async def idle_cost(idle_wait_ms: int) -> tuple[float, float]:
    """(services' CPU, broker's CPU) over the quiet spell, as a share of one core."""
    run = uuid.uuid4().hex[:8]
    prefix = f"benchidle{run}."
    master = base64.b64encode(os.urandom(32)).decode()
    logs = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    processes = []
    for name in SERVICES:
        env = {
            **service_env(BOOTSTRAP, DB, f"bench_idle_{run}_{name}", prefix, master_key=master),
            **PRODUCT_FETCH,
            "LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS": str(idle_wait_ms),
        }
        processes.append(ServiceProcess([sys.executable, "-m", f"lgnet_{name}.entrypoints.main"], env, logs / name))
    try:
        await start_all(processes)
        await asyncio.sleep(5)  # consumer groups joined, start-up work done
        pids = [p.proc.pid for p in processes if p.proc is not None]
        before, broker, wall = sum(map(cpu_of, pids)), cpu_of(KAFKA_PID) if KAFKA_PID else 0.0, time.monotonic()
        await asyncio.sleep(SECONDS)
        elapsed = time.monotonic() - wall
        services_cpu = sum(map(cpu_of, pids)) - before
        broker_cpu = (cpu_of(KAFKA_PID) if KAFKA_PID else 0.0) - broker
    finally:
        stop_all(processes)
        for name in SERVICES:
            await cleanup(f"bench_idle_{run}_{name}", prefix)
    return services_cpu / elapsed, broker_cpu / elapsed


async def main() -> None:
    results: dict[int, list[tuple[float, float]]] = {0: [], 500: []}
    for i in range(RUNS):
        for wait in (0, 500):
            services, broker = await idle_cost(wait)
            results[wait].append((services, broker))
            print(f"run {i + 1}, idle wait {wait} ms: services {services:.1%} of a core, broker {broker:.1%}")
    print(f"four idle services, {SECONDS:.0f} s each run, {RUNS} runs, product fetch settings (64 KiB, 10 ms)")
    for wait, label in ((0, "asking every 10 ms (idle pace off)"), (500, "idle pace, 1 byte / 500 ms (default)")):
        s = statistics.median(r[0] for r in results[wait])
        b = statistics.median(r[1] for r in results[wait])
        print(f"{label:38}: services {s:.1%} of a core, broker {b:.1%} (medians)")
    off = statistics.median(sum(r) for r in results[0])
    on = statistics.median(sum(r) for r in results[500])
    print(f"idle pace against off, services + broker: {on / off:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
