"""A new object's id already taken by something the caller may not see is answered without telling it apart: the same
409, field and reason ("cannot be used: choose another id"), never "already registered" or "already exists", for
another city's person, household, referral, case or civic activity, session or certificate, and for another partner's
of the caller's city — over HTTP and through the gatekeeper. The caller's own objects, and the city's staff, keep the
precise answer (docs/partners.md, "Ids"). Real Kafka and PostgreSQL; one deployment serving Torino and Trieste.

Before: a Torino partner registering a person under a Trieste person's id got 409 "person <id> is already
registered", and a household "household <id> already exists", while a GET of that id was a 404 as an unknown one —
an existence oracle."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from lgnet_shared.access import ID_TAKEN
from lgnet_shared.events import Event
from lgnet_shared.events import civic as cev
from lgnet_shared.events import partner as inbound

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def person(pid: str) -> dict[str, Any]:
    return {"person_id": pid, "birth_date": "1990-05-01", "sex": "female", "nationality": "NG"}


def household(hid: str, pid: str) -> dict[str, Any]:
    return {"household_id": hid, "member_ids": [pid], "reference_person_id": pid}


def referral(rid: str, hid: str) -> dict[str, Any]:
    return {"referral_id": rid, "household_id": hid, "source": "social_district", "received_on": "2026-02-01"}


def case(cid: str, hid: str) -> dict[str, Any]:
    return {"case_id": cid, "household_id": hid, "action_area": "taking_charge", "channel": "desk",
            "opened_on": "2026-02-01"}  # fmt: skip


def activity(aid: str) -> dict[str, Any]:
    return {"activity_id": aid, "kind": "italian_language_course", "title": "Italiano A2", "starts_on": "2026-02-02",
            "min_attendance_percent": 0}  # fmt: skip


def session(aid: str, sid: str) -> dict[str, Any]:
    return {"activity_id": aid, "session_id": sid, "held_on": "2026-02-03", "place": "Casa del quartiere",
            "duration_minutes": 60}  # fmt: skip


def certificate(aid: str, cert: str, pid: str) -> dict[str, Any]:
    return {"activity_id": aid, "certificate_id": cert, "person_id": pid, "issued_on": "2026-02-04"}


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    r = await post(client, path, body)
    assert r.status_code == 201, r.text


async def everything(client: httpx.AsyncClient, tag: str) -> dict[str, str]:
    """A person, her household, a referral, a case, a civic activity with a session and her certificate: the ids."""
    ids = {k: f"{k}-{tag}" for k in ("person", "household", "referral", "case", "activity", "session", "certificate")}
    await created(client, "/persons", person(ids["person"]))
    await created(client, "/households", household(ids["household"], ids["person"]))
    await created(client, "/referrals", referral(ids["referral"], ids["household"]))
    await created(client, "/cases", case(ids["case"], ids["household"]))
    await created(client, "/civic/activities", activity(ids["activity"]))
    await created(client, "/civic/sessions", session(ids["activity"], ids["session"]))
    r = await post(client, "/civic/attendance", {"activity_id": ids["activity"], "session_id": ids["session"],
                                                  "present": [ids["person"]]})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    await created(client, "/civic/certificates", certificate(ids["activity"], ids["certificate"], ids["person"]))
    return ids


async def creates_with(client: httpx.AsyncClient, taken: dict[str, str], mine: dict[str, str]) -> dict[str, Any]:
    """Each kind created again under a taken id (the rest the caller's own): kind → (status, field, reason)."""
    bodies = {
        "person": ("/persons", person(taken["person"])),
        "household": ("/households", household(taken["household"], mine["person"])),
        "referral": ("/referrals", referral(taken["referral"], mine["household"])),
        "case": ("/cases", {**case(taken["case"], mine["household"]), "partner": "coop-aurora"}),
        "activity": ("/civic/activities", activity(taken["activity"])),
        "session": ("/civic/sessions", session(mine["activity"], taken["session"])),
        "certificate": ("/civic/certificates", certificate(mine["activity"], taken["certificate"], mine["person"])),
    }
    out: dict[str, Any] = {}
    for kind, (path, body) in bodies.items():
        r = await post(client, path, body)
        out[kind] = (r.status_code, r.json().get("field"), r.json().get("reason"))
    return out


def taken_answers(ids: dict[str, str]) -> dict[str, Any]:
    return {kind: (409, f"{kind}_id", ID_TAKEN) for kind in ids}


async def test_an_id_taken_by_another_city_or_partner_is_answered_as_one_the_caller_cannot_use(
    intake: IntakeUnderTest, uid: str
) -> None:
    async with (
        intake.client("coop-carso") as carso,
        intake.client("coop-borgo") as borgo,
        intake.client("coop-aurora") as aurora,
        intake.client("staff-torino") as staff,
    ):
        trieste = await everything(carso, f"ts-{uid}")
        borgos = await everything(borgo, f"bo-{uid}")
        auroras = await everything(aurora, f"au-{uid}")
        # Aurora's own second certificate would be refused for her holding one: another person of Aurora's for it
        spare = f"person-2-au-{uid}"
        await created(aurora, "/persons", person(spare))
        await created(aurora, "/civic/attendance", {"activity_id": auroras["activity"],
                      "session_id": auroras["session"], "present": [spare]})  # fmt: skip
        mine = {**auroras, "person": spare}
        # A household of her own for cases and referrals under a taken id (Aurora's household has its open case)
        await created(aurora, "/households", household(f"household-2-au-{uid}", spare))
        mine["household"] = f"household-2-au-{uid}"
        # Another city's ids, and another partner's of Torino, are answered alike: that the id cannot be used
        assert await creates_with(aurora, trieste, mine) == taken_answers(trieste)
        assert await creates_with(aurora, borgos, mine) == taken_answers(borgos)
        # Aurora's own ids keep the precise answer
        own = await creates_with(aurora, auroras, mine)
        assert own["person"] == (409, "person_id", f"person {auroras['person']} is already registered")
        assert own["household"] == (409, "household_id", f"household {auroras['household']} already exists")
        assert own["case"] == (409, "case_id", f"case {auroras['case']} already exists")
        assert own["activity"] == (409, "activity_id", f"activity {auroras['activity']} already exists")
        # Torino's staff are told precisely of Torino's objects, and not of Trieste's
        staff_own = await creates_with(staff, borgos, mine)
        assert staff_own["person"] == (409, "person_id", f"person {borgos['person']} is already registered")
        assert staff_own["referral"] == (409, "referral_id", f"referral {borgos['referral']} already exists")
        staff_ts = await creates_with(staff, trieste, mine)
        assert staff_ts == taken_answers(trieste)


async def test_through_the_gatekeeper_another_citys_id_is_refused_as_one_the_partner_cannot_use(
    intake: IntakeUnderTest, uid: str
) -> None:
    async with intake.client("coop-carso") as carso, intake.client("coop-aurora") as aurora:
        trieste = await everything(carso, f"ts-{uid}")
        mine = await everything(aurora, f"au-{uid}")
        spare = f"person-2-au-{uid}"
        await created(aurora, "/persons", person(spare))
        await created(aurora, "/households", household(f"household-2-au-{uid}", spare))
    records: dict[str, Event] = {
        "household": inbound.HouseholdFormationSubmitted(
            household_id=trieste["household"], member_ids=[spare], reference_person_id=spare
        ),
        "referral": inbound.ReferralSubmitted(**referral(trieste["referral"], f"household-2-au-{uid}")),
        "case": inbound.CaseOpeningSubmitted(**case(trieste["case"], f"household-2-au-{uid}")),
        "activity": cev.CivicActivitySubmitted(**activity(trieste["activity"])),
        "session": cev.CivicSessionSubmitted(**session(mine["activity"], trieste["session"])),
        "certificate": cev.CivicCertificateSubmitted(**certificate(mine["activity"], trieste["certificate"], spare)),
    }
    async with intake.partner("coop-aurora", "torino") as client:
        records["person"] = inbound.PersonRegistrationSubmitted(
            person_id=trieste["person"], sex="female", nationality="NG",
            identity=client.seal_identity(date(1990, 5, 1), given_name="Ada", family_name="Obi"),
        )  # fmt: skip
        sent = {(await client.emit(e)).id: kind for kind, e in records.items()}
        answers: dict[str, Any] = {}
        async for rejection in client.rejections(timeout=20):
            if rejection.inbound_event_id in sent:
                answers[sent[rejection.inbound_event_id]] = (rejection.kind, rejection.field, rejection.reason)
                if len(answers) == len(sent):
                    break
    assert answers == {kind: ("conflict", f"data.{kind}_id", ID_TAKEN) for kind in records}
