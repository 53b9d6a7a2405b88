"""Broker loss end to end: the scenario of Torino and Trieste is played on a three-broker KRaft cluster (combined
mode, replication 3, min.insync.replicas 2, TLS + SASL/SCRAM + ACLs as in production) while the brokers fail:

1. kill -9 the active controller (a broker too) mid-run; every service's /health/ready says Kafka is degraded;
2. start it again, wait until every partition is in sync;
3. kill -9 another broker, start it again;
4. a rolling restart of all three (controlled shutdowns, one at a time, each back in sync before the next).

The services are never restarted. Afterwards the reports equal the scenario's truth (what the fault-free run of
tests/test_scenario_e2e.py asserts), and no event is lost or doubled (fact topics and inbox tables counted). A probe
writes one record every 100 ms (acks=all, idempotent) and reads them back in a group: how long producers and
consumers stall at each fault is printed (docs/benchmarks.md, "Broker loss"), and every record it got acknowledged is
read. The cluster's metadata log is snapshotted every 64 KiB, so each restart reads a snapshot (the super users'
SCRAM credentials must survive it)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import struct
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lgnet_scenario import driver, reports
from lgnet_scenario.platform import Platform, provision
from lgnet_scenario.population import scaled
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.kafka_health import replication_state
from lgnet_shared.testing.process import free_port, start_all
from lgnet_shared.testing.topics import read_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
SCALE = float(os.environ.get("LGNET_BROKER_LOSS_SCALE", "0.2"))
SEED = int(os.environ.get("LGNET_BROKER_LOSS_SEED", "11"))
ROOT = Path(__file__).resolve().parents[1]


def _infra() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lgnet_infra_cluster", ROOT / "deploy" / "local" / "infra.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Three nodes of our own (the session's broker is not ours to kill), as `make up CLUSTER=3` runs them; the
    environment points every client of this module at it, as its admin."""
    infra = _infra()
    kafka = infra.Kafka(
        home=tmp_path_factory.mktemp("cluster") / "kafka",
        nodes=3,
        ports=tuple((free_port(), free_port()) for _ in range(3)),
        extra=(("metadata.log.max.record.bytes.between.snapshots", "65536"),),
        heap="-Xmx400m",
        jvm=infra.SHORT_LIVED_JVM,  # eight JVM starts in this test (three, two kills, a rolling restart)
    )
    try:
        kafka.start()
        env = {**kafka.security(), "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "LGNET_TOPIC_REPLICATION": "3"}
        with mock.patch.dict(os.environ, env):
            yield kafka
    finally:
        # Thrown away: killed, not stopped. Stopped together, the node left last without its quorum sometimes
        # waited out the 60-second stop timeout (a 62-second teardown in a suite run).
        for node in kafka.node_ids:
            kafka.kill_node(node)


@pytest.fixture(scope="module")
async def platform(
    cluster: Any, database_url: str, tmp_path_factory: pytest.TempPathFactory, platform4_class: Any
) -> AsyncIterator[Any]:
    p = platform4_class(cluster.bootstrap, database_url, tmp_path_factory.mktemp("brokerloss"), "brokerloss")
    try:
        await start_all(p.processes.values(), timeout=180)
        yield p
    finally:
        await p.close()


@dataclass
class Probe:
    """One record every 100 ms, acks=all, idempotent, to a topic of replication 3 / min.insync 2; read back by a
    consumer group. `writes`: (sent at, seconds until acknowledged); `reads`: (sent at, seconds until read)."""

    bootstrap: str
    topic: str = field(default_factory=lambda: f"probe-{uuid.uuid4().hex[:8]}")
    writes: list[tuple[float, float]] = field(default_factory=list)
    reads: list[tuple[float, float]] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)

    async def create(self) -> None:
        admin = AIOKafkaAdminClient(**client_kwargs(self.bootstrap))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, 3, 3, topic_configs={"min.insync.replicas": "2"})])
        finally:
            await admin.close()

    async def produce(self, stop: asyncio.Event) -> None:
        producer = AIOKafkaProducer(**client_kwargs(self.bootstrap), enable_idempotence=True, request_timeout_ms=60000)
        await producer.start()
        seq = 0
        try:
            while not stop.is_set():
                sent = time.monotonic()
                await producer.send_and_wait(self.topic, struct.pack(">qd", seq, sent), key=str(seq % 7).encode())
                self.writes.append((sent, time.monotonic() - sent))
                self.acked.add(seq)
                seq += 1
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()

    async def consume(self, stop: asyncio.Event) -> None:
        """Measures delays only: a group member may be handed records again after a coordinator moves (at least
        once); what is in the log is counted at the end (`logged`)."""
        consumer = AIOKafkaConsumer(
            self.topic, **client_kwargs(self.bootstrap), group_id=self.topic, auto_offset_reset="earliest",
            session_timeout_ms=6000, heartbeat_interval_ms=1500,
        )  # fmt: skip
        await consumer.start()
        try:
            while not stop.is_set():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        _seq, sent = struct.unpack(">qd", r.value)
                        self.reads.append((sent, time.monotonic() - sent))
        finally:
            await consumer.stop()

    async def logged(self) -> list[int]:
        """Sequence numbers in the log, from the beginning."""
        return [struct.unpack(">qd", r.value)[0] for r in await read_records(self.bootstrap, self.topic)]

    def stall(self, since: float, until: float) -> dict[str, float]:
        """Longest write acknowledgement and longest write-to-read delay of records sent in [since, until)."""
        w = [lat for t, lat in self.writes if since <= t < until]
        r = [lat for t, lat in self.reads if since <= t < until]
        return {"producer_s": round(max(w, default=0), 2), "consumer_s": round(max(r, default=0), 2)}


