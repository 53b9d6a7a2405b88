"""Reading the event log from offset zero up to given positions (the auditors' replay)."""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from lgnet_shared.consumer import Record
from lgnet_shared.kafka import KafkaConfigError, client_kwargs
from lgnet_shared.kafka_health import ask_metadata

from lgnet_reporting.adapters import setup_errors

Positions = dict[str, dict[str, int]]


async def end_positions(bootstrap: str, topics: Sequence[str]) -> Positions:
    """The current end of every partition of `topics` (committed records only)."""
    return (await edge_positions(bootstrap, topics, starts=False))[1]


async def edge_positions(bootstrap: str, topics: Sequence[str], starts: bool = True) -> tuple[Positions, Positions]:
    """(The log start of every partition of `topics` — above 0 once records were deleted at its start, by the
    admin API or retention —, its current end); the starts are left empty unless `starts`."""
    consumer = _consumer(bootstrap)
    try:
        await _start(consumer, topics)  # inside: a broker that does not answer still gets its client closed
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps) if tps else {}
        firsts = await consumer.beginning_offsets(tps) if tps and starts else {}
        return _by_topic(topics, firsts), _by_topic(topics, ends)
    finally:
        await consumer.stop()


def _by_topic(topics: Sequence[str], offsets: dict[TopicPartition, int]) -> Positions:
    out: Positions = {t: {} for t in topics}
    for tp, offset in offsets.items():
        out[tp.topic][str(tp.partition)] = int(offset)
    return out


_timestamp = operator.attrgetter("timestamp")


def _by_time(parts: list[list[Record]], joined: list[Record]) -> list[Record]:
    """The partitions' records merged by timestamp, each partition's order kept: a stable sort of the joined runs
    (C speed) when every partition's timestamps already rise, as one producer's do; else a merge of the runs."""
    if all(a.timestamp <= b.timestamp for rs in parts for a, b in itertools.pairwise(rs)):
        joined.sort(key=_timestamp)
        return joined
    return list(heapq.merge(*parts, key=_timestamp))


async def read(
    bootstrap: str, upto: Positions, batch: int = 10_000, by_time: bool = False, whole: bool = False
) -> AsyncIterator[list[Record]]:
    """Every committed record with an offset below `upto[topic][partition]`, partition order kept; partitions
    interleave arbitrarily, or (`by_time`: a national replay judging every fact in order) by the records'
    timestamps within each fetch — the projection depends on their order only where two cities' facts name one id
    (owned_ids), and the merge costs ≈ 0.5 µs a record that the audit's, a city's and the parallel workers' readers
    need not pay. `whole`: from offset zero or not at all — a partition whose first records were deleted is
    LogTooShort (the replay's; the audit reads on and names each record gone)."""
    targets = {TopicPartition(t, int(p)): o for t, parts in upto.items() for p, o in parts.items() if o > 0}
    if not targets:
        return
    consumer = _consumer(
        bootstrap,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        await _start(consumer, sorted({tp.topic for tp in targets}))
        consumer.assign(list(targets))
        if whole:
            await _check_whole(consumer, targets)
        await consumer.seek_to_beginning(*targets)
        pending = set(targets)
        while pending:
            try:
                got = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch)
            except TopicAuthorizationFailedError:  # may describe the topic, may not read it
                raise setup_errors.not_authorised({tp.topic for tp in pending}) from None
            if not got:
                await _check_reachable(consumer, pending, targets)
            # Partitions merged by the records' timestamps, each partition's order kept: the order the live consumer
            # met them in, as near as a reader can tell — which city's fact first named an id (owned_ids) depends on
            # it when two cities' facts name one id on different partitions.
            parts = [[r for r in records if r.offset < targets[tp]] for tp, records in got.items()]
            out = [r for rs in parts for r in rs]
            if by_time:
                out = _by_time(parts, out)
            for tp in list(pending):
                if await consumer.position(tp) >= targets[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
            if out:
                yield out
    finally:
        await consumer.stop()


def _consumer(bootstrap: str, **options: Any) -> AIOKafkaConsumer:
    try:
        kwargs = client_kwargs(bootstrap)
    except KafkaConfigError as exc:
        raise setup_errors.kafka(exc) from None
    return AIOKafkaConsumer(**kwargs, isolation_level="read_committed", enable_auto_commit=False, **options)


async def _start(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
    """Start the consumer and check it may read `topics`. A broker that cannot be reached, or refuses the login,
    is a SetupError naming the setting; so is a topic this principal may not read: aiokafka would otherwise ask for
    its metadata again and again, logging "Topic … is not authorized for this client" each time, and never return."""
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        raise setup_errors.kafka(exc) from None
    await check_readable(consumer, topics)


async def check_readable(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
    if not topics:
        return
    answer = (await ask_metadata(consumer._client, topics)).to_object()
    refused = [t["topic"] for t in answer["topics"] if t["error_code"] == TopicAuthorizationFailedError.errno]
    if refused:
        raise setup_errors.not_authorised(refused)


async def readable(bootstrap: str, topics: Sequence[str]) -> None:
    """Before anything is created for a replay: the broker reachable, the login accepted, `topics` readable."""
    consumer = _consumer(bootstrap)
    try:
        await _start(consumer, topics)
    finally:
        await consumer.stop()


class LogTooShort(RuntimeError):
    """The log ends before the positions asked for: records were deleted, or the positions are not this log's."""


async def _check_whole(consumer: AIOKafkaConsumer, targets: dict[Any, int]) -> None:
    """Every partition still starts at offset 0 (fact topics keep their records forever): an auditor's replay that
    read a log whose first records were deleted (the admin API) said "ok" on fewer records."""
    starts = await consumer.beginning_offsets(list(targets))
    if cut := sorted((f"{tp.topic}[{tp.partition}]", o) for tp, o in starts.items() if o > 0):
        where = ", ".join(f"{name} starts at offset {o}" for name, o in cut)
        raise LogTooShort(
            f"records deleted at the start of the log: {where}; the replay rebuilds from offset zero, so it cannot"
            " check the reports over them (lgnet-audit verify names the records gone)"
        )


async def _check_reachable(consumer: AIOKafkaConsumer, pending: set[TopicPartition], targets: dict[Any, int]) -> None:
    ends = await consumer.end_offsets(list(pending))
    short = {f"{tp.topic}[{tp.partition}]": (ends[tp], targets[tp]) for tp in pending if ends[tp] < targets[tp]}
    if short:
        detail = ", ".join(f"{k} ends at {end}, expected {want}" for k, (end, want) in sorted(short.items()))
        raise LogTooShort(f"the log is shorter than the positions to replay: {detail}")
