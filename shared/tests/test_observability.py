"""Logs carry the event context and never personal data; a trace follows one event across a Kafka hop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from lgnet_shared import db, logs, outbox, pii, tracing
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import MIGRATION, BatchHandler, Consumer, Handler, handlers_of
from lgnet_shared.db import Pool
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.service import faststream_broker, subscribed
from lgnet_shared.testing.process import ServiceProcess
from lgnet_shared.testing.topics import as_records
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, generate_latest

EXPORTER = InMemorySpanExporter()


@contextlib.asynccontextmanager
async def consumer_of(
    database_url: str, pg_schema: str, handlers: dict[str, Handler]
) -> AsyncIterator[tuple[Pool, Consumer]]:
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [MIGRATION, *outbox.MIGRATIONS, pii.MIGRATION])
        yield pool, Consumer("test.consumer", pool, DeadLetters(None, "test.consumer"), handlers)
    finally:
        await pool.close()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))


def test_logs_are_json_with_context_and_scrub_personal_data(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("intake", "INFO")
    env = to_envelope(
        EmploymentRecorded(person_id="p1", status="training", as_of=date(2026, 1, 1)),
        source="/t",
        city="torino",
        partner="coop-a",
    )
    with logs.event_context(env):
        logs.get_logger("t").info("handled", given_name="Amina", fiscal_code="KNKMNA90E41Z335X", count=3)
    logs.get_logger("t").info("after")
    out = capsys.readouterr().out.strip().splitlines()
    line, after = json.loads(out[-2]), json.loads(out[-1])
    assert "event_id" not in after and after["service"] == "intake"
    assert line["service"] == "intake" and line["event_id"] == env.id and line["city"] == "torino"
    assert line["partner"] == "coop-a" and line["correlation_id"] == env.correlationid and line["count"] == 3
    assert "Amina" not in json.dumps(line) and "KNKMNA" not in json.dumps(line)


def test_a_pdf_exports_font_subsetting_does_not_fill_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    """From an outside test: each PDF export wrote ≈ 35 INFO lines of fontTools' subsetting ("glyf pruned", the glyph
    names) into reporting's log."""
    logs.configure("reporting")
    logging.getLogger("fontTools.subset").info("glyf pruned")
    logging.getLogger("fontTools.subset").warning("a font table could not be subset")
    logging.getLogger("lgnet.reporting").info("exported")
    lines = [json.loads(line)["event"] for line in capsys.readouterr().out.strip().splitlines()]
    assert lines == ["a font table could not be subset", "exported"]


async def test_the_http_clients_calls_are_not_a_trail_of_whose_record_was_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """From the DPO's review: the desk's log held a line per call to a service ("HTTP Request: GET
    http://…/persons/<id>/record "HTTP/1.1 200 OK""): which person's record was read, when — kept outside the access
    log's purge and the DPO's view (the access log is where reads are recorded). httpx's warnings still show."""
    import httpx

    logs.configure("desk")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        await client.get("/persons/3f2a9c1e-person/record")
    logging.getLogger("httpx").warning("a warning of the client")
    logging.getLogger("lgnet.desk").info("page shown")
    out = capsys.readouterr().out
    assert "3f2a9c1e-person" not in out
    assert [json.loads(line)["event"] for line in out.strip().splitlines()] == ["a warning of the client", "page shown"]


