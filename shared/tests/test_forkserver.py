"""The fork server that starts the services under test (lgnet_shared.testing.forkserver): each forked service is a
process of its own, with its own environment and log, that ends when killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lgnet_shared.testing import process
from lgnet_shared.testing.forkserver import ForkedProcess, ForkServer, preloaded_module
from lgnet_shared.testing.process import ServiceProcess, service_env, stop_leftovers

pytestmark = pytest.mark.integration

INTAKE = [sys.executable, "-m", "lgnet_intake.entrypoints.main"]


def test_only_the_preloaded_services_are_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preloaded_module(INTAKE) == "lgnet_intake.entrypoints.main"
    assert preloaded_module([sys.executable, "-m", "lgnet_desk.entrypoints.main"]) is None
    assert preloaded_module(["lgnet-intake"]) is None
    monkeypatch.setenv("LGNET_TEST_FORKSERVER", "0")
    assert preloaded_module(INTAKE) is None


async def test_a_forked_service_reads_the_environment_it_was_given(tmp_path: Path) -> None:
    """The test's own environment has a DATABASE_URL; the one given to the service has none, and the service
    refuses to start naming it, in its own log, as `python -m` would."""
    assert "DATABASE_URL" in os.environ
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = ServiceProcess(INTAKE, env, tmp_path / "intake.log")
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        await process.start(timeout=30)
    assert isinstance(process.proc, ForkedProcess)
    assert process.proc.poll() is not None
    assert "invalid configuration" in (tmp_path / "intake.log").read_text()


async def test_a_forked_service_is_a_process_of_its_own_that_a_kill_ends(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> None:
    first, second = (
        ServiceProcess(
            INTAKE, service_env(kafka_bootstrap, database_url, f"{pg_schema}{n}", topic_prefix), tmp_path / f"{n}.log"
        )
        for n in ("a", "b")
    )
    await first.start()
    await second.start()
    try:
        assert isinstance(first.proc, ForkedProcess) and isinstance(second.proc, ForkedProcess)
        server = ForkServer._server
        assert server is not None
        assert len({first.proc.pid, second.proc.pid, server.pid, os.getpid()}) == 4
        first.kill()
        assert first.proc.poll() is not None
        assert second.proc.poll() is None  # the other one lives on
    finally:
        first.stop()
        second.stop()
    assert second.proc.poll() is not None


def test_a_forked_service_starting_imports_nothing_heavy_the_server_could_have(tmp_path: Path) -> None:
    """Each forked child built its app and server and so imported pydantic.v1 (FastAPI's check for old models),
    uvicorn's protocols and the like again, ≈ 0.1 s of CPU per service start (docs/benchmarks.md, eighteenth pass).
    In a fresh interpreter: the server's imports, then what a child does before it serves."""
    script = """
import importlib, os, sys
import uvicorn
from lgnet_shared.service import create_app
from lgnet_shared.testing import forkserver
from lgnet_shared.testing.inprocess import settings_for
forkserver.preload()
before = set(sys.modules)
for name in forkserver.PRELOADED:
    app = create_app(importlib.import_module(name).SPEC, settings_for(os.environ["DATABASE_URL"], "unused"))
    uvicorn.Config(app, loop="auto").load()
print(" ".join(sorted(set(sys.modules) - before)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    heavy = ("pydantic", "fastapi", "starlette", "uvicorn", "uvloop", "cryptography", "lgnet_")
    new = [m for m in out.stdout.split() if m.startswith(heavy)]
    assert not new, f"imported by every child, not by the server: {new}"


async def test_a_process_a_test_left_running_is_stopped_at_the_sessions_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start that failed (never ready) leaves its process running unless someone stops it: two intake processes
    a failing draft left behind ran on for half an hour, storming the broker, and spoiled every benchmark taken
    meanwhile. The plugin's session end stops what is left (`stop_leftovers`)."""
    monkeypatch.setattr(process, "_spawned", [])  # this test's processes only, not what this worker runs besides
    never_ready = ServiceProcess(
        [sys.executable, "-c", "import time; time.sleep(120)"], dict(os.environ), tmp_path / "x.log"
    )
    with pytest.raises(RuntimeError, match="not ready"):
        await never_ready.start(timeout=0.5)
    assert never_ready.proc is not None and never_ready.proc.poll() is None  # left running by the failed start
    assert stop_leftovers() == 1
    assert never_ready.proc.poll() is not None
    assert stop_leftovers() == 0
