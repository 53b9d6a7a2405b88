"""Payment files (issue #17): written once per batch, stored with their SHA-256 and served byte-identical; a MsgId
names one file for ever; pain.001.001.09 by default, .03 on the paying account's request; the debtor agent never
empty; camt files validated against their XSD before anything of them is applied."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from invariants import check
from lgnet_payments.adapters import repository as repo
from lgnet_payments.adapters import sepa
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.domain.policy import CityPolicy
from lgnet_shared import clock, db
from lgnet_shared.runtime_schema import all_migrations
from lgnet_shared.testing.inprocess import InProcessService
from lxml import etree
from payments_testkit import a_month, call, call_ok, camt053, camt054, outbox, refused
from test_bank_data import (
    CITY_IBAN,
    COOP,
    LANDLORD_IBAN,
    MALLORY,
    OTHER_IBAN,
    STAFF,
    available,
    payments,
)

pytestmark = pytest.mark.integration
__all__ = ["payments"]  # the fixture, shared with the bank data tests


async def approved_batch(service: InProcessService, amounts: tuple[int, ...] = (10_000, 20_000)) -> dict[str, Any]:
    for amount in amounts:
        body = {
            "case_id": "c1",
            "kind": "rent",
            "amount_cents": amount,
            **a_month(),
            "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN},
        }
        made = await call_ok(service, COOP, "POST", "/contribution-requests", body)
        await call_ok(service, STAFF, "POST", f"/contribution-requests/{made['request_id']}/approval")
    return dict(await call_ok(service, STAFF, "POST", "/batches", {}))


async def post_camt(service: InProcessService, data: bytes) -> httpx.Response:
    """A bank statement (camt) sent for reconciliation by the city's staff."""
    async with service.client(STAFF) as c:
        return await c.post(
            "/reconciliations",
            content=data,
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )


async def download(service: InProcessService, batch_id: str) -> tuple[bytes, dict[str, str]]:
    async with service.client(STAFF) as c:
        r = await c.get(f"/batches/{batch_id}/pain.001")
    assert r.status_code == 200, r.text
    return r.content, dict(r.headers)


async def test_a_batch_file_is_stored_once_and_served_byte_identical(payments: InProcessService) -> None:
    batch = await approved_batch(payments)
    assert batch["file"]["pain_version"] == "pain.001.001.09"
    first, headers = await download(payments, str(batch["batch_id"]))
    second, _ = await download(payments, str(batch["batch_id"]))
    assert first == second  # same MsgId, same CreDtTm, same PmtInfId: the same bytes
    digest = hashlib.sha256(first).hexdigest()
    assert headers["etag"] == f'"{digest}"' and batch["file"]["sha256"] == digest
    assert headers["x-message-id"] == batch["message_id"]
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert view["file"]["sha256"] == digest and view["file"]["shredded_on"] is None
    assert sepa.validate(first, sepa.PainVersion.V09) == 2

    ns = {"p": sepa.PainVersion.V09.namespace}
    doc = etree.fromstring(first)
    assert doc.findtext(".//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", namespaces=ns) == "NOTPROVIDED"
    assert doc.findtext(".//p:GrpHdr/p:MsgId", namespaces=ns) == batch["message_id"]

    async with payments.pool.acquire() as conn:
        # The MsgId is unique for ever, whatever the batch; the stored file cannot be changed or deleted.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "insert into payment_files select message_id, 'other-batch', purpose, city, pain_version, payments,"
                " total_cents, sha256, content, created_at, retained_until, shredded_on from payment_files"
            )
        for sql in (
            "update payment_files set content = $1",
            "update payment_files set sha256 = encode(sha256($1), 'hex'), content = $1",
        ):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(sql, first.replace(b"Zoe", b"Eve"))
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("delete from payment_files")


async def test_the_paying_account_chooses_pain_001_001_03(payments: InProcessService) -> None:
    old = await approved_batch(payments, (10_000,))
    before, _ = await download(payments, str(old["batch_id"]))
    policy = {"debtor_name": "Comune di Torino", "debtor_iban": CITY_IBAN, "debtor_bic": "UNCRITMMXXX"}
    set_to = await call_ok(payments, STAFF, "PUT", "/policies/torino", {**policy, "pain_version": "pain.001.001.03"})
    assert set_to["pain_version"] == "pain.001.001.03"
    new = await approved_batch(payments, (5_000,))
    xml, _ = await download(payments, str(new["batch_id"]))
    assert sepa.validate(xml, sepa.PainVersion.V03) == 1
    assert b"<DbtrAgt><FinInstnId><BIC>UNCRITMMXXX</BIC></FinInstnId></DbtrAgt>" in xml
    assert (await download(payments, str(old["batch_id"])))[0] == before  # a stored file never changes
    bad = await call(payments, STAFF, "PUT", "/policies/torino", {**policy, "pain_version": "pain.001.001.02"})
    refused(bad, 422, "pain_version")


