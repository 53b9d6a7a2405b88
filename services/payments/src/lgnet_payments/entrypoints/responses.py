"""What payments' routes answer, for the OpenAPI document. `http.py` attaches them as
`responses={200: {"model": ...}}`, documentation only: the handlers' answers are sent as they are, never filtered or
re-serialised through these models (a `response_model` would drop a field a model forgot). The tests check every
answer they receive against them (`lgnet_shared.testing.answers`).

Money is integer euro cents; dates are ISO dates. Bank data is never answered: an IBAN only masked (its last four
characters, e.g. `••••3000`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from lgnet_shared.events.payments import BankDataField, ContributionKind, TutoringOutcome, VoucherKind
from pydantic import BaseModel, Field

PainVersion = Literal["pain.001.001.09", "pain.001.001.03"]
Settlement = Literal["sent", "paid", "failed"]
Balances = dict[str, int]
BALANCES = "Ledger account -> balance in cents (docs/payments.md, 'Ledger')"


class PaymentPolicy(BaseModel):
    """A city's payment policy: approvals, the requests a signed lease creates, the account that pays."""

    city: str
    second_approval_threshold_cents: int = Field(description="From this amount a second approver is needed")
    lease_activation_months: int = Field(description="Months of rent granted to activate a lease; 0 disables it")
    lease_activation_cap_cents: int
    deposit_cap_cents: int = Field(description="0: deposits are not covered automatically")
    debtor_name: str | None = Field(description="The city's paying account (SEPA debtor); null until set")
    debtor_iban: str | None
    debtor_bic: str | None
    pain_version: PainVersion = Field(description="The pain.001 version the paying account's bank takes")
    version: int = Field(description="Times saved (0: the defaults, never saved); the ETag, sent back as If-Match")


class BudgetLine(BaseModel):
    """A budget line of the grant in a city."""

    budget_line_id: str
    city: str
    line: str = Field(description="lease_activation, deposit, rent, utilities, voucher_<kind>")
    allocated_cents: int
    available_cents: int = Field(description="Allocated and not yet committed or spent")


class BudgetLineBalances(BudgetLine):
    balances: Balances = Field(description=BALANCES)


class LedgerBalances(BaseModel):
    """Ledger balances for what was asked (a city, or a budget line, case or household of it)."""

    city: str
    as_of: date | None = Field(description="End of this day; null: now")
    budget_line_id: str | None
    case_id: str | None
    household_id: str | None
    balances: Balances = Field(description=BALANCES)


class PossibleDuplicate(BaseModel):
    """Another request that pays the same payee IBAN for the same kind and period (docs/payments.md, "Duplicates")."""

    request_id: str
    case_id: str
    kind: ContributionKind
    status: Literal["requested", "approved", "batched", "paid"]
    period_from: date | None
    period_to: date | None
    amount_cents: int


class DuplicateConfirmation(BaseModel):
    confirmed_by: str
    reason: str = Field(description="Why it is not paid twice (a code)")
    duplicate_of: list[str]
    on: date


class SharedPayee(BaseModel):
    """A payee the city pays for many households: its requests are possible duplicates only at the same amount."""

    shared_payee_id: int
    city: str
    iban_masked: str = Field(description="The IBAN's last four characters; the IBAN itself is not kept")
    label: str
    registered_by: str
    registered_on: date
    withdrawn_by: str | None = Field(default=None, description="Who took it off the list (null: on the list)")
    withdrawn_on: date | None = None


class BankDataReminder(BaseModel):
    """A request that cannot be paid until the payee's bank data is given (PUT …/beneficiary)."""

    kind: Literal["bank_data_missing", "payee_refused"] = Field(
        description="bank_data_missing: never given; payee_refused: the payee's bank refused the transfer to it"
    )
    request_id: str
    case_id: str
    household_id: str
    contribution_kind: ContributionKind
    amount_cents: int
    reason: str | None = Field(description="payee_refused: the bank's reason code (ac04, ac01, ...)")
    since: date = Field(description="The day it was requested (missing) or refused")
    waiting_days: int


class PayeeRefused(BaseModel):
    reason: str = Field(description="The bank's reason code, lower case: ac04 (account closed), ac01, ac06, md07, ...")
    on: date = Field(description="The day the bank booked the refusal or return")


