"""Fixtures of the backbone tests: a real service process (probe_service) against the test's Kafka topics and
PostgreSQL schema, which tests can kill and restart."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "probe_service.py")],
            env={**self.env, "LGNET_HTTP_PORT": str(self.port)}, stdout=log, stderr=subprocess.STDOUT,
        )
        async with httpx.AsyncClient() as client:
            for _ in range(120):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"probe service exited: {self.log_path.read_text()[-3000:]}")
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise RuntimeError("probe service not ready in 60s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
async def probe(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "LGNET_DB_SCHEMA": pg_schema,
        "LGNET_TOPIC_PREFIX": topic_prefix,
        "LGNET_CITY": "national",
        "LGNET_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "PYTHONPATH": str(HERE),
    }
    svc = ServiceProcess(env, tmp_path / "probe.log")
    try:
        yield svc
    finally:
        svc.stop()
