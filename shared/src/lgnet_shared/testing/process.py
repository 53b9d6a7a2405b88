"""A service run as a real OS process in tests, which a test can crash (SIGKILL) and restart."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lgnet_shared import tls
from lgnet_shared.testing import HTTP_TIMEOUT_S
from lgnet_shared.testing.answers import AnswerCheck, of_service
from lgnet_shared.testing.forkserver import ForkedProcess, ForkServer, preloaded_module

# Test servers' ports come from a block of their own per pytest-xdist worker, below the kernel's ephemeral range
# (32768-60999 by default), handed out in turn from a random start: between a pick and the server's bind (minutes,
# for a platform started a few processes at a time) no other worker's pick, no bind(0) and no outgoing connection
# can take the port, and a worker does not hand it out again. A port someone holds is skipped.
_PORTS_FROM, _PORTS_TO, _BLOCK = 20000, 32000, 1000
_next_ports: Iterator[int] | None = None


def free_port() -> int:
    global _next_ports
    if _next_ports is None:
        _next_ports = _ports_of_this_worker()
    for _ in range(_BLOCK):
        port = next(_next_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port for a test server: every port of this worker's block ({_BLOCK}) is taken")


def _ports_of_this_worker() -> Iterator[int]:
    top = min(_PORTS_TO, _ephemeral_from())
    if top - _PORTS_FROM < _BLOCK:  # a kernel whose ephemeral range starts low: its own pick, as before
        return (_kernels_pick() for _ in itertools.count())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = _PORTS_FROM + (int(worker) if worker.isdigit() else 0) % ((top - _PORTS_FROM) // _BLOCK) * _BLOCK
    first = random.randrange(_BLOCK)
    return itertools.cycle([*range(start + first, start + _BLOCK), *range(start, start + first)])


def _forget_ports() -> None:
    global _next_ports
    _next_ports = None


os.register_at_fork(after_in_child=_forget_ports)  # a forked child starts its own turn, not its parent's


def _kernels_pick() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_from() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: the IANA dynamic range starts at 49152
        return 49152


# Every process a ServiceProcess started in this test process: what a test left running (a failing fixture, a draft
# without its `finally`) is stopped at the session's end (`stop_leftovers`) instead of running on for good, a
# service's consumers still fetching and its relay still polling beside whatever is measured next.
_spawned: list[subprocess.Popen[bytes] | ForkedProcess] = []

# The OpenAPI document of each service command, read from its first process in this test process: the same code
# serves the same document, and building it cost each new process ≈ a fifth of its CPU from start to stop (FastAPI
# generates it on the first request; housing's test_service started 26 processes to read it 26 times).
_documents: dict[tuple[str, ...], dict[str, Any]] = {}


def stop_leftovers() -> int:
    """Stop every process a ServiceProcess started that still runs; how many there were."""
    running = [proc for proc in _spawned if proc.poll() is None]
    _stop_procs(running, grace_s=10)
    _spawned.clear()
    return len(running)


@dataclass
class ServiceProcess:
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    answers: AnswerCheck | None = None  # set (`check_answers`): its clients check every answer against its OpenAPI

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, timeout: float = HTTP_TIMEOUT_S) -> httpx.AsyncClient:
        """An HTTP client of the service, with `token` as its bearer (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hooks = {"response": [self.answers.hook]} if self.answers is not None else {}
        return httpx.AsyncClient(
            verify=tls.http_verify(), base_url=self.url, headers=headers, timeout=timeout, event_hooks=hooks
        )

    async def check_answers(self) -> None:
        """From now on, every 2xx JSON answer a client of `client()` receives is checked against the response
        schema the service's own OpenAPI document declares for it (`answers.AnswerCheck`)."""
        if (document := _documents.get(tuple(self.command))) is not None:
            self.answers = AnswerCheck(document)
            return
        self.answers = await of_service(self.url, verify=tls.http_verify())
        _documents[tuple(self.command)] = self.answers.openapi

    async def start(self, timeout: float = 60) -> None:
        env = {**self.env, "LGNET_HTTP_PORT": str(self.port)}
        module = preloaded_module(self.command)
        if module is not None:  # a service: forked from an interpreter that has imported it (forkserver.py)
            self.proc = ForkServer.spawn(module, env, str(self.log_path))
        else:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        _spawned.append(self.proc)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(verify=tls.http_verify(), timeout=HTTP_TIMEOUT_S) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"service exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/health/ready", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)  # a refused connection costs nothing; each start waited 0.25 s more on average
        raise RuntimeError(f"service not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        stop_all([self])


async def start_all(processes: Iterable[ServiceProcess], timeout: float = 120, at_once: int | None = None) -> None:
    """Start processes side by side and wait until every one is ready (each polled on its own); `at_once` bounds
    how many are starting at the same time (the next starts when one is ready). The first failure cancels the
    other waits and is raised; the processes already spawned are the caller's to stop (`stop_all`)."""
    pending = list(processes)
    gate = asyncio.Semaphore(at_once or max(1, len(pending)))

    async def start(p: ServiceProcess) -> None:
        async with gate:
            await p.start(timeout=timeout)

    async with asyncio.TaskGroup() as group:
        for p in pending:
            group.create_task(start(p))


def stop_all(processes: Iterable[ServiceProcess], grace_s: float = 20) -> None:
    """SIGTERM to every process at once, then SIGKILL for any still running after the grace period (one
    period for all: a platform's services shut down side by side, not one after another)."""
    _stop_procs([p.proc for p in processes if p.proc is not None and p.proc.poll() is None], grace_s)


def _stop_procs(running: list[subprocess.Popen[bytes] | ForkedProcess], grace_s: float) -> None:
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def service_env(
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
    topic_prefix: str,
    city: str = "national",
    master_key: str | None = None,
) -> dict[str, str]:
    """Environment of a service under test: its own schema and topics, a throw-away master key."""
    import base64
    import os

    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "LGNET_DB_SCHEMA": schema,
        "LGNET_TOPIC_PREFIX": topic_prefix,
        "LGNET_CITY": city,
        "LGNET_MASTER_KEY": master_key or base64.b64encode(os.urandom(32)).decode(),
    }
