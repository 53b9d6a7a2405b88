"""A fact re-driven from the dead letters never makes an honest log look tampered (#16): `lgnet-deadletters redrive`
onto a fact topic leaves no offset gap, so `lgnet-audit verify` passes; and the notary never answers a proof for an
offset with another offset's record — on a log with a gap (a transaction's commit marker, written by anyone who may
write the topic) the offset after the gap is proved as itself, the gap's offset is named, and verify names the gap.
Real Kafka."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.adapters import log
from lgnet_reporting.entrypoints import audit
from lgnet_reporting.entrypoints.notary_http import create_app
from lgnet_shared import deadletter_cli, merkle
from lgnet_shared.checkpoints import open_checkpoint
from lgnet_shared.deadletter import DeadLetters, Failure
from lgnet_shared.envelope import Envelope
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import TOPICS, ensure_topics, physical
from test_notary import NOTARY, PINNED, employment, runner_round

pytestmark = pytest.mark.integration
FACTS = "intake.events"
PARTITIONS = TOPICS[FACTS].partitions


def on(partition: int, count: int, tag: str) -> list[Envelope]:
    """`count` facts whose key belongs on `partition` (the audit checks each record is on its key's partition)."""
    out: list[Envelope] = []
    i = 0
    while len(out) < count:
        env = employment(f"{tag}-{i}")
        if partition_of(env.key, PARTITIONS) == partition:
            out.append(env)
        i += 1
    return out


async def publish(bootstrap: str, prefix: str, envs: list[Envelope], transactional: bool = False) -> None:
    """Signed facts on their partitions; `transactional`: in one Kafka transaction, whose commit marker takes an
    offset of the partition (as a partner's or an administrator's transactional producer leaves one)."""
    await ensure_topics(bootstrap, prefix)
    extra: dict[str, Any] = {"transactional_id": f"test-{prefix}"} if transactional else {"enable_idempotence": True}
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), **extra)
    await producer.start()
    try:
        signed = [await signed_fact(producer, prefix, env, FACTS) for env in envs]
        if transactional:
            await producer.begin_transaction()
        for env, (value, headers) in zip(envs, signed, strict=True):
            partition = partition_of(env.key, PARTITIONS)
            await producer.send_and_wait(
                physical(FACTS, prefix), value, key=env.key, headers=headers, partition=partition
            )
        if transactional:
            await producer.commit_transaction()
    finally:
        await producer.stop()


async def stable_at(bootstrap: str, prefix: str, partition: int, offset: int) -> None:
    """Until a read_committed reader's end of the partition (its last stable offset) is `offset`: a transaction's
    commit marker is written by the coordinator after the commit returns (Kafka's WriteTxnMarkers), and a fact
    published meanwhile took the offset the test expects the marker at (seen once on a loaded machine: [0, 1, 2, 3,
    4]); until the marker is written, the stable offset stays before the transaction's first record."""
    topic = physical(FACTS, prefix)
    for _ in range(200):
        if (await log.end_positions(bootstrap, [topic]))[topic].get(str(partition)) == offset:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{topic}[{partition}] never stable at {offset}")


async def records_of(bootstrap: str, prefix: str, partition: int) -> list[Any]:
    return [r for r in await read_records(bootstrap, physical(FACTS, prefix)) if r.partition == partition]


async def dead_letter(bootstrap: str, prefix: str, record: Any) -> None:
    """`record` dead-lettered by a consumer, as every consumer of it would."""
    producer = AIOKafkaProducer(**client_kwargs(bootstrap))
    await producer.start()
    try:
        await DeadLetters(producer, "national.housing.intake", prefix).send(
            record, Failure("processing", "RuntimeError", "boom", "", 3)
        )
    finally:
        await producer.stop()


