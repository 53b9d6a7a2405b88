"""CPU per fact of the backbone's signing and per-event work, without Kafka or PostgreSQL: what the relay spends
signing (FactSigner.sign_batch, batches per partition as the relay makes them) and what a consumer spends checking
(FactAuthenticator.prepare + authenticate + verify) and reading each event (envelope, payload, log and trace
context). CPU time of this process (`time.process_time`), so other processes' load inflates it far less than a
wall-clock figure: the A/B of old and new code stays readable on a busy machine.

    .venv/bin/python bench/bench_signing_cpu.py
    PYTHONPATH=/tmp/old/shared/src .venv/bin/python bench/bench_signing_cpu.py    # the same on older code

Environment: BENCH_EVENTS (default 12000), BENCH_RUNS (default 7). Prints medians in µs per fact.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from types import SimpleNamespace
from typing import Any

from lgnet_shared import logs, tracing
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.envelope import from_record
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fact_signing import FactAuthenticator, FactSigner, KeyRegistry

N = int(os.environ.get("BENCH_EVENTS", "12000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PARTITIONS = 6
FETCH = 500  # records per partition per fetch, as the consumers' max_records
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # one producer transaction's

signer = FactSigner(os.urandom(32), "national", "intake", "national")
envs = [
    to_envelope(
        EmploymentRecorded(person_id=f"p{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 1, 1)),
        source="/bench",
        city="torino",
        traceparent=TRACEPARENT,
    )
    for i in range(N)
]
unsigned = [e.to_structured() for e in envs]


def relay() -> list[tuple[bytes, tuple[str, bytes]]]:
    """As the relay: up to 1,000 rows at a time, signed in batches per partition."""
    out: list[tuple[bytes, tuple[str, bytes]]] = []
    for start in range(0, N, 1000):
        for p in range(PARTITIONS):
            rows = [(v, list(h)) for v, h in unsigned[start : start + 1000][p::PARTITIONS]]
            out += signer.sign_batch(rows)
    return out


def records(signed: list[tuple[bytes, tuple[str, bytes]]]) -> list[list[Any]]:
    """The signed facts as fetched: per partition, in order, FETCH at a time."""
    by_partition: list[list[Any]] = [[] for _ in range(PARTITIONS)]
    i = 0
    for start in range(0, N, 1000):
        for p in range(PARTITIONS):
            for _, h in unsigned[start : start + 1000][p::PARTITIONS]:
                value, signature = signed[i]
                part = by_partition[p]
                part.append(
                    SimpleNamespace(
                        topic="lgnet.intake.events",
                        partition=p,
                        offset=len(part),
                        value=value,
                        headers=[*h, signature],
                        key=b"k",
                    )
                )
                i += 1
    return [part[j : j + FETCH] for part in by_partition for j in range(0, len(part), FETCH)]


def consumer_checks(fetches: list[list[Any]]) -> None:
    registry = KeyRegistry("unused:9092")
    registry.add([signer.key])
    auth = FactAuthenticator(registry)

    async def run() -> None:
        for fetch in fetches:
            await auth.prepare(fetch)
            for r in fetch:
                sender = await auth.authenticate(None, r)
                await auth.verify(None, r, from_record(r.value, r.headers, r.key), sender)

    asyncio.run(run())


def decode_only(fetches: list[list[Any]]) -> None:
    """What the consumer's check includes besides the signatures: each record's envelope, as a consumer decodes it."""
    for fetch in fetches:
        for r in fetch:
            from_record(r.value, r.headers, r.key)


def read_events(fetches: list[list[Any]]) -> None:
    """A consumer's own per-event reading: envelope, payload, and the log and trace context a handler runs in."""
    for fetch in fetches:
        for r in fetch:
            env = from_record(r.value, r.headers, r.key)
            decode(env)
            with logs.event_context(env), tracing.consuming("bench process", env.traceparent, {"id": env.id}):
                pass


def cpu_us(step: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return statistics.median(times) / N * 1e6


def main() -> None:
    signed = relay()
    fetches = records(signed)
    header = len(signed[0][1][1])
    print(f"events={N} runs={RUNS} (medians, CPU µs per fact; header {header} bytes, value {len(signed[0][0])})")
    print(f"relay: sign                  : {cpu_us(relay):6.2f}")
    check, decoding = cpu_us(lambda: consumer_checks(fetches)), cpu_us(lambda: decode_only(fetches))
    print(f"consumer: check signatures   : {check:6.2f}  (envelope decode included; without it {check - decoding:.2f})")
    print(f"consumer: read each event    : {cpu_us(lambda: read_events(fetches)):6.2f}  (envelope, payload, context)")


if __name__ == "__main__":
    main()