class ContributionRequest(BaseModel):
    """A contribution requested for a case, its approvals and its bank data as shown (never the data itself)."""

    request_id: str
    case_id: str
    household_id: str
    city: str
    kind: ContributionKind
    budget_line_id: str
    amount_cents: int
    lease_id: str | None = Field(description="The signed lease it was created for, if any")
    period_from: date | None = Field(description="First day paid (rent, utilities)")
    period_to: date | None
    requested_by: str
    requested_on: date
    status: Literal["requested", "approved", "rejected", "batched", "paid"]
    first_approver: str | None = Field(description="The first of two approvers, while a second is awaited")
    approved_by: str | None
    second_approver: str | None
    rejected_by: str | None
    reason: str | None = Field(description="The rejection's reason")
    bank_data_version: int = Field(description="Incremented at every change of the bank data")
    approved_bank_data_version: int | None = Field(description="The version the last approval approved")
    has_beneficiary: bool
    iban_masked: str | None = Field(description="The beneficiary's IBAN, its last four characters only")
    payee_name: str | None = Field(
        default=None,
        description="Whom it pays (a landlord, a utility, the household's member), in a read (`GET`) only: to the"
        " city's staff and the case's partner; null in the answers of a change (kept for a retry) and when erased",
    )
    bic: str | None
    bank_data_erased: bool = Field(description="The household's key was erased: the bank data cannot be read")
    bank_data_changed_by: str | None = Field(description="Who last set the bank data")
    bank_data_changed_on: date | None
    bank_data_changed_fields: list[BankDataField] | None
    bank_data_changed_since_approval: bool = Field(description="Then a new approval, by someone else, is needed")
    approved_iban_masked: str | None = Field(description="The approved IBAN (masked), when it changed since")
    possible_duplicates: list[PossibleDuplicate] = Field(
        description="Other live requests of the city, same kind and period, to the same payee IBAN (a partner: its"
        " own cases' only): approval needs duplicate_reason"
    )
    duplicate_confirmation: DuplicateConfirmation | None = Field(
        description="The latest approval given although it looked like a duplicate, and why"
    )
    payee_refused: PayeeRefused | None = Field(
        description="The payee's bank refused the transfer to this bank data (closed or wrong account, ...): the"
        " request waits for new bank data before it is approved again"
    )


class PaymentFile(BaseModel):
    """The pain.001 file written for a batch or reimbursement run (GET .../pain.001 answers it)."""

    message_id: str
    sha256: str = Field(description="Hex SHA-256 of the file, as its ETag")
    pain_version: PainVersion


class FileDownload(BaseModel):
    downloaded_by: str
    downloaded_at: datetime


class DownloadLogEntry(BaseModel):
    """One download of a payment file of the city (it holds payees' names and IBANs): the DPO's log."""

    at: datetime
    principal: str = Field(description="The actor whose token downloaded: a staff actor (desk.op-…), a script's")
    principal_name: str | None = Field(description="Its name in payments (`lgnet-admin add-actor --name`)")
    message_id: str = Field(description="The file's MsgId")
    batch_id: str = Field(description="The batch's id, or the reimbursement run's (purpose reimbursements)")
    purpose: Literal["contributions", "reimbursements"]
    person_ids: list[str] = Field(
        description="The members of the households the file pays, when downloaded (a reimbursement run's: none)"
    )
    via: Literal["desk", "api"] = Field(description="desk (the desk said it called) or api")
    outcome: Literal["shown", "denied"] = Field(description="denied: refused (403, or 404 to another city's caller)")


class ReadLogEntry(BaseModel):
    """One read of a contribution request's payee through payments' API (the DPO's log): ids, never the payee's name
    or IBAN. The payee may be a landlord or a company, no person of intake: the subject is the request's household
    (its members when read), the payee the party read."""

    at: datetime
    principal: str = Field(description="The actor whose token read: a partner's id, a staff actor (desk.op-…)")
    principal_name: str | None = Field(description="Its name in payments (`lgnet-admin add-actor --name`)")
    role: str
    partner: str | None
    city: str = Field(description="The request's city")
    request_id: str
    case_id: str
    household_id: str = Field(description="The household the request pays for")
    person_ids: list[str] = Field(description="The household's members when it was read (a subject-access request's)")
    kind: Literal["payee", "iban_masked"] = Field(
        description="payee: the payee's name and its IBAN masked (a read); iban_masked: the IBAN masked alone (the"
        " answer to a change: creation, PUT …/beneficiary, approval, rejection, withdrawal)"
    )
    outcome: Literal["shown", "denied"] = Field(description="denied: refused (404 to a caller it is not for, 403)")
    via: Literal["desk", "api"] = Field(description="desk (the desk said it called) or api")


class StoredPaymentFile(PaymentFile):
    created_at: datetime
    retained_until: date = Field(description="Kept ten years (art. 2220 c.c.); shredded only after")
    shredded_on: date | None
    downloads: list[FileDownload] = Field(description="Who downloaded the file (names and IBANs in clear), and when")


