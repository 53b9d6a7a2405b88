"""What a loop that retries on errors needs to know to stop when it is told to."""

from __future__ import annotations

import asyncio


def being_cancelled() -> bool:
    """Whether the running task has been cancelled (and not un-cancelled). A loop that takes any exception for a
    failure to retry after must not retry then: a cleanup that fails while the task stops (closing a producer on a
    broker that went away) replaces the CancelledError, and the loop would outlive whoever stopped it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
