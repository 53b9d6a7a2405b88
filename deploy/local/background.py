"""One background process of the local platform: started detached with its log and pid under .local/, waited for
until its health URL answers, stopped with its whole process group. The services, the scheduler, the notary and the
desk are each one of these (deploy/local/services.py, scheduler.py, notary.py, desk.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("LGNET_LOCAL_DIR", ROOT / ".local"))


def pid_of(name: str) -> int | None:
    """The process's id while it runs. An exited process is gone, even before it is reaped: `start` leaves it to
    the machine's init, which may reap it a second or more later (a zombie still answers `kill(pid, 0)`)."""
    try:
        pid = int((LOCAL / "run" / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return None if _exited(pid) else pid


def readiness(url: str, timeout: float = 3) -> tuple[bool, str]:
    """(Ready, what its health URL says): its status when it answers 200 ("ok", "degraded"); otherwise why — the
    checks a 503 names as failing ("consumers: error: … stuck on … for 131s"), or the connection's error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
        try:
            return True, str(json.loads(body).get("status", "ok"))
        except (ValueError, AttributeError):  # a health URL that answers 200 with no JSON object
            return True, "ok"
    except urllib.error.HTTPError as exc:
        try:
            checks = json.loads(exc.read()).get("checks", {})
        except ValueError:
            checks = {}
        failing = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
        return False, "; ".join(failing) or f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, type(exc).__name__


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return Path("/proc/self").exists()  # reaped meanwhile; without /proc (not Linux) `kill(pid, 0)` decides
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


@dataclass(frozen=True)
class Background:
    name: str
    port: int
    health: str = "/health/ready"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return LOCAL / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        return pid_of(self.name)

    def ready(self) -> bool:
        return readiness(self.url + self.health, timeout=2)[0]

    def spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Start it detached (its own session, so `stop` ends its children too); its output goes to its log."""
        (LOCAL / "run").mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (LOCAL / "run" / f"{self.name}.pid").write_text(str(proc.pid))
        return proc

    def start(self, argv: Sequence[str], env: Mapping[str, str], timeout: float = 60) -> bool:
        """Spawn it unless it runs, then wait until it is ready; False (and where to look) if it exits or times out."""
        if self.pid() is not None:
            return True
        proc = self.spawn(argv, env)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"[{self.name}] did not start; see {self.log}")
                return False
            time.sleep(0.5)
        return True

    def stop(self) -> bool:
        """SIGTERM to its process group, SIGKILL after 10 s; True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if self.pid() is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        (LOCAL / "run" / f"{self.name}.pid").unlink(missing_ok=True)
        print(f"[{self.name}] stopped")
        return True

    def status_line(self, extra: str = "") -> str:
        return status_line(self.name, self.pid(), self.url + self.health, f"{self.url}  {extra}log {self.log}")


def status_line(name: str, pid: int | None, health: str, where: str) -> str:
    """`make status`'s line of a process: ready, stopped, or running and not ready — then with why, as its readiness
    says it (it said "starting/unhealthy" alone while /health/ready named a stuck consumer)."""
    if pid is None:
        return f"{name:11} {'stopped':20} {where}"
    ready, said = readiness(health)
    if ready:
        return f"{name:11} {f'ready ({said})':20} {where}"
    return f"{name:11} {'starting/unhealthy':20} {where}\n{'':11} not ready: {said}"


def command_line(doc: str | None, **commands: Callable[[], int]) -> None:
    """`python <script> <command>`: run it and exit with its status; the script's doc on a wrong command."""
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(doc)
        raise SystemExit(2)
    raise SystemExit(commands[sys.argv[1]]())
