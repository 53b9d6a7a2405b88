"""What readiness says about a replicated Kafka cluster: a broker gone is "degraded", not "down".

With replication 3 and min.insync.replicas 2, one broker may go and every write still succeeds: the service stays
ready (HTTP 200), and /health/ready says which brokers hold replicas but are missing and how many partitions are
under-replicated or without a leader, so an operator sees the loss before a second one stops writes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.offset import OffsetRequest


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


async def wait_until_writable(client: AIOKafkaClient, topics: Sequence[str], timeout: float = 10.0) -> bool:
    """Whether every partition of these topics (just created) has a leader that serves it, waiting up to `timeout`.
    A broker lists a new partition's leader in its metadata a moment before the leader serves it; a record sent
    meanwhile is answered NOT_LEADER_OR_FOLLOWER and retried, which the client logs as a warning (a service's first
    start logged one for its new signing-key registry). The leader serving an offsets request is the sign. Not
    writable in time is no error: the clients retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await _all_served(client, topics):
                return True
        except KafkaError:  # a broker unreachable a moment: the topics exist, which is what the caller needed
            pass
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def _all_served(client: AIOKafkaClient, topics: Sequence[str]) -> bool:
    answer = (await ask_metadata(client, topics)).to_object()
    by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for t in answer["topics"]:
        if t["error_code"] != 0 or not t["partitions"]:
            return False
        for p in t["partitions"]:
            if p["error_code"] != 0 or p["leader"] < 0:
                return False
            by_leader.setdefault(p["leader"], {}).setdefault(t["topic"], []).append((p["partition"], -1))
    for leader, wanted in by_leader.items():
        try:
            response = await client.send(leader, OffsetRequest(-1, 0, list(wanted.items())))
        except KafkaError:
            return False
        codes = {p[1] for _, partitions in response.topics for p in partitions}  # (partition, error code, ...)
        if codes - {0, TopicAuthorizationFailedError.errno}:  # a principal that may not describe: nothing to wait on
            return False
    return True


async def cluster_id(client: AIOKafkaClient) -> str:
    """The Kafka cluster's id, asked on a connection the client has (a metadata request naming no topic): no new
    connection, whose SCRAM login costs on a secured broker."""
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known yet")
    response = await client.send(node, MetadataRequest([]))
    return str(response.cluster_id)


async def topics_state(client: AIOKafkaClient, topics: Sequence[str]) -> str:
    """A readiness probe's Kafka check over the topics a process uses (every service's, the notary's): "error: …"
    naming each topic it cannot use, else "ok" or "degraded: …" (a missing broker of a replicated cluster)."""
    metadata = await metadata_of(client, topics)
    return unusable_topics(metadata, topics) or replication_state(metadata, topics)


def unusable_topics(metadata: Any, topics: Iterable[str]) -> str | None:
    """ "error: ..." naming the topics of `topics` the metadata answer does not give this client — not authorised (the
    deployment's rights revoked, or provisioned under another name), or missing (deleted, never created) — else None.
    Readiness said "ok" while a revoked deployment could neither publish nor consume: the broker answers metadata,
    with an error for each such topic."""
    partitions: dict[str, dict[int, Any]] = getattr(metadata, "_partitions", {})
    denied = set(getattr(metadata, "unauthorized_topics", ()))
    refused = sorted(t for t in topics if t in denied)
    missing = sorted(t for t in topics if t not in denied and not partitions.get(t))
    parts = []
    if refused:
        parts.append(f"not authorised on {', '.join(refused)}")
    if missing:
        parts.append(f"no such topic {', '.join(missing)}")
    return f"error: {'; '.join(parts)}" if parts else None


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
