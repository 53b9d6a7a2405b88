"""Two people acting on the same household or case at the same moment, over HTTP, on the in-process app and real
PostgreSQL: whichever of them the database lets in first, no record is doubled or lost, and the loser gets a 409
problem+json naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared import clock
from lgnet_shared.testing.inprocess import InProcessService, fixtures_per_module

# One in-process intake (and schema) for the module: every id a test makes is a fresh uuid, and each assertion
# looks at the rows and facts of its own ids.
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
A, STAFF = "coop-aurora", "staff-torino"
ROUNDS = 8


# The module's intake, in process (`shared_service`), or a test's own (`own_service`).
intake, intake_own, intake_shared, intake_view = fixtures_per_module("intake", SPEC)


def _id() -> str:
    return str(uuid.uuid4())


async def call(service: InProcessService, actor: str, path: str, body: dict[str, Any]) -> httpx.Response:
    async with service.client(actor) as c:
        return await c.post(path, json=body, headers={"Idempotency-Key": _id()})


async def ok(service: InProcessService, actor: str, path: str, body: dict[str, Any]) -> Any:
    r = await call(service, actor, path, body)
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json()


def _family(uid: str) -> str:
    """The family name of a test's persons: the same within the test (born the same day, each flagged as a possible
    duplicate of those before her, as before), another test's persons are not flagged against them."""
    return f"Test-{uid}"


