"""Run the LgNet services locally as background processes: start | stop | status.

Each service that exists (services/<name>/ with an entry point) runs as `.venv/bin/lgnet-<name>` with logs in
.local/logs/<name>.log (JSON lines) and its pid in .local/run/<name>.pid. `start` waits for /health/ready.
Connection strings come from the environment (the Makefile loads .local/infra.env). A local master key for
personal-data encryption is generated once into .local/master.key unless LGNET_MASTER_KEY is set.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("LGNET_LOCAL_DIR", ROOT / ".local"))
PORTS = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}


def existing() -> list[str]:
    return [n for n in PORTS if (ROOT / "services" / n / "src" / f"lgnet_{n}" / "entrypoints" / "main.py").exists()]


def pid_of(name: str) -> int | None:
    try:
        pid = int((LOCAL / "run" / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def ready(name: str) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port(name)}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return True, json.loads(resp.read())["status"]
    except urllib.error.HTTPError as exc:
        return False, json.loads(exc.read()).get("checks", {}).__repr__()
    except (OSError, ValueError) as exc:
        return False, type(exc).__name__


def port(name: str) -> int:
    return int(os.environ.get(f"LGNET_{name.upper()}_PORT", PORTS[name]))


def master_key() -> str:
    if key := os.environ.get("LGNET_MASTER_KEY"):
        return key
    path = LOCAL / "master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def start() -> int:
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        if not os.environ.get(var):
            print(f"[services] {var} is not set: run `make up` (it provisions Kafka and PostgreSQL)")
            return 2
    (LOCAL / "run").mkdir(parents=True, exist_ok=True)
    (LOCAL / "logs").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LGNET_MASTER_KEY": master_key(),
        "LGNET_CITY": os.environ.get("LGNET_CITY", "national"),
    }
    for name in existing():
        if pid_of(name):
            print(f"[services] {name} already running (pid {pid_of(name)})")
            continue
        log = (LOCAL / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / f"lgnet-{name}")],
            env={**env, "LGNET_HTTP_PORT": str(port(name))},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (LOCAL / "run" / f"{name}.pid").write_text(str(proc.pid))
        print(f"[services] {name} starting (pid {proc.pid}) on http://127.0.0.1:{port(name)}")
    deadline = time.monotonic() + 90
    pending = set(existing())
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            if pid_of(name) is None:
                print(f"[services] {name} exited; see {LOCAL / 'logs' / f'{name}.log'}")
                return 1
            if ready(name)[0]:
                pending.discard(name)
        time.sleep(0.5)
    if pending:
        print(f"[services] not ready after 90s: {sorted(pending)}")
        return 1
    return 0


def stop() -> int:
    for name in existing():
        pid = pid_of(name)
        if pid is None:
            continue
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if pid_of(name) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        (LOCAL / "run" / f"{name}.pid").unlink(missing_ok=True)
        print(f"[services] {name} stopped")
    return 0


def status() -> int:
    for name in existing():
        pid = pid_of(name)
        state = f"ready ({ready(name)[1]})" if pid and ready(name)[0] else ("starting/unhealthy" if pid else "stopped")
        print(f"{name:11} {state:20} http://127.0.0.1:{port(name)}  docs /docs  log {LOCAL / 'logs' / (name + '.log')}")
    return 0


if __name__ == "__main__":
    commands = {"start": start, "stop": stop, "status": status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(commands[sys.argv[1]]())
