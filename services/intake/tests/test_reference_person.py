"""A household names another member its reference person (when hers moved out, separated or died), against real
Kafka and PostgreSQL, over HTTP (`POST /households/reference-person`) and over Kafka (a partner's
`household_reference_person_change_submitted`): only a current member who is not the reference person already
(409 at person_id), dated from the day she joined; the fact `household_reference_person_changed` published; the
former reference person may then leave, the new one not."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from lgnet_shared import clock
from lgnet_shared.events import intake as ev
from lgnet_shared.events import partner as inbound
from test_gatekeeper import born_in, dead_letters, my_events, registration, rejections, wait_rows

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


async def reference_of(intake: IntakeUnderTest, household_id: str) -> Any:
    async with intake.pool.acquire() as conn:
        return await conn.fetchval("select reference_person_id from households where household_id = $1", household_id)


async def test_over_http_another_member_is_named_reference_person_and_the_former_one_may_leave(
    intake: IntakeUnderTest, uid: str
) -> None:
    today = clock.today()
    r1, r2, r3, hh = f"p-r1-{uid}", f"p-r2-{uid}", f"p-r3-{uid}", f"h-r-{uid}"
    async with intake.client("coop-aurora") as c:
        for pid in (r1, r2, r3):
            body = {"person_id": pid, "birth_date": "1985-03-12", "sex": "female", "nationality": "NG"}
            assert (await post(c, "/persons", body)).status_code == 201
        household = {"household_id": hh, "reference_person_id": r1, "member_ids": [r1, r2]}
        assert (await post(c, "/households", household)).status_code == 201
        change = {"household_id": hh, "person_id": r2, "reason": "moved", "on": str(today)}
        # Refused: not a member, the reference person already, before she joined, a reason holding a fiscal code
        for body, status, field, words in (
            ({**change, "person_id": r3}, 409, "person_id", "is not a member of the household"),
            ({**change, "person_id": r1}, 409, "person_id", "already the household's reference person"),
            ({**change, "on": str(today - timedelta(days=30))}, 422, "on", f"joined the household ({today})"),
            ({**change, "reason": "RSSMRA85C12H501X"}, 422, "reason", ""),
        ):
            r = await post(c, "/households/reference-person", body)
            assert (r.status_code, r.json()["field"]) == (status, field), (body, r.text)
            assert words in r.json()["reason"], r.text
        assert await reference_of(intake, hh) == r1
        # Another cooperative, with no case of the household, may not change it (as for its members)
        async with intake.client("coop-borgo") as borgo:
            assert (await post(borgo, "/households/reference-person", change)).status_code in (403, 404)
        # Before the change the reference person cannot leave, and is told to name another first
        leaving = {"household_id": hh, "person_id": r1, "change": "left", "reason": "moved", "on": str(today)}
        r = await post(c, "/households/members", leaving)
        assert (r.status_code, r.json()["field"]) == (409, "person_id"), r.text
        assert "name another member as reference person first" in r.json()["reason"], r.text
        r = await post(c, "/households/reference-person", change)
        assert r.status_code == 201, r.text
        assert r.json() == {"household_id": hh, "person_id": r2, "previous_person_id": r1}, r.text
        assert await reference_of(intake, hh) == r2
        # The former reference person now leaves; the new one cannot
        assert (await post(c, "/households/members", leaving)).status_code == 201
        r = await post(c, "/households/members", {**leaving, "person_id": r2})
        assert (r.status_code, r.json()["field"]) == (409, "person_id"), r.text
        # The household is named after its reference person now in the cartella
    async with intake.client("staff-torino") as staff:
        folder = (await staff.get(f"/persons/{r2}/record")).json()
    [shown] = [h for h in folder["households"] if h["household_id"] == hh]
    assert shown["reference_person_id"] == r2, shown
    # the cartella's timeline says who was named in whose place, when and why
    named = [t for t in folder["timeline"] if t["kind"] == "reference_person_named"]
    assert named == [{"on": str(today), "kind": "reference_person_named", "person_id": r2, "previous_person_id": r1,
                      "household_id": hh, "reason": "moved"}], folder["timeline"]  # fmt: skip
    # the same day, in the order it happened: the change, then her leaving (which it allowed); it read the other way
    kinds = [(t["kind"], t.get("person_id")) for t in folder["timeline"] if t.get("household_id") == hh]
    assert kinds.index(("reference_person_named", r2)) < kinds.index(("member_left", r1)), kinds
    events = await my_events(intake, uid, want=4)
    [fact] = [e for e in events if isinstance(e, ev.HouseholdReferencePersonChanged)]
    assert (fact.household_id, fact.person_id, fact.previous_person_id, fact.reason, fact.on) == (
        hh, r2, r1, "moved", today
    )  # fmt: skip


async def test_over_kafka_a_partner_names_another_reference_person_refusals_answered(
    intake: IntakeUnderTest, uid: str
) -> None:
    today = clock.today()
    k1, k2, k3, kh = f"rk-1-{uid}", f"rk-2-{uid}", f"rk-3-{uid}", f"rk-h-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        for n, pid in enumerate((k1, k2, k3)):
            await client.emit(registration(pid, client, uid, born=born_in(uid, n)))
        await client.emit(
            inbound.HouseholdFormationSubmitted(household_id=kh, reference_person_id=k1, member_ids=[k1, k2])
        )
        change = {"household_id": kh, "person_id": k2, "reason": "death", "on": today}
        outsider = await client.emit(inbound.HouseholdReferencePersonChangeSubmitted(**{**change, "person_id": k3}))
        already = await client.emit(inbound.HouseholdReferencePersonChangeSubmitted(**{**change, "person_id": k1}))
        early = await client.emit(
            inbound.HouseholdReferencePersonChangeSubmitted(**{**change, "on": today - timedelta(days=3)})
        )
        named = await client.emit(inbound.HouseholdReferencePersonChangeSubmitted(**change))
        left = await client.emit(
            inbound.HouseholdMemberChangeSubmitted(
                household_id=kh, person_id=k1, change="left", reason="death", on=today
            )
        )
    mine = {outsider.id, already.id, early.id, named.id, left.id}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 3, mine)}
    assert (answers[outsider.id].kind, answers[outsider.id].field) == ("conflict", "data.person_id"), answers
    assert (answers[already.id].kind, answers[already.id].field) == ("conflict", "data.person_id"), answers
    assert (answers[early.id].kind, answers[early.id].field) == ("invalid", "data.on"), answers
    assert named.id not in answers and left.id not in answers, answers
    await wait_rows(
        intake, "select count(*) from household_members where person_id = $1 and left_on is not null", 1, k1
    )
    assert await reference_of(intake, kh) == k2
    assert not await dead_letters(intake)
    events = await my_events(intake, uid, want=7)
    [fact] = [e for e in events if isinstance(e, ev.HouseholdReferencePersonChanged)]
    assert (fact.person_id, fact.previous_person_id, fact.reason) == (k2, k1, "death"), fact
    assert [
        type(e).__name__ for e in events if isinstance(e, ev.HouseholdReferencePersonChanged | ev.HouseholdMemberLeft)
    ] == [
        "HouseholdReferencePersonChanged",
        "HouseholdMemberLeft",
    ]
