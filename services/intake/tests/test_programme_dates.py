"""The programme's earliest date (`LGNET_INTAKE_EARLIEST_DATE`, here 2020-01-01) against real Kafka and PostgreSQL:
a case opened, or a referral received, before it is refused over HTTP (422) and over Kafka (a rejection), naming
the field; so is a case opened before its household's reference person was born. Nothing refused is stored."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from lgnet_shared import clock
from lgnet_shared.events import partner as inbound
from test_gatekeeper import registration, rejections, wait_rows

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

# One intake for the module: each test's ids carry its `uid`, and it counts its own rows.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
EARLIEST = "2020-01-01"


@pytest.fixture(scope="module")
def intake_shared_env() -> dict[str, str]:
    return {"LGNET_INTAKE_EARLIEST_DATE": EARLIEST}


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def opening(case_id: str, household_id: str, opened_on: str) -> dict[str, Any]:
    return {"case_id": case_id, "household_id": household_id, "action_area": "taking_charge", "channel": "desk",
            "opened_on": opened_on}  # fmt: skip


async def test_over_http_a_case_and_a_referral_are_dated_within_the_programme(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: a case opened in 1990 stretched reporting's monthly tables back for decades."""
    adult, young = f"p-adult-{uid}", f"p-young-{uid}"
    born = {adult: "1985-03-12", young: "2022-03-01"}  # young: a household of their own, say a minor's
    async with intake.client("coop-aurora") as c:
        for pid, birth in born.items():
            body = {"person_id": pid, "birth_date": birth, "sex": "female", "nationality": "NG"}
            assert (await post(c, "/persons", body)).status_code == 201
            household = {"household_id": f"h-{pid}", "reference_person_id": pid, "member_ids": [pid]}
            assert (await post(c, "/households", household)).status_code == 201
        c1, c2 = f"c-1-{uid}", f"c-2-{uid}"
        referral = {"referral_id": f"r-1-{uid}", "household_id": f"h-{adult}", "source": "territory"}
        for path, body, field, reason in (
            ("/cases", opening(c1, f"h-{adult}", "1990-01-01"), "opened_on", f"before {EARLIEST}"),
            ("/cases", opening(c1, f"h-{adult}", "2019-12-31"), "opened_on", f"before {EARLIEST}"),
            ("/referrals", {**referral, "received_on": "2001-05-01"}, "received_on", f"before {EARLIEST}"),
            ("/cases", opening(c2, f"h-{young}", "2021-06-01"), "opened_on", "before the birth"),
        ):
            r = await post(c, path, body)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            assert r.json()["field"] == field and reason in r.json()["reason"], r.json()
            assert "2022-03-01" not in r.json()["reason"]  # a birth date is personal data
        await nothing_stored(intake, uid)
        assert (await post(c, "/referrals", {**referral, "received_on": EARLIEST})).status_code == 201
        assert (await post(c, "/cases", opening(c1, f"h-{adult}", EARLIEST))).status_code == 201
        assert (await post(c, "/cases", opening(c2, f"h-{young}", "2022-03-01"))).status_code == 201


async def nothing_stored(intake: IntakeUnderTest, uid: str) -> None:
    """No case and no referral of this test's (their ids carry its `uid`, their households' too)."""
    mine = f"%-{uid}"
    async with intake.pool.acquire() as conn:
        sql = "select count(*) from cases where case_id like $1 or household_id like $1"
        assert await conn.fetchval(sql, mine) == 0
        sql = "select count(*) from referrals where referral_id like $1 or household_id like $1"
        assert await conn.fetchval(sql, mine) == 0


async def test_over_kafka_a_case_and_a_referral_before_the_programme_are_answered(
    intake: IntakeUnderTest, uid: str
) -> None:
    y1, hh1 = f"y-1-{uid}", f"hh-1-{uid}"
    async with intake.partner("coop-aurora", "torino") as client:
        sent = [await client.emit(registration(y1, client, uid))]
        sent.append(
            await client.emit(
                inbound.HouseholdFormationSubmitted(household_id=hh1, reference_person_id=y1, member_ids=[y1])
            )
        )
        await wait_rows(intake, "select count(*) from households where household_id = $1", 1, hh1)
        case = await client.emit(
            inbound.CaseOpeningSubmitted(
                case_id=f"case-1-{uid}", household_id=hh1, action_area="taking_charge", channel="desk",
                opened_on=date(1990, 1, 1),
            )
        )  # fmt: skip
        referral = await client.emit(
            inbound.ReferralSubmitted(
                referral_id=f"r-1-{uid}", household_id=hh1, source="social_district", received_on=date(2019, 6, 1)
            )
        )
    mine = {case.id, referral.id, *(env.id for env in sent)}
    answers = {a.inbound_event_id: a for a in await rejections(intake, "coop-aurora", 2, mine)}
    assert (answers[case.id].kind, answers[case.id].field) == ("invalid", "data.opened_on")
    assert (answers[referral.id].kind, answers[referral.id].field) == ("invalid", "data.received_on")
    assert all(f"before {EARLIEST}" in a.reason for a in answers.values())
    await nothing_stored(intake, uid)


