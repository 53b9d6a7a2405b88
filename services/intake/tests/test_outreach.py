"""Outreach against real Kafka and PostgreSQL (issue #19): a unit's outing and its contacts over HTTP and from a
partner through the gatekeeper (nickname sealed, never in clear), the link to a person keeping the first-contact
date, the agenda without double booking, no-shows, and reminders emitted once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter as time_counter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from lgnet_intake.adapters import schema
from lgnet_shared import clock
from lgnet_shared.access import ID_TAKEN
from lgnet_shared.events import outreach as ev
from lgnet_shared.events.intake import Channel, InboundRejected

if TYPE_CHECKING:
    from lgnet_shared.sdk import PartnerClient

    from conftest import IntakeUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
EARLIER = clock.today() - timedelta(days=40)  # fixed at import: in the past either day


async def send(c: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await c.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any], want: int = 201) -> dict[str, Any]:
    r = await send(c, path, body)
    assert r.status_code == want, r.text
    return r.json()  # type: ignore[no-any-return]


def nickname(uid: str) -> str:
    """A nickname of the test's own: one nickname is one street person of the city, on the module's shared intake."""
    return f"Il Rosso di Porta Nuova {uid}"


def outing(uid: str, oid: str, on: date) -> dict[str, Any]:
    """An outing of the test's own unit (`unit`)."""
    return {
        "outing_id": oid,
        "unit_id": f"unit-nord-{uid}",
        "on": on.isoformat(),
        "start_time": "20:30",
        "end_time": "00:30",
        "places": ["Stazione Porta Nuova", "Giardini Alimonda"],
        "staff": [f"op-giulia-{uid}", f"op-marco-{uid}"],
    }


def contact(cid: str, oid: str, on: date, **extra: Any) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "outing_id": oid,
        "contacted_on": on.isoformat(),
        "age_band": "30_44",
        "sex": "male",
        "nationality": "MA",
        "needs_observed": ["food", "shelter"],
        "services_offered": ["food", "information"],
        "place": "Stazione Porta Nuova",
        **extra,
    }


async def rejections(client: PartnerClient, *sent: str) -> dict[str, InboundRejected]:
    """The partner's rejections, by the refused event's id, read until those of the events `sent` are there (its
    topic holds the module's other tests' rejections too: they are read from its start)."""
    answers: dict[str, InboundRejected] = {}
    async for rejection in client.rejections(timeout=20):
        answers[rejection.inbound_event_id] = rejection
        if set(sent) <= answers.keys():
            break
    return answers


def mine(events: list[Any], uid: str) -> list[Any]:
    """The events of this test's own ids (on the module's intake a straggler of the test before could follow)."""
    return [e for e in events if uid in e.model_dump_json()]


def ours(items: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    """This test's appointments among a list (the module's intake holds the other tests' too)."""
    return [i for i in items if i["appointment_id"].endswith(uid)]


async def unit(intake: IntakeUnderTest, uid: str, partner: str | None = "coop-aurora") -> None:
    """The test's own mobile unit (`unit-nord-<uid>`): the module's intake holds the other tests' too."""
    async with intake.client("staff-torino") as staff:
        body = {
            "unit_id": f"unit-nord-{uid}",
            "name": "Unità di strada Nord",
            "vehicle": "camper",
            "area": "Circoscrizione 6",
            "partner": partner,
            "team_size": 3,
        }
        await post(staff, "/mobile-units", body)


async def test_street_contacts_tie_by_nickname_and_keep_the_first_contact_when_linked(
    intake: IntakeUnderTest, uid: str
) -> None:
    await unit(intake, uid)
    async with intake.client("coop-aurora") as aurora:
        assert (await post(aurora, "/outings", outing(uid, f"o-1-{uid}", EARLIER)))["minutes"] == 240
        await post(aurora, "/outings", outing(uid, f"o-2-{uid}", clock.today() - timedelta(days=2)))
        first = await post(
            aurora, "/street-contacts", contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER, nickname=nickname(uid))
        )
        # Met again past midnight: same nickname written differently → the same street person.
        again = await post(
            aurora,
            "/street-contacts",
            contact(
                f"ct-2-{uid}",
                f"o-2-{uid}",
                clock.today() - timedelta(days=1),
                nickname=f"  il rosso di porta nuova {uid.upper()}",
            ),
        )
        assert again["street_id"] == first["street_id"] and again["first_contact_on"] == EARLIER.isoformat()
        other = await post(
            aurora, "/street-contacts", contact(f"ct-3-{uid}", f"o-2-{uid}", clock.today() - timedelta(days=2))
        )
        assert other["street_id"] != first["street_id"]
        refused = await send(
            aurora, "/street-contacts", contact(f"ct-4-{uid}", f"o-2-{uid}", clock.today(), place="Piazza Castello")
        )
        assert refused.status_code == 422 and refused.json()["field"] in ("place", "contacted_on")
        # Taken in charge: registered, then linked. The first contact's date stays.
        person = {
            "person_id": f"p-karim-{uid}",
            "birth_date": "1990-01-01",
            "sex": "male",
            "nationality": "MA",
            "identity": {"given_name": "Karim", "family_name": "Benali"},
        }
        await post(aurora, "/persons", person)
        linked = await post(
            aurora,
            f"/street-contacts/ct-2-{uid}/link",
            {"person_id": f"p-karim-{uid}", "linked_on": str(clock.today())},
        )
        assert linked["first_contact_on"] == EARLIER.isoformat()
        assert linked["days_to_taking_in_charge"] == (clock.today() - EARLIER).days
        history = (await aurora.get(f"/street-persons/{first['street_id']}")).json()
        assert history["nickname"] == nickname(uid) and history["person_id"] == f"p-karim-{uid}"
        assert [c["contact_id"] for c in history["contacts"]] == [f"ct-1-{uid}", f"ct-2-{uid}"]
    async with intake.client("staff-torino") as staff:  # erasing the person erases the nickname the unit gave
        assert (await send(staff, f"/persons/p-karim-{uid}/erasure", {})).status_code in (200, 201)
        assert (await staff.get(f"/street-persons/{first['street_id']}")).json()["nickname"] is None
    # Its lookup hash goes too, as for a street person erased on their own: the nickname met again is someone new,
    # not "the street person was erased" (which confirmed a guessed nickname as the erased person's).
    async with intake.pool.acquire() as conn:
        hashed = "select nickname_hash from street_persons where street_id = $1"
        assert await conn.fetchval(hashed, first["street_id"]) is None
    async with intake.client("coop-aurora") as aurora:
        met_again = contact(f"ct-5-{uid}", f"o-2-{uid}", clock.today() - timedelta(days=2), nickname=nickname(uid))
        someone_new = (await post(aurora, "/street-contacts", met_again))["street_id"]
        assert someone_new != first["street_id"]
    async with intake.client("coop-borgo") as borgo:  # another partner: not its unit
        r = await send(borgo, "/outings", outing(uid, f"o-9-{uid}", clock.today()))
        assert r.status_code == 404 and r.json()["field"] == "unit_id"  # as a unit that exists nowhere
    special = mine(await intake.events("intake.special", want=4), uid)
    contacts = [e for e in special if isinstance(e, ev.StreetContactRecorded)]
    assert {c.street_id for c in contacts} == {first["street_id"], other["street_id"], someone_new}
    assert all(c.nickname is None or c.nickname.kid in (first["street_id"], someone_new) for c in contacts)
    (link,) = [e for e in special if isinstance(e, ev.StreetPersonLinked)]
    assert (link.person_id, link.first_contact_on, link.linked_on) == (f"p-karim-{uid}", EARLIER, clock.today())
    raw = b"".join(r.value for r in await intake.raw_records("intake.special"))
    assert b"Rosso" not in raw and b"rosso" not in raw  # the nickname never travels in clear


