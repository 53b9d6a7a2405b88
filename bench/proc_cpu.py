"""CPU time of other processes, for the benches that report what the broker, PostgreSQL or service processes spent
(user + system, every thread, from /proc: what other processes' load changes least on a shared machine)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOCAL = Path(__file__).resolve().parent.parent / ".local"
KAFKA_PIDFILE = LOCAL / "kafka" / "kafka.pid"
PG_PIDFILE = LOCAL / "postgres" / "data" / "postmaster.pid"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """utime + stime of one process, seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
    return out


def pid_of(env: str, *files: Path) -> int | None:
    """A process id from the environment variable `env`, else from the first readable pid file (its first word)."""
    if os.environ.get(env):
        return int(os.environ[env])
    for f in files:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(f.read_text().split()[0])
    return None


def tree_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds of a process and its children (PostgreSQL's postmaster and its backends), by pid."""
    return {p: cpu_of(p) for p in ([pid, *children(pid)] if pid else [])}


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot, all cores (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK
