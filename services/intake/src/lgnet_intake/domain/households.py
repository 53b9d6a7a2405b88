"""Rules about households, without I/O."""

from __future__ import annotations

from lgnet_shared.errors import Conflict

REFERENCE_LEAVES = (
    "is the household's reference person and cannot leave it: the household would be left without one"
    " (intake has no change of reference person yet)"
)


def check_may_leave(person_id: str, reference_person_id: str, field: str = "person_id") -> None:
    """A member may leave her household unless she is its reference person: the household is named after her, its
    cases and contributions are hers to answer for, and nothing in the contract names another in her place."""
    if person_id == reference_person_id:
        raise Conflict(field, REFERENCE_LEAVES)
