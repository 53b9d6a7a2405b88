"""A data subject's erasure (GDPR art. 17) at the desk, the city's staff only: from the cartella
(`/persons/{id}/erasure`) and from a street person's page (`/outreach/street-persons/{id}/erasure`), one page each
saying what will happen and asking for the subject's identifier, then intake's erasure (service_layer/erasure.py).
Thin like web.py: read the session (a cooperative's operator and the DPO refused, 403), check CSRF, call, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lgnet_desk.adapters.services import ServiceRefusal, service_path
from lgnet_desk.domain.erasure import KINDS, PERSON, Kind
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.domain.persons import full_name
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.web import Page, page_loader, refused_status
from lgnet_desk.service_layer import desk, erasure
from lgnet_desk.settings import DeskSettings

DONE = "done"  # the address's flag after the erasure: said only when intake's read confirms nothing is left


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)
    for kind in KINDS:
        _routes(api, page, kind)
    return api


def _routes(api: APIRouter, page: Callable[..., Awaitable[Page]], kind: Kind) -> None:
    address = kind.page.format("{subject_id}") + "/erasure"

    async def shown(request: Request, p: Page, subject_id: str, status: int = 200, **ctx: Any) -> Response:
        """The page as intake shows the subject now: the confirmation, or what is erased."""
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                found = await erasure.subject(conn, p.services, p.op, kind, subject_id)
            except ServiceRefusal as r:
                return p.denied(r, logged=True)
        erased = kind.erased(found)
        done = erased and request.query_params.get(DONE) == "1"
        ctx.setdefault("erased_on", found.get("nickname_erased_on"))  # a street person's: erased, not never given
        return _render(p, kind, subject_id, status, subject_name=_name(kind, found), erased=erased, done=done, **ctx)

    @api.get(address, response_class=HTMLResponse)
    async def confirmation(request: Request, subject_id: str) -> Response:
        return await shown(request, await page(request, need=OperatorRole.STAFF), subject_id)

    @api.post(address, response_class=HTMLResponse)
    async def erase(request: Request, subject_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None and p.op is not None
        form = await form_of(request)
        async with request.app.state.pool.acquire() as conn:
            try:
                await erasure.erase(conn, p.services, p.op, kind, subject_id, form)
            except desk.FieldErrors as e:  # not confirmed: nothing asked of intake, the page again
                return await shown(request, p, subject_id, 422, errors=e.errors, form=form)
            except ServiceRefusal as r:  # intake's refusal (already erased, not the city's…), said in Italian
                return _render(p, kind, subject_id, refused_status(r), refusal=r.reason)
        return RedirectResponse(service_path(kind.page, subject_id) + f"/erasure?{DONE}=1", status_code=303)


def _render(p: Page, kind: Kind, subject_id: str, status: int, **ctx: Any) -> HTMLResponse:
    back = service_path(kind.page, subject_id) + ("?purpose=case_work" if kind is PERSON else "")
    return p.render("erasure.html", status=status, kind=kind, subject_id=subject_id, back=back, **ctx)


def _name(kind: Kind, found: dict[str, Any]) -> str | None:
    """Whom the page names: a person by her name, a street person by the nickname the units gave (None: none left)."""
    return full_name(found) if kind is PERSON else found.get("nickname")
