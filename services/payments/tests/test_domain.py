"""Pure rules: approvals, the ledger, vouchers, the lease policy, amounts, bank files, the SEPA validator."""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Any

import pytest
from lgnet_payments.adapters import bank_files, sepa
from lgnet_payments.domain import ledger, money, requests, vouchers
from lgnet_payments.domain.policy import CityPolicy, requests_for_lease
from lgnet_payments.domain.requests import ContributionRequest, RequestStatus
from lgnet_shared.errors import Conflict, ContractError, Forbidden
from lgnet_shared.events.payments import ContributionKind
from lxml import etree
from payments_testkit import CITY_IBAN, GOOD_IBAN, camt054, csv_file

D = date(2026, 3, 1)


def req(
    amount: int = 10_000, first: str | None = None, status: RequestStatus = RequestStatus.REQUESTED
) -> ContributionRequest:
    return ContributionRequest("r1", "c1", "h1", "torino", "rent", "b1", amount, "coop", status, first)


def test_approval_rules() -> None:
    assert requests.approve(req(), "anna", 50_000) == requests.Approval(True, "anna")
    e: pytest.ExceptionInfo[ContractError]  # Forbidden or Conflict
    with pytest.raises(Forbidden) as e:
        requests.approve(req(), "coop", 50_000)
    assert e.value.field == "approved_by"
    assert requests.approve(req(60_000), "anna", 50_000) == requests.Approval(False, "anna")
    with pytest.raises(Forbidden) as e:
        requests.approve(req(60_000, first="anna"), "anna", 50_000)
    assert e.value.field == "second_approver"
    assert requests.approve(req(60_000, first="anna"), "bruno", 50_000) == requests.Approval(True, "anna", "bruno")
    with pytest.raises(Conflict):
        requests.approve(req(status=RequestStatus.APPROVED), "anna", 50_000)
    with pytest.raises(Conflict):
        requests.reject(req(status=RequestStatus.PAID))
    with pytest.raises(Conflict) as e:
        requests.check_budget(9_999, 10_000)
    assert e.value.field == "amount_cents"


def test_bank_data_is_approved_by_someone_who_did_not_set_it() -> None:
    """Issue #23: a change of bank data withdraws approvals; its author and the requester never approve it."""
    approved = ContributionRequest(
        "r1", "c1", "h1", "torino", "rent", "b1", 10_000, "coop", RequestStatus.APPROVED, None, 2, "anna"
    )
    change = requests.change_bank_data(approved, ["name", "iban"])
    assert change == requests.BankDataChange(("iban", "name"), RequestStatus.REQUESTED, approval_withdrawn=True)
    # the same data again is no change: an approved request stays approved
    assert requests.change_bank_data(approved, []) == requests.BankDataChange((), RequestStatus.APPROVED, False)
    # a first approval (of two, above the threshold) of the previous data is withdrawn too
    half = ContributionRequest(
        "r1", "c1", "h1", "torino", "rent", "b1", 90_000, "coop", RequestStatus.REQUESTED, "bruno"
    )
    assert requests.change_bank_data(half, ["bic"]).approval_withdrawn
    assert not requests.change_bank_data(req(), ["iban"]).approval_withdrawn
    e: pytest.ExceptionInfo[ContractError]  # Conflict or Forbidden
    for status in (RequestStatus.BATCHED, RequestStatus.PAID, RequestStatus.REJECTED):
        with pytest.raises(Conflict) as e:
            requests.change_bank_data(req(status=status), ["bic", "iban"])
        assert e.value.field == "iban" and status.value in e.value.reason

    changed = ContributionRequest(
        "r1", "c1", "h1", "torino", "rent", "b1", 90_000, "coop", RequestStatus.REQUESTED, None, 3, "anna"
    )
    with pytest.raises(Forbidden) as e:
        requests.approve(changed, "anna", 50_000)  # who changed it cannot approve it
    assert e.value.field == "approved_by"
    with pytest.raises(Forbidden):
        requests.approve(changed, "coop", 50_000)  # nor the requester
    assert requests.approve(changed, "bruno", 50_000) == requests.Approval(False, "bruno")
    second = ContributionRequest(
        "r1", "c1", "h1", "torino", "rent", "b1", 90_000, "coop", RequestStatus.REQUESTED, "bruno", 3, "carla"
    )
    with pytest.raises(Forbidden) as e:
        requests.approve(second, "carla", 50_000)  # the second approver did not set it either
    assert e.value.field == "second_approver"
    assert requests.approve(second, "anna", 50_000) == requests.Approval(True, "bruno", "anna")


