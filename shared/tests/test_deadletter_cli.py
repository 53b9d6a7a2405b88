"""`lgnet-deadletters` against real Kafka: list dead letters, re-drive them once, refuse what makes no sense."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition
from lgnet_shared.deadletter import H_REDRIVE_ID, H_REDRIVE_SINCE, H_REDRIVEN, DeadLetters, Failure
from lgnet_shared.deadletter_cli import (
    COLUMNS,
    main,
    partitions_of,
    read_dead_letters,
    redriven_headers,
)
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import ensure_topics, physical

pytestmark = pytest.mark.integration

VALUE_A = b'{"specversion":"1.0","data":{"secret":"sealed-A"}}'
VALUE_B = b'{"specversion":"1.0","data":{"secret":"sealed-B"}}'
OWN_HEADERS = [("content-type", b"application/cloudevents+json"), ("traceparent", b"00-abc-def-01")]


def record(topic: str, partition: int, offset: int, key: bytes, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, len(key), len(value), OWN_HEADERS)


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[str]:
    """The prefix's deadletter and intake topics holding two dead letters of intake.gatekeeper."""
    await ensure_topics(kafka_bootstrap, topic_prefix, names=["deadletter", "intake.events"])
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        dlq = DeadLetters(producer, "intake.gatekeeper", topic_prefix)
        origin = physical("intake.events", topic_prefix)
        await dlq.send(
            record(origin, 2, 17, b"case-A", VALUE_A),
            Failure("invalid_data", "InvalidEventData", "must be a date", "data.birth_date"),
        )
        await dlq.send(record(origin, 0, 5, b"case-B", VALUE_B), Failure("processing", "RuntimeError", "boom", "", 3))
    finally:
        await producer.stop()
    try:
        yield topic_prefix
    finally:
        admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(topic_prefix)])
        finally:
            await admin.close()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))  # main runs its own event loop
    out, err = capsys.readouterr()
    return code, out, err


