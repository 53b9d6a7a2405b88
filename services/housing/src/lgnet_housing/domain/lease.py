"""A lease's rent against the opportunity's, and who raises the rent a household accepted. Pure; the dates of a
lease are `as_of.lease_terms`'."""

from __future__ import annotations

from lgnet_shared.errors import Conflict, ContractError, Forbidden

from lgnet_housing.domain.model import Household
from lgnet_housing.domain.rules import CityRules, affordable_rent_cents, eur


def lease_rent(rent_cents: int, opportunity_rent_cents: int, opportunity_id: str) -> int:
    """The monthly rent a lease is signed at: at most the opportunity's, the rent the household was proposed and
    accepted (the one the affordability rule weighed) and payments will pay. Below it is a rent negotiated down.
    Above it is refused: a rent that went up is changed on the opportunity first (`PATCH /opportunities/{id}`, an
    `opportunity_updated` fact), so that the catalogue, the proposal and the lease never say different rents. A
    lease was signed at 450.00 EUR on a room proposed at 300.00 EUR, and payments paid 450.00 EUR a month."""
    if rent_cents > opportunity_rent_cents:
        raise ContractError(
            "monthly_rent_cents",
            f"{eur(rent_cents)} is above the opportunity's rent {eur(opportunity_rent_cents)}, the rent proposed and"
            f" accepted: sign at most that, or change the opportunity's rent first"
            f" (PATCH /opportunities/{opportunity_id})",
        )
    return rent_cents


# The match states in which a household has said yes to the opportunity's rent (and may live there).
COMMITTED = ("accepted", "placed")
WHO = {"accepted": "that accepted this opportunity", "placed": "placed in this opportunity"}


def rent_raise(new_cents: int | None, rent_cents: int, committed: str | None, by_staff: bool) -> None:
    """Raising the rent of housing a household has accepted or lives in (`committed`: its match's state) is the
    city's staff's: the household said yes to the old rent, the city pays it (a lease follows the opportunity's rent,
    `lease_rent`). The provider may lower it, or change it while nobody has accepted it (a proposal is re-checked)."""
    if by_staff or new_cents is None or new_cents <= rent_cents or committed not in COMMITTED:
        return
    raise Forbidden(
        "monthly_rent_cents",
        f"a household has {committed} this opportunity at {eur(rent_cents)}: raising its rent to {eur(new_cents)} is"
        " agreed with the city's staff, who change it",
    )


def raise_within_means(
    new_cents: int | None,
    rent_cents: int,
    committed: str | None,
    household: Household | None,
    rules: CityRules,
    *,
    confirmed: bool,
) -> None:
    """A raise of the rent a household accepted or lives in (`committed`), above what that household affords under
    the city's rule (the `affordability` its proposal was checked on: a share of its income plus the planned
    contribution), is refused unless the staff confirm it (`above_affordable`: its rent support covers the
    difference). A raise within its means passes; a proposal (not yet accepted) is re-checked instead."""
    if confirmed or new_cents is None or new_cents <= rent_cents or committed not in COMMITTED or household is None:
        return
    limit = affordable_rent_cents(household, rules)
    if new_cents <= limit:
        return
    raise Conflict(
        "monthly_rent_cents",
        f"the household {WHO[committed]} affords at most {eur(limit)}"
        f" ({rules.rent_share_of_income:.0%} of its income {eur(household.monthly_income_cents)} + planned"
        f" contribution {eur(rules.planned_contribution_cents)}): {eur(new_cents)} is above it; confirm with"
        ' "above_affordable": true once its rent support covers the difference',
    )
