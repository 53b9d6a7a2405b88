"""Without a tracer provider, a consumer's span per event is skipped (#22: 12 µs of per-event work), but what
handlers see must not change: the producer's span is current, so events they emit carry its traceparent on."""

from __future__ import annotations

import pytest
from lgnet_shared import tracing
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

TRACEPARENTS = [
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # invalid: zero trace id
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # invalid version
    "not a traceparent",
    None,
]


def with_the_no_op_tracer(traceparent: str | None) -> str | None:
    """What `consuming` did before the fast path: a span from the (no-op) tracer, parented by the producer's."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with trace.NoOpTracer().start_as_current_span("x", context=parent, kind=trace.SpanKind.CONSUMER):
        return tracing.current_traceparent()


@pytest.mark.parametrize("traceparent", TRACEPARENTS)
def test_without_a_tracer_provider_handlers_see_the_producers_trace_as_before(
    traceparent: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another test module may have set a global provider in this process: the fast path is chosen here.
    monkeypatch.setattr(tracing, "recording", lambda: False)
    for _ in range(2):  # the second time from the cache
        with tracing.consuming("x", traceparent, {}):
            inside = tracing.current_traceparent()
        assert inside == with_the_no_op_tracer(traceparent)
        assert tracing.current_traceparent() is None  # restored after the block


def test_no_tracer_provider_means_not_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    assert not tracing.recording()
