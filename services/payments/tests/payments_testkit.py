"""Builders and the service-under-test handle shared by the payments tests (conftest puts this on sys.path)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.entrypoints.consumers import consumers
from lgnet_shared import auth, clock, db
from lgnet_shared.access import Role
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event
from lgnet_shared.events import housing as hev
from lgnet_shared.events import intake as iev
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.inprocess import InProcessService
from lgnet_shared.testing.process import ServiceProcess
from lgnet_shared.testing.topics import Since, read_events
from lgnet_shared.topics import physical

ACTORS = [
    ("anna", Role.STAFF, "torino"),  # Torino staff
    ("bruno", Role.STAFF, "torino"),  # another Torino staff member (second approver)
    ("carla", Role.STAFF, "trieste"),
    ("coop-aurora", Role.PARTNER, "torino"),
    ("gtt", Role.PARTNER, "torino"),  # a public-transport provider that redeems vouchers
    ("coordination", Role.NATIONAL, None),
]
CITY_IBAN = "IT60X0542811101000000123456"
GOOD_IBAN = "DE89370400440532013000"


@dataclass
class PaymentsUnderTest:
    process: ServiceProcess
    pool: Any
    bootstrap: str
    prefix: str
    tokens: dict[str, str] = field(default_factory=dict)
    since: Since = field(default_factory=dict)  # on a shared payments: where its topics ended when the test began

    def client(self, actor: str) -> httpx.AsyncClient:
        return self.process.client(self.tokens[actor], timeout=60)

    async def publish(self, event: Event, city: str, partner: str | None = None, at: datetime | None = None) -> None:
        """`at`: the fact's time and its record's own timestamp, as a deployment backdating its facts writes them."""
        env = to_envelope(event, source="/test", city=city, partner=partner, time=at)
        producer = AIOKafkaProducer(**client_kwargs(self.bootstrap))
        await producer.start()
        try:
            value, headers = await signed_fact(producer, self.prefix, env, event.topic)  # as its writer signs it
            stamp = int(at.timestamp() * 1000) if at else None
            topic = physical(event.topic, self.prefix)
            await producer.send_and_wait(topic, value, key=env.key, headers=headers, timestamp_ms=stamp)
        finally:
            await producer.stop()

    async def events(self, *, want: int = 1, timeout: float = 20) -> list[Event]:
        """Every payments event so far (waits until at least `want` are there)."""
        topic = physical("payments.events", self.prefix)
        return await read_events(self.bootstrap, topic, want=want, timeout=timeout, since=self.since)

    async def wait_for(self, sql: str, *args: Any, timeout: float = 20) -> Any:
        """Poll until `sql` returns a truthy value (the consumer has caught up)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.pool.acquire() as conn:
                value = await conn.fetchval(sql, *args)
            if value or asyncio.get_running_loop().time() > deadline:
                return value
            await asyncio.sleep(0.2)


def case_opened(case_id: str, household_id: str, city: str = "torino") -> iev.CaseOpened:
    return iev.CaseOpened(
        case_id=case_id,
        household_id=household_id,
        city=city,
        action_area=iev.ActionArea.HOUSING_INCLUSION,
        channel=iev.Channel.DESK,
        partner="coop-aurora",
        opened_on=clock.today(),
        housing_need=True,
    )