async def test_two_staff_saving_the_policy_from_what_they_read_cannot_overwrite_each_other(
    payments: InProcessService,
) -> None:
    """A PUT sets the whole policy: a second approval's threshold raised by one staff member was lost when another,
    who had read the policy before, saved the paying account. With the version read (ETag) as If-Match, the second
    save is refused (412, the policy untouched) until what is recorded has been read again."""

    async def put(client: Any, body: dict[str, Any], if_match: str | None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex} | ({"If-Match": if_match} if if_match else {})
        return await client.put("/policies/torino", json=body, headers=headers)

    def settings(policy: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in policy.items() if k not in ("city", "version")}

    async with payments.client(STAFF) as anna, payments.client(MALLORY) as bruno:
        read = await anna.get("/policies/torino")
        v = read.json()["version"]
        assert read.headers["etag"] == f'"{v}"'
        body = settings(read.json())
        higher = {**body, "second_approval_threshold_cents": 200_000}
        raised = await put(anna, higher, f'"{v}"', "raise")
        assert (raised.status_code, raised.json()["version"], raised.headers["etag"]) == (200, v + 1, f'"{v + 1}"')
        retried = await put(anna, higher, f'"{v}"', "raise")  # the answer it had, though v is no longer recorded
        assert (retried.status_code, retried.headers["etag"], retried.json()) == (200, f'"{v + 1}"', raised.json())
        refused(await put(anna, higher, f'"{v + 1}"', "raise"), 409, "headers.idempotency-key")  # another request
        account = {"debtor_name": "Comune di Torino", "debtor_iban": OTHER_IBAN}
        late = await put(bruno, {**body, **account}, f'"{v}"')  # Bruno read the same version
        assert "read it again" in refused(late, 412, "headers.if-match")
        now = (await bruno.get("/policies/torino")).json()
        assert (now["version"], now["second_approval_threshold_cents"], now["debtor_iban"]) == (
            v + 1,
            200_000,
            body["debtor_iban"],
        )
        again = await put(bruno, {**settings(now), **account}, f'"{v + 1}"')
        assert again.status_code == 200, again.text
        both = (await anna.get("/policies/torino")).json()
        assert (both["version"], both["second_approval_threshold_cents"], both["debtor_iban"]) == (
            v + 2,
            200_000,
            OTHER_IBAN,
        )
        # Without If-Match a client saves what it sends, as before (the policy's version still counts it).
        assert (await put(anna, {**body, **account}, None)).json()["version"] == v + 3
        refused(await put(anna, body, str(v + 3)), 422, "headers.if-match")  # not an entity tag: said, not saved
        assert (await anna.get("/policies/torino")).json()["version"] == v + 3
        # A client that sends back what it read, `city` and `version` and all, saves over that version (as with
        # If-Match); a body naming another city than the path's is refused, naming `city`.
        read = (await bruno.get("/policies/torino")).json()
        refused(await put(bruno, read | {"city": "trieste"}, None), 422, "city")
        assert (await put(bruno, read | {"deposit_cap_cents": 1}, None)).json()["version"] == v + 4
        refused(await put(anna, read | {"deposit_cap_cents": 2}, None), 412, "version")  # she read v + 3


async def test_a_city_whose_policy_was_never_saved_reads_version_0_and_two_first_saves_are_one(
    payments: InProcessService,
) -> None:
    async with payments.pool.acquire() as conn:
        await conn.execute("delete from policies where city = 'torino'")
    async with payments.client(STAFF) as anna:
        read = await anna.get("/policies/torino")
        assert (read.json()["version"], read.headers["etag"]) == (0, '"0"')
        body = {k: v for k, v in read.json().items() if k not in ("city", "version")}
        answers = [
            await anna.put("/policies/torino", json={**body, "deposit_cap_cents": cap}, headers={"If-Match": '"0"'})
            for cap in (1_000, 2_000)
        ]
    assert [a.status_code for a in answers] == [200, 412]
    assert (await call_ok(payments, STAFF, "GET", "/policies/torino"))["deposit_cap_cents"] == 1_000
    # At once: both find no row; the second waits at the primary key for the first, then finds version 1.
    async with payments.pool.acquire() as first, payments.pool.acquire() as second:
        await first.execute("delete from policies where city = 'torino'")
        saving = first.transaction()
        await saving.start()
        assert await repo.save_policy(first, CityPolicy("torino", deposit_cap_cents=3_000), STAFF, 0) == 1
        async with second.transaction():
            late = asyncio.create_task(repo.save_policy(second, CityPolicy("torino"), MALLORY, 0))
            await asyncio.sleep(0.3)
            assert not late.done()  # waiting for the first
            await saving.commit()
            assert await late is None
        assert await second.fetchval("select deposit_cap_cents from policies where city = 'torino'") == 3_000


async def test_a_camt_file_that_fails_its_schema_applies_nothing(payments: InProcessService) -> None:
    batch = await approved_batch(payments)
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    ids = [p["payment_id"] for p in view["payments"]]
    good = camt054([(ids[0], 10_000, None), (ids[1], 20_000, None)])
    # The second entry is broken: the first, valid, must not be applied either.
    broken = good.replace(b"<Ntry>", b"\n<Ntry>").replace(b"<Cd>BOOK</Cd>", b"<Cd>BOOKED</Cd>")
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=broken,
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )
    reason = refused(r, 422, "file")
    assert "camt.054.001.08" in reason and "line 2" in reason and "Cd" in reason, reason
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert {p["status"] for p in view["payments"]} == {"sent"}
    assert await available(payments) == 70_000
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=good,
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 201 and r.json()["paid"] == 2, r.text


