"""Amounts: integer euro cents, always. A float, a string or a bool is refused, never rounded."""

from __future__ import annotations

from typing import Any

from lgnet_shared.errors import ContractError


def cents(value: Any, field: str = "amount_cents", *, positive: bool = True) -> int:
    """`value` as cents, or a ContractError naming `field` (zero/negative refused when `positive`)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(field, "must be an integer number of euro cents")
    if positive and value <= 0:
        raise ContractError(field, "must be more than zero")
    return value
