"""The desk's civic engagement pages (docs/civic-engagement.md): the activities of the city (a partner's own), an
activity with its sessions and certificates, and a session's attendance register. Thin like web.py: each page calls
intake's /civic API as the operator, so intake decides who may see and record what."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from lgnet_shared import clock

from lgnet_desk.adapters.services import ServiceRefusal, Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.entrypoints.forms import form_of, whole_number
from lgnet_desk.service_layer import civic, desk, persons
from lgnet_desk.service_layer.agenda import check_outing_staff

PageOf = Callable[..., Awaitable[Any]]  # web.router's `page(request, csrf_check=…)`: a web.Page
KINDS = "civic_activity_kind"
LEVELS = "cefr_level"


def ids(text: str) -> list[str]:
    """Operators' user names typed in a box: separated by commas, spaces or new lines, each once, in order."""
    return list(dict.fromkeys(x for x in re.split(r"[\s,;]+", text.strip()) if x))


def entries(text: str) -> list[str]:
    """Persons typed in a box, by name or identifier: separated by commas, semicolons or new lines (a name has
    spaces), each once, in order."""
    return list(dict.fromkeys(x.strip() for x in re.split(r"[,;\n]+", text) if x.strip()))


async def typed_persons(services: Services, text: str, field: str) -> list[str]:
    """The identifiers of the persons typed in a box (`persons.typed`); the first entry that names nobody or several
    is refused at `field` (its words kept in the box, for the operator to correct)."""
    found = [await persons.typed(services, entry, field) for entry in entries(text)]
    return list(dict.fromkeys(found))


async def named_here(request: Request, p: Any, person_ids: list[str], action: str) -> dict[str, str]:
    """Each person's name, the read in the access log as `action` (desk.person_names)."""
    async with request.app.state.pool.acquire() as conn:
        return await desk.person_names(conn, p.services, p.op, person_ids, action)


