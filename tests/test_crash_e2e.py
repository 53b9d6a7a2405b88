"""Fault injection end to end: a small scenario of Torino and Trieste is played while random services are killed
with SIGKILL and started again. The partners' systems retry as they should (same Idempotency-Key, backoff), so
the scenario completes; then nothing may be lost or doubled — counted on the fact topics (one fact per
aggregate step) and in the inbox tables (every fact processed by reporting) — and the reports equal the
scenario's truth, as in a run without faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lgnet_reporting.service_layer import projector
from lgnet_scenario import driver, reports
from lgnet_scenario.platform import SERVICES, Endpoints, Platform, provision
from lgnet_scenario.population import scaled
from lgnet_shared.codec import decode
from lgnet_shared.consumer import inbox_id
from lgnet_shared.envelope import from_record
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.events import payments as pev
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import physical

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
SCALE = float(os.environ.get("LGNET_CRASH_SCALE", "0.2"))
SEED = int(os.environ.get("LGNET_CRASH_SEED", "7"))
# One fact per aggregate step: a second one is a doubled effect.
ONCE = {
    iev.PersonRegistered: ("person_id",),
    iev.HouseholdFormed: ("household_id",),
    iev.CaseOpened: ("case_id",),
    iev.CaseClosed: ("case_id",),
    iev.PersonErased: ("person_id",),
    hev.MatchAccepted: ("match_id",),
    hev.PlacementStarted: ("match_id",),
    hev.LeaseSigned: ("placement_id",),
    hev.PlacementEnded: ("placement_id",),
    pev.ContributionRequested: ("case_id", "kind", "period_from", "period_to", "amount_cents"),
    pev.ContributionApproved: ("request_id",),
    pev.ContributionPaid: ("request_id",),
}


class Platform4:
    def __init__(self, kafka: str, database_url: str, logs: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.prefix = new_topic_prefix("crash")
        self.schemas = {s: f"crash_{run}_{s}" for s in SERVICES}
        master = base64.b64encode(os.urandom(32)).decode()
        self.logs = logs
        self.processes = {
            s: ServiceProcess(
                [sys.executable, "-m", f"lgnet_{s}.entrypoints.main"],
                service_env(kafka, database_url, self.schemas[s], self.prefix, master_key=master),
                logs / f"{s}.log",
            )
            for s in SERVICES
        }
        self.ep = Endpoints(
            kafka=kafka,
            database_url=database_url,
            urls={s: p.url for s, p in self.processes.items()},
            schemas=self.schemas,
            topic_prefix=self.prefix,
        )


@pytest.fixture(scope="module")
async def platform4(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform4]:
    p = Platform4(kafka_bootstrap, database_url, tmp_path_factory.mktemp("crash"))
    try:
        await asyncio.gather(*(proc.start(timeout=120) for proc in p.processes.values()))
        yield p
    finally:
        for proc in p.processes.values():
            proc.stop()
        conn = await asyncpg.connect(database_url)
        try:
            for schema in p.schemas.values():
                await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
        for s in SERVICES:  # shown by pytest when the test failed
            tail = (p.logs / f"{s}.log").read_bytes()[-1500:].decode(errors="replace")
            print(f"--- {s} log tail ---\n{tail}")


async def chaos(p: Platform4, stop: asyncio.Event, rng: random.Random, kills: list[tuple[float, str, float]]) -> None:
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


async def facts(ep: Endpoints) -> list[tuple[Any, Any]]:
    out = []
    for logical in ("intake.events", "housing.events", "payments.events"):
        for record in await read_records(ep.kafka, physical(logical, ep.topic_prefix), quiet_ms=2000):
            env = from_record(record.value, record.headers or (), record.key)
            out.append((env, decode(env)))
    return out


async def test_kill_9_during_the_scenario_loses_and_doubles_nothing(platform4: Platform4) -> None:
    cities = scaled(SCALE)
    rng = random.Random(SEED)
    stop = asyncio.Event()
    kills: list[tuple[float, str, float]] = []
    killer = asyncio.create_task(chaos(platform4, stop, rng, kills))
    try:
        truth = await driver.run(platform4.ep, cities=cities, seed=SEED, progress=print)
    finally:
        stop.set()
        await killer
    print(f"kills (at s, service, s to ready): {kills}")
    assert len(kills) >= 3, "too few crashes to mean anything"
    assert len({name for _, name, _ in kills}) >= 3

    # Reports equal the truth, as without faults.
    platform = Platform(platform4.ep, await provision(platform4.ep, {c.city: c.partners for c in cities}))
    try:
        bodies = await reports.caught_up(platform, truth, timeout=180)
    finally:
        await platform.close()
    for city, t in truth.cities.items():
        ind = bodies[city]["indicators"]
        assert ind["persons"]["total"] == t.persons
        assert ind["persons"]["minors"] == t.minors
        assert ind["households"]["total"] == t.households
        assert ind["cases"]["opened"] == t.cases_opened
        assert ind["cases"]["closed"] == t.cases_closed
        assert ind["placements"]["started"] == t.placements
        assert sum(ind["leases_by_type"].values()) == t.leases
        assert ind["contributions_paid"]["amount_cents"] == t.contributions_paid_cents

    # Facts on the topics: none doubled, none lost.
    records = await facts(platform4.ep)
    # A relay killed between sending and marking sent sends again (at least once): the same event, same id,
    # which every consumer's inbox absorbs. Facts are counted once per id; effects must be once per step.
    log = list({env.id: (env, e) for env, e in records}.values())
    print(f"{len(records)} fact records, {len(log)} distinct events ({len(records) - len(log)} redelivered)")
    doubled = Counter(
        (type(e).__name__, *(str(getattr(e, f)) for f in fields))
        for _, e in log
        for kind, fields in ONCE.items()
        if type(e) is kind
    )
    assert not {k: n for k, n in doubled.items() if n > 1}, "an effect was doubled"
    by_type = Counter(type(e).__name__ for _, e in log)
    assert by_type["CaseOpened"] == sum(t.households for t in truth.cities.values())
    assert by_type["CaseClosed"] == sum(t.cases_closed for t in truth.cities.values())
    assert by_type["PlacementStarted"] == sum(t.placements for t in truth.cities.values())
    assert by_type["LeaseSigned"] == sum(t.leases for t in truth.cities.values())
    assert by_type["PersonErased"] == 1

    # Inboxes: every fact reporting projects is in its inbox exactly once (the primary key makes a second row
    # impossible; a missing one is a lost event), and housing's and payments' inboxes hold each intake fact they
    # handle at most once per consumer (counted).
    projected = set(projector.handlers())
    conn = await asyncpg.connect(platform4.ep.database_url)
    try:
        inbox = {
            s: Counter(
                (r["consumer"], r["event_id"])
                for r in await conn.fetch(f'select consumer, event_id from "{platform4.schemas[s]}".inbox')
            )
            for s in SERVICES
        }
    finally:
        await conn.close()
    seen = {event_id for _, event_id in inbox["reporting"]}
    wanted = [inbox_id(env) for env, _ in log if env.type in projected]
    assert wanted
    missing = [i for i in wanted if i not in seen]
    assert not missing, f"{len(missing)} of {len(wanted)} facts never processed by reporting"
    for s in SERVICES:
        assert not [k for k, n in inbox[s].items() if n > 1], f"{s}: an event processed twice"
    print({s: len(rows) for s, rows in inbox.items()}, "inbox rows per service")
