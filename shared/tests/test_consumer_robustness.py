"""No record lost or stuck: records that cannot be processed are dead-lettered once, in a form that always fits,
and the partition moves on; a batch FastStream cannot parse is still processed record by record. Runs the probe
service in-process (the same runtime every service uses) against real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import importlib.util
import json
import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord
from lgnet_shared import config, db
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import Consumer, inbox_id
from lgnet_shared.deadletter import (
    H_CONSUMER,
    H_KIND,
    H_MESSAGE,
    H_OFFSET,
    H_OMITTED,
    H_SIZE,
    H_TOPIC,
    H_TYPE,
    DeadLetters,
    Failure,
)
from lgnet_shared.deadletter_cli import main as deadletters_main
from lgnet_shared.envelope import Envelope
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fetch import tolerant
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.service import Runtime, ServiceSpec
from lgnet_shared.testing.record_fuzz import draw_records
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import ensure_topics, physical
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration


def _probe_spec() -> ServiceSpec:
    """The probe service's spec (tests/ is not a package: load the module from its file)."""
    spec = importlib.util.spec_from_file_location("probe_service", Path(__file__).with_name("probe_service.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    probe: ServiceSpec = module.SPEC
    return probe


SPEC = _probe_spec()
KEY = b"one-partition"
# One master key for the module: a second process on a test's schema (a rebalance, a restart) must start with the key
# the schema was first started with (a service refuses another: test_start_refused.py)
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def employment(person_id: str) -> Envelope:
    event = EmploymentRecorded(person_id=person_id, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/t", city="trieste")


def settings(kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, **extra: Any) -> Any:
    return config.Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        city="national",
        master_key=MASTER_KEY,
        db_schema=pg_schema,
        topic_prefix=topic_prefix,
        fact_signatures="off",  # records of every shape, unsigned; signatures: test_fact_signatures.py
        **extra,
    )


@pytest.fixture
async def probe_runtime(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> AsyncIterator[Runtime]:
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), max_request_size=4 * 1024 * 1024, linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=KEY, headers=headers) for value, headers in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def wait_until(predicate: Any, timeout: float = 40) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached in time")


def structured(env: Envelope) -> tuple[bytes, list[tuple[str, bytes]]]:
    return env.to_structured()


async def test_records_that_stalled_a_partition_are_dead_lettered_once_and_the_partition_moves_on(
    probe_runtime: Runtime, kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    topic = physical("intake.events", topic_prefix)
    good = [employment(f"p{i}") for i in range(30)]
    nul_id = json.loads(employment("nul").to_structured()[0])
    nul_id["id"] = "abc\u0000def"
    huge = json.loads(employment("huge").to_structured()[0])
    huge["data"]["padding"] = "x" * (1024 * 1024 - 600)
    bad_header_value, bad_header_headers = structured(employment("bad-header"))
    no_id = json.loads(employment("no-id").to_structured()[0])
    del no_id["id"]
    bad: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [
        (b"[" * 100_000 + b"]" * 100_000, []),  # RecursionError
        (b"9" * 5000, []),  # ValueError: int parsing limit
        (json.dumps(nul_id).encode(), []),  # asyncpg refuses \x00 in text
        (json.dumps(huge).encode(), []),  # its dead letter would exceed the producer's max request size
        (b"{}", [("ce_specversion", b"1.0"), ("ce_source", b"/p"), ("ce_type", b"t"), ("ce_city", b"roma")]),
        (json.dumps(no_id).encode(), []),
    ]
    records: list[tuple[bytes | None, list[tuple[str, bytes]]]] = []
    for i, env in enumerate(good):
        records.append(structured(env))
        if i < len(bad):
            records.append(bad[i])
    # A header value that is not UTF-8: FastStream's batch parser fails on it. The record itself is a valid event.
    records.insert(20, (bad_header_value, [*bad_header_headers, ("x-partner-trace", b"\xff\xfe")]))
    await produce(kafka_bootstrap, topic, records)

    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    try:

        async def everything_passed() -> bool:
            at = await conn.fetchval(
                "select next_offset from consumer_positions where consumer = 'probe.probe' and topic = $1", topic
            )
            return bool(at == len(records))

        await wait_until(everything_passed)
        applied = await conn.fetch("select person_id, count(*) as n from applied group by person_id")
    finally:
        await conn.close()
    assert {r["person_id"] for r in applied} == {*(f"p{i}" for i in range(30)), "bad-header"}
    assert max(r["n"] for r in applied) == 1
    await asyncio.sleep(2)  # a stalled or looping consumer would keep dead-lettering
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    offsets = [int(dict(r.headers)[H_OFFSET]) for r in dead]
    assert len(offsets) == len(bad) and len(set(offsets)) == len(bad), "each bad record dead-lettered once"
    by_kind = sorted(dict(r.headers)[H_KIND].decode() for r in dead)
    assert by_kind == sorted(
        ["not_json", "not_json", "not_cloudevent", "invalid_data", "not_cloudevent", "not_cloudevent"]
    )
    assert all(dict(r.headers)[H_TOPIC].decode() == topic for r in dead)
    omitted = [r for r in dead if H_OMITTED in dict(r.headers)]
    assert len(omitted) == 1 and not omitted[0].value, "the oversize value is referenced, not copied"
    assert int(dict(omitted[0].headers)[H_SIZE]) > 1024 * 1024 - 600


async def test_a_dead_letter_re_driven_once_its_cause_is_fixed_is_processed_once(
    probe_runtime: Runtime, kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """operators.md: "Re-driven records keep their event id, so once the cause is fixed they are processed exactly
    once". They were not processed at all: the dead-lettered event's id stayed in the inbox, so its re-driven copy was
    a duplicate. A re-driven copy that fails again is dead-lettered again (once), and a second re-drive after the fix
    has one effect."""
    topic = physical("intake.events", topic_prefix)
    await produce(kafka_bootstrap, topic, [structured(employment("fixable-1")), structured(employment("p-after"))])
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    dlq = physical("deadletter", topic_prefix)
    redrive = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix, "redrive", "--all-of-consumer"]

    async def applied(person: str) -> int:
        return int(await conn.fetchval("select count(*) from applied where person_id = $1", person))

    try:
        await wait_until(lambda: applied_after(conn))
        await wait_until(lambda: dead_letters(kafka_bootstrap, dlq, 1))
        [letter] = await read_records(kafka_bootstrap, dlq)
        redrive.append(dict(letter.headers)[H_CONSUMER].decode())
        assert await asyncio.to_thread(deadletters_main, redrive) == 0  # the cause not fixed yet
        await wait_until(lambda: dead_letters(kafka_bootstrap, dlq, 2))
        await conn.execute("insert into fixed (person_id) values ('fixable-1')")
        assert await asyncio.to_thread(deadletters_main, [*redrive, "--force"]) == 0
        await wait_until(lambda: is_applied(conn, "fixable-1"))
        assert await asyncio.to_thread(deadletters_main, [*redrive, "--force"]) == 0
        await asyncio.sleep(3)
        assert await applied("fixable-1") == 1 and await applied("p-after") == 1
        assert len([r for r in await read_records(kafka_bootstrap, dlq) if H_KIND in dict(r.headers)]) == 2
        assert dict(letter.headers)[H_KIND] == b"processing"
    finally:
        await conn.close()


async def test_an_event_dead_lettered_before_the_upgrade_is_processed_when_re_driven(
    probe_runtime: Runtime, kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """Before, a dead-lettered (or refused) event's own id was kept in the inbox with that outcome: a copy of it re-
    driven after the upgrade takes that row over instead of being a duplicate (only a processed id is one)."""
    topic = physical("intake.events", topic_prefix)
    await produce(kafka_bootstrap, topic, [structured(employment("p-first"))])
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    try:
        await wait_until(lambda: is_applied(conn, "p-first"))
        inbox = await conn.fetchval("select consumer from inbox limit 1")
        old = employment("p-old")
        await conn.execute(
            "insert into inbox (consumer, event_id, outcome) values ($1, $2, 'dead_lettered')", inbox, inbox_id(old)
        )
        await produce(kafka_bootstrap, topic, [structured(old)])
        await wait_until(lambda: is_applied(conn, "p-old"))
        outcome = await conn.fetchval("select outcome from inbox where event_id = $1", inbox_id(old))
    finally:
        await conn.close()
    assert outcome == "processed"


async def applied_after(conn: asyncpg.Connection) -> bool:
    return await is_applied(conn, "p-after")


async def is_applied(conn: asyncpg.Connection, person: str) -> bool:
    return bool(await conn.fetchval("select exists (select 1 from applied where person_id = $1)", person))


async def dead_letters(bootstrap: str, dlq: str, want: int) -> bool:
    return len([r for r in await read_records(bootstrap, dlq) if H_KIND in dict(r.headers)]) >= want


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_records_compressed_with_every_standard_codec_are_consumed(
    codec: str, probe_runtime: Runtime, kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    topic = physical("intake.events", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), compression_type=codec, linger_ms=20)
    await producer.start()
    try:
        sent = []
        for i in range(50):
            value, headers = employment(f"{codec}-{i}").to_structured()
            sent.append(await producer.send(topic, value, key=KEY, headers=headers))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:

        async def all_applied() -> bool:
            return bool(await conn.fetchval("select count(distinct person_id) from applied") == 50)

        await wait_until(all_applied)
    finally:
        await conn.close()


async def test_a_consumer_stuck_on_one_offset_turns_not_ready_and_shows_its_age(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=2))
    await runtime.start()
    try:
        topic = physical("intake.events", topic_prefix)
        await produce(kafka_bootstrap, topic, [structured(employment("ok")), structured(employment("stall"))])
        await asyncio.sleep(1)
        assert (await runtime.ready())["consumers"] == "ok", "not stuck yet"

        async def stuck() -> bool:
            return bool((await runtime.ready())["consumers"] != "ok")

        await wait_until(stuck, timeout=30)
        checks = await runtime.ready()
        group = f"{topic_prefix}national.probe.probe"  # the deployment's consumer group
        assert checks["consumers"].startswith(f"error: {group} stuck on {topic}")
        assert "offset 0 " in checks["consumers"]  # its batch is redelivered from its first record
        runtime.refresh_metrics()
        partition = int(checks["consumers"].split(" partition ")[1].split()[0])
        age = REGISTRY.get_sample_value(
            "lgnet_consumer_stuck_seconds", {"consumer": group, "topic": topic, "partition": str(partition)}
        )
        assert age is not None and age > 2
    finally:
        await runtime.stop()


async def test_a_batch_the_database_keeps_failing_is_retried_with_backoff_and_readiness_says_why(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL away while consuming: the batch is not the record's fault and is redelivered — but it was redelivered
    at once, about 40 times a second per consumer, each time an ERROR line with its traceback (FastStream's), a busy
    loop against a database that is not there; and `/health/ready` said the consumer was stuck, not why."""
    from lgnet_shared import consumer as consumer_module

    attempts: list[float] = []
    process = consumer_module.Consumer._process_partition

    async def counted(self: Consumer, records: list[Any]) -> None:
        attempts.append(asyncio.get_running_loop().time())
        await process(self, records)

    monkeypatch.setattr(consumer_module.Consumer, "_process_partition", counted)
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=2))
    await runtime.start()
    try:
        topic = physical("intake.events", topic_prefix)
        await produce(kafka_bootstrap, topic, [structured(employment("stall"))])
        await wait_until(lambda: asyncio.sleep(0, bool(attempts)), timeout=30)
        await asyncio.sleep(4)
        checks = await runtime.ready()
    finally:
        await runtime.stop()
    assert len(attempts) <= 10, f"{len(attempts)} attempts in 4 s"
    assert checks["consumers"].endswith("s (ConnectionResetError)"), checks


async def test_a_poison_record_in_a_batch_the_database_fails_is_dead_lettered_once_however_often_it_is_redelivered(
    probe_runtime: Runtime, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A dead letter is sent while its batch's transaction is open; PostgreSQL lost before that transaction commits
    (here: the next record's handler) rolls back the inbox row that remembers it, and each redelivery of the batch
    dead-lettered the poison record again — a copy every few seconds for as long as the database was away."""
    topic = physical("intake.events", topic_prefix)
    await produce(kafka_bootstrap, topic, [structured(employment("poison")), structured(employment("stall"))])
    await asyncio.sleep(8)
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix), missing_ok=True)
    assert [dict(r.headers)[H_OFFSET] for r in dead] == [b"0"], "the poison record: one dead letter"


async def test_a_partition_handed_to_another_process_is_no_longer_said_stuck_here(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """Two processes of a service: a partition one of them was stuck on (PostgreSQL away) goes to the other at a
    rebalance (a rolling upgrade, a scale-up). The first kept its age and said it stuck for ever — unready, its
    `lgnet_consumer_stuck_seconds` growing — although it no longer had the partition. Each partition is said stuck by
    the process that has it, and only by it."""
    topic = physical("intake.events", topic_prefix)

    def runtime() -> Runtime:
        return Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix, consumer_stuck_after_s=1))

    def stuck_partitions(checks: dict[str, str]) -> list[int]:
        return sorted(
            int(part.split(" partition ")[1].split()[0])
            for part in checks["consumers"].split("; ")
            if " partition " in part
        )

    first, second = runtime(), runtime()
    await first.start()
    try:
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            for partition in range(6):  # every partition stalls (its record's handler: "the database went away")
                await producer.send_and_wait(topic, employment("stall").to_structured()[0], partition=partition)
        finally:
            await producer.stop()

        async def all_stuck() -> bool:
            return len(stuck_partitions(await first.ready())) == 6

        await wait_until(all_stuck, timeout=30)
        await second.start()

        async def shared_out() -> bool:
            return len(stuck_partitions(await second.ready())) > 0

        await wait_until(shared_out, timeout=40)

        async def each_said_by_one() -> bool:  # the second process says its partitions once it has failed on each
            said = stuck_partitions(await first.ready()) + stuck_partitions(await second.ready())
            return sorted(said) == list(range(6))

        with contextlib.suppress(AssertionError):  # not in time: the asserts below say which way it failed
            await wait_until(each_said_by_one, timeout=30)
        mine, theirs = stuck_partitions(await first.ready()), stuck_partitions(await second.ready())
    finally:
        await second.stop()
        await first.stop()
    assert not set(mine) & set(theirs), f"said stuck by both processes: {mine} and {theirs}"
    assert sorted(mine + theirs) == list(range(6))


async def test_a_record_batch_the_client_cannot_open_is_dead_lettered_by_reference_and_the_partition_moves_on(
    probe_runtime: Runtime,
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker checks compressed batches, so a corrupt one cannot be produced: the consumer's zstd decoder is
    made to fail on one batch instead, as a codec the client lacks or data that does not decompress would."""
    import aiokafka.record.default_records as records

    real = records.zstd_decode

    def failing(data: bytes) -> bytes:
        out: bytes = real(data)
        if b"cannot-open" in out:
            raise ValueError("simulated: this batch does not decompress")
        return out

    monkeypatch.setattr(records, "zstd_decode", failing)
    import aiokafka.record._crecords.default_records as c_records

    monkeypatch.setattr(c_records, "zstd_decode", failing)
    topic = physical("intake.events", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), compression_type="zstd")
    await producer.start()
    try:  # one batch per send_and_wait: good, unreadable (2 records), good
        for batch in (["before"], ["cannot-open-1", "cannot-open-2"], ["after"]):
            sent = [await producer.send(topic, structured(employment(p))[0], key=KEY) for p in batch]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:

        async def after_applied() -> bool:
            return bool(await conn.fetchval("select count(*) from applied where person_id = 'after'"))

        await wait_until(after_applied)
        assert sorted(await conn.fetchval("select array_agg(person_id) from applied")) == ["after", "before"]
    finally:
        await conn.close()
    await asyncio.sleep(1)
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    assert sorted(int(dict(r.headers)[H_OFFSET]) for r in dead) == [1, 2], "each unreadable record once"
    assert {dict(r.headers)[H_KIND] for r in dead} == {b"unreadable"}
    assert all(dict(r.headers)[H_OMITTED] == b"true" for r in dead)


async def test_fuzzed_inbound_records_each_processed_or_dead_lettered_exactly_once(
    probe_runtime: Runtime, kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """Malformed records of every kind, mixed with valid ones (some with binary headers, in binary mode, or sent
    twice), into the generic consumer every service runs: each valid one applied once, each bad one dead-lettered
    once, and the consumer reaches the end of the partition."""
    records = draw_records(lambda label: json.loads(employment(label).to_structured()[0]), 60, examples=2)
    resent = [r for r in records if r.good][:5]  # a producer's retry: the inbox must recognise it
    topic = physical("intake.events", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), max_request_size=4 * 1024 * 1024, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, r.value, key=KEY, headers=r.headers) for r in [*records, *resent]]
        offsets = [m.offset for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:

        async def at_the_end() -> bool:
            at = await conn.fetchval("select max(next_offset) from consumer_positions where topic = $1", topic)
            return bool(at == max(offsets) + 1)

        await wait_until(at_the_end, timeout=45)
        applied = await conn.fetch("select person_id, count(*) as n from applied group by person_id")
    finally:
        await conn.close()
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix), quiet_ms=1000)
    dead_offsets = sorted(int(dict(r.headers)[H_OFFSET]) for r in dead)
    bad = sorted(o for o, r in zip(offsets, records, strict=False) if not r.good)
    wrong_applied = [r["person_id"] for r in applied if r["n"] != 1]
    missing = {r.label for r in records if r.good} - {r["person_id"] for r in applied}
    described = {o: r.label for o, r in zip(offsets, records, strict=False)}
    assert not wrong_applied and not missing, f"applied twice {wrong_applied}, never {missing}"
    wrong = [described.get(o) for o in dead_offsets if dead_offsets.count(o) > 1 or o not in bad]
    never = [described[o] for o in set(bad) - set(dead_offsets)]
    assert dead_offsets == bad, f"dead-lettered but valid or twice: {wrong}, never dead-lettered: {never}"
    print(f"fuzzed {len(records)} records (+{len(resent)} resent): {len(bad)} dead-lettered, {len(applied)} applied")


async def test_a_fetch_that_keeps_failing_is_reported_stuck() -> None:
    """E.g. the broker refuses the consumer (ACLs) or is unreachable: no record arrives, yet readiness must say."""
    cons = Consumer("probe.probe", None, None, {})  # type: ignore[arg-type]

    async def refused(_: Any) -> tuple[Any, ...]:
        raise KafkaConnectionError("simulated: broker unreachable")

    class NoPartitions:
        def assignment(self) -> set[Any]:
            return set()

    fetch_ = tolerant(refused, cons.fetched)
    for _ in range(2):
        with pytest.raises(KafkaConnectionError):
            await fetch_(NoPartitions())
    await asyncio.sleep(0.05)
    assert cons.stuck(after_s=0.01) == [cons.stuck(after_s=0.01)[0]]
    assert "cannot fetch" in cons.stuck(after_s=0.01)[0] and "KafkaConnectionError" in cons.stuck(after_s=0.01)[0]
    assert cons.stuck(after_s=60) == []

    async def works(_: Any) -> tuple[Any, ...]:
        return ()

    await tolerant(works, cons.fetched)(NoPartitions())
    assert cons.stuck(after_s=0.01) == []


async def test_a_dead_letter_the_broker_refuses_as_too_large_is_sent_as_a_reference(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The dead-letter topic may be configured smaller than our limit: the broker's refusal must not stall."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    topic = physical("deadletter", topic_prefix)
    try:
        small = NewTopic(topic, num_partitions=1, replication_factor=1, topic_configs={"max.message.bytes": "20000"})
        await admin.create_topics([small])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        value = b"x" * 100_000
        record = ConsumerRecord("t.in", 3, 77, 0, 0, b"k", value, None, 1, len(value), [("h", b"v")])
        await DeadLetters(producer, "probe.probe", topic_prefix).send(record, Failure("not_json", "NotJson", "no"))
    finally:
        await producer.stop()
    [dead] = await read_records(kafka_bootstrap, topic)
    headers = dict(dead.headers)
    assert (
        dead.value == b"" and headers[H_OMITTED] == b"true" and headers[H_SIZE] == b"100003"
    )  # value, key and own headers
    assert (headers[H_TOPIC], headers[H_OFFSET], headers[H_KIND]) == (b"t.in", b"77", b"not_json")


async def test_records_of_other_partitions_fetched_with_an_unreadable_batch_are_not_lost(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka hands out each partition's records in turn: when one partition's batch fails, the partitions handed
    out before it in the same fetch have already moved their positions on. Those records must still be processed."""
    import aiokafka.record._crecords.default_records as c_records
    import aiokafka.record.default_records as records

    real = records.zstd_decode

    def failing(data: bytes) -> bytes:
        out: bytes = real(data)
        if b"cannot-open" in out:
            raise ValueError("simulated: this batch does not decompress")
        return out

    monkeypatch.setattr(records, "zstd_decode", failing)
    monkeypatch.setattr(c_records, "zstd_decode", failing)
    await ensure_topics(kafka_bootstrap, topic_prefix)
    topic = physical("intake.events", topic_prefix)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), compression_type="zstd")
    await producer.start()
    try:  # everything is there before the consumer starts: its first fetch holds every partition
        partitions = sorted(await producer.partitions_for(topic))
        others = [p for p in partitions if p != 1]
        for p in others:
            await asyncio.gather(
                *[await producer.send(topic, structured(employment(f"p{p}-{i}"))[0], partition=p) for i in range(20)]
            )
        await producer.send_and_wait(topic, structured(employment("cannot-open"))[0], partition=1)
    finally:
        await producer.stop()
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:

        async def all_passed() -> bool:
            at = await conn.fetchval("select sum(next_offset) from consumer_positions where topic = $1", topic)
            return bool(at == 20 * len(others) + 1)

        await wait_until(all_passed)
        applied = await conn.fetchval("select count(distinct person_id) from applied")
    finally:
        await conn.close()
        await runtime.stop()
    assert applied == 20 * len(others), "records of the other partitions were lost"


