"""The replay's folds and a report's snapshot of the tables run with Python's cycle collector paused (it walked
every row kept so far, again and again: ≈ 20 % of a replay worker's time on a million facts, docs/benchmarks.md),
and give it back afterwards, whatever happened."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from lgnet_reporting.adapters import log, store
from lgnet_reporting.service_layer import collector, replay


@pytest.fixture(autouse=True)
def _collector_on() -> Any:
    assert gc.isenabled()
    yield
    gc.enable()  # whatever a failing test left


def test_the_pause_gives_the_collector_back_after_an_error_and_leaves_a_paused_one_paused() -> None:
    states = []

    def failing_fold() -> None:
        with collector.paused():
            states.append(gc.isenabled())
            raise ValueError("a fold that failed")

    with pytest.raises(ValueError, match="a fold that failed"):
        failing_fold()
    assert states == [False] and gc.isenabled()
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()  # someone else's pause is theirs to end


async def test_a_single_process_rebuild_folds_and_loads_paused_then_gives_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, bool] = {}

    async def fold(*_: Any) -> replay.Fold:
        seen["fold"] = gc.isenabled()
        return replay.Fold("torino")

    async def load(*_: Any) -> dict[str, int]:
        seen["load"] = gc.isenabled()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(replay, "fold", fold)
    monkeypatch.setattr(replay, "load", load)
    monkeypatch.setattr(log, "read", lambda *_a, **_k: None)
    with pytest.raises(RuntimeError, match="went away"):
        await replay.rebuild("unused:9092", None, {}, "torino")
    assert seen == {"fold": False, "load": False}
    assert gc.isenabled()


def test_a_worker_folds_and_copies_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    async def fold_and_copy(*_: Any) -> Any:
        seen.append(gc.isenabled())
        return replay.WorkerFold(0, 0, 0, {}, 0.0, 0.0, {})

    monkeypatch.setattr(replay, "_fold_and_copy", fold_and_copy)
    assert replay._worker("unused:9092", "postgresql://unused", "s", {}, None) == (0, 0, 0, {}, 0.0, 0.0, {})
    assert seen == [False] and gc.isenabled()


async def test_a_snapshot_of_the_report_tables_is_read_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """1,356,918 rows of the bench's million facts: 3.2-3.3 s read with the collector on, 1.7-1.8 s paused (each row a
    dict kept to the end: every full collection walked them all). The replay reads one per report, the service one
    per report it computes."""
    from contextlib import asynccontextmanager

    from lgnet_reporting.service_layer import reports

    seen: list[bool] = []

    async def load_facts(_: Any) -> dict[str, list[dict[str, Any]]]:
        seen.append(gc.isenabled())
        return {}

    class Conn:
        @asynccontextmanager
        async def transaction(self, **_: Any) -> Any:
            yield

    async def positions(_: Any) -> dict[str, dict[str, int]]:
        return {}

    monkeypatch.setattr(store, "load_facts", load_facts)
    monkeypatch.setattr(store, "positions", positions)
    assert await reports.snapshot(Conn()) == ({}, {})
    assert seen == [False] and gc.isenabled()
