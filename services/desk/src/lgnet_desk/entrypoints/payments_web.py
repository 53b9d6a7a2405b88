"""The payments office's pages (staff): what waits for a batch, the city's batches, a batch and its SEPA file, the
bank's result file. Thin like web.py: read the session, check CSRF, call the use case as the operator, render."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.web import SECURITY_HEADERS, Page, page_loader
from lgnet_desk.service_layer import desk, payments_office
from lgnet_desk.settings import DeskSettings


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)

    async def office(request: Request, p: Page, status: int = 200, **extra: Any) -> Response:
        assert p.services is not None and p.op is not None
        try:
            view = await payments_office.overview(p.services, p.op.city)
        except ServiceRefusal as r:
            return p.denied(r)
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
        except desk.FieldErrors as e:  # a date that is no day, said by the desk
            return await office(request, p, 422, errors=e.errors, form=f)
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
        return await download(request, batch_id, lambda s: payments_office.sepa_file(s, batch_id))

    async def download(
        request: Request, batch_id: str, read: Callable[[Services], Awaitable[tuple[bytes, str, str]]]
    ) -> Response:
        """A stored SEPA file as payments serves it (payments logs the download, with the operator's identity, for
        the batch's view); the desk's access log keeps it too, for the city's data-protection officer."""
        p = await page(request, need=OperatorRole.STAFF)
        assert p.services is not None and p.op is not None
        try:
            content, media_type, disposition = await read(p.services)
        except ServiceRefusal as r:
            async with request.app.state.pool.acquire() as conn:
                await store.log_export(conn, p.op, f"sepa file {batch_id}", "denied")
            return p.denied(r)
        async with request.app.state.pool.acquire() as conn:
            await store.log_export(conn, p.op, f"sepa file {batch_id}", "shown")
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": disposition, **SECURITY_HEADERS}
        )

    # ------------------------------------------------------------ voucher providers and their reimbursements

    async def providers_page(request: Request, p: Page, status: int = 200, **extra: Any) -> Response:
        assert p.services is not None
        try:
            view = await payments_office.providers(p.services)
        except ServiceRefusal as r:
            return p.denied(r)
        names = {q["provider_id"]: q["name"] or q["provider_id"] for q in view["providers"]}
        ctx: dict[str, Any] = {"errors": {}, "form": {}, "held": None, "done": None, "row": None} | extra
        return p.render("providers.html", status=status, names=names, **view, **ctx)

    @api.get("/payments/providers", response_class=HTMLResponse)
    async def providers(request: Request) -> Response:
        done = request.query_params.get("done")  # one of a fixed list, never text from the address
        said = done if done in ("registered", "bank-data", "approved") else None
        return await providers_page(request, await page(request, need=OperatorRole.STAFF), done=said)

    @api.post("/payments/providers", response_class=HTMLResponse)
    async def register_provider(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        kinds = [str(k) for k in (await request.form()).getlist("kinds")]
        try:
            await payments_office.register_provider(p.services, f, kinds)
        except desk.FieldErrors as e:  # said at its field, what was typed kept (the kinds ticked too)
            return await providers_page(request, p, 422, errors=e.errors, form=f, picked=kinds, row="new")
        return RedirectResponse("/payments/providers?done=registered", status_code=303)

    @api.post("/payments/providers/{provider_id}/bank-data", response_class=HTMLResponse)
    async def provider_bank_data(request: Request, provider_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            await payments_office.set_provider_bank_data(p.services, provider_id, f)
        except desk.FieldErrors as e:  # at the provider's own form, opened
            return await providers_page(request, p, 422, errors=e.errors, form=f, row=provider_id)
        return RedirectResponse("/payments/providers?done=bank-data", status_code=303)

    @api.post("/payments/providers/{provider_id}/approval", response_class=HTMLResponse)
    async def approve_provider_bank_data(request: Request, provider_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            await payments_office.approve_provider_bank_data(p.services, provider_id, f)
        except ServiceRefusal as r:  # whoever set the bank data, or nothing waits: payments' reason, said
            return await providers_page(request, p, r.status, errors={"approval": r.reason}, row=provider_id)
        return RedirectResponse("/payments/providers?done=approved", status_code=303)

    @api.post("/payments/reimbursements", response_class=HTMLResponse)
    async def reimburse(request: Request) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            made = await payments_office.reimburse(p.services, f)
        except ServiceRefusal as r:  # no paying account, a line without money: payments' reason, at the form
            return await providers_page(request, p, r.status, errors={"reimburse": r.reason})
        if made.get("run_id"):
            held = "&held=1" if made.get("held") else ""
            return RedirectResponse(f"/payments/reimbursement-runs/{made['run_id']}?made=1{held}", status_code=303)
        return await providers_page(request, p, held=made.get("held") or [])  # nothing to reimburse: why

    @api.get("/payments/reimbursement-runs/{run_id}", response_class=HTMLResponse)
    async def reimbursement_run(request: Request, run_id: str) -> Response:
        p = await page(request, need=OperatorRole.STAFF)
        assert p.services is not None
        try:
            view, listed = await asyncio.gather(
                payments_office.run(p.services, run_id), payments_office.providers(p.services)
            )
        except ServiceRefusal as r:
            return p.denied(r)
        names = {q["provider_id"]: q["name"] or q["provider_id"] for q in listed["providers"]}
        made = bool(request.query_params.get("made"))  # flags only: no text from the address is shown
        held = bool(request.query_params.get("held"))
        return p.render("reimbursement_run.html", run=view, names=names, made=made, held_some=held)

    @api.get("/payments/reimbursement-runs/{run_id}/pain.001")
    async def run_file(request: Request, run_id: str) -> Response:
        return await download(request, run_id, lambda s: payments_office.run_file(s, run_id))

    return api