async def test_a_payee_name_a_bank_file_cannot_carry_is_refused_when_entered(payments: InProcessService) -> None:
    """A name the pain.001 cannot carry (nothing left once transliterated to the SEPA character set: an emoji, spaces)
    is refused at once, naming the field: it used to be accepted and approved, and then made every batch of the city
    fail its XSD (`Nm` empty), so nobody was paid until someone found which request it was."""
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month()}
    for name in ("\U0001f3e0", "   ", "\u200b"):
        r = await call(
            payments,
            COOP,
            "POST",
            "/contribution-requests",
            {**body, "beneficiary": {"name": name, "iban": LANDLORD_IBAN}},
        )
        assert "SEPA" in refused(r, 422, "beneficiary.name"), name
    made = await call_ok(
        payments,
        COOP,
        "POST",
        "/contribution-requests",
        {**body, "beneficiary": {"name": "Zoë", "iban": LANDLORD_IBAN}},
    )
    path = f"/contribution-requests/{made['request_id']}"
    refused(
        await call(payments, COOP, "PUT", f"{path}/beneficiary", {"name": "\U0001f600", "iban": LANDLORD_IBAN}),
        422,
        "name",
    )
    # The paying account's name and a provider's name go in files too (the debtor, a reimbursement's creditor).
    policy = {"debtor_name": "  ", "debtor_iban": CITY_IBAN}
    refused(await call(payments, STAFF, "PUT", "/policies/torino", policy), 422, "debtor_name")
    provider = {"provider_id": "p-emoji", "name": "\U0001f68c", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    refused(await call(payments, STAFF, "POST", "/providers", provider), 422, "name")
    await call_ok(payments, STAFF, "POST", f"{path}/approval")
    batch = await call_ok(payments, STAFF, "POST", "/batches", {})  # the city's batch is made and pays Zoë
    xml, _ = await download(payments, str(batch["batch_id"]))
    assert sepa.validate(xml, sepa.PainVersion.V09) == 1 and b"<Nm>Zoe</Nm>" in xml


async def test_a_booking_date_the_bank_cannot_have_booked_is_refused(payments: InProcessService) -> None:
    """The bank's booking date dates the ledger's `payment_confirmed` and the `contribution_paid` fact (reports as of a
    date count it then). A typo in a CSV (2062 for 2026) or a date before the file was even made was taken as it was:
    the payment read as still in transit for 36 years, or paid before it was sent (`in_transit` negative as of the
    days between). Such a date is refused, naming the entry, and nothing of the file is applied."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    future = (clock.today().replace(year=clock.today().year + 36)).isoformat()
    for booked in (future, "2020-01-02"):
        body = f"end_to_end_id,status,amount,booking_date,reason\n{payment_id},paid,100.00,{booked},\n"
        async with payments.client(STAFF) as c:
            r = await c.post(
                "/reconciliations",
                content=body.encode(),
                headers={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/csv"},
            )
        refused(r, 422, "entries[0].booking_date")
    assert (await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}"))["payments"][0]["status"] == "sent"
    body = f"end_to_end_id,status,amount,booking_date,reason\n{payment_id},paid,100.00,{clock.today().isoformat()},\n"
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations", content=body.encode(), headers={"Idempotency-Key": "ok", "Content-Type": "text/csv"}
        )
    assert r.status_code == 201 and r.json()["paid"] == 1, r.text


EPC_TEXT = r"[A-Za-z0-9/\-?:().,'+ ]+"  # the SEPA rulebook's Latin character set (EPC SCT rulebook, "Character set")


async def test_names_in_a_payment_file_keep_to_the_sepa_character_set(payments: InProcessService) -> None:
    """The XSD takes any text, the banks do not: the SCT rulebook's character set is a-z, A-Z, 0-9 and / - ? : ( ) . , '
    + and space. A landlord 'Immobiliare Rossi & Figli [To] s_r_l; @casa' went into the file as it was (the '&' as
    '&amp;'), and an Arabic name came out of the transliteration with an '@' (its ta marbuta): a bank that checks the
    set refuses the file. They are written with the set's characters; a name with no letter or digit a bank could read
    (a script the transliteration does not know: '[?] [?]') is refused when entered."""
    import re

    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000}
    for name in ("Immobiliare Rossi & Figli [To] s_r_l; @casa", "\u0622\u0645\u0646\u0629 Okafor"):
        beneficiary = {"name": name, "iban": LANDLORD_IBAN}
        made = await call_ok(
            payments, COOP, "POST", "/contribution-requests", {**body, **a_month(), "beneficiary": beneficiary}
        )
        await call_ok(payments, STAFF, "POST", f"/contribution-requests/{made['request_id']}/approval")
    tifinagh = {"name": "\u2d30\u2d4e\u2d49\u2d4f\u2d30", "iban": LANDLORD_IBAN}
    r = await call(payments, COOP, "POST", "/contribution-requests", {**body, **a_month(), "beneficiary": tifinagh})
    refused(r, 422, "beneficiary.name")
    batch = await call_ok(payments, STAFF, "POST", "/batches", {})
    xml, _ = await download(payments, str(batch["batch_id"]))
    doc = etree.fromstring(xml)
    ns = {"p": sepa.PainVersion.V09.namespace}
    names = [n.text for n in doc.iterfind(".//p:Nm", ns)] + [u.text for u in doc.iterfind(".//p:Ustrd", ns)]
    for text in names:
        assert re.fullmatch(EPC_TEXT, text or ""), text
    assert "Immobiliare Rossi + Figli (To) s-r-l, acasa" in names and "amna Okafor" in names, names


async def test_an_execution_date_a_bank_would_not_take_is_refused(payments: InProcessService) -> None:
    """`execution_date` was refused in the past only: a typo (2062 for 2026) made a batch whose file asks the bank to
    pay in 36 years, its requests in transit until someone reconciled them as failed by hand. Like a request's period
    and a voucher's validity, it is at most a year ahead (422 `execution_date`); nothing is batched."""
    payee = {"name": "Zoe", "iban": LANDLORD_IBAN}
    body = {"case_id": "c1", "kind": "rent", "amount_cents": 10_000, **a_month(), "beneficiary": payee}
    made = await call_ok(payments, COOP, "POST", "/contribution-requests", body)
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{made['request_id']}/approval")
    far = (clock.today() + timedelta(days=367)).isoformat()
    refused(await call(payments, STAFF, "POST", "/batches", {"execution_date": far}), 422, "execution_date")
    request = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{made['request_id']}")
    assert request["status"] == "approved"
    soon = (clock.today() + timedelta(days=3)).isoformat()
    batch = await call_ok(payments, STAFF, "POST", "/batches", {"execution_date": soon})
    assert batch["execution_date"] == soon and batch["payments"] == 1


async def test_money_coming_back_is_a_failed_payment_even_without_return_information(
    payments: InProcessService,
) -> None:
    """Our transfers are debits of the city's account: an entry with our EndToEndId booked as a credit (CdtDbtInd
    CRDT) is the money coming back, a returned transfer. Without RtrInf (banks do not all send it) it was read as paid:
    the request was paid and its fact published, while the money was back on the city's account and the household
    had nothing. It is failed (reason from RtrInf when there, else 'unknown'); the request goes back to approved."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    returned = camt054([(payment_id, 10_000, None)]).replace(
        b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>CRDT</CdtDbtInd>"
    )
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=returned,
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 201 and r.json() == {"paid": 0, "failed": 1, "unchanged": 0}, r.text
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert [(p["status"], p["reason"]) for p in view["payments"]] == [("failed", "unknown")]
    request = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{view['payments'][0]['request_id']}")
    assert request["status"] == "approved"


async def test_a_bank_statement_with_the_accounts_other_movements_is_reconciled(payments: InProcessService) -> None:
    """A camt.054/053 of the city's account carries its other movements too: a transfer received with EndToEndId
    NOTPROVIDED (the usual for credits), the city's own payments with their references. Documented as read for 'every
    TxDtls whose EndToEndId is one of our payment ids', such a file was refused whole ('missing: cannot tell which
    payment this is', or 404 for another reference): a real statement could not be reconciled. Those not in the form
    of ours (32 hexadecimal characters) are not ours and are left; an id in our form that we do not know still refuses
    the file (404), as a wrong amount does."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    others: list[tuple[str, int, str | None]] = [
        ("NOTPROVIDED", 25_000, None), ("STIPENDI-2026-11-0042", 180_000, None), (payment_id, 10_000, None)
    ]  # fmt: skip

    async def reconcile(data: bytes) -> httpx.Response:
        return await post_camt(payments, data)

    unknown = await reconcile(camt054([*others, ("0" * 32, 500, None)]))
    refused(unknown, 404, "entries[1].end_to_end_id")  # the second of ours
    r = await reconcile(camt054(others))
    assert r.status_code == 201 and r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text