async def test_partners_send_outings_contacts_and_appointments_through_the_gatekeeper(
    intake: IntakeUnderTest, uid: str
) -> None:
    await unit(intake, uid)
    starts = datetime.combine(clock.today() + timedelta(days=3), datetime.min.time(), tzinfo=UTC) + timedelta(hours=18)
    async with intake.partner("coop-aurora", "torino") as client:
        await client.emit(ev.OutingSubmitted(**{**outing(uid, f"o-1-{uid}", EARLIER), "on": EARLIER}))
        await client.emit(
            ev.StreetContactSubmitted(
                **{k: v for k, v in contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER).items()},
                identity=ev.StreetIdentity(nickname=client.seal("nickname", nickname(uid))),
            )
        )
        await client.emit(
            ev.AppointmentBookingSubmitted(
                appointment_id=f"apt-1-{uid}",
                agenda="mobile_unit",
                operator=f"op-giulia-{uid}",
                unit_id=f"unit-nord-{uid}",
                contact_id=f"ct-1-{uid}",
                purpose="street_follow_up",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
            )
        )
        clash = await client.emit(
            ev.AppointmentBookingSubmitted(
                appointment_id=f"apt-2-{uid}",
                agenda="mobile_unit",
                operator=f"op-giulia-{uid}",
                unit_id=f"unit-nord-{uid}",
                contact_id=f"ct-1-{uid}",
                purpose="street_follow_up",
                starts_at=starts + timedelta(minutes=15),
                ends_at=starts + timedelta(minutes=45),
            )
        )
        late = await client.emit(
            ev.StreetContactSubmitted(**contact(f"ct-9-{uid}", f"o-1-{uid}", EARLIER, place="Altrove"))
        )
        blank = await client.emit(  # a nickname of spaces: refused at the sealed identity's field (was data.nickname)
            ev.StreetContactSubmitted(
                **contact(f"ct-8-{uid}", f"o-1-{uid}", EARLIER),
                identity=ev.StreetIdentity(nickname=client.seal("nickname", "  ")),
            )
        )
        by_id = await rejections(client, blank.id, clash.id, late.id)
    assert (by_id[blank.id].kind, by_id[blank.id].field) == ("invalid", "data.identity.nickname"), by_id[blank.id]
    assert (by_id[clash.id].kind, by_id[clash.id].field) == ("conflict", "data.starts_at")
    assert (by_id[late.id].kind, by_id[late.id].field) == ("invalid", "data.place")
    events = mine(await intake.events(want=3), uid)
    booked = next(e for e in events if isinstance(e, ev.AppointmentBooked))
    assert booked.street_id is not None and booked.person_id is None and booked.booked_by == "coop-aurora"
    async with intake.client("staff-torino") as staff:
        history = (await staff.get(f"/street-persons/{booked.street_id}")).json()
        assert history["nickname"] == nickname(uid)  # opened from HPKE, re-sealed with the street person's key
        assert history["nickname_erased_on"] is None
        assert (await send(staff, f"/street-persons/{booked.street_id}/erasure", {})).status_code in (200, 201)
        forgotten = (await staff.get(f"/street-persons/{booked.street_id}")).json()
        assert forgotten["nickname"] is None and len(forgotten["contacts"]) == 1  # the facts stay
        # erased, not "never given": the desk and a DPO tell the two apart (a person asks whether it was done)
        assert forgotten["nickname_erased_on"] == str(clock.today())


