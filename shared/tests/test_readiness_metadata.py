"""/health/ready asks the broker about the service's own topics, never the whole cluster, and never creates one.

On a cluster shared by many cities and partners, the whole cluster's metadata is every deployment's topics: with
≈ 400 topics (the suite's broker halfway through a run) one answer cost the asking process ≈ 33 ms of CPU, every
readiness probe of every replica (docs/benchmarks.md, twelfth pass). A metadata request that names topics may let the
broker create a missing one (`auto.create.topics.enable`), so the request refuses it. The probe service in-process,
against real Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.protocol.metadata import MetadataRequest
from lgnet_shared.service import Runtime
from lgnet_shared.testing.inprocess import sibling_module
from lgnet_shared.testing.topics import delete_topic
from lgnet_shared.topics import physical

robustness: Any = sibling_module(__file__, "test_consumer_robustness.py")

pytestmark = pytest.mark.integration


@pytest.fixture
async def probe(kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(robustness.SPEC, robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_readiness_asks_about_the_services_topics_only_and_creates_none(
    probe: Runtime, new_topic: Callable[..., Any], metadata_requests: list[MetadataRequest]
) -> None:
    await new_topic("another-deployments-topic", partitions=3)  # on the cluster, none of this service's business
    metadata_requests.clear()
    checks = await probe.ready()
    asked = list(metadata_requests)

    assert checks["kafka"] == "ok", checks
    own = sorted(physical(t, probe.settings.topic_prefix) for t in probe.topic_names())
    assert len(own) > 3
    assert all(r._topics is not None for r in asked), "readiness asked for the whole cluster's metadata"
    # The service's own clients may ask meanwhile too (a bootstrap names no topic, a consumer its own).
    readiness = [r for r in asked if sorted(r._topics) == own]
    assert readiness, f"readiness did not ask about the service's topics: {[r._topics for r in asked]}"
    for request in readiness:
        assert request._allow_auto_topic_creation is False, "a missing topic could be created by asking"


async def test_readiness_names_a_topic_of_the_service_that_is_gone(probe: Runtime, kafka_bootstrap: str) -> None:
    """A city IT team revoked a deployment's rights (`lgnet-kafka-admin revoke`) and its readiness stayed "ok" while it
    could neither publish nor consume; a deleted topic is the same answer from the broker: an error for the topic."""
    assert (await probe.ready())["kafka"] == "ok"
    gone = physical("housing.events", probe.settings.topic_prefix)
    assert gone in [physical(t, probe.settings.topic_prefix) for t in probe.topic_names()]
    await delete_topic(kafka_bootstrap, gone)
    for _ in range(50):
        checks = await probe.ready()
        if checks["kafka"] != "ok":
            break
        await asyncio.sleep(0.1)
    assert checks["kafka"] == f"error: no such topic {gone}", checks


async def test_consumers_that_never_join_their_groups_make_the_service_unready(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment whose consumers cannot join (the broker refuses its group, say) kept answering ready: records
    waited on its topics with nothing to say so. Joining runs in the background (HTTP does not wait for it); past
    `LGNET_CONSUMER_STUCK_AFTER_S` without joining, readiness names it."""
    import lgnet_shared.service as service
    from aiokafka.errors import GroupAuthorizationFailedError

    async def refused(*args: Any, **kwargs: Any) -> dict[str, int]:
        raise GroupAuthorizationFailedError()

    monkeypatch.setattr(service, "seed_group_offsets", refused)
    settings = robustness.settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=1.5)
    runtime = Runtime(robustness.SPEC, settings)
    await runtime.start()
    try:
        assert (await runtime.ready())["consumers"] == "ok"  # joining: not yet a reason to take it out
        for _ in range(50):  # the first attempt (the cluster's id asked first, then the group refused)
            if runtime.consumers_state() != "joining":
                break
            await asyncio.sleep(0.02)
        assert runtime.consumers_state() == "retrying: GroupAuthorizationFailedError"
        assert (await runtime.ready())["consumers"] == "ok"  # retrying, within the stuck time: still ready
        await asyncio.sleep(2)
        checks = await runtime.ready()
        assert checks["consumers"].startswith("error: consumers have not joined their groups for "), checks
        assert checks["consumers"].endswith("s (GroupAuthorizationFailedError)"), checks
    finally:
        await runtime.stop()


async def test_readiness_answers_within_seconds_when_postgresql_takes_connections_and_never_answers(
    probe: Runtime,
) -> None:
    """From an outside test: PostgreSQL behind a firewall that drops its traffic (a host down, not a refused port):
    `/health/ready` answered after 60 s (asyncpg's connect timeout: the 2 s limit was taken after the connection was
    opened), and every probe, with its 4 or 5 s timeout, saw only a timeout, no check named."""
    import asyncpg

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the connection, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = await asyncpg.create_pool(f"postgresql://x@127.0.0.1:{port}/x", min_size=0)
    kept, probe.pool = probe.pool, pool
    try:
        async with asyncio.timeout(10):
            checks = await probe.ready()
    finally:
        probe.pool = kept
        pool.terminate()
        server.close()
    assert checks["postgres"] == "error: TimeoutError", checks
