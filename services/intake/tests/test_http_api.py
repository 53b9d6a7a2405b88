"""Intake's HTTP API against real Kafka and PostgreSQL: authentication, authorisation, idempotency,
problem+json errors naming the field, duplicates, consent, erasure, and the canonical events it emits."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from codicefiscale import codicefiscale
from lgnet_intake.adapters import credentials
from lgnet_intake.entrypoints import partner_admin
from lgnet_shared import clock, pii, vocabulary
from lgnet_shared.access import Role
from lgnet_shared.events import intake as ev
from lgnet_shared.events.types import DATE_REASON
from lgnet_shared.testing import HTTP_TIMEOUT_S
from lgnet_shared.topics import TOPICS

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.shared_service]


def tag(uid: str) -> str:
    """The test's uid as letters (a-p): a name's or a fiscal code's part of this test's own. On the module's shared
    intake, persons of other tests with the same name and birth date (or fiscal code) would be duplicates of ours."""
    return "".join(chr(ord("a") + int(d, 16)) for d in uid)


def surname(base: str, uid: str) -> str:
    return f"{base} {tag(uid).capitalize()}"


def fiscal_code(uid: str, born: str) -> str:
    """A valid fiscal code of this test's own (its first six letters), born on `born` (yymdd: "90E41") in Nigeria."""
    body = f"{tag(uid)[:6].upper()}{born}Z335"
    return body + codicefiscale.encode_cin(body)


def amina(uid: str) -> dict[str, str]:
    return {
        "given_name": "Amina",
        "family_name": surname("Okonkwo", uid),
        "fiscal_code": fiscal_code(uid, "90E41"),
        "phone": "+39 333 1234567",
        "address": "Via Roma 1, Torino",
    }


def person(
    pid: str, *, birth: str = "1990-05-01", sex: str = "female", nat: str = "NG", identity: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "person_id": pid,
        "birth_date": birth,
        "sex": sex,
        "nationality": nat,
        "languages": ["en", "yo"],
        "literate": True,
        "identity": identity or {},
    }


def mine(events: list[Any], uid: str) -> list[Any]:
    """The events of this test's own ids (on a shared intake a straggler of the test before could follow `since`)."""
    return [e for e in events if uid in e.model_dump_json()]


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def household_with_case(intake: IntakeUnderTest, uid: str, partner: str = "coop-aurora") -> dict[str, str]:
    async with intake.client(partner) as c:
        assert (await post(c, "/persons", person(f"p-amina-{uid}", identity=amina(uid)))).status_code == 201
        assert (await post(c, "/persons", person(f"p-kid-{uid}", birth="2015-03-02", sex="male"))).status_code == 201
        r = await post(
            c,
            "/households",
            {
                "household_id": f"h-1-{uid}",
                "reference_person_id": f"p-amina-{uid}",
                "member_ids": [f"p-amina-{uid}", f"p-kid-{uid}"],
            },
        )
        assert r.status_code == 201, r.text
        r = await post(
            c,
            "/cases",
            {
                "case_id": f"c-1-{uid}",
                "household_id": f"h-1-{uid}",
                "action_area": "housing_inclusion",
                "channel": "desk",
                "opened_on": "2026-01-15",
                "housing_need": True,
            },
        )
        assert r.status_code == 201, r.text
    return {"person": f"p-amina-{uid}", "household": f"h-1-{uid}", "case": f"c-1-{uid}"}


async def our_flags(staff: httpx.AsyncClient, uid: str) -> list[dict[str, Any]]:
    """The city's duplicate flags on this test's persons (the shared intake's list holds other tests' too)."""
    return [f for f in (await staff.get("/duplicates")).json() if f["person_id"].endswith(uid)]


async def test_every_call_is_authenticated(intake: IntakeUnderTest, uid: str) -> None:
    async with httpx.AsyncClient(base_url=intake.process.url, timeout=HTTP_TIMEOUT_S) as anonymous:
        r = await anonymous.post("/persons", json=person(f"p1-{uid}"), headers={"Idempotency-Key": "k"})
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == "headers.authorization"
        r = await anonymous.get(f"/cases/c-1-{uid}", headers={"Authorization": "Bearer lgn_forged"})
        assert r.status_code == 401 and r.json()["reason"] == "unknown or revoked token"


async def test_register_person_emits_sealed_identity_and_derived_fields(intake: IntakeUnderTest, uid: str) -> None:
    async with intake.client("coop-aurora") as c:
        r = await post(c, "/persons", person(f"p-amina-{uid}", identity=amina(uid)))
        assert r.status_code == 201, r.text
        assert r.json() == {"person_id": f"p-amina-{uid}", "same_as": None, "possible_duplicates": []}
    events = await intake.events()
    registered = [e for e in mine(events, uid) if isinstance(e, ev.PersonRegistered)]
    assert len(registered) == 1
    e = registered[0]
    assert e.third_country is True and e.nationality == "NG" and e.fiscal_code_hash
    assert e.identity.given_name is not None and e.identity.given_name.kid == f"p-amina-{uid}"
    raw = b"".join(r.value for r in await intake.raw_records("intake.events"))
    for value in amina(uid).values():
        assert value.encode() not in raw


async def test_bad_input_names_the_field_and_changes_nothing(intake: IntakeUnderTest, uid: str) -> None:
    async with intake.client("coop-aurora") as c:
        cases = [
            (
                person(f"p1-{uid}", identity={"fiscal_code": "KNKMNA90E41Z335X"}),
                "identity.fiscal_code",
                "check character",
            ),
            (person(f"p1-{uid}", nat="XX"), "nationality", "ISO 3166"),
            (person(f"p1-{uid}", birth="2090-01-01"), "birth_date", "future"),
            ({**person(f"p1-{uid}"), "sex": "robot"}, "sex", "Input should be"),
            ({**person(f"p1-{uid}"), "unexpected": 1}, "unexpected", "Extra inputs"),
            # From an outside test: `languages` had no bound: 300,000 codes made a 1.5 MB fact kept forever, and were
            # not checked against ISO 639 ("xx" was registered).
            ({**person(f"p1-{uid}"), "languages": ["en", "xx"]}, "languages.1", "ISO 639"),
            ({**person(f"p1-{uid}"), "languages": ["en", "ti", "en"]}, "languages.2", "listed twice"),
            ({**person(f"p1-{uid}"), "languages": ["en"] * 300_000}, "languages", "at most 20"),
            (
                person(f"p1-{uid}", identity={"fiscal_code": amina(uid)["fiscal_code"]}, birth="1991-05-01"),
                "identity.fiscal_code",
                "birth_date",
            ),
        ]
        for body, field, reason in cases:
            r = await post(c, "/persons", body)
            assert r.status_code == 422, (field, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["field"] == field and reason in r.json()["reason"], r.json()
        r = await c.post("/persons", json=person(f"p1-{uid}"))
        assert r.status_code == 422 and r.json()["field"] == "headers.idempotency-key"
        # every mistake at once (the desk's operator corrected them one round each): the body's, then the rules'
        r = await post(c, "/persons", {**person(f"p1-{uid}"), "sex": "robot", "birth_date": "1990-02-30"})
        assert [e["field"] for e in r.json()["errors"]] == ["birth_date", "sex"], r.json()
        wrong = person(f"p1-{uid}", nat="XX", birth="2090-01-01", identity={"fiscal_code": "KNKMNA90E41Z335X"})
        r = await post(c, "/persons", wrong)
        assert [e["field"] for e in r.json()["errors"]] == ["birth_date", "nationality", "identity.fiscal_code"]
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"p1-{uid}") == 0
        assert (
            await conn.fetchval(
                "select count(*) from outbox where position($1::bytea in value) > 0", f"p1-{uid}".encode()
            )
            == 0
        )