def test_ibans_are_shown_by_their_last_four_characters() -> None:
    assert requests.mask_iban(GOOD_IBAN) == "••••3000"
    assert requests.mask_iban(None) is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, "100", True, None])
def test_amounts_are_positive_integer_cents(bad: object) -> None:
    with pytest.raises(ContractError) as e:
        money.cents(bad)
    assert e.value.field == "amount_cents"


def test_a_line_holds_at_most_max_line_cents() -> None:
    money.within_line(money.MAX_LINE_CENTS - 5, 5, "amount_cents")
    money.within_line(money.MAX_LINE_CENTS, -1, "delta_cents")
    with pytest.raises(ContractError) as e:
        money.within_line(money.MAX_LINE_CENTS - 5, 6, "delta_cents")
    assert e.value.field == "delta_cents" and "most a budget line may hold" in e.value.reason


def test_ledger_transactions_balance_and_balances_by_date() -> None:
    party = ledger.Party("b1", "c1", "h1")
    txs = [
        ledger.allocation("a", D, "torino", "b1", 100_000),
        ledger.commitment("r1", D, "torino", 30_000, party),
        ledger.disbursement("p1", D, "torino", 30_000, party),
        ledger.reversal("p1", date(2026, 3, 5), "torino", 30_000, party),
    ]
    assert all(sum(p.amount_cents for p in t.postings) == 0 for t in txs)
    postings = [(t.on, p) for t in txs for p in t.postings]
    assert ledger.balances(postings, as_of=D) == {
        "budget_available": 70_000,
        "grant_funding": -100_000,
        "committed": 0,  # committed, then sent to the bank
        "in_transit": 30_000,
    }
    assert ledger.balances(postings)["committed"] == 30_000
    with pytest.raises(ValueError, match="balance"):
        ledger.Transaction(
            "x",
            "y",
            D,
            "torino",
            (ledger.Posting(ledger.Account.COMMITTED, 5, "b1"), ledger.Posting(ledger.Account.IN_TRANSIT, -4, "b1")),
        )
    assert (
        ledger.allocation("adj", D, "torino", "b1", -5, kind="adjustment").postings[0].account
        is ledger.Account.GRANT_FUNDING
    )


def test_voucher_redemption_rules() -> None:
    v = vouchers.Voucher("v1", "torino", "cleaning", 5_000, 2_000, date(2026, 3, 31))
    p = vouchers.Provider("clean-co", "torino", ("cleaning",))
    assert vouchers.redeem(v, p, 1_500, D) == 500
    for provider, amount, on, field in (
        (None, 1, D, "provider_id"),
        (vouchers.Provider("x", "trieste", ("cleaning",)), 1, D, "provider_id"),
        (vouchers.Provider("x", "torino", ("babysitting",)), 1, D, "provider_id"),
        (p, 2_001, D, "amount_cents"),
        (p, 1, date(2026, 4, 1), "voucher_id"),
    ):
        with pytest.raises(ContractError) as e:
            vouchers.redeem(v, provider, amount, on)
        assert e.value.field == field
    spent = vouchers.Voucher("v1", "torino", "cleaning", 5_000, 0, date(2026, 3, 31))
    with pytest.raises(Conflict, match="spent"):
        vouchers.redeem(spent, p, 1, D)


def test_lease_policy() -> None:
    p = CityPolicy("torino", lease_activation_months=2, lease_activation_cap_cents=100_000, deposit_cap_cents=0)
    assert requests_for_lease(p, 60_000, 180_000) == [(ContributionKind.LEASE_ACTIVATION, 100_000)]
    assert requests_for_lease(CityPolicy("torino"), 50_000, 90_000) == [
        (ContributionKind.LEASE_ACTIVATION, 50_000),
        (ContributionKind.DEPOSIT, 90_000),
    ]


