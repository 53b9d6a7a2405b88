"""The notary (#16) against real Kafka: incremental (a restart continues from its state folder, reading only what
is new, and its checkpoints equal a full re-read's), a checkpoint at once after a published report, and its HTTP
API — checkpoints as signed notes, inclusion proofs (by offset or event id) and consistency proofs that verify
against the records on Kafka, problem+json naming the field for what is beyond the tree."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.adapters.notary_store import NotaryStore
from lgnet_reporting.domain.audit import origin
from lgnet_reporting.domain.notary import Notary
from lgnet_reporting.entrypoints import audit
from lgnet_reporting.entrypoints.notary_http import create_app
from lgnet_reporting.service_layer.notary import NotaryRunner
from lgnet_shared import merkle
from lgnet_shared.checkpoints import NotarySigner, Verifier, open_checkpoint
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.pii import derive
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.process import free_port
from lgnet_shared.testing.topics import delete_topic, read_records
from lgnet_shared.topics import ensure_topics, physical

pytestmark = pytest.mark.integration
SEED = os.urandom(32)
NOTARY = NotarySigner("lgnet-notary.national-test", SEED)  # a national deployment's: `national-<suffix>`
PINNED = [Verifier.parse(str(NOTARY.verifier))]


def employment(person: str) -> Any:
    event = EmploymentRecorded(person_id=person, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/lgnet/intake", city="torino")


async def publish(bootstrap: str, prefix: str, people: list[str], topic: str = "intake.events") -> list[Any]:
    """Signed facts about `people` on `topic` (keyed as intake's relay would); their envelopes."""
    await ensure_topics(bootstrap, prefix)
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    await producer.start()
    envs = [employment(p) for p in people]
    try:
        for env in envs:
            value, headers = await signed_fact(producer, prefix, env, topic)
            partition = partition_of(env.key, 6) if topic == "intake.events" else 0
            await producer.send_and_wait(
                physical(topic, prefix), value, key=env.key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()
    return envs


async def runner_round(bootstrap: str, prefix: str, state: Path | None) -> NotaryRunner:
    runner = NotaryRunner(Notary(NOTARY), bootstrap, prefix, NotaryStore(state) if state else None)
    await runner.start()
    try:
        await runner.catch_up()
        await runner.checkpoint()
    finally:
        await runner.stop()
    return runner


def roots(runner: NotaryRunner) -> dict[str, tuple[int, bytes]]:
    return {origin(t, n): (len(p.tree), p.tree.root()) for (t, n), p in runner.notary.partitions.items()}


def test_a_restarted_notary_reads_only_what_is_new_and_signs_the_same_trees(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix, state = new_topic_prefix(), tmp_path / "notary"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"a{i}" for i in range(40)]))
    first = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    assert first.read == 40 and first.restored == {}
    assert (state / "state.json").exists()

    asyncio.run(publish(kafka_bootstrap, prefix, [f"b{i}" for i in range(25)]))
    # A crash after appending leaves but before state.json: the extra bytes are cut off and read again.
    leaves_file = next(state.glob("*.leaves"))
    with leaves_file.open("ab") as f:
        f.write(os.urandom(32 * 3))
    second = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    assert sum(second.restored.values()) == 40
    assert second.read == 25, "a restart must continue from the saved offsets, not from offset 0"
    full = asyncio.run(runner_round(kafka_bootstrap, prefix, None))  # a stateless notary re-reads everything
    assert full.read == 65 and roots(second) == roots(full)

    notes = asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", prefix)))
    newest: dict[str, int] = {}
    for r in notes:
        cp = open_checkpoint((r.value or b"").decode(), PINNED)
        newest[cp.origin] = max(newest.get(cp.origin, 0), cp.size)
    assert sum(newest.values()) == 65  # the second round checkpointed what grew


def test_a_published_report_is_checkpointed_at_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = new_topic_prefix()
    asyncio.run(publish(kafka_bootstrap, prefix, ["x", "y"]))

    async def scenario() -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix, NotaryStore(tmp_path / "s"))
        await runner.start()
        try:
            await runner.catch_up()
            await runner.checkpoint()
            follow = asyncio.create_task(runner.follow(3600, lines.append))  # the interval never comes
            await asyncio.sleep(1)
            await publish(kafka_bootstrap, prefix, ["report"], "reporting.events")
            deadline = time.monotonic() + 30
            while not any(line["reason"] == "report" for line in lines) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            follow.cancel()
            assert runner.notary.partitions[("reporting.events", 0)].published is not None
        finally:
            await runner.stop()
        return lines

    lines = asyncio.run(scenario())
    assert [line for line in lines if line["reason"] == "report" and line["checkpoints"] >= 1], lines


