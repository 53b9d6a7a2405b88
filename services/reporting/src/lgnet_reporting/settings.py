"""Reporting's own setting, read from the environment like the shared ones (README, "Configuration")."""

from __future__ import annotations

import os

from lgnet_shared.config import ConfigError

MIN_CELL_VAR = "LGNET_REPORTING_MIN_CELL"
DEFAULT_MIN_CELL = 5


def min_cell() -> int:
    """Small-cell threshold of the national aggregate: counts from 1 to this minus one are hidden."""
    raw = os.environ.get(MIN_CELL_VAR, str(DEFAULT_MIN_CELL)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"invalid configuration:\n  {MIN_CELL_VAR}: must be a whole number of at least 1")
    return int(raw)
