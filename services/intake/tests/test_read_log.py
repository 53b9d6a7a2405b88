"""Intake's read log (the DPO's review): every API read of a person's data — the cartella, the person, notes,
documents, searches — is recorded with who read (principal, role, partner, city), what (the route's kind and the
person's id, never a name), when and the outcome; the city's DPO reads it with a read-log token that opens nothing
else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from lgnet_intake.entrypoints.main import SPEC
from lgnet_shared import clock, read_log_readers
from lgnet_shared.testing.authz import World
from lgnet_shared.testing.inprocess import InProcessService, in_process

pytestmark = pytest.mark.integration
A, B, STAFF = "coop-aurora", "coop-borgo", "staff-torino"


@pytest.fixture
async def intake(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        yield service


async def registered(w: World, given_name: str, birth_date: str, by: str = A) -> str:
    """A person `by` registered, who consented to sharing with partners."""
    pid = w.id("p")
    body = {"person_id": pid, "birth_date": birth_date, "sex": "female", "nationality": "NG",
            "identity": {"given_name": given_name, "family_name": "Okafor"}}  # fmt: skip
    await w.call(by, "POST", "/persons", body)
    consent = {"person_id": pid, "purpose": "partner_sharing", "granted": True, "recorded_on": str(clock.today())}
    await w.call(by, "POST", "/consents", consent)
    return pid


async def amina(w: World, *, with_daughter: bool = False) -> dict[str, str]:
    """Amina in a household (with her daughter Ada, when asked) and a case of A on it."""
    pid, hid, cid = await registered(w, "Amina", "1988-02-03"), w.id("h"), w.id("c")
    members = [pid, await registered(w, "Ada", "2015-06-01")] if with_daughter else [pid]
    await w.call(A, "POST", "/households", {"household_id": hid, "reference_person_id": pid, "member_ids": members})
    case = {"case_id": cid, "household_id": hid, "action_area": "taking_charge", "channel": "desk",
            "opened_on": str(clock.today()), "housing_need": True, "partner": A}  # fmt: skip
    await w.call(STAFF, "POST", "/cases", case)
    return {"person": pid, "household": hid, "case": cid} | ({"daughter": members[1]} if with_daughter else {})


async def reader_token(intake: InProcessService, city: str = "torino") -> str:
    async with intake.pool.acquire() as conn:
        return await read_log_readers.issue_reader_token(conn, city, f"RPD {city}")


async def log_of(intake: InProcessService, token: str, **params: str) -> list[dict[str, Any]]:
    async with intake.client() as c:
        r = await c.get("/read-log", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()
    return entries


async def test_a_partners_api_reads_of_a_person_are_in_the_read_log_with_no_name(intake: InProcessService) -> None:
    w = World(intake)
    p = await amina(w)
    pid = p["person"]
    async with intake.client(A) as c:
        assert (await c.get(f"/persons/{pid}/record")).status_code == 200
        assert (await c.get(f"/persons/{pid}")).status_code == 200
        assert (await c.get(f"/persons/{pid}/notes")).status_code == 200
        assert (await c.get(f"/persons/{pid}/documents")).status_code == 200
        assert (await c.post("/persons/search", json={"name": "Amina Okafor"})).status_code == 200
    async with intake.client(B) as c:
        assert (await c.get(f"/persons/{pid}/record")).status_code == 404  # as an unknown id, logged as denied
    token = await reader_token(intake)
    entries = await log_of(intake, token, person_id=pid)
    seen = {(e["principal"], e["kind"], e["outcome"]) for e in entries}
    assert {
        (A, "record", "shown"),
        (A, "person", "shown"),
        (A, "notes", "shown"),
        (A, "documents", "shown"),
        (A, "search", "shown"),
        (B, "record", "denied"),
    } <= seen, seen
    shown = next(e for e in entries if e["kind"] == "record" and e["principal"] == A)
    assert shown["role"] == "partner" and shown["partner"] == A and shown["city"] == "torino"
    assert shown["person_id"] == pid and shown["at"] and shown["principal_name"] == A  # its name in intake
    assert "Amina" not in str(entries) and "Okafor" not in str(entries)  # ids, never names
    # the city's whole log, newest first
    assert {e["person_id"] for e in await log_of(intake, token)} >= {pid}
    # a period: `since` (included) to `before` (not included), as the DPO's page asks for days
    async with intake.pool.acquire() as conn:
        await conn.execute(
            "update read_log set at = '2026-11-02T10:00:00+00' where kind = 'notes' and person_id = $1", pid
        )
    november = await log_of(intake, token, since="2026-11-01T00:00:00+01:00", before="2026-11-03T00:00:00+01:00")
    assert [(e["kind"], e["person_id"]) for e in november] == [("notes", pid)], november
    assert "notes" not in {e["kind"] for e in await log_of(intake, token, since="2026-11-03T00:00:00+01:00")}


async def test_a_record_read_is_in_the_read_log_of_every_household_member_it_shows(intake: InProcessService) -> None:
    """An outside tester found that `GET /persons/{id}/record` answers every member of the person's households — names,
    birth dates, sex, and their vulnerabilities in the cases' assessments — but the read log had an entry for the
    person asked for only: the DPO, asked by Ada who read her data, found nothing. Now each member the record shows has
    an entry (as `GET /cases/{id}` has), written in the read's own transaction."""
    w = World(intake)
    p = await amina(w, with_daughter=True)
    async with intake.client(A) as c:
        r = await c.get(f"/persons/{p['person']}/record")
    assert r.status_code == 200, r.text
    assert {m["name"] for h in r.json()["households"] for m in h["members"]} == {"Amina Okafor", "Ada Okafor"}
    token = await reader_token(intake)
    for pid in (p["person"], p["daughter"]):
        entries = await log_of(intake, token, person_id=pid)
        assert [(e["principal"], e["kind"], e["outcome"]) for e in entries] == [(A, "record", "shown")], (pid, entries)


