"""Every LGNET_* name the repository's code and configuration use is in `lgnet_shared.variables.KNOWN`, and nothing
else is: a typo in a city's environment is said at start (it was ignored, and a mistyped LGNET_DB_SCHEMA made and
migrated the default schema)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from lgnet_shared import config
from lgnet_shared.variables import KNOWN, PER_COMPONENT, unknown

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = {"LGNET_DESK", "LGNET_DESK_OIDC", "LGNET_DESK_PRIVACY"}  # groups the docs and tests name, not variables


def used_in_the_repository() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found: set[str] = set()
    for name in files:
        path = ROOT / name
        if path.suffix in (".md", ".png", ".json", ".lock") or not path.is_file() or path == Path(__file__):
            continue
        found |= set(re.findall(r"LGNET_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="ignore")))
    return found - PREFIXES


def test_the_known_variables_are_those_the_repository_uses() -> None:
    used = used_in_the_repository()
    assert used - KNOWN == set(), "read somewhere, unknown to lgnet_shared.variables"
    assert KNOWN - PER_COMPONENT - used == set(), "known, used nowhere"
    settings_names = {config.variable(f) for f in config.Settings.model_fields}
    assert {n for n in settings_names if n.startswith("LGNET_")} <= KNOWN


def test_a_misspelled_variable_is_said_with_the_nearest_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert unknown({"LGNET_DB_SCHEM": "x", "LGNET_CITY": "torino", "HOME": "/"}) == [
        "LGNET_DB_SCHEM is not a variable LgNet reads (did you mean LGNET_DB_SCHEMA?)"
    ]
    assert unknown({"LGNET_WHATEVER_ELSE": "1"}) == ["LGNET_WHATEVER_ELSE is not a variable LgNet reads"]
    # at a service's start, before its settings are read: one line on stderr each, and the service starts
    config._say_unknown_variables.cache_clear()
    monkeypatch.setenv("LGNET_DB_SCHEM", "typo")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("LGNET_MASTER_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LGNET_CITY", "torino")
    config.load()
    assert "warning: LGNET_DB_SCHEM is not a variable LgNet reads (did you mean LGNET_DB_SCHEMA?)" in (
        capsys.readouterr().err
    )
