"""A household as a social worker knows it: by its reference person. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def shown(member: Mapping[str, Any]) -> bool:
    """Whether intake shows the operator this member of a household: it gives a member's sex only then (intake's
    `Member.sex`: null for a member the reader may not see). A member shown may have no name recorded yet."""
    return member.get("sex") is not None


def reference_name(household: Mapping[str, Any]) -> str | None:
    """The name of the household's reference person as intake's cartella gives a household (`reference_person_id`,
    its `members` with their names); "" when she is shown with no name recorded (the page says so); None when intake
    leaves her out (a person the operator may not see) or she was erased."""
    ref = household.get("reference_person_id")
    for m in household.get("members") or []:
        if m.get("person_id") == ref:
            return m.get("name") or ("" if shown(m) and not m.get("erased") else None)
    return None


def reference_erased(household: Mapping[str, Any]) -> bool:
    """Whether the household's reference person was erased (right to be forgotten): `reference_name` is None for her
    too, and the page says she was erased, never "not visible to you" (an access restriction, which the city's staff,
    who see everyone, read after an erasure: a DPO's review)."""
    ref = household.get("reference_person_id")
    return any(m.get("person_id") == ref and bool(m.get("erased")) for m in household.get("members") or [])
