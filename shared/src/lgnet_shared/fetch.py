"""Fetching that never stops on a record the Kafka client cannot read.

aiokafka decompresses and parses record batches while `getmany` hands them out. A batch it cannot open (a codec
it lacks, data that does not decompress, a header key that is not UTF-8 — what a non-Java client can write and
the broker accepts) raises there, before any of our code sees a record: FastStream's consume loop then retries the
same fetch forever (a Kafka error) or dies (anything else), and the partition — or the whole consumer — stalls.

`tolerant` wraps the subscriber's fetch: on such an error it rewinds every partition to where it stood before the
fetch (aiokafka moves a partition's position on as it hands out its records, so the partitions handed out before the
failing one would otherwise be skipped — lost), then fetches each assigned partition a record at a time,
returns the records it can read, and stands in for the first one it cannot with an `UnreadableRecord` (topic,
partition, offset and the reason; no value) after seeking past it. The consumer dead-letters that placeholder once,
as a reference to the original, and the partition moves on. Records the client cannot separate from an unreadable
one (the rest of a compressed batch) become placeholders one by one in turn: referenced, never silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    ConsumerStoppedError,
    CorruptRecordException,
    IllegalStateError,
    KafkaError,
    UnsupportedCodecError,
)
from aiokafka.structs import ConsumerRecord

from lgnet_shared import logs

log = logs.get_logger(__name__)
Fetch = Callable[[AIOKafkaConsumer], Awaitable[tuple[Any, ...]]]
# The record's fault, though aiokafka reports them as Kafka errors: retrying the same fetch cannot help.
RECORD_ERRORS: tuple[type[Exception], ...] = (UnsupportedCodecError, CorruptRecordException)
PER_PARTITION = 500  # records read one at a time per partition while isolating (the rest come with later fetches)


@dataclass
class UnreadableRecord(ConsumerRecord[bytes, bytes]):  # type: ignore[misc]
    """Stands in for a record the client could not read: only where it is, and why."""

    reason: str = ""


@dataclass(frozen=True)
class Pace:
    """How a consumer asks the broker for records: busy, the broker answers once `min_bytes` have gathered or after
    `max_wait_ms` (a batch gathers what arrives meanwhile); idle (`idle_max_wait_ms` > 0, set after a fetch that
    brought nothing), it answers as soon as one record is there or after `idle_max_wait_ms`. An idle consumer then
    asks a few times a second instead of every `max_wait_ms`, and the first record after a quiet spell does not
    wait for a gathering that nothing else will fill. A busy consumer takes a fetch as empty after twice
    `max_wait_ms` (at least 20 ms) without records, so sparse traffic (a desk, a partner's few events a second) is
    served at the idle pace between records instead of keeping the busy one."""

    min_bytes: int
    max_wait_ms: int
    idle_max_wait_ms: int = 0

    def apply(self, consumer: AIOKafkaConsumer, idle: bool) -> None:
        # aiokafka reads both for every fetch request it builds, and has no public way to change them once started.
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is None or self.idle_max_wait_ms <= 0:
            return
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = (
            (1, self.idle_max_wait_ms) if idle else (self.min_bytes, self.max_wait_ms)
        )

    def wait_ms(self, idle: bool, timeout_ms: int) -> int:
        """How long to wait for records before taking the fetch as empty: `timeout_ms` when idle (the broker wakes
        the fetch as soon as a record arrives), a few busy fetches' time when busy."""
        if idle or self.idle_max_wait_ms <= 0:
            return timeout_ms
        return min(timeout_ms, max(20, 2 * self.max_wait_ms))


def batches(max_records: int, timeout_ms: int, pace: Pace | None = None) -> Fetch:
    """The subscriber's fetch: whatever has arrived, up to `max_records`, as soon as there is any. FastStream's own
    sleeps another `batch_timeout_ms` after an empty fetch, so a record arriving then waited up to 200 ms more.
    With a `pace`, an empty fetch puts the consumer at its idle pace, records put it back at the busy one."""

    idle = False  # one fetch per consumer: its own pace

    async def fetch_batch(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        nonlocal idle
        wait = pace.wait_ms(idle, timeout_ms) if pace is not None else timeout_ms
        got = await consumer.getmany(timeout_ms=wait, max_records=max_records)
        records = tuple(chain.from_iterable(got.values()))
        if pace is not None and idle != (not records):
            idle = not records
            pace.apply(consumer, idle)
        return records

    return fetch_batch


def tolerant(fetch: Fetch, outcome: Callable[[Exception | None], None] = lambda _: None) -> Fetch:
    """`outcome` hears of every fetch: None when it worked, else the error (stuck detection)."""

    async def tolerant_fetch(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        try:
            before = await _positions(consumer)
            try:
                records = await fetch(consumer)
            except RECORD_ERRORS as exc:
                records = await isolate(consumer, exc, before)
            except ConsumerStoppedError:
                raise
            except KafkaError:  # the broker's or the connection's: FastStream backs off and retries
                with contextlib.suppress(Exception):
                    _rewind(consumer, before)  # the partitions handed out before the error would be skipped
                raise
            except Exception as exc:
                records = await isolate(consumer, exc, before)
        except Exception as exc:
            outcome(exc)
            raise
        outcome(None)
        return records

    return tolerant_fetch


def _states(consumer: AIOKafkaConsumer) -> Iterator[tuple[Any, Any]]:
    """Each assigned partition and the client's state of it, where it has a position. Read from the client's
    subscription state (aiokafka 0.14, pinned in uv.lock), as its own `commit()` reads it, without a round trip."""
    subscription = getattr(getattr(consumer, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    if assignment is None:
        return
    for tp in consumer.assignment():
        state = assignment.state_value(tp)
        if state is not None and state.has_valid_position:
            yield tp, state


def handed_out(consumer: AIOKafkaConsumer) -> dict[Any, int]:
    """Each assigned partition's position, where the client has one: the first record not yet handed out. This runs
    before every fetch and after every batch."""
    return {tp: state.position for tp, state in _states(consumer)}


def behind(
    consumer: AIOKafkaConsumer, unprocessed: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], tuple[int, int]]:
    """Each assigned partition's first record not yet processed and the records from it on: `unprocessed`'s offset
    for a partition whose batch is not done, else the client's position (all it handed out was processed); and where
    its log ends as the last fetch saw it (the last stable offset: a read-committed consumer reads no further) less
    that offset. No round trip: the client's state of each partition."""
    found: dict[tuple[str, int], tuple[int, int]] = {}
    for tp, state in _states(consumer):
        end = state.lso if state.lso is not None else state.highwater
        if end is not None:
            where = (tp.topic, tp.partition)
            first = unprocessed.get(where, state.position)
            found[where] = (first, max(0, end - first))
    return found


async def _positions(consumer: AIOKafkaConsumer) -> dict[Any, int]:
    """Where each assigned partition stands before a fetch. Awaiting `position()` under a timeout for every partition
    cost ≈ 3 % of a service's CPU when its consumer has 48 partitions (docs/benchmarks.md, eleventh pass), so only
    a partition without a position yet (just assigned, or being reset) is asked: the fetch may hand out its first
    records."""
    found = handed_out(consumer)
    for tp in consumer.assignment():
        if tp in found:
            continue
        # Unassigned meanwhile (rebalance), or no position in time: nothing handed out to rewind.
        with contextlib.suppress(IllegalStateError, TimeoutError):
            async with asyncio.timeout(1):
                found[tp] = await consumer.position(tp)
    return found


def _rewind(consumer: AIOKafkaConsumer, positions: dict[Any, int]) -> None:
    assigned = consumer.assignment()
    for tp, offset in positions.items():
        if tp in assigned:
            consumer.seek(tp, offset)


async def isolate(consumer: AIOKafkaConsumer, first: Exception, before: dict[Any, int]) -> tuple[Any, ...]:
    log.warning("fetch failed: isolating the record the client cannot read", error=type(first).__name__)
    _rewind(consumer, before)
    records: list[Any] = []
    for tp in sorted(consumer.assignment()):
        for _ in range(PER_PARTITION):
            try:
                got = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            except RECORD_ERRORS as exc:
                records.append(await _skip(consumer, tp, exc))
                break
            except (KafkaError, ConsumerStoppedError):
                raise
            except Exception as exc:
                records.append(await _skip(consumer, tp, exc))
                break
            if not got:
                break
            records.extend(got.get(tp, ()))
    return tuple(records)


async def _skip(consumer: AIOKafkaConsumer, tp: Any, exc: Exception) -> UnreadableRecord:
    """The client's position is the first record it could not hand out: stand in for it and move past it."""
    offset = await consumer.position(tp)
    consumer.seek(tp, offset + 1)
    reason = f"the Kafka client cannot read this record: {type(exc).__name__}: {str(exc)[:300]}"
    log.error("record unreadable by the client", topic=tp.topic, partition=tp.partition, offset=offset)
    return UnreadableRecord(tp.topic, tp.partition, offset, -1, 0, None, None, None, -1, -1, [], reason=reason)