def add_routes(api: APIRouter, page: PageOf) -> None:
    def today() -> str:
        return clock.today().isoformat()

    async def activities_page(request: Request, status: int = 200, **ctx: Any) -> Response:
        p = await page(request)
        services: Services = p.services
        try:
            activities = await services.get("intake", "/civic/activities")
        except ServiceRefusal as r:
            return p.denied(r)  # type: ignore[no-any-return]
        ctx.setdefault("form", {})
        ctx.setdefault("errors", {})
        return p.render("civic_activities.html", status=status, activities=activities, today=today(), **ctx)  # type: ignore[no-any-return]

    @api.get("/civic", response_class=HTMLResponse)
    async def activities(request: Request) -> Response:
        return await activities_page(request)

    @api.post("/civic", response_class=HTMLResponse)
    async def organise(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        f = await form_of(request)
        key = resubmission.call_key(f, "activity")
        body: dict[str, Any] = {
            "activity_id": desk.new_id("act", key),
            "kind": f.get("kind") or None,
            "title": f.get("title", "").strip(),
            "starts_on": f.get("starts_on", ""),
            "ends_on": f.get("ends_on") or None,
            "target_level": f.get("target_level") or None,
            "min_attendance_percent": whole_number(f.get("min_attendance_percent") or "70"),
        }
        fields = {k: k for k in ("title", "kind", "starts_on", "ends_on", "target_level", "min_attendance_percent")}
        try:
            await desk.submit(p.services, "intake", "/civic/activities", body, fields, key)
        except desk.FieldErrors as e:
            return await activities_page(request, status=422, form=f, errors=e.errors)
        return RedirectResponse(f"/civic/{body['activity_id']}", status_code=303)

    async def activity_page(request: Request, activity_id: str, status: int = 200, **ctx: Any) -> Response:
        p = await page(request)
        try:
            activity = await p.services.get("intake", service_path("/civic/activities/{}", activity_id))
        except ServiceRefusal as r:
            return p.denied(r)  # type: ignore[no-any-return]
        ctx.setdefault("form", {})
        ctx.setdefault("errors", {})
        names = await named_here(request, p, [c["person_id"] for c in activity["certificate_list"]], "civic activity")
        return p.render("civic_activity.html", status=status, a=activity, today=today(), names=names, **ctx)  # type: ignore[no-any-return]

    @api.get("/civic/{activity_id}", response_class=HTMLResponse)
    async def activity(request: Request, activity_id: str) -> Response:
        return await activity_page(request, activity_id)

    @api.post("/civic/{activity_id}/sessions", response_class=HTMLResponse)
    async def hold_session(request: Request, activity_id: str) -> Response:
        p = await page(request, csrf_check=True)
        f = await form_of(request)
        key = resubmission.call_key(f, "session")
        facilitators = ids(f.get("facilitators", ""))
        body = {
            "activity_id": activity_id,
            "session_id": desk.new_id("ses", key),
            "held_on": f.get("held_on", ""),
            "place": f.get("place", "").strip(),
            "duration_minutes": whole_number(f.get("duration_minutes", "")),
            "facilitators": facilitators,
        }
        fields = {k: k for k in ("held_on", "place", "duration_minutes", "facilitators", "volunteer_ids")}
        try:
            async with request.app.state.pool.acquire() as conn:
                # typed by username, sent as their codes
                body["facilitators"] = await check_outing_staff(conn, p.op, facilitators, "facilitators")
            body["volunteer_ids"] = await typed_persons(p.services, f.get("volunteer_ids", ""), "volunteer_ids")
            await desk.submit(p.services, "intake", "/civic/sessions", body, fields, key)
        except desk.FieldErrors as e:
            return await activity_page(request, activity_id, status=422, form=f, errors=e.errors)
        return RedirectResponse(f"/civic/{activity_id}/sessions/{body['session_id']}", status_code=303)

    @api.post("/civic/{activity_id}/certificates", response_class=HTMLResponse)
    async def certify(request: Request, activity_id: str) -> Response:
        p = await page(request, csrf_check=True)
        f = await form_of(request)
        key = resubmission.call_key(f, "certificate")
        body = {
            "activity_id": activity_id,
            "certificate_id": desk.new_id("cert", key),
            "person_id": f.get("person_id", "").strip(),
            "issued_on": f.get("issued_on", ""),
            "level_at_entry": f.get("level_at_entry") or None,
            "level_reached": f.get("level_reached") or None,
        }
        fields = {k: k for k in ("person_id", "issued_on", "level_at_entry", "level_reached")}
        fields["activity_id"] = "person_id"
        try:
            body["person_id"] = await persons.typed(p.services, str(body["person_id"]), "person_id")
            await desk.submit(p.services, "intake", "/civic/certificates", body, fields, key)
        except desk.FieldErrors as e:
            return await activity_page(request, activity_id, status=422, form=f, errors=e.errors)
        return RedirectResponse(f"/civic/{activity_id}", status_code=303)

    async def register_page(request: Request, aid: str, sid: str, status: int = 200, **ctx: Any) -> Response:
        p = await page(request)
        try:  # the register lists whoever attended a session of the activity (a course's class), ready to tick
            a, s, known = await civic.register_of_session(p.services, aid, sid)
        except ServiceRefusal as r:
            return p.denied(r)  # type: ignore[no-any-return]
        marks = {m["person_id"]: m["present"] for m in s["register"]}
        if sent := ctx.get("form"):  # a refused register comes back ticked as the operator left it
            listed = [k.removeprefix("row_") for k in sent if k.startswith("row_")]
            marks |= {pid: bool(sent.get(f"present_{pid}")) for pid in listed}
        rows = [(pid, marks.get(pid)) for pid in dict.fromkeys([*marks, *known])]
        names = await named_here(request, p, [pid for pid, _ in rows], "civic register")
        ctx.setdefault("errors", {})
        return p.render("civic_register.html", status=status, a=a, s=s, rows=rows, names=names, **ctx)  # type: ignore[no-any-return]

    @api.get("/civic/{activity_id}/sessions/{session_id}", response_class=HTMLResponse)
    async def register(request: Request, activity_id: str, session_id: str) -> Response:
        return await register_page(request, activity_id, session_id)

    @api.post("/civic/{activity_id}/sessions/{session_id}", response_class=HTMLResponse)
    async def record_register(request: Request, activity_id: str, session_id: str) -> Response:
        p = await page(request, csrf_check=True)
        f = await form_of(request)
        listed = [k.removeprefix("row_") for k in f if k.startswith("row_")]
        present = [pid for pid in listed if f.get(f"present_{pid}")]
        absent = [pid for pid in listed if not f.get(f"present_{pid}")]
        body = {"activity_id": activity_id, "session_id": session_id, "present": present, "absent": absent}
        key, fields = (
            resubmission.call_key(f, "attendance", session_id),
            {"present": "add_present", "absent": "add_present"},
        )
        try:
            added = await typed_persons(p.services, f.get("add_present", ""), "add_present")
            present += [pid for pid in added if pid not in listed]
            await desk.submit(p.services, "intake", "/civic/attendance", body, fields, key)
        except desk.FieldErrors as e:
            return await register_page(request, activity_id, session_id, status=422, errors=e.errors, form=f)
        return RedirectResponse(f"/civic/{activity_id}/sessions/{session_id}?saved=1", status_code=303)
