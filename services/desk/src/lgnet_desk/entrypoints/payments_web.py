"""The payments office's pages (staff): what waits for a batch, the city's batches, a batch and its SEPA file, the
bank's result file. Thin like web.py: read the session, check CSRF, call the use case as the operator, render."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lgnet_desk.adapters.services import ServiceRefusal
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.web import SECURITY_HEADERS, Page, page_loader
from lgnet_desk.service_layer import desk, payments_office
from lgnet_desk.settings import DeskSettings

AWAY = ServiceRefusal(502, "", "payments did not answer")


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)

    async def office(request: Request, p: Page, status: int = 200, **extra: Any) -> Response:
        assert p.services is not None and p.op is not None
        try:
            view = await payments_office.overview(p.services, p.op.city)
        except ServiceRefusal as r:
            return p.denied(r)
        except httpx.HTTPError:
            return p.denied(AWAY)
        ctx: dict[str, Any] = {"errors": {}, "form": {}, "result": None} | extra
        return p.render("payments.html", status=status, **view, **ctx)

    @api.get("/payments", response_class=HTMLResponse)
    async def payments(request: Request) -> Response:
        account = bool(request.query_params.get("account"))  # a flag only: no text from the address is shown
        return await office(request, await page(request, need=OperatorRole.STAFF), account_set=account)

    @api.post("/payments/account", response_class=HTMLResponse)
    async def set_account(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None and p.op is not None
        f = await form_of(request)
        try:
            await payments_office.set_account(p.services, p.op.city, f)
        except ServiceRefusal as r:  # an IBAN or BIC payments refuses: said at its field, what was typed kept
            field = r.field if r.field in payments_office.ACCOUNT else "account"
            return await office(request, p, r.status, errors={field: r.reason}, form=f)
        return RedirectResponse("/payments?account=1", status_code=303)

    @api.post("/payments/batches", response_class=HTMLResponse)
    async def make_batch(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            batch_id = await payments_office.make_batch(p.services, f)
        except ServiceRefusal as r:  # nothing to batch, no paying account, a date the bank would not take
            field = "execution_date" if r.field == "execution_date" else "batch"  # said at the date, or the form's
            return await office(request, p, r.status, errors={field: r.reason}, form=f)
        return RedirectResponse(f"/payments/batches/{batch_id}?made=1", status_code=303)

    @api.post("/payments/reconciliations", response_class=HTMLResponse)
    async def take_in(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        upload = (await request.form()).get("bank_file")
        chosen = upload is not None and not isinstance(upload, str) and bool(upload.filename)
        try:
            if not chosen:
                raise desk.FieldErrors({"bank_file": "choose a file"})
            assert upload is not None and not isinstance(upload, str)
            data = await upload.read(desk.MAX_UPLOAD + 1)
            result = await payments_office.take_in(
                p.services, data, upload.filename or "", upload.content_type or "", f
            )
        except desk.FieldErrors as e:
            return await office(request, p, 422, errors=e.errors)
        except ServiceRefusal as r:  # a file payments refuses applies nothing: its reason, at the form
            return await office(request, p, r.status, errors={"bank_file": r.reason})
        return await office(request, p, result=result)  # shown at once: the same form sent again is the same call

    @api.get("/payments/batches/{batch_id}", response_class=HTMLResponse)
    async def batch(request: Request, batch_id: str) -> Response:
        p = await page(request, need=OperatorRole.STAFF)
        assert p.services is not None
        try:
            view = await payments_office.batch(p.services, batch_id)
        except ServiceRefusal as r:
            return p.denied(r)
        made = bool(request.query_params.get("made"))  # a flag only: no text from the address is shown
        return p.render("payment_batch.html", batch=view, made=made)

    @api.get("/payments/batches/{batch_id}/pain.001")
    async def sepa_file(request: Request, batch_id: str) -> Response:
        p = await page(request, need=OperatorRole.STAFF)
        assert p.services is not None
        try:
            content, media_type, disposition = await payments_office.sepa_file(p.services, batch_id)
        except ServiceRefusal as r:
            return p.denied(r)
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": disposition, **SECURITY_HEADERS}
        )

    return api
