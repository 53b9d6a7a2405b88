"""The life of a case: opened → (transferred …) → closed. Commands that do not fit the state are conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lgnet_shared.errors import Conflict, ContractError


@dataclass(frozen=True)
class CaseState:
    case_id: str
    city: str
    partner: str
    opened_on: date
    closed_on: date | None = None

    @property
    def open(self) -> bool:
        return self.closed_on is None


def check_open(case: CaseState, field: str = "case_id") -> None:
    if not case.open:
        raise Conflict(field, f"case is closed since {case.closed_on}")


def check_transfer(case: CaseState, to_partner: str, on: date) -> None:
    check_open(case)
    if to_partner == case.partner:
        raise Conflict("to_partner", "the case is already assigned to this partner")
    if on < case.opened_on:
        raise ContractError("on", "is before the case was opened")


def check_close(case: CaseState, closed_on: date, today: date) -> None:
    check_dated_after_opening(case, closed_on, "closed_on", today)


def check_dated_after_opening(case: CaseState, on: date, field: str, today: date) -> None:
    """A step of an open case (assessment, plan, closing): recorded once it happened, after the case was opened."""
    check_open(case)
    if on < case.opened_on:
        raise ContractError(field, "is before the case was opened")
    if on > today:
        raise ContractError(field, "is in the future")