def test_http_checkpoints_and_proofs_verify_against_the_log(kafka_bootstrap: str) -> None:
    prefix = new_topic_prefix()
    envs = asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(30)]))
    runner = asyncio.run(runner_round(kafka_bootstrap, prefix, None))
    (topic, part), tree = max(runner.notary.partitions.items(), key=lambda kv: len(kv[1].tree))
    size = len(tree.tree)
    assert size >= 4
    records = [r for r in asyncio.run(read_records(kafka_bootstrap, physical(topic, prefix))) if r.partition == part]
    leaves = [merkle.leaf_hash(merkle.record_leaf(r.offset, r.key, r.value, list(r.headers or ()))) for r in records]
    by_id = {e.id: e for e in envs}

    async def calls() -> None:
        transport = httpx.ASGITransport(app=create_app(runner.notary))
        async with httpx.AsyncClient(transport=transport, base_url="http://notary") as http:
            newest = (await http.get("/checkpoints")).json()
            assert {(c["topic"], c["partition"]) for c in newest} == set(runner.notary.partitions)
            note = (await http.get(f"/checkpoints/{topic}/{part}")).text
            cp = open_checkpoint(note, PINNED)
            assert cp.size == size and cp.root == merkle.root_of(leaves)
            small = open_checkpoint((await http.get(f"/checkpoints/{topic}/{part}", params={"size": 2})).text, PINNED)
            assert small.size == 2 and small.root == merkle.root_of(leaves[:2])

            proof = (
                await http.get("/proofs/inclusion", params={"topic": topic, "partition": part, "offset": 1})
            ).json()
            assert proof["leaf_hash"] == _b64(leaves[1]) and proof["tree_size"] == size
            assert merkle.verify_inclusion(leaves[1], 1, size, _unb64(proof["proof"]), cp.root)
            assert open_checkpoint(proof["checkpoint"], PINNED).root == cp.root
            event_id = proof["event_id"]
            assert event_id in by_id
            again = (await http.get("/proofs/inclusion", params={"event_id": event_id, "size": 3})).json()
            assert (again["topic"], again["partition"], again["offset"], again["tree_size"]) == (topic, part, 1, 3)
            assert merkle.verify_inclusion(leaves[1], 1, 3, _unb64(again["proof"]), merkle.root_of(leaves[:3]))

            cons = (
                await http.get("/proofs/consistency", params={"topic": topic, "partition": part, "first": 3})
            ).json()
            assert cons["second"] == size
            old = open_checkpoint(cons["first_checkpoint"], PINNED)
            assert merkle.verify_consistency(3, size, old.root, cp.root, _unb64(cons["proof"]))

            # Bad requests: problem+json naming the field and the reason.
            cases: list[tuple[str, dict[str, Any], int, str, str]] = [
                (f"/checkpoints/{topic}/{part}", {"size": size + 1}, 422, "query.size", "beyond the tree"),
                (
                    "/proofs/inclusion",
                    {"topic": topic, "partition": part, "offset": size},
                    422,
                    "query.offset",
                    "not in",
                ),
                ("/proofs/inclusion", {"event_id": "no-such-event"}, 404, "query.event_id", "no notarised fact"),
                ("/proofs/inclusion", {"topic": topic}, 422, "query.offset", "name the event"),
                # both ways of naming the event, not naming the same one: it answered for the event id, unsaid
                (
                    "/proofs/inclusion",
                    {"topic": topic, "partition": part, "offset": 0, "event_id": event_id},
                    422,
                    "query.offset",
                    f"is at offset 1 of {topic} partition {part}, not 0",
                ),
                (
                    "/proofs/inclusion",
                    {"topic": "intake.nope", "partition": 0, "offset": 0},
                    422,
                    "query.topic",
                    "not a fact",
                ),
                (
                    "/proofs/consistency",
                    {"topic": topic, "partition": part, "first": 1, "second": size + 5},
                    422,
                    "query.second",
                    "beyond the tree",
                ),
                (
                    "/proofs/consistency",
                    {"topic": topic, "partition": part, "first": size + 1},
                    422,
                    "query.first",
                    "between 1 and",
                ),
                ("/checkpoints/housing.events/5", {}, 404, "path.partition", "has been notarised"),
            ]
            for url, params, status, field, words in cases:
                answer = await http.get(url, params=params)
                assert answer.status_code == status, (url, params, answer.text)
                assert answer.headers["content-type"].startswith("application/problem+json")
                body = answer.json()
                assert body["field"] == field and words in body["reason"], (url, params, body)

    asyncio.run(calls())


