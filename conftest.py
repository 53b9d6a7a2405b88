"""How `make test` spreads test modules over pytest-xdist workers: the longest first.

`--dist loadfile` hands whole modules to workers (a module's tests share its started platform). xdist takes them in
collection order — by default re-sorted by the number of tests — so the few end-to-end modules that take minutes
with a handful of tests started last and the run waited on them at the end. Here the modules are handed out by
their expected duration (`.ci/test_durations.json`, seconds per module measured on a full run), longest first, so
the minutes-long modules start at once side by side and the short ones fill the gaps.

A worker runs a test only when it already holds the next one (pytest's teardown needs `nextitem`), so a module of a
single test blocks until a second unit arrives. Such a worker is given the *shortest* module left as its companion,
not the next long one, which would otherwise wait behind it while other workers go idle.

`LGNET_STORE_DURATIONS=1 make test` rewrites `.ci/test_durations.json` from the run (setup + call + teardown of
every test, summed per module)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

DURATIONS = Path(__file__).parent / ".ci" / "test_durations.json"


def _expected() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except FileNotFoundError:
        return {}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        expected = _expected()

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            # xdist tops a worker up while it holds ≤ 2 pending tests; here only while it holds < 2 (it cannot run
            # its last one alone), so no module waits queued behind a long one.
            if self._pending_of(self.assigned_work[node]) >= 2:
                return
            self._assign_work_unit(node)

        def _assign_work_unit(self, node: Any) -> None:
            assigned = self.assigned_work.setdefault(node, {})
            blocked = any(not any(done.values()) for done in assigned.values())  # holds a module not yet begun
            order = sorted(self.workqueue, key=lambda scope: self.expected.get(scope, 0.0), reverse=not blocked)
            scope = order[0]
            work_unit = self.workqueue.pop(scope)
            assigned[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

    return LongestFirst(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get("LGNET_STORE_DURATIONS") != "1" or hasattr(session.config, "workerinput"):
        return  # only the controller (or a serial run) writes, once
    timings = session.config.pluginmanager.get_plugin("lgnet-file-timings")  # lgnet_shared.testing.timings
    if timings is not None and timings.per_file:
        merged = _expected() | {k: round(v, 1) for k, v in timings.per_file.items()}
        DURATIONS.write_text(json.dumps(dict(sorted(merged.items(), key=lambda kv: -kv[1])), indent=1) + "\n")
