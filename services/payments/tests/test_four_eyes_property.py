"""Four eyes on bank data (issue #23), as a property (hypothesis, real PostgreSQL, a fresh schema per example).

Random sequences of: requests (with or without bank data) by random actors, approvals, changes of the payee's
name/IBAN/BIC and rejections by random actors (staff and the case's partner), batches, the bank paying or returning
payments, and new batches paying the returned ones again. The test keeps its own record of who set which bank
data and who approved what, from the operations that succeeded, and asserts:

- every line of every pain.001 file goes to exactly the bank data that was current when the request was finally
  approved, and the file holds exactly the requests the record says are approved and unpaid;
- nobody approves bank data they set or last changed, nor their own request: so at least two different people
  stand behind every line (whoever set the bank data and an approver who did not), and above the city's threshold
  two different approvers, neither of them the one who last changed the bank data nor the requester;
- a change of bank data is refused while the request is batched, paid or rejected, and withdraws every approval
  otherwise; the payments invariants (paid once, budget, ledger) hold after every operation.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from invariants import check
from lgnet_payments.adapters import sepa
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.domain.reconciliation import BankResult
from lgnet_payments.service_layer import budgets, contributions, disbursement
from lgnet_payments.service_layer import commands as cmd
from lgnet_payments.service_layer.context import Context, UnitOfWork
from lgnet_shared import clock, db, pii
from lgnet_shared.access import Actor, Role
from lgnet_shared.errors import Conflict, ContractError
from lgnet_shared.service import all_migrations
from lgnet_shared.testing import schema_pool
from payments_testkit import CITY_IBAN, a_month
from schwifty import IBAN

THRESHOLD = 50_000
ACTORS = {
    "anna": Actor("anna", Role.STAFF, "torino"),
    "bruno": Actor("bruno", Role.STAFF, "torino"),
    "carla": Actor("carla", Role.STAFF, "torino"),
    "coop": Actor("coop", Role.PARTNER, "torino"),  # the case's partner: requests and sets bank data, never approves
}
NAMES = ["Ada Landlord", "Bea Owner", "Mallory"]
IBANS = [str(IBAN.generate("DE", bank_code="37040044", account_code=f"05320130{n:02d}").compact) for n in range(4)]
BICS = [None, "COBADEFFXXX"]
KEYS = pii.KeyStore(b"k" * 32)
NS = {"p": sepa.NS}
Line = tuple[str, str | None, str | None, str | None]  # request, creditor name, IBAN, BIC: a line of a pain.001

actor = st.sampled_from(sorted(ACTORS))
request = st.tuples(
    st.just("request"),
    actor,
    st.sampled_from([20_000, 60_000]),  # below and above the threshold
    st.none() | st.tuples(st.integers(0, 2), st.integers(0, 3)) | st.tuples(st.integers(0, 2), st.integers(0, 3)),
)
approve = st.tuples(st.just("approve"), st.integers(0, 4), actor)
change = st.tuples(
    st.just("change"), st.integers(0, 4), actor, st.integers(0, 2), st.integers(0, 3), st.sampled_from(BICS)
)
reject = st.tuples(st.just("reject"), st.integers(0, 4), actor)
batch = st.tuples(st.just("batch"), actor)
bank = st.tuples(st.just("bank"), st.integers(0, 4), st.booleans())  # paid, or returned (the next batch pays again)
# Weighted by repetition: approvals are what the rule is about, rejections end a request's story.
ops = st.one_of(*[request] * 3, *[approve] * 6, *[change] * 3, reject, *[batch] * 2, *[bank] * 2)


@dataclass
class Record:
    """What the test knows of one request, from the operations that succeeded."""

    requester: str
    amount: int
    data: tuple[str, str, str | None] | None = None  # (name, iban, bic)
    setter: str | None = None
    status: str = "requested"
    approvals: list[str] = field(default_factory=list)  # of the current bank data (a first approval of two)
    approved: tuple[tuple[str, str, str | None] | None, str | None, list[str]] | None = (
        None  # (data, setter, approvers)
    )
    ever_approved: bool = False  # some bank data of it was approved once: a later change is marked as such


@dataclass
class World:
    url: str
    schema: str
    pool: Any = None
    records: dict[str, Record] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    lines: int = 0
    swapped: int = 0
    files: dict[str, list[Line]] = field(default_factory=dict)  # batch -> its lines as sent

    def waiting(self) -> set[str]:
        return {r for r, rec in self.records.items() if rec.status == "approved" and rec.approved and rec.approved[0]}

    async def unit(self, who: str, run: Any) -> Any:
        async with self.pool.acquire() as conn, conn.transaction():
            return await run(UnitOfWork(conn, KEYS), Context(ACTORS[who], clock.today()))

    async def setup(self) -> None:
        self.pool = await db.create_pool(self.url, self.schema, max_size=4)
        await db.migrate(self.pool, all_migrations(MIGRATIONS))
        async with self.pool.acquire() as conn:
            await conn.execute("insert into cases values ('c1', 'h1', 'torino', 'coop', $1, null)", clock.today())
        policy = cmd.SetPolicy(second_approval_threshold_cents=THRESHOLD, debtor_name="Torino", debtor_iban=CITY_IBAN)
        await self.unit("anna", lambda u, c: budgets.set_policy(u, c, "torino", policy))
        line = cmd.AllocateBudget(line="rent", amount_cents=10_000_000)
        await self.unit("anna", lambda u, c: budgets.allocate(u, c, line))

    def pick(self, n: int) -> str | None:
        return self.order[-1 - n % len(self.order)] if self.order else None  # n-th most recent request

    async def run(self, op: tuple[Any, ...]) -> str:
        try:
            await self._run(op)
            return "ok"
        except ContractError:  # Forbidden and Conflict are ContractErrors too
            return "refused"

    async def _run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "request":
            _, who, amount, bank = op
            data = None if bank is None else (NAMES[bank[0]], IBANS[bank[1]], None)
            body = cmd.RequestContribution(
                case_id="c1",
                kind="rent",
                amount_cents=amount,
                **a_month(),
                beneficiary=None if data is None else cmd.Beneficiary(name=data[0], iban=data[1]),
            )
            view = await self.unit(who, lambda u, c: contributions.request_contribution(u, c, body))
            self.records[view["request_id"]] = Record(who, amount, data, who if data else None)
            self.order.append(view["request_id"])
        elif kind == "approve":
            await self._approve(op[1], op[2])
        elif kind == "change":
            await self._change(*op[1:])
        elif kind == "reject":
            rid = self.pick(op[1])
            if rid is None:
                return
            await self.unit(op[2], lambda u, c: contributions.reject(u, c, rid, cmd.Reject(reason="not_eligible")))
            rec = self.records[rid]
            assert rec.status == "requested" and ACTORS[op[2]].role is Role.STAFF, rec
            rec.status = "rejected"
        elif kind == "batch":
            try:
                made = await self.unit(op[1], lambda u, c: disbursement.create_batch(u, c, cmd.CreateBatch()))
            except Conflict:  # nothing to pay: nothing the record says is approved with approved bank data
                assert not self.waiting(), self.waiting()
                raise
            self.files[made["batch_id"]] = await self._check_file(made["batch_id"])
        elif kind == "bank":
            async with self.pool.acquire() as conn:
                sent = await conn.fetch(
                    "select payment_id, request_id, amount_cents from payments where status = 'sent' order by 1"
                )
            if not sent:
                return
            p = sent[op[1] % len(sent)]
            paid = op[2]
            # a failure that is not the payee's account's (which waits for new bank data: test_payment_files.py)
            result = BankResult(p["payment_id"], paid=paid, reason=None if paid else "ms03", amount_cents=p[2])
            await self.unit("anna", lambda u, c: disbursement.reconcile(u, c, [result]))
            self.records[p["request_id"]].status = "paid" if paid else "approved"

    async def _approve(self, n: int, who: str) -> None:
        rid = self.pick(n)
        if rid is None:
            return
        rec = self.records[rid]
        view = await self.unit(who, lambda u, c: contributions.approve(u, c, rid))
        # Allowed only to the city's staff, on a requested request, by nobody who set its bank data or asked for it
        assert ACTORS[who].role is Role.STAFF and rec.status == "requested", (who, rec)
        assert who not in (rec.setter, rec.requester), f"{who} approved bank data set by {rec.setter}: {rec}"
        assert who not in rec.approvals, f"{who} approved twice: {rec}"
        rec.approvals.append(who)
        if view["status"] == "approved":
            assert len(rec.approvals) == (2 if rec.amount > THRESHOLD else 1), rec
            rec.status, rec.approved, rec.approvals = "approved", (rec.data, rec.setter, rec.approvals), []
            rec.ever_approved = True
        else:
            assert rec.amount > THRESHOLD and len(rec.approvals) == 1, rec

    async def _change(self, n: int, who: str, name: int, iban: int, bic: str | None) -> None:
        rid = self.pick(n)
        if rid is None:
            return
        rec = self.records[rid]
        data = (NAMES[name], IBANS[iban], bic)
        body = cmd.Beneficiary(name=data[0], iban=data[1], bic=bic)
        before = rec.status
        try:
            view = await self.unit(who, lambda u, c: contributions.set_beneficiary(u, c, rid, body))
        except Conflict:  # refused because of the request's state: only batched, paid, rejected
            if before not in ("batched", "paid", "rejected") or data == rec.data:
                raise AssertionError(f"a change refused on a {before} request: {rec}") from None
            event("change refused: " + before)
            raise
        if data == rec.data:
            assert view["status"] == before  # the same data again changes nothing
            return
        assert before in ("requested", "approved"), rec
        assert view["status"] == "requested" and view["bank_data_changed_by"] == who
        assert view["iban_masked"] == "••••" + data[1][-4:]
        # Marked while the bank data differs from the last approved version: a second change keeps the mark.
        assert view["bank_data_changed_since_approval"] is rec.ever_approved
        rec.data, rec.setter, rec.status, rec.approvals, rec.approved = data, who, "requested", [], None
        event(f"changed after approval: {before == 'approved'}")

    async def settle(self, change: Any) -> None:
        """For every request: `change(rid)` (an op with the request's id in place of its index, or None), then
        approvals by every staff member in turn, then a batch."""
        for rid in list(self.order):
            op = change(rid)
            if op is not None:
                n = len(self.order) - 1 - self.order.index(rid)
                swapped = self.records[rid].status == "approved"
                if await self.run((op[0], n, *op[2:])) == "ok" and swapped and self.records[rid].setter == op[2]:
                    self.swapped += 1
            for who in ("anna", "bruno", "carla"):
                await self.run(("approve", len(self.order) - 1 - self.order.index(rid), who))
        await self.run(("batch", "anna"))

    async def lines_of(self, batch_id: str) -> list[Line]:
        """(request, creditor name, IBAN, BIC) of every line of the batch's pain.001, in file order."""
        async with self.pool.acquire() as conn:
            request_of = dict(
                await conn.fetch("select payment_id, request_id from payments where batch_id = $1", batch_id)
            )
        xml = await self.unit("anna", lambda u, c: disbursement.pain001(u, c, batch_id))
        return [
            (
                request_of[tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS)],
                tx.findtext("p:Cdtr/p:Nm", namespaces=NS),
                tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
                tx.findtext("p:CdtrAgt/p:FinInstnId/p:BICFI", namespaces=NS),
            )
            for tx in ET.fromstring(xml).iterfind(".//p:CdtTrfTxInf", NS)
        ]

    async def _check_file(self, batch_id: str) -> list[Line]:
        """Every line of the batch's pain.001 pays the approved bank data of an approved request, approved by
        people who neither set that data nor asked for the money; and every such request is in it."""
        lines = await self.lines_of(batch_id)
        async with self.pool.acquire() as conn:
            in_batch = await conn.fetchval("select count(*) from payments where batch_id = $1", batch_id)
        assert len(lines) == in_batch >= 1
        for rid, *line in lines:
            rec = self.records[rid]
            assert rec.status == "approved" and rec.approved is not None, rec
            data, setter, approvers = rec.approved
            assert data is not None, rec  # nothing without bank data is ever batched
            assert tuple(line) == data, f"{rid} pays {line}, approved was {data}"
            assert setter not in approvers and rec.requester not in approvers, rec
            assert len(set(approvers)) == len(approvers) == (2 if rec.amount > THRESHOLD else 1), rec
            assert len({setter, *approvers}) >= 2  # four eyes: who set it and at least one other person
            rec.status = "batched"
            self.lines += 1
        assert not self.waiting(), f"approved with approved bank data but not batched: {self.waiting()}"
        return lines