def test_lgnet_notary_serves_http_and_resumes_after_a_restart(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command as an operator runs it: follow the log with a state folder and an HTTP port; stopped and
    started again, it reports what it restored and reads only the new records; `lgnet-audit verify --notary-url`
    checks the checkpoints it serves."""
    prefix, state = new_topic_prefix(), tmp_path / "notary"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"c{i}" for i in range(12)]))
    env = notary_env(kafka_bootstrap, prefix)

    def start() -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        cmd = [
            sys.executable,
            "-c",
            "from lgnet_reporting.entrypoints.audit import notary_main; notary_main()",
            "run",
            "--every",
            "1",
            "--state",
            str(state),
            "--http-port",
            str(port),
        ]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True), port

    def first_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        return dict(json.loads(proc.stdout.readline()))

    def newest(port: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while True:
            try:
                return list(httpx.get(f"http://127.0.0.1:{port}/checkpoints", timeout=5).json())
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    proc, port = start()
    try:
        assert first_line(proc) == {"restored": 0, "read": 12, "checkpoints": len(newest(port)), "state": str(state)}
        assert sum(c["size"] for c in newest(port)) == 12
        # Operators alert on /health/ready and /metrics, as for every other service (the notary served neither).
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"kafka": "ok", "following": "ok", "log": "ok"}
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        assert 'lgnet_deployment_info{city="national",deployment="national-test",service="notary"} 1.0' in scraped.text
        assert "lgnet_notary_records_read_total 12.0" in scraped.text
        sizes = re.findall(r'lgnet_notary_tree_size\{partition="\d+",topic="intake.events"\} (\d+)', scraped.text)
        assert sum(int(n) for n in sizes) == 12
        assert "lgnet_notary_last_checkpoint_timestamp_seconds" in scraped.text
    finally:
        proc.terminate()
        proc.wait(30)
    asyncio.run(publish(kafka_bootstrap, prefix, [f"d{i}" for i in range(5)]))
    proc, port = start()
    try:
        line = first_line(proc)
        assert (line["restored"], line["read"]) == (12, 5), line
        assert sum(c["size"] for c in newest(port)) == 17
        for c in newest(port):
            assert open_checkpoint(c["checkpoint"], PINNED).size == c["size"]
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
        keys = tmp_path / "pinned.json"
        assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
        verify = argparse.Namespace(
            command="verify",
            topic_prefix=prefix,
            keys=[str(keys)],
            notary_key=[str(NOTARY.verifier)],
            state=None,
            notary_url=f"http://127.0.0.1:{port}",
            workers=1,
        )
        capsys.readouterr()
        rc = audit._run(audit.verify, verify)
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert rc == 0 and summary["events"] == 17, summary
        assert summary["checkpoints"] >= 2 * len(newest(port))  # the topic's, and the newest again over HTTP
    finally:
        proc.terminate()
        proc.wait(30)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(i) for i in items]


def test_the_notarys_liveness_names_it_as_the_services_do() -> None:
    """Every service's /health/live says which it is ({"status": "ok", "service": "intake"}); the notary's said only
    "ok", so a probe or a dashboard reading several ports could not tell which process answered."""

    async def live() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Notary(NOTARY)))
        async with httpx.AsyncClient(transport=transport, base_url="http://notary") as http:
            return await http.get("/health/live")

    answer = asyncio.run(live())
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "service": "notary"}), answer.text


def test_the_notary_is_ready_while_it_follows_the_log_and_kafka_answers(kafka_bootstrap: str) -> None:
    """/health/ready: 503 naming the check until the notary's Kafka clients are started and it has read the log,
    200 while it follows it, 503 again once stopped."""
    prefix = new_topic_prefix()
    asyncio.run(publish(kafka_bootstrap, prefix, ["r1", "r2"]))

    async def probe() -> list[tuple[int, dict[str, str]]]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix)
        transport = httpx.ASGITransport(app=create_app(runner.notary, runner))
        async with httpx.AsyncClient(transport=transport, base_url="http://notary") as http:

            async def ready() -> tuple[int, dict[str, str]]:
                r = await http.get("/health/ready")
                return r.status_code, r.json()["checks"]

            answers = [await ready()]
            await runner.start()
            answers.append(await ready())
            await runner.catch_up()
            answers.append(await ready())
            await runner.stop()
            answers.append(await ready())
        return answers

    unstarted, before, following, stopped = asyncio.run(probe())
    unread = "error: has not read the log yet"
    assert unstarted == (503, {"kafka": "error: not started", "following": unread, "log": "ok"})
    assert before == (503, {"kafka": "ok", "following": unread, "log": "ok"})
    assert following == (200, {"kafka": "ok", "following": "ok", "log": "ok"})
    assert stopped == (503, {"kafka": "error: stopped", "following": "error: stopped", "log": "ok"})


def test_the_notary_is_not_ready_when_a_topic_it_uses_is_gone_or_refused(kafka_bootstrap: str) -> None:
    """Its readiness checked the replication of its topics only: a checkpoint topic deleted (or the notary's rights on
    it revoked) left it "ok" while no checkpoint could be published. The services' rule: each unusable topic named."""
    prefix = new_topic_prefix()
    asyncio.run(publish(kafka_bootstrap, prefix, ["r1"]))

    async def probe() -> tuple[dict[str, str], dict[str, str]]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix)
        await runner.start()
        try:
            await runner.catch_up()
            before = await runner.ready()
            await delete_topic(kafka_bootstrap, physical("checkpoints", prefix))
            for _ in range(50):
                after = await runner.ready()
                if after["kafka"] != "ok":
                    break
                await asyncio.sleep(0.1)
            return before, after
        finally:
            await runner.stop()

    before, after = asyncio.run(probe())
    assert before == {"kafka": "ok", "following": "ok", "log": "ok"}
    assert after["kafka"] == f"error: no such topic {physical('checkpoints', prefix)}", after


