"""Rules about households, without I/O."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from lgnet_shared.errors import Conflict, ContractError

REFERENCE_LEAVES = (
    "is the household's reference person and cannot leave it: the household would be left without one"
    " (name another member as reference person first, then she may leave)"
)


def check_may_leave(person_id: str, reference_person_id: str, field: str = "person_id") -> None:
    """A member may leave her household unless she is its reference person: the household is named after her, its
    cases and contributions are hers to answer for. Once another member is named in her place, she may leave."""
    if person_id == reference_person_id:
        raise Conflict(field, REFERENCE_LEAVES)


def check_member_on(on: date, joined: date | None) -> None:
    """A member's change dated on or after the day her membership began (`joined`; None: not known): before it, she
    was not a member."""
    if joined is not None and on < joined:
        raise ContractError("on", f"is before the person joined the household ({joined.isoformat()})")


def check_leaves_after_replaced(on: date, replaced_on: date | None) -> None:
    """A former reference person leaves on or after the day another member was named in her place (`replaced_on`;
    None: never its reference person): leaving before, the household would have had one who was no longer a member."""
    if replaced_on is not None and on < replaced_on:
        raise ContractError(
            "on",
            "is before another member was named the household's reference person in her place"
            f" ({replaced_on.isoformat()})",
        )


def check_new_reference(
    person_id: str,
    reference_person_id: str,
    members: Collection[str],
    on: date,
    joined: date | None,
    reference_since: date | None,
) -> None:
    """Another member named the household's reference person on `on`: one of its current `members`, not the
    reference person already, from the day she `joined` and not before the reference person now was named
    (`reference_since`; None: since the household formed), so that the changes follow one another in time."""
    if person_id == reference_person_id:
        raise Conflict("person_id", "is already the household's reference person")
    if person_id not in members:
        raise Conflict(
            "person_id", "is not a member of the household: only a current member can be its reference person"
        )
    check_member_on(on, joined)
    if reference_since is not None and on < reference_since:
        raise ContractError(
            "on", f"is before the household's reference person now was named ({reference_since.isoformat()})"
        )
