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


# The most a budget line may hold (100 billion euro): far beyond any grant, and small enough that reports adding up
# every line of every city stay well within PostgreSQL's bigint (9.2 * 10^18 cents).
MAX_LINE_CENTS = 10**13


def within_line(allocated: int, change: int, field: str) -> None:
    """Refuse (naming `field`) a change that would take a line's allocation beyond MAX_LINE_CENTS."""
    if allocated + change > MAX_LINE_CENTS:
        raise ContractError(
            field,
            f"would take the line's allocation to {allocated + change} cents, beyond {MAX_LINE_CENTS}"
            " (100 billion euro), the most a budget line may hold",
        )
