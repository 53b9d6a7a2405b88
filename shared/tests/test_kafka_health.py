"""Readiness over a replicated cluster: a missing broker is named, partitions counted, nothing else flagged."""

from __future__ import annotations

import functools
from typing import Any, cast

from aiokafka.cluster import ClusterMetadata
from aiokafka.protocol.metadata import MetadataResponse_v1
from lgnet_shared.kafka_health import replication_state, unusable_topics


def _metadata(brokers: list[int], partitions: list[tuple[int, int, list[int], list[int]]]) -> ClusterMetadata:
    """A cluster as one Metadata v1 answer describes it: (partition, leader, replicas, isr) of topic 't'."""
    md = ClusterMetadata()
    response = MetadataResponse_v1(
        [(b, "127.0.0.1", 9000 + b, None) for b in brokers],
        brokers[0] if brokers else -1,
        [(0, "t", False, [(0, p, leader, replicas, isr) for p, leader, replicas, isr in partitions])],
    )
    md.update_metadata(response)
    return md


def test_all_replicas_in_sync_is_ok() -> None:
    md = _metadata([1, 2, 3], [(0, 1, [1, 2, 3], [1, 2, 3]), (1, 2, [2, 3, 1], [2, 3, 1])])
    assert replication_state(md, ["t"]) == "ok"


def test_a_broker_gone_is_degraded_and_named() -> None:
    md = _metadata([1, 3], [(0, 1, [1, 2, 3], [1, 3]), (1, 3, [2, 3, 1], [3, 1]), (2, 1, [1, 3, 2], [1, 3])])
    assert replication_state(md, ["t"]) == "degraded: broker(s) 2 missing; 3 partition(s) under-replicated"


def test_a_partition_without_leader_is_counted_and_other_topics_ignored() -> None:
    md = _metadata([1], [(0, -1, [2, 3], [])])
    assert "1 partition(s) without a leader" in replication_state(md, ["t"])
    assert replication_state(md, ["other"]) == "ok"


def test_the_services_consumers_get_every_bootstrap_server_of_a_cluster() -> None:
    """FastStream took "a:1,b:2,c:3" for one host named "a:1,b:2,c" (port 3): on a cluster the consumers never
    joined. Each server is its own entry."""
    from lgnet_shared.kafka import KafkaSecurity
    from lgnet_shared.service import faststream_broker

    broker = faststream_broker("127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3", KafkaSecurity(), "lgnet-test")
    builder = cast(functools.partial[Any], broker.config.broker_config.builder)
    assert builder.keywords["bootstrap_servers"] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]


def test_readiness_serves_while_degraded_and_not_when_a_check_fails() -> None:
    """Every service's and the notary's /health/ready read their checks with one rule (lgnet_shared.http)."""
    from lgnet_shared.http import readiness

    assert readiness({"postgres": "ok", "kafka": "ok"}) == (200, "ok")
    assert readiness({"kafka": "degraded: broker 2 missing", "following": "ok"}) == (200, "degraded")
    assert readiness({"kafka": "degraded: broker 2 missing", "following": "error: stopped"}) == (503, "unavailable")


def test_a_topic_not_authorised_or_missing_is_an_error_naming_it() -> None:
    """A deployment whose rights were revoked (or a topic deleted) got "kafka": "ok" from readiness: the broker answers
    metadata, with an error for each such topic."""
    md = ClusterMetadata()
    md.update_metadata(
        MetadataResponse_v1(
            [(1, "127.0.0.1", 9001, None)],
            1,
            [
                (0, "t", False, [(0, 0, 1, [1], [1])]),
                (29, "lgnet.intake.events", False, []),  # TOPIC_AUTHORIZATION_FAILED
                (3, "lgnet.deadletter", False, []),  # UNKNOWN_TOPIC_OR_PARTITION
            ],
        )
    )
    assert unusable_topics(md, ["t"]) is None
    assert unusable_topics(md, ["t", "lgnet.intake.events", "lgnet.deadletter"]) == (
        "error: not authorised on lgnet.intake.events; no such topic lgnet.deadletter"
    )