async def test_an_amount_in_another_currency_is_not_taken_for_euros(payments: InProcessService) -> None:
    """The bank's amount is checked against the payment's so that a wrong entry refuses the file; its currency was not
    read, so 100.00 USD passed for our 100.00 EUR and the payment was booked paid. Refused naming the entry's amount."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    dollars = camt054([(payment_id, 10_000, None)]).replace(
        b'<Amt Ccy="EUR">100.00</Amt></TxDtls>', b'<Amt Ccy="USD">100.00</Amt></TxDtls>'
    )
    assert b'Ccy="USD"' in dollars
    async with payments.client(STAFF) as c:
        r = await c.post(
            "/reconciliations",
            content=dollars,
            headers={"Content-Type": "application/xml", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert "USD" in refused(r, 422, "Ntry[0].TxDtls[0].Amt")
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert [p["status"] for p in view["payments"]] == ["sent"]


async def test_a_transfer_returned_after_it_was_booked_paid_goes_back_to_be_paid_again(
    payments: InProcessService,
) -> None:
    """A payments officer's review: a SEPA return comes days after the transfer was booked (AC04, the account
    closed): the statement holding it was refused whole, 409 "payment … is already paid", so no other entry of that
    file could be reconciled either, and the household's money stayed 'paid' while it was back on the city's account.
    The return is booked: the payment failed with its reason, the ledger takes the money back from `disbursed` to
    the request's commitment, the request is approved again (a new batch pays it, once), and the other entries of the
    file are reconciled with it. The same file again changes nothing."""
    batch = await approved_batch(payments, (10_000, 20_000))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    first, second = (p["payment_id"] for p in view["payments"])
    before = await available(payments)

    async def reconcile(data: bytes) -> httpx.Response:
        return await post_camt(payments, data)

    paid = await reconcile(camt054([(first, 10_000, None)]))
    assert paid.status_code == 201 and paid.json()["paid"] == 1, paid.text
    returned = camt054([(first, 10_000, "MS03"), (second, 20_000, None)])  # not the account's fault
    for expected in ({"paid": 1, "failed": 1, "unchanged": 0}, {"paid": 0, "failed": 0, "unchanged": 2}):
        r = await reconcile(returned)
        assert r.status_code == 201 and r.json() == expected, r.text
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert {p["payment_id"]: (p["status"], p["reason"]) for p in view["payments"]} == {
        first: ("failed", "ms03"),  # the return reason as payments codes it
        second: ("paid", None),
    }
    request = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{view['payments'][0]['request_id']}")
    assert request["status"] == "approved"
    assert await available(payments) == before  # back to the request's commitment, not to the line
    async with payments.pool.acquire() as conn:
        ledger = dict(
            await conn.fetch(
                "select account, sum(amount_cents) from ledger_postings p join ledger_transactions t using (tx_id)"
                " where t.ref = $1 group by account",
                first,
            )
        )
    # the payment's movements cancel out: the money is committed to the request again, as before it was sent
    assert set(ledger.values()) == {0} and "disbursed" in ledger, ledger
    again = await call_ok(payments, STAFF, "POST", "/batches", {})
    view = await call_ok(payments, STAFF, "GET", f"/batches/{again['batch_id']}")
    assert [(p["request_id"], p["status"]) for p in view["payments"]] == [(request["request_id"], "sent")]


async def test_a_transfer_refused_for_the_payees_account_waits_for_new_bank_data(payments: InProcessService) -> None:
    """A transfer failed (or returned) because the payee's account cannot take it — closed (AC04), wrong (AC01),
    blocked (AC06), the payee deceased (MD07) — went back to "approved" and the next batch sent it to the same
    account, to bounce again: the household's rent late by another cycle and a fee each time. Such a refusal puts the
    request back to `requested`, awaiting the payee's new bank data (its commitment kept); approving it before they
    change is refused naming the IBAN; the case's operator and the city's staff are reminded (GET /reminders)."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id, request_id = view["payments"][0]["payment_id"], view["payments"][0]["request_id"]
    before = await available(payments)
    r = await post_camt(payments, camt054([(payment_id, 10_000, "AC04")]))
    assert r.status_code == 201 and r.json() == {"paid": 0, "failed": 1, "unchanged": 0}, r.text
    request = await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}")
    assert request["status"] == "requested", request
    assert request["payee_refused"] == {"reason": "ac04", "on": request["payee_refused"]["on"]}, request
    assert await available(payments) == before  # still committed to the request
    assert refused(await call(payments, STAFF, "POST", "/batches", {}), 409, "")  # nothing to pay
    said = refused(await call(payments, MALLORY, "POST", f"/contribution-requests/{request_id}/approval"), 409,
                   "beneficiary.iban")  # fmt: skip
    assert "ac04" in said and "new bank data" in said, said
    for who in (COOP, STAFF):
        [reminder] = await call_ok(payments, who, "GET", "/reminders")
        assert (reminder["kind"], reminder["request_id"], reminder["case_id"], reminder["reason"]) == (
            "payee_refused", request_id, "c1", "ac04"), reminder  # fmt: skip
    await call_ok(payments, COOP, "PUT", f"/contribution-requests/{request_id}/beneficiary",
                  {"name": "Zoë", "iban": OTHER_IBAN})  # fmt: skip
    assert await call_ok(payments, COOP, "GET", "/reminders") == []
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{request_id}/approval")
    again = await call_ok(payments, STAFF, "POST", "/batches", {})
    view = await call_ok(payments, STAFF, "GET", f"/batches/{again['batch_id']}")
    assert [(p["request_id"], p["status"]) for p in view["payments"]] == [(request_id, "sent")]
    async with payments.pool.acquire() as conn:
        await check(conn)


