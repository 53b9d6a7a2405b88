"""`lgnet-<service> --help` as a test reads it: run in process, starting nothing."""

from __future__ import annotations

import sys

import pytest

from lgnet_shared import service


def help_lines(
    spec: service.ServiceSpec, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    monkeypatch.setattr(sys, "argv", [f"lgnet-{spec.name}", "--help"])
    monkeypatch.setattr(service, "create_app", lambda *_: pytest.fail("--help started the service"))
    service.run(spec)
    return capsys.readouterr().out.splitlines()