# Own service: the day's reminders are the city's: it asserts that those emitted are all those due, once.
@pytest.mark.own_service
async def test_an_appointment_is_booked_or_moved_from_now_on_never_into_the_past(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: an appointment starting yesterday was booked without a word (a mistyped day), and one
    was moved into the past as well. A booking starts from the current minute on (its start's minute may be now's):
    one before is refused at `starts_at`, saying why; recording afterwards what happened (`recorded_afterwards`) is
    not a booking, and its start is then in the past."""
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    async with intake.client("staff-torino") as staff:
        await post(staff, "/persons", {"person_id": f"p-1-{uid}", "birth_date": "1985-01-01", "sex": "female",
                                       "nationality": "NG"})  # fmt: skip

        def booking(aid: str, start: datetime, **extra: Any) -> dict[str, Any]:
            return {"appointment_id": aid, "agenda": "desk", "operator": f"op-giulia-{uid}", "person_id": f"p-1-{uid}",
                    "purpose": "first_interview", "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat(), **extra}  # fmt: skip

        yesterday = await send(staff, "/appointments", booking(f"a-y-{uid}", now - timedelta(days=1)))
        assert yesterday.status_code == 422, yesterday.text
        assert yesterday.json()["field"] == "starts_at" and "past" in yesterday.json()["reason"], yesterday.text
        a_minute_ago = await send(staff, "/appointments", booking(f"a-m-{uid}", minute - timedelta(seconds=1)))
        assert a_minute_ago.status_code == 422, a_minute_ago.text
        await post(staff, "/appointments", booking(f"a-now-{uid}", minute))  # this minute: a walk-in, now
        later = now + timedelta(days=2)
        await post(staff, "/appointments", booking(f"a-l-{uid}", later))
        back = {"starts_at": (now - timedelta(hours=3)).isoformat(), "ends_at": (now - timedelta(hours=2)).isoformat()}
        moved = await send(staff, f"/appointments/a-l-{uid}/move", back)
        assert moved.status_code == 422 and moved.json()["field"] == "starts_at", moved.text
        assert "past" in moved.json()["reason"], moved.text
        day = [a for a in (await staff.get("/appointments", params={"day": str(clock.today(later))})).json()
               if a["appointment_id"] == f"a-l-{uid}"]  # fmt: skip
        assert [a["starts_at"][:16] for a in day] == [later.isoformat()[:16]]  # not moved
        # What took place yesterday, recorded afterwards: not a booking
        await post(staff, "/appointments", booking(f"a-r-{uid}", now - timedelta(days=1), recorded_afterwards=True))
        await post(staff, f"/appointments/a-r-{uid}/outcome", {"outcome": "attended", "on": str(clock.today())})
        ahead = await send(staff, "/appointments", booking(f"a-f-{uid}", later, recorded_afterwards=True))
        assert ahead.status_code == 422 and ahead.json()["field"] == "recorded_afterwards", ahead.text


async def test_the_agenda_books_moves_cancels_records_no_shows_and_reminds_once(
    intake: IntakeUnderTest, uid: str
) -> None:
    tomorrow = clock.today() + timedelta(days=1)
    nine = datetime.combine(tomorrow, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)  # 09:00 or 10:00 in Rome
    past = datetime.now(UTC) - timedelta(hours=2)
    async with intake.client("staff-torino") as staff:
        person = {"person_id": f"p-1-{uid}", "birth_date": "1985-01-01", "sex": "female", "nationality": "NG"}
        await post(staff, "/persons", person)

        def booking(aid: str, start: datetime, operator: str = f"op-giulia-{uid}") -> dict[str, Any]:
            return {
                "appointment_id": aid,
                "agenda": "desk",
                "operator": operator,
                "person_id": f"p-1-{uid}",
                "purpose": "first_interview",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=45)).isoformat(),
            }

        await post(staff, "/appointments", booking(f"a-1-{uid}", nine))
        clash = await send(staff, "/appointments", booking(f"a-2-{uid}", nine + timedelta(minutes=30)))
        assert clash.status_code == 409 and clash.json()["field"] == "starts_at"
        await post(
            staff, "/appointments", booking(f"a-2-{uid}", nine + timedelta(minutes=30), operator=f"op-marco-{uid}")
        )
        await post(staff, "/appointments", booking(f"a-3-{uid}", nine + timedelta(hours=2)))
        moved = await send(
            staff,
            f"/appointments/a-3-{uid}/move",
            {"starts_at": nine.isoformat(), "ends_at": (nine + timedelta(minutes=20)).isoformat()},
        )
        assert moved.status_code == 409  # onto a-1's time
        await post(
            staff,
            f"/appointments/a-3-{uid}/move",
            {"starts_at": (nine + timedelta(hours=3)).isoformat(), "ends_at": (nine + timedelta(hours=4)).isoformat()},
        )
        await post(staff, f"/appointments/a-2-{uid}/cancel", {"reason": "by_person", "on": str(clock.today())})
        await post(staff, "/appointments", booking(f"a-past-{uid}", past) | {"recorded_afterwards": True})
        await post(staff, f"/appointments/a-past-{uid}/outcome", {"outcome": "no_show", "on": str(clock.today())})
        early = await send(staff, f"/appointments/a-1-{uid}/outcome", {"outcome": "attended", "on": str(clock.today())})
        assert early.status_code == 422
        day = [a["appointment_id"] for a in (await staff.get("/appointments", params={"day": str(tomorrow)})).json()]
        assert {f"a-1-{uid}", f"a-2-{uid}", f"a-3-{uid}"} <= set(day)
        due = (await staff.get("/appointments/reminders", params={"day": str(clock.today())})).json()
        assert {a["appointment_id"] for a in due} >= {f"a-1-{uid}", f"a-3-{uid}"} and f"a-2-{uid}" not in {
            a["appointment_id"] for a in due
        }
        first = (await send(staff, "/appointments/reminders", {"day": str(clock.today())})).json()
        again = (await send(staff, "/appointments/reminders", {"day": str(clock.today())})).json()
        assert set(first["emitted"]) == {a["appointment_id"] for a in due} and again["emitted"] == []
    async with intake.client("coop-aurora") as partner:
        r = await send(partner, "/appointments/reminders", {"day": str(clock.today())})
        assert r.status_code == 403
    events = await intake.events(want=10)
    reminders = [e for e in events if isinstance(e, ev.AppointmentReminderDue)]
    assert sorted(r.appointment_id for r in reminders) == sorted(first["emitted"])
    assert any(isinstance(e, ev.AppointmentOutcomeRecorded) and e.outcome == "no_show" for e in events)
    await asyncio.sleep(0)


async def test_open_appointment_reminders_reach_the_cases_operator_and_the_citys_staff(
    intake: IntakeUnderTest, uid: str
) -> None:
    """What the desk's to-do list reads: reminded appointments still waiting, the case's partner's own only."""
    tomorrow = datetime.combine(clock.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    async with intake.client("staff-torino") as staff:
        for pid in (f"p-case-{uid}", f"p-alone-{uid}"):
            await post(
                staff, "/persons", {"person_id": pid, "birth_date": "1980-02-02", "sex": "male", "nationality": "SN"}
            )
        await post(
            staff,
            "/households",
            {"household_id": f"h-1-{uid}", "reference_person_id": f"p-case-{uid}", "member_ids": [f"p-case-{uid}"]},
        )
        case = {
            "case_id": f"c-1-{uid}",
            "household_id": f"h-1-{uid}",
            "action_area": "taking_charge",
            "channel": "desk",
            "opened_on": str(clock.today()),
            "housing_need": False,
            "partner": "coop-aurora",
        }
        await post(staff, "/cases", case)
        for aid, pid, operator in (
            (f"a-case-{uid}", f"p-case-{uid}", f"op-giulia-{uid}"),
            (f"a-alone-{uid}", f"p-alone-{uid}", f"op-marco-{uid}"),
        ):
            booking = {
                "appointment_id": aid,
                "agenda": "desk",
                "operator": operator,
                "person_id": pid,
                "purpose": "plan_review",
                "starts_at": tomorrow.isoformat(),
                "ends_at": (tomorrow + timedelta(minutes=30)).isoformat(),
            }
            await post(staff, "/appointments", booking)
        assert ours((await staff.get("/appointments/reminders/open")).json(), uid) == []  # booked, not yet reminded
        await post(staff, "/appointments/reminders", {"day": str(clock.today())}, want=200)
        everything = ours((await staff.get("/appointments/reminders/open")).json(), uid)
        assert [r["appointment_id"] for r in everything] == [f"a-alone-{uid}", f"a-case-{uid}"]
        mine = (await staff.get("/appointments/reminders/open", params={"operator": f"op-giulia-{uid}"})).json()
        assert [r["appointment_id"] for r in mine] == [f"a-case-{uid}"]
        bad = await staff.get("/appointments/reminders/open", params={"operator": ""})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["field"] == "query.operator"
    async with intake.client("coop-aurora") as aurora:
        (r,) = ours((await aurora.get("/appointments/reminders/open")).json(), uid)
        assert (
            r["kind"] == "appointment_reminder_due"
            and r["case_id"] == f"c-1-{uid}"
            and r["case_partner"] == "coop-aurora"
        )
        assert r["since"] == str(clock.today()) and r["waiting_days"] == 0 and r["starts_at"] == tomorrow.isoformat()
        # The to-do item links to that day's agenda: the case's operator sees there the appointment the city's staff
        # booked with its case's person (not the other one), and may not change it (the one who booked it may).
        day = ours(
            (await aurora.get("/appointments", params={"day": str(clock.today() + timedelta(days=1))})).json(), uid
        )
        assert [(a["appointment_id"], a["booked_by"]) for a in day] == [(f"a-case-{uid}", "staff-torino")]
        refused = await send(
            aurora, f"/appointments/a-case-{uid}/cancel", {"reason": "by_person", "on": str(clock.today())}
        )
        assert refused.status_code == 403 and refused.json()["field"] == "appointment_id"  # in its agenda: told why
    for other in ("coop-borgo", "staff-trieste"):
        async with intake.client(other) as c:
            assert ours((await c.get("/appointments/reminders/open")).json(), uid) == []
            tomorrows = (await c.get("/appointments", params={"day": str(clock.today() + timedelta(days=1))})).json()
            assert ours(tomorrows, uid) == []
    async with intake.client("coordination") as national:
        assert (await national.get("/appointments/reminders/open")).status_code == 403
    async with intake.client("staff-torino") as staff:
        await post(staff, f"/appointments/a-case-{uid}/cancel", {"reason": "by_person", "on": str(clock.today())})
    async with intake.client("coop-aurora") as aurora:
        assert ours((await aurora.get("/appointments/reminders/open")).json(), uid) == []  # the step is taken: gone


async def test_two_contacts_of_a_new_nickname_at_once_make_one_street_person(intake: IntakeUnderTest, uid: str) -> None:
    """Found by the scenario: two units meeting a newcomer the same evening must not collide on the nickname."""
    await unit(intake, uid)
    async with intake.client("coop-aurora") as aurora:
        await post(aurora, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        answers = await asyncio.gather(
            *(
                post(
                    aurora,
                    "/street-contacts",
                    contact(f"ct-{i}-{uid}", f"o-1-{uid}", EARLIER, nickname=f"TO-042-{uid}"),
                )
                for i in range(6)
            )
        )
    assert len({a["street_id"] for a in answers}) == 1


async def test_an_erased_persons_booked_appointments_are_cancelled_and_not_reminded(
    intake: IntakeUnderTest, uid: str
) -> None:
    """An erased person's appointments stayed booked: the operator's agenda kept them and the day's reminders went
    on being emitted for a person no one may name. The erasure cancels those still to come (reason `by_operator`:
    the service cancelled, on the erasure's day, each with its `appointment_cancelled` fact); past ones stay as
    they were (the outcome recorded or not, counted in reports)."""
    tomorrow = datetime.combine(clock.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    past = datetime.now(UTC) - timedelta(hours=3)
    async with intake.client("staff-torino") as staff:
        person = {"person_id": f"p-gone-{uid}", "birth_date": "1980-02-02", "sex": "male", "nationality": "MA"}
        await post(staff, "/persons", person)
        gone, operator = f"p-gone-{uid}", f"op-giulia-{uid}"
        for aid, start in ((f"a-next-{uid}", tomorrow), (f"a-before-{uid}", past)):
            booking = {"appointment_id": aid, "agenda": "desk", "operator": operator, "person_id": gone,
                       "purpose": "first_interview", "starts_at": start.isoformat(),
                       "ends_at": (start + timedelta(minutes=30)).isoformat(),
                       "recorded_afterwards": start < datetime.now(UTC)}  # fmt: skip
            await post(staff, "/appointments", booking)
        assert (await send(staff, f"/persons/p-gone-{uid}/erasure", {})).status_code in (200, 201)
        due = (await staff.get("/appointments/reminders", params={"day": str(clock.today())})).json()
        assert f"a-next-{uid}" not in {a["appointment_id"] for a in due}, due
        day = (await staff.get("/appointments", params={"day": str(tomorrow.date())})).json()
        assert [a["status"] for a in day if a["appointment_id"] == f"a-next-{uid}"] == ["cancelled"], day
    events = mine(await intake.events(want=5), uid)  # registered, two booked, erased, cancelled
    [cancelled] = [e for e in events if isinstance(e, ev.AppointmentCancelled)]
    assert (cancelled.appointment_id, cancelled.reason, cancelled.cancelled_on) == (
        f"a-next-{uid}", ev.AppointmentCancellation.BY_OPERATOR, clock.today())  # fmt: skip


async def test_an_outing_time_with_an_offset_is_refused_at_its_field_over_http_and_kafka(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From an outside test: an outing's times are the city's wall-clock times, "HH:MM" without an offset (the JSON
    Schema's pattern), yet the model took "20:30Z"; with the end time without one, the outing's length subtracted an
    aware time from a naive one: HTTP answered 500 "Internal Server Error" and the partner's record, retried three
    times, went to the dead letters unanswered. Refused at the field, both ways; and a move missing one of its two
    times is refused naming the one missing (it named `starts_at` when `ends_at` was)."""
    await unit(intake, uid)
    async with intake.client("coop-aurora") as aurora:
        for start, end in (("20:30Z", "00:30"), ("20:30+02:00", "23:30+02:00")):
            r = await send(
                aurora, "/outings", {**outing(uid, f"o-tz-{uid}", EARLIER), "start_time": start, "end_time": end}
            )
            assert (r.status_code, r.json()["field"]) == (422, "start_time"), r.text
            assert "offset" in r.json()["reason"], r.text
    async with intake.partner("coop-aurora", "torino") as client:
        aware = {
            **outing(uid, f"o-tz-{uid}", EARLIER),
            "on": EARLIER,
            "start_time": time(20, 30, tzinfo=UTC),
            "end_time": time(0, 30),
        }
        sent = await client.emit(ev.OutingSubmitted.model_construct(**aware))
        moved = await client.emit(
            ev.AppointmentChangeSubmitted(
                appointment_id=f"apt-x-{uid}",
                change="moved",
                starts_at=datetime.now(UTC) + timedelta(days=1),
                on=clock.today(),
            )
        )
        answers = await rejections(client, sent.id, moved.id)
    assert (answers[sent.id].kind, answers[sent.id].field) == ("invalid_data", "data.start_time"), answers
    assert answers[moved.id].field == "data.ends_at", answers[moved.id]


async def test_an_appointment_time_that_is_no_instant_in_utc_is_refused_at_its_field_over_http_and_kafka(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From an outside test: "9999-12-31T20:00:00-05:00" is a valid RFC 3339 time, but in UTC it falls in the year
    10000 (and "0001-01-01T00:30:00+01:00" in the year 0), which no datetime holds: the partner's booking, retried
    three times, went to the dead letters unanswered (DataError), and HTTP answered 422 naming the whole `body`.
    Refused at the field, both ways, booking and move alike."""
    async with intake.client("coop-aurora") as aurora:
        await post(
            aurora,
            "/persons",
            {"person_id": f"p-far-{uid}", "birth_date": "1990-01-01", "sex": "male", "nationality": "MA"},
        )
        booking: dict[str, Any] = {
            "agenda": "desk",
            "operator": f"op-giulia-{uid}",
            "person_id": f"p-far-{uid}",
            "purpose": "other",
        }
        starts = datetime.now(UTC) + timedelta(days=3)
        ok = {**booking, "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}
        await post(aurora, "/appointments", {**ok, "appointment_id": f"apt-ok-{uid}"})
        for start, end in (
            ("9999-12-31T20:00:00-05:00", "9999-12-31T21:00:00-05:00"),
            ("0001-01-01T00:30:00+01:00", "0001-01-01T01:30:00+01:00"),
        ):
            r = await send(
                aurora,
                "/appointments",
                {**booking, "appointment_id": f"apt-far-{uid}", "starts_at": start, "ends_at": end},
            )
            assert r.status_code == 422 and r.json()["field"] == "starts_at", r.text
            assert "UTC" in r.json()["reason"], r.text
            r = await send(aurora, f"/appointments/apt-ok-{uid}/move", {"starts_at": start, "ends_at": end})
            assert (r.status_code, r.json()["field"]) == (422, "starts_at"), r.text
    far = datetime.fromisoformat("9999-12-31T20:00:00-05:00")
    with pytest.raises(ValueError, match="in UTC"):  # the SDK refuses to build it; another client sends it as is
        ev.AppointmentBookingSubmitted(**booking, appointment_id=f"apt-far-{uid}", starts_at=far, ends_at=far)
    async with intake.partner("coop-aurora", "torino") as client:
        booked = await client.emit(
            ev.AppointmentBookingSubmitted.model_construct(  # the enums as members: only the times are wrong
                **{**booking, "agenda": Channel.DESK, "purpose": ev.AppointmentPurpose.OTHER},
                appointment_id=f"apt-far-{uid}",
                starts_at=far,
                ends_at=far + timedelta(minutes=30),
            )
        )
        moved = await client.emit(
            ev.AppointmentChangeSubmitted.model_construct(
                appointment_id=f"apt-ok-{uid}",
                change="moved",
                starts_at=far,
                ends_at=far + timedelta(minutes=30),
                on=clock.today(),
            )
        )
        answers = await rejections(client, booked.id, moved.id)
    for sent in (booked, moved):
        assert (answers[sent.id].kind, answers[sent.id].field) == ("invalid_data", "data.starts_at"), answers
    assert not await intake.raw_records("deadletter", missing_ok=True)


# Own service: it asserts the partner's whole calendar holds no outing and its last day only its appointment.
@pytest.mark.own_service
async def test_the_first_and_last_days_of_the_calendar_are_answered_not_a_500(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a day at either end of the calendar is a valid `format: date`, but what intake computed
    from it was not a date or an instant (the 30 days before `?to=0001-01-05`, the local day after 9999-12-31, the
    local midnight of 0001-01-01 in UTC): `GET /outings?to=0001-01-05`, `GET /appointments?day=9999-12-31` and the
    reminders of 9999-12-31 answered 500 "Internal Server Error". They answer what there is on those days."""
    async with intake.client("coop-aurora") as aurora:
        await post(
            aurora,
            "/persons",
            {"person_id": f"p-far-{uid}", "birth_date": "1990-01-01", "sex": "male", "nationality": "MA"},
        )
        # An appointment on the calendar's last day (booked before bookings were held to a year ahead: stored as is)
        async with intake.pool.acquire() as conn:
            await conn.execute(
                "insert into appointments (appointment_id, city, agenda, operator, person_id, purpose, starts_at,"
                " ends_at, booked_by) values ($3, 'torino', 'desk', $4, $5, 'other', $1, $2, 'coop-aurora')",
                datetime(9999, 12, 31, 10, tzinfo=UTC),
                datetime(9999, 12, 31, 11, tzinfo=UTC),
                f"apt-last-{uid}",
                f"op-giulia-{uid}",
                f"p-far-{uid}",
            )
        for path in (
            "/outings?to=0001-01-05",
            "/outings?from=0001-01-01&to=9999-12-31",
            "/appointments?day=0001-01-01",
        ):
            r = await aurora.get(path)
            assert (r.status_code, r.json()) == (200, []), (path, r.text)
        r = await aurora.get("/appointments?day=9999-12-31")
        assert r.status_code == 200 and [a["appointment_id"] for a in r.json()] == [f"apt-last-{uid}"], r.text
    async with intake.client("staff-torino") as staff:
        r = await staff.get("/appointments/reminders?day=9999-12-30")
        assert r.status_code == 200 and [a["appointment_id"] for a in r.json()] == [f"apt-last-{uid}"], r.text
        r = await staff.get("/appointments/reminders?day=9999-12-31")
        assert (r.status_code, r.json()) == (200, []), r.text
        r = await send(staff, "/appointments/reminders", {"day": "9999-12-31"})
        assert r.status_code in (200, 201), r.text


async def test_a_day_in_the_query_is_a_yyyy_mm_dd_date_not_a_timestamp(intake: IntakeUnderTest, uid: str) -> None:
    """From an outside test: the OpenAPI document says the agenda's `day`, the outings' `from` and `to` and the
    reminders' `day` are dates (`format: date`), but they were read as pydantic reads a date in lax mode:
    `?day=0` answered 200 and the agenda of 1970-01-01, `?day=86400` that of 1970-01-02, `?day=2026-12-06T00:00:00`
    that of the day — each an answer to another question than the one asked. Refused naming the parameter, as a
    date in a body is."""
    async with intake.client("coop-aurora") as aurora, intake.client("staff-torino") as staff:
        for who, path, field in (
            (aurora, "/appointments?day=0", "query.day"),
            (aurora, "/appointments?day=86400", "query.day"),
            (aurora, "/appointments?day=2026-12-06T00:00:00", "query.day"),
            (aurora, "/outings?to=0", "query.to"),
            (aurora, "/outings?from=1733443200", "query.from"),
            (staff, "/appointments/reminders?day=0", "query.day"),
        ):
            r = await who.get(path)
            assert (r.status_code, r.json()["field"]) == (422, field), (path, r.text)
            assert "YYYY-MM-DD" in r.json()["reason"], (path, r.text)
        for who, path in ((aurora, "/appointments?day=2026-12-06"), (aurora, "/outings?from=2026-11-01&to=2026-12-06")):
            assert (await who.get(path)).status_code == 200, path


def span(starts: datetime, begin: int, end: int) -> dict[str, str]:
    """Times `begin` to `end` minutes after `starts`."""
    return {
        "starts_at": (starts + timedelta(minutes=begin)).isoformat(),
        "ends_at": (starts + timedelta(minutes=end)).isoformat(),
    }


def in_three_days() -> datetime:
    """09:00 in Rome three days ahead: the tests' appointments from it (up to five and a half hours later) stay on
    that day of the city's agenda. It was now + 3 days, and from 22:00 UTC on (23:00 in Rome) a booking an hour
    later fell on the next day's agenda, not the one the test read."""
    day = datetime.now(ZoneInfo("Europe/Rome")).date() + timedelta(days=3)
    return datetime.combine(day, time(9), tzinfo=ZoneInfo("Europe/Rome")).astimezone(UTC)


async def test_two_cooperatives_book_their_own_operators_of_one_name_at_one_time(
    intake: IntakeUnderTest, uid: str
) -> None:
    """Federation: an appointment's operator is a value each party names its own operators with (two cooperatives'
    systems may both call theirs "anna"). coop-borgo's booking of its "anna" at a time coop-aurora's "anna" is busy
    was refused (409 "operator anna is already booked at that time") for an appointment that is none of its business,
    over HTTP, as a move, and as a partner event. Now it is booked; within one cooperative there is still no double
    booking, told with the appointment in the way (its own); the city's staff see both, each saying whose it is."""
    starts = in_three_days()
    person = {"birth_date": "1990-01-01", "sex": "male", "nationality": "MA"}
    booking = {"agenda": "desk", "operator": f"anna-{uid}", "purpose": "other"}
    async with intake.client("coop-aurora") as aurora, intake.client("coop-borgo") as borgo:
        await post(aurora, "/persons", {"person_id": f"p-aurora-{uid}", **person})
        await post(borgo, "/persons", {"person_id": f"p-borgo-{uid}", **person})
        theirs = {**booking, "person_id": f"p-aurora-{uid}"}
        borgos = {**booking, "person_id": f"p-borgo-{uid}"}
        await post(aurora, "/appointments", {**theirs, **span(starts, 0, 60), "appointment_id": f"apt-a1-{uid}"})
        await post(borgo, "/appointments", {**borgos, **span(starts, 30, 120), "appointment_id": f"apt-b1-{uid}"})
        r = await send(borgo, "/appointments", {**borgos, **span(starts, 60, 180), "appointment_id": f"apt-b2-{uid}"})
        assert (r.status_code, r.json()["field"]) == (409, "starts_at"), r.text
        assert f"apt-b1-{uid}" in r.json()["reason"] and f"apt-a1-{uid}" not in r.text, r.text  # its own, named
        await post(borgo, "/appointments", {**borgos, **span(starts, 120, 180), "appointment_id": f"apt-b2-{uid}"})
        await post(borgo, f"/appointments/apt-b2-{uid}/move", span(starts, -60, 15))  # onto aurora's time: free
        r = await send(borgo, f"/appointments/apt-b2-{uid}/move", span(starts, 60, 150))  # onto its own: not
        assert r.status_code == 409 and f"apt-b1-{uid}" in r.json()["reason"], r.text
        own = await send(aurora, "/appointments", {**theirs, **span(starts, 45, 75), "appointment_id": f"apt-a2-{uid}"})
        assert own.status_code == 409 and f"apt-a1-{uid}" in own.json()["reason"], own.text
        assert f"apt-b1-{uid}" not in own.text, own.text
        day = starts.astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
        seen = {a["appointment_id"] for a in (await aurora.get("/appointments", params={"day": day})).json()}
        assert f"apt-a1-{uid}" in seen and f"apt-b1-{uid}" not in seen, seen
    async with intake.partner("coop-borgo", "torino") as client:
        free = await client.emit(
            ev.AppointmentBookingSubmitted(**borgos, **span(starts, 15, 30), appointment_id=f"apt-b3-{uid}")
        )
        clash = await client.emit(
            ev.AppointmentBookingSubmitted(**borgos, **span(starts, 15, 45), appointment_id=f"apt-b4-{uid}")
        )
        answers = await rejections(client, clash.id)
    assert free.id not in answers, answers[free.id]
    assert (answers[clash.id].kind, answers[clash.id].field) == ("conflict", "data.starts_at"), answers
    assert f"apt-b3-{uid}" in answers[clash.id].reason, answers  # its own, the first in the way
    booked = {
        e.appointment_id: e for e in mine(await intake.events(want=3), uid) if isinstance(e, ev.AppointmentBooked)
    }
    assert booked[f"apt-b3-{uid}"].operator_partner == "coop-borgo", booked
    assert booked[f"apt-a1-{uid}"].operator_partner == "coop-aurora", booked
    async with intake.client("staff-torino") as staff:  # each cooperative's anna, named with her party
        whose = {
            a["appointment_id"]: a["operator_partner"]
            for partner in ("coop-aurora", "coop-borgo")
            for a in (
                await staff.get(
                    "/appointments", params={"day": day, "operator": f"anna-{uid}", "operator_partner": partner}
                )
            ).json()
        }
        theirs_alone = (await staff.get("/appointments", params={"day": day, "operator": f"anna-{uid}"})).json()
    assert whose[f"apt-a1-{uid}"] == "coop-aurora" and whose[f"apt-b1-{uid}"] == "coop-borgo", whose
    assert ours(theirs_alone, uid) == [], theirs_alone  # the operator alone: the city's own staff's anna (none)


async def test_a_partner_naming_a_city_operators_code_holds_none_of_her_time(intake: IntakeUnderTest, uid: str) -> None:
    """A partner's system that names the city's staff operator's code (`op-…`) as its appointment's operator held
    her time: the city's own bookings of her were refused, for an appointment she does not have. Now it names an
    operator of the partner's own; the city's refusal names only the city's appointment in the way."""
    starts = in_three_days()
    code = f"op-{uuid.uuid4().hex[:12]}"
    person = {"birth_date": "1990-01-01", "sex": "female", "nationality": "NG"}
    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        await post(staff, "/persons", {"person_id": f"p-city-{uid}", **person})
        await post(aurora, "/persons", {"person_id": f"p-aurora-{uid}", **person})
        city = {"agenda": "desk", "operator": code, "purpose": "other", "person_id": f"p-city-{uid}"}
        coop = {**city, "person_id": f"p-aurora-{uid}"}
        await post(staff, "/appointments", {**city, **span(starts, 0, 60), "appointment_id": f"apt-c1-{uid}"})
        await post(aurora, "/appointments", {**coop, **span(starts, 0, 120), "appointment_id": f"apt-x1-{uid}"})
        await post(staff, "/appointments", {**city, **span(starts, 60, 120), "appointment_id": f"apt-c2-{uid}"})
        r = await send(staff, "/appointments", {**city, **span(starts, 30, 90), "appointment_id": f"apt-c3-{uid}"})
        assert (r.status_code, r.json()["field"]) == (409, "starts_at"), r.text
        assert f"apt-x1-{uid}" not in r.text, r.text  # not the partner's appointment: it is not hers
        await post(staff, "/appointments", {**city, **span(starts, 120, 150), "appointment_id": f"apt-c3-{uid}"})
        await post(staff, f"/appointments/apt-c3-{uid}/move", span(starts, 150, 180))
        r = await send(staff, f"/appointments/apt-c3-{uid}/move", span(starts, 90, 130))
        assert r.status_code == 409 and f"apt-c2-{uid}" in r.json()["reason"], r.text
        day = starts.astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
        hers = {
            a["appointment_id"]: a["operator_partner"]
            for whose in ({}, {"operator_partner": "coop-aurora"})
            for a in (await staff.get("/appointments", params={"day": day, "operator": code, **whose})).json()
        }
        assert hers[f"apt-c1-{uid}"] is None and hers[f"apt-x1-{uid}"] == "coop-aurora", hers
        city_only = (await staff.get("/appointments", params={"day": day, "operator": code})).json()
        assert f"apt-x1-{uid}" not in {a["appointment_id"] for a in city_only}, city_only  # the city's own only


async def test_the_citys_staff_book_a_cooperatives_operator_in_its_agenda(intake: IntakeUnderTest, uid: str) -> None:
    """The desk lets the city's staff book a cooperative's operator (her code is the cooperative's): naming her
    partner (`operator_partner`), the booking clashes with the cooperative's own bookings of her, both ways, and the
    cooperative sees it. A partner may name no party but its own, the staff only a partner of the city."""
    starts = in_three_days()
    person = {"birth_date": "1990-01-01", "sex": "female", "nationality": "NG"}
    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        await post(staff, "/persons", {"person_id": f"p-city-{uid}", **person})
        await post(aurora, "/persons", {"person_id": f"p-aurora-{uid}", **person})
        base = {"agenda": "desk", "operator": f"paolo-{uid}", "purpose": "other"}
        city = {**base, "person_id": f"p-city-{uid}", "operator_partner": "coop-aurora"}
        coop = {**base, "person_id": f"p-aurora-{uid}"}
        await post(staff, "/appointments", {**city, **span(starts, 0, 60), "appointment_id": f"apt-s1-{uid}"})
        r = await send(aurora, "/appointments", {**coop, **span(starts, 30, 90), "appointment_id": f"apt-p1-{uid}"})
        assert (r.status_code, r.json()["field"]) == (409, "starts_at"), r.text
        await post(aurora, "/appointments", {**coop, **span(starts, 60, 120), "appointment_id": f"apt-p1-{uid}"})
        r = await send(staff, "/appointments", {**city, **span(starts, 90, 150), "appointment_id": f"apt-s2-{uid}"})
        assert r.status_code == 409 and f"apt-p1-{uid}" in r.json()["reason"], r.text  # staff: told which
        r = await send(staff, f"/appointments/apt-s1-{uid}/move", span(starts, 45, 75))
        assert r.status_code == 409 and f"apt-p1-{uid}" in r.json()["reason"], r.text
        # the city's own operator of that name is another operator: free
        await post(staff, "/appointments", {**city, "operator_partner": None, **span(starts, 0, 60),
                                            "appointment_id": f"apt-s3-{uid}"})  # fmt: skip
        day = starts.astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
        seen = {a["appointment_id"] for a in (await aurora.get("/appointments", params={"day": day})).json()}
        assert {f"apt-s1-{uid}", f"apt-p1-{uid}"} <= seen and f"apt-s3-{uid}" not in seen, seen
        claim = {**coop, **span(starts, 300, 330), "operator_partner": "coop-borgo", "appointment_id": f"apt-p9-{uid}"}
        r = await send(aurora, "/appointments", claim)
        assert (r.status_code, r.json()["field"]) == (403, "operator_partner"), r.text
        for partner, status in (("coop-carso", 404), (f"nobody-{uid}", 404)):  # another city's: as an unknown one
            body = {**city, **span(starts, 300, 330), "operator_partner": partner, "appointment_id": f"apt-s9-{uid}"}
            r = await send(staff, "/appointments", body)
            assert (r.status_code, r.json()["field"]) == (status, "operator_partner"), r.text


async def test_an_operator_filter_names_her_party_in_the_agenda_and_the_open_reminders(
    intake: IntakeUnderTest, uid: str
) -> None:
    """Staff asking for operator `anna`'s appointments got the city's `anna` and every cooperative's `anna` mixed,
    and the to-do list's reminders did not say whose operator each was. Now `operator` names an operator within a
    party: the city's staff's, or the partner `operator_partner` names (a partner's filter: always its own); each
    open reminder and each reminder fact says whose operator it is."""
    tomorrow = datetime.combine(clock.today() + timedelta(days=1), time(9), tzinfo=UTC)
    person = {"birth_date": "1990-01-01", "sex": "female", "nationality": "NG"}
    anna = f"anna-{uid}"
    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        await post(staff, "/persons", {"person_id": f"p-city-{uid}", **person})
        await post(staff, "/households", {"household_id": f"h-city-{uid}", "reference_person_id": f"p-city-{uid}",
                                          "member_ids": [f"p-city-{uid}"]})  # fmt: skip
        await post(staff, "/cases", {"case_id": f"c-city-{uid}", "household_id": f"h-city-{uid}",
                                     "action_area": "taking_charge", "channel": "desk",
                                     "opened_on": str(clock.today()), "housing_need": False,
                                     "partner": "coop-aurora"})  # fmt: skip
        base = {"agenda": "desk", "operator": anna, "purpose": "other", "person_id": f"p-city-{uid}"}
        await post(staff, "/appointments", {**base, **span(tomorrow, 0, 30), "appointment_id": f"apt-city-{uid}"})
        await post(staff, "/appointments", {**base, **span(tomorrow, 0, 30), "operator_partner": "coop-aurora",
                                            "appointment_id": f"apt-aurora-{uid}"})  # fmt: skip
    async with intake.client("coop-borgo") as borgo:
        await post(borgo, "/persons", {"person_id": f"p-borgo-{uid}", **person})
        await post(borgo, "/appointments", {**base, "person_id": f"p-borgo-{uid}", **span(tomorrow, 0, 30),
                                            "appointment_id": f"apt-borgo-{uid}"})  # fmt: skip
    day = tomorrow.astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
    parties = {None: f"apt-city-{uid}", "coop-aurora": f"apt-aurora-{uid}", "coop-borgo": f"apt-borgo-{uid}"}

    def asked(**party: str) -> dict[str, str]:
        return {"operator": anna, **party}

    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        for path in ("/appointments", "/appointments/reminders/open"):
            on = {"day": day}  # the agenda's day; the open reminders are of any day
            if path.endswith("open"):
                await post(staff, "/appointments/reminders", {"day": str(clock.today())}, want=200)
                on = {}
            for partner, appointment in parties.items():
                whose = {"operator_partner": partner} if partner else {}
                answer = await staff.get(path, params={**on, **asked(**whose)})
                assert answer.status_code == 200, answer.text
                found = ours(answer.json(), uid)
                assert [(a["appointment_id"], a["operator_partner"]) for a in found] == [(appointment, partner)], found
            # a partner's filter is its own operators': not the city's anna of its case's person
            everything = ours((await aurora.get(path, params=on)).json(), uid)
            assert {a["appointment_id"] for a in everything} == {f"apt-city-{uid}", f"apt-aurora-{uid}"}, everything
            for whose in ({}, {"operator_partner": "coop-aurora"}):
                found = ours((await aurora.get(path, params={**on, **asked(**whose)})).json(), uid)
                assert [a["appointment_id"] for a in found] == [f"apt-aurora-{uid}"], found
            found = ours((await staff.get(path, params={**on, "operator_partner": "coop-borgo"})).json(), uid)
            assert [a["appointment_id"] for a in found] == [f"apt-borgo-{uid}"], found  # a party's operators
            for client, partner, status in ((aurora, "coop-borgo", 403), (staff, "coop-carso", 404),
                                            (staff, f"nobody-{uid}", 404)):  # fmt: skip
                r = await client.get(path, params={**on, **asked(operator_partner=partner)})
                assert (r.status_code, r.json()["field"]) == (status, "operator_partner"), r.text
    reminded = {
        e.appointment_id: e for e in mine(await intake.events(want=3), uid) if isinstance(e, ev.AppointmentReminderDue)
    }
    assert {a: e.operator_partner for a, e in reminded.items()} == {a: p for p, a in parties.items()}, reminded
    told = [e for p in ("coop-aurora", "coop-borgo") for e in await intake.events(f"partner.reminders.{p}")]
    to_partners = {
        (e.partner, e.appointment_id): e.operator_partner
        for e in told
        if isinstance(e, ev.PartnerAppointmentReminder) and e.appointment_id.endswith(uid)
    }
    assert to_partners == {
        ("coop-aurora", f"apt-city-{uid}"): None,
        ("coop-aurora", f"apt-aurora-{uid}"): "coop-aurora",
        ("coop-borgo", f"apt-borgo-{uid}"): "coop-borgo",
    }, to_partners


# Own service: it puts rows back as a release before left them and runs a migration over the whole table.
@pytest.mark.own_service
async def test_appointments_booked_before_are_given_their_party_by_migration(intake: IntakeUnderTest, uid: str) -> None:
    """Appointments stored before the party was: one a partner booked is its operator's (a partner only ever booked
    its own), one the city's staff booked the city's; after migration intake-9, the partner's still clashes with its
    own new booking of the operator and no longer with the city's."""
    starts = in_three_days()
    person = {"birth_date": "1990-01-01", "sex": "female", "nationality": "NG"}
    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        await post(staff, "/persons", {"person_id": f"p-city-{uid}", **person})
        await post(aurora, "/persons", {"person_id": f"p-aurora-{uid}", **person})
        base = {"agenda": "desk", "operator": f"op-old-{uid}", "purpose": "other", **span(starts, 0, 60)}
        await post(aurora, "/appointments", {**base, "person_id": f"p-aurora-{uid}", "appointment_id": f"apt-o1-{uid}"})
        async with intake.pool.acquire() as conn:  # as before this release
            await conn.execute(
                "update appointments set operator_partner = null where appointment_id = $1", f"apt-o1-{uid}"
            )
            await conn.execute(dict(schema.MIGRATIONS)["intake-9"])
            assert (
                await conn.fetchval(
                    "select operator_partner from appointments where appointment_id = $1", f"apt-o1-{uid}"
                )
                == "coop-aurora"
            )
        await post(staff, "/appointments", {**base, "person_id": f"p-city-{uid}", "appointment_id": f"apt-o2-{uid}"})
        async with intake.pool.acquire() as conn:
            await conn.execute(dict(schema.MIGRATIONS)["intake-9"])  # the city's stays the city's
            assert (
                await conn.fetchval(
                    "select operator_partner from appointments where appointment_id = $1", f"apt-o2-{uid}"
                )
                is None
            )
        r = await send(
            aurora, "/appointments", {**base, "person_id": f"p-aurora-{uid}", "appointment_id": f"apt-o3-{uid}"}
        )
        assert r.status_code == 409 and f"apt-o1-{uid}" in r.json()["reason"], r.text


async def test_two_bookings_at_once_of_one_cooperatives_operator_do_not_both_pass(
    intake: IntakeUnderTest, uid: str
) -> None:
    """The per-operator lock is per city, party and operator: the city's staff booking a cooperative's operator and
    the cooperative booking her at the same time, at once, cannot both find her free."""
    starts = in_three_days()
    person = {"birth_date": "1990-01-01", "sex": "female", "nationality": "NG"}
    async with intake.client("staff-torino") as staff, intake.client("coop-aurora") as aurora:
        await post(staff, "/persons", {"person_id": f"p-city-{uid}", **person})
        await post(aurora, "/persons", {"person_id": f"p-aurora-{uid}", **person})
        for n in range(4):
            base = {"agenda": "desk", "operator": f"rita-{n}-{uid}", "purpose": "other", **span(starts, 0, 30)}
            city = {**base, "person_id": f"p-city-{uid}", "operator_partner": "coop-aurora"}
            coop = {**base, "person_id": f"p-aurora-{uid}"}
            answers = await asyncio.gather(
                send(staff, "/appointments", {**city, "appointment_id": f"apt-rs{n}-{uid}"}),
                send(aurora, "/appointments", {**coop, "appointment_id": f"apt-ra{n}-{uid}"}),
            )
            assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]


async def test_an_appointment_is_booked_within_a_year_and_its_cancellation_and_outcome_are_dated_sensibly(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From an outside test: a booking at 9999-12-31T23:00Z was accepted, but its local day is in the year 10000 and
    no reminder could ever be due for it (a typo such as 2062 for 2026 alike: booked for decades); an outcome dated
    a year before the appointment, and a cancellation dated 1999, were recorded. An appointment starts at most 366
    days ahead (booked or moved: 422 `starts_at`); its outcome is dated no earlier than its local day, a cancellation
    within the programme (422 `on`)."""
    now = datetime.now(UTC)
    async with intake.client("staff-torino") as staff:
        person = {"person_id": f"p-y-{uid}", "birth_date": "1985-01-01", "sex": "female", "nationality": "NG"}
        await post(staff, "/persons", person)

        def booking(aid: str, start: datetime) -> dict[str, Any]:
            return {"appointment_id": aid, "agenda": "desk", "operator": f"op-y-{uid}", "person_id": f"p-y-{uid}",
                    "purpose": "other", "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat()}  # fmt: skip

        for start in (now + timedelta(days=367), datetime(9999, 12, 31, 23, 0, tzinfo=UTC)):
            r = await send(staff, "/appointments", booking(f"a-far-{uid}", start))
            assert (r.status_code, r.json()["field"]) == (422, "starts_at"), r.text
            assert "366 days ahead" in r.json()["reason"], r.text
        await post(staff, "/appointments", booking(f"a-year-{uid}", now + timedelta(days=365)))
        far = now + timedelta(days=400)
        move = {"starts_at": far.isoformat(), "ends_at": (far + timedelta(hours=1)).isoformat()}
        r = await send(staff, f"/appointments/a-year-{uid}/move", move)
        assert (r.status_code, r.json()["field"]) == (422, "starts_at"), r.text
        r = await send(staff, f"/appointments/a-year-{uid}/cancel", {"reason": "by_person", "on": "1999-01-01"})
        assert (r.status_code, r.json()["field"]) == (422, "on"), r.text
        await post(
            staff, "/appointments", booking(f"a-done-{uid}", now - timedelta(hours=1)) | {"recorded_afterwards": True}
        )
        day = (now - timedelta(hours=1)).astimezone(ZoneInfo("Europe/Rome")).date()
        r = await send(
            staff, f"/appointments/a-done-{uid}/outcome", {"outcome": "attended", "on": str(day - timedelta(days=365))}
        )
        assert (r.status_code, r.json()["field"]) == (422, "on"), r.text
        assert "before the appointment's day" in r.json()["reason"], r.text
        await post(staff, f"/appointments/a-done-{uid}/outcome", {"outcome": "attended", "on": str(clock.today())})


async def test_a_place_or_contact_id_holding_a_phone_e_mail_or_fiscal_code_is_refused(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A DPO's review: a street contact's place and an outing's places travel in clear on Kafka and stay after the
    street person's erasure (only the nickname is sealed); a unit wrote where to find someone — "chiamare
    +39 347 1234567", an e-mail — and the contact's identifier took a fiscal code. What identifies a person there
    is refused at its field, as in a new person's identifier."""
    await unit(intake, uid)
    async with intake.client("coop-aurora") as aurora:
        bad = {**outing(uid, f"o-9-{uid}", EARLIER), "places": ["Stazione Porta Nuova", "chiamare +39 347 1234567"]}
        r = await send(aurora, "/outings", bad)
        assert (r.status_code, r.json()["field"]) == (422, "places.1"), r.text
        await post(aurora, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        for body, field in (
            (contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER, place="scrivere a mario.rossi@example.org"), "place"),
            (contact("RSSMRA80A01L219M", f"o-1-{uid}", EARLIER), "contact_id"),
        ):
            r = await send(aurora, "/street-contacts", body)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text


async def test_a_units_outings_or_appointments_id_holding_identifying_data_is_refused(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A DPO's review (DESIGN section 5): a mobile unit's, an outing's and an appointment's identifiers travel in clear
    on intake's topic and into reporting, and no erasure reaches them; so do a unit's name, vehicle and area and an
    outing's operators. A cooperative's system keyed an appointment by the person's phone number and an outing by the
    operator's fiscal code, over HTTP and as partner events, and named an outing's operator by her e-mail: all taken
    (201, no rejection). A new one holding a fiscal code, an IBAN, an e-mail address or a phone number is refused at
    its field (HTTP 422, a partner's event a rejection naming `data.<field>`), and nothing of it reaches intake's
    topic."""
    identifying = ("RSSMRA85T10A562S", "IT60X0542811101000000123456", "maria.rossi@example.org", "+39 347 1234567")
    async with intake.client("staff-torino") as staff:
        base = {"unit_id": f"u-1-{uid}", "name": "Unità Sud", "area": "Circoscrizione 8", "team_size": 2}
        for bad in identifying:
            r = await send(staff, "/mobile-units", {**base, "unit_id": bad})
            assert (r.status_code, r.json().get("field")) == (422, "unit_id"), r.text
        for field in ("name", "vehicle", "area"):
            r = await send(staff, "/mobile-units", {**base, field: "chiamare +39 347 1234567"})
            assert (r.status_code, r.json().get("field")) == (422, field), r.text
    await unit(intake, uid)
    starts = datetime.combine(clock.today() + timedelta(days=3), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    booking = {"agenda": "mobile_unit", "operator": f"op-giulia-{uid}", "unit_id": f"unit-nord-{uid}",
               "contact_id": f"ct-1-{uid}", "purpose": "street_follow_up", "starts_at": starts.isoformat(),
               "ends_at": (starts + timedelta(minutes=30)).isoformat()}  # fmt: skip
    async with intake.client("coop-aurora") as aurora:
        for oid in identifying:
            r = await send(aurora, "/outings", outing(uid, oid, EARLIER))
            assert (r.status_code, r.json().get("field")) == (422, "outing_id"), r.text
        r = await send(
            aurora,
            "/outings",
            {**outing(uid, f"o-1-{uid}", EARLIER), "staff": [f"op-giulia-{uid}", "marco@example.org"]},
        )
        assert (r.status_code, r.json().get("field")) == (422, "staff.1"), r.text
        await post(aurora, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        await post(aurora, "/street-contacts", contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER))
        for aid in identifying:
            r = await send(aurora, "/appointments", {**booking, "appointment_id": aid})
            assert (r.status_code, r.json().get("field")) == (422, "appointment_id"), r.text
        # whose agenda it is, as an outing's operators: an appointment named its operator by her e-mail (201)
        for op in ("giulia.bianchi@example.org", "chiamare 347 1234567"):
            r = await send(aurora, "/appointments", {**booking, "appointment_id": f"a-op-{uid}", "operator": op})
            assert (r.status_code, r.json().get("field")) == (422, "operator"), r.text
    async with intake.partner("coop-aurora", "torino") as client:
        sent_outing = await client.emit(
            ev.OutingSubmitted(**{**outing(uid, "RSSMRA85T10A562S", EARLIER), "on": EARLIER})
        )
        when = {"starts_at": starts, "ends_at": starts + timedelta(minutes=30)}
        sent_booking = await client.emit(
            ev.AppointmentBookingSubmitted(**{**booking, "appointment_id": "+39 347 1234567", **when})
        )
        answers = await rejections(client, sent_outing.id, sent_booking.id)
    assert answers[sent_outing.id].field == "data.outing_id", answers
    assert answers[sent_booking.id].field == "data.appointment_id", answers
    published = await intake.raw_records("intake.events", missing_ok=True)
    assert not any(v.encode() in (rec.value or b"") for rec in published for v in identifying)
    assert not any(b"giulia.bianchi@" in (rec.value or b"") for rec in published)


async def test_a_street_person_is_not_linked_to_a_closed_case_over_http_or_kafka(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A street contact's link named a closed case and was taken (`StreetPersonLinked` with its `case_id`): a closed
    case takes nothing naming it (409 / `conflict` `case_id`, "the case was closed on <date>"); the link to the
    person alone is taken as before."""
    await unit(intake, uid)
    pid, hid, cid = f"p-karim-{uid}", f"h-karim-{uid}", f"c-karim-{uid}"
    closed_on = clock.today() - timedelta(days=1)
    refusal = ("case_id", f"the case was closed on {closed_on.isoformat()}")
    async with intake.client("coop-aurora") as aurora:
        await post(aurora, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        await post(aurora, "/street-contacts", contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER))
        person = {"person_id": pid, "birth_date": "1990-01-01", "sex": "male", "nationality": "MA",
                  "identity": {"given_name": "Karim", "family_name": "Benali"}}  # fmt: skip
        await post(aurora, "/persons", person)
        await post(aurora, "/households", {"household_id": hid, "reference_person_id": pid, "member_ids": [pid]})
        case = {"case_id": cid, "household_id": hid, "action_area": "taking_charge", "channel": "mobile_unit",
                "opened_on": EARLIER.isoformat()}  # fmt: skip
        await post(aurora, "/cases", case)
        await post(aurora, "/cases/closures", {"case_id": cid, "outcome": "other", "closed_on": closed_on.isoformat()})
    async with intake.partner("coop-aurora", "torino") as client:
        sent = await client.emit(
            ev.StreetContactLinkSubmitted(contact_id=f"ct-1-{uid}", person_id=pid, linked_on=clock.today(), case_id=cid)
        )
        answer = (await rejections(client, sent.id))[sent.id]
    assert (answer.kind, answer.field, answer.reason) == ("conflict", f"data.{refusal[0]}", refusal[1]), answer
    link = {"person_id": pid, "linked_on": str(clock.today())}
    async with intake.client("coop-aurora") as aurora:
        r = await send(aurora, f"/street-contacts/ct-1-{uid}/link", {**link, "case_id": cid})
        assert (r.status_code, r.json()["field"], r.json()["reason"]) == (409, *refusal), r.text
        assert (await post(aurora, f"/street-contacts/ct-1-{uid}/link", link))["person_id"] == pid
    async with intake.pool.acquire() as conn:
        row = await conn.fetchrow("select person_id, case_id from street_persons where person_id = $1", pid)
    assert (row["person_id"], row["case_id"]) == (pid, None)


async def test_an_outreach_id_taken_by_another_party_is_answered_as_one_the_caller_cannot_use(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A mobile unit's, an outing's, a street contact's or an appointment's id taken by another city's or another
    partner's was answered "… already exists" (409), while a read of it was a 404 as an unknown id: an existence
    oracle. Answered now as persons and cases are (docs/partners.md, "Ids"): "cannot be used", the same whoever holds
    it; the holder, and the city's staff of their own city, are told precisely."""
    today = clock.today()
    person = {"birth_date": "1990-01-01", "sex": "male", "nationality": "MA"}

    def booking(aid: str, pid: str) -> dict[str, Any]:
        return {"appointment_id": aid, "agenda": "desk", "operator": f"op-{uid}", "purpose": "other",
                "person_id": pid, **span(in_three_days(), 0, 30)}  # fmt: skip

    await unit(intake, uid)  # Torino's, run by coop-aurora
    async with intake.client("coop-aurora") as aurora:
        await post(aurora, "/outings", outing(uid, f"o-{uid}", today))
        await post(aurora, "/street-contacts", contact(f"ct-{uid}", f"o-{uid}", today))
        await post(aurora, "/persons", {"person_id": f"p-au-{uid}", **person})
        await post(aurora, "/appointments", booking(f"apt-{uid}", f"p-au-{uid}"))
    taken = {"unit_id": f"unit-nord-{uid}", "outing_id": f"o-{uid}", "contact_id": f"ct-{uid}",
             "appointment_id": f"apt-{uid}"}  # fmt: skip

    def answer(r: httpx.Response) -> tuple[int, str, str]:
        return r.status_code, r.json().get("field"), r.json().get("reason")

    async with (
        intake.client("staff-trieste") as trieste,
        intake.client("coop-carso") as carso,
        intake.client("coop-borgo") as borgo,
        intake.client("coop-aurora") as aurora,
        intake.client("staff-torino") as staff,
    ):
        unit_body = {"name": "Unità di strada", "vehicle": "camper", "area": "Centro", "team_size": 2}
        await post(trieste, "/mobile-units", {**unit_body, "unit_id": f"unit-ts-{uid}", "partner": "coop-carso"})
        their_outing = {**outing(uid, f"o-ts-{uid}", today), "unit_id": f"unit-ts-{uid}"}
        await post(carso, "/outings", their_outing)
        await post(carso, "/persons", {"person_id": f"p-ca-{uid}", **person})
        same_unit = {**unit_body, "unit_id": taken["unit_id"], "partner": None}
        elsewhere = {
            "unit_id": await send(trieste, "/mobile-units", same_unit),
            "outing_id": await send(carso, "/outings", {**their_outing, "outing_id": taken["outing_id"]}),
            "contact_id": await send(carso, "/street-contacts", contact(taken["contact_id"], f"o-ts-{uid}", today)),
            "appointment_id": await send(carso, "/appointments", booking(taken["appointment_id"], f"p-ca-{uid}")),
        }
        assert {f: answer(r) for f, r in elsewhere.items()} == {f: (409, f, ID_TAKEN) for f in taken}
        await post(borgo, "/persons", {"person_id": f"p-bo-{uid}", **person})
        other_partner = await send(borgo, "/appointments", booking(taken["appointment_id"], f"p-bo-{uid}"))
        assert answer(other_partner) == (409, "appointment_id", ID_TAKEN)
        own = await send(aurora, "/appointments", booking(taken["appointment_id"], f"p-au-{uid}"))
        assert answer(own) == (409, "appointment_id", f"appointment {taken['appointment_id']} already exists")
        again = await send(staff, "/mobile-units", same_unit)
        assert answer(again) == (409, "unit_id", f"mobile unit {taken['unit_id']} already exists")


async def met_by_the_citys_unit(staff: httpx.AsyncClient, uid: str, contact_id: str) -> dict[str, Any]:
    """A street person met (no nickname) by the city's own unit (`unit-sud-<uid>`), which no partner runs: the
    contact recorded."""
    await post(staff, "/mobile-units", {"unit_id": f"unit-sud-{uid}", "name": "Unità Sud", "vehicle": "camper",
                                         "area": "Circoscrizione 8", "partner": None, "team_size": 2})  # fmt: skip
    await post(staff, "/outings", outing(uid, f"o-2-{uid}", EARLIER) | {"unit_id": f"unit-sud-{uid}"})
    return await post(staff, "/street-contacts", contact(contact_id, f"o-2-{uid}", EARLIER))


async def test_nicknames_of_many_street_persons_are_one_call_with_the_read_log_of_each(
    intake: IntakeUnderTest, uid: str
) -> None:
    """The desk's agenda and to-do list read street persons' nicknames with one call per person. `POST
    /street-persons/nicknames` answers many at once: only those the caller may see (a partner: those its units met;
    none of another city's; one that does not exist is left out), each read in the read log as `GET
    /street-persons/{id}` logs it (shown; denied for one that exists and is refused), nothing else."""
    await unit(intake, uid)
    async with intake.client("staff-torino") as staff:
        await post(staff, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        met = await post(
            staff, "/street-contacts", contact(f"ct-1-{uid}", f"o-1-{uid}", EARLIER, nickname=nickname(uid))
        )
        unnamed = await met_by_the_citys_unit(staff, uid, f"ct-2-{uid}")
    ids = [met["street_id"], unnamed["street_id"], f"sp-nobody-{uid}"]
    async with intake.pool.acquire() as conn:
        start = await conn.fetchval("select now()")
    async with intake.client("staff-torino") as staff:
        r = await send(staff, "/street-persons/nicknames", {"street_ids": ids})
        assert r.status_code == 200, r.text
        assert r.json() == [
            {"street_id": met["street_id"], "nickname": nickname(uid), "nickname_erased_on": None},
            {"street_id": unnamed["street_id"], "nickname": None, "nickname_erased_on": None},
        ], r.json()
    async with intake.client("coop-aurora") as aurora:  # its unit met the first only
        r = await send(aurora, "/street-persons/nicknames", {"street_ids": ids})
        assert [s["street_id"] for s in r.json()] == [met["street_id"]], r.json()
    async with intake.client("staff-trieste") as trieste:  # another city's: none, as if there were none
        r = await send(trieste, "/street-persons/nicknames", {"street_ids": ids})
        assert r.json() == [], r.json()
    async with intake.client("coordination") as national:
        assert (await send(national, "/street-persons/nicknames", {"street_ids": ids})).status_code == 403
    async with intake.client("staff-torino") as staff:
        for body, field in (({"street_ids": []}, "street_ids"), ({"street_ids": ["s"] * 101}, "street_ids")):
            r = await send(staff, "/street-persons/nicknames", body)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text
    async with intake.pool.acquire() as conn:
        rows = await conn.fetch(
            "select principal, person_id, kind, outcome from read_log where at >= $1 and person_id = any($2::text[])"
            " order by entry_id",
            start,
            ids,
        )
    assert [tuple(r) for r in rows] == [
        ("staff-torino", met["street_id"], "street_person", "shown"),
        ("staff-torino", unnamed["street_id"], "street_person", "shown"),
        ("coop-aurora", met["street_id"], "street_person", "shown"),
        ("coop-aurora", unnamed["street_id"], "street_person", "denied"),
        ("staff-trieste", met["street_id"], "street_person", "denied"),
        ("staff-trieste", unnamed["street_id"], "street_person", "denied"),
    ], rows


async def test_nicknames_of_many_street_persons_are_read_and_logged_in_one_transaction(
    intake: IntakeUnderTest, uid: str
) -> None:
    """`POST /street-persons/nicknames` (up to 100 ids, the desk's agenda and to-do list) ran one read-logged
    transaction per id: a connection, BEGIN, the read, an insert into the read log and COMMIT, a hundred times. The
    whole call is one transaction now (its read-log rows share one transaction id, `xmin`), with the same rows as
    before: one per person shown, one per person refused, none for an id that exists nowhere; the same answers."""
    await unit(intake, uid)
    met = []
    async with intake.client("staff-torino") as staff:
        await post(staff, "/outings", outing(uid, f"o-1-{uid}", EARLIER))
        for n in range(30):
            named = {"nickname": f"{nickname(uid)} {n}"} if n % 2 == 0 else {}
            met.append(await post(staff, "/street-contacts", contact(f"ct-{n}-{uid}", f"o-1-{uid}", EARLIER, **named)))
        theirs = await met_by_the_citys_unit(staff, uid, f"ct-sud-{uid}")
    ids = [m["street_id"] for m in met] + [theirs["street_id"], f"sp-nobody-{uid}"]

    async def rows_of(principal: str) -> list[tuple[str, str, str]]:
        async with intake.pool.acquire() as conn:
            found = await conn.fetch(
                "select person_id, outcome, xmin::text as tx from read_log where principal = $1"
                " and person_id = any($2::text[]) order by entry_id",
                principal,
                ids,
            )
        return [(r["person_id"], r["outcome"], r["tx"]) for r in found]

    assert await rows_of("coop-aurora") == []  # none before
    async with intake.client("coop-aurora") as aurora:  # its unit met the 30, not the southern unit's one
        began = time_counter()
        r = await send(aurora, "/street-persons/nicknames", {"street_ids": ids})
        took = time_counter() - began
    print(f"POST /street-persons/nicknames, {len(ids)} ids: {took * 1000:.0f} ms")  # a note, not a timed assertion
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"street_id": m["street_id"], "nickname": f"{nickname(uid)} {n}" if n % 2 == 0 else None,
         "nickname_erased_on": None}
        for n, m in enumerate(met)
    ], r.json()  # fmt: skip
    rows = await rows_of("coop-aurora")
    assert [(p, outcome) for p, outcome, _ in rows] == [
        *((m["street_id"], "shown") for m in met),
        (theirs["street_id"], "denied"),
    ], rows
    assert len({tx for _, _, tx in rows}) == 1, rows  # one transaction for the whole call
