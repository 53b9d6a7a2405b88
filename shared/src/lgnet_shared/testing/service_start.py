"""A service's start as a test reads it: `lgnet-<service>` run in process with the given environment, until the
point where it would connect to anything (the app is never built)."""

from __future__ import annotations

import sys

import pytest

from lgnet_shared import service

SHARED_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "LGNET_CITY": "torino",
    "LGNET_MASTER_KEY": "A" * 43 + "=",
}


def start_refused(spec: service.ServiceSpec, monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """The lines a start with the shared variables right and `env` on top exits with (fails if it goes on)."""
    for name, value in {**SHARED_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", [f"lgnet-{spec.name}"])
    monkeypatch.setattr(service, "create_app", lambda *_: pytest.fail("the service started with a bad variable"))
    with pytest.raises(SystemExit) as stopped:
        service.run(spec)
    return str(stopped.value.code).splitlines()
