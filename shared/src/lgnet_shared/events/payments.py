"""Payments events (DESIGN section 4, "payments"), owned by the payments service.

Budgets, contribution requests and their approval, disbursement batches and their outcome, vouchers and money
tutoring. Amounts are integer euro cents. Bank data (IBAN, beneficiary name) never appears in these events: it
stays sealed in the payments service and is only decrypted to write the SEPA file.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from lgnet_shared import vocabulary
from lgnet_shared.events.base import Event, event
from lgnet_shared.events.types import Cents, Code, Id, PositiveCents


class ContributionKind(StrEnum):
    LEASE_ACTIVATION = "lease_activation"
    DEPOSIT = "deposit"
    RENT = "rent"
    UTILITIES = "utilities"
    VOUCHER = "voucher"


class VoucherKind(StrEnum):
    BABYSITTING = "babysitting"
    PUBLIC_TRANSPORT = "public_transport"
    CLEANING = "cleaning"
    OTHER = "other"


@event("lgnet.payments.budget_allocated", key="budget_line_id")
class BudgetAllocated(Event):
    budget_line_id: Id
    city: Code
    line: Code = Field(description="Grant budget line: lease_activation, deposit, rent, utilities, voucher_...")
    amount_cents: PositiveCents
    on: date


@event("lgnet.payments.budget_adjusted", key="budget_line_id")
class BudgetAdjusted(Event):
    budget_line_id: Id
    delta_cents: int = Field(description="Integer euro cents; negative reduces the line")
    reason: Code
    on: date


@event("lgnet.payments.contribution_requested", key="request_id")
class ContributionRequested(Event):
    request_id: Id
    case_id: Id
    household_id: Id
    city: Code
    kind: ContributionKind
    budget_line_id: Id
    amount_cents: PositiveCents
    lease_id: Id | None = None
    period_from: date | None = None
    period_to: date | None = None
    requested_by: Id
    on: date


@event("lgnet.payments.contribution_approved", version=1, key="request_id")
class ContributionApprovedV1(Event):
    model_config = ConfigDict(title="ContributionApproved")  # v1's published schema keeps its title

    request_id: Id
    approved_by: Id
    second_approver: Id | None = None
    on: date


@event("lgnet.payments.contribution_approved", version=2, key="request_id")
class ContributionApproved(ContributionApprovedV1):
    """v2 names the bank data the approval covers (issue #23): its version and who set it, never one of the
    approvers. v1 records are upcast with both unknown (None)."""

    bank_data_version: int | None = Field(
        default=None, ge=0, description="The version of the bank data approved with the request (0: none yet)"
    )
    bank_data_set_by: Id | None = Field(default=None, description="Who set or last changed that bank data")


class BankDataField(StrEnum):
    NAME = "name"
    IBAN = "iban"
    BIC = "bic"


@event("lgnet.payments.contribution_bank_data_changed", key="request_id")
class ContributionBankDataChanged(Event):
    """Who changed which bank data of a request (the data itself never: it stays sealed in payments). The request
    is `requested` afterwards: the next `contribution_approved` of this request approves the new data, and nobody
    who changed it approves it."""

    request_id: Id
    changed_by: Id
    fields: list[BankDataField] = Field(min_length=1, description="Which bank data changed (not their values)")
    bank_data_version: int = Field(ge=1, description="1 for the first bank data of the request, +1 per change")
    approval_withdrawn: bool = Field(description="An approval of the previous bank data no longer holds")
    on: date


@event("lgnet.payments.contribution_rejected", key="request_id")
class ContributionRejected(Event):
    request_id: Id
    rejected_by: Id
    reason: Code
    on: date


@event("lgnet.payments.contribution_duplicate_confirmed", key="request_id")
class ContributionDuplicateConfirmed(Event):
    """An approver approved a request that looked like a duplicate (another request of the city, same kind and
    period, to the same payee IBAN) and said why it is not a double payment. Emitted with the approval."""

    request_id: Id
    duplicate_of: list[Id] = Field(min_length=1, description="The requests it looked like a duplicate of")
    confirmed_by: Id
    reason: Code = Field(description="Why it is not paid twice: a duplicate_confirmation_reason code (vocabulary)")
    on: date


@event("lgnet.payments.disbursement_batch_created", key="batch_id")
class DisbursementBatchCreated(Event):
    batch_id: Id
    city: Code
    request_ids: list[Id] = Field(min_length=1)
    total_cents: Cents
    message_id: str = Field(min_length=1, max_length=35, description="SEPA pain.001 message id (MsgId)")
    on: date


@event("lgnet.payments.contribution_paid", key="request_id")
class ContributionPaid(Event):
    request_id: Id
    batch_id: Id
    case_id: Id
    household_id: Id
    city: Code
    kind: ContributionKind
    budget_line_id: Id
    amount_cents: PositiveCents
    paid_on: date


@event("lgnet.payments.contribution_payment_failed", key="request_id")
class ContributionPaymentFailed(Event):
    request_id: Id
    batch_id: Id
    reason: Code = Field(description="Bank reason code, lower case (e.g. ac04 closed account) or 'unknown'")
    on: date


@event("lgnet.payments.voucher_issued", key="voucher_id")
class VoucherIssued(Event):
    voucher_id: Id
    household_id: Id
    case_id: Id
    city: Code
    kind: VoucherKind
    value_cents: PositiveCents
    budget_line_id: Id
    valid_until: date
    on: date


@event("lgnet.payments.voucher_redeemed", key="voucher_id")
class VoucherRedeemed(Event):
    voucher_id: Id
    provider_id: Id
    amount_cents: PositiveCents
    on: date


@event("lgnet.payments.voucher_expired", key="voucher_id")
class VoucherExpired(Event):
    voucher_id: Id
    remaining_cents: Cents
    on: date


@event("lgnet.payments.provider_reimbursed", key="batch_id")
class ProviderReimbursed(Event):
    batch_id: Id
    provider_id: Id
    city: Code
    amount_cents: Cents
    voucher_ids: list[Id]
    on: date


@event("lgnet.payments.provider_bank_data_changed", key="provider_id")
class ProviderBankDataChanged(Event):
    """Who set or changed which bank data of a voucher provider (never the data). Its reimbursements wait until
    `provider_bank_data_approved` names someone else."""

    provider_id: Id
    city: Code
    changed_by: Id
    fields: list[BankDataField] = Field(min_length=1, description="Which bank data changed (not their values)")
    bank_data_version: int = Field(ge=1, description="1 for the provider's first bank data, +1 per change")
    on: date


@event("lgnet.payments.provider_bank_data_approved", key="provider_id")
class ProviderBankDataApproved(Event):
    provider_id: Id
    city: Code
    approved_by: Id = Field(description="Never whoever set or changed that version")
    bank_data_version: int = Field(ge=1)
    on: date


class TutoringOutcome(StrEnum):
    """What a money tutoring session led to (one per session; reporting counts them)."""

    BUDGET_PLAN = "budget_plan"  # a household budget agreed
    BANK_ACCOUNT_OPENED = "bank_account_opened"
    DEBT_PLAN = "debt_plan"  # a repayment plan agreed with a creditor
    SAVINGS_STARTED = "savings_started"
    BILLS_UP_TO_DATE = "bills_up_to_date"
    FOLLOW_UP = "follow_up"  # work in progress: another session is planned
    NOT_ATTENDED = "not_attended"


# A money tutoring session's topics and a contribution's rejection: codes of their lists (`tutoring_topic`,
# `contribution_rejection_reason`), checked where they come in (the HTTP API, the desk); facts keep plain codes.
TutoringTopicCode = Annotated[Code, AfterValidator(vocabulary.known("tutoring_topic"))]
RejectionReasonCode = Annotated[Code, AfterValidator(vocabulary.known("contribution_rejection_reason"))]


@event("lgnet.payments.tutoring_session_recorded", version=1, key="household_id")
class TutoringSessionRecordedV1(Event):
    model_config = ConfigDict(title="TutoringSessionRecorded")  # v1's published schema keeps its title

    session_id: Id
    household_id: Id
    case_id: Id
    city: Code
    topics: list[Code]
    on: date


@event("lgnet.payments.tutoring_session_recorded", version=2, key="household_id")
class TutoringSessionRecorded(TutoringSessionRecordedV1):
    """v2 adds the session's outcome (issue #17); v1 records are upcast with it unknown (None)."""

    outcome: TutoringOutcome | None = Field(default=None, description="What the session led to (None: not said)")
