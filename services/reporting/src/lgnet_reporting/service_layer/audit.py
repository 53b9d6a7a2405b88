"""`lgnet-audit verify`'s reading of the fact log, spread over processes: one Ed25519 verification per event is
most of the work (libsodium, ~60 µs on a quiet core), and partitions are independent — each record is checked, and
each tree built, within its own partition — so each worker process takes a share of the partitions, reads them
from Kafka itself and hands back its trees and failures. The checkpoints and the saved state are then checked
against the merged trees in the parent, as with one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from lgnet_shared.checkpoints import Checkpoint, CheckpointError, Verifier, open_checkpoint, origin_of
from lgnet_shared.fact_signing import SigningKey
from lgnet_shared.topics import physical

from lgnet_reporting.adapters import facts_log, log
from lgnet_reporting.domain.audit import FACT_TOPICS, Audit, SavedOrigin, Share

# Below this many records one process is quicker than starting workers.
MIN_PARALLEL = 50_000


class NoFactTopics(Exception):
    """Not one fact topic under the prefix that this principal may read: a wrong prefix, most likely (an audit of
    nothing is no clean audit)."""

    def __init__(self, prefix: str, looked_for: list[str]) -> None:
        super().__init__(f"no fact topics found under prefix {prefix!r}")
        self.prefix, self.looked_for = prefix, looked_for


class NotAuthorised(Exception):
    """Topics the audit must read that this principal may not: a setup problem, not a finding about the log."""

    def __init__(self, topics: list[str]) -> None:
        super().__init__(f"not authorised to read {', '.join(topics)}")
        self.topics = topics


async def check_readable(bootstrap: str, prefix: str) -> None:
    """Every fact topic and the checkpoint topic may be read, and at least one fact topic exists; otherwise
    NoFactTopics or NotAuthorised, before any record is read. (A fact topic missing beside others that exist is
    the log's business: its checkpoints show it.)"""
    facts = [physical(t, prefix) for t in FACT_TOPICS]
    checkpoints = physical("checkpoints", prefix)
    errors = await facts_log.topic_errors(bootstrap, [*facts, checkpoints])
    absent = (facts_log.MISSING, facts_log.NOT_AUTHORISED)
    if all(errors.get(t, facts_log.MISSING) in absent for t in facts):
        raise NoFactTopics(prefix, facts)
    refused = [t for t in [*facts, checkpoints] if errors.get(t) == facts_log.NOT_AUTHORISED]
    if refused:
        raise NotAuthorised(refused)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


async def verify_log(
    bootstrap: str,
    prefix: str,
    keys: dict[str, SigningKey],
    notaries: list[Verifier],
    saved: dict[str, SavedOrigin],
    workers: int = 1,
    min_parallel: int | None = None,
) -> Audit:
    """Every fact record up to the current ends, checked and hashed; the checkpoint topic read (first, that they
    may be read: `check_readable`). Call `finish()` after adding any other checkpoints."""
    await check_readable(bootstrap, prefix)
    names = {physical(t, prefix): t for t in FACT_TOPICS}
    # The checkpoint topic's end first, then the facts': every checkpoint read was published before the facts' ends
    # were taken, so it covers records there to read. (Taken after the facts were read, it let in checkpoints the
    # live notary published meanwhile, over records beyond the ends: "log truncated" on a log nobody touched.)
    checkpoints = await log.end_positions(bootstrap, [physical("checkpoints", prefix)])
    starts, ends = await log.edge_positions(bootstrap, list(names))
    audit = Audit(keys, notaries, facts_log.partition_counts(), saved, prefix)
    audit.logical = names
    audit.starts = {(names[t], int(p)): start for t, ps in starts.items() for p, start in ps.items()}
    groups = balanced(ends, workers)
    records = sum(o for ps in ends.values() for o in ps.values())
    if len(groups) > 1 and records >= (MIN_PARALLEL if min_parallel is None else min_parallel):
        loop = asyncio.get_running_loop()
        # forkserver: clean children (no inherited event loop or sockets), forked from a server that has the
        # modules imported already (as the replay's workers).
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        with ProcessPoolExecutor(len(groups), mp_context=ctx) as ex:
            shares = await asyncio.gather(
                *(loop.run_in_executor(ex, _share, bootstrap, prefix, keys, g) for g in groups)
            )
        for share in shares:
            audit.merge(share)
    else:
        with few_collections():
            async for batch in log.read(bootstrap, ends):
                _check(audit, names, batch)
    async for offset, note in facts_log.checkpoint_notes(bootstrap, prefix, checkpoints):
        audit.checkpoint(offset, note)
    return audit


# A checkpoint of one size, as the notary signs it on request (its HTTP API): the signed note, or None when it cannot
# answer. (topic, partition, size) -> note.
NoteOfSize = Callable[[str, int, int], Awaitable[str | None]]


async def pinpoint(audit: Audit, note_of_size: NoteOfSize) -> None:
    """For each partition rewritten under the notary's checkpoints (a range of offsets named, no saved state to
    compare with), the exact offset: the range halved with checkpoints of the sizes between its ends, each note
    opened with the pinned notary keys (log2 of the range in requests). A note that cannot be had, or does not
    verify, leaves the range as it was. A partition shorter than a checkpoint ("log truncated") is asked for a
    checkpoint of its own length first: when its records do not hash to it, a record was dropped or changed before
    its end, and the same halving names it."""

    async def signed(where: tuple[str, int], size: int) -> Checkpoint | None:
        note = await note_of_size(*where, size)
        try:
            cp = open_checkpoint(note, audit.notaries) if note else None
        except CheckpointError:
            return None
        return cp if cp is not None and (cp.origin, cp.size) == (origin_of(*where, audit.prefix), size) else None

    async def halve(where: tuple[str, int], lo: int, hi: int) -> None:
        tree = audit.trees[where]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            cp = await signed(where, mid)
            if cp is None:
                return
            lo, hi = (mid, hi) if tree.root(mid) == cp.root else (lo, mid)
        audit.pinpointed(where, lo)

    for where, (lo, hi, _) in sorted(audit.rewritten.items(), key=lambda item: item[0]):
        await halve(where, lo, hi)
    for where, (lo, end) in sorted(audit.truncated.items(), key=lambda item: item[0]):
        cp = await signed(where, end)
        if cp is not None and audit.trees[where].root(end) != cp.root:
            await halve(where, lo, end)


def balanced(ends: log.Positions, parts: int) -> list[log.Positions]:
    """Partitions dealt to `parts` groups, largest first to the lightest group (their sizes even out)."""
    flat = sorted(((o, t, p) for t, ps in ends.items() for p, o in ps.items() if o > 0), reverse=True)
    groups: list[log.Positions] = [{} for _ in range(max(1, parts))]
    load = [0] * len(groups)
    for o, t, p in flat:
        i = load.index(min(load))
        groups[i].setdefault(t, {})[p] = o
        load[i] += o
    return [g for g in groups if g]


def _share(bootstrap: str, prefix: str, keys: dict[str, SigningKey], ends: log.Positions) -> Share:
    """In a worker process: check and hash these partitions. What it finds comes back as its share: library log
    lines (a Kafka client's retries) would reach the auditor's screen through logging's last resort, so they stop."""
    logging.getLogger().addHandler(logging.NullHandler())
    with few_collections():
        return asyncio.run(_read_share(bootstrap, prefix, keys, ends))


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Millions of small objects (records, hashes) and no reference cycles among them: the cyclic collector would
    scan them again and again for nothing (8 % of verify's time); let it run rarely."""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _read_share(bootstrap: str, prefix: str, keys: dict[str, SigningKey], ends: log.Positions) -> Share:
    names = {physical(t, prefix): t for t in FACT_TOPICS}
    audit = Audit(keys, [], facts_log.partition_counts())
    async for batch in log.read(bootstrap, ends):
        _check(audit, names, batch)
    return audit.share()


def _check(audit: Audit, names: dict[str, str], fetched: list[Any]) -> None:
    """One fetch, topic by topic (each partition's records stay in order)."""
    by_topic: dict[str, list[Any]] = {}
    for r in fetched:
        by_topic.setdefault(r.topic, []).append(r)
    for physical_topic, records in by_topic.items():
        audit.records(names[physical_topic], records)
