"""The notary at work: reads the fact topics from where its state stopped, grows its trees, and publishes signed
checkpoints of the partitions that grew — at a fixed interval, and at once after a published report (so every
report is anchored in a checkpoint within one fetch, not one interval)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lgnet_shared import kafka_health
from lgnet_shared.checkpoints import Checkpoint
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import physical
from prometheus_client import Counter, Gauge

from lgnet_reporting.adapters import facts_log
from lgnet_reporting.adapters.notary_store import NotaryStore
from lgnet_reporting.domain.notary import Notary, Partition

# What operators alert on (docs/operators.md, "The notary"): a tree that grows past its newest checkpoint for long,
# or a last checkpoint that gets old, means reports are not being anchored.
RECORDS_READ = Counter("lgnet_notary_records_read_total", "Fact records the notary read from Kafka into its trees")
CHECKPOINTS = Counter("lgnet_notary_checkpoints_published_total", "Signed checkpoints published on lgnet.checkpoints")
LAST_CHECKPOINT = Gauge(
    "lgnet_notary_last_checkpoint_timestamp_seconds", "When the notary last published checkpoints (Unix time)"
)
TREE_SIZE = Gauge("lgnet_notary_tree_size", "Records in the tree of a fact topic-partition", ["topic", "partition"])
CHECKPOINTED_SIZE = Gauge(
    "lgnet_notary_checkpointed_size", "Tree size of the newest published checkpoint", ["topic", "partition"]
)
# 1 for a partition found rewritten under the notary (docs/operators.md, "The notary"): it publishes no checkpoint of
# it any more, and /health/ready names it.
REWRITTEN = Gauge(
    "lgnet_notary_partition_rewritten",
    "1 when the log of a fact topic-partition was rewritten under the notary (it signs no more checkpoints of it)",
    ["topic", "partition"],
)
SWEPT = Counter(
    "lgnet_notary_records_read_again_total", "Notarised records read again and compared with their leaves (the sweep)"
)
log = logging.getLogger(__name__)
# A record read again (the first and last notarised of each partition, before each round's checkpoints) within this.
PROBE_TIMEOUT_S = 10.0
# Notarised records of each partition read again a round besides the first and last (the sweep: from the first to
# the last, then from the first again): a million-record partition is read through once every 500 rounds (8 hours at
# a round a minute). `lgnet-notary run --sweep`, LGNET_NOTARY_SWEEP.
SWEEP_RECORDS = 2_000
# The follow loop fetches at least every half second; a minute without one is a stalled notary.
STALLED_AFTER_S = 60.0
# A round whose log could not be compared with the trees (Kafka away) is tried again this soon instead of after a
# whole interval: /health/ready said 503 for up to a minute after Kafka was back. One offsets request a try.
RECHECK_S = 5.0


class NotStarted(Exception):
    pass


class NotaryRunner:
    def __init__(
        self,
        notary: Notary,
        bootstrap: str,
        prefix: str = "",
        store: NotaryStore | None = None,
        sweep: int = SWEEP_RECORDS,
    ) -> None:
        self.notary, self.bootstrap, self.prefix, self.store = notary, bootstrap, prefix, store
        self.sweep = sweep  # records of each partition read again a round (`_sweep`; 0: none)
        notary.prefix = prefix  # it signs checkpoints of the log it follows: their origins name its prefix
        self.read = 0  # records read from Kafka since start (a restart reads only what is new)
        self.restored: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaConsumer | None = None  # reads notarised records again (`check_log`)
        self._said: set[tuple[str, int]] = set()  # the rewritten partitions already logged
        self.unchecked: str | None = None  # why the last check of the log against the trees could not be made
        self._logical: dict[str, str] = {}
        self.last_fetch: float | None = None  # monotonic time of the last fetch that answered
        self.stopped = False

    async def start(self) -> None:
        if self.store is not None:
            self.restored = await asyncio.to_thread(self.store.load, self.notary)
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(self.bootstrap),
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        # One record per partition wanted: small fetches (a larger first batch still comes whole).
        self._probe = AIOKafkaConsumer(
            **client_kwargs(self.bootstrap),
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=64 * 1024,
        )
        self._producer = AIOKafkaProducer(**client_kwargs(self.bootstrap), enable_idempotence=True)
        await self._consumer.start()
        await self._probe.start()
        await self._producer.start()
        tps = []
        for topic, count in facts_log.partition_counts().items():
            self._logical[physical(topic, self.prefix)] = topic
            tps += [TopicPartition(physical(topic, self.prefix), p) for p in range(count)]
        self._consumer.assign(tps)
        for tp in tps:
            part = self.notary.partitions.get((self._logical[tp.topic], tp.partition))
            self._consumer.seek(tp, part.next_offset if part else 0)
        await self.check_log()  # a log rewritten while the notary was stopped: nothing of it read

    def _tp(self, topic: str, number: int) -> TopicPartition:
        return TopicPartition(physical(topic, self.prefix), number)

    def _refuse(self) -> None:
        """Stop reading the partitions found rewritten; say each once (log line, metric)."""
        assert self._consumer is not None
        for (topic, number), why in self.notary.rewritten().items():
            REWRITTEN.labels(topic, str(number)).set(1)
            tp = self._tp(topic, number)
            if tp in self._consumer.assignment():
                self._consumer.pause(tp)
            if (topic, number) not in self._said:
                self._said.add((topic, number))
                log.error(
                    "notary: %s partition %s was rewritten under the notary: %s; no further checkpoint of it is"
                    " signed (its tree stays the history it notarised)",
                    topic,
                    number,
                    why,
                )

    async def check_log(self) -> None:
        """Each notarised partition's log against its tree: the broker's log start and end offsets, its first and
        last notarised records read again, and the next records of a sweep through all of them (`_sweep`). A
        partition rewritten (the topic deleted and made anew, records written back: of the same length or not, two
        swapped) is refused (`Notary.ends`, `Notary.compare`)."""
        assert self._consumer is not None and self._probe is not None
        wanted = {
            self._tp(t, n): part
            for (t, n), part in self.notary.partitions.items()
            if len(part.tree) and part.rewritten is None and self._tp(t, n) in self._consumer.assignment()
        }
        if wanted:
            tps = list(wanted)
            try:  # a fact topic deleted (not made anew yet) is not answered for: the client would wait 40 s
                async with asyncio.timeout(PROBE_TIMEOUT_S):
                    starts = await self._probe.beginning_offsets(tps)
                    ends = await self._probe.end_offsets(tps)
            except Exception as exc:  # any failure to get an answer: the log cannot be compared, nothing is signed
                why = f"the log could not be compared with the trees ({type(exc).__name__}: a fact topic gone?)"
                if why != self.unchecked:  # once per outage: its rounds are tried again every RECHECK_S
                    log.warning("notary: %s; no checkpoint signed until it can be", why)
                self.unchecked = why
                return
            self.unchecked = None
            for tp in tps:
                self.notary.ends(self._logical[tp.topic], tp.partition, ends[tp])
            # The first notarised record is the first read from the log's start (records of a transaction aborted
            # there are skipped, as they were; with records deleted at the start, which the audit names, not
            # compared), the last one is read from its own offset.
            first = {
                tp: (starts[tp], 0)
                for tp, part in wanted.items()
                if part.rewritten is None and starts[tp] <= part.offset_of(0)
            }
            await self._read_again(first)
            last = {
                tp: (part.offset_of(len(part.tree) - 1), len(part.tree) - 1)
                for tp, part in wanted.items()
                if part.rewritten is None
            }
            await self._read_again(last)
            await self._sweep({tp: part for tp, part in wanted.items() if part.rewritten is None})
        self._refuse()

    async def _read_again(self, asked: dict[TopicPartition, tuple[int, int]]) -> None:
        """The first record from each offset `asked`, compared with the notarised record of the leaf index asked
        with it."""
        assert self._probe is not None
        if not asked:
            return
        self._probe.assign(list(asked))
        for tp, (offset, _) in asked.items():
            self._probe.seek(tp, offset)
        left, deadline = dict(asked), time.monotonic() + PROBE_TIMEOUT_S
        while left and time.monotonic() < deadline:
            got = await self._probe.getmany(*left, timeout_ms=500)
            for tp, records in got.items():
                if records and tp in left:
                    self.notary.compare(self._logical[tp.topic], tp.partition, left.pop(tp)[1], records[0])

    async def _sweep(self, parts: dict[TopicPartition, Partition]) -> None:
        """The next `self.sweep` notarised records of each partition read again and compared with their leaves:
        a rewrite keeping the first and last records (two in the middle swapped, one changed, the length the same)
        is found within one sweep, while the notary runs, not only at an auditor's next `verify`."""
        assert self._probe is not None
        spans: dict[TopicPartition, int] = {}  # the offset of the last record to read again this round
        for tp, part in parts.items() if self.sweep else ():
            part.swept = part.swept if part.swept < len(part.tree) else 0
            spans[tp] = part.offset_of(min(len(part.tree), part.swept + self.sweep) - 1)
        if not spans:
            return
        self._probe.assign(list(spans))
        for tp in spans:
            self._probe.seek(tp, parts[tp].offset_of(parts[tp].swept))
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while spans and time.monotonic() < deadline:
            got = await self._probe.getmany(*spans, timeout_ms=500)
            for tp, records in got.items():
                part, last = parts[tp], spans.get(tp, -1)
                for r in (r for r in records if r.offset <= last):
                    leaf = part.leaf_of(r.offset)  # None: an offset the tree skips (a transaction's marker)
                    if leaf is None:
                        continue
                    SWEPT.inc()
                    part.swept = leaf + 1
                    if self.notary.compare(self._logical[tp.topic], tp.partition, leaf, r):
                        break  # rewritten: said by `_refuse`
                if records and (records[-1].offset >= last or part.rewritten):
                    spans.pop(tp, None)

    async def stop(self) -> None:
        self.stopped = True
        for client in (self._consumer, self._probe, self._producer):
            if client is not None:
                await client.stop()

    async def fetch(self, timeout_ms: int = 500) -> int:
        """One fetch from every partition's position; the records read."""
        assert self._consumer is not None
        got = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=20_000)
        n, refused = 0, False
        for tp, records in got.items():
            topic = self._logical[tp.topic]
            for r in records:
                if not self.notary.add(topic, r):
                    refused = True
                    break
                n += 1
        if refused:
            self._refuse()
        self.read += n
        self.last_fetch = time.monotonic()
        RECORDS_READ.inc(n)
        return n

    async def catch_up(self) -> None:
        """Read up to the ends the partitions have now."""
        assert self._consumer is not None
        tps = list(self._consumer.assignment() - self._consumer.paused())
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(tps)
        while any([await self._consumer.position(tp) < ends[tp] for tp in tps if tp not in self._consumer.paused()]):
            await self.fetch()

    async def checkpoint(self) -> list[Checkpoint]:
        """Sign and publish a checkpoint of every partition that grew. The trees are on disk first, so a
        published checkpoint is never lost by a restart. The log is checked against the trees first: no checkpoint
        of a partition rewritten under the notary is signed."""
        assert self._producer is not None
        await self.check_log()
        fresh = [] if self.unchecked else self.notary.grown()
        if self.store is not None:
            await asyncio.to_thread(self.store.save, self.notary)
        topic = physical("checkpoints", self.prefix)
        for cp in fresh:
            await self._producer.send_and_wait(topic, cp.note.encode(), key=cp.origin.encode())
        self.notary.published(fresh)
        if self.store is not None:
            await asyncio.to_thread(self.store.save, self.notary)
        CHECKPOINTS.inc(len(fresh))
        LAST_CHECKPOINT.set_to_current_time()
        return fresh

    async def ready(self) -> dict[str, str]:
        """/health/ready's checks: Kafka answers about the topics the notary reads and writes (the services' check:
        a topic gone or refused is an error naming it, a missing broker of a replicated cluster "degraded"), and the
        notary has fetched within STALLED_AFTER_S."""
        checks: dict[str, str] = {}
        try:
            if self._producer is None or self.stopped:
                raise NotStarted
            topics = [*self._logical, physical("checkpoints", self.prefix)]
            async with asyncio.timeout(3):
                checks["kafka"] = await kafka_health.topics_state(self._producer.client, topics)
        except NotStarted:
            checks["kafka"] = "error: stopped" if self.stopped else "error: not started"
        except Exception as exc:  # any failure to get an answer is "not ready", named
            checks["kafka"] = f"error: {type(exc).__name__}"
        if self.stopped:
            checks["following"] = "error: stopped"
        elif self.last_fetch is None:
            checks["following"] = "error: has not read the log yet"
        elif (idle := time.monotonic() - self.last_fetch) > STALLED_AFTER_S:
            checks["following"] = f"error: no fetch for {idle:.0f}s"
        else:
            checks["following"] = "ok"
        rewritten = self.notary.rewritten()
        if self.unchecked and not rewritten:
            checks["log"] = f"error: {self.unchecked}"
            return checks
        checks["log"] = (
            "error: "
            + "; ".join(
                f"{t} partition {n} rewritten, no checkpoint signed: {why}" for (t, n), why in rewritten.items()
            )
            if rewritten
            else "ok"
        )
        return checks

    def refresh_metrics(self) -> None:
        """The trees' sizes and newest checkpoints, read at each scrape."""
        for (topic, number), part in self.notary.partitions.items():
            TREE_SIZE.labels(topic, str(number)).set(len(part.tree))
            REWRITTEN.labels(topic, str(number)).set(1 if part.rewritten else 0)
            CHECKPOINTED_SIZE.labels(topic, str(number)).set(part.published.size if part.published else 0)

    async def follow(self, every: float, report: Any = print) -> None:
        """Tail the fact topics for ever: checkpoints every `every` seconds and after every published report."""
        due = time.monotonic()
        while True:
            n = await self.fetch()
            if self.notary.report_seen or time.monotonic() >= due:
                reason = "report" if self.notary.report_seen else "recheck" if self.unchecked else "interval"
                fresh = await self.checkpoint()
                due = time.monotonic() + (min(every, RECHECK_S) if self.unchecked else every)
                report({"checkpoints": len(fresh), "reason": reason, "read": self.read})
            elif n and self.store is not None:
                await asyncio.to_thread(self.store.save, self.notary)
