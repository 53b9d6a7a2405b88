"""How long local provisioning takes: cold (empty Maven repository, no cluster), warm restart, already running.

    .venv/bin/python bench/bench_provisioning.py

Uses its own folder, ports and Maven repository under a temporary directory, so it neither disturbs nor
benefits from the project's running infrastructure. BENCH_RUNS (default 1) repeats the cold measurement.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INFRA = Path(__file__).resolve().parents[1] / "deploy" / "local" / "infra.py"


def timed(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(INFRA), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    cold, warm, running = [], [], []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="lgnet-prov-"))
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
        env.update(
            LGNET_LOCAL_DIR=str(tmp / "local"),
            LGNET_KAFKA_PORT="29092",
            LGNET_KAFKA_CONTROLLER_PORT="29093",
            LGNET_PG_PORT="25432",
            MAVEN_OPTS=f"-Dmaven.repo.local={tmp / 'm2'}",
        )
        try:
            cold.append(timed(env, "start"))
            running.append(timed(env, "start"))
            timed(env, "stop")
            warm.append(timed(env, "start"))
        finally:
            subprocess.run([sys.executable, str(INFRA), "stop"], env=env, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"runs={runs}")
    print(f"cold start (Maven download, initdb, KRaft format): {statistics.median(cold):6.1f} s")
    print(f"warm start (stopped → ready)                      : {statistics.median(warm):6.1f} s")
    print(f"start when already running (readiness check only) : {statistics.median(running):6.1f} s")


if __name__ == "__main__":
    main()
