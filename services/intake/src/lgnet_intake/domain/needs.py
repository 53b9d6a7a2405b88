"""Needs assessments: vulnerabilities belong to persons (a newborn is not `psychiatric_condition` because a parent
is). Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from lgnet_shared.errors import Conflict, ContractError


def vulnerabilities_by_person(
    members: Sequence[str],
    by_person: Mapping[str, Sequence[str]],
    household_level: Sequence[str],
    erased: Collection[str] = (),
) -> dict[str, list[str]]:
    """Whose each vulnerability is, for members of the household on the assessment's date (sorted, members without
    any left out). A household-level list (needs_assessment_submitted v1) is taken only where it can mean one
    person: a household of one. Nothing is recorded of an `erased` member (right to be forgotten)."""
    whose = _whose(members, by_person, household_level)
    for person in whose:
        if person in erased:
            field = "vulnerabilities" if household_level else f"vulnerabilities_by_person.{person}"
            raise Conflict(field, "the person was erased: nothing more is recorded of them")
    return whose


def _whose(
    members: Sequence[str], by_person: Mapping[str, Sequence[str]], household_level: Sequence[str]
) -> dict[str, list[str]]:
    if household_level:
        if by_person:
            raise ContractError("vulnerabilities", "give vulnerabilities only per person, in vulnerabilities_by_person")
        if len(members) != 1:
            raise ContractError(
                "vulnerabilities",
                f"vulnerabilities belong to persons and the household has {len(members)} members: give them per"
                " person in vulnerabilities_by_person (needs_assessment_submitted v2)",
            )
        return {members[0]: sorted(set(household_level))}
    for person in sorted(by_person):
        if person not in members:
            raise ContractError(
                f"vulnerabilities_by_person.{person}", "not a member of the case's household on assessed_on"
            )
    return {person: sorted(set(codes)) for person, codes in sorted(by_person.items()) if codes}


def kept_hidden(
    previous: Mapping[str, Any] | None, members: Collection[str], hidden: Collection[str], named: Collection[str]
) -> dict[str, list[str]]:
    """What a submission leaves as it was: the vulnerabilities the case's previous assessment records of members
    hidden from the submitter (`as_seen_by`: it never read them), still members on the new assessment's date, that
    the submission does not name (`named`: given a list, an empty one too). A correction replaces only what its
    submitter may see, and what it says itself of a hidden member (a partner records what it observed). An assessment
    of old, with no per-person breakdown, was the household's own: nothing is kept of it."""
    recorded = (previous or {}).get("vulnerabilities_by_person") or {}
    return {
        pid: sorted(codes)
        for pid, codes in sorted(recorded.items())
        if pid in hidden and pid in members and pid not in named and codes
    }


def as_seen_by(assessment: dict[str, Any] | None, visible: Collection[str]) -> dict[str, Any] | None:
    """A stored needs assessment with only the vulnerabilities of the persons the reader may see: a member hidden from
    a partner (no consent to partner sharing) keeps their special-category data hidden too. The household's list
    becomes the union of what is left; an assessment of old (no per-person breakdown) is the household's own."""
    if not assessment or not assessment.get("vulnerabilities_by_person"):
        return assessment
    shown = {pid: codes for pid, codes in assessment["vulnerabilities_by_person"].items() if pid in visible}
    union = sorted({code for codes in shown.values() for code in codes})
    return {**assessment, "vulnerabilities_by_person": shown, "vulnerabilities": union}


def without_erased(assessment: dict[str, Any], erased: str, anyone_left: bool) -> dict[str, Any] | None:
    """A stored needs assessment once a member of its household is erased (right to be forgotten): their
    vulnerabilities go, the household's list becomes the union of what is left. A list recorded per household (before
    v3, no per-person breakdown) cannot say whose each code is: it goes whole. Once nobody of the household is left
    (`anyone_left` false) the assessment goes (None): its income, eviction and support needs were theirs."""
    if not anyone_left:
        return None
    by_person = {pid: codes for pid, codes in (assessment.get("vulnerabilities_by_person") or {}).items()}
    by_person.pop(erased, None)
    union = sorted({code for codes in by_person.values() for code in codes})
    return {**assessment, "vulnerabilities_by_person": by_person, "vulnerabilities": union}