def month(n: int) -> dict[str, str]:
    """The period of a rent or utilities request: the n-th month from January 2026 (negative: before), in a JSON
    body's form."""
    first = date(2026 + n // 12, n % 12 + 1, 1)
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    return {"period_from": str(first), "period_to": str(last)}


_MONTHS = itertools.count(1)


def a_month() -> dict[str, str]:
    """A past month no other request of this test process pays, counted back from the current one: a household's
    requests of one kind may not pay the same days (for tests whose subject is not the period)."""
    today = clock.today()
    return month((today.year - 2026) * 12 + today.month - 1 - next(_MONTHS))


def csv_file(rows: list[tuple[str, str, int, str]]) -> bytes:
    """(end_to_end_id, status, amount_cents, reason) as the documented CSV."""
    lines = ["end_to_end_id,status,amount,booking_date,reason"]
    lines += [
        f"{e2e},{status},{cents // 100}.{cents % 100:02d},{clock.today().isoformat()},{reason}"
        for e2e, status, cents, reason in rows
    ]
    return ("\n".join(lines) + "\n").encode()


def camt054(rows: list[tuple[str, int, str | None]]) -> bytes:
    """(end_to_end_id, amount_cents, return reason or None) as a camt.054.001.08 debit notification."""
    txs = []
    for e2e, cents, reason in rows:
        ret = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
        txs.append(
            f"<TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
            f'<Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt>{ret}</TxDtls>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>'
        "<GrpHdr><MsgId>BANK-1</MsgId><CreDtTm>2026-01-01T10:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><Acct><Id><IBAN>IT60X0542811101000000123456</IBAN></Id></Acct>"
        f'<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        f"<BookgDt><Dt>{clock.today().isoformat()}</Dt></BookgDt><BkTxCd><Prtry><Cd>PMNT</Cd></Prtry></BkTxCd>"
        f"<NtryDtls>{''.join(txs)}</NtryDtls></Ntry>"
        "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


def camt053(entries: list[tuple[str, int, str, bool, str | None]], booked: date | None = None) -> bytes:
    """A bank statement (camt.053.001.08) of the city's account as a bank writes it, one entry per (end_to_end_id,
    amount_cents, CdtDbtInd, RvslInd, return reason or None): balances, references, bank transaction codes."""
    day = (booked or clock.today()).isoformat()
    ntry = []
    for n, (e2e, cents, direction, reversal, reason) in enumerate(entries):
        amount = f"{cents // 100}.{cents % 100:02d}"
        rvsl = "<RvslInd>true</RvslInd>" if reversal else ""
        family = "RRTN" if direction == "CRDT" else "ESCT"
        ret = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
        ntry.append(
            f'<Ntry><NtryRef>{n + 1}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>{rvsl}'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>BANCA-{day}-{n + 1:04d}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>{family}</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><AcctSvcrRef>BANCA-{n + 1:04d}</AcctSvcrRef><EndToEndId>{e2e}</EndToEndId></Refs>"
            f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>{ret}</TxDtls></NtryDtls></Ntry>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>STMT-{day}</MsgId><CreDtTm>{day}T18:00:00+01:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>STMT-{day}-1</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{day}T18:00:00+01:00</CreDtTm>"
        f"<Acct><Id><IBAN>{CITY_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100000.00</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
        f"{''.join(ntry)}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def problem(resp: Any) -> tuple[int, str, str]:
    body = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json"), body
    return resp.status_code, body["field"], body["reason"]


async def provision(pool: Any) -> dict[str, str]:
    await db.migrate(pool, [auth.MIGRATION, *MIGRATIONS])  # what the runtime applies, actors first
    tokens = {}
    async with pool.acquire() as conn:
        for actor_id, role, city in ACTORS:
            await auth.add_actor(conn, actor_id, role, city, actor_id)
            tokens[actor_id] = await auth.issue_token(conn, actor_id)
    return tokens


# ------------------------------------------------------------------ the in-process app (real PostgreSQL, no Kafka)


def handlers(service: InProcessService) -> dict[str, Any]:
    """Every handler of payments' consumers, as the started service registers them (its key store included)."""
    runtime = service.app.state.runtime
    return {t: h for spec in consumers(runtime) for t, h in spec.handlers.items()}


def lease_signed(
    lease_id: str, household_id: str = "h1", case_id: str = "c1", signed_on: date | None = None, **values: Any
) -> hev.LeaseSigned:
    """Housing's fact of a Torino lease signed (today unless said): 600 euros a month, a 1,200 euros deposit."""
    on = signed_on or clock.today()
    fields: dict[str, Any] = {
        "placement_id": "pl-1",
        "city": "torino",
        "lease_type": hev.LeaseType.LEASE,
        "monthly_rent_cents": 60_000,
        "deposit_cents": 120_000,
        "start_date": on,
        "signed_on": on,
    }
    return hev.LeaseSigned(lease_id=lease_id, household_id=household_id, case_id=case_id, **{**fields, **values})


def sharing_consented(person_id: str) -> iev.ConsentRecorded:
    """The person's consent to sharing with partners, as intake records it with her registration (the desk and a
    partner ask for it): without it a partner reads none of her household's payments."""
    return iev.ConsentRecorded(
        person_id=person_id, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=True, recorded_on=clock.today()
    )


async def open_case(service: InProcessService, case_id: str, household_id: str, partner: str = "coop-aurora") -> None:
    """A Torino household of one person (consenting to sharing with partners) and its case assigned to `partner`, as
    payments learns them from intake."""
    formed = iev.HouseholdFormed(household_id=household_id, city="torino", reference_person_id="p", member_ids=["p"])
    await service.deliver(handlers(service), sharing_consented("p"), "torino")
    await service.deliver(handlers(service), formed, "torino")
    await service.deliver(
        handlers(service), case_opened(case_id, household_id).model_copy(update={"partner": partner}), "torino"
    )


async def add_staff(service: InProcessService, actor: str, city: str = "torino") -> None:
    """Another staff member of the city (a second approver), with a token."""
    async with service.pool.acquire() as conn:
        await auth.add_actor(conn, actor, Role.STAFF, city, actor)
        service.tokens[actor] = await auth.issue_token(conn, actor)


async def call(service: InProcessService, actor: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    async with service.client(actor) as c:
        return await c.request(method, path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}, **kw)


async def call_ok(service: InProcessService, actor: str, method: str, path: str, body: Any = None) -> Any:
    r = await call(service, actor, method, path, body)
    assert r.status_code < 300, (method, path, actor, r.status_code, r.text)
    return r.json()


def refused(r: Any, status: int, field: str) -> str:
    """The problem+json refusal's reason, once its status and field are the ones expected."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["field"] == field, r.json()
    return str(r.json()["reason"])


async def outbox(service: InProcessService, type_: str | None = None) -> list[dict[str, Any]]:
    """The facts staged for Kafka (of one type when given), oldest first."""
    async with service.pool.acquire() as conn:
        facts = [json.loads(r["value"]) for r in await conn.fetch("select value from outbox order by 1")]
    return [f for f in facts if type_ is None or f["type"] == type_]
