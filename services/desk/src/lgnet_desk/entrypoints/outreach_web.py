"""The desk's outreach screens (issue #19): the mobile units' outings, the contacts of an outing (and linking a
contact to the person taken in charge), a street person's history, and the day's agenda. Thin like web.py: read the
session, check CSRF, call intake as the operator, render. Opening a street person's page (it shows the nickname) is
recorded in the access log like a cartella."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from lgnet_shared import clock

from lgnet_desk.adapters.services import ServiceRefusal, service_path
from lgnet_desk.domain import countries, resubmission
from lgnet_desk.domain.agenda import when_problem
from lgnet_desk.domain.days import NOT_A_DATE, day_problem, iso_day
from lgnet_desk.domain.operators import OperatorRole
from lgnet_desk.entrypoints import i18n
from lgnet_desk.entrypoints.forms import as_days, form_of, whole_number
from lgnet_desk.entrypoints.web import page_loader
from lgnet_desk.service_layer import desk, persons
from lgnet_desk.service_layer.agenda import (
    check_booking,
    check_outing_staff,
    party,
    said_for_the_party,
    whose_agenda,
)
from lgnet_desk.settings import DeskSettings

DURATIONS = (15, 30, 45, 60, 90, 120)


def _lines(text: str) -> list[str]:
    """Places and staff typed one per line (or separated by commas)."""
    return [p.strip() for chunk in text.splitlines() for p in chunk.split(",") if p.strip()]


def _local(day: str, at: str) -> datetime | str:
    try:
        return datetime.fromisoformat(f"{day}T{at}").replace(tzinfo=clock.ZONE)
    except ValueError:
        return f"{day} {at}"  # passed on: the service names the field


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10  # YYYY-MM-DD, not the compact forms fromisoformat also reads


def _span(day: str, at: str, minutes: str) -> tuple[str, str]:
    start = _local(day, at)
    if isinstance(start, str):
        return start, start
    length = int(minutes) if minutes.isdigit() else 30
    return start.isoformat(), (start + timedelta(minutes=length)).isoformat()


def _agenda_of(day: str, shown_for: str, done: str) -> str:
    """The agenda's page of `day`, narrowed to the operator it was shown for (`shown_for`: her user name, or none):
    a booking, move or cancellation made from one operator's agenda goes back to hers (it went to every operator's),
    saying what was done (`done`: i18n.AGENDA_DONE's key; "Fissa" reloaded the page without a word)."""
    return "/agenda?" + urlencode({"day": day} | ({"operator": shown_for} if shown_for else {}) | {"done": done})


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    page = page_loader(settings)

    # ------------------------------------------------------------ outings

    async def outings_page(request: Request, status: int = 200, **extra: Any) -> Response:
        p = await page(request)
        assert p.services is not None
        since = clock.today() - timedelta(days=90)
        try:
            units = await p.services.get("intake", "/mobile-units")
            outings = await p.services.get("intake", "/outings", **{"from": since.isoformat()})
        except ServiceRefusal as r:
            return p.denied(r)
        names = {u["unit_id"]: u["name"] for u in units}
        ctx = {"units": units, "outings": outings, "names": names, "today": clock.today().isoformat()}
        return p.render("outings.html", status=status, **(ctx | {"form": {}, "errors": {}} | extra))

    @api.get("/outreach", response_class=HTMLResponse)
    async def outings(request: Request) -> Response:
        return await outings_page(request)

    @api.post("/outreach/outings", response_class=HTMLResponse)
    async def record_outing(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None and p.op is not None
        f = await form_of(request)
        key = resubmission.call_key(f, "outing")
        staff = _lines(f.get("staff", "")) or [p.op.username]  # usernames typed: sent as their codes
        body = {
            "outing_id": desk.new_id("out", key),
            "unit_id": f.get("unit_id") or None,  # left blank: intake says "required"
            "on": f.get("on"),
            "start_time": f.get("start_time"),
            "end_time": f.get("end_time"),
            "places": _lines(f.get("places", "")),
            "staff": staff,
        }
        fields = {k: k for k in ("unit_id", "on", "start_time", "end_time", "places", "staff")}
        try:
            async with request.app.state.pool.acquire() as conn:
                body["staff"] = await check_outing_staff(conn, p.op, staff)
            done = await desk.submit(p.services, "intake", "/outings", body, fields, key)
        except desk.FieldErrors as e:
            return await outings_page(request, status=422, errors=e.errors, form=f)
        return RedirectResponse(f"/outreach/outings/{done['outing_id']}", status_code=303)

    # ------------------------------------------------------------ the city's mobile units

    async def units_page(request: Request, status: int = 200, **extra: Any) -> Response:
        p = await page(request)
        assert p.services is not None
        try:
            units = await p.services.get("intake", "/mobile-units")
        except ServiceRefusal as r:
            return p.denied(r)
        return p.render("units.html", status=status, **({"units": units, "form": {}, "errors": {}} | extra))

    @api.get("/outreach/units", response_class=HTMLResponse)
    async def units(request: Request) -> Response:
        return await units_page(request)

    @api.post("/outreach/units", response_class=HTMLResponse)
    async def register_unit(request: Request) -> Response:
        """Staff register a unit (intake refuses anyone else, and a partner that is not one of the city's)."""
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        key = resubmission.call_key(f, "unit")
        body = {
            "unit_id": desk.new_id("unit", key),
            "name": f.get("name", "").strip(),
            "vehicle": f.get("vehicle", "").strip() or None,
            "area": f.get("area", "").strip(),
            "partner": f.get("partner", "").strip() or None,
            "team_size": whole_number(f.get("team_size", "")),
        }
        fields = {k: k for k in ("name", "vehicle", "area", "partner", "team_size")}
        try:
            await desk.submit(p.services, "intake", "/mobile-units", body, fields, key)
        except desk.FieldErrors as e:
            return await units_page(request, status=422, errors=e.errors, form=f)
        return RedirectResponse("/outreach/units", status_code=303)

    # ------------------------------------------------------------ contacts of an outing

    async def outing_page(request: Request, outing_id: str, status: int = 200, **extra: Any) -> Response:
        p = await page(request)
        assert p.services is not None
        try:
            outing = await p.services.get("intake", service_path("/outings/{}", outing_id))
        except ServiceRefusal as r:
            return p.denied(r)
        ctx = {"o": outing, "form": {}, "picked": {}, "errors": {}, "today": clock.today().isoformat()}
        return p.render("outing.html", status=status, **(ctx | extra))

    @api.get("/outreach/outings/{outing_id}", response_class=HTMLResponse)
    async def outing(request: Request, outing_id: str) -> Response:
        return await outing_page(request, outing_id)

    @api.post("/outreach/outings/{outing_id}/contacts", response_class=HTMLResponse)
    async def record_contact(request: Request, outing_id: str) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        form = await request.form()
        f = as_days({k: str(v) for k, v in form.items()})
        # the boxes ticked, shown ticked again on a refusal (they were lost)
        picked = {k: [str(v) for v in form.getlist(k)] for k in ("needs_observed", "services_offered")}
        key = resubmission.call_key(f, "contact")
        try:  # the country's name or its code, as at registration
            nationality = countries.country_code(f.get("nationality", ""))
        except ValueError as unknown:
            errors = {"nationality": str(unknown)}
            return await outing_page(request, outing_id, status=422, errors=errors, form=f, picked=picked)
        body: dict[str, Any] = {
            "contact_id": desk.new_id("ct", key),
            "outing_id": outing_id,
            "contacted_on": f.get("contacted_on"),
            "age_band": f.get("age_band") or None,  # a list left on "— choose —": not sent, intake says required
            "sex": f.get("sex") or None,
            "nationality": nationality,
            "needs_observed": [str(v) for v in form.getlist("needs_observed")],
            "services_offered": [str(v) for v in form.getlist("services_offered")],
            "place": f.get("place") or None,  # of several, left on "— choose —": not sent, intake says required
            "nickname": f.get("nickname", "").strip() or None,
            "same_as_contact_id": f.get("same_as_contact_id", "").strip() or None,
        }
        fields = {k: k for k in ("contacted_on", "age_band", "sex", "nationality", "place", "nickname")}
        fields |= {k: k for k in ("same_as_contact_id", "needs_observed", "services_offered")}
        try:
            await desk.submit(p.services, "intake", "/street-contacts", body, fields, key)
        except desk.FieldErrors as e:
            return await outing_page(request, outing_id, status=422, errors=e.errors, form=f, picked=picked)
        return RedirectResponse(f"/outreach/outings/{outing_id}", status_code=303)

    @api.post("/outreach/contacts/{contact_id}/link", response_class=HTMLResponse)
    async def link(request: Request, contact_id: str) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        body = {"person_id": f.get("person_id", "").strip(), "linked_on": f.get("linked_on")}
        at, key = service_path("/street-contacts/{}/link", contact_id), resubmission.call_key(f, "link", contact_id)
        fields = {"person_id": "person_id", "linked_on": "linked_on"}
        try:
            body["person_id"] = await persons.typed(p.services, body["person_id"] or "", "person_id")
            await desk.submit(p.services, "intake", at, body, fields, key)
        except desk.FieldErrors as e:
            errors = {f"{contact_id}-{k}": v for k, v in e.errors.items()}
            typed = {f"{contact_id}-{k}": f.get(k, "") for k in ("person_id", "linked_on")}  # kept, not lost
            return await outing_page(request, f.get("outing_id", ""), status=422, errors=errors, form=typed)
        return RedirectResponse(service_path("/outreach/outings/{}", f.get("outing_id", "")), status_code=303)

    @api.get("/outreach/street-persons/{street_id}", response_class=HTMLResponse)
    async def street_person(request: Request, street_id: str) -> Response:
        p = await page(request)
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                sp = await desk.read_logged(
                    conn, p.services, p.op, street_id, service_path("/street-persons/{}", street_id), "street person"
                )
            except ServiceRefusal as r:
                return p.denied(r, logged=True)
        return p.render("street_person.html", sp=sp)

    # ------------------------------------------------------------ the day's agenda

    async def agenda_page(request: Request, status: int = 200, **extra: Any) -> Response:
        p = await page(request)
        assert p.services is not None and p.op is not None
        typed = request.query_params.get("day")  # the day's field: gg/mm/aaaa, as every date of the desk
        day = (iso_day(typed) if typed else None) or extra.pop("agenda_day", None) or clock.today().isoformat()
        if not _is_day(day):  # said at the field, what was typed kept there, today's agenda shown (not intake's)
            extra["day_typed"] = day
            day, status = clock.today().isoformat(), 422
            extra["errors"] = {**extra.get("errors", {}), "day": day_problem(extra["day_typed"]) or NOT_A_DATE}
        # One operator's agenda (`?operator=<user name>`, or the form's `agenda_operator` when a post is refused and
        # the page shown again): asked with her party, as intake names operators within one
        whose: dict[str, str] = {}
        kept = extra.pop("agenda_operator", "")
        if narrowed := (request.query_params.get("operator") or kept or "").strip():
            async with request.app.state.pool.acquire() as conn:
                try:
                    whose = await whose_agenda(conn, p.op, narrowed)
                except desk.FieldErrors as e:  # said at the filter's field, the day's agenda shown whole
                    status, extra["errors"] = 422, {**extra.get("errors", {}), "agenda_operator": e.errors["operator"]}
        try:
            items = await p.services.get("intake", "/appointments", day=day, **whose)
            units = await p.services.get("intake", "/mobile-units")
        except ServiceRefusal as r:
            return p.denied(r)
        for a in items:
            a["starts"] = datetime.fromisoformat(a["starts_at"])
            a["ends"] = datetime.fromisoformat(a["ends_at"])
            # A cooperative sees its cases' appointments that others booked, and changes only those it booked
            # (intake's rule; the page offers no button intake would refuse).
            a["changeable"] = p.op.role is not OperatorRole.PARTNER or a["booked_by"] == p.op.service_actor
        unit_names = {u["unit_id"]: u["name"] for u in units}
        # The person to book with, chosen from their cartella (`?person_id=`) or on the form sent back; each person
        # named by name (the read in the access log), by id where intake does not show the name.
        chosen = (request.query_params.get("person_id") or (extra.get("form") or {}).get("person_id") or "").strip()
        async with request.app.state.pool.acquire() as conn:
            ids = [a["person_id"] for a in items if a.get("person_id")] + ([chosen] if chosen else [])
            names = await desk.person_names(conn, p.services, p.op, ids, "agenda")
            streets = [a["street_id"] for a in items if a.get("street_id") and not a.get("person_id")]
            nicknames = await desk.street_nicknames(conn, p.services, p.op, streets, "agenda")
        ctx = {"items": items, "agenda_day": day, "units": units, "unit_names": unit_names, "form": {}, "errors": {}}
        ctx |= {"names": names, "nicknames": nicknames, "chosen": chosen, "changing": None, "day_typed": None}
        ctx["agenda_operator"] = narrowed
        ctx["agenda_filter"] = narrowed if whose else ""  # the forms keep the filter that applied, not one refused
        ctx["durations"] = DURATIONS
        ctx["done"] = i18n.AGENDA_DONE.get(request.query_params.get("done", "")) if status == 200 else None
        return p.render("agenda.html", status=status, now=datetime.now(UTC), **(ctx | extra))

    @api.get("/agenda", response_class=HTMLResponse)
    async def agenda(request: Request) -> Response:
        return await agenda_page(request)

    @api.post("/agenda", response_class=HTMLResponse)
    async def book(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None and p.op is not None
        f = await form_of(request)
        day = f.get("day", clock.today().isoformat())
        starts_at, ends_at = _span(day, f.get("time", ""), f.get("minutes", "30"))
        typed = f.get("party", "").strip()
        chosen = f.get("person_id", "").strip()  # from the person's cartella
        key = resubmission.call_key(f, "appointment")
        body: dict[str, Any] = {
            "appointment_id": desk.new_id("apt", key),
            "agenda": "mobile_unit" if f.get("unit_id") else "desk",
            "operator": f.get("operator", "").strip() or p.op.username,  # a username typed: sent as her code
            "unit_id": f.get("unit_id") or None,
            "purpose": f.get("purpose") or None,
            "starts_at": starts_at,
            "ends_at": ends_at,
        }
        fields = {"starts_at": "time", "ends_at": "minutes", "purpose": "purpose", "operator": "operator",
                  "operator_partner": "operator", "person_id": "party", "contact_id": "party",
                  "unit_id": "unit_id"}  # fmt: skip
        try:
            async with request.app.state.pool.acquire() as conn:
                body["operator"], body["operator_partner"] = await check_booking(
                    conn, p.op, body["operator"], day, f.get("time", ""), clock.today()
                )
            body |= {"person_id": chosen} if chosen else await party(p.services, typed)
            await desk.submit(p.services, "intake", "/appointments", body, fields, key)
        except desk.FieldErrors as e:
            errors = e.errors if chosen else said_for_the_party(e.errors, typed)
            return await agenda_page(
                request, status=422, errors=errors, form=f, agenda_day=day, agenda_operator=f.get("agenda_operator", "")
            )
        return RedirectResponse(_agenda_of(day, f.get("agenda_operator", ""), "book"), status_code=303)

    async def change(request: Request, appointment_id: str, action: str, body: Any) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        f = await form_of(request)
        day = f.get("day", clock.today().isoformat())
        # A refusal keeps what was typed in the row's form (`changing`: the new day and time were reset, the
        # reason unchosen); a move shows the day the appointment moved to (the old day no longer has it).
        changing = {**f, "appointment_id": appointment_id}
        shown_for = f.get("agenda_operator", "")  # the operator whose agenda it was changed from (or none)
        if action == "move" and (
            refused := when_problem(f.get("new_day") or day, f.get("new_time", ""), clock.today())
        ):
            return await agenda_page(
                request,
                status=422,
                errors={appointment_id: refused},
                agenda_day=day,
                changing=changing,
                agenda_operator=shown_for,
            )
        try:
            key = resubmission.call_key(f, action, appointment_id)  # sent twice: the first answer, not "already"
            await p.services.post(
                "intake", service_path("/appointments/{}/{}", appointment_id, action), body(f, day), key
            )
        except ServiceRefusal as r:
            return await agenda_page(
                request,
                status=422,
                errors={appointment_id: r.reason},
                agenda_day=day,
                changing=changing,
                agenda_operator=shown_for,
            )
        shown = (f.get("new_day") or day) if action == "move" else day
        return RedirectResponse(_agenda_of(shown, shown_for, action), status_code=303)

    @api.post("/agenda/{appointment_id}/cancel", response_class=HTMLResponse)
    async def cancel(request: Request, appointment_id: str) -> Response:
        return await change(
            request,
            appointment_id,
            "cancel",
            lambda f, _: {"reason": f.get("reason") or None, "on": clock.today().isoformat()},
        )

    @api.post("/agenda/{appointment_id}/outcome", response_class=HTMLResponse)
    async def outcome(request: Request, appointment_id: str) -> Response:
        on = clock.today().isoformat()
        return await change(request, appointment_id, "outcome", lambda f, _: {"outcome": f.get("outcome"), "on": on})

    @api.post("/agenda/{appointment_id}/move", response_class=HTMLResponse)
    async def move(request: Request, appointment_id: str) -> Response:
        def body(f: dict[str, str], day: str) -> dict[str, str]:
            starts_at, ends_at = _span(f.get("new_day") or day, f.get("new_time", ""), f.get("minutes", "30"))
            return {"starts_at": starts_at, "ends_at": ends_at}

        return await change(request, appointment_id, "move", body)

    return api
