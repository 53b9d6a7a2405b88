"""Voucher providers are never paid twice for one redemption (issue #17), whatever is redelivered, retried, run
concurrently, cut off by a crash or failed by the bank (hypothesis, real PostgreSQL).

Each example gets a fresh schema with two providers (approved bank data) and vouchers. A round runs its
operations concurrently, each on its own connection: redemptions (also the same redemption again), reimbursement
runs (each writes a SEPA file), the bank's results (paid or failed, the same again, or the opposite for one already
settled), and crashes (the pool is terminated under the running operations and a new one opened).
After every round: no redemption is in two live reimbursements, none is paid twice, the ledger agrees with the
reimbursements, and each reimbursement's SEPA file pays exactly it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import asyncpg
import pytest
from crash_world import CrashWorld, Op
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lgnet_payments.adapters import sepa
from lgnet_payments.domain.reconciliation import BankResult
from lgnet_payments.service_layer import budgets, disbursement, reimbursements, vouchers
from lgnet_payments.service_layer import commands as cmd
from lgnet_shared import clock, outbox
from lgnet_shared.access import Actor, Role
from lgnet_shared.events import payments as ev
from lgnet_shared.ids import new_id
from lxml import etree
from payments_testkit import CITY_IBAN, GOOD_IBAN

ANNA, BRUNO = Actor("anna", Role.STAFF, "torino"), Actor("bruno", Role.STAFF, "torino")
PROVIDERS = ("gtt", "coop-bus")
OTHER_IBANS = ("GB33BUKB20201555555555", "IT60X0542811101000000123456")
ops = st.one_of(
    st.tuples(st.just("redeem"), st.integers(0, 5), st.sampled_from(PROVIDERS), st.integers(1, 900)),
    st.tuples(st.just("run")),
    # (which reimbursement, paid?, the reason of a failure: the provider's account's, which holds it until other bank
    # data are approved, or not, which the next run reimburses again)
    st.tuples(st.just("bank"), st.integers(0, 20), st.booleans(), st.sampled_from(["ac04", "ms03"])),
    st.tuples(st.just("crash"), st.integers(0, 30)),
)
rounds = st.lists(st.lists(ops, min_size=1, max_size=4), min_size=3, max_size=8)


class World(CrashWorld):
    async def setup(self) -> None:
        await self.open()
        async with self.pool.acquire() as conn:
            await conn.execute("insert into cases values ('c1', 'h1', 'torino', 'coop', $1, null)", clock.today())
        policy = cmd.SetPolicy(debtor_name="Torino", debtor_iban=CITY_IBAN)
        await self.unit(ANNA, lambda u, c: budgets.set_policy(u, c, "torino", policy))
        line = cmd.AllocateBudget(line="voucher_public_transport", amount_cents=1_000_000)
        await self.unit(ANNA, lambda u, c: budgets.allocate(u, c, line))
        for pid in PROVIDERS:
            reg = cmd.RegisterProvider(provider_id=pid, name=pid.upper(), kinds=["public_transport"], iban=GOOD_IBAN)
            await self.unit(ANNA, partial(vouchers.register_provider, c=reg))
            await self.unit(BRUNO, partial(vouchers.approve_provider_bank_data, provider_id=pid))
        issue = cmd.IssueVoucher(case_id="c1", kind="public_transport", value_cents=100_000, valid_until=clock.today())
        for _ in range(3):
            await self.unit(ANNA, lambda u, c: vouchers.issue(u, c, issue))

    async def _run(self, op: Op) -> None:
        kind = op[0]
        if kind == "redeem":
            async with self.pool.acquire() as conn:
                voucher_ids = [r[0] for r in await conn.fetch("select voucher_id from vouchers order by 1")]
            voucher_id = voucher_ids[op[1] % len(voucher_ids)]
            # op[1] names the redemption: the same number again is the provider's retry of the same redemption
            body = cmd.Redeem(redemption_id=f"red-{op[1]}-{op[2]}", provider_id=op[2], amount_cents=op[3])
            await self.unit(ANNA, lambda u, c: vouchers.redeem(u, c, voucher_id, body))
        elif kind == "run":
            await self.unit(ANNA, lambda u, c: reimbursements.run(u, c))
        elif kind == "bank":
            async with self.pool.acquire() as conn:
                sent = await conn.fetch("select end_to_end_id, amount_cents from reimbursements order by batch_id")
            if sent:
                r = sent[op[1] % len(sent)]
                reason = None if op[2] else (op[3] if len(op) > 3 else "ms03")
                result = BankResult(r["end_to_end_id"], paid=op[2], reason=reason, amount_cents=r["amount_cents"])
                await self.unit(ANNA, lambda u, c: disbursement.reconcile(u, c, [result]))


async def check(conn: Any) -> dict[str, int]:
    twice = await conn.fetch(
        "select redemption_id from reimbursement_items i join reimbursements r on r.batch_id = i.reimbursement_id"
        " where r.status <> 'failed' group by redemption_id having count(*) > 1"
    )
    assert not twice, f"a redemption in two live reimbursements: {twice}"
    paid_twice = await conn.fetch(
        "select redemption_id from reimbursement_items i join reimbursements r on r.batch_id = i.reimbursement_id"
        " where r.status = 'paid' group by redemption_id having count(*) > 1"
    )
    assert not paid_twice, f"a redemption paid twice: {paid_twice}"
    # Every item agrees with its reimbursement; a live one is the redemption's current reimbursement.
    wrong = await conn.fetch(
        "select i.* from reimbursement_items i join reimbursements r on r.batch_id = i.reimbursement_id"
        " join voucher_redemptions x using (redemption_id)"
        " where i.failed <> (r.status = 'failed') or (not i.failed and x.reimbursement_id is distinct from r.batch_id)"
        " or i.amount_cents <> x.amount_cents"
    )
    assert not wrong, wrong
    totals = await conn.fetch(
        "select r.batch_id from reimbursements r join reimbursement_items i on r.batch_id = i.reimbursement_id"
        " group by r.batch_id, r.amount_cents having sum(i.amount_cents) <> r.amount_cents"
    )
    assert not totals, totals
    # The ledger: what was paid to providers is what the paid reimbursements say; what is in transit, the sent.
    ledger = {
        r["account"]: r["total"]
        for r in await conn.fetch(
            "select account, sum(amount_cents) as total from ledger_postings where provider_id is not null"
            " group by account"
        )
    }
    by_status = {
        r["status"]: r["total"]
        for r in await conn.fetch("select status, sum(amount_cents) as total from reimbursements group by status")
    }
    redeemed = await conn.fetchval("select coalesce(sum(amount_cents), 0) from voucher_redemptions")
    assert ledger.get("disbursed", 0) == by_status.get("paid", 0)
    assert ledger.get("in_transit", 0) == by_status.get("sent", 0)
    assert ledger.get("provider_payable", 0) == redeemed - by_status.get("paid", 0) - by_status.get("sent", 0)
    # Each run's stored file pays exactly its reimbursements, to the approved IBAN.
    for f in await conn.fetch(
        "select batch_id, content, pain_version from payment_files where purpose = 'reimbursements'"
    ):
        version = sepa.PainVersion(f["pain_version"])
        assert sepa.validate(f["content"], version) > 0
        ns = {"p": version.namespace}
        lines = {
            (tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns), tx.findtext("p:Amt/p:InstdAmt", namespaces=ns))
            for tx in etree.fromstring(f["content"]).iterfind(".//p:CdtTrfTxInf", ns)
        }
        rows = await conn.fetch(
            "select end_to_end_id, amount_cents from reimbursements where run_id = $1", f["batch_id"]
        )
        assert lines == {
            (r["end_to_end_id"], f"{r['amount_cents'] // 100}.{r['amount_cents'] % 100:02d}") for r in rows
        }
    return {k: int(v) for k, v in by_status.items()}


@pytest.mark.timeout(240)
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=rounds)
async def test_a_provider_is_never_paid_twice_for_one_redemption(database_url: str, plan: list[list[Op]]) -> None:
    world = World(database_url)
    try:
        await world.setup()
        await world.play(plan, check)
        # Finally: run and let the bank pay everything sent (retrying, as an operator would); all is paid once. A
        # provider whose account refused a reimbursement gets other bank data first, approved by someone else.
        for n, pid in enumerate(PROVIDERS):
            body = cmd.ProviderBankData(iban=OTHER_IBANS[n])
            await world.unit(ANNA, partial(vouchers.change_provider_bank_data, provider_id=pid, c=body))
            await world.unit(BRUNO, partial(vouchers.approve_provider_bank_data, provider_id=pid))
        for _ in range(2):
            await world.run(("run",))
            for n in range(30):
                await world.run(("bank", n, True))
        async with world.pool.acquire() as conn:
            counts = await check(conn)
            unpaid = await conn.fetchval(
                "select count(*) from voucher_redemptions x where not exists (select 1 from reimbursement_items i"
                " join reimbursements r on r.batch_id = i.reimbursement_id where i.redemption_id = x.redemption_id"
                " and r.status = 'paid')"
            )
        event(f"paid: {min(counts.get('paid', 0), 5)}+, failed: {min(counts.get('failed', 0), 3)}+")
        assert unpaid == 0  # nothing a crash or a bank failure cut off is left unpaid
    finally:
        await world.close()


async def test_the_database_itself_refuses_a_second_live_reimbursement(database_url: str) -> None:
    world = World(database_url)
    try:
        await world.setup()
        await world.run(("redeem", 0, "gtt", 500))
        await world.unit(ANNA, lambda u, c: reimbursements.run(u, c))
        async with world.pool.acquire() as conn:
            rid = await conn.fetchval("select batch_id from reimbursements")
            await conn.execute(
                "insert into reimbursements (batch_id, provider_id, city, amount_cents, on_date, end_to_end_id)"
                " values ('r2', 'gtt', 'torino', 500, $1, 'r2')",
                clock.today(),
            )
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    "insert into reimbursement_items select 'r2', redemption_id, amount_cents from reimbursement_items"
                    " where reimbursement_id = $1",
                    rid,
                )
    finally:
        await world.close()


async def test_a_providers_many_redemptions_are_reimbursed_in_transfers_whose_facts_the_broker_takes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reimbursement's `provider_reimbursed` fact names every voucher it pays: a provider's month of redemptions in
    a large city (some 25,000 vouchers) made a fact over the 900 KiB a fact may be, refused when the bank's result
    was booked — the money paid, and the payment never recorded. A provider's redemptions are reimbursed in
    transfers of at most `MAX_REDEMPTIONS` each (here 2, for 5 redemptions of 3 vouchers)."""
    largest = ev.ProviderReimbursed(
        batch_id=new_id(), provider_id="gtt", city="torino", amount_cents=1, on=clock.today(),
        voucher_ids=[new_id() for _ in range(reimbursements.MAX_REDEMPTIONS)],
    )  # fmt: skip
    assert len(largest.model_dump_json()) < outbox.MAX_FACT_BYTES / 2
    monkeypatch.setattr(reimbursements, "MAX_REDEMPTIONS", 2)
    world = World(database_url)
    try:
        await world.setup()
        for n in range(5):
            await world.run(("redeem", n, "gtt", 100 * (n + 1)))
        answer = await world.unit(ANNA, lambda u, c: reimbursements.run(u, c))
        assert sorted(r["amount_cents"] for r in answer["reimbursements"]) == [300, 500, 700]  # 100+200, 300+400, 500
        async with world.pool.acquire() as conn:
            sizes = await conn.fetch(
                "select count(*) as n from reimbursement_items group by reimbursement_id order by 1"
            )
            sent = await conn.fetch("select end_to_end_id, amount_cents from reimbursements")
        assert [r["n"] for r in sizes] == [1, 2, 2]
        results = [BankResult(r["end_to_end_id"], paid=True, amount_cents=r["amount_cents"]) for r in sent]
        await world.unit(ANNA, lambda u, c: disbursement.reconcile(u, c, results))
        async with world.pool.acquire() as conn:
            paid = await conn.fetchval("select count(*) from reimbursements where status = 'paid'")
        assert paid == 3
    finally:
        await world.close()


