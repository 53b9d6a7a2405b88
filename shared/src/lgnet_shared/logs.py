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


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is when a record is emitted, not to the one at configuration time: an
    in-process caller (a CLI run by a test, an embedding program) may swap and close it afterwards."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(service: str, level: str = "INFO", deployment: str | None = None) -> None:
    logging.basicConfig(format="%(message)s", handlers=[_Stdout()], level=level.upper(), force=True)
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
    throttle = ConnectionErrorThrottle()
    for handler in root.handlers:
        handler.setFormatter(formatter)
        handler.addFilter(throttle)
    # fontTools subsets the fonts a PDF export embeds and tells about every table and glyph at INFO: ≈ 35 lines per
    # export in reporting's log, of no use to an operator. Its warnings still show.
    logging.getLogger("fontTools").setLevel(max(logging.WARNING, root.level))
    # The Kafka client at DEBUG writes every record it sends, key and value ("Sending (key=… value=…)", the produce
    # request's bytes): a dead letter is a partner's record as it came, in clear where it was not sealed, and a key is
    # an aggregate's id. Personal data never reaches a log (DESIGN section 5): its lines stay at INFO and above.
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, root.level))
    # httpx says every call at INFO with its URL ("HTTP Request: GET …/persons/<id>/record"): the desk's log was a
    # trail of whose record was read and when, outside the access log (where reads are recorded, purged on its
    # schedule, shown to the DPO). Its warnings still show.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
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


# aiokafka's lines while a broker is unreachable: each client retries every ~50-300 ms and logs each failure, which
# flooded the logs with thousands of lines per service during a 37 s outage.
CONNECTION_ERRORS = (
    "Unable connect to",
    "Unable to request metadata",
    "Unable to update metadata",
    "Marking the coordinator dead",
    "Group Coordinator Request failed",
    "FindCoordinator Request failed",
    "Heartbeat send request failed",
    "Heartbeat session expired",
    "Got error produce response",
    "Unexpected error while fetching data",
    "Failed fetch messages from",
    "Unexpected error in join group",
    "OffsetCommit failed",
    # The producer asking again and again (every 100 ms) for a topic deleted or never made, or one it may not see,
    # while the outbox relay holds that topic's facts back (one line per metadata answer).
    "Topic %s not found in cluster metadata",
    "Topic %s is not authorized for this client",
    # PostgreSQL away (a restart, a failover): the outbox relay retries every 2 s, each time with a traceback (≈ 100 KB
    # of log per service in a one-minute outage); asyncpg's pool tries to reconnect its floor with a growing delay.
    "outbox relay failed",
    "Failed to restore the pool connection floor",
)


# Kinds whose retries space out beyond the summary interval: asyncpg retries its pool's floor after 1, 2, 4, … s, at
# most 60 s apart, so 32 s of quiet in a PostgreSQL outage said "stopped (lasted 31 s)" while it went on.
QUIET_BEFORE_STOPPED = {"Failed to restore the pool connection floor": 75.0}


class ConnectionErrorThrottle(logging.Filter):
    """Rate-limits repeated connection errors of the Kafka client (loggers `aiokafka*`), and while PostgreSQL is away
    the outbox relay's and asyncpg's pool's retries: one line when a kind
    of error starts (the state change), then at most one summary every `interval` seconds while it repeats
    ("... and N more like it in the last 30 s"), and one line when it has stopped for `interval` seconds (longer for
    a kind whose retries space out further: QUIET_BEFORE_STOPPED)
    ("... stopped after 37 s; 2,700 lines suppressed"). Other lines pass untouched. Installed on the root
    handlers by `configure`."""

    def __init__(
        self,
        interval: float = 30.0,
        clock: Any = None,
        prefixes: tuple[str, ...] = ("aiokafka", "asyncpg", "lgnet_shared.outbox"),
    ) -> None:
        super().__init__()
        import time

        self.interval = interval
        self.clock = clock or time.monotonic
        self.prefixes = prefixes
        # kind -> [first seen, last seen, last emitted, suppressed since last emitted, suppressed in total, logger]
        self.episodes: dict[str, list[Any]] = {}

    def kind(self, record: logging.LogRecord) -> str | None:
        if not record.name.startswith(self.prefixes) or record.levelno < logging.WARNING:
            return None
        template = str(record.msg.get("event", "")) if isinstance(record.msg, dict) else str(record.msg)
        return next((p for p in CONNECTION_ERRORS if template.startswith(p)), None)

    @staticmethod
    def _note(record: logging.LogRecord, note: str) -> None:
        """Appends to the line's message: a library's format string, or our own (structlog's) event."""
        if isinstance(record.msg, dict):
            record.msg = {**record.msg, "event": f"{record.msg.get('event', '')} {note}"}
        else:
            record.msg = f"{record.msg} {note}"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "lgnet_throttle", False):
            return True  # our own summary lines
        kind = self.kind(record)
        if kind is None:
            return True
        now = self.clock()
        episode = self.episodes.get(kind)
        if episode is not None and now - episode[1] >= self._quiet(kind):
            self.check_stopped()  # quiet long enough: that one ended, this starts another
            episode = None
        if episode is None:  # it starts: the state change is logged, with a note that repeats will be summarised
            self.episodes[kind] = [now, now, now, 0, 0, record.name]
            self._note(record, f"[repeats of this error are summarised every {self.interval:.0f} s]")
            self._watch(kind)
            return True
        episode[1] = now
        if now - episode[2] >= self.interval:
            self._note(
                record,
                f"[still failing after {now - episode[0]:.0f} s: {episode[3]} more lines like it "
                f"in the last {now - episode[2]:.0f} s suppressed]",
            )
            episode[2], episode[3] = now, 0
            return True
        episode[3] += 1
        episode[4] += 1
        return False

    def _quiet(self, kind: str) -> float:
        """How long `kind` must be quiet to have stopped: the interval, or longer than its retries are apart."""
        return max(self.interval, QUIET_BEFORE_STOPPED.get(kind, 0.0))

    def check_stopped(self) -> list[str]:
        """Ends the episodes quiet for `interval` seconds with one line each; returns their kinds."""
        now = self.clock()
        ended = [k for k, e in self.episodes.items() if now - e[1] >= self._quiet(k)]
        for kind in ended:
            first, last, _, _, total, name = self.episodes.pop(kind)
            logging.getLogger(name).warning(
                "%s: stopped (lasted %.0f s; %d repeated lines suppressed)",
                kind,
                last - first,
                total,
                extra={"lgnet_throttle": True},
            )
        return ended

    def _watch(self, kind: str) -> None:
        """While an episode lasts, look every `interval` seconds whether it has stopped (in the event loop that
        logs it; without one, the next error after a quiet `interval` starts a new episode anyway)."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def look() -> None:
            self.check_stopped()
            if kind in self.episodes:
                loop.call_later(self.interval, look)

        loop.call_later(self.interval, look)
