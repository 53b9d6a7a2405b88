"""Pure rules: approvals, the ledger, vouchers, the lease policy, amounts, bank files, the SEPA validator."""

from __future__ import annotations

from datetime import date

import pytest
from lgnet_payments.adapters import bank_files, sepa
from lgnet_payments.domain import ledger, money, requests, vouchers
from lgnet_payments.domain.policy import CityPolicy, requests_for_lease
from lgnet_payments.domain.requests import ContributionRequest, RequestStatus
from lgnet_shared.errors import Conflict, ContractError, Forbidden
from lgnet_shared.events.payments import ContributionKind
from payments_testkit import CITY_IBAN, GOOD_IBAN, camt054, csv_file

D = date(2026, 3, 1)


def req(
    amount: int = 10_000, first: str | None = None, status: RequestStatus = RequestStatus.REQUESTED
) -> ContributionRequest:
    return ContributionRequest("r1", "c1", "h1", "torino", "rent", "b1", amount, "coop", status, first)


def test_approval_rules() -> None:
    assert requests.approve(req(), "anna", 50_000) == requests.Approval(True, "anna")
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


def test_bank_files() -> None:
    got = bank_files.parse(csv_file([("E1", "paid", 12_345, ""), ("E2", "failed", 100, "AC04")]), "text/csv")
    assert [(r.end_to_end_id, r.paid, r.reason, r.amount_cents) for r in got] == [
        ("E1", True, None, 12_345),
        ("E2", False, "ac04", 100),
    ]
    got = bank_files.parse(camt054([("E1", 500, None), ("E2", 700, "AM04")]), "application/xml")
    assert [(r.end_to_end_id, r.paid, r.reason, r.amount_cents) for r in got] == [
        ("E1", True, None, 500),
        ("E2", False, "am04", 700),
    ]
    statement = camt054([("E3", 100, None)]).replace(b"camt.054.001.08", b"camt.053.001.08")
    assert [r.end_to_end_id for r in bank_files.parse(statement, "application/xml")] == ["E3"]
    for data, field in (
        (b"end_to_end_id,status\nE1,paid\n", "file"),
        (csv_file([("E1", "maybe", 1, "")]), "rows[0].status"),
        (b"end_to_end_id,status,amount,booking_date,reason\nE1,paid,1.234,2026-01-01,\n", "rows[0].amount"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "file"),
        (b"<Document><Other/></Document>", "file"),
    ):
        with pytest.raises(ContractError) as e:
            bank_files.parse(data, "")
        assert e.value.field == field


def test_iban_validation() -> None:
    assert sepa.normalise_iban("de89 3704 0044 0532 0130 00") == GOOD_IBAN
    for bad in ("DE89370400440532013001", "XX00", "", "IT60X0542811101000000123"):
        with pytest.raises(ContractError) as e:
            sepa.normalise_iban(bad, "beneficiary.iban")
        assert e.value.field == "beneficiary.iban"


def transfers(n: int) -> list[sepa.Transfer]:
    return [sepa.Transfer(f"E2E{i:05d}", "Zoë Müller", GOOD_IBAN, 100 + i, "LgNet rent r1") for i in range(n)]


def test_pain001_is_valid_against_the_iso_schema() -> None:
    import hashlib

    assert hashlib.sha256(sepa.XSD.read_bytes()).hexdigest() == sepa.XSD_SHA256  # the bundled official XSD
    xml = sepa.pain001("MSG-1", sepa.Debtor("Città di Torino", CITY_IBAN), D, transfers(50))
    assert sepa.validate(xml, full=True) == sepa.validate(xml) == 50
    assert b"<MsgId>MSG-1</MsgId>" in xml and b"Zoe Muller" in xml and b"<CtrlSum>62.25</CtrlSum>" in xml


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<IBAN>DE89370400440532013000</IBAN>", b"<IBAN>de89370400440532013000</IBAN>"),  # pattern
        (b"<EndToEndId>E2E00007</EndToEndId>", b"<EndToEndId>" + b"E" * 36 + b"</EndToEndId>"),  # maxLength
        (b'<InstdAmt Ccy="EUR">1.07</InstdAmt>', b'<InstdAmt Ccy="EUR">1.0712345</InstdAmt>'),  # fractionDigits
        (b'<InstdAmt Ccy="EUR">1.07</InstdAmt>', b'<InstdAmt Ccy="euro">1.07</InstdAmt>'),  # attribute pattern
        (b"<Nm>Zoe Muller</Nm>", b"<Nm>Zoe Muller</Nm><Nm>again</Nm>"),  # structure
        (b"<Ustrd>LgNet rent r1</Ustrd></RmtInf>", b"<Ustrd>LgNet rent r1</Ustrd></RmtInf><Bogus/>"),  # structure
    ],
)
def test_both_validators_refuse_the_same_broken_files(old: bytes, new: bytes) -> None:
    xml = sepa.pain001("MSG-1", sepa.Debtor("Torino", CITY_IBAN), D, transfers(12), validated=False)
    # Break the 8th transaction only: the factored validator must find it among valid ones.
    head, sep, tail = xml.partition(b"<EndToEndId>E2E00007</EndToEndId>")
    assert sep
    start = head.rfind(b"<CdtTrfTxInf>")
    end = tail.find(b"</CdtTrfTxInf>")
    tx = head[start:] + sep + tail[:end]
    broken = xml.replace(tx, tx.replace(old, new))
    assert broken != xml
    for full in (True, False):
        with pytest.raises(sepa.InvalidSepaFile):
            sepa.validate(broken, full=full)


def test_export_is_byte_identical_to_sepaxml(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faster serialisation writes exactly what sepaxml's own export writes."""
    import sepaxml.transfer
    from sepaxml import SepaTransfer

    monkeypatch.setattr(sepaxml.transfer, "make_id", lambda name: "PMTINF-1")  # otherwise random

    def build() -> SepaTransfer:
        s = SepaTransfer({"name": "Città", "IBAN": CITY_IBAN, "batch": True, "currency": "EUR"}, clean=True)
        for t in transfers(30):
            s.add_payment(
                {
                    "name": t.name,
                    "IBAN": t.iban,
                    "amount": t.amount_cents,
                    "execution_date": D,
                    "description": t.description + ' & <"x">',
                    "endtoend_id": t.end_to_end_id,
                }
            )
        return s

    theirs, ours = build(), build()
    ours.msg_id = theirs.msg_id
    for a, b in zip(theirs._xml.iter(), ours._xml.iter(), strict=True):  # same ids and timestamps
        b.text = a.text
    assert sepa._export(ours) == theirs.export(validate=True)


def test_contribution_approved_v1_records_still_decode() -> None:
    """v2 names the bank data an approval covers; a v1 record from before reads as v2 with it unknown."""
    from lgnet_shared.codec import decode, to_envelope
    from lgnet_shared.events import payments as pev

    v1 = pev.ContributionApprovedV1(request_id="r1", approved_by="anna", on=D)
    env = to_envelope(v1, source="/lgnet/payments", city="torino")
    assert env.dataschema.endswith(":v1")
    read = decode(env)
    assert isinstance(read, pev.ContributionApproved)
    assert (read.approved_by, read.bank_data_version, read.bank_data_set_by) == ("anna", None, None)
    v2 = pev.ContributionApproved(
        request_id="r1", approved_by="anna", bank_data_version=2, bank_data_set_by="coop", on=D
    )
    assert decode(to_envelope(v2, source="/lgnet/payments", city="torino")) == v2
