"""The city's housing catalogue at the desk (an outside tester's point: housing was listed, changed and withdrawn,
and the matching run, with curl only): its opportunities, one listed, changed or withdrawn, the city-wide matching
run now. Thin like web.py: read the session, check CSRF, call the use case as the operator, render; who may do what
is housing's rule, and housing away is said as the other pages say it (503, `web.service_away`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.entrypoints import i18n
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.web import Page, page_loader
from lgnet_desk.service_layer import desk, housing_catalogue
from lgnet_desk.settings import DeskSettings

Change = Callable[[Services, str, dict[str, str]], Awaitable[None]]
# what a form sent did, said on the page (a flag: never text from the address)
DONE = ("listed", "changed", "withdrawn", "rules")


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)

    async def catalogue(request: Request, p: Page, status: int = 200, **extra: Any) -> Response:
        assert p.services is not None and p.op is not None
        staff = p.op.role is OperatorRole.STAFF  # the city's matching rules are its staff's to set: read for them
        try:
            opportunities, rules = await asyncio.gather(
                housing_catalogue.catalogue(p.services),
                _rules_if_read(p.services) if staff else _nothing(),
            )
        except ServiceRefusal as r:
            return p.denied(r)
        ctx: dict[str, Any] = {
            "errors": {},
            "form": {},
            "row": None,
            "done": None,
            "run": None,
            "picked": [],
            "ticked": None,
        }
        return p.render(
            "housing_catalogue.html",
            status=status,
            opportunities=opportunities,
            rules=rules,
            optional_rules=housing_catalogue.OPTIONAL_RULES,
            rule_labels=i18n.HARD_RULES,
            kinds={o["opportunity_id"]: o["kind"] for o in opportunities},
            restriction_labels=i18n.RESTRICTIONS,
            withdrawal_labels=i18n.WITHDRAWALS,
            **ctx | extra,
        )

    @api.get("/housing", response_class=HTMLResponse)
    async def housing(request: Request) -> Response:
        done = request.query_params.get("done")
        return await catalogue(request, await page(request), done=done if done in DONE else None)

    @api.post("/housing/opportunities", response_class=HTMLResponse)
    async def list_opportunity(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        restrictions = [str(r) for r in (await request.form()).getlist("restrictions")]
        try:
            await housing_catalogue.list_opportunity(p.services, f, restrictions)
        except desk.FieldErrors as e:  # said at its field, what was typed and ticked kept
            return await catalogue(request, p, 422, errors=e.errors, form=f, picked=restrictions, row="new")
        return RedirectResponse("/housing?done=listed", status_code=303)

    async def on_one(request: Request, opportunity_id: str, run: Change, done: str) -> Response:
        """A change or withdrawal of one opportunity; a refusal said at its own form, opened."""
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        try:
            await run(p.services, opportunity_id, f)
        except desk.FieldErrors as e:
            return await catalogue(request, p, 422, errors=e.errors, form=f, row=opportunity_id)
        return RedirectResponse(f"/housing?done={done}", status_code=303)

    @api.post("/housing/opportunities/{opportunity_id}/change", response_class=HTMLResponse)
    async def change(request: Request, opportunity_id: str) -> Response:
        return await on_one(request, opportunity_id, housing_catalogue.change, "changed")

    @api.post("/housing/opportunities/{opportunity_id}/withdrawal", response_class=HTMLResponse)
    async def withdraw(request: Request, opportunity_id: str) -> Response:
        return await on_one(request, opportunity_id, housing_catalogue.withdraw, "withdrawn")

    @api.post("/housing/rules", response_class=HTMLResponse)
    async def save_rules(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        hard_rules = [str(r) for r in (await request.form()).getlist("hard_rules")]
        try:
            await housing_catalogue.save_rules(p.services, f, hard_rules)
        except desk.FieldErrors as e:  # said at its field (a change since the page was read: at the form's top)
            return await catalogue(request, p, 422, errors=e.errors, form=f, row="rules", ticked=hard_rules)
        return RedirectResponse("/housing?done=rules", status_code=303)

    @api.post("/housing/matching", response_class=HTMLResponse)
    async def run_matching(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        try:
            run = await housing_catalogue.run_matching(p.services, f)
        except ServiceRefusal as r:  # not the city's staff: housing's reason, said
            return await catalogue(request, p, r.status, errors={"matching": r.reason})
        return await catalogue(request, p, run=run)  # shown at once: the same form sent again is the same call

    return api


async def _nothing() -> None:
    return None


async def _rules_if_read(services: Services) -> dict[str, Any] | None:
    """The rules' form is left out when housing refuses them (the catalogue is still shown)."""
    try:
        return await housing_catalogue.rules(services)
    except ServiceRefusal:
        return None
