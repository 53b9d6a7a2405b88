"""A module's shared service seen from one test (lgnet_shared.testing.plugin, "A module's shared service"): what its
topics held when the test began is not the test's; a topic made during the test is read from its beginning; and a
module marked `shared_service` starts one service for all its tests, a test marked `own_service` one of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.topics import end_offsets, read_events, read_records
from lgnet_shared.topics import ensure_topics

pytestmark = pytest.mark.integration


async def test_a_test_reads_only_what_was_written_since_it_began(kafka_bootstrap: str, topic_prefix: str) -> None:
    [old] = await ensure_topics(kafka_bootstrap, topic_prefix, ["partner.rejections.coop-y"])  # one partition
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(old, f"before-{n}".encode())
        since = await end_offsets(kafka_bootstrap, topic_prefix)
        assert since == {(old, 0): 3}
        await producer.send_and_wait(old, b"after")
        [new] = await ensure_topics(kafka_bootstrap, topic_prefix, ["partner.rejections.coop-x"])
        await producer.send_and_wait(new, b"on a topic made since")
    finally:
        await producer.stop()
    assert [r.value for r in await read_records(kafka_bootstrap, old, since=since)] == [b"after"]
    assert [r.value for r in await read_records(kafka_bootstrap, new, since=since)] == [b"on a topic made since"]
    assert len(await read_records(kafka_bootstrap, old)) == 4  # without `since`: everything, as before
    assert await read_records(kafka_bootstrap, f"{topic_prefix}nothing.here", missing_ok=True, since=since) == []
    assert await read_events(kafka_bootstrap, old, want=0, timeout=1, since={(old, 0): 4}) == []


MODULE = """
import os

import pytest

pytestmark = pytest.mark.shared_service


@pytest.mark.parametrize("n", range(3))
async def test_shared(payments, n):
    with open("pids.txt", "a") as f:
        f.write(f"shared {payments.process.proc.pid} {payments.prefix}\\n")


@pytest.mark.own_service
async def test_own(payments):
    with open("pids.txt", "a") as f:
        f.write(f"own {payments.process.proc.pid} {payments.prefix}\\n")
"""


def test_a_module_marked_shared_service_starts_one_service_for_its_tests(tmp_path: Path) -> None:
    tests = Path(__file__).resolve().parents[2] / "services" / "payments" / "tests"
    module = tests / f"test_zz_shared_{tmp_path.name}.py"  # beside payments' conftest, which it uses
    module.write_text(MODULE)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(module)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        module.unlink()
    assert run.returncode == 0, run.stdout[-3000:]
    lines = [line.split() for line in (tmp_path / "pids.txt").read_text().splitlines()]
    shared = {(pid, prefix) for kind, pid, prefix in lines if kind == "shared"}
    own = {(pid, prefix) for kind, pid, prefix in lines if kind == "own"}
    assert len(shared) == 1 and len(own) == 1 and shared != own, lines
