"""The housing steps the desk offers on a match, as housing's API takes them, and housing's "why is this household
not matching?" read for the page. Pure: no I/O. Who may take a step is housing's rule (the operator's token): the
desk offers each step where the match's state allows it and shows housing's answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lgnet_desk.domain.money import cents_of

# A system withdrawal's reasons (housing's, not an operator's choice): labelled on the page, never offered.
SYSTEM_DECLINES = (
    "case_closed",
    "person_erased",
    "household_changed",
    "parked",
    "opportunity_withdrawn",
    "opportunity_changed",
)


@dataclass(frozen=True)
class Step:
    """One step: housing's path (of the match, or of its placement: the form carries the placement's id), the form
    fields its body carries (housing's names: the form's are the same) and the match states it is taken from."""

    path: str
    fields: tuple[str, ...]
    from_states: tuple[str, ...]
    euros: tuple[str, ...] = ()  # fields typed in euros, sent in cents as `<field>_cents`

    def body(self, form: dict[str, str]) -> dict[str, Any]:
        """The fields filled in: one left blank is left out (housing says "required"; a null read as a wrong value).
        An amount is read as typed in Italy ("1.350,50") and sent in cents."""
        return {
            f"{f}_cents" if f in self.euros else f: cents_of(v) if f in self.euros else v
            for f in self.fields
            if (v := form.get(f, "").strip())
        }

    def ids(self, match_id: str, form: dict[str, str]) -> dict[str, str]:
        """The ids `path` names: the match's (from the page's address) and the placement's (from the form); the
        caller writes each as one segment of the path."""
        return {"match": match_id, "placement": form.get("placement_id", "").strip()}


STEPS = {
    "acceptance": Step("/matches/{match}/acceptance", ("on",), ("proposed",)),
    "decline": Step("/matches/{match}/decline", ("by", "reason", "on"), ("proposed", "accepted")),
    "placement": Step("/matches/{match}/placement", ("started_on",), ("accepted",)),
    "end": Step("/placements/{placement}/end", ("reason", "ended_on"), ("placed",)),
    # The signed lease or sub-lease (housing's rule: the city's staff, or a cooperative of either side)
    "lease": Step(
        "/placements/{placement}/lease",
        ("lease_type", "monthly_rent", "deposit", "start_date", "end_date", "signed_on"),
        ("placed",),
        euros=("monthly_rent", "deposit"),
    ),
}
ON_A_PLACEMENT = ("end", "lease")  # the steps of a placement not ended (the form carries its id)
# The states whose match has a placement to show (housing's GET /matches/{id} gives it, with the signed lease).
PLACED = ("placed", "ended")


def steps_for(status: str, placement: dict[str, Any] | None = None) -> list[str]:
    """The steps a match in `status` may take, in the order the page offers them: their forms are the page's. Ending
    and the lease need the placement (the form carries its id), and one not ended yet; the lease, one not signed."""
    going = bool(placement) and not (placement or {}).get("ended_on")
    return [
        name
        for name, step in STEPS.items()
        if status in step.from_states
        and (name not in ON_A_PLACEMENT or going)
        and (name != "lease" or not (placement or {}).get("lease"))
    ]


def said_at_no_field(
    errors: dict[str, str], matches: list[dict[str, Any]], also_shown: frozenset[str] = frozenset()
) -> list[str]:
    """The refusals the page cannot say next to a field (`<step>-<match>-<field>`) of a form it shows: one of the
    step's form as a whole (a 409: the match moved on) or of a form no longer shown (another operator took the step
    meanwhile). The page says them at its top: said next to no field, they were said nowhere."""
    shown = {f"{name}-{m['match_id']}-{f}" for m in matches for name in m.get("steps", ()) for f in STEPS[name].fields}
    shown |= also_shown  # the fields of the page's other forms (the hold's)
    return [reason for field, reason in errors.items() if field not in shown]


_FAILING = re.compile(r"^(\d+) of (\d+) opportunities fail it")
_NONE_PASSES = re.compile(r"^none of the (\d+) open opportunities")
_UNTIL = re.compile(r"until (\d{4}-\d{2}-\d{2})")


def why_lines(why: dict[str, Any]) -> list[dict[str, Any]]:
    """Housing's reasons as the page says them: each reason's code with the numbers its English detail gives (how many
    opportunities fail a rule, of how many; a hold's last day), the detail itself dropped (it names ids)."""
    lines = []
    for r in why.get("reasons") or []:
        detail = str(r.get("detail", ""))
        line: dict[str, Any] = {"code": str(r.get("code", ""))}
        if m := _FAILING.match(detail):
            line |= {"failing": int(m.group(1)), "total": int(m.group(2))}
        elif m := _NONE_PASSES.match(detail):
            line |= {"total": int(m.group(1))}
        elif m := _UNTIL.search(detail):
            line |= {"until": m.group(1)}
        lines.append(line)
    return lines


# A proposal's explanation (housing's `explanation`: each rule checked for the pair, passed, and an English detail).
# The page says each rule from its code and the numbers its detail gives (domain/rules.py in housing writes them).
_NOT_APPLICABLE = ("no such restriction", "no accessibility needs", "no specialist support needed")
_WITHHELD = "withheld:"  # a detail housing keeps from the reader (the provider side: the household's needs)
_EUR = r"(\d+(?:\.\d{1,2})?) EUR"
_DETAILS: dict[str, re.Pattern[str]] = {
    "availability": re.compile(r"^available from (\d{4}-\d{2}-\d{2}) until (\d{4}-\d{2}-\d{2}|open end)$"),
    "capacity": re.compile(r"^(\d+) person\(s\) for (\d+) place\(s\)$"),
    "bedrooms": re.compile(r"^(\d+) person\(s\), (\d+) bedroom\(s\) house at most (\d+)$"),
    "affordability": re.compile(
        rf"^rent {_EUR} vs affordable {_EUR} \((\d+)% of income {_EUR} \+ planned contribution {_EUR}\)$"
    ),
}


def proposal_reasons(explanation: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Housing's explanation of a proposal as the page says it: each rule with `code`, `passed` and the numbers its
    detail gives (capacity: `size`, `places`; bedrooms: `size`, `bedrooms`, `limit`; availability: `start`, `end` or
    None; affordability: `rent`, `limit`, `income`, `contribution` in cents and `share` in percent; accessibility and
    specialist support: `needed`), or `withheld` where housing keeps the detail from the reader. A restriction the
    housing does not have, or a need the household does not have, says nothing of the pair: left out. The English
    detail itself is never shown."""
    lines: list[dict[str, Any]] = []
    for check in explanation or []:
        code, detail = str(check.get("rule", "")), str(check.get("detail", ""))
        if detail in _NOT_APPLICABLE:
            continue
        line: dict[str, Any] = {"code": code, "passed": bool(check.get("passed"))}
        if detail.startswith(_WITHHELD):
            line["withheld"] = True
        elif code in ("accessibility", "specialist_support"):
            line["needed"] = True
        elif (pattern := _DETAILS.get(code)) and (m := pattern.match(detail)):
            line |= _numbers(code, m.groups())
        lines.append(line)
    return lines


def _numbers(code: str, g: tuple[str, ...]) -> dict[str, Any]:
    if code == "availability":
        return {"start": g[0], "end": None if g[1] == "open end" else g[1]}
    if code == "capacity":
        return {"size": int(g[0]), "places": int(g[1])}
    if code == "bedrooms":
        return {"size": int(g[0]), "bedrooms": int(g[1]), "limit": int(g[2])}
    rent, limit, share, income, contribution = g  # affordability: housing writes euros with a point, "300.00"
    return {"rent": _cents(rent), "limit": _cents(limit), "share": int(share), "income": _cents(income),
            "contribution": _cents(contribution)}  # fmt: skip


def _cents(euros: str) -> int:
    whole, _, frac = euros.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0"))


PRIORITY_PARTS = ("vulnerability", "situation", "waiting", "urgency", "minors")  # housing's priority terms, in order
FIT_PARTS = ("fit_unused_capacity", "fit_language")


def priority_parts(breakdown: dict[str, float] | None) -> dict[str, Any]:
    """A proposal's score breakdown as the page says it: the household's priority (None where housing does not give
    it to the reader: the provider side), its base and its terms, and how the household fits the housing and its
    terms."""
    b = breakdown or {}
    parts = [(k, b[k]) for k in PRIORITY_PARTS if k in b]
    priority = b.get("priority")
    return {
        "priority": priority,
        # what every household has (1 by default, docs/housing.md): the priority less its terms
        "base": round(priority - sum(v for _, v in parts), 6) if priority is not None else None,
        "parts": parts,
        "fit": b.get("fit"),
        "fit_parts": [(k, b[k]) for k in FIT_PARTS if k in b],
    }