# A camt file's payments are ours when their EndToEndId has our form (32 hexadecimal characters): others are the
# account's other movements.
OURS = {n: f"{n:032x}" for n in (1, 2, 3)}


def test_bank_files() -> None:
    got = bank_files.parse(csv_file([("E1", "paid", 12_345, ""), ("E2", "failed", 100, "AC04")]), "text/csv")
    assert [(r.end_to_end_id, r.paid, r.reason, r.amount_cents) for r in got] == [
        ("E1", True, None, 12_345),
        ("E2", False, "ac04", 100),
    ]
    got = bank_files.parse(camt054([(OURS[1], 500, None), (OURS[2], 700, "AM04")]), "application/xml")
    assert [(r.end_to_end_id, r.paid, r.reason, r.amount_cents) for r in got] == [
        (OURS[1], True, None, 500),
        (OURS[2], False, "am04", 700),
    ]
    balance = (
        '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<Dt><Dt>2026-01-01</Dt></Dt></Bal><Ntry>"
    )
    statement = (
        camt054([(OURS[3], 100, None)])
        .replace(b"camt.054.001.08", b"camt.053.001.08")
        .replace(b"BkToCstmrDbtCdtNtfctn>", b"BkToCstmrStmt>")
        .replace(b"Ntfctn>", b"Stmt>")
        .replace(b"<Ntry>", balance.encode())
    )
    assert [r.end_to_end_id for r in bank_files.parse(statement, "application/xml")] == [OURS[3]]
    for data, field in (
        (b"end_to_end_id,status\nE1,paid\n", "file"),
        (csv_file([("E1", "maybe", 1, "")]), "rows[0].status"),
        (b"end_to_end_id,status,amount,booking_date,reason\nE1,paid,1.234,2026-01-01,\n", "rows[0].amount"),
        # Not euros with a dot either: Decimal reads them, and NaN and Infinity were a 500 with no field named (an
        # uncaught decimal.InvalidOperation / OverflowError); 1e2 and 1_000 are not the documented format.
        *(
            (f"end_to_end_id,status,amount,booking_date,reason\nE1,paid,{a},,\n".encode(), "rows[0].amount")
            for a in ("NaN", "sNaN", "Infinity", "1e2", "1_000.00", '"12,50"')
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "file"),
        (b"<Document><Other/></Document>", "file"),
    ):
        with pytest.raises(ContractError) as e:
            bank_files.parse(data, "")
        assert e.value.field == field


def test_camt_is_validated_against_its_schema_before_it_is_read() -> None:
    v08 = camt054([(OURS[1], 500, None)])
    assert bank_files.validate_camt(v08) == "camt.054.001.08"
    # .02 (the 2009 version some banks still send): the same notification reads the same.
    v02 = v08.replace(b"camt.054.001.08", b"camt.054.001.02").replace(b"<Cd>BOOK</Cd>", b"BOOK")
    v02 = v02.replace(b"<Id>N1</Id>", b"<Id>N1</Id><CreDtTm>2026-01-01T10:00:00</CreDtTm>")
    amount = b'<Amt Ccy="EUR">5.00</Amt></TxDtls>'
    v02 = v02.replace(amount, b"<AmtDtls><TxAmt>" + amount[: -len(b"</TxDtls>")] + b"</TxAmt></AmtDtls></TxDtls>")
    assert bank_files.validate_camt(v02) == "camt.054.001.02"
    assert [r.end_to_end_id for r in bank_files.parse(v02, "application/xml")] == [OURS[1]]
    broken = v08.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>MAYBE</CdtDbtInd>")
    broken = broken.replace(b"<Ntry>", b"\n<Ntry>")
    with pytest.raises(ContractError) as e:
        bank_files.parse(broken, "application/xml")
    assert e.value.field == "file"
    assert "camt.054.001.08: line 2: Element 'CdtDbtInd'" in e.value.reason and "enumeration" in e.value.reason
    other = v08.replace(b"camt.054.001.08", b"camt.054.001.99")
    with pytest.raises(ContractError, match="accepted version"):
        bank_files.parse(other, "application/xml")


