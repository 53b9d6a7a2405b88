"""What readiness says about a replicated Kafka cluster: a broker gone is "degraded", not "down".

With replication 3 and min.insync.replicas 2, one broker may go and every write still succeeds: the service stays
ready (HTTP 200), and /health/ready says which brokers hold replicas but are missing and how many partitions are
under-replicated or without a leader, so an operator sees the loss before a second one stops writes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest


async def metadata_of(client: AIOKafkaClient, topics: Sequence[str]) -> ClusterMetadata:
    """The cluster's answer about these topics only, as aiokafka's ClusterMetadata (which logs an error for each
    topic that does not exist). A shared cluster's whole metadata is every deployment's topics (≈ 33 ms of CPU per
    answer at 400 topics): too much to ask at every readiness probe."""
    cluster = ClusterMetadata()
    cluster.update_metadata(await ask_metadata(client, topics))
    return cluster


async def existing_topics(client: AIOKafkaClient, topics: Sequence[str]) -> set[str]:
    """Which of these topics exist and this principal may describe; a missing one is an answer, not an error."""
    answer = (await ask_metadata(client, topics)).to_object()
    return {t["topic"] for t in answer["topics"] if t["error_code"] == 0}


async def ask_metadata(client: AIOKafkaClient, topics: Sequence[str]) -> Any:
    """A metadata request naming these topics, to any live broker. Naming topics may let the broker create a missing
    one (`auto.create.topics.enable`): the request refuses that."""
    request = MetadataRequest(list(topics), allow_auto_topic_creation=False)
    nodes = [b.nodeId for b in client.cluster.brokers()]
    random.shuffle(nodes)
    failure: Exception = KafkaConnectionError("no broker known")
    for node in nodes:  # a broker gone is "degraded", not "error": any live one answers (as aiokafka's own asks)
        try:
            return await client.send(node, request)
        except KafkaError as exc:
            failure = exc
    raise failure


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
