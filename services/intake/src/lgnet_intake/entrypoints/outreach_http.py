"""Intake's HTTP API of outreach (issue #19): mobile units, outings, street contacts, the agenda and its reminders.
Thin, like http.py: authenticate, open a transaction, call the use case (service_layer/outreach.py), answer.
Answers documented as in http.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from lgnet_shared import clock, pii
from lgnet_shared.auth import Client, Staff, Who, Writer
from lgnet_shared.db import Conn
from lgnet_shared.events import outreach as ev
from lgnet_shared.events.types import IsoDate
from lgnet_shared.http import ChangeKey, CreateKey, problem_responses, request_secret, transition
from lgnet_shared.service import Runtime

from lgnet_intake import settings
from lgnet_intake.entrypoints import responses as r
from lgnet_intake.entrypoints.calls import Calls
from lgnet_intake.service_layer import outreach as uc
from lgnet_intake.service_layer.handlers import Context, Intake

Run = Callable[[uc.Outreach, Context], Awaitable[Any]]
# An operator value names an operator within a party (docs/outreach.md, "Whose operator"): a filter names both.
OperatorAsked = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Only this operator's appointments: the caller's own party's operator (a partner's own; the city's"
        " staff: the city's own staff operator) unless `operator_partner` names her partner",
    ),
]
PartyAsked = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Whose operator(s): the partner whose operators `operator` names (alone: all of that partner's"
        " operators). The city's staff: one of the city's partners (404 or 403 otherwise); a partner: only itself"
        " (403)",
    ),
]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["outreach"], responses=problem_responses())
    publish = not settings.sandbox(runtime.settings.topic_prefix, runtime.settings.db_schema)
    master = runtime.settings.master_key_bytes()
    fiscal_secret = pii.derive(master, "fiscal-code-hash")
    nickname_secret = pii.derive(master, uc.NICKNAME_SECRET)
    secret = request_secret(master)  # contact bodies hold nicknames

    def build(conn: Conn) -> uc.Outreach:
        assert runtime.keys is not None
        intake = Intake(conn, runtime.keys, fiscal_secret, settings.national_pseudonym_key(), publish=publish)
        return uc.Outreach(intake, nickname_secret)

    calls = Calls(runtime, build, secret)
    use_case, create, act = calls.use_case, calls.create, calls.act

    @api.post(
        "/mobile-units",
        status_code=201,
        summary="Staff: register a mobile unit (team, vehicle, area)",
        responses=r.answers(r.MobileUnitRegistered, "The unit registered", 201),
    )
    async def register_unit(body: uc.RegisterMobileUnit, actor: Staff, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda o, c: o.register_unit(c, body), "POST /mobile-units")

    @api.get(
        "/mobile-units",
        summary="The city's mobile units (a partner: those it runs)",
        responses=r.answers(list[r.MobileUnit], "By name"),
    )
    async def units(actor: Who) -> Any:
        return await act(actor, lambda o, c: o.units(c))

    @api.post(
        "/outings",
        status_code=201,
        summary="Record an outing of a mobile unit",
        responses=r.answers(r.OutingRecorded, "The outing recorded", 201),
    )
    async def outing(body: ev.OutingSubmitted, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda o, c: o.record_outing(c, body), "POST /outings")

    @api.get(
        "/outings",
        summary="Outings between two days (default: the last 30), newest first, with their contacts",
        responses=r.answers(list[r.OutingOfList], "Newest first"),
    )
    async def outings(
        actor: Who,
        since: Annotated[IsoDate | None, Query(alias="from")] = None,
        until: Annotated[IsoDate | None, Query(alias="to")] = None,
        unit_id: str | None = None,
    ) -> Any:
        last = until or clock.today()
        first = since or max(last, date.min + timedelta(days=30)) - timedelta(days=30)  # (0001-01-05: from 0001-01-01)
        return await act(actor, lambda o, c: o.outings(c, first, last, unit_id))

    @api.get(
        "/outings/{outing_id}",
        summary="An outing with its contacts (nicknames not shown)",
        responses=r.answers(r.OutingDetail, "The outing"),
    )
    async def outing_with_contacts(outing_id: str, actor: Who) -> Any:
        return await act(actor, lambda o, c: o.outing(c, outing_id))

    @api.post(
        "/street-contacts",
        status_code=201,
        summary="Record a contact made during an outing (anonymous)",
        responses=r.answers(r.ContactRecorded, "The contact recorded", 201),
    )
    async def contact(body: uc.RecordStreetContact, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda o, c: o.record_contact(c, body), "POST /street-contacts")

    @api.post(
        "/street-contacts/{contact_id}/link",
        status_code=201,
        summary="The contacted person was taken in charge: link them to the registered person",
        responses=r.answers(r.StreetPersonLinked, "The street person linked", 201),
    )
    async def link(contact_id: str, body: uc.LinkStreetContact, actor: Writer, key: CreateKey) -> JSONResponse:
        route = f"POST /street-contacts/{contact_id}/link"
        return await create(actor, key, body, lambda o, c: o.link_contact(c, contact_id, body), route)

    @api.get(
        "/street-persons/{street_id}",
        summary="A street person: contacts, first contact, nickname, link",
        responses=r.answers(r.StreetPerson, "The street person"),
    )
    async def street_person(street_id: str, actor: Who, client: Client = None) -> Any:
        return await calls.read(actor, client, "street_person", street_id, lambda o, c: o.street_person(c, street_id))

    @api.post(
        "/street-persons/nicknames",
        summary="Street persons' nicknames, many in one call: those the caller may read (as GET /street-persons/{id}),"
        " in the order asked, each read in the read log",
        responses=r.answers(list[r.StreetPersonNickname], "Those the caller may read"),
    )
    async def street_nicknames(body: uc.StreetPersonIds, actor: Writer, client: Client = None) -> Any:
        # The national role refused whole, as each read would be, and before the body is read (`Writer`, as the
        # persons' search, another read by POST). Each read as GET /street-persons/{id}: shown, or refused (denied in
        # the read log) and left out; one that does not exist is no one's read, left out too. One transaction for all.
        return await calls.read_each(
            actor,
            client,
            "street_person",
            list(dict.fromkeys(body.street_ids)),
            lambda o, c, street_id: o.street_nickname(c, street_id),
        )

    @api.post(
        "/street-persons/{street_id}/erasure",
        summary="Staff: erase a street person's nickname (forgotten)",
        responses=r.answers(r.StreetPersonErased, "The nickname erased"),
    )
    async def erase_street_person(street_id: str, actor: Staff, key: ChangeKey = None) -> Any:
        async with use_case(actor) as (outreach, ctx):
            route = f"POST /street-persons/{street_id}/erasure"
            return await transition(
                outreach.conn, actor.id, key, route, {}, lambda: outreach.erase_street_person(ctx, street_id)
            )

    @api.post(
        "/appointments",
        status_code=201,
        summary="Book an appointment (no double booking of an operator within her party: the city's or a partner's)",
        responses=r.answers(r.AppointmentBooked, "The appointment booked", 201),
    )
    async def book(body: uc.BookAppointment, actor: Writer, key: CreateKey) -> JSONResponse:
        return await create(actor, key, body, lambda o, c: o.book(c, body), "POST /appointments")

    @api.get(
        "/appointments",
        summary="The agenda of a local day (Europe/Rome), by start time",
        responses=r.answers(list[r.Appointment], "By start time"),
    )
    async def day_agenda(
        actor: Who,
        day: IsoDate | None = None,
        operator: OperatorAsked = None,
        unit_id: str | None = None,
        operator_partner: PartyAsked = None,
    ) -> Any:
        on = day or clock.today()
        return await act(actor, lambda o, c: o.day_agenda(c, on, operator, unit_id, operator_partner))

    @api.post(
        "/appointments/{appointment_id}/move",
        status_code=201,
        summary="Move a booked appointment",
        responses=r.answers(r.AppointmentMoved, "The appointment moved", 201),
    )
    async def move(appointment_id: str, body: uc.MoveAppointment, actor: Writer, key: CreateKey) -> JSONResponse:
        route = f"POST /appointments/{appointment_id}/move"
        return await create(actor, key, body, lambda o, c: o.move(c, appointment_id, body), route)

    @api.post(
        "/appointments/{appointment_id}/cancel",
        status_code=201,
        summary="Cancel a booked appointment",
        responses=r.answers(r.AppointmentCancelled, "The appointment cancelled", 201),
    )
    async def cancel(appointment_id: str, body: uc.CancelAppointment, actor: Writer, key: CreateKey) -> JSONResponse:
        route = f"POST /appointments/{appointment_id}/cancel"
        return await create(actor, key, body, lambda o, c: o.cancel(c, appointment_id, body), route)

    @api.post(
        "/appointments/{appointment_id}/outcome",
        status_code=201,
        summary="Record whether the person came (no-show)",
        responses=r.answers(r.AppointmentOutcome, "The outcome recorded", 201),
    )
    async def outcome(
        appointment_id: str, body: uc.RecordAppointmentOutcome, actor: Writer, key: CreateKey
    ) -> JSONResponse:
        route = f"POST /appointments/{appointment_id}/outcome"
        return await create(actor, key, body, lambda o, c: o.record_outcome(c, appointment_id, body), route)

    @api.get(
        "/appointments/reminders/open",
        summary="Open appointment reminders (reminded, still booked, no outcome): city's for staff, a partner's own",
        responses=r.answers(list[r.AppointmentReminder], "The oldest reminder first"),
    )
    async def open_reminders(actor: Who, operator: OperatorAsked = None, operator_partner: PartyAsked = None) -> Any:
        return await act(actor, lambda o, c: o.open_reminders(c, operator, operator_partner))

    @api.get(
        "/appointments/reminders",
        summary="Staff: appointments due for a reminder on a day (the next day's)",
        responses=r.answers(list[r.Appointment], "By start time"),
    )
    async def due(actor: Staff, day: IsoDate) -> Any:
        rows = await act(actor, lambda o, c: o.due_reminders(c, day))
        return [uc.iso(row) for row in rows]

    @api.post(
        "/appointments/reminders",
        summary="Staff: emit appointment_reminder_due for each appointment due on the day (idempotent per appointment)",
        responses=r.answers(r.RemindersSent, "The reminders of the day"),
    )
    async def remind(body: uc.SendReminders, actor: Staff, key: CreateKey) -> JSONResponse:
        # Idempotent by nature (one reminder per appointment); the key makes a retry answer what the first call did.
        run: Run = lambda o, c: o.send_reminders(c, body.day)  # noqa: E731
        return await create(actor, key, body, run, "POST /appointments/reminders", status_code=200)

    return api
