"""A data subject's erasure (GDPR art. 17) as the desk asks intake for it. Pure: no I/O.

Two kinds of subject: a person (intake's `POST /persons/{id}/erasure`: her key destroyed, so her identifying data are
unreadable in every copy of the event log, her records merged into her and her street nickname with them) and a
street person met by a mobile unit (`POST /street-persons/{id}/erasure`: the nickname's key). Only the city's staff
may ask (intake's rule, and the desk's: `may_erase`); the operator confirms by typing the subject's identifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lgnet_desk.domain.operators import Operator, OperatorRole

PURPOSE = "erasure_request"  # the access log's purpose of the erasure's entries (and of its confirmation page's view)
ERASED, REFUSED = "erased", "refused"  # the access log's outcomes of an erasure asked of intake
CONFIRM_FIELD = "confirm_id"
NOT_CONFIRMED = "type exactly the identifier shown to confirm the erasure"


@dataclass(frozen=True)
class Kind:
    """One kind of subject: where the desk shows it, where intake reads and erases it, how the access log names the
    erasure (`action`) and the view of its confirmation page (`view`)."""

    name: str
    page: str  # the desk's page of the subject, `{}` its id
    read: str  # intake's read of it
    erase: str  # intake's erasure of it
    action: str
    view: str

    def erased(self, found: Mapping[str, Any]) -> bool:
        """Whether intake's read shows nothing identifying left: a person marked erased; a street person without a
        nickname (none given, or erased: intake tells them apart to no one)."""
        if self.name == PERSON.name:
            return bool(found.get("erased"))
        return found.get("nickname") is None


PERSON = Kind("person", "/persons/{}", "/persons/{}", "/persons/{}/erasure", action="erasure", view="erasure form")
STREET_PERSON = Kind(
    "street_person",
    "/outreach/street-persons/{}",
    "/street-persons/{}",
    "/street-persons/{}/erasure",
    action="street person erasure",
    view="street person erasure form",
)
KINDS = (PERSON, STREET_PERSON)


def may_erase(op: Operator | None) -> bool:
    """The city's staff only: a cooperative's operator and the DPO (no identity on the services) may not."""
    return op is not None and op.role is OperatorRole.STAFF


def confirmation_problem(typed: str, subject_id: str) -> str | None:
    """The refusal of the confirmation (None: confirmed): the identifier typed must be the subject's, exactly (spaces
    around it aside), a deliberate act rather than a click."""
    return None if typed.strip() == subject_id and subject_id else NOT_CONFIRMED
