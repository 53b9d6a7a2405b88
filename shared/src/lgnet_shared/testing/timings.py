"""Where a parallel test run's time went: each worker's busy time and the slowest test files.

pytest's `--durations` names single phases; with `--dist loadfile` a whole file runs on one worker, so the run
lasts as long as its busiest worker, and what to split or speed up next is read from the files' totals.
"""

from __future__ import annotations

from collections import defaultdict

import pytest


class FileTimings:
    """Sums every test phase's duration per worker and per file (on the controller, which sees all reports)."""

    def __init__(self, top: int = 10) -> None:
        self.top = top
        self.per_worker: dict[str, float] = defaultdict(float)
        self.per_file: dict[str, float] = defaultdict(float)
        self.worker_of_file: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = getattr(report, "node", None)  # set by pytest-xdist on reports that came from a worker
        worker = node.gateway.id if node is not None else "main"
        path = report.nodeid.split("::", 1)[0]
        self.per_worker[worker] += report.duration
        self.per_file[path] += report.duration
        self.worker_of_file[path] = worker

    def lines(self) -> list[str]:
        workers = ", ".join(f"{w} {s:.0f} s" for w, s in sorted(self.per_worker.items()))
        out = [f"busy time per worker: {workers}"]
        slowest = sorted(self.per_file.items(), key=lambda kv: kv[1], reverse=True)[: self.top]
        out += [f"{s:8.1f} s  {self.worker_of_file[p]:>4}  {p}" for p, s in slowest]
        return out

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.per_file:
            return
        terminalreporter.write_sep("=", f"slowest {self.top} test files (setup + call + teardown)")
        for line in self.lines():
            terminalreporter.write_line(line)