async def _readiness(urls: dict[str, str]) -> dict[str, str]:
    """Each service's Kafka check (or the reason it gave none)."""
    out = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for name, url in urls.items():
            try:
                out[name] = (await client.get(f"{url}/health/ready")).json()["checks"]["kafka"]
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                out[name] = f"no answer: {type(exc).__name__}"
    return out


async def _until(what: str, check: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while not await _bounded(check(), 15):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.5)
    return round(time.monotonic() - t0, 1)


async def _in_sync(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap), request_timeout_ms=5000)
    try:
        await admin.start()
        md = await admin._client.fetch_all_metadata()
        return len(md.brokers()) == 3 and replication_state(md, md.topics(exclude_internal_topics=False)) == "ok"
    except Exception:  # a broker still starting: not yet
        return False
    finally:
        await admin.close()


async def _bounded(check: Any, seconds: float) -> bool:
    """A check that hangs (a client waiting on a dead node) counts as "not yet"."""
    try:
        return bool(await asyncio.wait_for(check, seconds))
    except TimeoutError:
        return False


def _quorum_leader(cluster: Any) -> int:
    """The active controller, as the nodes' quorum state records it (clients' metadata names a random broker)."""
    for node in cluster.node_ids:
        with_state = cluster.node_home(node) / "data" / "__cluster_metadata-0" / "quorum-state"
        if cluster.node_pid(node) and with_state.exists():
            leader = int(json.loads(with_state.read_text()).get("leaderId", -1))
            if leader > 0:
                return leader
    return 1


