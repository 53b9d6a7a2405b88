"""What callers send (HTTP bodies). Amounts are strict integers: 12.5, "1250" or true are refused, not coerced."""

from __future__ import annotations

from typing import Annotated, Literal

from lgnet_shared.events.payments import (
    ContributionKind,
    RejectionReasonCode,
    TutoringOutcome,
    TutoringTopicCode,
    VoucherKind,
)
from lgnet_shared.events.types import Code, Id, IsoDate
from pydantic import BaseModel, ConfigDict, Field, StrictInt, WithJsonSchema

Cents = Annotated[StrictInt, Field(gt=0, description="Integer euro cents, more than zero")]
AnyCents = Annotated[StrictInt, Field(ge=0, description="Integer euro cents")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocateBudget(Command):
    line: Code = Field(description="Grant budget line: lease_activation, deposit, rent, utilities, voucher_<kind>")
    amount_cents: Cents
    budget_line_id: Id | None = Field(default=None, description="Only to top up an existing line")


class AdjustBudget(Command):
    delta_cents: StrictInt = Field(description="Integer euro cents, negative to reduce; not zero")
    reason: Code


class SetPolicy(Command):
    city: str | None = Field(default=None, description="The city read (GET's `city`), sent back: the path's only")
    second_approval_threshold_cents: AnyCents = 150_000
    lease_activation_months: Annotated[StrictInt, Field(ge=0, le=12)] = 1
    lease_activation_cap_cents: AnyCents = 150_000
    deposit_cap_cents: AnyCents = 300_000
    debtor_name: str | None = Field(default=None, min_length=1, max_length=70)
    debtor_iban: str | None = None
    debtor_bic: str | None = None
    pain_version: Literal["pain.001.001.09", "pain.001.001.03"] = Field(
        default="pain.001.001.09",
        description="The SEPA message version of the paying account's files: .09 (ISO 20022 2019, EPC's current"
        " rulebook) or .03 for a bank that still asks for it",
    )
    version: Annotated[StrictInt, Field(ge=0)] | None = Field(
        default=None,
        description="The version read (GET's `version`, its ETag): saved only if it is still the recorded one, as with"
        " If-Match (which wins when both are given); a client sending back what it read is safe by default",
    )


class Beneficiary(Command):
    """Who receives the transfer (the household, a landlord, a utility). Sealed at rest, never on Kafka."""

    name: str = Field(min_length=1, max_length=70)
    iban: str | None = Field(
        default=None,
        description="The payee's IBAN; left out of a change (`PUT …/beneficiary`), the IBAN on file is kept (a new"
        " request, or one without an IBAN on file, needs it)",
    )
    bic: str | None = Field(default=None, description="The payee bank's BIC (optional within SEPA)")


class RegisterSharedPayee(Command):
    """A payee the city pays for many households: its requests are compared by amount too (docs/payments.md)."""

    iban: str | None = Field(default=None, description="The payee's IBAN; or else request_id")
    request_id: Id | None = Field(
        default=None, description="A contribution request of the city whose payee it is (its IBAN is not shown)"
    )
    label: str = Field(
        min_length=1,
        max_length=70,
        description="Whom the IBAN pays, as the payments office knows it (an organisation: 'ATER Torino — canoni')",
    )


# The kinds a request may have, as the OpenAPI document offers them: a voucher is a contribution kind of the facts
# (a voucher issued) but is issued with `POST /vouchers`, never asked; the handler refuses it naming that route.
REQUESTED_KINDS = [k.value for k in ContributionKind if k is not ContributionKind.VOUCHER]
RequestedKind = Annotated[
    ContributionKind,
    WithJsonSchema({"type": "string", "enum": REQUESTED_KINDS, "title": "ContributionRequestKind"}),
]


class RequestContribution(Command):
    case_id: Id
    kind: RequestedKind
    amount_cents: Cents
    lease_id: Id | None = None
    period_from: IsoDate | None = None
    period_to: IsoDate | None = None
    beneficiary: Beneficiary | None = None


# The bank data version an approver saw (the request's or provider's `bank_data_version` as answered): the approval
# is then of that version only (409 `bank_data_version` when it changed since), never of an IBAN nobody else has seen.
SeenVersion = Annotated[
    StrictInt | None,
    Field(
        default=None,
        ge=0,
        description="The bank_data_version the approver read and compared with the payee's documents: approved only if"
        " it is still the current one (409 otherwise). Without it, the current bank data is approved",
    ),
]


class Approve(Command):
    bank_data_version: SeenVersion = None
    duplicate_reason: Code | None = Field(
        default=None,
        description="Needed when the request is a possible duplicate (same payee IBAN, kind and period as another"
        " live request): why it is not paid twice, a code of the shared vocabulary's duplicate_confirmation_reason"
        " (different_flats, shared_payee, verified_different_persons, other)",
    )


class ApproveBankData(Command):
    """A provider's bank data approved by a second staff member."""

    bank_data_version: SeenVersion = None


class Reject(Command):
    reason: RejectionReasonCode = Field(
        description="wrong_details, duplicate, not_eligible, missing_documents, other (contribution_rejection_reason)"
    )


class Withdraw(Command):
    """An approved request taken back before it is batched: a free code (no list names why)."""

    reason: Code


MAX_BATCH_PAYMENTS = 20_000


class CreateBatch(Command):
    execution_date: IsoDate | None = Field(default=None, description="Requested execution date; default tomorrow")
    # One fact names every request of the batch (≈ 39 bytes each): 20,000 keep it under outbox.MAX_FACT_BYTES (the
    # broker's 1 MiB). More approved requests wait for the next batch.
    max_payments: Annotated[StrictInt, Field(gt=0, le=MAX_BATCH_PAYMENTS)] = MAX_BATCH_PAYMENTS


class RegisterProvider(Command):
    provider_id: Id
    name: str = Field(min_length=1, max_length=70)
    kinds: list[VoucherKind] = Field(min_length=1)
    iban: str | None = None
    bic: str | None = None


class ProviderBankData(Command):
    """Where a provider's reimbursements go. Sealed at rest, never on Kafka; approved by a second person."""

    iban: str
    bic: str | None = None


class IssueVoucher(Command):
    case_id: Id
    kind: VoucherKind
    value_cents: Cents
    valid_until: IsoDate


class Redeem(Command):
    redemption_id: Id = Field(description="The provider's own id for this redemption: sent twice, counted once")
    provider_id: Id
    amount_cents: Cents


class RecordTutoring(Command):
    case_id: Id
    topics: list[TutoringTopicCode] = Field(
        min_length=1, description="budgeting, bills, banking, savings, debt (tutoring_topic)"
    )
    on: IsoDate | None = None
    outcome: TutoringOutcome | None = Field(default=None, description="What the session led to")