async def test_a_read_through_a_merged_id_is_logged_under_the_person_shown(intake: InProcessService) -> None:
    """An outside tester found that `GET /persons/{id}` by the id of a registration merged into another answers the
    surviving person's data, but the read log kept the id asked for only: the DPO's subject-access query by the
    surviving person's id (`GET /read-log?person_id=`) missed the read. Now each entry names the person shown, and the
    id asked for (`requested_id`) when it was another."""
    w = World(intake)
    survivor, merged = (
        await registered(w, "Amina", "1988-02-03", STAFF),
        await registered(w, "Amina", "1988-02-03", STAFF),
    )
    await w.call(STAFF, "POST", f"/persons/{survivor}/merge", {"merged_person_id": merged})
    async with intake.client(STAFF) as c:
        for path in ("", "/record", "/notes", "/documents"):
            r = await c.get(f"/persons/{merged}{path}")
            assert r.status_code == 200, (path, r.text)
        assert (await c.get(f"/persons/{merged}")).json()["person_id"] == survivor  # her data, under her id
    entries = await log_of(intake, await reader_token(intake), person_id=survivor)
    kept = sorted((e["kind"], e["person_id"], e["requested_id"]) for e in entries)
    kinds = ("documents", "notes", "person", "person", "record")
    assert kept == [(kind, survivor, merged) for kind in kinds], kept
    # asked by the merged record's id (the one a letter of the person may name), the DPO finds the same reads
    by_old_id = await log_of(intake, await reader_token(intake), person_id=merged)
    assert sorted((e["kind"], e["person_id"]) for e in by_old_id) == [(kind, survivor) for kind in kinds], by_old_id


async def test_another_citys_attempt_is_answered_as_nothing_yet_kept_for_the_persons_dpo(
    intake: InProcessService,
) -> None:
    """An outside tester found that Trieste's staff were told 403 "staff of trieste cannot act in torino" for a Torino
    person's record and 404 for an unknown id: they learnt which ids exist, and their city. Now the two answers are the
    same 404; the attempt on the Torino person is still a refusal in Torino's read log (`denied`), and the national
    role is refused by role (403) before the person is looked up, also logged."""
    w = World(intake)
    pid = (await amina(w))["person"]
    async with intake.client("staff-trieste") as c:
        real, nowhere = await c.get(f"/persons/{pid}/record"), await c.get("/persons/p-nowhere/record")
    said = [(r.status_code, r.json()["field"], r.json()["reason"]) for r in (real, nowhere)]
    assert said == [(404, "person_id", f"no person {pid}"), (404, "person_id", "no person p-nowhere")], said
    async with intake.client("coordination") as c:
        national = [await c.get(f"/persons/{p}") for p in (pid, "p-nowhere")]
    assert {(r.status_code, r.json()["field"]) for r in national} == {(403, "")}
    entries = await log_of(intake, await reader_token(intake), person_id=pid)
    kept = {(e["principal"], e["city"], e["kind"], e["outcome"]) for e in entries}
    assert {("staff-trieste", "trieste", "record", "denied"), ("coordination", None, "person", "denied")} <= kept