async def test_a_phone_must_look_like_a_phone_said_with_the_registrations_other_faults(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: "abcde" was registered as a phone (the rule was five characters of anything) and "abc"
    was refused alone, before the birth date in the future was looked at. The phone's rule
    (`lgnet_shared.phones`) is one of the person's rules, said with the others."""
    async with intake.client("staff-torino") as c:
        r = await post(c, "/persons", person(f"ph-1-{uid}", identity={"phone": "abcde"}))
        assert r.status_code == 422 and r.json()["field"] == "identity.phone", r.text
        wrong = person(f"ph-1-{uid}", birth="2090-01-01", nat="XX", identity={"phone": "abc"})
        r = await post(c, "/persons", wrong)
        assert [e["field"] for e in r.json()["errors"]] == ["birth_date", "nationality", "identity.phone"], r.json()
        r = await post(c, "/persons", person(f"ph-2-{uid}", identity={"phone": "+39 (011) 555-01.01"}))
        assert r.status_code == 201, r.text
        r = await c.patch(f"/persons/ph-2-{uid}", json={"identity": {"phone": "call me"}})
        assert r.status_code == 422 and r.json()["field"] == "identity.phone", r.text
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from persons where person_id = $1", f"ph-1-{uid}") == 0


async def test_a_registration_is_checked_without_being_registered(intake: IntakeUnderTest, uid: str) -> None:
    """`POST /persons/check`: the registration's every rule, nothing stored (no key, no fact). The desk checks each
    member of a household first: a member refused left the others registered without a household."""
    async with intake.client("staff-torino") as c:
        wrong = person(f"ck-1-{uid}", birth="2090-01-01", nat="XX", identity={"phone": "abc"})
        r = await c.post("/persons/check", json=wrong)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["birth_date", "nationality", "identity.phone"]
        r = await c.post("/persons/check", json=person(f"ck-2-{uid}", identity=amina(uid)))
        assert r.status_code == 200 and r.json() == {"person_id": f"ck-2-{uid}"}, r.text
        # a caller that refused the birth date or the nationality itself (a day the calendar has not, a country's
        # name no country has) leaves it out: the rules of the rest are checked all the same, not "Field required"
        partial = {k: v for k, v in person(f"ck-4-{uid}", identity={"phone": "abc"}).items() if k != "nationality"}
        r = await c.post("/persons/check", json={k: v for k, v in partial.items() if k != "birth_date"})
        assert [e["field"] for e in r.json()["errors"]] == ["identity.phone"], r.json()
        wrong_code = {**partial, "identity": {"fiscal_code": amina(uid)["fiscal_code"]}, "birth_date": "1991-05-01"}
        r = await c.post("/persons/check", json=wrong_code)
        assert [e["field"] for e in r.json()["errors"]] == ["identity.fiscal_code"], r.json()
        r = await post(c, "/persons", partial)  # a registration still needs them
        assert [e["field"] for e in r.json()["errors"]] == ["nationality"], r.json()
    async with intake.client("coop-aurora") as c:  # a partner checks its own registrations too
        assert (await c.post("/persons/check", json=person(f"ck-3-{uid}"))).status_code == 200
    async with intake.pool.acquire() as conn:
        stored = "select count(*) from persons where person_id like 'ck-%' and person_id like $1"
        assert await conn.fetchval(stored, f"%{uid}") == 0
    assert not mine(await intake.events(), uid)


async def test_idempotency_key_replays_the_first_answer(intake: IntakeUnderTest, uid: str) -> None:
    async with intake.client("coop-aurora") as c:
        first = await post(c, "/persons", person(f"p1-{uid}"), key=f"k-1-{uid}")
        again = await post(c, "/persons", person(f"p1-{uid}"), key=f"k-1-{uid}")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        other = await post(c, "/persons", person(f"p2-{uid}"), key=f"k-1-{uid}")
        assert other.status_code == 409 and other.json()["field"] == "headers.idempotency-key"
        dup = await post(c, "/persons", person(f"p1-{uid}"))
        assert dup.status_code == 409 and dup.json()["field"] == "person_id"
    events = await intake.events()
    assert [e.person_id for e in mine(events, uid) if isinstance(e, ev.PersonRegistered)] == [f"p1-{uid}"]


async def test_partner_acts_only_in_its_city_and_on_its_cases(intake: IntakeUnderTest, uid: str) -> None:
    ids = await household_with_case(intake, uid)
    close = {"case_id": ids["case"], "outcome": "housing_autonomy", "closed_on": "2026-06-01"}
    async with intake.client("coop-carso") as trieste_partner:  # a Trieste partner on a Torino case: as no case
        r = await post(trieste_partner, "/cases/closures", close)
        nowhere = await post(trieste_partner, "/cases/closures", close | {"case_id": f"c-nowhere-{uid}"})
        assert r.status_code == 404 and r.json()["field"] == "case_id", r.text
        assert r.json()["reason"] == nowhere.json()["reason"].replace(f"c-nowhere-{uid}", ids["case"])
    async with intake.client("coop-borgo") as other_partner:  # same city, another partner's case: as no case too
        r = await post(other_partner, "/cases/closures", close)
        nowhere = await post(other_partner, "/cases/closures", close | {"case_id": f"c-nowhere-{uid}"})
        assert r.status_code == nowhere.status_code == 404 and r.json()["field"] == "case_id", r.text
        assert r.json()["reason"] == nowhere.json()["reason"].replace(f"c-nowhere-{uid}", ids["case"])
    async with intake.client("staff-trieste") as trieste_staff:
        assert (await trieste_staff.get(f"/cases/{ids['case']}")).status_code == 404
    async with intake.client("coordination") as national:
        r = await national.get(f"/cases/{ids['case']}")
        assert r.status_code == 403 and "read-only" in r.json()["reason"]
        assert (await post(national, "/persons", person(f"p9-{uid}"))).status_code == 403
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/cases/{ids['case']}")).json()["partner"] == "coop-aurora"
    async with intake.client("coop-aurora") as owner:
        r = await post(owner, "/cases/closures", close)
        assert r.status_code == 201, r.text
        again = await post(owner, "/cases/closures", close)
        assert again.status_code == 409 and "closed" in again.json()["reason"]
    assert [e.case_id for e in mine(await intake.events(), uid) if isinstance(e, ev.CaseClosed)] == [f"c-1-{uid}"]


async def test_a_referrer_says_nothing_of_the_person(intake: IntakeUnderTest, uid: str) -> None:
    """A referral's `referrer` holding a fiscal code was answered 201 and published in clear on intake's fact topic,
    for good. It is an identifier like the referral's own: one holding identifying data is refused 422 `referrer`,
    nothing stored or published; the referring service's id is taken."""
    ids = await household_with_case(intake, uid)
    referral = {"household_id": ids["household"], "source": "territory", "received_on": "2026-02-01"}
    async with intake.client("coop-aurora") as c:
        held = ((1, "RSSMRA80A01L219M", "a fiscal code"), (2, "fatou.diallo@example.org", "an e-mail"))
        for n, referrer, what in held:
            r = await post(c, "/referrals", referral | {"referral_id": f"r-{n}-{uid}", "referrer": referrer})
            assert (r.status_code, r.json()["field"]) == (422, "referrer"), r.text
            assert what in r.json()["reason"] and referrer not in r.text, r.text
        ok = await post(c, "/referrals", referral | {"referral_id": f"r-3-{uid}", "referrer": "sai-torino"})
        assert ok.status_code == 201, ok.text
    received = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.ReferralReceived)]
    assert [(e.referral_id, e.referrer) for e in received] == [(f"r-3-{uid}", "sai-torino")]
    async with intake.pool.acquire() as conn:
        kept = await conn.fetch("select referral_id from referrals where household_id = $1", ids["household"])
        assert [r["referral_id"] for r in kept] == [f"r-3-{uid}"]


async def test_case_workflow_emits_canonical_events(intake: IntakeUnderTest, uid: str) -> None:
    ids = await household_with_case(intake, uid)
    async with intake.client("coop-aurora") as c:
        steps: list[tuple[str, dict[str, Any]]] = [
            (
                "/referrals",
                {
                    "referral_id": f"r-1-{uid}",
                    "household_id": f"h-1-{uid}",
                    "source": "reception_exit",
                    "referrer": "sai-torino",
                    "received_on": "2026-01-10",
                },
            ),
            (
                "/cases/assessments",
                {
                    "case_id": f"c-1-{uid}",
                    "vulnerabilities_by_person": {f"p-amina-{uid}": ["woman_social_emergency"]},
                    "housing_situation": "reception_project",
                    "monthly_income_cents": 45000,
                    "employment_status": "unemployed",
                    "assessed_on": "2026-01-20",
                },
            ),
            (
                "/cases/plans",
                {
                    "case_id": f"c-1-{uid}",
                    "plan_id": f"plan-1-{uid}",
                    "objectives": ["housing_autonomy", "employment"],
                    "agreed_on": "2026-01-25",
                },
            ),
            (
                "/cases/plans/objectives",
                {
                    "case_id": f"c-1-{uid}",
                    "plan_id": f"plan-1-{uid}",
                    "objective": "employment",
                    "status": "achieved",
                    "on": "2026-04-01",
                },
            ),
            (
                "/employment",
                {
                    "person_id": f"p-amina-{uid}",
                    "case_id": f"c-1-{uid}",
                    "status": "employed_fixed_term",
                    "as_of": "2026-04-01",
                },
            ),
            (
                "/households/members",
                {
                    "household_id": f"h-1-{uid}",
                    "person_id": f"p-baby-{uid}",
                    "change": "joined",
                    "reason": "birth",
                    "on": "2026-05-01",
                },
            ),
        ]
        assert (await post(c, "/persons", person(f"p-baby-{uid}", birth="2026-05-01", sex="male"))).status_code == 201
        for path, body in steps:
            r = await post(c, path, body)
            assert r.status_code == 201, (path, r.text)
        r = await post(
            c,
            "/cases/plans/objectives",
            {
                "case_id": f"c-1-{uid}",
                "plan_id": f"plan-1-{uid}",
                "objective": "nope",
                "status": "achieved",
                "on": "2026-04-01",
            },
        )
        assert r.status_code == 422 and r.json()["field"] == "objective"
    types = [type(e).__name__ for e in mine(await intake.events(want=10), uid)]
    for name in (
        "PersonRegistered",
        "HouseholdFormed",
        "CaseOpened",
        "ReferralReceived",
        "IndividualPlanAgreed",
        "PlanObjectiveUpdated",
        "EmploymentRecorded",
        "HouseholdMemberJoined",
    ):
        assert name in types, name
    assert "NeedsAssessed" not in types  # special-category: on the restricted topic
    assert [type(e).__name__ for e in mine(await intake.events("intake.special"), uid)] == ["NeedsAssessed"]
    opened = next(e for e in mine(await intake.events(), uid) if isinstance(e, ev.CaseOpened))
    assert opened.city == "torino" and opened.partner == "coop-aurora" and opened.household_id == ids["household"]
    # Minor or adult at the opening (2026-01-15), computed by intake: birth dates travel sealed.
    assert opened.minors == {f"p-amina-{uid}": False, f"p-kid-{uid}": True}
    joined = next(e for e in mine(await intake.events(), uid) if isinstance(e, ev.HouseholdMemberJoined))
    assert joined.minor_in_cases == {f"c-1-{uid}": True}