async def test_each_provider_numbers_its_own_redemptions(database_url: str) -> None:
    """A payments officer's review: a provider's `redemption_id` is "the provider's own id" (docs/payments.md), yet
    GTT's redemption "1" made the bus cooperative's own "1" fail (409 "already used for a different redemption"):
    ids were one namespace for every provider. Each provider's are its own: both redemptions count, a provider's
    retry still counts once, and each provider is reimbursed its own, once."""
    world = World(database_url)
    try:
        await world.setup()
        async with world.pool.acquire() as conn:
            voucher_id = await conn.fetchval("select voucher_id from vouchers order by 1 limit 1")
        for pid, amount in (("gtt", 500), ("coop-bus", 700), ("gtt", 500)):  # the last: GTT's retry
            body = cmd.Redeem(redemption_id="1", provider_id=pid, amount_cents=amount)
            seen = await world.unit(ANNA, partial(vouchers.redeem, voucher_id=voucher_id, c=body))
        assert seen["remaining_cents"] == 100_000 - 1_200, seen
        assert sorted((r["provider_id"], r["redemption_id"]) for r in seen["redemptions"]) == [
            ("coop-bus", "1"),
            ("gtt", "1"),
        ]
        await world.run(("run",))
        for n in range(4):
            await world.run(("bank", n, True))
        async with world.pool.acquire() as conn:
            await check(conn)
            paid = dict(await conn.fetch("select provider_id, amount_cents from reimbursements where status = 'paid'"))
        assert paid == {"gtt": 500, "coop-bus": 700}, paid
    finally:
        await world.close()


