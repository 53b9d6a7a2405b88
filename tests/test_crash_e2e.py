"""Fault injection end to end: a small scenario of Torino and Trieste is played while random services are killed
with SIGKILL and started again. The partners' systems retry as they should (same Idempotency-Key, backoff), so
the scenario completes; then nothing may be lost or doubled — counted on the fact topics (one fact per
aggregate step) and in the inbox tables (every fact processed by reporting) — and the reports equal the
scenario's truth, as in a run without faults."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_scenario import driver, reports
from lgnet_scenario.platform import SERVICES, Platform, provision
from lgnet_scenario.population import scaled
from lgnet_shared.testing.process import start_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
SCALE = float(os.environ.get("LGNET_CRASH_SCALE", "0.2"))
SEED = int(os.environ.get("LGNET_CRASH_SEED", "7"))


@pytest.fixture(scope="module")
async def platform4(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory, platform4_class: Any
) -> AsyncIterator[Any]:
    p = platform4_class(kafka_bootstrap, database_url, tmp_path_factory.mktemp("crash"), "crash")
    p.chaos = None  # the test's chaos task: stopped before the services, so it cannot restart one after close
    try:
        await start_all(p.processes.values(), timeout=120)
        yield p
    finally:
        if p.chaos is not None and not p.chaos.done():  # the test was cut short (its timeout) mid-chaos
            p.chaos.cancel()
            with contextlib.suppress(BaseException):
                await p.chaos
        await p.close()


async def chaos(p: Any, stop: asyncio.Event, rng: random.Random, kills: list[tuple[float, str, float]]) -> None:
    """Every 1-3 s, SIGKILL the next service (each in turn, in a random order) in the middle of whatever it does
    and start it again at once, as an orchestrator would; a service still restarting is skipped. Records (when,
    which, seconds until ready again)."""
    began = time.monotonic()
    order = rng.sample(SERVICES, len(SERVICES))
    restarting: dict[str, asyncio.Task[None]] = {}
    turn = 0

    async def restart(name: str) -> None:
        t0 = time.monotonic()
        await p.processes[name].start(timeout=120)
        kills.append((round(t0 - began, 1), name, round(time.monotonic() - t0, 2)))

    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(1, 3))
            if stop.is_set():
                break
            name = order[turn % len(order)]
            turn += 1
            if name in restarting and not restarting[name].done():
                continue
            p.processes[name].kill()
            restarting[name] = asyncio.create_task(restart(name))
        await asyncio.gather(*restarting.values())  # every service is up again before the checks
    finally:  # cancelled (the test's timeout): no restart may outlive it and start a process after teardown
        for task in restarting.values():
            task.cancel()


async def test_kill_9_during_the_scenario_loses_and_doubles_nothing(platform4: Any, ledger: Any) -> None:
    cities = scaled(SCALE)
    rng = random.Random(SEED)
    stop = asyncio.Event()
    kills: list[tuple[float, str, float]] = []
    killer = platform4.chaos = asyncio.create_task(chaos(platform4, stop, rng, kills))
    try:
        truth = await driver.run(platform4.ep, cities=cities, seed=SEED, progress=print)
    finally:
        stop.set()
        await killer
    print(f"kills (at s, service, s to ready): {kills}")
    assert len(kills) >= 3, "too few crashes to mean anything"
    assert len({name for _, name, _ in kills}) >= 3

    # Reports equal the truth, as without faults; nothing lost or doubled.
    platform = Platform(platform4.ep, await provision(platform4.ep, {c.city: c.partners for c in cities}))
    try:
        bodies = await reports.caught_up(platform, truth, timeout=180)
    finally:
        await platform.close()
    ledger.reports_equal_truth(bodies, truth)
    await ledger.nothing_lost_or_doubled(platform4.ep, truth)