async def test_same_person_from_two_partners_is_one_person(intake: IntakeUnderTest, uid: str) -> None:
    async with intake.client("coop-aurora") as a, intake.client("coop-borgo") as b:
        assert (await post(a, "/persons", person(f"a-1-{uid}", identity=amina(uid)))).status_code == 201
        r = await post(b, "/persons", person(f"b-7-{uid}", identity={**amina(uid), "phone": "+39 347 0000000"}))
        # One person (merged below), but not Borgo's to know of: Aurora's person's id was answered (`same_as`).
        assert r.status_code == 201 and r.json()["same_as"] is None
        r = await post(a, "/persons", person(f"a-2-{uid}", identity=amina(uid)))  # Aurora's own, again: told
        assert r.status_code == 201 and r.json()["same_as"] == f"a-1-{uid}"
        # Same name and birth date, no fiscal code: a likely match, flagged for the city's staff to review. Not told
        # to the partner: the candidate is another cooperative's person, whose id and existence are not Borgo's to
        # know (it was answered ["a-1"]).
        r = await post(
            b,
            "/persons",
            person(f"b-8-{uid}", identity={"given_name": "AMINA", "family_name": surname("okonkwo", uid).lower()}),
        )
        assert r.status_code == 201 and r.json()["possible_duplicates"] == []
    async with intake.client("staff-torino") as staff:
        flags = await our_flags(staff, uid)
        assert [(f["person_id"], f["candidate_person_id"]) for f in flags] == [(f"b-8-{uid}", f"a-1-{uid}")]
        assert (await post(staff, f"/persons/a-1-{uid}/merge", {"merged_person_id": f"b-8-{uid}"})).status_code == 201
        assert await our_flags(staff, uid) == []
        assert (await staff.get(f"/persons/b-8-{uid}")).json()["person_id"] == f"a-1-{uid}"
        # The city's staff registering one are told at once (the flags are theirs to review).
        again = person(f"s-9-{uid}", identity={"given_name": "Amina", "family_name": surname("Okonkwo", uid)})
        assert (await post(staff, "/persons", again)).json()["possible_duplicates"] == [f"a-1-{uid}"]
        assert (await post(staff, f"/persons/a-1-{uid}/merge", {"merged_person_id": f"s-9-{uid}"})).status_code == 201
        # A fiscal code another person of the city has: they are one person, to be merged, not two.
        zara = person(f"s-1-{uid}", identity={"given_name": "Zara", "family_name": surname("Bello", uid)})
        assert (await post(staff, "/persons", zara)).status_code == 201
        r = await staff.patch(f"/persons/s-1-{uid}", json={"identity": {"fiscal_code": amina(uid)["fiscal_code"]}})
        assert (r.status_code, r.json()["field"]) == (409, "identity.fiscal_code") and "merge" in r.json()["reason"]
    async with intake.client("coop-aurora") as a:
        r = await post(a, f"/persons/a-1-{uid}/merge", {"merged_person_id": f"b-7-{uid}"})
        assert r.status_code == 403 and "staff" in r.json()["reason"]
    merges = {
        (e.surviving_person_id, e.merged_person_id)
        for e in mine(await intake.events(), uid)
        if isinstance(e, ev.PersonsMerged)
    }
    assert merges == {
        (f"a-1-{uid}", f"b-7-{uid}"),
        (f"a-1-{uid}", f"a-2-{uid}"),
        (f"a-1-{uid}", f"b-8-{uid}"),
        (f"a-1-{uid}", f"s-9-{uid}"),
    }