def verify(bootstrap: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`lgnet-audit keys`, a notary round, then `lgnet-audit verify`: verify's JSON line (with its exit status)."""
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    asyncio.run(audit.notary_once(bootstrap, prefix, NOTARY))
    keys = tmp_path / "pinned-keys.json"
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
    argv = ["--topic-prefix", prefix, "verify", "--keys", str(keys), "--notary-key", str(NOTARY.verifier)]
    capsys.readouterr()
    rc = audit._run(audit.verify, audit.audit_parse([*argv, "--state", str(tmp_path / "state")]))
    line: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    line["rc"] = rc
    return line


def proofs(bootstrap: str, prefix: str, partition: int, offsets: list[int]) -> dict[int, httpx.Response]:
    """The notary's answer to `/proofs/inclusion` for each offset of the partition."""

    async def ask() -> dict[int, httpx.Response]:
        runner = await runner_round(bootstrap, prefix, None)
        transport = httpx.ASGITransport(app=create_app(runner.notary))
        async with httpx.AsyncClient(transport=transport, base_url="http://notary") as http:
            return {
                o: await http.get("/proofs/inclusion", params={"topic": FACTS, "partition": partition, "offset": o})
                for o in offsets
            }

    return asyncio.run(ask())


def assert_proves_its_own_record(answer: httpx.Response, record: Any) -> None:
    """The proof names the record at its offset: that record's leaf and event id, and it verifies to the signed
    root."""
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    leaf = merkle.leaf_hash(merkle.record_leaf(record.offset, record.key, record.value, list(record.headers or ())))
    assert proof["offset"] == record.offset
    assert proof["event_id"] == json.loads(record.value)["id"]
    assert proof["leaf_hash"] == base64.b64encode(leaf).decode(), f"offset {record.offset}: another record's leaf"
    cp = open_checkpoint(proof["checkpoint"], PINNED)
    path = [base64.b64decode(h) for h in proof["proof"]]
    assert merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, cp.root)


def test_a_redriven_facts_dead_letter_leaves_the_log_verifiable_and_every_offset_proved_as_itself(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, partition = new_topic_prefix(), 0
    asyncio.run(ensure_topics(kafka_bootstrap, prefix, names=["deadletter", FACTS]))
    asyncio.run(publish(kafka_bootstrap, prefix, on(partition, 3, "before")))
    [*_, poisoned] = asyncio.run(records_of(kafka_bootstrap, prefix, partition))
    asyncio.run(dead_letter(kafka_bootstrap, prefix, poisoned))
    [letter] = asyncio.run(deadletter_cli.read_dead_letters(kafka_bootstrap, prefix))

    argv = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "redrive", letter.position]
    assert deadletter_cli.main(argv) == 0
    asyncio.run(publish(kafka_bootstrap, prefix, on(partition, 1, "after")))  # then any new fact

    records = asyncio.run(records_of(kafka_bootstrap, prefix, partition))
    assert [r.offset for r in records] == list(range(5)), "a re-drive onto a fact topic must leave no offset gap"
    assert records[3].value == poisoned.value  # the re-driven copy, right after the original
    line = verify(kafka_bootstrap, prefix, tmp_path, capsys)
    assert line["rc"] == 0 and line["failures"] == 0, line

    for offset, answer in proofs(kafka_bootstrap, prefix, partition, [r.offset for r in records]).items():
        assert_proves_its_own_record(answer, records[offset])


def test_the_notary_proves_each_offset_as_its_own_record_across_a_gap_and_verify_names_the_gap(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, partition = new_topic_prefix(), 1
    asyncio.run(publish(kafka_bootstrap, prefix, on(partition, 2, "before")))
    asyncio.run(publish(kafka_bootstrap, prefix, on(partition, 1, "in-a-transaction"), transactional=True))
    asyncio.run(stable_at(kafka_bootstrap, prefix, partition, 4))  # the commit marker at offset 3
    asyncio.run(publish(kafka_bootstrap, prefix, on(partition, 2, "after")))
    records = asyncio.run(records_of(kafka_bootstrap, prefix, partition))
    assert [r.offset for r in records] == [0, 1, 2, 4, 5]  # offset 3: the transaction's commit marker

    answers = proofs(kafka_bootstrap, prefix, partition, [0, 1, 2, 3, 4, 5])
    for r in records:
        assert_proves_its_own_record(answers[r.offset], r)
    gap = answers[3]
    assert gap.status_code == 404 and gap.json()["field"] == "query.offset", gap.text
    assert "no record at offset 3" in gap.json()["reason"]

    line = verify(kafka_bootstrap, prefix, tmp_path, capsys)  # a gap stays a failure the auditor sees, at its place
    assert line["rc"] != 0
    assert [(f["topic"], f["partition"], f["offset"]) for f in line["first_failures"]] == [(FACTS, partition, 4)], line
    assert "offset gap: expected offset 3" in line["first_failures"][0]["reason"]
