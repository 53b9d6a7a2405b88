"""CI prints each worker's busy time and the slowest test files: what to split or speed up next."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import pytest
from lgnet_shared.testing.timings import FileTimings


def report(
    nodeid: str, when: Literal["setup", "call", "teardown"], duration: float, worker: str | None
) -> pytest.TestReport:
    r = pytest.TestReport(nodeid, ("f.py", 0, nodeid), {}, "passed", None, when, duration=duration)
    if worker is not None:
        r.node = SimpleNamespace(gateway=SimpleNamespace(id=worker))  # type: ignore[attr-defined]
    return r


def test_phases_add_up_per_file_and_per_worker_slowest_first() -> None:
    t = FileTimings(top=2)
    for r in [
        report("tests/test_a.py::test_one", "setup", 100.0, "gw0"),
        report("tests/test_a.py::test_one", "call", 20.0, "gw0"),
        report("tests/test_a.py::test_two", "teardown", 5.5, "gw0"),
        report("shared/tests/test_b.py::test_x", "call", 30.0, "gw1"),
        report("shared/tests/test_c.py::test_y[1]", "call", 1.0, "gw1"),
    ]:
        t.pytest_runtest_logreport(r)
    assert t.lines() == [
        "busy time per worker: gw0 126 s, gw1 31 s",
        "   125.5 s   gw0  tests/test_a.py",
        "    30.0 s   gw1  shared/tests/test_b.py",
    ]


def test_a_run_without_workers_is_one_worker() -> None:
    t = FileTimings()
    t.pytest_runtest_logreport(report("tests/test_a.py::t", "call", 2.0, None))
    assert t.lines()[0] == "busy time per worker: main 2 s"


def test_a_parallel_run_prints_them_once(tmp_path: Path) -> None:
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_a():\n    time.sleep(0.3)\n")
    (tmp_path / "test_fast.py").write_text("def test_b():\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "lgnet_shared.testing.plugin",
         "-n", "2", "--dist", "loadfile", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "slowest 10 test files" in line)
    assert re.fullmatch(r"busy time per worker: gw0 \d+ s, gw1 \d+ s", lines[start + 1])
    assert re.fullmatch(r" +0\.[3-9]\d* s +gw\d  test_slow\.py", lines[start + 2]), lines[start + 2]
    assert lines[start + 3].endswith("  test_fast.py")
    assert run.stdout.count("busy time per worker") == 1
