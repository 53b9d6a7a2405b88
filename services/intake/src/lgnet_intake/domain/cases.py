"""The life of a case: opened → (transferred …) → closed. Commands that do not fit the state are conflicts. What
taking charge records is dated within the programme."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lgnet_shared.errors import Conflict, ContractError

# The earliest day the network records by default (LGNET_INTAKE_EARLIEST_DATE): the first AMIF/FAMI programme
# (2014-2020) started on 1 January 2014, so nothing a city takes charge of under it happened before (docs/operators.md).
PROGRAMME_START = date(2014, 1, 1)


@dataclass(frozen=True)
class CaseState:
    case_id: str
    city: str
    partner: str
    opened_on: date
    closed_on: date | None = None
    transferred_on: date | None = None  # its last transfer (none before migration intake-6)

    @property
    def open(self) -> bool:
        return self.closed_on is None


def check_open(case: CaseState, field: str = "case_id") -> None:
    """A closed case takes nothing that changes it or is recorded against it (docs/partners.md, "A closed case"):
    its close is what reporting counts (employment at close, outcomes), and a step or a status attached afterwards
    would change it silently. What goes on after the close is the person's (employment without `case_id`) or a new
    case's."""
    if case.closed_on is not None:
        raise Conflict(field, f"the case was closed on {case.closed_on.isoformat()}")


def check_transfer(case: CaseState, to_partner: str, on: date, today: date, earliest: date) -> None:
    """A transfer is a step of the case like the others (a transfer dated 2099 was recorded), and follows the last one:
    a transfer back dated before the one it undoes would put the case with two partners at once."""
    check_open(case)
    if to_partner == case.partner:
        raise Conflict("to_partner", "the case is already assigned to this partner")
    check_dated_after_opening(case, on, "on", today, earliest)
    if case.transferred_on is not None and on < case.transferred_on:
        raise ContractError("on", f"is before the case's last transfer ({case.transferred_on.isoformat()})")


def check_within_programme(on: date, field: str, earliest: date, born: date | None = None) -> None:
    """A day of taking charge (a case opened, a referral received, a step of a case): not before the programme's
    earliest date, nor before the birth of the household's reference person when it is known. A case opened in 1990
    stretched reporting's monthly tables back for decades. The reason never states the birth date."""
    if on < earliest:
        raise ContractError(field, f"is before {earliest}, the earliest date of the programme")
    if born is not None and on < born:
        raise ContractError(field, "is before the birth of the household's reference person")


def check_close(case: CaseState, closed_on: date, today: date, earliest: date) -> None:
    check_dated_after_opening(case, closed_on, "closed_on", today, earliest)


def check_dated_after_opening(case: CaseState, on: date, field: str, today: date, earliest: date) -> None:
    """A step of an open case (assessment, plan, closing): recorded once it happened, after the case was opened, and
    within the programme (which a case opened before this rule may not be)."""
    check_open(case)
    check_within_programme(on, field, earliest)
    if on < case.opened_on:
        raise ContractError(field, "is before the case was opened")
    if on > today:
        raise ContractError(field, "is in the future")