def test_verify_with_the_notary_url_names_the_exact_offset_of_a_rewritten_record(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first audit of a partition whose records were reordered after the notary checkpointed it (every signature
    still verifies): with the notary's URL it names the first record out of place, not a range of offsets. (The
    copy under its own prefix stands for the log rewritten in place: the notary's trees of the genuine log, kept in
    its state folder, follow the copy — a checkpoint's origin names the prefix of its log.)"""
    prefix, copy = new_topic_prefix(), new_topic_prefix()
    envs = asyncio.run(publish(kafka_bootstrap, prefix, [f"e{i}" for i in range(60)]))
    target = max(range(6), key=lambda p: sum(1 for e in envs if partition_of(e.key, 6) == p))
    records = asyncio.run(read_records(kafka_bootstrap, physical("intake.events", prefix)))
    here = sorted((r for r in records if r.partition == target), key=lambda r: r.offset)
    assert len(here) >= 6
    swapped = [*here[:-3], here[-2], here[-3], here[-1]]  # two records near the end change places

    async def rewrite() -> None:
        await ensure_topics(kafka_bootstrap, copy)
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True)
        await producer.start()
        try:
            from lgnet_shared.fact_signing import publish_key
            from lgnet_shared.testing.facts import upstream_signer

            await publish_key(producer, upstream_signer("intake").key, copy)
            others = [r for r in records if r.partition != target]
            for r in [*others, *swapped]:
                await producer.send_and_wait(
                    physical("intake.events", copy), r.value, key=r.key, headers=list(r.headers), partition=r.partition
                )
        finally:
            await producer.stop()

    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LGNET_TOPIC_PREFIX": prefix,
        "LGNET_NOTARY_KEY": _b64(SEED),
        "LGNET_DEPLOYMENT": "national-test",
        "LGNET_NOTARY_STATE": str(tmp_path / "notary"),
    }
    run = [sys.executable, "-c", "from lgnet_reporting.entrypoints.audit import notary_main; notary_main()", "run"]
    subprocess.run(run, env=env, check=True, stdout=subprocess.DEVNULL, timeout=120)  # the genuine log's trees
    asyncio.run(rewrite())
    port = free_port()
    # A notary whose sweep has not reached the swapped records yet (`--sweep 0`): its checkpoints cover the rewritten
    # log, and the audit tells.
    cmd = [*run, "--every", "1", "--http-port", str(port), "--sweep", "0"]
    proc = subprocess.Popen(cmd, env={**env, "LGNET_TOPIC_PREFIX": copy}, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())  # its first round: the genuine trees checkpointed for the copy
        assert line["read"] == 0 and line["checkpoints"] > 0, line
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
        keys = tmp_path / "pinned.json"
        assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", copy, "keys", "--out", str(keys)])) == 0
        deadline = time.monotonic() + 30
        while True:  # the HTTP server up
            try:
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        found = {}
        for url in (None, f"http://127.0.0.1:{port}"):
            verify = argparse.Namespace(
                command="verify",
                topic_prefix=copy,
                keys=[str(keys)],
                notary_key=[str(NOTARY.verifier)],
                state=None,
                notary_url=url,
                workers=1,
            )
            capsys.readouterr()
            rc = audit._run(audit.verify, verify)
            summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert rc == 1, summary
            found[url is not None] = [(f["topic"], f["partition"], f["offset"]) for f in summary["first_failures"]]
        first = len(here) - 3
        assert found[False] == [("intake.events", target, 0)], found  # one checkpoint, at the end: the whole range
        assert found[True] == [("intake.events", target, first)], found
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_notary_refuses_to_start_with_another_key_on_its_state_folder(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Every service refuses another LGNET_MASTER_KEY than its schema's; the notary has no schema, its state folder
    is its memory. Started on that folder with another key (a master key regenerated, another host's), it signed
    checkpoints with a key the auditors have not pinned, and their verify failed an honest log. Now it refuses,
    naming the variable its key came from, exits non-zero, and signs and publishes nothing; the folder records only
    the public verifier key, never a seed. The key it was built with starts it again."""
    prefix, state = new_topic_prefix(), tmp_path / "notary"
    master, other = os.urandom(32), os.urandom(32)
    asyncio.run(ensure_topics(kafka_bootstrap, prefix))
    base = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LGNET_TOPIC_PREFIX": prefix,
        "LGNET_DEPLOYMENT": "national-test",
        "LGNET_NOTARY_STATE": str(state),
    }
    base.pop("LGNET_NOTARY_KEY", None)
    run = [sys.executable, "-c", "from lgnet_reporting.entrypoints.audit import notary_main; notary_main()", "run"]

    def notary(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(run, env={**base, **env}, capture_output=True, text=True, timeout=120)

    def checkpoints() -> int:
        return len(asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", prefix), missing_ok=True)))

    first = notary(LGNET_MASTER_KEY=_b64(master))  # the log still empty: nothing to sign, the folder made
    assert first.returncode == 0, first.stdout + first.stderr
    asyncio.run(publish(kafka_bootstrap, prefix, [f"k{i}" for i in range(6)]))
    saved = {p.name: p.read_bytes() for p in state.iterdir()}

    refused = notary(LGNET_MASTER_KEY=_b64(other))
    assert refused.returncode != 0, refused.stdout
    error = json.loads(refused.stdout.strip().splitlines()[-1])["error"]
    assert error.startswith("LGNET_MASTER_KEY: ") and str(state) in error, error
    assert (checkpoints(), {p.name: p.read_bytes() for p in state.iterdir()}) == (0, saved)

    started = notary(LGNET_MASTER_KEY=_b64(master))  # its own key: it goes on, and signs what is new
    assert started.returncode == 0, started.stdout + started.stderr
    assert json.loads(started.stdout.strip().splitlines()[-1])["read"] == 6
    published = checkpoints()
    assert published > 0

    refused = notary(LGNET_MASTER_KEY=_b64(master), LGNET_NOTARY_KEY=_b64(other))  # a notary key set: named
    assert refused.returncode != 0, refused.stdout
    error = json.loads(refused.stdout.strip().splitlines()[-1])["error"]
    assert error.startswith("LGNET_NOTARY_KEY: ") and str(state) in error, error
    assert checkpoints() == published

    seeds = [master, other, derive(master, "notary:national-test"), derive(other, "notary:national-test")]
    kept = b"".join(p.read_bytes() for p in state.iterdir())
    assert not [s for s in seeds if s in kept or _b64(s).encode() in kept], "a key in the state folder"


async def _rewrite_topic(bootstrap: str, prefix: str, topic: str, keep: Any) -> list[Any]:
    """What someone with admin rights does: read every record of `topic`, delete it, make it anew
    (`lgnet-kafka-admin create-topics`) and write back `keep(records)` (in partition 0); the records read."""
    records = sorted(await read_records(bootstrap, physical(topic, prefix)), key=lambda r: r.offset)
    await delete_topic(bootstrap, physical(topic, prefix))
    await ensure_topics(bootstrap, prefix)
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for r in keep(records):
            await producer.send_and_wait(
                physical(topic, prefix), r.value, key=r.key, headers=list(r.headers), partition=0
            )
    finally:
        await producer.stop()
    return records


def test_the_notary_refuses_to_sign_a_partition_rewritten_under_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    """An outside tester deleted payments.events, made it anew and wrote the same records back without one: the
    notary appended them after its tree (a checkpoint of 137 records for a partition that never held more than 69,
    /health/ready ok). A record at or below an offset already notarised, a log ending before the records notarised,
    or a first or last notarised record no longer the same means the partition was rewritten: no further checkpoint of
    it, the tree left as notarised, /health/ready 503 naming it, a metric; kept across a restart. The other
    partitions go on being checkpointed."""
    prefix, state = new_topic_prefix(), tmp_path / "notary"
    topic = "payments.events"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(12)], topic))
    asyncio.run(publish(kafka_bootstrap, prefix, ["i1"]))

    async def live() -> tuple[list[Any], dict[str, str], int, int]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix, NotaryStore(state))
        await runner.start()
        try:
            await runner.catch_up()
            first = await runner.checkpoint()
            assert {(cp.origin, cp.size) for cp in first} >= {(f"{prefix}lgnet/{topic}/0", 12)}
            assert (await runner.ready())["log"] == "ok"
            await _rewrite_topic(kafka_bootstrap, prefix, topic, lambda rs: [*rs[:5], *rs[6:]])
            await publish(kafka_bootstrap, prefix, ["i2"])  # another partition grows meanwhile
            fresh: list[Any] = []
            for _ in range(10):  # the notary follows: fetches, and checkpoints (until both are seen: each fetch waits)
                await runner.fetch()
                fresh += await runner.checkpoint()
                if runner.notary.rewritten() and any("intake.events" in cp.origin for cp in fresh):
                    break
            part = runner.notary.partitions[(topic, 0)]
            runner.refresh_metrics()
            metric = httpx.ASGITransport(app=create_app(runner.notary, runner))
            async with httpx.AsyncClient(transport=metric, base_url="http://notary") as http:
                ready = await http.get("/health/ready")
                scraped = (await http.get("/metrics")).text
            assert ready.status_code == 503
            assert f'lgnet_notary_partition_rewritten{{partition="0",topic="{topic}"}} 1.0' in scraped
            return fresh, ready.json()["checks"], len(part.tree), runner.notary.checkpoint(topic, 0).size
        finally:
            await runner.stop()

    fresh, checks, size, newest = asyncio.run(live())
    assert not [cp for cp in fresh if cp.origin == f"{prefix}lgnet/{topic}/0"], fresh
    assert [cp for cp in fresh if "intake.events" in cp.origin], "the other partitions are still checkpointed"
    assert size == 12 and newest == 12, "the tree stays the history the notary notarised"
    assert checks["log"].startswith(f"error: {topic} partition 0 rewritten"), checks
    assert checks["kafka"] == "ok" and checks["following"] == "ok", checks

    again = asyncio.run(runner_round(kafka_bootstrap, prefix, state))  # a restart: still refused
    assert again.notary.partitions[(topic, 0)].rewritten and len(again.notary.partitions[(topic, 0)].tree) == 12


def test_the_notary_finds_a_rewrite_of_the_same_length_made_while_it_was_stopped(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A rewrite of the same length leaves the notary's read position at the new end: it "followed" the rewritten
    partition with its old tree. On start (and before each round's checkpoints) it reads its first and last notarised
    records again; an honest restart of a partition that only grew is not refused."""
    prefix, state = new_topic_prefix(), tmp_path / "notary"
    topic = "payments.events"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(8)], topic))
    asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    asyncio.run(publish(kafka_bootstrap, prefix, [f"q{i}" for i in range(3)], topic))
    honest = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    assert honest.read == 3 and not honest.notary.rewritten()
    assert len(honest.notary.partitions[(topic, 0)].tree) == 11

    # the first record dropped, another one written at the end: 11 records again, every one signed
    asyncio.run(_rewrite_topic(kafka_bootstrap, prefix, topic, lambda rs: [*rs[1:], rs[0]]))
    after = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    why = after.notary.rewritten()
    assert list(why) == [(topic, 0)] and "offset 0" in why[(topic, 0)], why
    assert after.read == 0 and len(after.notary.partitions[(topic, 0)].tree) == 11
    published = after.notary.partitions[(topic, 0)].published
    assert published is not None and published.size == 11


