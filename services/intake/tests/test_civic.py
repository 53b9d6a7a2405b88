"""Civic engagement against real Kafka and PostgreSQL: activities, sessions, attendance registers and certificates
over HTTP and from partners through the gatekeeper; participation only in sessions that exist and only of persons of
the city; volunteers are persons whose identity stays sealed and is erased with them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from lgnet_shared.events import civic as ev
from lgnet_shared.events import intake as iev
from partner_records import refused_at

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def person(pid: str, nat: str = "NG") -> dict[str, Any]:
    return {"person_id": pid, "birth_date": "1990-05-01", "sex": "female", "nationality": nat}


async def persons(c: httpx.AsyncClient, *ids: str) -> None:
    for pid in ids:
        assert (await post(c, "/persons", person(pid))).status_code == 201


COURSE = {
    "activity_id": "act-1",
    "kind": "italian_language_course",
    "title": "Italiano A2 serale",
    "starts_on": "2026-02-02",
    "ends_on": "2026-06-26",
    "target_level": "A2",
    "min_attendance_percent": 70,
}


def session(sid: str, on: str, **more: Any) -> dict[str, Any]:
    return {"activity_id": "act-1", "session_id": sid, "held_on": on, "place": "Casa del quartiere",
            "duration_minutes": 120, "facilitators": ["op-teacher-1"], **more}  # fmt: skip


async def test_a_course_with_sessions_registers_and_certificates(intake: IntakeUnderTest) -> None:
    async with intake.client("coop-aurora") as aurora, intake.client("staff-trieste") as trieste:
        await persons(aurora, "p-1", "p-2", "p-3")
        volunteer = {**person("p-vol", "IT"), "identity": {"given_name": "Giulia", "family_name": "Rossi"}}
        assert (await post(aurora, "/persons", volunteer)).status_code == 201
        assert (await post(trieste, "/persons", person("p-ts"))).status_code == 201
        r = await post(aurora, "/civic/activities", COURSE)
        assert r.status_code == 201 and r.json()["partner"] == "coop-aurora", r.text
        for n in range(1, 4):
            r = await post(aurora, "/civic/sessions", session(f"s-{n}", f"2026-03-0{n}", volunteer_ids=["p-vol"]))
            assert r.status_code == 201, r.text
        for n, present in ((1, ["p-1", "p-2"]), (2, ["p-1", "p-2"]), (3, ["p-1"])):
            absent = [p for p in ("p-2", "p-3") if p not in present]
            r = await post(aurora, "/civic/attendance", {"activity_id": "act-1", "session_id": f"s-{n}",
                                                          "present": present, "absent": absent})  # fmt: skip
            assert r.status_code == 201, r.text

        # Participation only in sessions that exist, and only of persons of the city.
        r = await post(aurora, "/civic/attendance", {"activity_id": "act-1", "session_id": "s-9", "present": ["p-1"]})
        assert r.status_code == 404 and r.json()["field"] == "session_id"
        r = await post(aurora, "/civic/attendance", {"activity_id": "act-1", "session_id": "s-1", "present": ["p-ts"]})
        assert (r.status_code, r.json()["field"], r.json()["reason"]) == (404, "present.0", "no person p-ts")
        r = await post(aurora, "/civic/attendance", {"activity_id": "act-1", "session_id": "s-1", "present": ["p-x"]})
        assert r.status_code == 404 and r.json()["field"] == "present.0"
        r = await post(aurora, "/civic/sessions", session("s-4", "2026-01-10"))
        assert r.status_code == 422 and r.json()["field"] == "held_on"

        # A certificate for who attended enough (p-1: 3 of 3; p-2: 2 of 3 < 70%).
        cert = {"activity_id": "act-1", "certificate_id": "cert-1", "person_id": "p-1", "issued_on": "2026-06-26",
                "level_at_entry": "A1", "level_reached": "A2"}  # fmt: skip
        r = await post(aurora, "/civic/certificates", cert)
        assert r.status_code == 201 and r.json()["attended_sessions"] == 3, r.text
        r = await post(aurora, "/civic/certificates", {**cert, "certificate_id": "cert-2", "person_id": "p-2"})
        assert r.status_code == 422 and r.json()["field"] == "person_id" and "2 of 3" in r.json()["reason"]

    async with intake.client("coop-borgo") as borgo:
        r = await post(borgo, "/civic/sessions", session("s-5", "2026-03-05"))
        assert r.status_code == 403 and r.json()["field"] == "activity_id"
        assert (await borgo.get("/civic/activities")).json() == []
    async with intake.client("staff-torino") as staff:
        (listed,) = (await staff.get("/civic/activities")).json()
        assert (listed["sessions"], listed["participants"], listed["certificates"]) == (3, 2, 1)
        detail = (await staff.get("/civic/activities/act-1")).json()
        assert [s["present"] for s in detail["session_list"]] == [2, 2, 1]
        register = (await staff.get("/civic/activities/act-1/sessions/s-3")).json()["register"]
        assert register == [{"person_id": "p-1", "present": True}, {"person_id": "p-2", "present": False},
                            {"person_id": "p-3", "present": False}]  # fmt: skip

    events = await intake.events(want=13)
    held = [e for e in events if isinstance(e, ev.CivicSessionHeld)]
    assert len(held) == 3 and held[0].volunteer_ids == ["p-vol"] and held[0].duration_minutes == 120
    (issued,) = [e for e in events if isinstance(e, ev.CivicCertificateIssued)]
    assert (issued.attended_sessions, issued.held_sessions, issued.level_reached) == (3, 3, ev.CefrLevel.A2)
    # The volunteer is a person like any other: their name travels sealed with their own key.
    registered = next(e for e in events if isinstance(e, iev.PersonRegistered) and e.person_id == "p-vol")
    assert registered.identity.given_name is not None and registered.identity.given_name.kid == "p-vol"
    assert b"Giulia" not in b"".join(r.value for r in await intake.raw_records("intake.events"))


async def test_partners_emit_participation_through_the_gatekeeper(intake: IntakeUnderTest) -> None:
    async with intake.client("coop-aurora") as aurora:
        await persons(aurora, "p-1", "p-2")
    async with intake.partner("coop-aurora", "torino") as client:
        await client.emit(ev.CivicActivitySubmitted(**COURSE))
        await client.emit(ev.CivicSessionSubmitted(**session("s-1", "2026-03-02")))
        ok = await client.emit(ev.CivicAttendanceSubmitted(activity_id="act-1", session_id="s-1", present=["p-1"],
                                                           absent=["p-2"]))  # fmt: skip
        missing = await client.emit(ev.CivicAttendanceSubmitted(activity_id="act-1", session_id="s-404",
                                                                present=["p-1"]))  # fmt: skip
        twice = await client.emit(ev.CivicAttendanceSubmitted(activity_id="act-1", session_id="s-1",
                                                              present=["p-1"], absent=["p-1"]))  # fmt: skip
        answers: dict[str, iev.InboundRejected] = {}
        async for rejection in client.rejections(timeout=20):
            answers[rejection.inbound_event_id] = rejection
            if len(answers) >= 2:
                break
    assert ok.id not in answers
    assert (answers[missing.id].kind, answers[missing.id].field) == ("not_found", "data.session_id")
    assert answers[twice.id].field == "data.absent.0" and "also listed as present" in answers[twice.id].reason
    events = await intake.events(want=3)
    (recorded,) = [e for e in events if isinstance(e, ev.CivicAttendanceRecorded)]
    assert (recorded.present, recorded.absent) == (["p-1"], ["p-2"])
    (activity,) = [e for e in events if isinstance(e, ev.CivicActivityOrganised)]
    assert activity.partner == "coop-aurora" and activity.city == "torino" and activity.starts_on == date(2026, 2, 2)


async def test_an_activitys_title_or_sessions_place_holding_a_phone_or_e_mail_is_refused(
    intake: IntakeUnderTest,
) -> None:
    """A DPO's review: an activity's title and a session's place travel in clear on Kafka and stay for good (never a
    person's name, the contract says); "Italiano con Giulia, 347 …" or a teacher's e-mail was taken. What identifies
    a person there is refused at its field."""
    async with intake.client("coop-aurora") as aurora:
        r = await post(aurora, "/civic/activities", {**COURSE, "title": "Italiano A2, info +39 347 1234567"})
        assert (r.status_code, r.json()["field"]) == (422, "title"), r.text
        assert (await post(aurora, "/civic/activities", COURSE)).status_code == 201
        r = await post(aurora, "/civic/sessions", session("s-1", "2026-03-02", place="da giulia.rossi@example.org"))
        assert (r.status_code, r.json()["field"]) == (422, "place"), r.text


async def test_an_activitys_sessions_or_facilitators_id_holding_identifying_data_is_refused(
    intake: IntakeUnderTest,
) -> None:
    """A DPO's review (DESIGN section 5): an activity's and a session's ids and a session's facilitators (operators'
    ids) travel in clear on intake's topic and into reporting, for good. A school's system keyed a course by its
    teacher's fiscal code and named her by her e-mail: taken (201), over HTTP and from partners. A new one holding a
    fiscal code, an IBAN, an e-mail address or a phone number is refused at its field."""
    identifying = ("RSSMRA85T10A562S", "IT60X0542811101000000123456", "maria.rossi@example.org", "+39 347 1234567")
    async with intake.client("coop-aurora") as aurora:
        for aid in identifying:
            r = await post(aurora, "/civic/activities", {**COURSE, "activity_id": aid})
            assert (r.status_code, r.json().get("field")) == (422, "activity_id"), r.text
        assert (await post(aurora, "/civic/activities", COURSE)).status_code == 201
        for sid in identifying:
            r = await post(aurora, "/civic/sessions", session(sid, "2026-03-02"))
            assert (r.status_code, r.json().get("field")) == (422, "session_id"), r.text
        r = await post(aurora, "/civic/sessions", session("s-1", "2026-03-02", facilitators=["op-1", identifying[2]]))
        assert (r.status_code, r.json().get("field")) == (422, "facilitators.1"), r.text
    async with intake.partner("coop-aurora", "torino") as client:
        sent = await client.emit(ev.CivicActivitySubmitted(**{**COURSE, "activity_id": identifying[0]}))
        await refused_at(client, sent.id, "data.activity_id")
    published = await intake.raw_records("intake.events", missing_ok=True)
    assert not any(v.encode() in (rec.value or b"") for rec in published for v in identifying)