async def test_the_read_log_token_opens_nothing_else_and_no_actor_reads_the_log(intake: InProcessService) -> None:
    w = World(intake)
    p = await amina(w)
    token = await reader_token(intake)
    async with intake.client() as c:
        other = await c.get(f"/persons/{p['person']}", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 401
    for actor in (STAFF, A, "coordination"):
        async with intake.client(actor) as c:
            assert (await c.get("/read-log")).status_code == 403, actor
    # another city's DPO reads nothing of Torino's
    trieste = await reader_token(intake, "trieste")
    async with intake.client(A) as c:
        await c.get(f"/persons/{p['person']}/record")
    assert await log_of(intake, trieste, person_id=p["person"]) == []


async def test_a_revoked_read_log_token_opens_nothing_and_old_entries_are_purged(intake: InProcessService) -> None:
    """Retention: `lgnet-intake-admin purge-read-log` deletes what is older than the days kept (docs/operators.md)."""
    w = World(intake)
    p = await amina(w)
    async with intake.client(A) as c:
        await c.get(f"/persons/{p['person']}/record")
    token = await reader_token(intake)
    assert await log_of(intake, token, person_id=p["person"])
    async with intake.pool.acquire() as conn:
        await conn.execute("update read_log set at = now() - interval '800 days' where person_id = $1", p["person"])
        assert await read_log_readers.purge(conn, clock.now() - timedelta(days=730)) >= 1
    assert await log_of(intake, token, person_id=p["person"]) == []
    async with intake.pool.acquire() as conn:
        assert await read_log_readers.revoke_reader_tokens(conn, "torino") >= 1
    async with intake.client() as c:
        r = await c.get("/read-log", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_the_read_logs_period_is_two_rfc_3339_instants_not_timestamps(intake: InProcessService) -> None:
    """From an outside test: `?since=0` answered the log since 1970-01-01 (pydantic read the number as a Unix
    timestamp), and `?since=0001-01-01T00:30:00+01:00` (in the year 0 in UTC) a 422 naming the whole request. Each
    is refused naming its parameter; housing's and payments' read logs take the same parameters (lgnet_shared.auth)."""
    token = await reader_token(intake)
    for name, value in (
        ("since", "0"),
        ("since", "1764979200"),
        ("since", "0001-01-01T00:30:00+01:00"),
        ("before", "9999-12-31T20:00:00-05:00"),
    ):
        async with intake.client() as c:
            r = await c.get("/read-log", params={name: value}, headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.json().get("field")) == (422, f"query.{name}"), (name, value, r.text)


async def test_the_dpo_reads_what_one_principal_looked_at(intake: InProcessService) -> None:
    """The DPO asks "what did this operator look at?": her page filtered the log by person, source and dates only.
    The read log is asked for one principal (`principal`: a desk operator's actor, a partner's id), with a person and
    a period or alone; a principal who read nothing has no entries."""
    w = World(intake)
    pid = (await amina(w))["person"]
    async with intake.client(A) as c:
        assert (await c.get(f"/persons/{pid}/record")).status_code == 200
    async with intake.client(STAFF) as c:
        assert (await c.get(f"/persons/{pid}")).status_code == 200
    token = await reader_token(intake)
    staff = await log_of(intake, token, principal=STAFF)
    assert staff and {e["principal"] for e in staff} == {STAFF}, staff
    assert (STAFF, "person") in {(e["principal"], e["kind"]) for e in staff}
    assert {e["principal"] for e in await log_of(intake, token, principal=A, person_id=pid)} == {A}
    assert await log_of(intake, token, principal=B) == []
