"""Reading the event log from offset zero up to given positions (the auditors' replay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from lgnet_shared.consumer import Record
from lgnet_shared.kafka import client_kwargs

Positions = dict[str, dict[str, int]]


async def end_positions(bootstrap: str, topics: Sequence[str]) -> Positions:
    """The current end of every partition of `topics` (committed records only)."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), isolation_level="read_committed", enable_auto_commit=False)
    try:
        await consumer.start()  # inside: a broker that does not answer still gets its client closed
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps) if tps else {}
        out: Positions = {t: {} for t in topics}
        for tp, offset in ends.items():
            out[tp.topic][str(tp.partition)] = int(offset)
        return out
    finally:
        await consumer.stop()


async def read(bootstrap: str, upto: Positions, batch: int = 10_000) -> AsyncIterator[list[Record]]:
    """Every committed record with an offset below `upto[topic][partition]`, partition order kept (partitions
    interleave arbitrarily: the projection does not depend on it)."""
    targets = {TopicPartition(t, int(p)): o for t, parts in upto.items() for p, o in parts.items() if o > 0}
    if not targets:
        return
    consumer = AIOKafkaConsumer(
        **client_kwargs(bootstrap),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(list(targets))
        await consumer.seek_to_beginning(*targets)
        pending = set(targets)
        while pending:
            got = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch)
            if not got:
                await _check_reachable(consumer, pending, targets)
            out: list[Record] = []
            for tp, records in got.items():
                out += [r for r in records if r.offset < targets[tp]]
            for tp in list(pending):
                if await consumer.position(tp) >= targets[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
            if out:
                yield out
    finally:
        await consumer.stop()


class LogTooShort(RuntimeError):
    """The log ends before the positions asked for: records were deleted, or the positions are not this log's."""


async def _check_reachable(consumer: AIOKafkaConsumer, pending: set[TopicPartition], targets: dict[Any, int]) -> None:
    ends = await consumer.end_offsets(list(pending))
    short = {f"{tp.topic}[{tp.partition}]": (ends[tp], targets[tp]) for tp in pending if ends[tp] < targets[tp]}
    if short:
        detail = ", ".join(f"{k} ends at {end}, expected {want}" for k, (end, want) in sorted(short.items()))
        raise LogTooShort(f"the log is shorter than the positions to replay: {detail}")