async def _household(service: InProcessService, uid: str) -> str:
    people = [_id(), _id()]
    for pid in people:
        person = {"person_id": pid, "birth_date": "1988-02-03", "sex": "female", "nationality": "NG",
                  "identity": {"given_name": "Amina", "family_name": _family(uid)}}  # fmt: skip
        await ok(service, A, "/persons", person)
        consent = {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": str(clock.today())}
        await ok(service, A, "/consents", consent)
    hid = _id()
    await ok(service, A, "/households", {"household_id": hid, "reference_person_id": people[0], "member_ids": people})
    return hid


def _opening(case_id: str, household_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "household_id": household_id, "action_area": "taking_charge", "channel": "desk",
            "opened_on": str(clock.today()), "housing_need": True, "partner": A}  # fmt: skip


async def _case(service: InProcessService, uid: str) -> str:
    cid = _id()
    await ok(service, STAFF, "/cases", _opening(cid, await _household(service, uid)))
    return cid


async def _facts(service: InProcessService, type_: str, subject: str) -> int:
    async with service.pool.acquire() as conn:
        facts = [json.loads(r["value"]) for r in await conn.fetch("select value from outbox")]
    return sum(1 for f in facts if f["type"] == type_ and subject in json.dumps(f["data"]))


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["field"] == field, r.text


async def test_two_cases_in_one_area_opened_at_once_one_is_refused(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        hid = await _household(intake, uid)
        answers = await asyncio.gather(*(call(intake, who, "/cases", _opening(_id(), hid)) for who in (STAFF, A)))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "household_id")
        async with intake.pool.acquire() as conn:
            assert await conn.fetchval("select count(*) from cases where household_id = $1", hid) == 1


async def test_one_case_id_opened_twice_at_once_one_is_refused(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        cid, households = _id(), [await _household(intake, uid) for _ in range(2)]
        answers = await asyncio.gather(*(call(intake, STAFF, "/cases", _opening(cid, h)) for h in households))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "case_id")


async def test_a_case_closed_twice_at_once_is_closed_once(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        cid = await _case(intake, uid)
        body = {"case_id": cid, "outcome": "other", "closed_on": str(clock.today())}
        answers = await asyncio.gather(
            call(intake, STAFF, "/cases/closures", body), call(intake, A, "/cases/closures", body)
        )
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "case_id")
        assert await _facts(intake, "lgnet.intake.case_closed", cid) == 1


async def test_two_objectives_of_one_plan_updated_at_once_are_both_kept(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        cid, plan = await _case(intake, uid), _id()
        body = {
            "case_id": cid,
            "plan_id": plan,
            "objectives": ["housing", "employment"],
            "agreed_on": str(clock.today()),
        }
        await ok(intake, A, "/cases/plans", body)
        updates = [{"case_id": cid, "plan_id": plan, "objective": o, "status": "in_progress", "on": str(clock.today())}
                   for o in ("housing", "employment")]  # fmt: skip
        answers = await asyncio.gather(
            *(call(intake, who, "/cases/plans/objectives", u) for who, u in zip((A, STAFF), updates, strict=True))
        )
        assert all(r.status_code < 300 for r in answers), [r.text for r in answers]
        async with intake.pool.acquire() as conn:
            kept = await conn.fetchval("select objectives from plans where plan_id = $1", plan)
        kept = json.loads(kept) if isinstance(kept, str) else kept
        assert kept == {"housing": "in_progress", "employment": "in_progress"}


async def test_one_household_formed_twice_at_once_is_formed_once(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        hid = _id()
        people = [_id(), _id()]
        for pid in people:
            person = {"person_id": pid, "birth_date": "1988-02-03", "sex": "female", "nationality": "NG",
                      "identity": {"given_name": "Amina", "family_name": _family(uid)}}  # fmt: skip
            await ok(intake, A, "/persons", person)
        body = {"household_id": hid, "reference_person_id": people[0], "member_ids": people}
        answers = await asyncio.gather(call(intake, A, "/households", body), call(intake, STAFF, "/households", body))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "household_id")


async def _person(service: InProcessService, uid: str) -> str:
    pid = _id()
    person = {"person_id": pid, "birth_date": "1988-02-03", "sex": "female", "nationality": "NG",
              "identity": {"given_name": "Amina", "family_name": _family(uid)}}  # fmt: skip
    await ok(service, A, "/persons", person)
    return pid


async def test_a_person_erased_while_updated_stays_erased(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        pid = await _person(intake, uid)
        async with intake.client(A) as c:
            patch = c.patch(f"/persons/{pid}", json={"identity": {"family_name": "Okafor"}, "birth_date": "1988-02-04"})
            update, erasure = await asyncio.gather(patch, call(intake, STAFF, f"/persons/{pid}/erasure", {}))
        assert update.status_code < 500 and erasure.status_code < 500, (update.text, erasure.text)
        assert erasure.status_code == 200, erasure.text
        async with intake.pool.acquire() as conn:
            row = await conn.fetchrow(
                "select identity, name_key_hash, birth_date from persons where person_id = $1", pid
            )
        assert (row["identity"] in ("{}", {}), row["name_key_hash"]) == (True, None), (update.status_code, dict(row))


async def test_a_person_erased_twice_at_once_is_erased_once(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        pid = await _person(intake, uid)
        answers = await asyncio.gather(*(call(intake, STAFF, f"/persons/{pid}/erasure", {}) for _ in range(2)))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "person_id")
        assert await _facts(intake, "lgnet.intake.person_erased", pid) == 1


async def test_two_persons_merged_into_each_other_at_once_make_no_cycle(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        one, two = await _person(intake, uid), await _person(intake, uid)
        answers = await asyncio.gather(
            call(intake, STAFF, f"/persons/{one}/merge", {"merged_person_id": two}),
            call(intake, STAFF, f"/persons/{two}/merge", {"merged_person_id": one}),
        )
        assert sorted(r.status_code for r in answers)[0] == 201, [r.text for r in answers]
        assert sorted(r.status_code for r in answers)[1] in (409, 422), [r.text for r in answers]
        for pid in (one, two):
            async with intake.client(STAFF) as c:
                r = await c.get(f"/persons/{pid}")
            assert r.status_code == 200, r.text


async def test_one_person_joining_a_household_twice_at_once_joins_once(intake: InProcessService, uid: str) -> None:
    for round_ in range(ROUNDS):
        hid, pid = await _household(intake, uid), await _person(intake, uid)
        days = [str(clock.today())] * 2 if round_ % 2 else [str(clock.today()), str(clock.today().replace(day=1))]
        answers = await asyncio.gather(
            *(call(intake, who, "/households/members", {"household_id": hid, "person_id": pid, "change": "joined",
                                                        "reason": "birth", "on": on})
              for who, on in zip((A, STAFF), days, strict=True))
        )  # fmt: skip
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "person_id")
        async with intake.pool.acquire() as conn:
            sql = "select count(*) from household_members where household_id = $1 and person_id = $2"
            assert await conn.fetchval(sql, hid, pid) == 1


async def test_one_referral_id_received_twice_at_once_is_received_once(intake: InProcessService, uid: str) -> None:
    for _ in range(ROUNDS):
        hid, rid = await _household(intake, uid), _id()
        body = {"referral_id": rid, "household_id": hid, "source": "territory", "received_on": str(clock.today())}
        answers = await asyncio.gather(call(intake, A, "/referrals", body), call(intake, STAFF, "/referrals", body))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        _refused(next(r for r in answers if r.status_code == 409), "referral_id")


async def test_one_person_registered_by_two_partners_at_once_without_fiscal_code_is_flagged(
    intake: InProcessService,
) -> None:
    for round_ in range(ROUNDS):
        family = f"Okafor-{round_}-{uuid.uuid4().hex[:6]}"
        bodies = [{"person_id": _id(), "birth_date": "1990-05-06", "sex": "female", "nationality": "NG",
                   "identity": {"given_name": "Amina", "family_name": family}} for _ in range(2)]  # fmt: skip
        answers = await asyncio.gather(
            *(call(intake, who, "/persons", b) for who, b in zip((A, "coop-borgo"), bodies, strict=True))
        )
        assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
        ids = {b["person_id"] for b in bodies}
        async with intake.pool.acquire() as conn:
            flags = await conn.fetch(
                "select person_id, candidate_person_id from duplicate_flags where person_id = any($1::text[])",
                list(ids),
            )
        assert len(flags) == 1 and {flags[0]["person_id"], flags[0]["candidate_person_id"]} == ids, flags


async def test_a_person_erased_while_another_record_is_merged_into_her_takes_that_record_too(
    intake: InProcessService, uid: str
) -> None:
    for round_ in range(ROUNDS):
        her, other = await _person(intake, uid), await _person(intake, uid)
        erase = call(intake, STAFF, f"/persons/{her}/erasure", {})
        merge = call(intake, STAFF, f"/persons/{her}/merge", {"merged_person_id": other})
        if round_ % 2:
            erasure, merged = await asyncio.gather(erase, merge)
        else:
            merged, erasure = await asyncio.gather(merge, erase)
        assert erasure.status_code == 200 and merged.status_code < 500, (erasure.text, merged.text)
        async with intake.pool.acquire() as conn:
            row = await conn.fetchrow(
                "select merged_into, erased_at, name_key_hash from persons where person_id = $1", other
            )
        if row["merged_into"] == her:  # merged into her: erased with her, as a merge before the erasure is
            assert row["erased_at"] is not None and row["name_key_hash"] is None, (merged.status_code, dict(row))
        else:
            assert merged.status_code == 409, merged.text
