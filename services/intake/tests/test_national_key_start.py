"""An intake started without the programme's national pseudonym key says so at start (an outside tester joined Bologna
without it: nothing said, and its persons would have counted apart from every other city's in the national report)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from lgnet_intake.entrypoints.programme import say_without_national_key
from lgnet_intake.settings import NATIONAL_KEY_VAR
from structlog.testing import capture_logs

KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # base64 of 32 bytes


def runtime(prefix: str = "", schema: str | None = "intake_bologna") -> Any:
    return SimpleNamespace(settings=SimpleNamespace(topic_prefix=prefix, db_schema=schema))


def warnings_at_start(monkeypatch: pytest.MonkeyPatch, key: str | None, **where: Any) -> list[Any]:
    if key is None:
        monkeypatch.delenv(NATIONAL_KEY_VAR, raising=False)
    else:
        monkeypatch.setenv(NATIONAL_KEY_VAR, key)
    with capture_logs() as logs:
        say_without_national_key(runtime(**where))
    return [entry for entry in logs if entry["log_level"] == "warning"]


def test_an_intake_without_the_national_key_says_so_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    [said] = warnings_at_start(monkeypatch, None)
    assert said["variable"] == "LGNET_NATIONAL_PSEUDONYM_KEY"
    assert "counts its persons apart" in said["event"]


def test_an_intake_with_the_key_or_a_sandbox_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGNET_SANDBOX", "true")
    assert warnings_at_start(monkeypatch, None, prefix="sandbox.", schema="intake_sandbox") == []
    monkeypatch.delenv("LGNET_SANDBOX")
    assert warnings_at_start(monkeypatch, KEY) == []
