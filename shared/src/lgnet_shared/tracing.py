"""OpenTelemetry tracing across Kafka hops: the W3C `traceparent` travels as a CloudEvents extension
(distributed-tracing extension) and a Kafka header; each consumer continues the producer's trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

tracer = trace.get_tracer("lgnet")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


_W3C = TraceContextTextMapPropagator()
_SPANS: dict[str, Span] = {}  # traceparent -> its span, as the W3C propagator reads it (bounded: cleared when full)


def _producer_span(traceparent: str) -> Span:
    """The remote span a `traceparent` names (INVALID_SPAN if malformed), read by the W3C propagator itself. Cached:
    the events of one producer transaction share their traceparent."""
    span = _SPANS.get(traceparent)
    if span is None:
        if len(_SPANS) >= 4096:
            _SPANS.clear()
        span = _SPANS[traceparent] = trace.get_current_span(_W3C.extract({"traceparent": traceparent}))
    return span


def recording() -> bool:
    """Whether spans go anywhere: a tracer provider was configured (service.configure_tracing)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@contextmanager
def consuming(name: str, traceparent: str | None, attributes: dict[str, str]) -> Iterator[Span]:
    """A CONSUMER span whose parent is the span that produced the event, when known."""
    if not recording():
        # What the no-op tracer does — the producer's span becomes current, so events emitted inside carry its
        # traceparent on — without building a span per event (12 µs of a consumer's per-event work, 1-2 µs now).
        span = _producer_span(traceparent) if traceparent else INVALID_SPAN
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        finally:
            otel_context.detach(token)
        return
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes) as s:
        yield s


@contextmanager
def consuming_batch(name: str, traceparents: list[str | None]) -> Iterator[Span]:
    """One CONSUMER span for events handled together, linked to each event's producer (as the OpenTelemetry
    messaging conventions do for batches): a trace still leads from every event to where it was processed."""
    with tracer.start_as_current_span(
        name,
        context=otel_context.Context(),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.batch.message_count": len(traceparents)},
    ) as s:
        if s.is_recording():  # links cost a parse per event: only when someone will see them
            for tp in dict.fromkeys(t for t in traceparents if t):
                linked = trace.get_current_span(propagate.extract({"traceparent": tp})).get_span_context()
                if linked.is_valid:
                    s.add_link(linked)
        yield s


@contextmanager
def producing(name: str, attributes: dict[str, str] | None = None) -> Iterator[Span]:
    with tracer.start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes or {}) as s:
        yield s
