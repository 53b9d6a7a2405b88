"""Operators' accounts at the desk: her own password changed ("Cambia la password"; an operator who logs in through
the city's identity provider is told that her password is kept there), and the DPO's access review of the city's
operators ("Operatori", its CSV). Thin like web.py: the session, the CSRF check, the use case, the page."""

from __future__ import annotations

import csv
import io
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lgnet_desk.adapters import store
from lgnet_desk.domain import spreadsheet
from lgnet_desk.domain.operators import MIN_PASSWORD, OperatorRole
from lgnet_desk.entrypoints.forms import form_of
from lgnet_desk.entrypoints.i18n import _
from lgnet_desk.entrypoints.web import SECURITY_HEADERS, SESSION_COOKIE, Page, lockout_policy, page_loader
from lgnet_desk.service_layer import login
from lgnet_desk.settings import DeskSettings

# Each refusal's reason as the page says it (its field's message); the lock's is the login's.
REASONS = {
    f"at least {MIN_PASSWORD} characters": _("The new password must be at least %(n)d characters long."),
    "wrong": _("The current password is not right."),
    "the two new passwords differ": _("The two new passwords differ."),
    "the same as the current one": _("The new password is the same as the current one: choose another."),
    "no password at the desk": _("You log in through the city's identity provider: change your password there."),
}


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)
    policy = lockout_policy(settings)

    @api.get("/password", response_class=HTMLResponse)
    async def password_form(request: Request) -> Response:
        p = await page(request, any_role=True)
        assert p.op is not None
        async with request.app.state.pool.acquire() as conn:
            has_password = await login.has_password(conn, p.op.username)
        changed = request.query_params.get("changed") == "1"  # a flag only: the page says its own words
        return p.render(
            "password.html", has_password=has_password, errors={}, changed=changed, min_password=MIN_PASSWORD
        )

    @api.post("/password", response_class=HTMLResponse)
    async def change_password(request: Request) -> Response:
        p = await page(request, csrf_check=True, any_role=True)
        assert p.op is not None
        form = await form_of(request)
        client = request.client.host if request.client else ""
        this_session = login.session_hash(request.cookies.get(SESSION_COOKIE, ""))
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            try:
                await login.change_password(
                    conn,
                    p.op.username,
                    form.get("current_password", ""),
                    form.get("new_password", ""),
                    form.get("new_password_again", ""),
                    client,
                    policy,
                    this_session,
                )
            except login.PasswordRefused as refused:
                if refused.locked:
                    said = p.t.ngettext(
                        "Too many failed attempts: the account is locked for %(minutes)d minute.",
                        "Too many failed attempts: the account is locked for %(minutes)d minutes.",
                        settings.lockout_minutes,
                    ) % {"minutes": settings.lockout_minutes}
                else:
                    said = p.t.gettext(REASONS[refused.reason]) % {"n": MIN_PASSWORD}
                has_password = refused.reason != "no password at the desk"
                return p.render(
                    "password.html",
                    status=422,
                    has_password=has_password,
                    errors={refused.field: said},
                    changed=False,
                    min_password=MIN_PASSWORD,
                )
        return RedirectResponse("/password?changed=1", status_code=303)

    async def review(request: Request) -> tuple[Page, list[dict[str, object]]]:
        p = await page(request, need=OperatorRole.DPO)
        assert p.op is not None
        async with request.app.state.pool.acquire() as conn:
            return p, await store.access_review(conn, p.op.city)

    @api.get("/operators", response_class=HTMLResponse)
    async def operators(request: Request) -> Response:
        p, accounts = await review(request)
        assert p.op is not None
        async with request.app.state.pool.acquire() as conn:
            changes = await store.admin_actions(conn, p.op.city)
        return p.render("operators.html", accounts=accounts, admin_actions=changes)

    @api.get("/operators.csv")
    async def operators_csv(request: Request) -> Response:
        p, accounts = await review(request)
        t, out = p.t.gettext, io.StringIO()
        w = csv.writer(out)
        w.writerow([t("Username"), t("Name"), t("Role"), t("Organisation"), t("In the event log as"),
                    t("Logs in with"), t("Since"), t("Last login"), t("State"),
                    p.t.gettext("Earlier names")])  # fmt: skip
        for a in accounts:
            ended = a["deactivated_at"]
            row = [
                a["username"],
                a["display_name"],
                t(str(a["role"])),
                p.actor_names.get(str(a["partner"]), str(a["partner"])) if a["partner"] else "",
                " ".join(cast(list[str], a["in_the_log"])),
                t("password") if a["has_password"] else t("the city's identity provider"),
                a["created_at"].isoformat(),  # type: ignore[attr-defined]
                a["last_login"].isoformat() if a["last_login"] else t("never"),  # type: ignore[attr-defined]
                t("deactivated on %(day)s") % {"day": ended.date().isoformat()} if ended else t("active"),  # type: ignore[attr-defined]
                "; ".join(
                    t("formerly %(name)s, until %(day)s") % {"name": f["name"], "day": f["until"].date().isoformat()}
                    for f in cast(list[dict[str, Any]], a["former_names"])
                ),
            ]
            w.writerow([spreadsheet.cell(str(v)) for v in row])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="operators.csv"', **SECURITY_HEADERS},
        )

    return api
