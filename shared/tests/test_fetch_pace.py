"""An idle consumer asks the broker a few times a second, not every 10 ms, and a record after a quiet spell still
comes at once (fetch.Pace), against a real broker with the product's fetch settings (64 KiB, 10 ms)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lgnet_shared import config, fetch
from lgnet_shared.kafka import client_kwargs

pytestmark = pytest.mark.integration

BUSY = config.Settings.model_fields["consumer_fetch_min_bytes"].default, 10


@pytest.fixture
async def topic(new_topic: Callable[..., Any]) -> str:
    name: str = await new_topic("pace")
    return name


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


class Counted:
    """A started consumer at the product's busy settings whose fetch requests to the broker are counted."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer, self.requests = consumer, 0
        client = consumer._client
        send = client.send

        async def counting(node_id: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if type(request).__name__.startswith("FetchRequest"):
                self.requests += 1
            return await send(node_id, request, *args, **kwargs)

        client.send = counting

    async def requests_while_idle(self, fetch_batch: fetch.Fetch, seconds: float) -> int:
        """Fetch requests sent while the consumer keeps fetching an idle topic for `seconds` (after settling)."""
        deadline = time.monotonic() + 30
        while self.requests == 0 and time.monotonic() < deadline:  # its position found, it has begun to fetch
            assert await fetch_batch(self.consumer) == ()
        settle = time.monotonic() + 0.5
        while time.monotonic() < settle:
            assert await fetch_batch(self.consumer) == ()
        before, until = self.requests, time.monotonic() + seconds
        while time.monotonic() < until:
            assert await fetch_batch(self.consumer) == ()
        return self.requests - before


@pytest.fixture
async def counted(kafka_bootstrap: str, topic: str) -> AsyncIterator[Counted]:
    consumer = AIOKafkaConsumer(
        **client_kwargs(kafka_bootstrap),
        auto_offset_reset="earliest",
        fetch_min_bytes=BUSY[0],
        fetch_max_wait_ms=BUSY[1],
    )
    await consumer.start()
    try:
        counted = Counted(consumer)
        consumer.assign([TopicPartition(topic, 0)])  # no group to join: fetching starts at once
        yield counted
    finally:
        await consumer.stop()


async def test_an_idle_consumer_asks_a_few_times_a_second_and_a_record_still_comes_at_once(
    counted: Counted, producer: AIOKafkaProducer, topic: str
) -> None:
    paced = fetch.batches(500, 200, fetch.Pace(*BUSY, idle_max_wait_ms=500))
    idle = await counted.requests_while_idle(paced, seconds=2)
    assert idle <= 8, f"{idle} fetch requests in 2 s of idleness: the idle pace asks about twice a second"
    fetcher = counted.consumer._fetcher
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (1, 500)  # the broker answers the first record

    await producer.send_and_wait(topic, b"after a quiet spell")
    got: tuple[Any, ...] = ()
    for _ in range(50):
        if got := await paced(counted.consumer):
            break
    assert [r.value for r in got] == [b"after a quiet spell"]
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == BUSY  # busy again: a batch gathers


async def test_without_an_idle_pace_an_idle_consumer_asks_every_max_wait(counted: Counted) -> None:
    """The baseline the idle pace is measured against (and what `LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS=0` keeps)."""
    unpaced = fetch.batches(500, 200, fetch.Pace(*BUSY, idle_max_wait_ms=0))
    busy = await counted.requests_while_idle(unpaced, seconds=2)
    assert busy >= 25, f"only {busy} fetch requests in 2 s at a 10 ms wait"


async def test_sparse_records_are_fetched_at_the_idle_pace_between_them(
    counted: Counted, producer: AIOKafkaProducer, topic: str
) -> None:
    """A few records a second (a desk, a small partner): between records the consumer asks at the idle pace, not
    every 10 ms until 200 ms have passed without one; each record is still handed out."""
    paced = fetch.batches(500, 200, fetch.Pace(*BUSY, idle_max_wait_ms=500))
    await counted.requests_while_idle(paced, seconds=0.5)  # fetching from the partition's start

    async def send() -> None:
        for i in range(12):
            await producer.send_and_wait(topic, b"%d" % i)
            await asyncio.sleep(0.15)

    sender, before = asyncio.create_task(send()), counted.requests
    got: list[bytes] = []
    while len(got) < 12:
        got += [r.value for r in await paced(counted.consumer)]
    await sender
    requests = counted.requests - before
    assert got == [b"%d" % i for i in range(12)]
    assert requests <= 60, f"{requests} fetch requests for 12 records 150 ms apart (busy polling: ≈ 150)"


async def test_positions_before_a_fetch_are_the_clients_own_read_without_asking(
    kafka_bootstrap: str, new_topic: Callable[..., Any], producer: AIOKafkaProducer
) -> None:
    """The positions `tolerant` rewinds to (taken before every fetch) are what `position()` answers, for every
    partition, read from the client's state once it has them: no call per partition (fetch._positions)."""
    name: str = await new_topic("positions", partitions=3)
    for p, n in ((0, 5), (1, 2)):  # partition 2 stays empty
        for i in range(n):
            await producer.send_and_wait(name, b"x%d" % i, partition=p)
    consumer = AIOKafkaConsumer(**client_kwargs(kafka_bootstrap), auto_offset_reset="earliest", max_poll_records=3)
    await consumer.start()
    try:
        parts = [TopicPartition(name, p) for p in range(3)]
        consumer.assign(parts)
        # No position yet: asked (the fetch that follows may hand out the first records).
        assert await fetch._positions(consumer) == {tp: 0 for tp in parts}
        got = 0
        deadline = time.monotonic() + 30
        while got < 7 and time.monotonic() < deadline:
            got += sum(len(r) for r in (await consumer.getmany(timeout_ms=500, max_records=3)).values())
        asked = {tp: await consumer.position(tp) for tp in parts}
        assert asked[parts[0]] == 5 and asked[parts[1]] == 2

        async def refuse(_: Any) -> int:
            raise AssertionError("asked the client partition by partition")

        consumer.position = refuse
        assert await fetch._positions(consumer) == asked
    finally:
        await consumer.stop()
