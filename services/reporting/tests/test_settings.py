"""Reporting's own variables are checked at start, like the shared ones: an outside test started reporting with
LGNET_REPORTING_MIN_CELL=abc; it reported ready, then answered every report with a plain 500."""

from __future__ import annotations

import pytest
from lgnet_reporting.entrypoints.main import SPEC
from lgnet_shared.testing.service_start import start_refused


def test_a_bad_variable_of_reportings_own_stops_its_start_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = start_refused(
        SPEC, monkeypatch, LGNET_REPORTING_MIN_CELL="abc", LGNET_NOTARY_VERIFIER="garbage", LGNET_NOTARY_KEY="zz"
    )
    assert lines[0] == "invalid configuration:", lines
    assert "  LGNET_REPORTING_MIN_CELL: must be a whole number of at least 1" in lines, lines
    assert any(line.startswith("  LGNET_NOTARY_VERIFIER: ") for line in lines), lines
    assert any(line.startswith("  LGNET_NOTARY_KEY: ") for line in lines), lines