async def test_a_reversal_in_a_statement_is_read_as_the_reversal_it_is(payments: InProcessService) -> None:
    """RvslInd=true marks an entry that reverses an earlier booking; its CdtDbtInd is the reversal's direction (ISO
    20022: a credit reverses a debit, a debit reverses a credit). The bank reversing our transfer (a credit with
    RvslInd) is the money coming back: failed, reason `reversal`. The bank then reversing that credit (a debit with
    RvslInd: it was booked in error) means the transfer stands: the payment is paid again, the request paid, the ledger
    balanced. Read as a normal debit, that entry refused the whole statement (409 "already failed")."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id, request_id = view["payments"][0]["payment_id"], view["payments"][0]["request_id"]

    r = await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", False, None)]))
    assert r.status_code == 201 and r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text
    r = await post_camt(payments, camt053([(payment_id, 10_000, "CRDT", True, None)]))
    assert r.status_code == 201 and r.json() == {"paid": 0, "failed": 1, "unchanged": 0}, r.text
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert [(p["status"], p["reason"]) for p in view["payments"]] == [("failed", "reversal")]
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"] == "approved"

    r = await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", True, None)]))
    assert r.status_code == 201 and r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert [p["status"] for p in view["payments"]] == ["paid"]
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"] == "paid"
    again = await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", True, None)]))
    assert again.json() == {"paid": 0, "failed": 0, "unchanged": 1}, again.text
    async with payments.pool.acquire() as conn:
        await check(conn)
        kinds = await conn.fetch("select kind from ledger_transactions where ref = $1 order by tx_id", payment_id)
    assert [k[0] for k in kinds] == ["disbursement", "payment_confirmed", "payment_returned", "return_reversed"]
    assert len(await outbox(payments, "lgnet.payments.contribution_paid")) == 2
    assert await available(payments) == 90_000


@pytest.mark.parametrize("reason", ["AC04", "MS03"])
async def test_a_reversed_return_of_a_request_whose_bank_data_changed_since_is_refused_naming_the_entry(
    payments: InProcessService, reason: str
) -> None:
    """From an outside test: a transfer returned (AC04: the request waits for the payee's new bank data; MS03: approved
    again), the cooperative enters the payee's new IBAN (awaiting approval), then the bank reverses its return. The
    statement was answered 500 with no field (the database refused a paid request whose bank data was never approved)
    and none of its entries applied. It is a 409 naming the entry and why; once the new bank data is approved by
    someone else, the same entry books the transfer paid, once, and nothing pays the request again."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id, request_id = view["payments"][0]["payment_id"], view["payments"][0]["request_id"]
    credit = "CRDT" if reason == "MS03" else "DBIT"
    returned = camt053([(payment_id, 10_000, "CRDT", False, reason)]) if credit == "CRDT" else camt054(
        [(payment_id, 10_000, reason)])  # fmt: skip
    assert (await post_camt(payments, returned)).json()["failed"] == 1
    await call_ok(payments, COOP, "PUT", f"/contribution-requests/{request_id}/beneficiary",
                  {"name": "Zoë", "iban": OTHER_IBAN})  # fmt: skip
    reversal = camt053([(payment_id, 10_000, "DBIT", True, None)])
    r = await post_camt(payments, reversal)
    said = refused(r, 409, "entries[0].status")
    assert request_id in said and "bank data" in said, said
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"] == "requested"
    await call_ok(payments, STAFF, "POST", f"/contribution-requests/{request_id}/approval")
    r = await post_camt(payments, reversal)
    assert r.status_code == 201 and r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"] == "paid"
    refused(await call(payments, STAFF, "POST", "/batches", {}), 409, "")  # nothing to pay again
    async with payments.pool.acquire() as conn:
        await check(conn)


