"""Where a whole run's CPU goes, by kind of process: runs a command (the suite, `make up`, …) and samples every
process's CPU time from /proc once a second while it runs, then prints CPU-seconds per kind (Kafka brokers,
PostgreSQL, service processes, pytest workers, Chromium, …). The suite is bound by its two cores' CPU, so this, not
wall time, says what a change saved (docs/benchmarks-history.md, "Twenty-ninth pass").

    .venv/bin/python bench/suite_cpu.py -- bash -c \
        'd=$(mktemp -d) && git clone -q . $d/p && cd $d/p && CI=true bash .ci/run'

A process seen in the first second is counted from then on (those running before the command too); one that lives
less than a second between two samples is missed, and one that ends loses its last second. The command's exit
status is this script's."""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

from proc_cpu import cpu_of

KINDS = (  # (kind, a piece of the command line), first match wins
    ("Kafka brokers", "kafka.Kafka"),
    ("PostgreSQL", "postgres"),
    ("Chromium", "chrom"),
    ("pytest workers", "import sys;exec(eval("),
    ("service processes", "forkserver"),
    ("service processes", "/bin/lgnet-"),
    ("mypy", "mypy"),
    ("Playwright's driver, Node", "node"),
)


def kind(pid: str) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if not cmd:
        return "kernel threads"
    return next((k for k, piece in KINDS if piece in cmd), the_rest(cmd))


def the_rest(cmd: str) -> str:
    """Named by its program and first argument's last path parts (`python -m …`, `java … kafka.tools.…`)."""
    words = cmd.split()
    shown = [Path(w).name for w in words[:6] if not w.startswith("-") and not w.endswith("*")][:2]
    return f"the rest: {' '.join(shown)[:60]}"


def main(command: list[str]) -> int:
    first: dict[tuple[str, str], float] = {}  # (pid, start time) -> CPU when first seen
    last: dict[tuple[str, str], float] = {}
    kinds: dict[tuple[str, str], str] = {}
    started = time.monotonic()
    proc = subprocess.Popen(command)
    while True:
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                start = (d / "stat").read_text().rsplit(")", 1)[1].split()[19]
            except (OSError, IndexError):
                continue
            key = (d.name, start)
            cpu = cpu_of(int(d.name))
            if key not in kinds:
                kinds[key] = kind(d.name)
                # Seen in the first second (running before the command, perhaps): from now. Later: from its start.
                first[key] = cpu if time.monotonic() - started < 1 else 0.0
            last[key] = cpu
        if proc.poll() is not None:
            break
        time.sleep(1)
    total: dict[str, float] = collections.defaultdict(float)
    for key, cpu in last.items():
        total[kinds[key]] += cpu - first[key]
    print(f"CPU-seconds by kind of process over {time.monotonic() - started:.0f} s:")
    for name, cpu in sorted(total.items(), key=lambda item: -item[1]):
        if name != "gone" and cpu >= 0.5 and not name.startswith("the rest: "):
            print(f"  {cpu:8.1f}  {name}")
    rest = sorted(((n, c) for n, c in total.items() if n.startswith("the rest: ")), key=lambda item: -item[1])
    print(f"  {sum(c for _, c in rest):8.1f}  the rest, of it:")
    for name, cpu in rest[:12]:
        print(f"  {cpu:12.1f}  {name.removeprefix('the rest: ')}")
    return proc.returncode


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(main(args))
