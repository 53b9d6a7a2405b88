"""The intake process's own settings, applied by its entry point before the service starts."""

from __future__ import annotations

import gc

import pytest
from lgnet_intake.entrypoints import main as entrypoint


def test_the_collector_scans_young_objects_every_20000_allocations(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetched batch in flight is not re-scanned every 700 allocations (docs/benchmarks.md)."""
    before = gc.get_threshold()
    started_with: list[tuple[int, ...]] = []
    monkeypatch.setattr(entrypoint, "run", lambda spec: started_with.append(gc.get_threshold()))
    try:
        entrypoint.main()
    finally:
        gc.set_threshold(*before)
    assert started_with == [(20_000, 20, 100)]