@pytest.mark.parametrize("failure", ["returned after paid", "rejected while sent"])
async def test_a_failure_imported_again_after_the_bank_reversed_it_changes_nothing(
    payments: InProcessService, failure: str
) -> None:
    """From an outside test: paid, returned by the bank, the return reversed (the transfer stands) — and the return's
    statement imported again (a colleague, a new Idempotency-Key) was taken for a new return: the payment failed, its
    request approved again, and the next batch paid the payee a second time, while the ledger, which books each step
    once, still said paid. A transfer fails once and its failure is reversed once: the entry again is unchanged."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id, request_id = view["payments"][0]["payment_id"], view["payments"][0]["request_id"]
    if failure == "returned after paid":
        assert (await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", False, None)]))).json()["paid"] == 1
        failed = camt053([(payment_id, 10_000, "CRDT", False, "MS03")])
    else:
        failed = camt053([(payment_id, 10_000, "CRDT", True, None)])
    assert (await post_camt(payments, failed)).json()["failed"] == 1
    assert (await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", True, None)]))).json()["paid"] == 1
    r = await post_camt(payments, failed)
    assert r.status_code == 201 and r.json() == {"paid": 0, "failed": 0, "unchanged": 1}, r.text
    assert (await call_ok(payments, STAFF, "GET", f"/contribution-requests/{request_id}"))["status"] == "paid"
    await call(payments, STAFF, "POST", "/batches", {})  # nothing to pay again
    async with payments.pool.acquire() as conn:
        await check(conn)
        paying = await conn.fetch("select payment_id, status from payments where request_id = $1", request_id)
    assert [tuple(p) for p in paying] == [(payment_id, "paid")]
    assert len(await outbox(payments, "lgnet.payments.contribution_payment_failed")) == 1


async def test_a_reversed_return_of_a_request_paid_again_is_refused_naming_the_entry(
    payments: InProcessService,
) -> None:
    """The return was reversed (the payee has the money) but the request was already sent again in a new batch: the
    payee would have it twice. Not applied: 409 naming the entry, for the payments office to recover one of them."""
    batch = await approved_batch(payments, (10_000,))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    payment_id = view["payments"][0]["payment_id"]
    r = await post_camt(payments, camt053([(payment_id, 10_000, "CRDT", True, None)]))
    assert r.status_code == 201, r.text
    await call_ok(payments, STAFF, "POST", "/batches", {})  # the request goes to the bank again
    r = await post_camt(payments, camt053([(payment_id, 10_000, "DBIT", True, None)]))
    assert "paid again" in refused(r, 409, "entries[0].status")
    async with payments.pool.acquire() as conn:
        await check(conn)


async def test_every_download_of_a_payment_file_is_in_its_access_log(payments: InProcessService) -> None:
    """A pain.001 holds the payees' names and IBANs in clear: each download is recorded (who, when), append-only, and
    the batch's view lists them for the city's staff and the data-protection officer's requests."""
    batch = await approved_batch(payments, (10_000,))
    await download(payments, batch["batch_id"])
    await download(payments, batch["batch_id"])
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    downloads = view["file"]["downloads"]
    assert [d["downloaded_by"] for d in downloads] == [STAFF, STAFF], downloads
    assert all(d["downloaded_at"] for d in downloads)
    async with payments.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from payment_file_downloads") == 2
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("delete from payment_file_downloads")
    # another city's staff is refused (404) and served nothing: its attempt is kept, denied (the DPO's log)
    async with payments.client("staff-trieste") as c:
        assert (await c.get(f"/batches/{batch['batch_id']}/pain.001")).status_code in (403, 404)
    async with payments.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from payment_file_downloads where outcome = 'shown'") == 2
        assert await conn.fetchval("select downloaded_by from payment_file_downloads where outcome = 'denied'") == (
            "staff-trieste"
        )


