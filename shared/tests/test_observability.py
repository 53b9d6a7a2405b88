"""Logs carry the event context and never personal data; a trace follows one event across a Kafka hop."""

from __future__ import annotations

import json
from datetime import date

import pytest
from aiokafka.structs import ConsumerRecord
from lgnet_shared import db, logs, outbox, pii, tracing
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import MIGRATION, Consumer, handlers_of
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.events.intake import EmploymentRecorded
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


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
    logs.bind_event(env)
    logs.get_logger("t").info("handled", given_name="Amina", fiscal_code="KNKMNA90E41Z335X", count=3)
    logs.unbind_event()
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["service"] == "intake" and line["event_id"] == env.id and line["city"] == "torino"
    assert line["partner"] == "coop-a" and line["correlation_id"] == env.correlationid and line["count"] == 3
    assert "Amina" not in json.dumps(line) and "KNKMNA" not in json.dumps(line)


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
    value, headers = env.to_structured()
    seen: list[int] = []

    async def handler(conn, env, event):  # type: ignore[no-untyped-def]
        seen.append(trace.get_current_span().get_span_context().trace_id)
        # An event emitted while handling carries the same trace onwards (next hop).
        await outbox.append(
            conn, [to_envelope(event, source="/h", city="torino", traceparent=tracing.current_traceparent())]
        )

    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [MIGRATION, *outbox.MIGRATIONS, pii.MIGRATION])
        consumer = Consumer(
            "housing.test",
            pool,
            DeadLetters(None, "housing.test"),  # type: ignore[arg-type]
            handlers_of((EmploymentRecorded, handler)),
        )
        await consumer.process([ConsumerRecord("t", 0, 0, 0, 0, env.key, value, None, 0, 0, headers)])
        async with pool.acquire() as conn:
            hop = json.loads(await conn.fetchval("select value from outbox"))
    finally:
        await pool.close()
    assert seen == [produced_trace]
    assert hop["traceparent"].split("-")[1] == format(produced_trace, "032x")
    consumer_spans = [s for s in EXPORTER.get_finished_spans() if s.name.startswith("housing.test")]
    assert consumer_spans and consumer_spans[0].parent is not None
    assert consumer_spans[0].context.trace_id == produced_trace
