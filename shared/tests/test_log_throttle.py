"""Repeated Kafka connection errors during a broker outage are rate-limited: one line when they start, a summary
per interval while they repeat, one line when they stop; other lines pass untouched."""

from __future__ import annotations

import asyncio
import logging

import pytest
from lgnet_shared.logs import ConnectionErrorThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> tuple[list[str], Clock, ConnectionErrorThrottle]:
    lines: list[str] = []
    clock = Clock()
    throttle = ConnectionErrorThrottle(interval=30, clock=clock)

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    handler.addFilter(throttle)
    for name in ("aiokafka", "aiokafka.conn", "lgnet.test"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return lines, clock, throttle


def test_a_37_second_outage_is_a_handful_of_lines(captured: tuple[list[str], Clock, ConnectionErrorThrottle]) -> None:
    lines, clock, throttle = captured
    client = logging.getLogger("aiokafka")
    other = logging.getLogger("lgnet.test")
    # Three clients retrying every ~100 ms for 37 s: 1,110 errors, as the fault-injection run saw per service.
    for tick in range(370):
        clock.now = 1000.0 + tick * 0.1
        for node in (1, 2, 3):
            client.error("Unable connect to node with id %s: %s", node, "[Errno 111] Connect call failed")
        if tick == 100:
            other.warning("an unrelated warning")  # passes untouched
            client.info("Unable connect to node with id 1 (info level is not ours to judge)")
    assert lines[0].startswith("Unable connect to node with id 1: [Errno 111]")
    assert "summarised every 30 s" in lines[0]
    assert "an unrelated warning" in lines
    summaries = [line for line in lines if "still failing" in line]
    assert len(summaries) == 1 and "suppressed" in summaries[0]
    assert len(lines) == 4  # started, the unrelated warning, the info line, one summary
    clock.now += 31
    assert throttle.check_stopped() == ["Unable connect to"]
    assert "stopped" in lines[-1] and "lasted 37 s" in lines[-1]
    # A later outage is a new state change: logged again.
    client.error("Unable connect to node with id %s: %s", 1, "refused")
    assert "summarised" in lines[-1]


def test_other_kinds_are_throttled_apart(captured: tuple[list[str], Clock, ConnectionErrorThrottle]) -> None:
    lines, _, _ = captured
    conn = logging.getLogger("aiokafka.conn")
    for _ in range(50):
        conn.error("Unable connect to node with id %s: %s", 1, "refused")
        conn.warning("Marking the coordinator dead (node %s)for group %s.", 1, "intake.gatekeeper")
        conn.error("Some other error %s", "x")  # not a connection error: every one passes
    assert len([x for x in lines if x.startswith("Unable connect")]) == 1
    assert len([x for x in lines if x.startswith("Marking the coordinator dead")]) == 1
    assert len([x for x in lines if x.startswith("Some other error")]) == 50


async def test_the_end_of_an_outage_is_noticed_in_the_event_loop() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    handler.addFilter(ConnectionErrorThrottle(interval=0.5))
    logger = logging.getLogger("aiokafka.loop")
    logger.handlers, logger.propagate = [handler], False
    # The burst comes in one go (no sleeps between lines): on a loaded machine, sleeps would stretch it past one
    # summary interval and a summary line would rightly appear.
    for _ in range(20):
        logger.error("Unable connect to node with id %s: %s", 1, "refused")
    await asyncio.sleep(1.5)
    assert len(lines) == 2 and "stopped" in lines[-1] and "19 repeated lines suppressed" in lines[-1], lines


def test_a_postgres_outage_is_a_line_per_kind_not_a_traceback_every_2_s() -> None:
    """A city IT team stopped PostgreSQL for a minute: each service's log got "outbox relay failed; retrying" with its
    traceback every 2 s (≈ 100 KB) — the relay's retries. Through the services' own log set-up (`configure`, in a
    process of its own): the first failure of each kind is logged, with its traceback and the note that repeats are
    summarised, and its repeats are not."""
    import json
    import subprocess
    import sys

    outage = (
        "import logging\n"
        "from lgnet_shared import logs\n"
        "logs.configure('housing', 'INFO', deployment='torino')\n"
        "relay = logs.get_logger('lgnet_shared.outbox')\n"
        "for _ in range(30):\n"
        "    try:\n"
        "        raise ConnectionRefusedError(111, 'Connection refused')\n"
        "    except OSError:\n"
        "        relay.exception('outbox relay failed; retrying')\n"
        "    logging.getLogger('asyncpg.pool').warning('Failed to restore the pool connection floor; retrying')\n"
        "relay.info('outbox relay leads')\n"
    )
    done = subprocess.run([sys.executable, "-c", outage], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [line["event"].split(" [")[0] for line in lines] == [
        "outbox relay failed; retrying",
        "Failed to restore the pool connection floor; retrying",
        "outbox relay leads",
    ], lines
    assert lines[0]["event"].endswith("[repeats of this error are summarised every 30 s]")
    assert "ConnectionRefusedError" in lines[0]["exception"] and lines[0]["deployment"] == "torino"


def test_the_clients_lines_about_a_topic_the_relay_holds_back_are_rate_limited(
    captured: tuple[list[str], Clock, ConnectionErrorThrottle],
) -> None:
    """The relay holding back a deleted topic: the client asks for its metadata every 100 ms and logs each answer."""
    lines, clock, _ = captured
    client = logging.getLogger("aiokafka")
    for tick in range(600):
        clock.now = 1000.0 + tick * 0.1
        client.error("Topic %s not found in cluster metadata", "lgnet.housing.events")
        client.error("Topic %s is not authorized for this client", "lgnet.partner.rejections.coop-aurora")
    assert len(lines) == 2 * 2  # each kind: its start, one summary after 30 s


def test_the_pools_slowing_retries_are_one_outage_not_one_that_stopped(
    captured: tuple[list[str], Clock, ConnectionErrorThrottle],
) -> None:
    """A city IT team stopped PostgreSQL for 80 s: each service logged "Failed to restore the pool connection floor:
    stopped (lasted 31 s; 4 repeated lines suppressed)" 31 s in, while the database was still down, and then the
    outage again as a new one, with its traceback. asyncpg retries the floor after 1, 2, 4, … s, at most 60 s apart:
    a wait of 32 s between two of its lines is not the end of the outage."""
    lines, clock, throttle = captured
    pool = logging.getLogger("aiokafka")  # a logger the filter watches (asyncpg's in production)
    for at in (0, 1, 3, 7, 15, 31, 63, 123, 183):  # asyncpg's retry times while the database is down
        clock.now = 1000.0 + at
        throttle.check_stopped()  # what the event loop's watch does every interval
        pool.warning("Failed to restore the pool connection floor; retrying")
    assert not [line for line in lines if "stopped" in line], lines
    assert len([line for line in lines if "summarised" in line]) == 1, lines
    clock.now += 61
    assert throttle.check_stopped() == []  # a retry may still come (60 s apart at most)
    clock.now += 30
    assert throttle.check_stopped() == ["Failed to restore the pool connection floor"]
    assert "lasted 183 s" in lines[-1], lines