async def test_a_reimbursement_returned_after_it_was_booked_paid_is_reimbursed_again_once(database_url: str) -> None:
    """As a contribution's transfer: a provider's reimbursement the bank returns after it was booked paid (its
    account closed) was a conflict (409 "already paid") that refused the whole statement. It is failed, its money
    back from `disbursed` to what is owed the provider, and the next run reimburses it, once."""
    world = World(database_url)
    try:
        await world.setup()
        await world.run(("redeem", 0, "gtt", 500))
        await world.run(("run",))
        assert await world.run(("bank", 0, True)) == "ok"
        assert await world.run(("bank", 0, False, "ms03")) == "ok"  # the return, days later
        async with world.pool.acquire() as conn:
            assert await conn.fetchval("select status from reimbursements") == "failed"
            await check(conn)
        await world.run(("run",))
        for n in range(2):
            await world.run(("bank", n, True))
        async with world.pool.acquire() as conn:
            await check(conn)
            statuses = sorted(r[0] for r in await conn.fetch("select status from reimbursements"))
            disbursed = await conn.fetchval(
                "select sum(amount_cents) from ledger_postings where account = 'disbursed' and provider_id = 'gtt'"
            )
        assert statuses == ["failed", "paid"] and disbursed == 500, (statuses, disbursed)
    finally:
        await world.close()
