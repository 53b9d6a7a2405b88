"""The notary at work: reads the fact topics from where its state stopped, grows its trees, and publishes signed
checkpoints of the partitions that grew — at a fixed interval, and at once after a published report (so every
report is anchored in a checkpoint within one fetch, not one interval)."""

from __future__ import annotations

import asyncio
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
from lgnet_reporting.domain.notary import Notary

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
# The follow loop fetches at least every half second; a minute without one is a stalled notary.
STALLED_AFTER_S = 60.0


class NotStarted(Exception):
    pass


class NotaryRunner:
    def __init__(self, notary: Notary, bootstrap: str, prefix: str = "", store: NotaryStore | None = None) -> None:
        self.notary, self.bootstrap, self.prefix, self.store = notary, bootstrap, prefix, store
        notary.prefix = prefix  # it signs checkpoints of the log it follows: their origins name its prefix
        self.read = 0  # records read from Kafka since start (a restart reads only what is new)
        self.restored: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
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
        self._producer = AIOKafkaProducer(**client_kwargs(self.bootstrap), enable_idempotence=True)
        await self._consumer.start()
        await self._producer.start()
        tps = []
        for topic, count in facts_log.partition_counts().items():
            self._logical[physical(topic, self.prefix)] = topic
            tps += [TopicPartition(physical(topic, self.prefix), p) for p in range(count)]
        self._consumer.assign(tps)
        for tp in tps:
            part = self.notary.partitions.get((self._logical[tp.topic], tp.partition))
            self._consumer.seek(tp, part.next_offset if part else 0)

    async def stop(self) -> None:
        self.stopped = True
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def fetch(self, timeout_ms: int = 500) -> int:
        """One fetch from every partition's position; the records read."""
        assert self._consumer is not None
        got = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=20_000)
        n = 0
        for tp, records in got.items():
            topic = self._logical[tp.topic]
            for r in records:
                self.notary.add(topic, r)
            n += len(records)
        self.read += n
        self.last_fetch = time.monotonic()
        RECORDS_READ.inc(n)
        return n

    async def catch_up(self) -> None:
        """Read up to the ends the partitions have now."""
        assert self._consumer is not None
        tps = list(self._consumer.assignment())
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(tps)
        while any([await self._consumer.position(tp) < ends[tp] for tp in tps]):
            await self.fetch()

    async def checkpoint(self) -> list[Checkpoint]:
        """Sign and publish a checkpoint of every partition that grew. The trees are on disk first, so a
        published checkpoint is never lost by a restart."""
        assert self._producer is not None
        fresh = self.notary.grown()
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
        return checks

    def refresh_metrics(self) -> None:
        """The trees' sizes and newest checkpoints, read at each scrape."""
        for (topic, number), part in self.notary.partitions.items():
            TREE_SIZE.labels(topic, str(number)).set(len(part.tree))
            CHECKPOINTED_SIZE.labels(topic, str(number)).set(part.published.size if part.published else 0)

    async def follow(self, every: float, report: Any = print) -> None:
        """Tail the fact topics for ever: checkpoints every `every` seconds and after every published report."""
        due = time.monotonic()
        while True:
            n = await self.fetch()
            if self.notary.report_seen or time.monotonic() >= due:
                reason = "report" if self.notary.report_seen else "interval"
                fresh = await self.checkpoint()
                due = time.monotonic() + every
                report({"checkpoints": len(fresh), "reason": reason, "read": self.read})
            elif n and self.store is not None:
                await asyncio.to_thread(self.store.save, self.notary)
