"""Reporting learns which checkpoint anchors each report it published, from the log itself: it reads its own
`report_published` records on `reporting.events` (where each landed: partition and offset) and the notary's signed
checkpoints on `lgnet.checkpoints` (kept only when a pinned notary key verifies them, and only those of
`reporting.events`). Both topics are read from where the last read stopped, up to their ends, when a report's
anchor is asked for (a published report, its PDF): they are small, and the answer is then as fresh as the log.
No consumer group: the partitions are assigned and the positions kept in reporting's schema, in the same
transaction as what was read (ACLs: reporting reads both topics, topics.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from lgnet_shared.checkpoints import CheckpointError, Verifier, open_checkpoint
from lgnet_shared.db import Pool
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import TOPICS, physical

from lgnet_reporting.adapters import anchors
from lgnet_reporting.domain.anchoring import REPORTS_TOPIC, Anchor, of_reports

log = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
RETRY_AFTER_S = 30.0


class Anchoring:
    def __init__(self, pool: Pool, bootstrap: str, prefix: str, notaries: list[Verifier]) -> None:
        self.pool, self.bootstrap, self.prefix, self.notaries = pool, bootstrap, prefix, notaries
        self._consumer: AIOKafkaConsumer | None = None
        self._logical: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._retry_at = 0.0  # after a failure, answers use what is stored until then (no wait per request)

    async def _start(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(**client_kwargs(self.bootstrap), enable_auto_commit=False, group_id=None)
        try:
            await consumer.start()
        except BaseException:  # no broker (yet): nothing left open
            await consumer.stop()
            raise
        tps = []
        for topic in (REPORTS_TOPIC, CHECKPOINTS):
            self._logical[physical(topic, self.prefix)] = topic
            tps += [TopicPartition(physical(topic, self.prefix), p) for p in range(TOPICS[topic].partitions)]
        consumer.assign(tps)
        async with self.pool.acquire() as conn:
            read = await anchors.positions(conn)
        for tp in tps:
            consumer.seek(tp, read.get((self._logical[tp.topic], tp.partition), 0))
        return consumer

    async def refresh(self, budget_s: float = 10.0) -> None:
        """Read both topics up to their ends as of now (or for `budget_s` seconds; the next call continues)."""
        async with self._lock:
            if time.monotonic() < self._retry_at:
                return
            try:  # bounded: a broker that does not answer must not hold a download for long
                async with asyncio.timeout(budget_s + 5):
                    await self._refresh(budget_s)
            except Exception as exc:  # the anchors already known still answer; a later call tries again
                log.warning("anchors: reading the reports and checkpoints failed: %r", exc)
                self._retry_at = time.monotonic() + RETRY_AFTER_S
                await self.stop()  # the next try starts again from the positions stored with what was read

    async def _refresh(self, budget_s: float) -> None:
        if self._consumer is None:
            self._consumer = await self._start()
        consumer = self._consumer
        tps = list(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
            got = await consumer.getmany(timeout_ms=500, max_records=5000)
            records: list[tuple[str, int, int]] = []
            found: list[Anchor] = []
            read_to: anchors.Positions = {}
            for tp, batch in got.items():
                topic = self._logical[tp.topic]
                for r in batch:
                    if topic == REPORTS_TOPIC:
                        report_id = _report_id(r)
                        if report_id:
                            records.append((report_id, tp.partition, r.offset))
                    else:
                        anchor = self._verified(r)
                        if anchor is not None:
                            found.append(anchor)
                if batch:
                    read_to[(topic, tp.partition)] = batch[-1].offset + 1
            if read_to:
                async with self.pool.acquire() as conn:
                    await anchors.save(conn, records, found, read_to)

    def _verified(self, r: Any) -> Anchor | None:
        try:
            cp = open_checkpoint((r.value or b"").decode(), self.notaries)
        except (CheckpointError, UnicodeDecodeError) as exc:  # not our notary's: not an anchor we can vouch for
            log.info("anchors: checkpoint at offset %s ignored: %s", r.offset, exc)
            return None
        if not of_reports(cp.origin, self.prefix):
            return None
        return Anchor.of(cp, datetime.fromtimestamp(r.timestamp / 1000, UTC) if r.timestamp else None)

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()


def _report_id(r: Any) -> str:
    """The report id of a report_published record: its key (the aggregate id), else the event's data."""
    if r.key:
        return str(r.key.decode())
    try:
        data = json.loads(r.value or b"").get("data") or {}
    except (ValueError, AttributeError):
        return ""
    return str(data.get("report_id") or "")
