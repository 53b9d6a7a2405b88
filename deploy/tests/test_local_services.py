"""The local services can be run a few at a time (deploy/local/services.py start|stop|status [SERVICE ...]): a city
IT team that runs only some services (DESIGN.md: "the freedom to run only the components they need") could start or
stop only all four — `services.py stop housing` printed the usage and stopped nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LOCAL = Path(__file__).parents[1] / "local"


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LGNET_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_NATIONAL_PSEUDONYM_KEY", "A" * 43 + "=")
    monkeypatch.syspath_prepend(str(LOCAL))
    for name, path in (("background", LOCAL / "background.py"), ("lgnet_local_services", LOCAL / "services.py")):
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
    return module


def test_start_and_stop_take_the_services_to_act_on(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running: set[str] = set()
    stopped: list[str] = []

    class Proc:
        pid = 4242

    def spawn(self: Any, argv: list[str], env: dict[str, str]) -> Proc:
        running.add(self.name)
        return Proc()

    def stop(self: Any) -> bool:
        stopped.append(self.name)
        return True

    monkeypatch.setattr(services, "principals", lambda names, city: {n: {} for n in names})
    monkeypatch.setattr(services, "pid_of", lambda name: 4242 if name in running else None)
    monkeypatch.setattr(services, "ready", lambda name: (name in running, "ok"))
    monkeypatch.setattr(services.Background, "spawn", spawn)
    monkeypatch.setattr(services.Background, "stop", stop)

    assert services.start(["reporting", "intake"]) == 0
    assert running == {"intake", "reporting"}  # and it did not wait for the two it was not asked to start
    assert services.stop(["intake"]) == 0 and stopped == ["intake"]
    assert services.start(["nosuch"]) == 2 and services.stop(["housing", "nosuch"]) == 2
    assert running == {"intake", "reporting"} and stopped == ["intake"]  # a wrong name: nothing done
    assert services.stop([]) == 0 and stopped == ["intake", "intake", "housing", "payments", "reporting"]


def test_a_wrong_name_is_named() -> None:
    done = subprocess.run(
        [sys.executable, str(LOCAL / "services.py"), "stop", "housing", "nosuch"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "not a service: nosuch (choose among intake, housing, payments, reporting)" in done.stdout
