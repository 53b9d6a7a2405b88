"""Civic engagement's use cases (docs/civic-engagement.md). Each runs in the caller's transaction like intake's
others: checks the rules (domain/civic.py), changes the state and stages the canonical facts in the outbox. The HTTP
routes (entrypoints/civic_http.py) and the partners' gatekeeper call the same functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

from lgnet_shared.errors import Conflict, NotFound
from lgnet_shared.events import Event
from lgnet_shared.events import civic as ev
from lgnet_shared.events.types import Id

from lgnet_intake.adapters import civic_repository as civic_repo
from lgnet_intake.adapters import repository as repo
from lgnet_intake.domain import civic, people
from lgnet_intake.domain.access import Role
from lgnet_intake.service_layer.handlers import Context, Intake


class OrganiseActivity(ev.CivicActivitySubmitted):
    """Staff may name the partner that organises the activity (none: the city organises it)."""

    partner: Id | None = None


async def organise_activity(i: Intake, ctx: Context, c: ev.CivicActivitySubmitted) -> dict[str, Any]:
    civic.check_activity(c.kind, c.starts_on, c.ends_on, c.target_level)
    people.check_pseudonymous_id(c.activity_id, "activity_id")  # in clear on Kafka, for good
    people.check_no_identifying_text(c.title, "title")  # in clear on Kafka, for good
    partner = civic.organiser(ctx.actor, getattr(c, "partner", None))
    city = ctx.city
    if partner is not None and ctx.actor.role is not Role.PARTNER:
        await i._partner_of_city(partner, city, "partner")
    row = {**c.model_dump(), "kind": c.kind.value, "target_level": c.target_level and c.target_level.value}
    row |= {"city": city, "partner": partner, "created_by": ctx.actor.id}
    if not await civic_repo.insert_activity(i.conn, row):
        raise await i.taken(ctx, "activity_id", c.activity_id, f"activity {c.activity_id} already exists")
    await i.emit(
        ctx,
        ev.CivicActivityOrganised(
            activity_id=c.activity_id, city=city, kind=c.kind, title=c.title, partner=partner, starts_on=c.starts_on,
            ends_on=c.ends_on, target_level=c.target_level, min_attendance_percent=c.min_attendance_percent,
        ),
    )  # fmt: skip
    return {"activity_id": c.activity_id, "partner": partner}


async def _persons_of_city(i: Intake, ctx: Context, ids: Sequence[str], field: str) -> list[str]:
    """The surviving ids of persons of the caller's city (the activity's), not erased; each refusal names the list
    item. Another city's person is said as one that exists nowhere: "no person … in torino" told it apart."""
    out = []
    for n, pid in enumerate(ids):
        try:
            p = await repo.person(i.conn, pid, caller=ctx.actor)
        except NotFound as absent:
            raise type(absent)(f"{field}.{n}", absent.reason) from None
        if p["erased_at"] is not None:
            raise Conflict(f"{field}.{n}", "the person was erased")
        out.append(p["person_id"])
    civic.check_each_once(out, field)  # two ids merged into one person are the same participant
    return out


async def hold_session(i: Intake, ctx: Context, c: ev.CivicSessionSubmitted) -> dict[str, Any]:
    activity = await civic_repo.activity(i.conn, c.activity_id, ctx.actor)
    civic.may_act_on_activity(ctx.actor, activity)
    civic.check_session(activity, c.held_on, ctx.today, c.volunteer_ids)
    people.check_pseudonymous_id(c.session_id, "session_id")  # in clear on Kafka, for good
    people.check_no_identifying_text(c.place, "place")
    for n, operator in enumerate(c.facilitators):  # operators' ids: never their e-mail or phone
        people.check_pseudonymous_id(operator, f"facilitators.{n}")
    volunteers = await _persons_of_city(i, ctx, c.volunteer_ids, "volunteer_ids")
    if await civic_repo.session(i.conn, c.session_id) is not None:
        raise await i.taken(ctx, "session_id", c.session_id, f"session {c.session_id} already exists")
    await civic_repo.insert_session(i.conn, {**c.model_dump(), "volunteer_ids": volunteers})
    await i.emit(ctx, ev.CivicSessionHeld(**{**c.model_dump(), "volunteer_ids": volunteers}))
    return {"activity_id": c.activity_id, "session_id": c.session_id}