async def test_the_start_up_heap_is_kept_out_of_the_collectors_full_passes_while_the_service_runs(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    try:
        assert gc.get_freeze_count() > 10_000  # modules, models, clients: not re-scanned every few thousand records
        assert gc.get_threshold() == (20_000, 20, 100)  # a batch in flight is not scanned every 700 allocations
    finally:
        await runtime.stop()
    # Collectable again once it stops, when it froze the heap itself: test_runtime_collector.py (this process's heap
    # was frozen before, by the shared test plugin, and stays so).


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_a_consumer_behind_shows_its_lag_per_partition(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """An operator asks "how far behind is this service?" — `/metrics` had no answer (docs/operators.md sent them to
    `kafka-consumer-groups.sh`, whose committed offsets trail by up to a commit interval). `lgnet_consumer_lag` is the
    records of each assigned partition not yet processed: 0 when caught up, the count behind a stuck record."""
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    topic = physical("intake.events", topic_prefix)
    group = f"{topic_prefix}national.probe.probe"
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    await db.init_connection(conn)
    try:
        await produce(kafka_bootstrap, topic, [structured(employment("lag-first"))])
        await wait_until(lambda: is_applied(conn, "lag-first"))
        partition = str(await conn.fetchval("select partition from consumer_positions where topic = $1", topic))

        async def lag_is(want: float) -> bool:
            runtime.refresh_metrics()
            return _sample("lgnet_consumer_lag", consumer=group, topic=topic, partition=partition) == want

        await wait_until(lambda: lag_is(0))
        behind = [employment("stall"), *(employment(f"lag-{i}") for i in range(3))]
        await produce(kafka_bootstrap, topic, [structured(env) for env in behind])
        await wait_until(lambda: lag_is(4))  # the stalled record and the three behind it
    finally:
        await conn.close()
        await runtime.stop()


async def test_outcomes_are_counted_once_their_transaction_commits(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str
) -> None:
    """A batch redone record by record (one record refused) whose transaction then failed on the infrastructure (the
    database lost at a later record) counted its records again at every redelivery: `lgnet_events_consumed_total` said
    events were processed and refused that no transaction ever kept. Outcomes count once they are committed."""
    runtime = Runtime(SPEC, settings(kafka_bootstrap, database_url, pg_schema, topic_prefix))
    await runtime.start()
    topic = physical("intake.events", topic_prefix)
    group = f"{topic_prefix}national.probe.probe"
    attempts_before = _sample("lgnet_event_retries_total", consumer=group) or 0
    try:
        records: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [
            structured(employment("count-ok")),
            (b"not json", []),
            structured(employment("stall")),
        ]
        await produce(kafka_bootstrap, topic, records)

        async def redelivered() -> bool:  # the stalled record's batch has been through its careful path a few times
            return (_sample("lgnet_consumer_careful_batches_total", consumer=group) or 0) >= 3

        await wait_until(redelivered, timeout=30)
    finally:
        await runtime.stop()
    assert _sample("lgnet_event_retries_total", consumer=group) == attempts_before  # an infrastructure error: no retry
    processed = _sample(
        "lgnet_events_consumed_total", consumer=group, type="lgnet.intake.employment_recorded", outcome="processed"
    )
    refused = _sample("lgnet_events_consumed_total", consumer=group, type="", outcome="not_json")
    assert (processed, refused) == (None, None), "nothing committed, nothing counted"


async def test_a_handlers_error_quoting_a_value_is_dead_lettered_without_it(
    probe_runtime: Runtime, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Personal data never travels in plain text on Kafka: a dead letter's `dlq.error.message` was the handler's
    exception text, and PostgreSQL's and asyncpg's errors quote the value they refused (a decrypted name passed where
    a number belongs: `invalid input for query argument $1: 'Maria Rossi' …`). The message keeps what it says about
    the failure, not the values it quotes."""
    topic = physical("intake.events", topic_prefix)
    await produce(kafka_bootstrap, topic, [structured(employment("typed Maria Rossi RSSMRA80A01H501U"))])
    dlq = physical("deadletter", topic_prefix)
    await wait_until(lambda: dead_letters(kafka_bootstrap, dlq, 1))
    [letter] = await read_records(kafka_bootstrap, dlq)
    headers = dict(letter.headers)
    message = headers[H_MESSAGE].decode()
    assert headers[H_KIND] == b"processing" and headers[H_TYPE] == b"DataError"
    assert "Maria" not in message and "RSSMRA" not in message, message
    assert message.startswith("invalid input for query argument $1: "), message
