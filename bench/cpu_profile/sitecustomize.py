"""A CPU-time profiler for the service processes a test run forks (`lgnet_shared.testing.forkserver`).

py-spy samples wall time on this machine (its idle filter does not work in the sandbox's VM: the event loop's
`select` came out as the top "busy" frame), which on a loaded machine says where processes wait for a core, not what
they spend. This samples on CPU time instead: every forked child arms `ITIMER_PROF`, and the signal handler counts
the Python stack it interrupted (main thread; native code is counted at the Python frame that called it). Each
child writes its counts to `$LGNET_CPU_PROFILE_DIR/<pid>.txt` every few seconds. `LGNET_CPU_PROFILE_SELF=1`
profiles the process itself as well (a bench whose relay and consumer run in-process).

    LGNET_CPU_PROFILE_DIR=/tmp/cpuprof PYTHONPATH=bench/cpu_profile .venv/bin/pytest tests/test_scenario_e2e.py
    .venv/bin/python bench/cpu_profile/report.py /tmp/cpuprof

Not a dependency of anything: a file Python imports at start-up when its folder is on PYTHONPATH."""

from __future__ import annotations

import atexit
import collections
import os
import signal
import time
from pathlib import Path
from types import FrameType

INTERVAL_S = 0.004  # of CPU time: 250 samples per CPU-second
DIR = os.environ.get("LGNET_CPU_PROFILE_DIR", "")


def _where(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    for cut in ("/site-packages/", "/src/"):
        path = path.rsplit(cut, 1)[-1]
    return f"{frame.f_code.co_name} ({path})"


def _arm() -> None:
    counts: collections.Counter[str] = collections.Counter()
    last = [time.monotonic()]
    busy: list[bool] = []
    pid = os.getpid()
    out = Path(DIR) / f"{os.getpid()}.txt"

    def sample(_signum: int, frame: FrameType | None) -> None:
        if busy:
            return  # the signal came while this handler ran (it takes CPU time too): not counted
        busy.append(True)
        try:
            _count(frame)
        finally:
            busy.clear()

    def _count(frame: FrameType | None) -> None:
        stack: list[str] = []
        while frame is not None and len(stack) < 80:
            stack.append(_where(frame))
            frame = frame.f_back
        counts[";".join(reversed(stack))] += 1
        if time.monotonic() - last[0] > 3:
            last[0] = time.monotonic()
            lines = [f"# interval_s={INTERVAL_S}"] + [f"{k} {v}" for k, v in counts.items()]
            out.write_text("\n".join(lines) + "\n")

    def stop() -> None:
        if os.getpid() != pid:
            return  # a forked child's copy of its parent's hook: the child has its own
        # Python drops its handlers while it finalises: a SIGPROF then would kill the process (its default action).
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        lines = [f"# interval_s={INTERVAL_S}"] + [f"{k} {v}" for k, v in counts.items()]
        out.write_text("\n".join(lines) + "\n")

    atexit.register(stop)
    signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)


if DIR:
    Path(DIR).mkdir(parents=True, exist_ok=True)
    os.register_at_fork(after_in_child=_arm)
    if os.environ.get("LGNET_CPU_PROFILE_SELF") == "1":  # this process too (a bench that runs in-process)
        _arm()
