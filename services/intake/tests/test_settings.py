"""Intake's own settings: defaults, values and errors that name the variable."""

from __future__ import annotations

import pytest
from lgnet_intake import settings
from lgnet_shared.config import ConfigError


def test_the_gatekeeper_trusts_its_look_ups_for_30_seconds_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(settings.LOOKUP_CACHE_VAR, raising=False)
    assert settings.lookup_cache_seconds() == 30
    monkeypatch.setenv(settings.LOOKUP_CACHE_VAR, "2.5")
    assert settings.lookup_cache_seconds() == 2.5
    monkeypatch.setenv(settings.LOOKUP_CACHE_VAR, "0")  # look everything up again for every record
    assert settings.lookup_cache_seconds() == 0
    for bad in ("-1", "soon"):
        monkeypatch.setenv(settings.LOOKUP_CACHE_VAR, bad)
        with pytest.raises(ConfigError, match="LGNET_INTAKE_LOOKUP_CACHE_SECONDS: must be a number of at least 0"):
            settings.lookup_cache_seconds()
