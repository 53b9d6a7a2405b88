"""`--help` and a bad configuration of the commands that are not services (`lgnet-scheduler`, and the desk's in its
own tests): an operator read "configuration error: 1 validation error for SchedulerSettings … For further
information visit https://errors.pydantic.dev/…" for `lgnet-scheduler --help`, and no list of the variables."""

from __future__ import annotations

import sys

import pytest
from lgnet_shared.scheduler import main as scheduler


def test_the_scheduler_lists_its_variables_on_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(sys, "argv", ["lgnet-scheduler", "--help"])
    monkeypatch.setattr(scheduler, "create_app", lambda *_: pytest.fail("--help started the scheduler"))
    scheduler.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("usage: lgnet-scheduler"), lines
    expected = (
        "  DATABASE_URL  (required)",
        "  LGNET_SCHEDULER_AT  (default 06:00:00)",
        "  LGNET_SCHEDULER_TZ  (default 'Europe/Rome')",
        "      local time of day of the daily run",
    )
    for line in expected:
        assert line in lines, (line, lines)


def test_the_scheduler_names_each_variable_at_fault_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("LGNET_SCHEDULER_TZ", "Europe/Atlantide")
    monkeypatch.setattr(sys, "argv", ["lgnet-scheduler"])
    with pytest.raises(SystemExit) as stopped:
        scheduler.main()
    message = str(stopped.value.code)
    assert message.splitlines()[0] == "lgnet-scheduler: invalid configuration:", message
    assert "  DATABASE_URL: Field required" in message.splitlines(), message
    assert any(line.startswith("  LGNET_SCHEDULER_TZ: ") for line in message.splitlines()), message
    assert "pydantic.dev" not in message and "validation error" not in message, message
