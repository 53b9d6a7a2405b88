"""Vouchers: a value for a kind of service, valid until a date, redeemed (partly) by registered providers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from lgnet_shared.errors import Conflict, ContractError, Forbidden

from lgnet_payments.domain.requests import check_seen_version


@dataclass(frozen=True)
class Voucher:
    voucher_id: str
    city: str
    kind: str
    value_cents: int
    remaining_cents: int
    valid_until: date
    expired: bool = False


@dataclass(frozen=True)
class Provider:
    provider_id: str
    city: str
    kinds: tuple[str, ...]


def redemption_key(provider_id: str, redemption_id: str) -> str:
    """A redemption's key in payments (ledger, reimbursements): its provider's own id, scoped by the provider, since
    two providers may both number their redemptions from 1. Neither id holds a '/' (one segment of an address:
    storable.is_segment), so no two pairs make one key."""
    return f"{provider_id}/{redemption_id}"


def check_not_own_case(provider_id: str, case_partner: str | None) -> None:
    """A cooperative that is also a provider issues vouchers on its own cases unapproved: redeeming one to itself
    would pay it from the city's budget with no one else's eyes on it, so the city's staff records that redemption."""
    if provider_id == case_partner:
        raise Forbidden(
            "provider_id",
            "the case's own partner does not redeem the case's vouchers itself: the city's staff records the"
            " redemption",
        )


def redeem(v: Voucher, p: Provider | None, amount_cents: int, on: date) -> int:
    """The voucher's remaining value after redeeming `amount_cents`, or the reason it cannot be."""
    if p is None or p.city != v.city:
        raise Forbidden("provider_id", f"not a registered service provider in {v.city}")
    if v.kind not in p.kinds:
        raise Forbidden("provider_id", f"provider is not registered for {v.kind} vouchers")
    if v.expired or on > v.valid_until:
        raise Conflict("voucher_id", f"voucher expired on {v.valid_until.isoformat()}")
    if v.remaining_cents == 0:
        raise Conflict("voucher_id", "voucher already spent")
    if amount_cents > v.remaining_cents:
        raise Conflict("amount_cents", f"more than the {v.remaining_cents} cents left on the voucher")
    return v.remaining_cents - amount_cents


@dataclass(frozen=True)
class ProviderBankData:
    """Where a provider's reimbursements go: the current version, who set it, and which version is approved."""

    provider_id: str
    version: int  # 0: none
    set_by: str | None
    approved_version: int | None

    @property
    def pending(self) -> bool:
        """Set or changed and not approved yet: reimbursements wait for a second person."""
        return self.version > 0 and self.approved_version != self.version


def approve_bank_data(b: ProviderBankData, approver: str, seen: int | None = None) -> None:
    """Four eyes (issue #23): someone other than whoever set or changed a provider's bank data approves it, the
    version they read when they name it (`requests.check_seen_version`)."""
    if not b.pending:
        raise Conflict("provider_id", f"no bank data of provider {b.provider_id} awaits approval")
    check_seen_version(b.version, b.set_by, seen)
    if approver == b.set_by:
        raise Forbidden("approved_by", "whoever set or changed the bank data cannot approve it: another person must")


# A voucher holds its value on the budget line until it is redeemed or expires: one valid until 9999 held it for
# good (an outside test). A year covers the autonomy vouchers' use (transport passes, childcare, cleaning).
MAX_VALIDITY = timedelta(days=366)


def check_valid_until(valid_until: date, today: date) -> None:
    """Bad input, named: a day in the past, or more than a year ahead (it was a 409 conflict, and 9999 was taken)."""
    if valid_until < today:
        raise ContractError("valid_until", "is in the past")
    if valid_until > today + MAX_VALIDITY:
        raise ContractError(
            "valid_until", f"is more than {MAX_VALIDITY.days} days ahead: the voucher would hold its budget until then"
        )


def is_expired(v: Voucher, today: date) -> bool:
    return not v.expired and today > v.valid_until
