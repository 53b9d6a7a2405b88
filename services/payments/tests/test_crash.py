"""Kill the payments process (SIGKILL) in the middle of a batch and of a reconciliation, restart it, and check
the invariants: the cut-off transaction left nothing behind, the retry pays everyone exactly once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from invariants import check
from lgnet_payments.service_layer import budgets, contributions
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_shared import clock, db, pii
from lgnet_shared.access import Actor, Role
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.topics import physical
from payments_testkit import CITY_IBAN, GOOD_IBAN, a_month, csv_file, provision

N = 400
ANNA, BRUNO = Actor("anna", Role.STAFF, "torino"), Actor("bruno", Role.STAFF, "torino")


@pytest.fixture
async def crashable(
    kafka_bootstrap: str, database_url: str, pg_schema: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[ServiceProcess, Any, dict[str, str], pii.KeyStore]]:
    master = os.urandom(32)
    pool = await db.create_pool(database_url, pg_schema)
    tokens = await provision(pool)
    env = service_env(
        kafka_bootstrap, database_url, pg_schema, topic_prefix, master_key=base64.b64encode(master).decode()
    )
    process = ServiceProcess([sys.executable, "-m", "lgnet_payments.entrypoints.main"], env, tmp_path / "payments.log")
    await process.start()
    await process.check_answers()
    try:
        yield process, pool, tokens, pii.KeyStore(master)
    finally:
        process.stop()
        await pool.close()


async def kill_while(process: ServiceProcess, pool: Any, later: str, call: Any) -> None:
    """Start `call` and SIGKILL the process while its transaction is provably in progress: the test holds a lock
    on table `later`, which the service's transaction needs after it has locked its rows and written some of
    its changes; once the service waits for that lock, the process is killed. Its transaction can never commit
    (the COMMIT would have come from the process)."""
    async with pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute(f"lock table {later} in exclusive mode")
        task = asyncio.create_task(call)
        try:
            for _ in range(3000):
                async with pool.acquire() as conn:
                    waiting = await conn.fetchval(
                        "select count(*) from pg_locks where relation = $1::regclass and not granted", later
                    )
                if waiting:
                    process.kill()
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail(f"the service's transaction never reached {later}")
        finally:
            await tx.rollback()
    with pytest.raises(httpx.HTTPError):  # cut off: no answer
        await task


async def test_kill_mid_batch_and_mid_reconciliation(
    crashable: tuple[ServiceProcess, Any, dict[str, str], pii.KeyStore], topic_prefix: str, kafka_bootstrap: str
) -> None:
    process, pool, tokens, keys = crashable
    async with pool.acquire() as conn:
        await conn.execute("insert into cases values ('c1', 'h1', 'torino', 'coop', $1, null)", clock.today())

    async def unit(actor: Actor, run: Any) -> Any:
        async with pool.acquire() as conn, conn.transaction():
            return await run(UnitOfWork(conn, keys), Context(actor, clock.today()))

    await unit(
        ANNA,
        lambda u, c: budgets.set_policy(u, c, "torino", cmd.SetPolicy(debtor_name="Torino", debtor_iban=CITY_IBAN)),
    )
    await unit(ANNA, lambda u, c: budgets.allocate(u, c, cmd.AllocateBudget(line="rent", amount_cents=N * 10_000)))
    for _ in range(N):
        body = cmd.RequestContribution(
            case_id="c1",
            kind="rent",
            amount_cents=10_000,
            **a_month(),
            beneficiary=cmd.Beneficiary(name="Ada", iban=GOOD_IBAN),
        )
        view = await unit(BRUNO, lambda u, c, b=body: contributions.request_contribution(u, c, b))
        await unit(ANNA, lambda u, c, r=view["request_id"]: contributions.approve(u, c, r))

    def client() -> httpx.AsyncClient:
        return process.client(tokens["anna"], timeout=60)

    batch_key = {"Idempotency-Key": str(uuid.uuid4())}
    async with client() as anna:
        await kill_while(process, pool, "batches", anna.post("/batches", json={}, headers=batch_key))
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from batches") == 0  # the cut-off batch left nothing
        assert await conn.fetchval("select count(*) from payments") == 0
        await check(conn)

    await process.start()  # restart
    async with client() as anna:
        batch = await anna.post("/batches", json={}, headers=batch_key)  # the operator retries with the same key
        assert batch.status_code == 201, batch.text
        assert batch.json()["payments"] == N
        payments = (await anna.get(f"/batches/{batch.json()['batch_id']}")).json()["payments"]
        statement = csv_file([(p["payment_id"], "paid", 10_000, "") for p in payments])
        upload = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "text/csv"}
        reconcile = anna.post("/reconciliations", content=statement, headers=upload)
        await kill_while(process, pool, "ledger_transactions", reconcile)
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from payments where status = 'sent'") == N  # nothing applied
        await check(conn)

    await process.start()
    async with client() as anna:
        r = await anna.post("/reconciliations", content=statement, headers=upload)  # retried with the same key
        assert r.json() == {"paid": N, "failed": 0, "unchanged": 0}, r.text
        again = await anna.post("/reconciliations", content=statement, headers={**upload, "Idempotency-Key": "x"})
        assert again.json() == {"paid": 0, "failed": 0, "unchanged": N}
        assert problem_status(await anna.post("/batches", json={}, headers={"Idempotency-Key": "y"})) == 409
    async with pool.acquire() as conn:
        counts = await check(conn)
        assert counts["paid"] == N
        lines = await conn.fetch("select available_cents from budget_lines")
        assert [r["available_cents"] for r in lines] == [0]

    # On Kafka: exactly one contribution_paid event (by id) per request, whatever the relay re-sent.
    paid: dict[str, set[str]] = {}
    consumer = AIOKafkaConsumer(
        physical("payments.events", topic_prefix), **client_kwargs(kafka_bootstrap), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        for _ in range(100):
            batch_ = await consumer.getmany(timeout_ms=500)
            for rs in batch_.values():
                for r in rs:
                    env = json.loads(r.value)
                    if env["type"] == "lgnet.payments.contribution_paid":
                        paid.setdefault(env["data"]["request_id"], set()).add(env["id"])
            if len(paid) == N and not batch_:
                break
    finally:
        await consumer.stop()
    assert len(paid) == N and all(len(ids) == 1 for ids in paid.values())


def problem_status(resp: httpx.Response) -> int:
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.status_code
