"""A household's housing steps at the desk: what housing shows of its matches and why it is not matching, and the
steps the operator takes on a match, each one call to housing as the operator with the form's Idempotency-Key."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import httpx
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.domain.housing_steps import (
    PLACED,
    STEPS,
    priority_parts,
    proposal_reasons,
    steps_for,
    why_lines,
)
from lgnet_desk.domain.operators import Operator
from lgnet_desk.domain.persons import full_name
from lgnet_desk.service_layer import desk


async def household(services: Services, household_id: str) -> dict[str, Any]:
    """The household's matches (each with its opportunity, the steps it may take and why it was proposed), the cases
    they belong to (to name them) and housing's why, or the refusal of it where housing shows one of the household's
    matches."""
    matches = await desk.household_matches(services, {household_id})
    for m in matches:
        if m.get("status") in PLACED:  # the placement and its lease are read from the match
            read = await services.get("housing", service_path("/matches/{}", m["match_id"]))
            m["placement"] = read.get("placement")
        m["steps"] = steps_for(str(m.get("status")), m.get("placement"))
        # why it was proposed, to tell the household: the rules met and the priority's parts (housing's explanation)
        m["reasons"] = proposal_reasons(m.get("explanation"))
        m["score_parts"] = priority_parts(m.get("score_breakdown"))
    view: dict[str, Any] = {"matches": matches, "why": None, "why_refused": None}
    try:
        view["why"] = why_lines(await services.get("housing", service_path("/households/{}/why", household_id)))
    except ServiceRefusal as r:
        # A household not the operator's (housing's 403, or its 404: no housing case of hers, another city's or
        # another cooperative's household), none of its matches hers: refused. Another city's operator read "no
        # proposal yet" and the refusal as the household's "why", 200.
        if r.status in (403, 404) and not matches:
            raise
        view["why_refused"] = r.reason
    case_ids = [str(m["case_id"]) for m in matches if m.get("case_id")]
    if not case_ids:  # no match yet: the case of the household's own entry of housing's waiting list (a 404: none)
        with contextlib.suppress(ServiceRefusal):
            entry = await services.get("housing", service_path("/households/{}", household_id))
            case_ids = [str(entry["case_id"])]
    view["cases"] = await desk.cases_by_id(services, case_ids)
    return view


@dataclass(frozen=True)
class Reference:
    """How a page names a household: its reference person's `name` ("" shown with no name recorded; None not named),
    the `member` its page links back to, and whether she was `erased` (right to be forgotten: no name because there
    is none any more, which the page says — "not visible to you" read as an access restriction, a DPO's review)."""

    name: str | None
    member: str | None
    erased: bool = False


async def household_name(
    conn: Conn,
    services: Services,
    op: Operator,
    household_id: str,
    case_ids: list[str],
    action: str = "housing",
    members: list[str] | None = None,
) -> Reference:
    """The household's name (`household_reference`), and whether its reference person was erased."""
    named = await _reference(conn, services, op, case_ids, action, members or [])
    if named.name is None:
        await store.log_access(conn, op, household_id, "case_work", action, "shown")
    return named


async def household_reference(
    conn: Conn,
    services: Services,
    op: Operator,
    household_id: str,
    case_ids: list[str],
    action: str = "housing",
    members: list[str] | None = None,
) -> tuple[str | None, str | None]:
    """The household's reference person's name, as the cartella names a household, from intake's search by the
    household's case (it finds only the members the operator may see, and says which is the reference person): no
    more is read for one name (a whole cartella was). Her view in the access log as the page's `action` (the housing
    page's, the approvals'). The name "" where she is shown with no name recorded, None where she is not visible or
    intake does not answer: the page then names the id, and the view is logged under the household's id — the page
    still shows the household's housing (a cooperative offering the housing sees its placement and sublease), and
    the DPO found only housing's own log of it, naming the cooperative, not the operator. With it, the member the
    housing page links back to: the reference person, else the first member the operator may see. `members`: the
    household's current members as intake's case says them (`member_ids`), to tell an erased reference person (the
    search leaves her out) from one hidden from the operator (`household_name`'s `erased`)."""
    named = await household_name(conn, services, op, household_id, case_ids, action, members)
    return named.name, named.member


async def _reference(
    conn: Conn, services: Services, op: Operator, case_ids: list[str], action: str, members: list[str]
) -> Reference:
    """`household_reference`'s search, and the reference person's view logged when she is named."""
    try:
        for case_id in case_ids:
            try:
                seen = await services.post("intake", "/persons/search", {"case_id": case_id})
            except ServiceRefusal as refused:
                if refused.status in (403, 404):  # a case the operator may not read (another party's), or gone
                    continue
                raise
            reference = next((p for p in seen if p.get("household_reference")), None)
            if reference is None:
                first = str(seen[0]["person_id"]) if seen else None
                found = {str(p["person_id"]) for p in seen}
                erased = await _reference_erased(services, [m for m in members if m not in found])
                if erased or first:
                    return Reference(None, first, erased)
                continue
            pid = str(reference["person_id"])
            await store.log_access(conn, op, pid, "case_work", action, "shown")
            return Reference(full_name(reference) or "", pid)  # "": shown, no name recorded yet
    except (ServiceRefusal, httpx.HTTPError):
        return Reference(None, None)
    return Reference(None, None)


async def _reference_erased(services: Services, unseen: list[str]) -> bool:
    """Whether the household's reference person was erased: the search by the case leaves an erased person out, so
    its current members it did not find (`unseen`: the reference person among them) are asked by id, which answers an
    erased person marked `erased` and leaves out those the operator may not see. All of them erased: she is; one not
    answered may be her, hidden from the operator (nothing of an erased person is read, nor logged: there is none)."""
    if not unseen:
        return False
    found = await services.post("intake", "/persons/search", {"person_ids": unseen})
    erased = {str(p["person_id"]) for p in found if p.get("erased")}
    return erased >= set(unseen)


async def take(services: Services, match_id: str, step: str, form: dict[str, str]) -> None:
    """Take `step` on the match. A refusal for the operator (403) is raised as it is (the page shows it as a
    refusal); any other becomes a FieldErrors on the step's form field that housing names (`<step>-<match>-<field>`),
    else on the step's form as a whole (`<step>-<match>`: the match's state, a key reused), which the page says at its
    top."""
    s = STEPS[step]
    if wrong := desk.wrong_days({f: form.get(f, "") for f in s.fields}):  # a day that is none: said, not sent
        raise desk.FieldErrors({f"{step}-{match_id}-{f}": why for f, why in wrong.items()})
    key = resubmission.call_key(form, step, match_id)
    try:
        await services.post("housing", service_path(s.path, **s.ids(match_id, form)), s.body(form), key)
    except ServiceRefusal as r:
        if r.status == 403:
            raise
        errors: dict[str, str] = {}
        for field, reason in r.each:  # every field housing names, at once
            named = field.removeprefix("body.").split(".")[0].removesuffix("_cents")  # an amount: its field in euros
            errors.setdefault(f"{step}-{match_id}-{named}" if named in s.fields else f"{step}-{match_id}", reason)
        raise desk.FieldErrors(errors) from None


HOLD_FIELDS = ("reason", "until")  # housing's POST /households/{id}/park body; the page's fields are `hold-<name>`


async def hold(services: Services, household_id: str, form: dict[str, str], release: bool = False) -> None:
    """Put the household on hold (a coded reason and its last day) or end its hold. A refusal for the operator (403) is
    raised as it is; any other becomes a FieldErrors on the hold form's field housing names (`hold-<field>`), else on
    the form as a whole (`hold`)."""
    path = "/households/{}/unpark" if release else "/households/{}/park"
    body = {} if release else {f: v for f in HOLD_FIELDS if (v := form.get(f, "").strip())}
    if wrong := desk.wrong_days(body):
        raise desk.FieldErrors({f"hold-{f}": why for f, why in wrong.items()})
    key = resubmission.call_key(form, "release" if release else "hold", household_id)
    try:
        await services.post("housing", service_path(path, household_id), body, key)
    except ServiceRefusal as r:
        if r.status == 403:
            raise
        named = r.field.removeprefix("body.").split(".")[0]
        raise desk.FieldErrors({f"hold-{named}" if named in HOLD_FIELDS else "hold": r.reason}) from None
