"""The plugin deletes a module's test topics when the module ends, not at the session's end: a suite that kept them
all held ≈ 7,700 partitions by its end, and every client's full metadata request returned them (docs/benchmarks.md,
"The suite at the session of 2026-12-05 14:29 UTC")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FIRST = """
from pathlib import Path

from lgnet_shared.topics import ensure_topics, physical


async def test_makes_topics(kafka_bootstrap, topic_prefix):
    assert await ensure_topics(kafka_bootstrap, topic_prefix, ["intake.events"]) == [
        physical("intake.events", topic_prefix)
    ]
    Path("prefix.txt").write_text(topic_prefix)
"""

SECOND = """
import asyncio
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from lgnet_shared.kafka import client_kwargs


async def test_finds_them_gone(kafka_bootstrap):
    # Deleted when the first module ended; a broker's metadata may list them for a moment after (Kafka deletes
    # asynchronously: a run beside other tests on a loaded machine saw them once), never for seconds.
    prefix = Path("prefix.txt").read_text()
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        for _ in range(50):
            left = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if not left:
                break
            await asyncio.sleep(0.1)
        assert left == []
    finally:
        await admin.close()
"""


def test_a_modules_topics_are_gone_when_the_next_module_starts(tmp_path: Path) -> None:
    (tmp_path / "test_1_first.py").write_text(FIRST)
    (tmp_path / "test_2_second.py").write_text(SECOND)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "lgnet_shared.testing.plugin", "-q",
         str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
