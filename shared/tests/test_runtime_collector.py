"""A runtime freezes what its start built (the cycle collector no longer walks it) and gives it back at its stop —
but only what it froze itself: a process whose heap was frozen before the runtime started (the test processes, by
the shared plugin once collection is done) keeps it frozen, else the first in-process service stopped in a test
module took the plugin's gain away from the rest of the module. Against real Kafka and PostgreSQL."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")

pytestmark = pytest.mark.integration


async def _start_and_stop(kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str) -> int:
    runtime = Runtime(robustness.SPEC, robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    try:
        assert gc.get_freeze_count() > 0  # what start built is frozen while the service runs
    finally:
        await runtime.stop()
    return gc.get_freeze_count()


async def test_a_heap_frozen_before_the_runtime_stays_frozen_after_its_stop(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    gc.freeze()
    before = gc.get_freeze_count()
    assert before > 0
    assert await _start_and_stop(kafka_bootstrap, database_url, pg_schema, topic_prefix) >= before


async def test_a_runtime_that_froze_the_heap_itself_gives_it_back_at_its_stop(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    gc.unfreeze()
    try:
        assert await _start_and_stop(kafka_bootstrap, database_url, pg_schema, topic_prefix) == 0
    finally:
        gc.freeze()  # as the plugin left it for the tests after this one