async def faults(
    cluster: Any, urls: dict[str, str], probe: Probe, log: list[dict[str, Any]], under_way: asyncio.Event
) -> None:
    """The fault schedule; each entry of `log`: what, when (s since start), how long until back in sync, the
    probe's stalls, and (for kills) how long until every service said degraded."""
    began = time.monotonic()

    async def degraded() -> bool:
        return all(v.startswith("degraded") for v in (await _readiness(urls)).values())

    async def healthy() -> bool:
        return all(v == "ok" for v in (await _readiness(urls)).values())

    async def kill_and_restart(node: int) -> None:
        t0 = time.monotonic()
        await asyncio.to_thread(cluster.kill_node, node)
        to_degraded = await _until(f"every service says Kafka is degraded without node {node}", degraded, 60)
        await asyncio.sleep(max(0.0, 12 - (time.monotonic() - t0)))  # down for a while, under load
        restarted = time.monotonic()
        await asyncio.to_thread(cluster.start_node, node, False)
        in_sync = await _until(f"node {node} back in every ISR", lambda: _in_sync(cluster.bootstrap), 180)
        await _until("every service's Kafka check ok again", healthy, 60)
        log.append({"fault": f"kill -9 node {node}", "at_s": round(t0 - began, 1), "degraded_after_s": to_degraded,
                    "down_s": round(restarted - t0, 1), "in_sync_after_restart_s": in_sync,
                    **probe.stall(t0 - 0.5, time.monotonic())})  # fmt: skip
        print(log[-1], flush=True)

    await under_way.wait()  # the partners are provisioned: from now on the scenario sends and calls
    await asyncio.sleep(2)
    first = _quorum_leader(cluster)
    await kill_and_restart(first)  # the active controller
    await kill_and_restart(next(n for n in (1, 2, 3) if n != first))
    for node in (1, 2, 3):  # rolling restart: controlled shutdowns, one at a time
        t0 = time.monotonic()
        await asyncio.to_thread(cluster.stop_node, node)
        await asyncio.to_thread(cluster.start_node, node, False)
        in_sync = await _until(f"node {node} back in every ISR", lambda: _in_sync(cluster.bootstrap), 180)
        log.append({"fault": f"rolling restart node {node}", "at_s": round(t0 - began, 1),
                    "in_sync_after_restart_s": in_sync, "restart_s": round(time.monotonic() - t0, 1),
                    **probe.stall(t0 - 0.5, time.monotonic())})  # fmt: skip
        print(log[-1], flush=True)


async def test_losing_brokers_mid_run_loses_and_doubles_nothing(platform: Any, cluster: Any, ledger: Any) -> None:
    pids = {name: p.proc.pid for name, p in platform.processes.items()}
    probe = Probe(cluster.bootstrap)
    await probe.create()
    stop = asyncio.Event()
    probes = [asyncio.create_task(probe.produce(stop)), asyncio.create_task(probe.consume(stop))]
    log: list[dict[str, Any]] = []
    under_way = asyncio.Event()
    schedule = asyncio.create_task(faults(cluster, platform.ep.urls, probe, log, under_way))

    def progress(line: str) -> None:
        print(line, flush=True)
        if line.startswith("provisioned actors"):
            under_way.set()

    cities = scaled(SCALE)
    t0 = time.monotonic()
    try:
        truth = await driver.run(platform.ep, cities=cities, seed=SEED, progress=progress)
    except BaseException:
        schedule.cancel()
        stop.set()
        raise
    scenario_s = round(time.monotonic() - t0, 1)
    await schedule
    stop.set()
    await asyncio.wait_for(asyncio.gather(*probes), 60)
    print(json.dumps({"scenario_s": scenario_s, "faults": log}, indent=1))

    # Nothing the probe got acknowledged was lost; the idempotent producer wrote nothing twice.
    logged = await probe.logged()
    assert probe.acked and not probe.acked - set(logged), f"{len(probe.acked - set(logged))} acknowledged records lost"
    assert len(logged) == len(set(logged)), "a probe record was written twice"
    # The services never restarted.
    assert {name: p.proc.pid for name, p in platform.processes.items() if p.proc.poll() is None} == pids

    plat = Platform(platform.ep, await provision(platform.ep, {c.city: c.partners for c in cities}))
    try:
        bodies = await reports.caught_up(plat, truth, timeout=300)
    finally:
        await plat.close()
    ledger.reports_equal_truth(bodies, truth)
    await ledger.nothing_lost_or_doubled(platform.ep, truth)
