"""Prometheus metrics of the backbone, served by every service at /metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

DEPLOYMENT = Gauge(
    "lgnet_deployment_info", "This process's service, deployment and city (value 1)", ["service", "deployment", "city"]
)
EVENTS_CONSUMED = Counter(
    "lgnet_events_consumed_total", "Records a consumer handled, by outcome", ["consumer", "type", "outcome"]
)
PROCESSING_SECONDS = Histogram(
    "lgnet_event_processing_seconds",
    "Time to process one consumed batch",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERS = Counter("lgnet_dead_letters_total", "Records sent to the dead-letter topic", ["consumer", "kind"])
CAREFUL_BATCHES = Counter(
    "lgnet_consumer_careful_batches_total",
    "Batches redone record by record because one record was refused or its handler failed",
    ["consumer"],
)
OFFSET_COMMITS = Counter(
    "lgnet_consumer_offset_commits_total",
    "Offset commits sent to Kafka (at most one per LGNET_CONSUMER_COMMIT_INTERVAL_MS, plus rebalances and stops)",
    ["consumer", "outcome"],
)
RETRIES = Counter("lgnet_event_retries_total", "Processing attempts retried", ["consumer"])
OUTBOX_PUBLISHED = Counter("lgnet_outbox_published_total", "Outbox rows published to Kafka")
OUTBOX_PENDING = Gauge(
    "lgnet_outbox_pending",
    "Outbox rows not yet published, as the relay last saw them (0 when drained; counted at each retry while Kafka is"
    " unreachable or does not acknowledge)",
)
OUTBOX_STUCK_SECONDS = Gauge(
    "lgnet_outbox_stuck_seconds",
    "How long the outbox relay has failed to publish (a topic refusing a record, Kafka unreachable; 0 while it"
    " publishes)",
)
TOKENS_ENDING = Gauge(
    "lgnet_api_tokens_ending",
    "Live API tokens whose end (`issue-token --days`) falls within the days given: alert, and issue the next ones",
    ["within_days"],
)
CONSUMER_STUCK_SECONDS = Gauge(
    "lgnet_consumer_stuck_seconds",
    "How long the next record of a partition has waited to be processed, fetched or not (0 when caught up)",
    ["consumer", "topic", "partition"],
)
CONSUMER_LAG = Gauge(
    "lgnet_consumer_lag",
    "Records of a partition assigned to this process not yet processed (its end as the last fetch saw it, less the"
    " next record to process); refreshed at each scrape",
    ["consumer", "topic", "partition"],
)
FACTS_REFUSED = Counter(
    "lgnet_facts_refused_total",
    "Facts refused (and dead-lettered) because their producer signature is missing, unknown, invalid, from a"
    " deployment that may not write the topic, or contradicts the envelope",
    ["consumer", "reason"],
)

FACTS_UNJUDGED = Counter(
    "lgnet_facts_unjudged_total",
    "Facts a consumer of every city's facts applied without the owners' check (owned_ids): their record carries no"
    " broker stamp and their time is before the rule. History written before the topic was switched to the broker's"
    " time, or a fact backdated on a topic not switched yet: run lgnet-kafka-admin create-topics",
    ["consumer", "type"],
)


def export_consumer_at_zero(consumer: str, dead_letter_kinds: Iterable[str], refusal_reasons: Iterable[str]) -> None:
    """A consumer's counters, at 0 from its start: an alert on "any increase" needs a series before the first count
    (Prometheus' `increase()` sees nothing when the series appears with its first 1)."""
    RETRIES.labels(consumer)
    CAREFUL_BATCHES.labels(consumer)
    for outcome in ("ok", "failed"):
        OFFSET_COMMITS.labels(consumer, outcome)
    for kind in dead_letter_kinds:
        DEAD_LETTERS.labels(consumer, kind)
    for reason in refusal_reasons:
        FACTS_REFUSED.labels(consumer, reason)