async def listed(capsys: pytest.CaptureFixture[str], bootstrap: str, prefix: str) -> dict[int, dict[str, Any]]:
    """Dead letters as listed with --json, by original offset (17 = A, 5 = B)."""
    code, out, _ = await cli(capsys, "--bootstrap", bootstrap, "--topic-prefix", prefix, "list", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    return {r["original"]["offset"]: r for r in rows}


def text_rows(text: str) -> list[dict[str, str]]:
    """The text listing's rows under its header's column names."""
    header, *lines = text.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        for _ in range(100):
            if all([await consumer.position(tp) >= end[tp] for tp in tps]):
                return records
            batch = await consumer.getmany(timeout_ms=200)
            records += [r for rs in batch.values() for r in rs]
        raise AssertionError(f"could not read {topic} to its end")
    finally:
        await consumer.stop()


async def test_list_shows_origin_and_error_but_never_the_value(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = await listed(capsys, kafka_bootstrap, prefix)
    assert set(rows) == {17, 5}
    a, b = rows[17], rows[5]
    assert a["original"] == {"topic": physical("intake.events", prefix), "partition": 2, "offset": 17}
    assert (a["consumer"], a["kind"], a["error_type"], a["field"]) == (
        "intake.gatekeeper",
        "invalid_data",
        "InvalidEventData",
        "data.birth_date",
    )
    assert (b["kind"], b["attempts"], b["original"]["partition"]) == ("processing", 3, 0)
    # The original's size only where the letter holds just a reference to it (docs/operators.md), not a copy.
    assert a["size_bytes"] is None and a["value_omitted"] is False
    assert a["status"] == b["status"] == "pending"

    args = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "list"]
    code, text, _ = await cli(capsys, *args)
    # A header names the columns (an outside test read the bare tab-separated rows as unlabelled).
    assert code == 0 and text.splitlines()[0].split("\t") == list(COLUMNS) and len(text.splitlines()) == 3
    by_original = {row["original"]: row for row in text_rows(text)}
    row_a = by_original[f"{physical('intake.events', prefix)}:2:17"]
    # As the docs show it: the message as written (it was in Python quotes), no size for a letter holding a copy.
    assert (row_a["message"], row_a["field"], row_a["size_bytes"]) == ("must be a date", "data.birth_date", "-")
    assert "sealed-" not in text and "case-A" not in text
    code, text, _ = await cli(capsys, *args, "--kind", "processing", "--original-topic", "intake.events")
    assert code == 0 and len(text.splitlines()) == 2 and "RuntimeError" in text.splitlines()[1]
    code, text, _ = await cli(capsys, *args, "--consumer", "housing.projector")
    assert code == 0 and text == "no dead letters\n"


async def test_redrive_publishes_the_original_once(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = physical("intake.events", prefix)
    a = (await listed(capsys, kafka_bootstrap, prefix))[17]
    pos_a = f"{a['partition']}:{a['offset']}"
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "redrive"]

    code, out, _ = await cli(capsys, *base, pos_a, "--dry-run")
    assert code == 0 and "would re-drive" in out
    assert await read_topic(kafka_bootstrap, origin) == []

    code, out, err = await cli(capsys, *base, pos_a)
    assert code == 0, err
    [again] = await read_topic(kafka_bootstrap, origin)
    assert (again.key, again.value) == (b"case-A", VALUE_A)
    headers = list(again.headers)
    dlq_ref = f"{physical('deadletter', prefix)}:{pos_a}"
    assert headers == [*OWN_HEADERS, (H_REDRIVEN, dlq_ref.encode())]

    rows = await listed(capsys, kafka_bootstrap, prefix)
    assert (rows[17]["status"], rows[5]["status"]) == ("redriven", "pending")
    assert rows[17]["redriven_to"] == [f"{origin}:{again.partition}:{again.offset}"]

    code, _, err = await cli(capsys, *base, pos_a)
    assert code == 2 and "already re-driven" in err
    assert len(await read_topic(kafka_bootstrap, origin)) == 1

    # The consumer's remaining dead letters only: A is skipped, B goes.
    code, out, _ = await cli(capsys, *base, "--all-of-consumer", "intake.gatekeeper")
    assert code == 0 and out.count("re-drove") == 1
    assert sorted(r.value for r in await read_topic(kafka_bootstrap, origin)) == sorted([VALUE_A, VALUE_B])
    letters = await read_dead_letters(kafka_bootstrap, prefix)
    assert len(letters) == 2 and all(d.redrives for d in letters)

    # Forced: published again (consumers' inboxes make it a no-op), and recorded as a second re-drive.
    code, _, err = await cli(capsys, *base, pos_a, "--force")
    assert code == 0, err
    assert len(await read_topic(kafka_bootstrap, origin)) == 3
    assert len((await listed(capsys, kafka_bootstrap, prefix))[17]["redriven_to"]) == 2


async def test_a_redrive_stopped_before_its_done_marker_is_completed_not_published_twice(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No transaction (its commit marker would leave a gap in a fact topic's offsets): an attempt marker, the copy,
    then the done marker. Runs that stopped after the copy (A) or before it (B) left pending letters with an
    unfinished attempt; the next re-drive writes A's done marker only, and publishes B's copy."""
    origin = physical("intake.events", prefix)
    letters = {d.header("dlq.original.offset"): d for d in await read_dead_letters(kafka_bootstrap, prefix)}
    a, b = letters["17"], letters["5"]
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:  # what the stopped runs wrote: an attempt marker each (the partition was empty), and A's copy
        for letter, partition in ((a, 2), (b, 0)):
            attempt = [
                (H_REDRIVEN, letter.ref.encode()),
                (H_REDRIVE_ID, f"attempt-{partition}".encode()),
                (H_REDRIVE_SINCE, json.dumps({str(partition): 0}).encode()),
            ]
            await producer.send_and_wait(letter.topic, b"", key=letter.key, headers=attempt, partition=letter.partition)
        sent = await producer.send_and_wait(origin, a.value, key=a.key, headers=redriven_headers(a), partition=2)
    finally:
        await producer.stop()
    rows = await listed(capsys, kafka_bootstrap, prefix)
    assert rows[17]["status"] == rows[5]["status"] == "pending"

    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "redrive"]
    code, out, err = await cli(capsys, *base, a.position, b.position)
    assert code == 0, err
    assert f"to {origin}:2:{sent.offset}" in out
    copies = await read_topic(kafka_bootstrap, origin)
    assert sorted((r.partition, r.offset, r.value) for r in copies) == [(0, 0, VALUE_B), (2, 0, VALUE_A)], (
        "A was published a second time, or B not at all"
    )
    rows = await listed(capsys, kafka_bootstrap, prefix)
    assert (rows[17]["status"], rows[17]["redriven_to"]) == ("redriven", [f"{origin}:2:0"])
    assert (rows[5]["status"], rows[5]["redriven_to"]) == ("redriven", [f"{origin}:0:0"])
    assert all(not d.unfinished for d in await read_dead_letters(kafka_bootstrap, prefix))


async def test_a_forced_redrive_of_a_letter_whose_unfinished_attempt_left_its_copy_writes_the_done_marker_only(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A re-driven once, then a forced re-drive stopped after its copy (an attempt marker, the copy, no done marker).
    `redrive --force` again completes that attempt — its done marker, no third copy — as an unforced re-drive of a
    pending letter does; a new copy takes one more `--force` (docs/operators.md, "Dead letters")."""
    origin = physical("intake.events", prefix)
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "redrive"]
    a = {d.header("dlq.original.offset"): d for d in await read_dead_letters(kafka_bootstrap, prefix)}["17"]
    code, _, err = await cli(capsys, *base, a.position)
    assert code == 0, err
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:  # the forced run that stopped: its attempt marker (partition 2 held the first copy), and its copy
        attempt = [
            (H_REDRIVEN, a.ref.encode()),
            (H_REDRIVE_ID, b"forced-attempt"),
            (H_REDRIVE_SINCE, json.dumps({"2": 1}).encode()),
        ]
        await producer.send_and_wait(a.topic, b"", key=a.key, headers=attempt, partition=a.partition)
        sent = await producer.send_and_wait(origin, a.value, key=a.key, headers=redriven_headers(a), partition=2)
    finally:
        await producer.stop()
    assert [d.unfinished for d in await read_dead_letters(kafka_bootstrap, prefix) if d.ref == a.ref] != [{}]

    code, out, err = await cli(capsys, *base, a.position, "--force")
    assert code == 0, err
    assert f"to {origin}:2:{sent.offset}" in out
    assert [(r.partition, r.offset) for r in await read_topic(kafka_bootstrap, origin)] == [(2, 0), (2, 1)]
    row = (await listed(capsys, kafka_bootstrap, prefix))[17]
    assert (row["status"], row["redriven_to"]) == ("redriven", [f"{origin}:2:0", f"{origin}:2:1"])

    code, _, err = await cli(capsys, *base, a.position, "--force")  # now a new copy
    assert code == 0, err
    assert [(r.partition, r.offset) for r in await read_topic(kafka_bootstrap, origin)] == [(2, 0), (2, 1), (2, 2)]
    assert len((await listed(capsys, kafka_bootstrap, prefix))[17]["redriven_to"]) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["redrive", "0:99999"], "no dead letter at 0:99999"),
        (["redrive", "zero"], "bad selector"),
        (["redrive", "--all-of-consumer", "nobody"], "no dead letters of consumer"),
        (["redrive"], "needs PARTITION:OFFSET"),
    ],
)
async def test_selector_errors_exit_2(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    origin = physical("intake.events", prefix)
    code, _, err = await cli(capsys, "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, *argv)
    assert code == 2 and message in err
    assert await read_topic(kafka_bootstrap, origin) == []


async def test_kafka_problems_exit_1(kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await cli(capsys, "--bootstrap", kafka_bootstrap, "--topic-prefix", "nosuchprefix.", "list")
    assert code == 1 and "does not exist" in err and len(err.splitlines()) == 1
    code, _, err = await cli(capsys, "--bootstrap", "127.0.0.1:1", "list")
    assert code == 1 and len(err.splitlines()) == 1


async def test_a_dead_letter_without_a_copy_is_listed_with_its_size_and_not_redriven(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = physical("intake.events", prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:  # too large to copy: the dead letter references the original
        dlq = DeadLetters(producer, "intake.gatekeeper", prefix, max_bytes=64)
        await dlq.send(record(origin, 1, 40, b"case-C", VALUE_A), Failure("not_json", "NotJson", "value is not JSON"))
    finally:
        await producer.stop()
    c = (await listed(capsys, kafka_bootstrap, prefix))[40]
    assert c["value_omitted"] is True and c["size_bytes"] > 64
    code, text, _ = await cli(capsys, "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "list")
    [row] = [r for r in text_rows(text) if r["original"] == f"{origin}:1:40"]
    assert (row["size_bytes"], row["message"]) == (str(c["size_bytes"]), "value is not JSON")
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "redrive"]
    code, _, err = await cli(capsys, *base, f"{c['partition']}:{c['offset']}")
    assert code != 0 and f"{origin}:1:40" in err
    assert await read_topic(kafka_bootstrap, origin) == []


def test_the_help_gives_consumer_groups_as_a_deployment_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    """Groups carry the deployment (`torino.intake.gatekeeper`); the help's examples gave the old bare names."""
    assert main(["list", "--help"]) == 0
    out = capsys.readouterr().out
    assert "torino.intake.gatekeeper" in out and "e.g. intake.gatekeeper" not in out
