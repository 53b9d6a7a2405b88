"""The scheduler's Prometheus metrics (served at /metrics): outcomes counted by the process, and the ledger's view
(last day done, failing) refreshed from PostgreSQL at every scrape, so they survive restarts and replicas."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from prometheus_client import Counter, Gauge

RUNS = Counter(
    "lgnet_scheduler_runs_total", "Scheduled job runs by outcome (ok, failed, skipped)", ["job", "city", "outcome"]
)
LAST_DONE_DAY = Gauge(
    "lgnet_scheduler_last_done_day_timestamp_seconds",
    "The last day a job was done for a city (midnight UTC of that day, as a Unix time)",
    ["job", "city"],
)
LAST_DONE_AT = Gauge(
    "lgnet_scheduler_last_success_timestamp_seconds", "When the job last succeeded for the city", ["job", "city"]
)
FAILING = Gauge("lgnet_scheduler_failing", "1 when the job's latest attempt for the city failed", ["job", "city"])
LEADER = Gauge("lgnet_scheduler_leader", "1 when this replica held the lock at its last tick")
LAST_TICK = Gauge("lgnet_scheduler_last_tick_timestamp_seconds", "When this replica last ticked")


def record_outcome(job: str, city: str, outcome: str) -> None:
    RUNS.labels(job, city, outcome).inc()


def refresh(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        labels = (r["job"], r["city"])
        if r["last_done_day"] is not None:
            midnight = datetime.combine(r["last_done_day"], time(), UTC)
            LAST_DONE_DAY.labels(*labels).set(midnight.timestamp())
        if r["last_done_at"] is not None:
            LAST_DONE_AT.labels(*labels).set(r["last_done_at"].timestamp())
        FAILING.labels(*labels).set(1 if r["failing"] else 0)
