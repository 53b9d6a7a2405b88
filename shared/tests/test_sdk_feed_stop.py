"""A partner's reader of its own topic (`PartnerClient.rejections`) stops when its task is cancelled, even when a
record arrives at that very moment. Python 3.11's `asyncio.wait_for` returns the awaited result instead of raising
when the waiting task is cancelled as what it waits for completes: the reader then went on reading, and a partner's
shutdown waited for ever. A stand-in consumer hands out the record at the chosen moment."""

from __future__ import annotations

import asyncio

import pytest
from lgnet_shared import sdk


class Consumer:
    def __init__(self, *_: object, **__: object) -> None:
        self.next: asyncio.Future[object] | None = None
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def getone(self) -> object:
        self.next = asyncio.get_running_loop().create_future()
        return await self.next


class Record:
    key, value, headers = b"someone-else", b"{}", ()  # not this partner's: skipped, the reader asks again


async def test_a_cancelled_reader_stops_even_as_a_record_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = Consumer()
    monkeypatch.setattr(sdk, "AIOKafkaConsumer", lambda *a, **k: consumer)
    client = sdk.PartnerClient("unused:9092", partner="coop-aurora", city="trieste", security=None, x=1)

    async def read() -> None:
        async for _ in client.rejections(timeout=30):
            pass

    reader = asyncio.create_task(read())
    for _ in range(100):
        if consumer.next is not None:
            break
        await asyncio.sleep(0.01)
    assert consumer.next is not None
    consumer.next.set_result(Record())  # a record arrives as the partner's system shuts down
    reader.cancel()
    done, _ = await asyncio.wait({reader}, timeout=2)
    if not done:
        consumer.next.set_exception(RuntimeError("stop"))  # end the reader that ran on
        await asyncio.wait({reader}, timeout=2)
    assert done and reader.cancelled(), "the reader went on reading after it was cancelled"
    assert consumer.stopped
