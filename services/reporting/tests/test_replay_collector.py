"""The replay's folds run with Python's cycle collector paused (it walked every row kept so far, again and again: ≈ 20 %
of a worker's time on a million facts, docs/benchmarks.md), and give it back afterwards, whatever happened."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from lgnet_reporting.adapters import log
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
