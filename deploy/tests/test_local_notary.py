"""`make up` runs the notary (deploy/local/notary.py) against the real secured broker: under the national reporting
deployment's own principal it checkpoints the facts already on the log, serves them over HTTP signed with the key it
prints for auditors, follows new facts, and after `stop` and `start` continues from its state folder."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_shared.checkpoints import Verifier, open_checkpoint
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.process import free_port
from lgnet_shared.topics import ensure_topics, physical

pytestmark = pytest.mark.integration
NOTARY_PY = Path(__file__).parents[1] / "local" / "notary.py"


async def publish(bootstrap: str, prefix: str, people: list[str]) -> None:
    await ensure_topics(bootstrap, prefix)
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for person in people:
            event = EmploymentRecorded(person_id=person, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
            env = to_envelope(event, source="/lgnet/intake", city="torino")
            value, headers = await signed_fact(producer, prefix, env)
            await producer.send_and_wait(physical("intake.events", prefix), value, key=env.key, headers=headers)
    finally:
        await producer.stop()


def notary(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(NOTARY_PY), command], env=env, capture_output=True, text=True, timeout=360
    )


def checkpointed(url: str, verifier: Verifier) -> int:
    """Events of intake.events covered by the notary's newest checkpoints, each opened with the printed key."""
    items = httpx.get(f"{url}/checkpoints", timeout=5).json()
    return sum(open_checkpoint(i["checkpoint"], [verifier]).size for i in items if i["topic"] == "intake.events")


def start_line(log: Path) -> dict[str, Any]:
    """The notary's last start summary in its log (one JSON line per start, then one per round)."""
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    last: dict[str, Any] = [x for x in lines if "restored" in x][-1]
    return last


def wait_for(what: Any, expected: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (got := what()) != expected:
        assert time.monotonic() < deadline, f"the notary checkpointed {got} events, not {expected}"
        time.sleep(0.5)


def test_make_up_runs_a_notary_that_checkpoints_the_log_and_restarts_from_its_state(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix, deployment, port = new_topic_prefix(), f"nat{uuid.uuid4().hex[:8]}", free_port()
    asyncio.run(publish(kafka_bootstrap, prefix, [f"a{i}" for i in range(12)]))
    env = {
        **os.environ,
        "LGNET_LOCAL_DIR": str(tmp_path),
        "LGNET_TOPIC_PREFIX": prefix,
        "LGNET_CITY": deployment,
        "LGNET_NOTARY_PORT": str(port),
        "LGNET_NOTARY_EVERY": "1",
    }
    env.pop("LGNET_MASTER_KEY", None)  # generated into the local folder, as on a fresh machine
    env.pop("LGNET_NOTARY_KEY", None)
    url = f"http://127.0.0.1:{port}"
    try:
        started = notary("start", env)
        assert started.returncode == 0, started.stdout + started.stderr
        vkey = started.stdout.rsplit("docs/reporting.md): ", 1)[1].split()[0]
        verifier = Verifier.parse(vkey)
        # Its own principal (not the admin's, nor reporting's): the only one the checkpoints topic lets write.
        assert f"principals: notary.{deployment}\n" in started.stdout
        wait_for(lambda: checkpointed(url, verifier), 12)

        asyncio.run(publish(kafka_bootstrap, prefix, [f"b{i}" for i in range(5)]))
        wait_for(lambda: checkpointed(url, verifier), 17)  # it follows the log
        assert "ready" in notary("status", env).stdout

        assert notary("stop", env).returncode == 0
        assert "stopped" in notary("status", env).stdout
        again = notary("start", env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert vkey in again.stdout  # the same key: derived from the local master key kept in the folder
        summary = start_line(tmp_path / "logs" / "notary.log")
        assert summary["restored"] == 17 and summary["read"] == 0, summary
        wait_for(lambda: checkpointed(url, verifier), 17)
    finally:
        notary("stop", env)