def test_the_notary_sweeps_every_notarised_record_and_finds_two_swapped_in_the_middle_while_it_runs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A rewrite of the same length that keeps the first and last records (two records in the middle swapped, the
    topic deleted and written back while the notary ran) went unseen by it: it read again only its first and last
    notarised records, and went on signing checkpoints over a log that no longer was the one notarised (only an
    auditor's next `verify` would tell). Each round now also reads again the next records of a sweep through every
    partition's notarised records (`--sweep` a round, from the start again once through), compared with their
    leaves: the swap is found within a sweep, at its offset."""
    prefix, topic = new_topic_prefix(), "payments.events"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(12)], topic))

    async def live() -> tuple[int, dict[tuple[str, int], str]]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix, NotaryStore(tmp_path / "notary"), sweep=4)
        await runner.start()
        try:
            await runner.catch_up()
            await runner.checkpoint()
            assert not runner.notary.rewritten()
            await _rewrite_topic(kafka_bootstrap, prefix, topic, lambda rs: [*rs[:9], rs[10], rs[9], rs[11]])
            for rounds in range(1, 5):  # 12 records, 4 a round: once through in three rounds
                await runner.checkpoint()
                if runner.notary.rewritten():
                    return rounds, runner.notary.rewritten()
            return 0, runner.notary.rewritten()
        finally:
            await runner.stop()

    rounds, why = asyncio.run(live())
    assert list(why) == [(topic, 0)] and "offset 9" in why[(topic, 0)], why
    assert 1 <= rounds <= 3, rounds


def test_while_a_fact_topic_is_gone_the_notary_signs_nothing_and_says_why(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the deletion of a fact topic and its re-creation the log cannot be compared with the trees (the Kafka
    client waited 40 s for the offsets of a topic gone, then raised into the follow loop): no checkpoint that round,
    /health/ready names it, and the next round, the topic back, compares again."""
    from lgnet_reporting.service_layer import notary as notary_service

    monkeypatch.setattr(notary_service, "PROBE_TIMEOUT_S", 2.0)
    prefix, topic = new_topic_prefix(), "payments.events"
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(4)], topic))

    async def scenario() -> tuple[list[Any], dict[str, str], list[Any], dict[str, str]]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix)
        await runner.start()
        try:
            await runner.catch_up()
            await runner.checkpoint()
            await publish(kafka_bootstrap, prefix, ["i1"])  # something grew
            await runner.catch_up()
            await delete_topic(kafka_bootstrap, physical(topic, prefix))
            gone = await runner.checkpoint()
            while_gone = await runner.ready()
            await ensure_topics(kafka_bootstrap, prefix)  # made anew, empty: records notarised are gone
            back = await runner.checkpoint()
            return gone, while_gone, back, await runner.ready()
        finally:
            await runner.stop()

    gone, while_gone, back, after = asyncio.run(scenario())
    assert gone == [] and while_gone["log"].startswith("error: the log could not be compared"), while_gone
    assert not [cp for cp in back if topic in cp.origin], back
    assert after["log"].startswith(f"error: {topic} partition 0 rewritten"), after


