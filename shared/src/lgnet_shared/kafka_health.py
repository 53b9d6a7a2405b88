"""What readiness says about a replicated Kafka cluster: a broker gone is "degraded", not "down".

With replication 3 and min.insync.replicas 2, one broker may go and every write still succeeds: the service stays
ready (HTTP 200), and /health/ready says which brokers hold replicas but are missing and how many partitions are
under-replicated or without a leader, so an operator sees the loss before a second one stops writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def replication_state(metadata: Any, topics: Iterable[str]) -> str:
    """ "ok", or "degraded: ..." from one cluster metadata answer (aiokafka ClusterMetadata) over `topics`."""
    live = {b.nodeId for b in metadata.brokers()}
    # aiokafka keeps each partition's replicas and ISR from the Metadata response but has no public accessor.
    partitions: dict[str, dict[int, Any]] = getattr(metadata, "_partitions", {})
    gone: set[int] = set()
    under = leaderless = 0
    for topic in topics:
        for p in partitions.get(topic, {}).values():
            gone |= set(p.replicas) - live
            under += len(p.isr) < len(p.replicas)
            leaderless += p.leader is None or p.leader < 0
    if not (gone or under or leaderless):
        return "ok"
    parts = []
    if gone:
        parts.append(f"broker(s) {', '.join(map(str, sorted(gone)))} missing")
    if under:
        parts.append(f"{under} partition(s) under-replicated")
    if leaderless:
        parts.append(f"{leaderless} partition(s) without a leader")
    return "degraded: " + "; ".join(parts)