async def test_a_partner_registering_a_known_fiscal_code_gains_no_access_to_the_person_on_file(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From an outside test: a cooperative that knew (or computed) the fiscal code of a person the city's desk had
    registered registered a stub with it, was answered her id (`same_as`), then — its registration merged into her
    record — recorded her consent, formed a household of her, opened a case on it and read her whole identity (phone,
    address). A registration merged by its fiscal code gives a partner nothing over the person on file: it is told
    nothing of her, and works on its own registration only — what it reads through that id is what it sent itself."""
    async with intake.client("staff-torino") as staff:
        assert (await post(staff, "/persons", person(f"s-amina-{uid}", identity=amina(uid)))).status_code == 201
    async with intake.client("coop-aurora") as a:
        stub = person(
            f"a-stub-{uid}", identity={"given_name": "X", "family_name": "Y", "fiscal_code": amina(uid)["fiscal_code"]}
        )
        r = await post(a, "/persons", stub)
        assert r.status_code == 201 and r.json() == {
            "person_id": f"a-stub-{uid}",
            "same_as": None,
            "possible_duplicates": [],
        }
        household = {
            "household_id": f"h-stub-{uid}",
            "reference_person_id": f"a-stub-{uid}",
            "member_ids": [f"a-stub-{uid}"],
        }
        r = await post(a, "/households", household)  # its own registration's id, as it named it
        assert r.status_code == 201 and r.json()["member_ids"] == [f"a-stub-{uid}"], r.text
        opening = {"case_id": f"c-stub-{uid}", "household_id": f"h-stub-{uid}", "action_area": "taking_charge",
                   "channel": "desk", "opened_on": "2026-01-15"}  # fmt: skip
        assert (await post(a, "/cases", opening)).status_code == 201
        consent = {
            "person_id": f"a-stub-{uid}",
            "purpose": "partner_sharing",
            "granted": True,
            "recorded_on": "2026-01-15",
        }
        r = await post(a, "/consents", consent)
        assert r.status_code == 201 and r.json()["person_id"] == f"a-stub-{uid}", r.text
        r = await a.get(f"/persons/a-stub-{uid}")  # what it registered itself, never the desk's record of her
        assert r.status_code == 200 and r.json()["person_id"] == f"a-stub-{uid}", r.text
        assert {k: v for k, v in r.json()["identity"].items() if v} == stub["identity"], r.text
        assert "Okonkwo" not in r.text and "Roma" not in r.text and "s-amina" not in r.text
        r = await a.get(f"/persons/s-amina-{uid}")
        assert (r.status_code, r.json()["reason"]) == (404, f"no person s-amina-{uid}"), r.text
    async with intake.client("staff-torino") as staff:  # the desk's record: her consent is not the stub's
        assert (await staff.get(f"/persons/a-stub-{uid}")).json()["person_id"] == f"s-amina-{uid}"
    async with intake.pool.acquire() as conn:
        assert not await conn.fetchval("select exists(select from consents where person_id = $1)", f"s-amina-{uid}")


def _same_but_ids(r: httpx.Response, *ids: str) -> tuple[int, str]:
    """An answer with the test's ids taken out: two runs under different ids compare equal if they said the same."""
    text = r.text
    for n, i in enumerate(ids):
        text = text.replace(i, f"<id{n}>")
    return r.status_code, text


async def _a_partners_journey(c: httpx.AsyncClient, run: str, fiscal: str) -> list[tuple[int, str]]:
    """Everything a partner does with a person it registers with `fiscal` — every route naming her id — and what it
    was answered, ids taken out."""
    pid, kid, hh, case = (f"{x}-{run}" for x in ("p", "k", "h", "c"))
    ids = (pid, kid, hh, case, fiscal)
    answers = []
    today = str(clock.today())  # the household is formed today: its members change from then

    async def step(method: str, path: str, body: dict[str, Any] | None = None) -> None:
        if method == "GET":
            r = await c.get(path)
        elif method == "PATCH":
            r = await c.patch(path, json=body)
        else:
            assert body is not None
            r = await post(c, path, body)
        answers.append(_same_but_ids(r, *ids))

    me = {"given_name": "Lucia", "family_name": "Bianchi", "fiscal_code": fiscal}
    await step("POST", "/persons", person(pid, birth="1985-03-12", identity=me))
    await step("GET", f"/persons/{pid}")
    await step("POST", "/persons", person(kid, birth="2015-03-02", sex="male"))
    await step("POST", "/households", {"household_id": hh, "reference_person_id": pid, "member_ids": [pid]})
    await step("POST", "/cases", {"case_id": case, "household_id": hh, "action_area": "taking_charge",
                                  "channel": "desk", "opened_on": "2026-01-15"})  # fmt: skip
    await step("GET", f"/persons/{pid}")
    consent = {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": "2026-01-15"}
    await step("POST", "/consents", consent)
    await step("POST", "/consents", {**consent, "person_id": kid})
    await step("GET", f"/persons/{pid}")
    await step("POST", "/employment", {"person_id": pid, "case_id": case, "status": "training",
                                       "as_of": "2026-01-20"})  # fmt: skip
    await step("PATCH", f"/persons/{pid}", {"languages": ["it", "en"]})
    await step("POST", f"/persons/{pid}/notes", {"text": "colloquio"})
    if answers[-1][0] == 201:
        answers[-1] = (201, "")  # a note's id and time are its own
    await step("GET", f"/persons/{pid}/notes")
    if answers[-1][0] == 200:  # the notes' texts (their ids and times are their own)
        answers[-1] = (200, str([n["text"] for n in json.loads(answers[-1][1])]))
    await step("POST", "/persons/search", {"fiscal_code": fiscal})
    await step("POST", "/persons/search", {"name": "Lucia Bianchi"})
    await step("GET", f"/persons/{pid}/record")
    await step("POST", "/households/members", {"household_id": hh, "person_id": kid, "change": "joined",
                                               "reason": "cohabitation", "on": today})  # fmt: skip
    await step("POST", "/households/reference-person", {"household_id": hh, "person_id": kid,
                                                        "reason": "household_choice", "on": today})  # fmt: skip
    await step("POST", "/households/members", {"household_id": hh, "person_id": pid, "change": "left",
                                               "reason": "moved", "on": today})  # fmt: skip
    await step("GET", f"/cases/{case}")
    return answers


async def test_a_partner_cannot_tell_whether_a_fiscal_code_is_on_file_under_another_partner(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test (Torino, two unrelated cooperatives): Borgo registered a person with the fiscal code of
    Aurora's person — 201 — and was then told 404 "no person <the id just created>" when it formed a household with
    her (consent, case, employment alike); with a fiscal code nobody has, 201 then 201. Any partner could so learn
    whether a fiscal code is on file in its city. Its registration is now its own to work on whatever the city holds
    (one person all the same: merged into Aurora's, for the city's staff and reports), and every answer is the same
    with a fiscal code on file under another partner and with one nobody has."""
    taken, fresh = fiscal_code(uid, "85C52"), fiscal_code(uid[::-1], "85C52")
    async with intake.client("coop-aurora") as a:
        mario = {"given_name": "Mario", "family_name": "Rossi", "fiscal_code": taken, "phone": "+39 333 7654321"}
        assert (
            await post(a, "/persons", person(f"a-mario-{uid}", birth="1985-03-12", identity=mario))
        ).status_code == 201
        household = {
            "household_id": f"a-h-{uid}",
            "reference_person_id": f"a-mario-{uid}",
            "member_ids": [f"a-mario-{uid}"],
        }
        assert (await post(a, "/households", household)).status_code == 201
        opening = {"case_id": f"a-c-{uid}", "household_id": f"a-h-{uid}", "action_area": "taking_charge",
                   "channel": "desk", "opened_on": "2026-01-10"}  # fmt: skip
        assert (await post(a, "/cases", opening)).status_code == 201
        consent = {"person_id": f"a-mario-{uid}", "purpose": "partner_sharing", "granted": True,
                   "recorded_on": "2026-01-12"}  # fmt: skip
        assert (await post(a, "/consents", consent)).status_code == 201
        assert (await post(a, f"/persons/a-mario-{uid}/notes", {"text": "nota di Aurora"})).status_code == 201
    async with intake.client("coop-borgo") as b:
        on_file = await _a_partners_journey(b, f"on-file-{uid}", taken)
        nobodys = await _a_partners_journey(b, f"nobodys-{uid}", fresh)
    assert on_file == nobodys
    assert [s for s, _ in on_file] == [
        201,
        403,
        201,
        201,
        201,
        403,
        201,
        201,
        200,
        201,
        200,
        201,
        200,
        200,
        200,
        200,
        201,
        201,
        201,
        200,
    ]
    assert on_file[12][1] == "['colloquio']" and '"<id0>"' in on_file[13][1] and '"<id0>"' in on_file[14][1]
    assert "Mario" not in str(on_file) and "a-mario" not in str(on_file) and "7654321" not in str(on_file)
    merges = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.PersonsMerged)]
    # One human all the same: the city's staff and the reports see her once.
    assert [(e.surviving_person_id, e.merged_person_id) for e in merges] == [(f"a-mario-{uid}", f"p-on-file-{uid}")]
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/p-on-file-{uid}")).json()["person_id"] == f"a-mario-{uid}"
    assert "nota di Aurora" not in str(on_file)
    async with intake.client("coop-aurora") as a:  # Aurora's person is untouched by Borgo's work on its own id
        r = await a.get(f"/persons/a-mario-{uid}")
        assert r.json()["identity"]["given_name"] == "Mario" and r.json()["languages"] == ["en", "yo"], r.text
        r = await a.get(f"/persons/a-mario-{uid}/notes")
        assert [n["text"] for n in r.json()] == ["nota di Aurora"], r.text


async def test_a_partner_correcting_a_fiscal_code_cannot_tell_whether_it_is_on_file(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: Aurora corrected its own person's fiscal code to one only Borgo's person has — 409
    "another person of the city has this fiscal code: merge them" — and to one nobody has, 200. A partner's
    correction that finds the person on file is taken as a registration with it would be: one person, merged into
    the record on file, answered as any correction. The city's staff are still told precisely (they merge)."""
    borgos, nobodys = fiscal_code(uid, "85C52"), fiscal_code(uid[::-1], "85C52")
    async with intake.client("coop-borgo") as b:
        luca = {"given_name": "Luca", "family_name": "Bianco", "fiscal_code": borgos}
        assert (
            await post(b, "/persons", person(f"b-luca-{uid}", birth="1985-03-12", identity=luca))
        ).status_code == 201
    answers = []
    async with intake.client("coop-aurora") as a:
        for run, code in (("on-file", borgos), ("nobodys", nobodys)):
            pid = f"a-{run}-{uid}"
            assert (await post(a, "/persons", person(pid, birth="1985-03-12"))).status_code == 201
            r = await a.patch(f"/persons/{pid}", json={"identity": {"fiscal_code": code}})
            answers.append(_same_but_ids(r, pid))
            household = {"household_id": f"h-{run}-{uid}", "reference_person_id": pid, "member_ids": [pid]}
            answers.append(_same_but_ids(await post(a, "/households", household), pid, f"h-{run}-{uid}"))
            answers.append(_same_but_ids(await a.get(f"/persons/{pid}"), pid))
    assert answers[:3] == answers[3:] and answers[0][0] == 200, answers
    merges = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.PersonsMerged)]
    assert [(e.surviving_person_id, e.merged_person_id, e.decided_by) for e in merges] == [
        (f"b-luca-{uid}", f"a-on-file-{uid}", "fiscal_code_match")
    ]
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/a-on-file-{uid}")).json()["person_id"] == f"b-luca-{uid}"
        zara = person(f"s-zara-{uid}", birth="1985-03-12", identity={"given_name": "Zara"})
        assert (await post(staff, "/persons", zara)).status_code == 201
        r = await staff.patch(f"/persons/s-zara-{uid}", json={"identity": {"fiscal_code": borgos}})
        assert (r.status_code, r.json()["field"]) == (409, "identity.fiscal_code") and "merge" in r.json()["reason"]


async def test_consent_is_enforced_for_partners(intake: IntakeUnderTest, uid: str) -> None:
    await household_with_case(intake, uid)
    async with intake.client("coop-aurora") as c:
        r = await c.get(f"/persons/p-amina-{uid}")
        assert r.status_code == 403 and "consented" in r.json()["reason"]
        body = {
            "person_id": f"p-amina-{uid}",
            "purpose": "partner_sharing",
            "granted": True,
            "recorded_on": "2026-01-15",
        }
        assert (await post(c, "/consents", body)).status_code == 201
        assert (await c.get(f"/persons/p-amina-{uid}")).json()["identity"]["given_name"] == "Amina"
    async with intake.client("coop-borgo") as other:  # consent is for partners serving the person, not all
        r = await other.get(f"/persons/p-amina-{uid}")  # as a person that exists nowhere
        assert r.status_code == 404 and r.json()["reason"] == f"no person p-amina-{uid}", r.text


async def test_a_partner_corrects_a_person_the_city_registered_only_with_her_consent_to_sharing(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From the DPO's review: the cooperative following a person the city's staff registered, without her consent to
    sharing with partners, was refused her record, her notes and documents (403 "has not consented"), yet overwrote
    her name and phone (200), blind to what it replaced. Now refused the same way until she consents; a partner
    correcting a person it registered itself (data it sent) still may (its own registration, docs/partners.md)."""
    pid, hh = f"p-city-{uid}", f"h-city-{uid}"
    opening = {"case_id": f"c-city-{uid}", "household_id": hh, "action_area": "taking_charge", "channel": "desk",
               "opened_on": "2026-02-01", "partner": "coop-aurora"}  # fmt: skip
    async with intake.client("staff-torino") as staff:
        assert (await post(staff, "/persons", person(pid, identity={"given_name": "Aisha"}))).status_code == 201
        household = {"household_id": hh, "reference_person_id": pid, "member_ids": [pid]}
        assert (await post(staff, "/households", household)).status_code == 201
        assert (await post(staff, "/cases", opening)).status_code == 201
    correction = {"identity": {"given_name": "Changed", "phone": "3330001111"}}
    async with intake.client("coop-aurora") as c:
        r = await c.patch(f"/persons/{pid}", json=correction)
        assert (r.status_code, r.json()["field"]) == (403, "person_id"), r.text
        assert r.json()["reason"] == "the person has not consented to sharing data with partners", r.text
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/{pid}")).json()["identity"]["given_name"] == "Aisha"
    consent = {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": "2026-02-01"}
    async with intake.client("coop-aurora") as c:
        assert (await post(c, "/consents", consent)).status_code == 201
        assert (await c.patch(f"/persons/{pid}", json=correction)).status_code == 200
        assert (await c.get(f"/persons/{pid}")).json()["identity"]["given_name"] == "Changed"


async def test_a_person_a_partner_registered_is_known_to_it_before_her_case(intake: IntakeUnderTest, uid: str) -> None:
    """docs/partners.md: registering a person is not enough to read her data — before its case and the consent, 403
    `person_id` — and what a partner knows exists (a person it registered) keeps its precise 403. A partner was told
    404 "no person …" of the person it had just registered (201). Another partner, which neither registered nor
    serves her, is still told 404, as for an id that exists nowhere."""
    pid, hh = f"p-new-{uid}", f"h-new-{uid}"
    async with intake.client("coop-aurora") as c:
        assert (await post(c, "/persons", person(pid))).status_code == 201
        r = await c.get(f"/persons/{pid}")
        assert (r.status_code, r.json()["field"]) == (403, "person_id"), r.text
        assert "no case of yours" in r.json()["reason"], r.text
        household = {"household_id": hh, "reference_person_id": pid, "member_ids": [pid]}
        assert (await post(c, "/households", household)).status_code == 201
    async with intake.client("coop-borgo") as other:
        r = await other.get(f"/persons/{pid}")
        assert r.status_code == 404 and r.json()["reason"] == f"no person {pid}", r.text
    opening = {"case_id": f"c-new-{uid}", "household_id": hh, "action_area": "taking_charge", "channel": "desk",
               "opened_on": "2026-02-01", "partner": "coop-borgo"}  # fmt: skip
    async with intake.client("staff-torino") as staff:
        assert (await post(staff, "/cases", opening)).status_code == 201
    async with intake.client("coop-aurora") as c:  # the city assigned her case to another partner
        r = await c.get(f"/persons/{pid}")
        assert (r.status_code, r.json()["field"]) == (403, "person_id"), r.text
        assert r.json()["reason"] == "the person's case is assigned to another partner", r.text
    async with intake.client("coop-borgo") as serving:  # hers now, without the consent to share
        r = await serving.get(f"/persons/{pid}")
        assert r.status_code == 403 and "consented" in r.json()["reason"], r.text


async def test_transfer_needs_consent_and_moves_the_case(intake: IntakeUnderTest, uid: str) -> None:
    await household_with_case(intake, uid)
    async with intake.client("staff-torino") as staff:
        r = await post(staff, f"/cases/c-1-{uid}/transfer", {"to_partner": "coop-borgo", "on": "2026-02-01"})
        assert r.status_code == 403 and "consented" in r.json()["reason"]
        consent = {
            "person_id": f"p-amina-{uid}",
            "purpose": "partner_sharing",
            "granted": True,
            "recorded_on": "2026-01-20",
        }
        assert (await post(staff, "/consents", consent)).status_code == 201
        # Another city's partner is answered as an unknown one (it said "partner coop-carso works in trieste, …").
        elsewhere, nowhere = ({"to_partner": p, "on": "2026-02-01"} for p in ("coop-carso", f"coop-nobody-{uid}"))
        r = await post(staff, f"/cases/c-1-{uid}/transfer", elsewhere)
        nobody = await post(staff, f"/cases/c-1-{uid}/transfer", nowhere)
        assert (r.status_code, r.json()["field"]) == (nobody.status_code, "to_partner") == (404, "to_partner"), r.text
        assert r.json()["reason"] == nobody.json()["reason"].replace(f"coop-nobody-{uid}", "coop-carso"), r.text
        # From an outside test: a transfer dated 2099 was recorded (every other step refuses the future), and so was
        # a transfer back dated before the one it undoes.
        future = str(clock.today() + timedelta(days=30))
        r = await post(staff, f"/cases/c-1-{uid}/transfer", {"to_partner": "coop-borgo", "on": future})
        assert (r.status_code, r.json()["field"]) == (422, "on") and "future" in r.json()["reason"], r.text
        r = await post(staff, f"/cases/c-1-{uid}/transfer", {"to_partner": "coop-borgo", "on": "2026-02-01"})
        assert r.status_code == 201, r.text
        r = await post(staff, f"/cases/c-1-{uid}/transfer", {"to_partner": "coop-aurora", "on": "2026-01-25"})
        assert (r.status_code, r.json()["field"]) == (422, "on") and "2026-02-01" in r.json()["reason"], r.text
    async with intake.client("coop-aurora") as former:  # no longer its case: as one that exists nowhere
        assert (await former.get(f"/cases/c-1-{uid}")).status_code == 404


async def test_an_offboarded_partner_is_assigned_nothing(intake: IntakeUnderTest, uid: str) -> None:
    """After `lgnet-partner-admin offboard`, the partner was still listed by `GET /partners` and a case was transferred
    to it (201): the household's data handed to a partner without credentials, the case left with nobody who can act
    on it. An offboarded partner is not listed, and neither receives a case by transfer (422 `to_partner`) nor is
    assigned one at its opening (422 `partner`); onboarded again, it is assignable again."""
    rival = f"coop-rival-{uid}"
    async with intake.pool.acquire() as conn:
        await credentials.add_actor(conn, rival, Role.PARTNER, "torino", f"Cooperativa Rivale {tag(uid)}")
        await credentials.issue_token(conn, rival)
    ids = await household_with_case(intake, uid)
    consent = {"person_id": ids["person"], "purpose": "partner_sharing", "granted": True, "recorded_on": "2026-01-20"}
    async with intake.client("staff-torino") as staff:
        assert rival in [p["partner_id"] for p in (await staff.get("/partners")).json()]
        assert (await post(staff, "/consents", consent)).status_code == 201
    env = {**intake.env, "LGNET_INTAKE_DB_SCHEMA": intake.env["LGNET_DB_SCHEMA"]}
    offboard = ["offboard", rival, "--services", "intake", "--deployment", "national"]  # the test's intake serves all
    assert await asyncio.to_thread(partner_admin.main, offboard, env) == 0
    transfer = {"to_partner": rival, "on": "2026-02-01"}
    opening = {"case_id": f"c-2-{uid}", "household_id": ids["household"], "action_area": "taking_charge",
               "channel": "desk", "opened_on": "2026-02-01", "partner": rival}  # fmt: skip
    async with intake.client("staff-torino") as staff:
        assert rival not in [p["partner_id"] for p in (await staff.get("/partners")).json()]
        for path, body, field in (
            (f"/cases/{ids['case']}/transfer", transfer, "to_partner"),
            ("/cases", opening, "partner"),
        ):
            r = await post(staff, path, body)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text
            assert "offboarded" in r.json()["reason"], r.text
        assert (await staff.get(f"/cases/{ids['case']}")).json()["partner"] == "coop-aurora"
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from cases where case_id = $1", f"c-2-{uid}") == 0
        await credentials.issue_token(conn, rival)  # onboarded again
    async with intake.client("staff-torino") as staff:
        assert (await post(staff, f"/cases/{ids['case']}/transfer", transfer)).status_code == 201
    moved = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.CaseTransferred)]
    assert [e.to_partner for e in moved] == [rival]


async def test_erasure_makes_identity_unreadable_and_keeps_the_events(intake: IntakeUnderTest, uid: str) -> None:
    await household_with_case(intake, uid)
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/p-amina-{uid}")).json()["identity"]["family_name"] == surname("Okonkwo", uid)
        r = await staff.post(f"/persons/p-amina-{uid}/erasure")
        assert r.status_code == 200, r.text
        after = (await staff.get(f"/persons/p-amina-{uid}")).json()
        assert after["erased"] is True and after["identity"] == {}
        again = await staff.post(f"/persons/p-amina-{uid}/erasure")  # a retry after a crash: the success it was
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true", again.text
        assert again.json() == r.json()
        keyed = {"Idempotency-Key": f"erase-amina-{uid}"}  # with a key: the answer it had, replayed
        assert (await staff.post(f"/persons/p-kid-{uid}/erasure", headers=keyed)).status_code == 200
        again = await staff.post(f"/persons/p-kid-{uid}/erasure", headers=keyed)
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true", again.text
    async with intake.client("coop-aurora") as c:
        r = await c.patch(f"/persons/p-amina-{uid}", json={"identity": {"phone": "+39 000 0000"}})
        assert r.status_code == 409 and "erased" in r.json()["reason"]
    events = await intake.events()
    registered = next(e for e in events if isinstance(e, ev.PersonRegistered) and e.person_id == f"p-amina-{uid}")
    assert any(isinstance(e, ev.PersonErased) and e.person_id == f"p-amina-{uid}" for e in events)
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select wrapped from person_keys where kid = $1", f"p-amina-{uid}") is None
    # The event still replays (counts stay) but its identity cannot be opened any more.
    assert registered.identity.given_name is not None and registered.identity.birth_date is not None
    # The birth date travels sealed with the person's key: gone with it. What counts stays: an adult.
    assert registered.birth_date is None and registered.minor is False
    async with intake.pool.acquire() as conn:
        keys = pii.KeyStore(b"\0" * 32)  # the key is destroyed: no master key could open it
        assert await keys.open(conn, registered.identity.birth_date, "birth_date") is None


# Special-category data (vulnerabilities, health-related needs) is need-to-know: the needs assessment travels on the
# restricted topic `intake.special`, never in plain text on `intake.events` (read by payments, partners' tools, ...).


def test_the_registry_names_who_reads_special_category_data() -> None:
    special = TOPICS["intake.special"]
    assert special.fact and special.writers == {"intake"}
    # Not payments, partners, the national level. The notary reads it to hash its records into the checkpoints (it
    # never decodes them); before it had a principal of its own it read it as the national reporting deployment.
    assert special.readers == {"housing", "reporting", "auditor", "notary"}
    assert {"payments", "national"} <= TOPICS["intake.events"].readers
    assert TOPICS["partner.inbound.{city}"].readers == {"intake"}
    assert ev.NeedsAssessed.topic == "intake.special"


async def test_needs_assessment_travels_only_on_the_restricted_topic(intake: IntakeUnderTest, uid: str) -> None:
    await household_with_case(intake, uid)
    async with intake.client("coop-aurora") as c:
        r = await c.post(
            "/cases/assessments",
            json={
                "case_id": f"c-1-{uid}",
                "vulnerabilities_by_person": {f"p-amina-{uid}": ["psychiatric_condition", "addiction"]},
                "housing_situation": "homeless",
                "monthly_income_cents": 0,
                "employment_status": "unemployed",
                "specialist_support": True,
                "assessed_on": "2026-01-20",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text
    special = await intake.events("intake.special")
    assessed = [e for e in mine(special, uid) if isinstance(e, ev.NeedsAssessed)]
    assert len(assessed) == 1 and assessed[0].vulnerabilities == ["addiction", "psychiatric_condition"]
    public = await intake.raw_records("intake.events")
    assert public, "the other facts are still on intake.events"
    for record in public:
        assert b"needs_assessed" not in record.value and b"psychiatric" not in record.value


ASSESSMENT = {
    "housing_situation": "homeless",
    "monthly_income_cents": 0,
    "employment_status": "unemployed",
    "assessed_on": "2026-01-20",
}


async def test_vulnerabilities_belong_to_persons(intake: IntakeUnderTest, uid: str) -> None:
    """An assessment says whose each vulnerability is: the child is not `psychiatric_condition` because the
    mother is. A household-level list is refused for a household of more than one person."""
    await household_with_case(intake, uid)
    assessment = {**ASSESSMENT, "case_id": f"c-1-{uid}"}
    async with intake.client("coop-aurora") as c:
        ok = await post(c, "/cases/assessments", {**assessment, "vulnerabilities_by_person": {
            f"p-amina-{uid}": ["psychiatric_condition", "single_parent"], f"p-kid-{uid}": []}})  # fmt: skip
        assert ok.status_code == 201, ok.text
        household_level = await post(c, "/cases/assessments", {**assessment, "vulnerabilities": ["addiction"]})
        assert household_level.status_code == 422 and household_level.json()["field"] == "vulnerabilities"
        assert "vulnerabilities_by_person" in household_level.json()["reason"]
        stranger = await post(c, "/cases/assessments", {**assessment, "vulnerabilities_by_person": {
            f"p-nobody-{uid}": ["elderly"]}})  # fmt: skip
        assert stranger.status_code == 422 and stranger.json()["field"] == f"vulnerabilities_by_person.p-nobody-{uid}"
    [assessed] = [e for e in mine(await intake.events("intake.special"), uid) if isinstance(e, ev.NeedsAssessed)]
    assert assessed.vulnerabilities_by_person == {f"p-amina-{uid}": ["psychiatric_condition", "single_parent"]}
    assert assessed.vulnerabilities == ["psychiatric_condition", "single_parent"]  # the household's, for housing


async def test_an_unknown_vulnerability_code_is_refused_with_the_valid_ones(intake: IntakeUnderTest, uid: str) -> None:
    await household_with_case(intake, uid)
    assessment = {**ASSESSMENT, "case_id": f"c-1-{uid}"}
    async with intake.client("coop-aurora") as c:
        r = await post(c, "/cases/assessments", {**assessment, "vulnerabilities_by_person": {
            f"p-amina-{uid}": ["anything_goes_xyz"]}})  # fmt: skip
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["field"] == f"vulnerabilities_by_person.p-amina-{uid}.0", problem
    assert "anything_goes_xyz" in problem["reason"] and "psychiatric_condition" in problem["reason"]
    special = await intake.raw_records("intake.special", missing_ok=True)
    assert [r for r in special if r.key == f"c-1-{uid}".encode()] == []  # keyed by case (another test's may be there)


async def test_registrations_carry_the_cross_city_key_never_the_fiscal_code(intake: IntakeUnderTest, uid: str) -> None:
    """The national key is a keyed hash of the fiscal code under the national pseudonym key: the same in every
    city (unlike the city's own fiscal_code_hash), and nothing of the fiscal code in clear."""
    import base64

    national_key = base64.b64decode(intake.process.env["LGNET_NATIONAL_PSEUDONYM_KEY"])
    kid_code = fiscal_code(uid, "15C02")
    await household_with_case(intake, uid)
    registered = {e.person_id: e for e in await intake.events(want=2) if isinstance(e, ev.PersonRegistered)}
    her = registered[f"p-amina-{uid}"]
    assert her.national_key == pii.keyed_hash(national_key, amina(uid)["fiscal_code"])
    assert her.national_key != her.fiscal_code_hash
    assert registered[f"p-kid-{uid}"].national_key is None  # no fiscal code, no cross-city key
    for record in await intake.raw_records("intake.events"):
        assert amina(uid)["fiscal_code"].encode() not in record.value
    # A fiscal code given after the registration (a migrant's often comes later) brings the cross-city key with it:
    # without it, the national level counted the person once per city (person_updated carried no key)
    async with intake.client("coop-aurora") as c:
        r = await c.patch(f"/persons/p-kid-{uid}", json={"identity": {"fiscal_code": kid_code}})
        assert r.status_code == 200, r.text
    [updated] = [e for e in await intake.events() if isinstance(e, ev.PersonUpdated) and e.person_id == f"p-kid-{uid}"]
    assert updated.national_key == pii.keyed_hash(national_key, kid_code)


async def test_a_plan_objective_outside_the_vocabulary_is_refused_with_the_valid_ones(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: `bogus` was stored as a plan objective and shown raw. Objectives are codes of the
    `plan_objective` list (lgnet_shared.vocabulary), the one reporting labels them from."""
    ids = await household_with_case(intake, uid)
    plan = {"case_id": ids["case"], "plan_id": f"plan-1-{uid}", "agreed_on": "2026-02-01"}
    async with intake.client("coop-aurora") as c:
        r = await post(c, "/cases/plans", {**plan, "objectives": ["housing", "bogus"]})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        problem = r.json()
        assert problem["field"] == "objectives.1", problem
        assert "'bogus'" in problem["reason"] and "housing_autonomy" in problem["reason"], problem
        assert (await post(c, "/cases/plans", {**plan, "objectives": ["housing", "employment"]})).status_code == 201
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from plans where case_id = $1", ids["case"]) == 1


async def test_a_plan_objectives_progress_is_a_step_of_the_open_case_dated_after_its_plan(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From the races' review: an objective's progress was taken on a closed case, dated in 2099 or before its plan
    was agreed (every other step of a case is refused so: closed, in the future, before it could happen)."""
    ids = await household_with_case(intake, uid)
    plan = {"case_id": ids["case"], "plan_id": f"plan-1-{uid}", "agreed_on": "2026-02-01", "objectives": ["housing"]}
    update = {"case_id": ids["case"], "plan_id": f"plan-1-{uid}", "objective": "housing", "status": "in_progress"}
    async with intake.client("coop-aurora") as c:
        assert (await post(c, "/cases/plans", plan)).status_code == 201
        for on, reason in (("2099-01-01", "is in the future"), ("2026-01-20", "is before the plan was agreed")):
            r = await post(c, "/cases/plans/objectives", {**update, "on": on})
            assert (r.status_code, r.json()["field"], r.json()["reason"]) == (422, "on", reason), r.text
        assert (await post(c, "/cases/plans/objectives", {**update, "on": "2026-02-10"})).status_code == 201
        closing = {"case_id": ids["case"], "outcome": "other", "closed_on": "2026-03-01"}
        assert (await post(c, "/cases/closures", closing)).status_code == 201
        r = await post(c, "/cases/plans/objectives", {**update, "status": "achieved", "on": "2026-03-05"})
        assert (r.status_code, r.json()["field"]) == (409, "case_id"), r.text
        assert r.json()["reason"] == "the case was closed on 2026-03-01"
    async with intake.pool.acquire() as conn:
        kept = await conn.fetchval("select objectives from plans where plan_id = $1", f"plan-1-{uid}")
    assert (json.loads(kept) if isinstance(kept, str) else kept) == {"housing": "in_progress"}


CLOSED_ON = "2026-03-01"
CLOSED = f"the case was closed on {CLOSED_ON}"


def on_a_closed_case(ids: dict[str, str], uid: str) -> list[tuple[str, dict[str, Any]]]:
    """Every command naming a case, each naming `ids`'s case once it is closed (docs/partners.md, "A closed case")."""
    case, pid = ids["case"], ids["person"]
    return [
        ("/employment", {"person_id": pid, "case_id": case, "status": "employed_fixed_term", "as_of": "2026-03-05"}),
        (
            "/cases/assessments",
            {
                "case_id": case,
                "vulnerabilities_by_person": {},
                "housing_situation": "reception_project",
                "monthly_income_cents": 0,
                "employment_status": "unemployed",
                "assessed_on": "2026-03-05",
            },
        ),
        (
            "/cases/plans",
            {"case_id": case, "plan_id": f"plan-2-{uid}", "objectives": ["housing"], "agreed_on": "2026-03-05"},
        ),
        (
            "/cases/plans/objectives",
            {
                "case_id": case,
                "plan_id": f"plan-1-{uid}",
                "objective": "housing",
                "status": "achieved",
                "on": "2026-03-05",
            },
        ),
        (f"/cases/{case}/transfer", {"to_partner": "coop-borgo", "on": "2026-03-05"}),
        ("/cases/closures", {"case_id": case, "outcome": "housing_autonomy", "closed_on": "2026-03-05"}),
        (f"/referrals/r-1-{uid}/outcome", {"outcome": "taken_in_charge", "case_id": case}),
    ]


async def test_a_closed_case_takes_nothing_that_changes_it(intake: IntakeUnderTest, uid: str) -> None:
    """Employment was recorded against a closed case (and a referral's outcome named it): reporting counts employment
    at intake vs at close, so a status attached to the case after it closed changed what its close said. A closed
    case takes nothing naming it, each refused 409 `case_id` "the case was closed on <date>"; the person's own
    employment (no `case_id`) is recorded as before."""
    ids = await household_with_case(intake, uid)
    plan = {"case_id": ids["case"], "plan_id": f"plan-1-{uid}", "agreed_on": "2026-02-01", "objectives": ["housing"]}
    referral = {"referral_id": f"r-1-{uid}", "household_id": ids["household"], "source": "territory",
                "received_on": "2026-02-01"}  # fmt: skip
    async with intake.client("coop-aurora") as c:
        for path, body in (
            ("/cases/plans", plan),
            ("/referrals", referral),
            ("/cases/closures", {"case_id": ids["case"], "outcome": "other", "closed_on": CLOSED_ON}),
        ):
            assert (await post(c, path, body)).status_code == 201, (path, body)
        for path, body in on_a_closed_case(ids, uid):
            r = await post(c, path, body)
            assert (r.status_code, r.headers["content-type"]) == (409, "application/problem+json"), (path, r.text)
            assert (r.json()["field"], r.json()["reason"]) == ("case_id", CLOSED), (path, r.json())
        alone = {"person_id": ids["person"], "status": "employed_fixed_term", "as_of": "2026-03-05"}
        assert (await post(c, "/employment", alone)).status_code == 201
    async with intake.pool.acquire() as conn:
        kept = await conn.fetch("select case_id from employment where person_id = $1", ids["person"])
        assert [r["case_id"] for r in kept] == [None]
        assert await conn.fetchval("select case_id from referrals where referral_id = $1", f"r-1-{uid}") is None


async def test_an_employment_status_names_a_case_of_the_persons_own_household(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A status naming a case took any case the partner could write: one of another household (her neighbour's, the
    same partner's) was stored and published as her employment in that case. A case of a household she never
    belonged to is refused 422 `case_id`; her own household's case takes it."""
    hers, theirs = await household_with_case(intake, uid), await household_with_case(intake, uid[::-1])
    status = {"person_id": hers["person"], "status": "employed_permanent", "as_of": "2026-03-05"}
    async with intake.client("coop-aurora") as c:
        r = await post(c, "/employment", {**status, "case_id": theirs["case"]})
        assert (r.status_code, r.json().get("field")) == (422, "case_id"), r.text
        assert "household" in r.json()["reason"], r.text
        assert (await post(c, "/employment", {**status, "case_id": hers["case"]})).status_code == 201
    async with intake.pool.acquire() as conn:
        kept = await conn.fetch("select case_id from employment where person_id = $1", hers["person"])
    assert [r["case_id"] for r in kept] == [hers["case"]]


async def test_the_citys_partners_are_listed_by_name(intake: IntakeUnderTest, uid: str) -> None:
    """The desk asked a social worker to type a partner's id ("coop-aurora") and showed ids where a name belongs."""
    async with intake.pool.acquire() as conn:
        await credentials.add_actor(conn, f"coop-named-{uid}", Role.PARTNER, "torino", "Cooperativa Sociale Aurora Due")
    async with intake.client("staff-torino") as staff:
        listed = (await staff.get("/partners")).json()
    assert {"partner_id": f"coop-named-{uid}", "name": "Cooperativa Sociale Aurora Due"} in listed
    ids = [p["partner_id"] for p in listed]
    assert "coop-aurora" in ids and "coop-carso" not in ids and "staff-torino" not in ids  # Torino's partners only
    assert ids == sorted(ids, key=lambda i: next(p["name"].lower() for p in listed if p["partner_id"] == i))
    async with intake.client("coop-carso") as trieste_partner:
        r = await trieste_partner.get("/partners", params={"city": "torino"})
        assert r.status_code == 403 and r.json()["field"] == "query.city", r.text
    async with intake.client("coordination") as national:
        assert f"coop-named-{uid}" in [
            p["partner_id"] for p in (await national.get("/partners", params={"city": "torino"})).json()
        ]
        r = await national.get("/partners")
        assert r.status_code == 422 and r.json()["field"] == "query.city", r.text  # the national role names a city


async def test_a_birth_date_corrected_after_a_merge_reaches_the_cases_of_the_merged_record(
    intake: IntakeUnderTest,
    uid: str,
) -> None:
    """From an outside test: a man registered by a cooperative with a wrong birth date (a child's) was in a household
    whose case opened with him counted a minor; the city's staff merged that record into their own record of him and
    corrected his birth date, but `person_updated` said his age only at the cases of his own record's households (none):
    the case kept him a minor, and the city's report counted a child too many."""
    await household_with_case(intake, uid)
    async with intake.client("staff-torino") as staff:
        man = person(
            f"s-man-{uid}",
            birth="1985-03-02",
            sex="male",
            identity={"given_name": "Idris", "family_name": surname("Bello", uid)},
        )
        assert (await post(staff, "/persons", man)).status_code == 201
        assert (
            await post(staff, f"/persons/s-man-{uid}/merge", {"merged_person_id": f"p-kid-{uid}"})
        ).status_code == 201
        r = await staff.patch(f"/persons/s-man-{uid}", json={"birth_date": "1986-03-02"})
        assert r.status_code == 200, r.text
    [updated] = [e for e in await intake.events() if isinstance(e, ev.PersonUpdated) and e.person_id == f"s-man-{uid}"]
    assert updated.minor_in_cases == {f"c-1-{uid}": False}, updated


async def test_a_rectified_name_or_birth_date_is_the_one_duplicates_are_found_by(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A DPO's review (GDPR art. 16, rectification): a person registered as "Amina Okonko", her surname then corrected
    to "Okonkwo", was still matched by the wrong name and birth date kept in `name_key_hash` — a new registration under
    the wrong name was flagged as her, one under her right name was not. A correction of the name or the birth date
    (or a name given later) renews the key, an identity left without a whole name clears it."""
    async with intake.client("staff-torino") as staff:
        wrong = person(f"s-ok-{uid}", identity={"given_name": "Amina", "family_name": surname("Okonko", uid)})
        assert (await post(staff, "/persons", wrong)).status_code == 201
        r = await staff.patch(f"/persons/s-ok-{uid}", json={"identity": {"family_name": surname("Okonkwo", uid)}})
        assert r.status_code == 200, r.text
        right = person(f"s-dup-{uid}", identity={"given_name": "Amina", "family_name": surname("Okonkwo", uid)})
        assert (await post(staff, "/persons", right)).json()["possible_duplicates"] == [f"s-ok-{uid}"]
        old = person(f"s-old-{uid}", identity={"given_name": "Amina", "family_name": surname("Okonko", uid)})
        assert (await post(staff, "/persons", old)).json()["possible_duplicates"] == []
        r = await staff.patch(f"/persons/s-ok-{uid}", json={"birth_date": "1991-05-01"})
        assert r.status_code == 200, r.text
        born = person(
            f"s-born-{uid}",
            birth="1991-05-01",
            identity={"given_name": "Amina", "family_name": surname("Okonkwo", uid)},
        )
        assert (await post(staff, "/persons", born)).json()["possible_duplicates"] == [f"s-ok-{uid}"]


async def test_a_date_of_no_calendar_day_is_refused_with_the_documented_reason(intake: IntakeUnderTest) -> None:
    """From an outside test: `opened_on: "2026-31-12"` was answered "month must be in 1..12", `recorded_on:
    "2026-02-30"` "day is out of range for month" — Python's words, not the documented one."""
    case = {"case_id": "c-no-day", "household_id": "h-no-day", "action_area": "taking_charge", "channel": "desk"}
    consent = {"person_id": "p-no-day", "purpose": "partner_sharing", "granted": True}
    async with intake.client("staff-torino") as staff:
        for path, body in (
            ("/cases", {**case, "opened_on": "2026-31-12"}),
            ("/consents", {**consent, "recorded_on": "2026-02-30"}),
        ):
            r = await post(staff, path, body)
            field = "opened_on" if path == "/cases" else "recorded_on"
            assert r.status_code == 422 and {"field": field, "reason": DATE_REASON} in r.json()["errors"], r.text


async def test_a_code_no_list_has_is_refused_with_the_valid_ones_at_every_coded_field(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From an outside test: `bogus` was stored as why a member joined, why the reference person changed and as a
    referral's outcome, and shown raw at the desk and on reports. Each is a code of its vocabulary list; why a
    member joins and why one leaves are two lists, by `change`. Refused 422 naming the field and every valid code;
    nothing stored."""
    ids = await household_with_case(intake, uid)
    member = {"household_id": ids["household"], "person_id": f"p-new-{uid}", "change": "joined", "on": "2026-05-01"}
    reference = {"household_id": ids["household"], "person_id": f"p-kid-{uid}", "on": "2026-05-01"}
    referral = {"referral_id": f"r-1-{uid}", "household_id": ids["household"], "source": "territory",
                "received_on": "2026-02-01"}  # fmt: skip
    async with intake.client("coop-aurora") as c:
        assert (await post(c, "/persons", person(f"p-new-{uid}", birth="2026-05-01", sex="male"))).status_code == 201
        assert (await post(c, "/referrals", referral)).status_code == 201
        for path, body, listed in (
            ("/households/members", {**member, "reason": "bogus"}, "member_joined_reason"),
            ("/households/members", {**member, "reason": "moved"}, "member_joined_reason"),  # why one leaves
            ("/households/reference-person", {**reference, "reason": "bogus"}, "reference_person_change_reason"),
            (f"/referrals/r-1-{uid}/outcome", {"outcome": "bogus"}, "referral_outcome"),
        ):
            r = await post(c, path, body)
            assert (r.status_code, r.headers["content-type"]) == (422, "application/problem+json"), (path, r.text)
            problem = r.json()
            field = "outcome" if "outcome" in body else "reason"
            assert problem["field"] == field, (path, problem)
            assert f"unknown {listed} code" in problem["reason"], (path, problem)
            assert all(code in problem["reason"] for code in vocabulary.codes(listed)), (path, problem)
        async with intake.pool.acquire() as conn:
            assert (
                await conn.fetchval("select count(*) from household_members where person_id = $1", f"p-new-{uid}") == 0
            )
        assert (await post(c, "/households/members", {**member, "reason": "birth"})).status_code == 201
        assert (await post(c, f"/referrals/r-1-{uid}/outcome", {"outcome": "redirected"})).status_code == 201


# A person's phone or address removed (`PATCH /persons/{id}`, `clear`): a wrong phone could be replaced, never
# taken away (an outside test at the desk: the phone emptied, "registered", and still there). Against real Kafka and
# PostgreSQL.
# (Here, beside the helpers it uses: a module of its own imported `test_http_api` by name, and payments' module
# of that name, imported first in the same worker, answered.)


async def test_a_phone_or_an_address_is_removed_by_naming_it(intake: IntakeUnderTest, uid: str) -> None:
    """`clear` names the identity fields to take away (`identity.phone`, `identity.address`): the person reads
    without them, the rest kept; the fact says the person was updated and nothing of the removed value, in clear or
    sealed. A field that cannot be removed, or one given and removed at once, is refused naming it; a field not on
    file removed is nothing to update."""
    ids = await household_with_case(intake, uid)
    path = f"/persons/{ids['person']}"
    async with intake.client("staff-torino") as c:
        r = await c.patch(path, json={"clear": ["identity.phone"]})
        assert r.status_code == 200, r.text
        identity = (await c.get(path)).json()["identity"]
        assert "phone" not in identity and identity["address"] == "Via Roma 1, Torino", identity
        for body, field in (
            ({"clear": ["identity.given_name"]}, "clear.0"),
            ({"clear": ["identity.address"], "identity": {"address": "Via Po 2"}}, "clear"),
        ):
            r = await c.patch(path, json=body)
            assert (r.status_code, r.json()["field"]) == (422, field), r.text
        r = await c.patch(path, json={"clear": ["identity.phone"]})  # no phone on file any more
        assert r.status_code == 422 and r.json()["reason"] == "nothing to update", r.text
        r = await c.patch(path, json={"clear": ["identity.address"], "literate": False})
        assert r.status_code == 200, r.text
        after = (await c.get(path)).json()
        assert "address" not in after["identity"] and after["literate"] is False, after
        assert after["identity"]["given_name"] == "Amina", after
    updates = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.PersonUpdated)]
    assert [e.person_id for e in updates] == [ids["person"]] * 2, updates
    assert all(e.identity is None for e in updates), updates  # nothing of a removed value travels
    assert "333 1234567" not in "".join(e.model_dump_json() for e in updates)


async def test_a_fiscal_code_entered_by_mistake_is_removed_and_literacy_set_back_to_not_recorded(
    intake: IntakeUnderTest, uid: str
) -> None:
    """From the desk: a fiscal code typed for a person who has none could only be replaced, never removed, and
    literacy once recorded could not go back to "not recorded". `clear` takes `identity.fiscal_code` (the person no
    longer matches on it: not found by it, a registration with it is another person) and `literate` (null). Her name
    and surname stay required: naming them is refused saying so."""
    ids = await household_with_case(intake, uid)
    path, code = f"/persons/{ids['person']}", amina(uid)["fiscal_code"]
    async with intake.client("coop-aurora") as c, intake.client("staff-torino") as staff:
        r = await c.patch(path, json={"literate": True})
        assert r.status_code == 200, r.text
        r = await c.patch(path, json={"clear": ["identity.fiscal_code", "literate"]})
        assert r.status_code == 200, r.text
        after = (await staff.get(path)).json()
        assert "fiscal_code" not in after["identity"] and after["literate"] is None, after
        assert after["identity"]["given_name"] == "Amina" and after["identity"]["phone"], after
        for name in ("given_name", "family_name"):
            r = await c.patch(path, json={"clear": ["literate", f"identity.{name}"]})
            assert (r.status_code, r.json()["field"]) == (422, "clear.1"), r.text
            assert "name and surname" in r.json()["reason"], r.text
    async with intake.client("staff-torino") as staff:
        found = await staff.get("/persons", params={"fiscal_code": code})
        assert found.status_code == 200 and ids["person"] not in found.text, found.text
        r = await post(staff, "/persons", person(f"p-code-{uid}", identity={"given_name": "Bisi",
                                                                            "family_name": "Adeyemi",
                                                                            "fiscal_code": code}))  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["same_as"] is None and r.json()["possible_duplicates"] == [], r.text
        assert (await staff.get(f"/persons/p-code-{uid}")).json()["identity"]["fiscal_code"] == code
    updates = [e for e in mine(await intake.events(), uid) if isinstance(e, ev.PersonUpdated)]
    assert code not in "".join(e.model_dump_json() for e in updates)