def test_iban_validation() -> None:
    assert sepa.normalise_iban("de89 3704 0044 0532 0130 00") == GOOD_IBAN
    for bad in ("DE89370400440532013001", "XX00", "", "IT60X0542811101000000123"):
        with pytest.raises(ContractError) as e:
            sepa.normalise_iban(bad, "beneficiary.iban")
        assert e.value.field == "beneficiary.iban"


def transfers(n: int) -> list[sepa.Transfer]:
    return [sepa.Transfer(f"E2E{i:05d}", "Zoë Müller", GOOD_IBAN, 100 + i, "LgNet rent r1") for i in range(n)]


CREATED = dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.UTC)


def pain(n: int, version: sepa.PainVersion = sepa.DEFAULT_VERSION, bic: str | None = None, **kw: Any) -> bytes:
    debtor = sepa.Debtor("Città di Torino", CITY_IBAN, bic)
    return sepa.pain001("MSG-1", debtor, D, transfers(n), created_at=CREATED, version=version, **kw)


@pytest.mark.parametrize("version", list(sepa.PainVersion))
def test_the_creation_time_says_its_zone_and_the_file_stays_valid(version: sepa.PainVersion) -> None:
    """CreDtTm is an instant: written with its offset (ISO 8601, `+00:00`), it reads the same in any bank's zone; a
    time without one is local to whoever reads it. The XSD's ISODateTime (xs:dateTime) takes it."""
    rome = dt.timezone(dt.timedelta(hours=1))
    for created in (CREATED, CREATED.astimezone(rome)):
        debtor = sepa.Debtor("Città di Torino", CITY_IBAN, None)
        xml = sepa.pain001("MSG-1", debtor, D, transfers(2), created_at=created, version=version)
        assert sepa.validate(xml) == 2
        [text] = etree.fromstring(xml).xpath("//*[local-name() = 'CreDtTm']/text()")
        written = dt.datetime.fromisoformat(text)
        assert written.tzinfo is not None, text
        assert written == CREATED and text == "2026-11-30T09:30:00+00:00"


def test_bundled_schemas_are_the_official_ones() -> None:
    import hashlib

    for version, digest in sepa.XSD_SHA256.items():
        assert hashlib.sha256(version.xsd.read_bytes()).hexdigest() == digest
    for name, digest in bank_files.XSD_SHA256.items():
        assert hashlib.sha256((bank_files.XSD_DIR / f"{name}.xsd").read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("version", list(sepa.PainVersion))
def test_pain001_is_valid_against_the_iso_schema(version: sepa.PainVersion) -> None:
    xml = pain(50, version)
    assert sepa.validate(xml) == 50
    assert version.namespace.encode() in xml
    assert b"<MsgId>MSG-1</MsgId>" in xml and b"Zoe Muller" in xml and b"<CtrlSum>62.25</CtrlSum>" in xml


def test_pain001_09_is_the_default() -> None:
    assert sepa.DEFAULT_VERSION is sepa.PainVersion.V09
    assert b"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09" in pain(1)


@pytest.mark.parametrize("version", list(sepa.PainVersion))
def test_the_debtor_agent_is_never_empty(version: sepa.PainVersion) -> None:
    """EPC guidelines: a BIC, or Othr/Id NOTPROVIDED; never <FinInstnId/> (schema-valid, refused by banks)."""
    from lxml import etree

    ns = {"p": version.namespace}
    without = etree.fromstring(pain(2, version))
    assert without.findtext(".//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", namespaces=ns) == "NOTPROVIDED"
    with_bic = etree.fromstring(pain(2, version, bic="UNCRITMMXXX"))
    assert with_bic.findtext(f".//p:DbtrAgt/p:FinInstnId/p:{version.bic_tag}", namespaces=ns) == "UNCRITMMXXX"
    assert b"<FinInstnId/>" not in pain(2, version) and b"<FinInstnId />" not in pain(2, version)


def test_the_same_batch_writes_the_same_bytes() -> None:
    """No clock and no random id inside: CreDtTm and PmtInfId come from the batch (the file is stored anyway)."""
    assert pain(20) == pain(20)


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        (b"<IBAN>DE89370400440532013000</IBAN>", b"<IBAN>de89370400440532013000</IBAN>", "pattern"),
        (b"<EndToEndId>E2E00007</EndToEndId>", b"<EndToEndId>" + b"E" * 36 + b"</EndToEndId>", "maxLength"),
        (b'<InstdAmt Ccy="EUR">1.07</InstdAmt>', b'<InstdAmt Ccy="EUR">1.0712345</InstdAmt>', "fractionDigits"),
        (b'<InstdAmt Ccy="EUR">1.07</InstdAmt>', b'<InstdAmt Ccy="euro">1.07</InstdAmt>', "pattern"),
        (b"<Nm>Zoe Muller</Nm>", b"<Nm>Zoe Muller</Nm><Nm>again</Nm>", "not expected"),
        (b"<Ustrd>LgNet rent r1</Ustrd></RmtInf>", b"<Ustrd>LgNet rent r1</Ustrd></RmtInf><Bogus/>", "not expected"),
    ],
)
def test_libxml2_refuses_a_broken_transaction_with_its_line_and_rule(old: bytes, new: bytes, rule: str) -> None:
    xml = pain(12, validated=False)
    line, sep, rest = xml.partition(b"<EndToEndId>E2E00007</EndToEndId>")  # break the 8th transaction only
    assert sep
    start, end = line.rfind(b"\n") + 1, rest.find(b"\n")
    broken = line[:start] + (line[start:] + sep + rest[:end]).replace(old, new) + rest[end:]
    assert broken != xml
    with pytest.raises(sepa.InvalidSepaFile) as e:
        sepa.validate(broken)
    number = broken[:start].count(b"\n") + 1
    assert str(e.value).startswith(f"line {number}: ") and rule in str(e.value)
    assert b"de89370400440532013000" not in str(e.value).encode()  # never the value: it may be an IBAN