async def test_consents_employment_and_household_changes_are_dated_within_the_programme_and_not_ahead(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A consent, an employment status and a household change are facts of the taking charge too: they had no bound
    at all (a consent recorded in 2099, an employment as of 1990 were stored)."""
    ahead = str(clock.today() + timedelta(days=30))
    async with intake.client("coop-aurora") as c:
        pa, pb, ha = f"p-a-{uid}", f"p-b-{uid}", f"h-a-{uid}"
        for pid in (pa, pb):
            person = {"person_id": pid, "birth_date": "1985-03-12", "sex": "female", "nationality": "NG"}
            assert (await post(c, "/persons", person)).status_code == 201
        household = {"household_id": ha, "reference_person_id": pa, "member_ids": [pa]}
        assert (await post(c, "/households", household)).status_code == 201
        consent = {"person_id": pa, "purpose": "partner_sharing", "granted": True}
        employment = {"person_id": pa, "status": "unemployed"}
        joined = {"household_id": ha, "person_id": pb, "change": "joined", "reason": "reunification"}
        for path, body, field in (
            ("/consents", {**consent, "recorded_on": "2010-01-01"}, "recorded_on"),
            ("/consents", {**consent, "recorded_on": ahead}, "recorded_on"),
            ("/employment", {**employment, "as_of": "1990-01-01"}, "as_of"),
            ("/employment", {**employment, "as_of": ahead}, "as_of"),
            ("/households/members", {**joined, "on": "2019-12-31"}, "on"),
            ("/households/members", {**joined, "on": ahead}, "on"),
        ):
            r = await post(c, path, body)
            assert r.status_code == 422 and r.json()["field"] == field, (path, body, r.text)
        async with intake.pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from employment where person_id = any($1)", [pa, pb]) == 0
        for path, body in (
            ("/consents", {**consent, "recorded_on": EARLIEST}),
            ("/employment", {**employment, "as_of": EARLIEST}),
            ("/households/members", {**joined, "on": EARLIEST}),
        ):
            assert (await post(c, path, body)).status_code == 201, path


async def test_a_member_leaves_the_household_no_earlier_than_she_joined_it(intake: IntakeUnderTest, uid: str) -> None:
    """From an outside test: a member of a household formed today was recorded as having left it last year; the
    membership then ended before it began. Refused naming `on` and the day she joined; her leaving on that day or
    later is recorded."""
    today = clock.today()
    async with intake.client("coop-aurora") as c:
        l1, l2 = f"p-l1-{uid}", f"p-l2-{uid}"
        for pid in (l1, l2):
            body = {"person_id": pid, "birth_date": "1985-03-12", "sex": "female", "nationality": "NG"}
            assert (await post(c, "/persons", body)).status_code == 201
        household = {"household_id": f"h-l-{uid}", "reference_person_id": l1, "member_ids": [l1, l2]}
        assert (await post(c, "/households", household)).status_code == 201
        left = {"household_id": f"h-l-{uid}", "person_id": l2, "change": "left", "reason": "moved"}
        early = await post(c, "/households/members", {**left, "on": str(today - timedelta(days=365))})
        assert (early.status_code, early.json()["field"]) == (422, "on"), early.text
        assert f"joined the household ({today.isoformat()})" in early.json()["reason"], early.text
        async with intake.pool.acquire() as conn:
            assert await conn.fetchval("select left_on from household_members where person_id = $1", l2) is None
        assert (await post(c, "/households/members", {**left, "on": str(today)})).status_code == 201
        # From an outside review: the reference person left her own household, then without one. Refused at her.
        alone = await post(c, "/households/members", {**left, "person_id": l1, "on": str(today)})
        assert (alone.status_code, alone.json()["field"]) == (409, "person_id"), alone.text
        assert "reference person" in alone.json()["reason"], alone.text
        async with intake.pool.acquire() as conn:
            assert await conn.fetchval("select left_on from household_members where person_id = $1", l1) is None
