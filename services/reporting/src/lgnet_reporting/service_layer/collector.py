"""Python's cycle collector paused around work that keeps millions of objects and makes no reference cycles among
them: a full collection walks every object kept so far, again and again, for nothing to free."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off inside, given back afterwards whatever happened; one someone else paused stays paused.
    Used by a report's computation (a third of its time at a million facts), its snapshot of the tables (almost half)
    and the replay's folds (≈ a fifth of a worker's time): docs/benchmarks.md."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