def test_the_notary_is_ready_again_within_seconds_once_kafka_answers_again(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A round whose log could not be compared with the trees (Kafka away) left /health/ready at 503 until the next
    round, up to a minute (the interval it runs at, 60 s) after Kafka was back; the round is now tried again within
    RECHECK_S, and signs what grew meanwhile; the outage is logged once, not every try. Kafka's answers withheld from
    the notary's probe as during an outage, then given again."""
    from aiokafka.errors import KafkaConnectionError
    from lgnet_reporting.service_layer import notary as notary_service

    prefix = new_topic_prefix()
    asyncio.run(publish(kafka_bootstrap, prefix, ["k1", "k2"]))

    async def scenario() -> tuple[dict[str, str], dict[str, str], float, list[dict[str, Any]]]:
        runner = NotaryRunner(Notary(NOTARY), kafka_bootstrap, prefix)
        await runner.start()
        rounds: list[dict[str, Any]] = []
        follow = None
        try:
            await runner.catch_up()
            await runner.checkpoint()
            await publish(kafka_bootstrap, prefix, ["k3"])  # grows while Kafka is "away"
            assert runner._probe is not None
            answering = runner._probe.end_offsets

            async def away(*_: Any) -> Any:
                raise KafkaConnectionError("no broker")

            runner._probe.end_offsets = away
            monkeypatch.setattr(notary_service, "RECHECK_S", 0.3)
            follow, began = asyncio.create_task(runner.follow(60.0, rounds.append)), time.monotonic()
            while len(rounds) < 3 and time.monotonic() - began < 20:  # tried again, still away
                await asyncio.sleep(0.05)
            during = await runner.ready()
            runner._probe.end_offsets = answering
            back = time.monotonic()
            while (after := await runner.ready())["log"] != "ok" and time.monotonic() - back < 20:
                await asyncio.sleep(0.2)
            while not rounds[-1]["checkpoints"] and time.monotonic() - back < 20:  # that round's checkpoints published
                await asyncio.sleep(0.05)
            return during, after, time.monotonic() - back, rounds
        finally:
            if follow is not None:
                follow.cancel()
            await runner.stop()

    during, after, took, rounds = asyncio.run(scenario())
    assert during["log"].startswith("error: the log could not be compared"), during
    assert after["log"] == "ok" and took <= 3, (after, took)
    assert [r["reason"] for r in rounds[:3]] == ["interval", "recheck", "recheck"], rounds
    assert rounds[-1]["reason"] == "recheck" and rounds[-1]["checkpoints"] >= 1, rounds  # what grew, signed
    said = [r for r in caplog.records if "could not be compared" in r.getMessage()]
    assert len(said) == 1, said


def test_a_topic_rewritten_one_record_short_the_notary_refuses_it_and_verify_names_the_record(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The outside tester's case end to end: intake.events read, deleted, made anew and written back without one
    record of a partition. The notary, restarted on its state, refuses that partition (503 naming it) and signs no
    checkpoint of it; `verify --state --notary-url` says "log truncated" once (no checkpoint extending the saved one
    called a fork, twice each) and, with the notary's checkpoints of the sizes in between, names the record dropped
    at its offset, as the saved state does."""
    prefix, state, audit_state = new_topic_prefix(), tmp_path / "notary", tmp_path / "audit"
    envs = asyncio.run(publish(kafka_bootstrap, prefix, [f"e{i}" for i in range(48)]))
    target = max(range(6), key=lambda p: sum(1 for e in envs if partition_of(e.key, 6) == p))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LGNET_TOPIC_PREFIX": prefix,
        "LGNET_NOTARY_KEY": _b64(SEED),
        "LGNET_DEPLOYMENT": "national-test",
        "LGNET_NOTARY_STATE": str(state),
    }
    run = [sys.executable, "-c", "from lgnet_reporting.entrypoints.audit import notary_main; notary_main()", "run"]
    subprocess.run(run, env=env, check=True, stdout=subprocess.DEVNULL, timeout=120)
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    keys = tmp_path / "pinned.json"
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0

    def verify(url: str | None) -> tuple[int, dict[str, Any]]:
        from test_audit import run_verify

        return run_verify(kafka_bootstrap, prefix, keys, audit_state, capsys, notary=NOTARY, notary_url=url)

    rc, summary = verify(None)
    assert rc == 0, summary  # the auditor's saved state of the genuine log
    records = asyncio.run(read_records(kafka_bootstrap, physical("intake.events", prefix)))
    here = sorted((r for r in records if r.partition == target), key=lambda r: r.offset)
    dropped = here[3].offset

    async def rewrite() -> None:
        await delete_topic(kafka_bootstrap, physical("intake.events", prefix))
        await ensure_topics(kafka_bootstrap, prefix)
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True)
        await producer.start()
        try:
            for r in sorted(records, key=lambda r: (r.partition, r.offset)):
                if (r.partition, r.offset) != (target, dropped):
                    await producer.send_and_wait(
                        r.topic, r.value, key=r.key, headers=list(r.headers), partition=r.partition
                    )
        finally:
            await producer.stop()

    asyncio.run(rewrite())
    port = free_port()
    proc = subprocess.Popen(
        [*run, "--every", "1", "--http-port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        logged = [json.loads(proc.stdout.readline())]
        while "read" not in logged[-1]:  # its log lines (JSON), then its first round's
            logged.append(json.loads(proc.stdout.readline()))
        line = logged[-1]
        assert line["read"] == 0 and line["checkpoints"] == 0, line  # nothing of the rewritten log signed
        errors = [e for e in logged if e.get("level") == "error"]
        assert len(errors) == 1 and f"intake.events partition {target} was rewritten" in errors[0]["event"], logged
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["log"].startswith(f"error: intake.events partition {target} rewritten"), (
            ready.text
        )
        rc, summary = verify(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(30)
    assert rc == 1, summary
    found = [(f["partition"], f["offset"], f["reason"]) for f in summary["first_failures"]]
    assert {p for p, _, _ in found} == {target}, found
    assert not [r for _, _, r in found if "forks" in r or "two histories" in r], found
    n = len(here)
    assert sorted(r for _, _, r in found if r.startswith("log truncated")) == [
        f"log truncated: it ends at offset {n - 1}, a signed checkpoint covers {n} records",
        f"log truncated: it ends at offset {n - 1}, the saved checkpoint covers {n} records",
    ], found
    assert (
        target,
        dropped,
        "record differs from the one audited last time (changed, dropped, reordered or inserted here)",
    ) in found, found
    assert [
        o for _, o, r in found if r.startswith(f"record changed, dropped, reordered or inserted at offset {dropped}")
    ] == [dropped], found
    assert summary["failed_partitions"] == [{"topic": "intake.events", "partition": target, "failures": len(found)}]


def test_a_transaction_aborted_at_a_partitions_start_is_no_rewrite(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Honest logs stay notarised across restarts: a partition whose first records belong to an aborted transaction
    (skipped when read, its first record notarised at offset 2) is read again from its start as it was read then."""
    prefix, state, topic = new_topic_prefix(), tmp_path / "notary", "payments.events"

    async def aborted() -> None:
        await ensure_topics(kafka_bootstrap, prefix)
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), transactional_id=f"{prefix}aborting")
        await producer.start()
        try:
            await producer.begin_transaction()
            await producer.send_and_wait(physical(topic, prefix), b"never committed", partition=0)
            await producer.abort_transaction()
        finally:
            await producer.stop()

    asyncio.run(aborted())
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(3)], topic))
    first = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    assert first.notary.partitions[(topic, 0)].offset_of(0) == 2
    asyncio.run(publish(kafka_bootstrap, prefix, ["p3"], topic))
    again = asyncio.run(runner_round(kafka_bootstrap, prefix, state))
    assert not again.notary.rewritten() and again.read == 1
    assert len(again.notary.partitions[(topic, 0)].tree) == 4


