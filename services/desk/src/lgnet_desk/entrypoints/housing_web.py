"""The household's housing steps (an outside tester found none could be taken at the desk): its proposals and
matches, why it is not matching, accepting, declining or placing a match, ending a placement, the signed lease. Thin
like web.py: read the session, check CSRF, call the use case as the operator, render; who may do what is housing's
rule, and housing away is said as the other pages say it (503, `web.service_away`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from lgnet_shared import clock

from lgnet_desk.adapters.services import ServiceRefusal, Services, ServiceUnavailable
from lgnet_desk.domain.housing_steps import STEPS, SYSTEM_DECLINES, said_at_no_field
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.entrypoints import i18n
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.web import page_loader
from lgnet_desk.service_layer import desk, housing_steps
from lgnet_desk.settings import DeskSettings

HOLD_SHOWN = frozenset(f"hold-{f}" for f in housing_steps.HOLD_FIELDS) | {"hold"}  # the hold form's, said there


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)

    async def housing_page(request: Request, household_id: str, status: int = 200, **extra: Any) -> Response:
        p = await page(request)
        if p.op is not None and p.op.role is OperatorRole.DPO:  # no identity on housing: not a page of hers
            raise HTTPException(403, "not for this role")
        assert p.services is not None
        try:
            view = await housing_steps.household(p.services, household_id)
        except ServiceRefusal as r:
            return p.denied(r)
        assert p.op is not None
        async with request.app.state.pool.acquire() as conn:
            name, member = await housing_steps.household_reference(
                conn, p.services, p.op, household_id, list(view["cases"])
            )
        ctx: dict[str, Any] = {
            "household_id": household_id,
            "household_name": name,
            "member_id": member,  # the cartella the page links back to
            "today": clock.today().isoformat(),
        }
        ctx |= {"system_declines": SYSTEM_DECLINES} | view | {"form": {}, "errors": {}, "posted": ""} | extra
        # a refusal whose form is not on the page (the match moved on meanwhile) is said at the page's top
        alerts = said_at_no_field(ctx["errors"], view["matches"], HOLD_SHOWN)
        done = i18n.HOUSING_DONE.get(request.query_params.get("done", "")) if status == 200 else None
        return p.render("housing.html", status=status, alerts=alerts, done=done, **ctx)

    @api.get("/households/{household_id}/housing", response_class=HTMLResponse)
    async def housing(request: Request, household_id: str) -> Response:
        return await housing_page(request, household_id)

    Change = Callable[[Services, dict[str, str]], Awaitable[None]]

    async def change(request: Request, household_id: str, posted: str, do: Change, done: str) -> Response:
        """A housing change sent from the page: housing's refusal for the operator is the refusal page, a refusal at
        a field is the page again with the form sent as it was (`posted`: which one), the others as new; recorded,
        the page says so (`done`: which change, i18n.HOUSING_DONE)."""
        p = await page(request, csrf_check=True)
        if p.op is not None and p.op.role is OperatorRole.DPO:
            raise HTTPException(403, "not for this role")
        assert p.services is not None
        f = await form_of(request)
        try:
            await do(p.services, f)
        except ServiceRefusal as r:
            return p.denied(r)
        except desk.FieldErrors as e:
            return await housing_page(request, household_id, 422, errors=e.errors, form=f, posted=posted)
        except ServiceUnavailable as e:  # nothing recorded: the form as sent, saying so (housing away: kept instead)
            return await housing_page(request, household_id, 503, form=f, posted=posted, away=e.service)
        return RedirectResponse(f"/households/{household_id}/housing?done={done}", status_code=303)

    @api.post("/households/{household_id}/housing/{match_id}/{step}", response_class=HTMLResponse)
    async def take(request: Request, household_id: str, match_id: str, step: str) -> Response:
        if step not in STEPS:
            raise HTTPException(404)
        return await change(
            request, household_id, f"{step}-{match_id}", lambda s, f: housing_steps.take(s, match_id, step, f), step
        )

    @api.post("/households/{household_id}/housing/{hold}", response_class=HTMLResponse)
    async def hold(request: Request, household_id: str, hold: str) -> Response:
        """Put the household on hold, or end its hold (`hold`: hold, release)."""
        if hold not in ("hold", "release"):
            raise HTTPException(404)
        release = hold == "release"
        return await change(
            request, household_id, hold, lambda s, f: housing_steps.hold(s, household_id, f, release=release), hold
        )

    return api
