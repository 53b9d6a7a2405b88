"""The auditors' replay at scale: >= 1,000,000 events of every kind the reporting projections read, written to
Kafka with a plain producer, then (in the same run) timed three ways over the very same records:

- raw:     aiokafka consumption from offset zero + json.loads of every record (the floor);
- replay:  the full replay (lgnet_reporting.service_layer.replay.rebuild): read + envelope/event validation +
           projection fold + COPY into a fresh schema's report tables;
- report:  the national report (suppressed) computed from the rebuilt tables, and its digest, twice (determinism).

    set -a; . .local/infra.env; set +a; .venv/bin/python bench/bench_reporting_replay.py

Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; BENCH_EVENTS (default 1000000), BENCH_RUNS (default 3),
BENCH_FACTS_AT (the facts' time, default 2025-01-01T09:00:00+00:00: see FACTS_AT; it no longer decides which facts
the replay judges — the topics this bench makes are broker-stamped, so every fact is),
BENCH_WORKERS (replay worker processes, default 2 as the replay command's default), BENCH_SIGNED (default 1: the
records are signed as the services' relays sign them, per partition, and the replay checks every signature against
the registered keys as `lgnet-replay` does; 0: unsigned records, no check, as this bench ran before the replay took
the live consumers' signature decisions).
Prints medians of the runs, events/s and the ratio replay/raw. Goal: >= 20,000 events/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import uuid_utils
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_reporting.adapters import log
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.service_layer import replay
from lgnet_reporting.service_layer.reports import Request, build, snapshot
from lgnet_shared import db
from lgnet_shared.cities import CITIES
from lgnet_shared.events import REGISTRY
from lgnet_shared.fact_signing import FactSigner
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.topics import TOPICS, ensure_topics, physical

N = int(os.environ.get("BENCH_EVENTS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SIGNED = os.environ.get("BENCH_SIGNED", "1") != "0"
# A national deployment's three writers (a national key may claim any city), as their relays sign.
SIGNERS = {s: FactSigner(os.urandom(32), "national", s, "national") for s in ("intake", "housing", "payments")}
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
START = date(2025, 1, 1)
SCHEMAS: list[str] = []  # rebuilt schemas, dropped at the end
PREFIX: list[str] = [""]  # the run's topic prefix (the replay's signature check reads logical topics)
AREAS = ("civic_engagement", "taking_charge", "housing_inclusion")
KINDS = ("private_rental", "sub_lease", "social_housing", "solidarity_cohousing", "hotel_room", "host_family")
NATIONS = ("MA", "NG", "PK", "AL", "TN", "SN", "EG", "BD", "UA", "PE")
# When the facts were made (their envelopes' `time`). A national replay judges which city owns each id (owned_ids)
# for every record the broker stamped (owned_ids.judged): the topics `ensure_topics` makes here are LogAppendTime
# (topics.Topic.broker_time), so every record of this bench is judged, whatever BENCH_FACTS_AT says — it times what
# a log of new facts costs. Before the stamps, facts made before owned_ids.JUDGED_FROM (this default) were not judged:
# the figures in docs/benchmarks.md up to 2026-12-07 04:10 for the default are of a log not judged.
FACTS_AT = datetime.fromisoformat(os.environ.get("BENCH_FACTS_AT", "2025-01-01T09:00:00+00:00")).isoformat()


def _envelope(rng: random.Random, etype: str, key: str, city: str, data: dict[str, Any]) -> tuple[str, bytes, bytes]:
    version = max(v for (t, v) in REGISTRY if t == etype)
    env = {
        "specversion": "1.0", "id": str(uuid_utils.uuid7()), "source": f"/lgnet/{etype.split('.')[1]}",
        "type": etype, "datacontenttype": "application/json", "dataschema": f"urn:lgnet:schema:{etype}:v{version}",
        "time": FACTS_AT, "city": city, "partitionkey": key, "data": data,
    }  # fmt: skip
    return f"{etype.split('.')[1]}.events", key.encode(), json.dumps(env).encode()


def household_events(rng: random.Random, n: int) -> list[tuple[str, bytes, bytes]]:
    """One household's story: about 15 events across intake, housing and payments."""
    city = CITIES[n % len(CITIES)]
    hh, case = f"h{n}", f"c{n}"
    members = [f"p{n}-{k}" for k in range(rng.randint(1, 4))]
    opened = START + timedelta(days=rng.randint(0, 500))
    d = opened.isoformat

    def day(offset: int) -> str:
        return (opened + timedelta(days=offset)).isoformat()

    out = [
        _envelope(
            rng,
            "lgnet.intake.household_formed",
            hh,
            city,
            {"household_id": hh, "city": city, "reference_person_id": members[0], "member_ids": members},
        )
    ]
    for k, pid in enumerate(members):
        born = date(1960 + rng.randint(0, 60), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
        out.append(
            _envelope(
                rng,
                "lgnet.intake.person_registered",
                pid,
                city,
                {
                    "person_id": pid,
                    "household_id": hh,
                    "registered_by": "desk",
                    "birth_date": born,
                    "sex": rng.choice(("female", "male")),
                    "nationality": rng.choice(NATIONS),
                    "third_country": True,
                },
            )
        )
        if k == 0:
            out.append(
                _envelope(
                    rng,
                    "lgnet.intake.employment_recorded",
                    pid,
                    city,
                    {"person_id": pid, "case_id": case, "status": rng.choice(("unemployed", "training")), "as_of": d()},
                )
            )
    out += [
        _envelope(rng, "lgnet.intake.referral_received", f"r{n}", city, {
            "referral_id": f"r{n}", "household_id": hh, "received_on": day(-3),
            "source": rng.choice(("social_district", "territory", "reception_exit"))}),
        _envelope(rng, "lgnet.intake.case_opened", case, city, {
            "case_id": case, "household_id": hh, "city": city, "action_area": rng.choice(AREAS),
            "channel": rng.choice(("desk", "mobile_unit")), "partner": "coop", "opened_on": d()}),
        _envelope(rng, "lgnet.intake.needs_assessed", case, city, {
            "case_id": case, "household_id": hh, "vulnerabilities": rng.sample(["eviction", "health", "addiction"], 1),
            "housing_situation": "precarious", "monthly_income_cents": 0, "employment_status": "unemployed",
            "assessed_on": day(2)}),
        _envelope(rng, "lgnet.housing.placement_started", hh, city, {
            "placement_id": f"pl{n}", "match_id": f"m{n}", "household_id": hh, "case_id": case,
            "opportunity_id": f"o{n}", "city": city, "kind": rng.choice(KINDS), "started_on": day(40)}),
        _envelope(rng, "lgnet.housing.lease_signed", hh, city, {
            "lease_id": f"l{n}", "placement_id": f"pl{n}", "household_id": hh, "case_id": case, "city": city,
            "lease_type": "lease", "monthly_rent_cents": 50000, "deposit_cents": 100000, "start_date": day(40),
            "signed_on": day(40)}),
        _envelope(rng, "lgnet.payments.contribution_paid", f"rq{n}", city, {
            "request_id": f"rq{n}", "batch_id": f"b{n // 100}", "case_id": case, "household_id": hh, "city": city,
            "kind": "deposit", "budget_line_id": f"bl-{city}-deposit", "amount_cents": 100000, "paid_on": day(45)}),
        _envelope(rng, "lgnet.payments.contribution_paid", f"rq{n}b", city, {
            "request_id": f"rq{n}b", "batch_id": f"b{n // 100}", "case_id": case, "household_id": hh, "city": city,
            "kind": "rent", "budget_line_id": f"bl-{city}-rent", "amount_cents": 50000, "paid_on": day(70)}),
        _envelope(rng, "lgnet.payments.voucher_issued", f"v{n}", city, {
            "voucher_id": f"v{n}", "household_id": hh, "case_id": case, "city": city, "kind": "public_transport",
            "value_cents": 5000, "budget_line_id": f"bl-{city}-voucher", "valid_until": day(400), "on": day(50)}),
        _envelope(rng, "lgnet.payments.voucher_redeemed", f"v{n}", city, {
            "voucher_id": f"v{n}", "provider_id": "transit", "amount_cents": 2500, "on": day(60)}),
    ]  # fmt: skip
    if rng.random() < 0.5:
        out.append(_envelope(rng, "lgnet.intake.case_closed", case, city, {
            "case_id": case, "outcome": "housing_autonomy", "closed_on": day(120)}))  # fmt: skip
    return out


def generate(n_events: int) -> list[tuple[str, bytes, bytes]]:
    rng = random.Random(7)
    out: list[tuple[str, bytes, bytes]] = []
    for city in CITIES:
        for line in ("deposit", "rent", "voucher"):
            out.append(_envelope(rng, "lgnet.payments.budget_allocated", f"bl-{city}-{line}", city, {
                "budget_line_id": f"bl-{city}-{line}", "city": city, "line": line, "amount_cents": 10**10,
                "on": "2025-01-01"}))  # fmt: skip
    n = 0
    while len(out) < n_events:
        out += household_events(rng, n)
        n += 1
    return out


Produced = tuple[str, int | None, bytes, bytes, list[tuple[str, bytes]]]  # topic, partition, key, value, headers


def signed(records: list[tuple[str, bytes, bytes]]) -> list[Produced]:
    """Each record as the relay publishes it: signed in batches of its topic's partition (one Ed25519 signature per
    FactSigner batch, a proof per record), by the service that writes the topic; unsigned when not SIGNED."""
    if not SIGNED:
        return [(topic, None, key, value, []) for topic, key, value in records]
    groups: dict[tuple[str, int], list[int]] = {}
    for i, (topic, key, _) in enumerate(records):
        groups.setdefault((topic, partition_of(key, TOPICS[topic].partitions) or 0), []).append(i)
    out: list[Produced | None] = [None] * len(records)
    for (topic, partition), rows in groups.items():
        batch = SIGNERS[topic.split(".")[0]].sign_batch([(records[i][2], []) for i in rows])
        for i, (value, header) in zip(rows, batch, strict=True):
            out[i] = (topic, partition, records[i][1], value, [header])
    return [o for o in out if o is not None]


async def produce(prefix: str, records: list[Produced]) -> float:
    producer = AIOKafkaProducer(**client_kwargs(BOOTSTRAP), linger_ms=20, max_batch_size=1024 * 1024,
                                compression_type=None, acks=1)  # fmt: skip
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for topic, partition, key, value, headers in records:
            pending.append(
                await producer.send(physical(topic, prefix), value, key=key, partition=partition, headers=headers)
            )
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw(positions: log.Positions) -> tuple[float, int]:
    """Baseline: the same records consumed from offset zero and JSON-decoded, nothing else."""
    consumer = AIOKafkaConsumer(**client_kwargs(BOOTSTRAP), isolation_level="read_committed",
                                enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)  # fmt: skip
    await consumer.start()
    targets = {TopicPartition(t, int(p)): o for t, ps in positions.items() for p, o in ps.items() if o > 0}
    started = time.perf_counter()
    count = 0
    try:
        consumer.assign(list(targets))
        await consumer.seek_to_beginning(*targets)
        pending = set(targets)
        while pending:
            got = await consumer.getmany(*pending, timeout_ms=1000, max_records=10000)
            for tp, rs in got.items():
                for r in rs:
                    if r.offset < targets[tp]:
                        json.loads(r.value)
                        count += 1
            for tp in list(pending):
                if await consumer.position(tp) >= targets[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return time.perf_counter() - started, count


async def replay_once(positions: log.Positions) -> tuple[float, replay.Timing, str]:
    schema = f"bench_replay_{uuid.uuid4().hex[:8]}"
    SCHEMAS.append(schema)
    pool = await db.create_pool(DB, schema, max_size=4)
    try:
        started = time.perf_counter()
        keys = ([signer.key for signer in SIGNERS.values()], PREFIX[0]) if SIGNED else None
        timing = await replay.rebuild(
            BOOTSTRAP, pool, positions, None, workers=WORKERS, database_url=DB, schema=schema, keys=keys
        )
        return time.perf_counter() - started, timing, schema
    finally:
        await pool.close()


async def drop(schema: str) -> None:
    conn = await asyncpg.connect(DB)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


async def main() -> None:
    prefix = f"benchreporting{uuid.uuid4().hex[:8]}."
    PREFIX[0] = prefix
    topics = await ensure_topics(BOOTSTRAP, prefix, ["intake.events", "housing.events", "payments.events"])
    try:
        await measure(prefix)
    finally:  # a million records: leave neither them on the shared broker nor the rebuilt schemas
        for schema in SCHEMAS:
            await drop(schema)
        admin = AIOKafkaAdminClient(**client_kwargs(BOOTSTRAP))
        await admin.start()
        try:
            await admin.delete_topics(topics)
        finally:
            await admin.close()


async def measure(prefix: str) -> None:
    t0 = time.perf_counter()
    records = signed(generate(N))
    gen_s = time.perf_counter() - t0
    produce_s = await produce(prefix, records)
    print(f"generated {len(records):,} events{' signed' if SIGNED else ''} in {gen_s:.1f}s; produced in "
          f"{produce_s:.1f}s ({len(records) / produce_s:,.0f}/s)", flush=True)  # fmt: skip
    del records
    topics = [physical(t, prefix) for t in ("intake.events", "housing.events", "payments.events")]
    positions = await log.end_positions(BOOTSTRAP, topics)
    total = sum(o for ps in positions.values() for o in ps.values())
    raws, replays, folds, loads = [], [], [], []
    for run in range(RUNS):
        raw_s, count = await raw(positions)
        assert count == total, (count, total)
        replay_s, timing, _ = await replay_once(positions)
        assert timing.folded.records == total and timing.folded.applied == total, timing.as_dict()
        raws.append(raw_s)
        replays.append(replay_s)
        folds.append(timing.read_fold_s)
        loads.append(timing.load_s)
        print(
            f"run {run + 1}: raw {total / raw_s:,.0f} ev/s ({raw_s:.1f}s); replay {total / replay_s:,.0f} ev/s"
            f" ({replay_s:.1f}s = read+fold {timing.read_fold_s:.1f}s + COPY {timing.load_s:.1f}s)",
            flush=True,
        )
    digests = []
    report_s = 0.0
    for schema in SCHEMAS[:2]:
        pool = await db.create_pool(DB, schema, max_size=2)
        try:
            async with pool.acquire() as conn:
                _, facts = await snapshot(conn)
            t = time.perf_counter()
            digests.append(digest(build(facts, Request("national", "national", Window(date(2026, 6, 30))), 5)))
            report_s = time.perf_counter() - t
        finally:
            await pool.close()
    raw_m, replay_m = statistics.median(raws), statistics.median(replays)
    print(json.dumps({
        "events": total, "runs": RUNS, "workers": WORKERS, "signed": SIGNED,
        "raw_events_per_s": round(total / raw_m), "replay_events_per_s": round(total / replay_m),
        "ratio_replay_to_raw": round(raw_m / replay_m, 3),
        "median_seconds": {"raw": round(raw_m, 2), "replay": round(replay_m, 2),
                           "read_and_fold": round(statistics.median(folds), 2),
                           "copy": round(statistics.median(loads), 2)},
        "national_report_seconds": round(report_s, 2), "replays_identical": len(set(digests)) == 1,
        "goal_20k_met": total / replay_m >= 20000,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