class Batch(BaseModel):
    """A disbursement batch just made: every approved request with approved bank data, in one SEPA file."""

    batch_id: str
    city: str
    message_id: str
    payments: int = Field(description="How many payments the batch holds")
    total_cents: int
    execution_date: date
    file: PaymentFile


class Payment(BaseModel):
    payment_id: str = Field(description="Also the SEPA EndToEndId")
    request_id: str
    amount_cents: int
    status: Settlement
    reason: str | None = Field(description="The bank's reason of a failure")
    settled_on: date | None


class BatchMade(BaseModel):
    """A batch as recorded when it was made."""

    batch_id: str
    city: str
    message_id: str
    total_cents: int
    execution_date: date
    created_by: str
    created_on: date


class BatchSummary(BatchMade):
    """A batch in the city's list: its file's message id and where its payments stand."""

    payments: int
    sent: int = Field(description="Sent to the bank, no result yet")
    paid: int
    failed: int = Field(description="Returned or rejected by the bank (each request paid again in a later batch)")


class BatchPayments(BatchMade):
    """A batch and where each of its payments stands."""

    file: StoredPaymentFile | None
    payments: list[Payment]


class Reconciliation(BaseModel):
    """What a bank file changed: entries applied as paid or failed, and those already applied before."""

    paid: int
    failed: int
    unchanged: int


class Provider(BaseModel):
    """A service provider that redeems vouchers, its bank data masked and their approval."""

    provider_id: str
    name: str | None = Field(description="Sealed at rest with the provider's key (a sole trader is a person)")
    city: str
    kinds: list[VoucherKind]
    registered_by: str
    iban_masked: str | None
    bic: str | None
    bank_data_version: int
    bank_data_changed_by: str | None
    bank_data_changed_on: date | None
    bank_data_changed_since_approval: bool = Field(description="Reimbursements wait until another staff approves")
    bank_data_approved_by: str | None
    approved_iban_masked: str | None


class Voucher(BaseModel):
    """A voucher issued to a case's household."""

    voucher_id: str
    household_id: str
    case_id: str
    city: str
    kind: VoucherKind
    value_cents: int
    remaining_cents: int
    budget_line_id: str
    valid_until: date
    issued_on: date
    expired_on: date | None = Field(description="When its remainder returned to the budget line")


class Redemption(BaseModel):
    redemption_id: str
    provider_id: str
    amount_cents: int
    on_date: date
    reimbursement_id: str | None = Field(description="The reimbursement that pays the provider for it")


class VoucherRedemptions(Voucher):
    redemptions: list[Redemption]


class ExpiredVouchers(BaseModel):
    expired: list[str] = Field(description="Vouchers expired now")


class Reimbursed(BaseModel):
    batch_id: str = Field(description="The reimbursement's id")
    provider_id: str
    amount_cents: int


class Held(BaseModel):
    provider_id: str
    reason: str = Field(description="Why it is not reimbursed now (bank data awaiting approval, none, erased)")


class ReimbursementRun(BaseModel):
    """One reimbursement per provider for the redemptions not yet reimbursed, all in one payment file."""

    reimbursements: list[Reimbursed]
    held: list[Held]
    run_id: str | None = Field(description="Null when nothing was reimbursed (no file)")
    file: PaymentFile | None


class Reimbursement(BaseModel):
    batch_id: str = Field(description="The reimbursement's id")
    provider_id: str
    city: str
    amount_cents: int
    status: Settlement
    reason: str | None
    end_to_end_id: str = Field(description="The transfer's SEPA EndToEndId")
    on_date: date
    settled_on: date | None


class ReimbursementRunSummary(BaseModel):
    """A run in the city's list: its file's message id, its transfers and where they stand."""

    run_id: str
    message_id: str | None = Field(description="Its pain.001's MsgId")
    made_on: date
    transfers: int
    total_cents: int
    sent: int = Field(description="Sent to the bank, no result yet")
    paid: int
    failed: int


class ReimbursementRunTransfers(BaseModel):
    """A reimbursement run and where each of its transfers stands."""

    run_id: str
    file: StoredPaymentFile | None
    reimbursements: list[Reimbursement]


class TutoringSession(BaseModel):
    """A money tutoring session of a household."""

    session_id: str
    case_id: str
    household_id: str
    city: str
    topics: list[str] = Field(description="budgeting, bills, banking, savings, debt, ...")
    outcome: TutoringOutcome | None = Field(description="What it led to; null for older sessions")
    on: date
    recorded_by: str