def test_a_truncated_or_dtd_file_is_refused() -> None:
    xml = pain(3)
    for broken in (xml[:-30], b'<!DOCTYPE x [<!ENTITY a "b">]>' + xml[xml.index(b"<Document") :]):
        with pytest.raises(sepa.InvalidSepaFile):
            sepa.validate(broken)


def test_contribution_approved_v1_records_still_decode() -> None:
    """v2 names the bank data an approval covers; a v1 record from before reads as v2 with it unknown."""
    from lgnet_shared.codec import decode, to_envelope
    from lgnet_shared.events import payments as pev

    v1 = pev.ContributionApprovedV1(request_id="r1", approved_by="anna", on=D)
    env = to_envelope(v1, source="/lgnet/payments", city="torino")
    assert env.dataschema is not None and env.dataschema.endswith(":v1")
    read = decode(env)
    assert isinstance(read, pev.ContributionApproved)
    assert (read.approved_by, read.bank_data_version, read.bank_data_set_by) == ("anna", None, None)
    v2 = pev.ContributionApproved(
        request_id="r1", approved_by="anna", bank_data_version=2, bank_data_set_by="coop", on=D
    )
    assert decode(to_envelope(v2, source="/lgnet/payments", city="torino")) == v2


def test_the_largest_batch_a_city_may_ask_for_makes_a_fact_the_broker_takes() -> None:
    """From a review: `max_payments` allowed 200,000 payments in one batch, whose `disbursement_batch_created` names
    every request (≈ 39 bytes each): above ≈ 23,000 it is larger than a fact may be (outbox.MAX_FACT_BYTES, the
    broker's 1 MiB), refused after the SEPA file was made — and before that guard, a row the relay could never send."""
    from datetime import date

    from lgnet_payments.service_layer.commands import CreateBatch
    from lgnet_shared import outbox
    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.payments import DisbursementBatchCreated
    from lgnet_shared.ids import new_id

    most = CreateBatch.model_fields["max_payments"].metadata
    limit = next(m.le for m in most if getattr(m, "le", None) is not None)
    assert CreateBatch().max_payments <= limit
    fact = DisbursementBatchCreated(batch_id=new_id(), city="torino", request_ids=[new_id() for _ in range(limit)],
                                    total_cents=10**12, message_id="M" * 35, on=date(2026, 12, 3))  # fmt: skip
    value, _ = to_envelope(fact, source="/lgnet/payments", city="torino").to_structured()
    assert len(value) <= outbox.MAX_FACT_BYTES, (limit, len(value))
