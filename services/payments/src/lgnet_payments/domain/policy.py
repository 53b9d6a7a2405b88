"""Per-city payment policy: who approves what, and which requests a signed lease creates automatically."""

from __future__ import annotations

from dataclasses import dataclass

from lgnet_shared.errors import ContractError
from lgnet_shared.events.payments import ContributionKind, VoucherKind


@dataclass(frozen=True)
class CityPolicy:
    city: str
    second_approval_threshold_cents: int = 150_000
    lease_activation_months: int = 1  # months of rent granted to activate a lease; 0 disables it
    lease_activation_cap_cents: int = 150_000
    deposit_cap_cents: int = 300_000  # 0: deposits are not covered automatically
    debtor_name: str | None = None  # the city's account that pays (SEPA debtor)
    debtor_iban: str | None = None
    debtor_bic: str | None = None
    pain_version: str = "pain.001.001.09"  # the message version the debtor account's bank takes (or .03)
    version: int = 0  # times saved: the ETag a client sends back as If-Match (0: the defaults, never saved)


def requests_for_lease(
    policy: CityPolicy, monthly_rent_cents: int, deposit_cents: int
) -> list[tuple[ContributionKind, int]]:
    """The (kind, amount) requests a signed lease creates under the city's policy; zero amounts are skipped."""
    wanted = [
        (
            ContributionKind.LEASE_ACTIVATION,
            min(monthly_rent_cents * policy.lease_activation_months, policy.lease_activation_cap_cents),
        ),
        (ContributionKind.DEPOSIT, min(deposit_cents, policy.deposit_cap_cents)),
    ]
    return [(kind, amount) for kind, amount in wanted if amount > 0]


# The grant's lines: one per contribution kind that is requested, and one per voucher kind (`voucher_<kind>`). Money
# allocated to another name would sit where no request nor voucher ever draws from it.
BUDGET_LINES = tuple(k.value for k in ContributionKind if k is not ContributionKind.VOUCHER) + tuple(
    f"voucher_{k.value}" for k in VoucherKind
)


def check_line(line: str) -> None:
    if line not in BUDGET_LINES:
        raise ContractError("line", f"{line!r} is not a line of the grant: one of {', '.join(BUDGET_LINES)}")