@pytest.mark.integration
async def test_at_debug_the_kafka_clients_lines_never_hold_a_records_bytes(
    kafka_bootstrap: str, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DPO's review, as an attacker who reads the logs: with LGNET_LOG_LEVEL=DEBUG (an operator chasing a problem)
    aiokafka wrote every record it produced, key and value, into the service's log ("Sending (key=… value=…)", and
    the produce request's bytes). A dead letter is a partner's record as it came — clear text where the partner did
    not seal — and a key is the aggregate's id. Our own lines go on at DEBUG; the Kafka client's stay at INFO."""
    from aiokafka import AIOKafkaProducer
    from lgnet_shared.kafka import client_kwargs
    from lgnet_shared.topics import ensure_topics, physical

    await ensure_topics(kafka_bootstrap, topic_prefix, ["deadletter"])
    logs.configure("intake", "DEBUG")
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        dead_letters = physical("deadletter", topic_prefix)
        await producer.send_and_wait(dead_letters, b'{"given_name": "Zebulonio"}', key=b"RSSMRA80A01L219M")
    finally:
        await producer.stop()
    logs.get_logger("lgnet.probe").debug("our own debug line")
    out = capsys.readouterr().out
    assert "our own debug line" in out
    assert "Zebulonio" not in out and "RSSMRA80A01L219M" not in out, [
        line[:300] for line in out.splitlines() if "Zebulonio" in line or "RSSMRA" in line
    ]


@pytest.mark.integration
async def test_trace_continues_from_producer_to_consumer(database_url: str, pg_schema: str) -> None:
    EXPORTER.clear()
    with tracing.producing("intake publish") as span:
        produced_trace = span.get_span_context().trace_id
        env = to_envelope(
            EmploymentRecorded(person_id="p1", status="training", as_of=date(2026, 1, 1)),
            source="/t",
            city="torino",
            traceparent=tracing.current_traceparent(),
        )
    seen: list[int] = []

    async def handler(conn, env, event):  # type: ignore[no-untyped-def]
        seen.append(trace.get_current_span().get_span_context().trace_id)
        # An event emitted while handling carries the same trace onwards (next hop).
        await outbox.append(
            conn, [to_envelope(event, source="/h", city="torino", traceparent=tracing.current_traceparent())]
        )

    async with consumer_of(database_url, pg_schema, handlers_of((EmploymentRecorded, handler))) as (pool, consumer):
        await consumer.process(as_records([env]))
        async with pool.acquire() as conn:
            hop = json.loads(await conn.fetchval("select value from outbox"))
    assert seen == [produced_trace]
    assert hop["traceparent"].split("-")[1] == format(produced_trace, "032x")
    consumer_spans = [s for s in EXPORTER.get_finished_spans() if s.name.startswith("test.consumer")]
    assert consumer_spans and consumer_spans[0].parent is not None
    assert consumer_spans[0].context.trace_id == produced_trace


@pytest.mark.integration
async def test_a_batch_span_links_every_event_it_handled(database_url: str, pg_schema: str) -> None:
    EXPORTER.clear()
    produced, envs = [], []
    for person in ("p1", "p2"):
        with tracing.producing("intake publish") as span:
            produced.append(span.get_span_context().trace_id)
            event = EmploymentRecorded(person_id=person, status="training", as_of=date(2026, 1, 1))
            envs.append(to_envelope(event, source="/t", city="torino", traceparent=tracing.current_traceparent()))

    async def apply(conn, run):  # type: ignore[no-untyped-def]
        assert len(run) == 2

    handlers = handlers_of((EmploymentRecorded, BatchHandler(apply)))
    async with consumer_of(database_url, pg_schema, handlers) as (_, consumer):
        await consumer.process(as_records(envs))
    [batch_span] = [s for s in EXPORTER.get_finished_spans() if s.name == "test.consumer process batch"]
    assert sorted(link.context.trace_id for link in batch_span.links) == sorted(produced)
    assert batch_span.attributes is not None and batch_span.attributes["messaging.batch.message_count"] == 2


@pytest.mark.integration
async def test_a_normal_start_logs_no_warning(probe: ServiceProcess) -> None:
    """Operators read a warning as something to look into. At every start FastStream asked the broker to create each
    subscribed topic again, and logged "Failed to create topic …" for each (TopicAuthorizationFailedError under a
    deployment's ACLs, which reads as a misconfiguration): the services create their own topics, with their
    replication, before their consumers start."""
    await probe.start()
    for _ in range(200):
        lines = [json.loads(line) for line in probe.log_path.read_text().splitlines() if line.startswith("{")]
        if any(line["event"] == "consumers joined their groups" for line in lines):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the consumers did not join")
    assert [line["event"] for line in lines if line["level"] in ("warning", "error", "critical")] == []
    # The start line names the producer key an auditor confirms with the operator (an outside test found no way).
    [started] = [line for line in lines if line["event"] == "service started"]
    assert re.fullmatch(r"national\.probe\.[0-9a-f]{16}", started["signing_key_id"]), started


def test_the_consumers_never_ask_the_broker_to_create_their_topics() -> None:
    """FastStream creates a subscriber's topics at its start unless told not to; the services create their own."""
    broker = faststream_broker("127.0.0.1:1", KafkaSecurity(), "t")
    subscriber = broker.subscriber(*subscribed(["intake.events", "intake.special"], "p."), group_id="g", batch=True)
    assert [t.name for t in subscriber.topics] == ["p.lgnet.intake.events", "p.lgnet.intake.special"]
    assert subscriber.topics_to_create == []


def test_a_consumers_counters_are_exported_at_zero_before_their_first_count() -> None:
    """Alerts on "any increase" (docs/operators.md) need a series to compare with: an outside test found
    `lgnet_event_retries_total` and `lgnet_facts_refused_total` absent until their first count, so the first retry
    or forged fact raised no alert."""
    Consumer("zero.consumer", None, DeadLetters(None, "zero.consumer"), {})
    text = generate_latest(REGISTRY).decode()
    expected = [
        'lgnet_event_retries_total{consumer="zero.consumer"} 0.0',
        'lgnet_consumer_careful_batches_total{consumer="zero.consumer"} 0.0',
        'lgnet_consumer_offset_commits_total{consumer="zero.consumer",outcome="failed"} 0.0',
        'lgnet_dead_letters_total{consumer="zero.consumer",kind="processing"} 0.0',
        'lgnet_dead_letters_total{consumer="zero.consumer",kind="invalid_data"} 0.0',
        'lgnet_dead_letters_total{consumer="zero.consumer",kind="fact_signature"} 0.0',
    ]
    expected += [
        f'lgnet_facts_refused_total{{consumer="zero.consumer",reason="{code}"}} 0.0'
        for code in ("missing", "unknown_key", "invalid", "not_a_writer", "claims", "wrong_topic")
    ]
    assert [line for line in expected if line not in text.splitlines()] == []


async def refused_log(
    database_url: str, pg_schema: str, bad: Any, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """A consumer refusing `bad` (answered): the fields answered, and the JSON log lines it wrote meanwhile."""
    answered: list[str] = []

    async def answer(conn, record, env, err, sender):  # type: ignore[no-untyped-def]
        answered.append(err.field)
        return True

    async def apply(*_: object) -> None:
        raise AssertionError("a refused record is never applied")

    async with consumer_of(database_url, pg_schema, handlers_of((EmploymentRecorded, apply))) as (_, c):
        c.on_invalid = answer
        await c.process(as_records([bad]))
    return answered, [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]


@pytest.mark.integration
async def test_a_refused_event_is_one_info_line_with_its_flows_ids(
    database_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/operators.md tells a city IT team to search one business flow by `correlation_id`, but a refused record
    (answered to its partner, or dead-lettered) logged nothing: only a metric counted it. It is one INFO line with the
    event's ids, the kind and field of the refusal and what became of it, never the refused value."""
    logs.configure("intake", "INFO")
    event = EmploymentRecorded(person_id="p1", status="training", as_of=date(2026, 1, 1))
    env = to_envelope(event, source="/t", city="torino", partner="coop-a", correlationid="flow-42")
    bad = env.model_copy(update={"data": {**env.data, "status": "astronaut"}})
    answered, lines = await refused_log(database_url, pg_schema, bad, capsys)
    assert answered == ["data.status"]
    [line] = [x for x in lines if x["event"] == "event refused"]
    ids = (line["correlation_id"], line["event_id"], line["city"], line["partner"])
    assert ids == ("flow-42", env.id, "torino", "coop-a"), line
    assert (line["field"], line["outcome"], line["level"]) == ("data.status", "answered", "info"), line
    assert line["kind"] and "astronaut" not in json.dumps(line)


@pytest.mark.integration
async def test_a_refused_events_ids_holding_a_persons_data_are_not_logged(
    database_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner's record whose `id` or `correlationid` holds a fiscal code or a phone number is refused for it (the
    facts would carry it on, docs/partners.md, "The envelope"); its "event refused" line logged them as its
    `event_id` and `correlation_id`: logs never hold a person's data (DESIGN section 5). They are withheld; the rest of
    the line stays."""
    logs.configure("intake", "INFO")
    event = EmploymentRecorded(person_id="p1", status="training", as_of=date(2026, 1, 1))
    env = to_envelope(event, source="/t", city="torino", partner="coop-a", correlationid="+39 347 1234567")
    bad = env.model_copy(update={"id": "RSSMRA80A01L219M", "data": {**env.data, "status": "astronaut"}})
    _, lines = await refused_log(database_url, pg_schema, bad, capsys)
    [line] = [x for x in lines if x["event"] == "event refused"]
    assert (line["event_id"], line["correlation_id"]) == ("[withheld]", "[withheld]"), line
    assert (line["city"], line["partner"], line["field"]) == ("torino", "coop-a", "data.status"), line
    assert "RSSMRA80A01L219M" not in json.dumps(lines) and "1234567" not in json.dumps(lines)