async def download_log(service: InProcessService, token: str, **params: str) -> list[dict[str, Any]]:
    async with service.client() as c:
        r = await c.get("/download-log", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()
    return entries


async def test_the_citys_dpo_reads_every_download_of_its_payment_files_with_a_read_log_token(
    payments: InProcessService,
) -> None:
    """The DPO answers for who saw the payees' names and IBANs, whether through the desk or a city IT script calling
    payments directly: `GET /download-log` lists every download of the city's files (who, when, which file, through
    what), newest first, with a read-log token that opens nothing else; no actor's token opens it."""
    from lgnet_shared import read_log_readers

    batch = await approved_batch(payments, (10_000,))
    await download(payments, batch["batch_id"])
    async with payments.client(STAFF, headers={"LgNet-Client": "desk"}) as c:
        assert (await c.get(f"/batches/{batch['batch_id']}/pain.001")).status_code == 200
    async with payments.pool.acquire() as conn:
        torino = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
        trieste = await read_log_readers.issue_reader_token(conn, "trieste", "RPD Trieste")
    entries = await download_log(payments, torino)
    file = (await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}"))["file"]
    assert [(e["principal"], e["message_id"], e["batch_id"], e["purpose"], e["via"]) for e in entries] == [
        (STAFF, file["message_id"], batch["batch_id"], "contributions", "desk"),
        (STAFF, file["message_id"], batch["batch_id"], "contributions", "api"),
    ], entries
    assert entries[0]["at"] >= entries[1]["at"]
    assert {e["principal_name"] for e in entries} == {STAFF}  # the actor's name in payments (its id, in the tests)
    async with payments.pool.acquire() as conn:  # a period, as the DPO's page asks for days (the log is append-only)
        await conn.execute(
            "insert into payment_file_downloads (message_id, city, downloaded_by, downloaded_at)"
            " values ($1, 'torino', 'script-nov', '2026-11-02T10:00:00+00')",
            file["message_id"],
        )
    since, before = "2026-11-01T00:00:00+01:00", "2026-11-03T00:00:00+01:00"
    november = await download_log(payments, torino, since=since, before=before)
    assert [e["principal"] for e in november] == ["script-nov"], november
    assert "script-nov" not in {e["principal"] for e in await download_log(payments, torino, since=before)}
    # one principal's downloads ("what did this operator look at?"), alone or with the period
    assert [e["principal"] for e in await download_log(payments, torino, principal="script-nov")] == ["script-nov"]
    assert {e["principal"] for e in await download_log(payments, torino, principal=STAFF)} == {STAFF}
    assert await download_log(payments, torino, principal=STAFF, since=since, before=before) == []
    assert await download_log(payments, trieste) == []  # another city's DPO: nothing of Torino's
    async with payments.client(STAFF) as c:  # an actor's token never opens the log
        r = await c.get("/download-log")
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "headers.authorization", r.text
    async with payments.client(headers={"Authorization": f"Bearer {torino}"}) as c:  # nor the token anything else
        assert (await c.get(f"/batches/{batch['batch_id']}")).status_code == 401
        assert (await c.get("/download-log", headers={"Authorization": "Bearer lgr_nothing"})).status_code == 401
    async with payments.pool.acquire() as conn:
        assert await read_log_readers.revoke_reader_tokens(conn, "torino") == 1
    async with payments.client(headers={"Authorization": f"Bearer {torino}"}) as c:
        assert (await c.get("/download-log")).status_code == 401


async def test_a_refused_download_of_a_payment_file_is_in_the_dpos_log_as_denied(payments: InProcessService) -> None:
    """As intake's read log keeps refused reads: a cooperative (403) or another city's staff (404, as for a batch
    that does not exist) asking for the city's SEPA file gets nothing, and the city's DPO sees the attempt, denied.
    The batch's view still lists the downloads served only."""
    from lgnet_shared import read_log_readers

    batch = await approved_batch(payments, (10_000,))
    for actor, status in ((COOP, 403), ("staff-trieste", 404), ("coordination", 403)):
        async with payments.client(actor) as c:
            assert (await c.get(f"/batches/{batch['batch_id']}/pain.001")).status_code == status, actor
    async with payments.client("staff-trieste") as c:  # a batch that exists nowhere: nothing to log
        assert (await c.get("/batches/no-such-batch/pain.001")).status_code == 404
    await download(payments, batch["batch_id"])
    async with payments.pool.acquire() as conn:
        torino = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
    entries = await download_log(payments, torino)
    assert [(e["principal"], e["outcome"]) for e in entries] == [
        (STAFF, "shown"),
        ("coordination", "denied"),
        ("staff-trieste", "denied"),
        (COOP, "denied"),
    ], entries
    view = await call_ok(payments, STAFF, "GET", f"/batches/{batch['batch_id']}")
    assert [d["downloaded_by"] for d in view["file"]["downloads"]] == [STAFF]


async def test_a_persons_subject_access_request_finds_the_downloads_of_files_paying_her_household(
    payments: InProcessService,
) -> None:
    """ "Who saw my IBAN?": a contributions file pays households (to their own or their landlord's account), so each
    download keeps the members of the households the file pays, as they were then; the DPO finds them by the
    person's id (`person_id`), a refused attempt too. A provider's reimbursement file pays organisations: no person."""
    from lgnet_shared import read_log_readers

    batch = await approved_batch(payments, (10_000,))
    await download(payments, batch["batch_id"])
    async with payments.client(COOP) as c:
        assert (await c.get(f"/batches/{batch['batch_id']}/pain.001")).status_code == 403
    run, _ = await a_provider_reimbursed(payments)
    async with payments.client(STAFF) as c:
        assert (await c.get(f"/reimbursement-runs/{run['run_id']}/pain.001")).status_code == 200
    async with payments.pool.acquire() as conn:
        torino = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
    everything = await download_log(payments, torino)
    assert [(e["batch_id"], e["person_ids"]) for e in everything] == [
        (run["run_id"], []),
        (batch["batch_id"], ["p"]),
        (batch["batch_id"], ["p"]),
    ], everything
    hers = await download_log(payments, torino, person_id="p")
    assert [(e["principal"], e["outcome"]) for e in hers] == [(COOP, "denied"), (STAFF, "shown")], hers
    assert await download_log(payments, torino, person_id="someone-else") == []
    # Downloads from before `payments-18` get the members at the upgrade, the append-only log set aside for it only.
    async with payments.pool.acquire() as conn:
        await conn.execute(
            "drop index payment_file_downloads_persons; alter table payment_file_downloads drop column person_ids;"
            " delete from schema_migrations where id = 'payments-18'"
        )
    assert await db.migrate(payments.pool, all_migrations(MIGRATIONS)) == ["payments-18"]
    assert [e["person_ids"] for e in await download_log(payments, torino)] == [[], ["p"], ["p"]]
    async with payments.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("update payment_file_downloads set person_ids = '{}'")


async def a_provider_reimbursed(payments: InProcessService) -> tuple[dict[str, Any], dict[str, Any]]:
    """GTT, its bank data approved, reimbursed for one 10.00 EUR redemption: the run and its one transfer, sent."""
    await call_ok(
        payments, STAFF, "POST", "/budget-lines", {"line": "voucher_public_transport", "amount_cents": 10_000}
    )
    provider = {"provider_id": "gtt", "name": "GTT", "kinds": ["public_transport"], "iban": LANDLORD_IBAN}
    await call_ok(payments, STAFF, "POST", "/providers", provider)
    await call_ok(payments, MALLORY, "POST", "/providers/gtt/bank-data/approval")
    until = str(clock.today() + timedelta(days=30))
    voucher = {"case_id": "c1", "kind": "public_transport", "value_cents": 3_000, "valid_until": until}
    voucher_id = (await call_ok(payments, STAFF, "POST", "/vouchers", voucher))["voucher_id"]
    redemption = {"redemption_id": "r-1", "provider_id": "gtt", "amount_cents": 1_000}
    await call_ok(payments, STAFF, "POST", f"/vouchers/{voucher_id}/redemptions", redemption)
    run = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    [transfer] = (await call_ok(payments, STAFF, "GET", f"/reimbursement-runs/{run['run_id']}"))["reimbursements"]
    return run, transfer


async def test_a_reversed_return_of_a_providers_reimbursement_books_it_paid_again(payments: InProcessService) -> None:
    """The same reversal for a voucher provider's reimbursement: the bank undoing its return (a debit with RvslInd)
    books the reimbursement paid again and its redemptions reimbursed; if a later run paid them meanwhile, 409."""
    run, transfer = await a_provider_reimbursed(payments)
    e2e = transfer["end_to_end_id"]

    assert (await post_camt(payments, camt053([(e2e, 1_000, "CRDT", True, None)]))).json()["failed"] == 1
    r = await post_camt(payments, camt053([(e2e, 1_000, "DBIT", True, None)]))
    assert r.status_code == 201 and r.json() == {"paid": 1, "failed": 0, "unchanged": 0}, r.text
    [transfer] = (await call_ok(payments, STAFF, "GET", f"/reimbursement-runs/{run['run_id']}"))["reimbursements"]
    assert transfer["status"] == "paid"
    assert len(await outbox(payments, "lgnet.payments.provider_reimbursed")) == 1  # once: the log never said otherwise
    async with payments.pool.acquire() as conn:
        await check(conn)
        assert await conn.fetchval("select reimbursement_id from voucher_redemptions") is not None
        # the provider is owed nothing now: a new run has nothing to pay
    again = await call(payments, STAFF, "POST", "/provider-reimbursements")
    assert again.status_code == 201 and again.json()["reimbursements"] == [], again.text


async def test_a_reimbursements_return_imported_again_after_its_reversal_changes_nothing(
    payments: InProcessService,
) -> None:
    """From an outside test, as for a contribution: the return of a provider's reimbursement imported again after the
    bank reversed it freed its redemptions, and the next run reimbursed the provider a second time."""
    run, transfer = await a_provider_reimbursed(payments)
    e2e = transfer["end_to_end_id"]
    returned = camt053([(e2e, 1_000, "CRDT", True, None)])
    assert (await post_camt(payments, returned)).json()["failed"] == 1
    assert (await post_camt(payments, camt053([(e2e, 1_000, "DBIT", True, None)]))).json()["paid"] == 1
    r = await post_camt(payments, returned)
    assert r.status_code == 201 and r.json() == {"paid": 0, "failed": 0, "unchanged": 1}, r.text
    [transfer] = (await call_ok(payments, STAFF, "GET", f"/reimbursement-runs/{run['run_id']}"))["reimbursements"]
    assert transfer["status"] == "paid"
    again = await call(payments, STAFF, "POST", "/provider-reimbursements")
    assert again.status_code == 201 and again.json()["reimbursements"] == [], again.text
    async with payments.pool.acquire() as conn:
        await check(conn)


async def test_a_reimbursement_refused_for_the_providers_account_waits_for_new_bank_data(
    payments: InProcessService,
) -> None:
    """As a contribution's: a provider's reimbursement the bank refused because of the provider's account (AC04, the
    account closed) was reimbursed again by the next run, to the same account. The provider is held ("bank data
    refused by the provider's bank: ac04") until its bank data change and a second person approves them."""
    _, transfer = await a_provider_reimbursed(payments)
    r = await post_camt(payments, camt054([(transfer["end_to_end_id"], 1_000, "AC04")]))
    assert r.status_code == 201 and r.json()["failed"] == 1, r.text
    held = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    assert held["reimbursements"] == [], held
    assert held["held"] == [{"provider_id": "gtt", "reason": "bank data refused by the provider's bank (ac04)"}]
    await call_ok(payments, STAFF, "PUT", "/providers/gtt/bank-data", {"iban": OTHER_IBAN})
    await call_ok(payments, MALLORY, "POST", "/providers/gtt/bank-data/approval")
    paid = await call_ok(payments, STAFF, "POST", "/provider-reimbursements")
    assert [x["amount_cents"] for x in paid["reimbursements"]] == [1_000] and paid["held"] == [], paid
    async with payments.pool.acquire() as conn:
        await check(conn)


async def test_the_citys_batches_are_listed_newest_first_with_where_their_payments_stand(
    payments: InProcessService,
) -> None:
    """The payments office finds its batches without keeping their ids (there was no list): each with its file's
    message id, execution date, total and how many of its payments are sent, paid or failed. Staff only; another
    city's batches are not listed."""
    first = await approved_batch(payments, (10_000,))
    second = await approved_batch(payments, (20_000, 30_000))
    view = await call_ok(payments, STAFF, "GET", f"/batches/{second['batch_id']}")
    paid = next(p for p in view["payments"] if p["amount_cents"] == 20_000)
    assert (await post_camt(payments, camt054([(paid["payment_id"], 20_000, None)]))).status_code == 201
    listed = await call_ok(payments, STAFF, "GET", "/batches")
    assert [b["batch_id"] for b in listed[:2]] == [second["batch_id"], first["batch_id"]]
    top = listed[0]
    assert top["message_id"] == second["message_id"] and top["total_cents"] == 50_000
    assert (top["payments"], top["sent"], top["paid"], top["failed"]) == (2, 1, 1, 0), top
    assert (await call(payments, COOP, "GET", "/batches")).status_code == 403
    assert await call_ok(payments, "staff-trieste", "GET", "/batches") == []
