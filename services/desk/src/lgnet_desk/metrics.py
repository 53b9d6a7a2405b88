"""The desk's Prometheus metrics, served at /metrics like every service's (prometheus_client's default registry, so
the process's own series come too). Labels are codes only: never a username or a person."""

from __future__ import annotations

from prometheus_client import Counter

LOGINS = Counter("lgnet_desk_logins_total", "Login attempts at the desk, by outcome", ["outcome"])
SERVICE_CALLS = Counter(
    "lgnet_desk_service_calls_total",
    "The desk's calls to the services' HTTP APIs, by service and outcome (ok, refused: a 4xx, unavailable)",
    ["service", "outcome"],
)
