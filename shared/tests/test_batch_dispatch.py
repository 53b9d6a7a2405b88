"""A fetched batch goes from FastStream to the consumer on the event loop. FastStream's dependency injection resolved
the handler's `KafkaMessage` parameter with a synchronous function, which fast_depends runs in a worker thread, inside
a task group of its own: a thread hop for every batch, which under load also waits for the GIL. The probe service
in-process, against real Kafka and PostgreSQL."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from lgnet_shared.testing.inprocess import sibling_module

commits: Any = sibling_module(__file__, "test_offset_commits.py")
seen, start_probe, send_in_bursts = commits.seen, commits.start_probe, commits.send_in_bursts

pytestmark = pytest.mark.integration


async def test_batches_reach_the_consumer_without_a_worker_thread(
    seen: Any, start_probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = await start_probe(1000)
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    await send_in_bursts(runtime, bursts=6, per_burst=5, gap_s=0.1)
    await seen.processed(30)
    assert seen.batches >= 3, f"the bursts came as {seen.batches} batches: too few to tell"
    assert hops == [], f"{len(hops)} worker-thread hops for {seen.batches} batches: {sorted(set(hops))}"
