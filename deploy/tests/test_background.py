"""The local platform's background processes (deploy/local/background.py): a stopped process counts as gone as soon
as it has exited, not once somebody reaps it. `make up` starts each service from a command that exits at once, so
the service's parent is the machine's init, which may reap an exited process late (≈ 1.2 s in our sandbox): `make
down` waited that long for every service, scheduler, notary and desk."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BACKGROUND_PY = Path(__file__).parents[1] / "local" / "background.py"


@pytest.fixture
def background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LGNET_LOCAL_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("lgnet_local_background", BACKGROUND_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks its module up
    spec.loader.exec_module(module)
    (tmp_path / "run").mkdir()
    return module


def test_an_exited_process_not_yet_reaped_is_not_running(background: Any, tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while _state(child.pid) != "Z":  # exited; this test, its parent, has not reaped it
            time.sleep(0.01)
        (tmp_path / "run" / "exited.pid").write_text(str(child.pid))
        assert background.pid_of("exited") is None
        running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            (tmp_path / "run" / "running.pid").write_text(str(running.pid))
            assert background.pid_of("running") == running.pid
        finally:
            running.kill()
            running.wait()
    finally:
        child.wait()


def test_stopping_an_orphaned_process_returns_once_it_has_exited(background: Any, tmp_path: Path) -> None:
    """As `make up` leaves them: started by a command that has exited since."""
    starter = (
        "import sys; sys.path.insert(0, sys.argv[1]); import background;"
        " background.Background('sleeper', 1).spawn([sys.executable, '-c', 'import time; time.sleep(60)'], {})"
    )
    env = {**os.environ, "LGNET_LOCAL_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", starter, str(BACKGROUND_PY.parent)], env=env, check=True)
    pid = int((tmp_path / "run" / "sleeper.pid").read_text())
    assert background.pid_of("sleeper") == pid
    started = time.monotonic()
    assert background.Background("sleeper", 1).stop()
    took = time.monotonic() - started
    assert _state(pid) in ("Z", None), "stop returned while the process still ran"
    assert took < 0.5, f"stop took {took:.2f} s for a process that ends on SIGTERM at once"


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
