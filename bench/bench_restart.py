"""Time to ready of a restarted service: each service runs as a real process (own schema and topics), is killed
with SIGKILL (a crash) or stopped with SIGTERM, started again, and timed from spawn to its first 200 on
/health/ready. Prints the median per service and kind of restart, and where the time of a start goes (the
steps of the "service started" log line: pool, migrations, topics, producer, relay; the rest is interpreter
start, imports and uvicorn: `imports` and `serve`).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_restart.py

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; BENCH_RESTARTS (default 5 of each kind per service),
BENCH_SERVICES (default intake,housing,payments,reporting).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from lgnet_shared.testing.process import free_port, service_env

RESTARTS = int(os.environ.get("BENCH_RESTARTS", "5"))
SERVICES = os.environ.get("BENCH_SERVICES", "intake,housing,payments,reporting").split(",")
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]


class Service:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> float:
        """Seconds from spawn to the first 200 on /health/ready."""
        t0 = time.monotonic()
        self.spawned_at = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"lgnet_{self.name}.entrypoints.main"],
            env={**self.env, "LGNET_HTTP_PORT": str(self.port)},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - t0 < 120:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/health/ready")
                    if r.status_code == 200:
                        return time.monotonic() - t0
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready in 120 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def last_start_steps(log: Path, spawned_at: float, ready_after: float) -> dict[str, float]:
    """Where the time of the last start went: `imports` (spawn to the application's startup: interpreter,
    imports, app), the runtime's own steps (pool, migrations, topics, producer, relay, their `total`), and
    `serve` (startup done to the first ready answer: uvicorn binding, the readiness checks)."""
    lines = log.read_text(errors="replace").splitlines()
    starting = max(i for i, line in enumerate(lines) if "Waiting for application startup" in line)
    out: dict[str, float] = {}
    for line in lines[starting:]:
        rec = json.loads(line) if line.startswith("{") else {}
        when = datetime.fromisoformat(rec["timestamp"]).timestamp() if "timestamp" in rec else None
        if "Waiting for application startup" in rec.get("event", "") and when:
            out["imports"] = when - spawned_at
        if rec.get("event") == "service started":
            out.update(rec.get("start_seconds", {}))
            out["serve"] = ready_after - (when - spawned_at) if when else 0.0
            break
    return out


async def bench(name: str, tmp: Path) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    schema = f"bench_restart_{run}_{name}"
    env = service_env(
        BOOTSTRAP, DB, schema, f"benchrestart{run}.", master_key=base64.b64encode(os.urandom(32)).decode()
    )
    svc = Service(name, env, tmp / f"{name}.log")
    result: dict[str, Any] = {"service": name}
    try:
        result["first_start"] = await svc.start()  # creates schema, topics and groups
        await asyncio.sleep(2)  # consumers joined
        for kind in ("kill", "stop"):
            times, steps = [], []
            for _ in range(RESTARTS):
                svc.kill() if kind == "kill" else svc.stop()
                times.append(await svc.start())
                steps.append(last_start_steps(svc.log, svc.spawned_at, times[-1]))
                await asyncio.sleep(1)
            result[kind] = statistics.median(times)
            result[f"{kind}_all"] = times
            result[f"{kind}_steps"] = {k: statistics.median(s.get(k, 0) for s in steps) for k in steps[-1]}
    finally:
        svc.stop()
        conn = await asyncpg.connect(DB)
        try:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
    return result


async def main() -> None:
    print(f"restart benchmark: {RESTARTS} restarts of each kind per service (median seconds to ready)")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as d:
        rows = [await bench(name, Path(d)) for name in SERVICES]
    print(f"{'service':10} {'first start':>11} {'after kill -9':>13} {'after SIGTERM':>13}   start steps after kill -9")
    for r in rows:
        order = ("imports", "pool", "migrations", "topics", "producer", "relay", "total", "serve")
        steps = ", ".join(f"{k} {r['kill_steps'][k]:.2f}" for k in order if k in r["kill_steps"])
        print(f"{r['service']:10} {r['first_start']:11.2f} {r['kill']:13.2f} {r['stop']:13.2f}   {steps}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("all:", json.dumps({r["service"]: {"kill": r["kill_all"], "stop": r["stop_all"]} for r in rows}, default=str))


if __name__ == "__main__":
    asyncio.run(main())
