"""OpenTelemetry tracing across Kafka hops: the W3C `traceparent` travels as a CloudEvents extension
(distributed-tracing extension) and a Kafka header; each consumer continues the producer's trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

tracer = trace.get_tracer("lgnet")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def consuming(name: str, traceparent: str | None, attributes: dict[str, str]) -> Iterator[Span]:
    """A CONSUMER span whose parent is the span that produced the event, when known."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes) as s:
        yield s


@contextmanager
def producing(name: str, attributes: dict[str, str] | None = None) -> Iterator[Span]:
    with tracer.start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes or {}) as s:
        yield s
