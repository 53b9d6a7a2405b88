"""A lease's rent against the opportunity's. Pure; the dates of a lease are `as_of.lease_terms`'."""

from __future__ import annotations

from lgnet_shared.errors import ContractError

from lgnet_housing.domain.rules import eur


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
