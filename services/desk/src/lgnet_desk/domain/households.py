"""A household as a social worker knows it: by its reference person. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def reference_name(household: Mapping[str, Any]) -> str | None:
    """The name of the household's reference person as intake's cartella gives a household (`reference_person_id`,
    its `members` with their names); None when intake leaves the name out (a person the operator may not see)."""
    ref = household.get("reference_person_id")
    return next((m.get("name") for m in household.get("members") or [] if m.get("person_id") == ref), None)
