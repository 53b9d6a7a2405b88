"""Structured JSON logs (structlog) carrying service, event id, correlation id, city and partner.

Personal data never reaches a log: a processor drops any key that names an identifying or health field, and
handlers bind only ids and codes. Context is bound per consumed event with `event_context`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import Processor

from lgnet_shared.envelope import Envelope

# Keys that must never be logged, whatever a caller binds.
FORBIDDEN_KEYS = frozenset(
    {
        "given_name",
        "family_name",
        "name",
        "first_name",
        "last_name",
        "fiscal_code",
        "codice_fiscale",
        "phone",
        "address",
        "email",
        "iban",
        "account_holder",
        "identity",
        "data",
        "vulnerabilities",
        "birth_date",
        "note",
    }
)


def _scrub(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in FORBIDDEN_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


# The event being handled: one context variable set per event (binding five structlog context variables per
# event cost more than the rest of the log path at backbone rates); `_event_context` adds its fields.
_EVENT: ContextVar[Envelope | None] = ContextVar("lgnet_event", default=None)


def _event_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    env = _EVENT.get()
    if env is not None:
        event_dict.setdefault("event_id", env.id)
        event_dict.setdefault("event_type", env.type)
        event_dict.setdefault("correlation_id", env.correlationid)
        event_dict.setdefault("city", env.city)
        event_dict.setdefault("partner", env.partner)
    return event_dict


def configure(service: str, level: str = "INFO", deployment: str | None = None) -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper(), force=True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _event_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _scrub,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    # Standard-library loggers (aiokafka, uvicorn, ours) render as the same JSON lines.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(formatter)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    if deployment is not None:  # on a shared cluster, which city's (or national) deployment wrote the line
        structlog.contextvars.bind_contextvars(deployment=deployment)


@contextmanager
def event_context(env: Envelope) -> Iterator[None]:
    """Everything logged inside carries the event's ids, city and partner."""
    token = _EVENT.set(env)
    try:
        yield
    finally:
        _EVENT.reset(token)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