@pytest.mark.timeout(300)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=st.lists(ops, min_size=10, max_size=50))
async def test_every_payment_line_goes_to_bank_data_approved_by_others(
    database_url: str, plan: list[tuple[Any, ...]]
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    world = World(database_url, schema)
    try:
        await world.setup()
        for op in plan:
            outcome = await world.run(op)
            event(f"{op[0]}: {outcome}")
            async with world.pool.acquire() as conn:
                await check(conn)
        # Settle: every staff member approves what they may, then a batch pays it (its file checked as above).
        await world.settle(lambda rid: ("change", rid, "coop", 0, 0, None) if world.records[rid].data is None else None)
        # The bank returns every payment; a staff member puts their own IBAN on each, and may not approve it.
        for _ in range(len(world.order)):
            await world.run(("bank", 0, False))
        await world.settle(lambda rid: ("change", rid, "anna", 2, 3, None))
        event(f"approved bank data changed by staff after a bank return: {min(world.swapped, 3)}+")
        async with world.pool.acquire() as conn:
            batches = [r[0] for r in await conn.fetch("select batch_id from batches")]
            await check(conn)
        event(f"payment lines checked: {min(world.lines, 10)}+")
        assert sorted(batches) == sorted(world.files)
        for batch_id, sent in world.files.items():  # an old file reads as it was sent, whatever changed since
            assert await world.lines_of(batch_id) == sent
    finally:
        if world.pool is not None:
            world.pool.terminate()
        conn = await asyncpg.connect(database_url)
        try:
            await schema_pool.keep_or_drop(conn, schema)
        finally:
            await conn.close()
