"""Kafka offset commits at most once per interval, not once per batch.

A consumer's record of what it processed is `consumer_positions`, written in each batch's transaction with its
effects; the inbox makes a record read twice harmless. Kafka's committed offsets are a cache of those positions:
where a restarted or rebalanced consumer starts reading, and what lag monitors show. Committing them after every
batch cost a round trip per batch, which the broker writes to its offsets log: 47 a second across a city's four
services in the scenario, 2 to 3 % of their CPU (docs/benchmarks.md, eleventh pass).

`DeferredCommits` takes FastStream's acknowledgement of a processed batch (its `commit()` call) as a note of where
the consumer stands, and sends the notes to Kafka:
- at once when the last commit is older than the interval (a batch after a quiet spell is committed at once);
- otherwise when the interval has passed, by a timer: a consumer's last batch is never left uncommitted;
- for the partitions a rebalance takes away, before they go (the group's next owner starts where this one stopped);
- when the service stops.
What is committed is the client's position at the acknowledgement: the batch's records were all processed by then
(FastStream hands out one batch at a time and fetches the next after the acknowledgement). A crash loses at most an
interval of commits, which the next owner reads again and the inbox recognises.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from lgnet_shared import logs, metrics
from lgnet_shared.fetch import handed_out

log = logs.get_logger(__name__)


class DeferredCommits(ConsumerRebalanceListener):  # type: ignore[misc]
    """One per subscriber. Also its rebalance listener: revoked partitions are committed before they go."""

    def __init__(
        self, consumer_name: str, interval_s: float, on_revoked: Callable[[set[tuple[str, int]]], None] | None = None
    ) -> None:
        self.name = consumer_name
        self.on_revoked = on_revoked  # told the (topic, partition)s this member no longer has (Consumer.forget)
        self.interval_s = interval_s
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}  # by this client: unchanged partitions are not sent again
        self._in_flight: dict[TopicPartition, int] = {}  # the commit on its way: a batch acknowledged meanwhile
        self._last = 0.0
        self._lock = asyncio.Lock()  # one commit at a time, so an older note never lands after a newer one
        self._timer: asyncio.Task[None] | None = None
        self._closing = False

    def acknowledging(self, consumer: Any) -> _Acknowledgement:
        """What FastStream's acknowledgement of a processed batch calls `commit()` (and a rewind `seek()`) on."""
        return _Acknowledgement(self, consumer)

    async def note(self, consumer: AIOKafkaConsumer) -> None:
        if consumer is not self._consumer:  # a restarted subscriber's new client: the old one's notes are void
            self._consumer, self._pending, self._committed, self._in_flight = consumer, {}, {}, {}
        self._pending.update(
            (tp, o)
            for tp, o in handed_out(consumer).items()
            if self._committed.get(tp) != o and self._in_flight.get(tp) != o
        )
        wait = self._last + self.interval_s - time.monotonic()
        if wait <= 0 or self._closing:  # closing: a batch that finished meanwhile, committed at once
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_after(wait), name=f"commits {self.name}")

    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Commit what is noted, for the partitions still assigned (`only` these, if given)."""
        async with self._lock:
            consumer = self._consumer
            if consumer is None or not self._pending:
                return
            assigned = consumer.assignment()
            offsets = {tp: o for tp, o in self._pending.items() if tp in assigned and (only is None or tp in only)}
            # A partition no longer assigned is its new owner's to commit: a late note would move it backwards.
            self._pending = {tp: o for tp, o in self._pending.items() if tp in assigned and tp not in offsets}
            self._last = time.monotonic()
            if not offsets:
                return
            self._in_flight = offsets  # ... would note these partitions again, unchanged, while it is on its way
            try:
                await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
            except asyncio.CancelledError:  # the service stops: its closing flush sends them (and what waited behind)
                for tp, o in offsets.items():
                    self._pending.setdefault(tp, o)
                raise
            except Exception as exc:  # a rebalance took them, or the broker is away: the next note commits again
                metrics.OFFSET_COMMITS.labels(self.name, "failed").inc()
                log.warning("offset commit failed; the next one covers it", consumer=self.name, error=repr(exc))
                for tp, o in offsets.items():
                    self._pending.setdefault(tp, o)
                return
            finally:
                self._in_flight = {}
            self._committed.update(offsets)
            metrics.OFFSET_COMMITS.labels(self.name, "ok").inc()

    async def close(self) -> None:
        """The service stops: commit what is noted, and no timer outlives it."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.flush()

    async def _flush_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self.flush()

    # ConsumerRebalanceListener: aiokafka awaits these during a rebalance, the member still in its group.
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            await self.flush(only=set(revoked))
            for tp in revoked:  # another member may commit them meanwhile: if they come back, send them again
                self._committed.pop(tp, None)
            if self.on_revoked is not None:
                self.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


class _Acknowledgement:
    """Stands in for the Kafka client in a FastStream message: `commit()` notes, `seek()` (a rewind) goes through."""

    def __init__(self, commits: DeferredCommits, consumer: AIOKafkaConsumer) -> None:
        self._commits, self._consumer = commits, consumer

    async def commit(self) -> None:
        await self._commits.note(self._consumer)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(partition, offset)