def notary_env(kafka_bootstrap: str, prefix: str) -> dict[str, str]:
    """A notary's environment on the test's topics, with the test's seed."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LGNET_TOPIC_PREFIX": prefix,
        "LGNET_NOTARY_KEY": _b64(SEED),
        "LGNET_DEPLOYMENT": "national-test",
    }


def test_a_notary_whose_port_is_taken_says_so_before_signing_anything(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A city IT team started the notary on a port another process listened on: it read the whole log, published a
    checkpoint of every partition, and only then ended on uvicorn's "[Errno 98] error while attempting to bind …",
    naming neither --http-port nor LGNET_NOTARY_PORT. The port is taken first: one line naming it, nothing signed."""
    prefix = new_topic_prefix()
    asyncio.run(publish(kafka_bootstrap, prefix, [f"p{i}" for i in range(3)]))
    env = notary_env(kafka_bootstrap, prefix)
    run = [sys.executable, "-c", "from lgnet_reporting.entrypoints.audit import notary_main; notary_main()", "run"]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run(
            [*run, "--every", "60", "--state", str(tmp_path / "notary"), "--http-port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0, done.stdout + done.stderr
    error = json.loads(done.stdout.strip().splitlines()[-1])["error"]
    assert error == f"--http-port (LGNET_NOTARY_PORT): 127.0.0.1:{port} is in use (another process listens there)"
    assert not asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", prefix), missing_ok=True))