async def record_attendance(i: Intake, ctx: Context, c: ev.CivicAttendanceSubmitted) -> dict[str, Any]:
    activity = await civic_repo.activity(i.conn, c.activity_id, ctx.actor)
    civic.may_act_on_activity(ctx.actor, activity)
    s = await civic_repo.session(i.conn, c.session_id)
    if s is None or s["activity_id"] != c.activity_id:
        raise NotFound("session_id", f"no session {c.session_id} of activity {c.activity_id}")
    civic.check_register(c.present, c.absent)
    present = await _persons_of_city(i, ctx, c.present, "present")
    absent = await _persons_of_city(i, ctx, c.absent, "absent")
    civic.check_register(present, absent)  # again on surviving ids: merged persons are one
    await civic_repo.record_attendance(
        i.conn, c.session_id, [(p, True) for p in present] + [(p, False) for p in absent]
    )
    await i.emit(
        ctx,
        ev.CivicAttendanceRecorded(activity_id=c.activity_id, session_id=c.session_id, present=present, absent=absent),
    )
    return {"session_id": c.session_id, "present": len(present), "absent": len(absent)}


async def issue_certificate(i: Intake, ctx: Context, c: ev.CivicCertificateSubmitted) -> dict[str, Any]:
    activity = await civic_repo.activity(i.conn, c.activity_id, ctx.actor)
    civic.may_act_on_activity(ctx.actor, activity)
    people.check_pseudonymous_id(c.certificate_id, "certificate_id")  # in clear on Kafka, for good
    (person,) = await _persons_of_city(i, ctx, [c.person_id], "person_id")
    if await civic_repo.certificate_of(i.conn, c.activity_id, person) is not None:
        raise Conflict("person_id", "already holds a certificate of this activity")
    attended, held = await civic_repo.attendance_of(i.conn, c.activity_id, person, c.issued_on)
    civic.check_certificate(activity, c.issued_on, ctx.today, attended, held, c.level_at_entry, c.level_reached)
    fact = ev.CivicCertificateIssued(
        activity_id=c.activity_id, certificate_id=c.certificate_id, person_id=person, issued_on=c.issued_on,
        attended_sessions=attended, held_sessions=held, level_at_entry=c.level_at_entry, level_reached=c.level_reached,
    )  # fmt: skip
    row = fact.model_dump(mode="json") | {"issued_on": c.issued_on}
    if not await civic_repo.insert_certificate(i.conn, row):
        raise await i.taken(ctx, "certificate_id", c.certificate_id, f"certificate {c.certificate_id} already exists")
    await i.emit(ctx, fact)
    return {"certificate_id": c.certificate_id, "attended_sessions": attended, "held_sessions": held}


# ---------------------------------------------------------------- reading (desk screens)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items() if k != "created_at"}


async def list_activities(i: Intake, ctx: Context) -> list[dict[str, Any]]:
    partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
    return [_plain(r) for r in await civic_repo.activities(i.conn, ctx.city, partner)]


async def read_activity(i: Intake, ctx: Context, activity_id: str) -> dict[str, Any]:
    activity = await civic_repo.activity(i.conn, activity_id, ctx.actor)
    civic.may_act_on_activity(ctx.actor, activity)
    return {
        **_plain(await civic_repo.activity_row(i.conn, activity_id)),
        "session_list": [_plain(s) for s in await civic_repo.sessions(i.conn, activity_id)],
        "certificate_list": [_plain(c) for c in await civic_repo.certificates(i.conn, activity_id)],
    }


async def read_register(i: Intake, ctx: Context, activity_id: str, session_id: str) -> dict[str, Any]:
    activity = await civic_repo.activity(i.conn, activity_id, ctx.actor)
    civic.may_act_on_activity(ctx.actor, activity)
    s = await civic_repo.session(i.conn, session_id)
    if s is None or s["activity_id"] != activity_id:
        raise NotFound("session_id", f"no session {session_id} of activity {activity_id}")
    return {**_plain(s), "register": await civic_repo.register(i.conn, session_id)}


# The use case of each civic submission partners send through the gatekeeper.
BY_SUBMISSION: dict[type[Event], Callable[[Intake, Context, Any], Awaitable[dict[str, Any]]]] = {
    ev.CivicActivitySubmitted: organise_activity,
    ev.CivicSessionSubmitted: hold_session,
    ev.CivicAttendanceSubmitted: record_attendance,
    ev.CivicCertificateSubmitted: issue_certificate,
}
