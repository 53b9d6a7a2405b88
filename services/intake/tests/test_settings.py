"""Intake's own settings: defaults, values and errors that name the variable."""

from __future__ import annotations

from datetime import date

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


def test_the_programme_starts_on_2014_01_01_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.EARLIEST_DATE_VAR, raising=False)
    assert settings.earliest_date() == date(2014, 1, 1)
    monkeypatch.setenv(settings.EARLIEST_DATE_VAR, "2021-07-01")  # a city that joined the programme later
    assert settings.earliest_date() == date(2021, 7, 1)
    for bad in ("01/07/2021", "20210701", "2021-02-30", "soon"):
        monkeypatch.setenv(settings.EARLIEST_DATE_VAR, bad)
        with pytest.raises(ConfigError, match="LGNET_INTAKE_EARLIEST_DATE: must be a date, YYYY-MM-DD"):
            settings.earliest_date()


def test_help_lists_intakes_own_variables_with_their_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: `lgnet-intake --help` listed the shared variables only, not intake's own."""
    from lgnet_intake.entrypoints.main import SPEC
    from lgnet_shared.testing.service_help import help_lines

    lines = help_lines(SPEC, monkeypatch, capsys)
    for line in (
        "  LGNET_INTAKE_LOOKUP_CACHE_SECONDS  (default '30')",
        "  LGNET_INTAKE_EARLIEST_DATE  (default '2014-01-01')",
        "  LGNET_INBOUND_KEY_ROTATION_DAYS  (default '30')",
        "  LGNET_INBOUND_KEY_GRACE_HOURS  (default '24')",
        "  LGNET_NATIONAL_PSEUDONYM_KEY  (optional)",
        "  LGNET_SANDBOX  (default 'false')",
    ):
        assert line in lines, (line, lines)
    assert "  DATABASE_URL  (required)" in lines  # the shared ones still


def test_a_bad_variable_of_intakes_own_stops_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """It was read when the gatekeeper was built, after the service had started."""
    from lgnet_intake.entrypoints.main import SPEC
    from lgnet_shared.testing.service_start import start_refused

    lines = start_refused(SPEC, monkeypatch, LGNET_INTAKE_LOOKUP_CACHE_SECONDS="x", LGNET_INTAKE_EARLIEST_DATE="soon")
    assert lines == [
        "invalid configuration:",
        "  LGNET_INTAKE_LOOKUP_CACHE_SECONDS: must be a number of at least 0",
        "  LGNET_INTAKE_EARLIEST_DATE: must be a date, YYYY-MM-DD",
    ], lines
