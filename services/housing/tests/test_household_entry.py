"""One household's entry of the waiting list (`GET /households/{household_id}`), in-process on real PostgreSQL as the
authorisation matrix runs housing: the same entry as its element of `GET /households` for whoever may see it there,
and a 404 problem+json for a household that is not on the caller's list, whether it exists elsewhere or not — the
desk's housing page reads this instead of the whole list to find a household's case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_housing.service_layer.intake_events import HANDLERS
from lgnet_shared import clock
from lgnet_shared.events import intake as iev
from lgnet_shared.testing.inprocess import InProcessService, sibling_module

matrix: Any = sibling_module(__file__, "test_authorization_matrix.py")

# One in-process housing for the module (the matrix's fixtures): each test's ids carry its `uid`, and what the tests
# before left live is closed before it (`close_what_is_live`); the read log's assertions read what the test made
# (`since` its start).
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
A, B, STAFF_TO = matrix.A, matrix.B, matrix.STAFF_TO
housing, housing_own, housing_shared, housing_view = (
    matrix.housing,
    matrix.housing_own,
    matrix.housing_shared,
    matrix.housing_view,
)


async def began(housing: InProcessService) -> datetime:
    """The database's now: the read log's entries from here on are this test's."""
    async with housing.pool.acquire() as conn:
        now: datetime = await conn.fetchval("select now()")
        return now


async def on_the_list(housing: InProcessService, hid: str, *, assessed: bool = True) -> None:
    """A Torino household of one adult with A's housing case, as intake's events make it (without the needs
    assessment: on the list, blocked)."""
    events = matrix.intake_events(hid, f"{hid}-case")
    for e in events if assessed else events[:-1]:
        await housing.deliver(HANDLERS, e, "torino", A)


async def get(housing: InProcessService, actor: str, path: str) -> Any:
    async with housing.client(actor) as c:
        return await c.get(path)


async def test_a_households_entry_is_its_element_of_the_waiting_list(housing: InProcessService, uid: str) -> None:
    await on_the_list(housing, f"h-waiting-{uid}")
    await on_the_list(housing, f"h-blocked-{uid}", assessed=False)
    for actor in (STAFF_TO, A):  # the city's staff and the case's partner see both on the list
        waiting = (await get(housing, actor, "/households")).json()
        assert {w["household_id"] for w in waiting} == {f"h-waiting-{uid}", f"h-blocked-{uid}"}, waiting
        for element in waiting:
            r = await get(housing, actor, f"/households/{element['household_id']}")
            assert r.status_code == 200, r.text
            assert r.json() == element
    entry = (await get(housing, STAFF_TO, f"/households/h-waiting-{uid}")).json()
    assert entry["case_id"] == f"h-waiting-{uid}-case" and entry["blocked"] is None and entry["size"] == 1, entry
    blocked = (await get(housing, STAFF_TO, f"/households/h-blocked-{uid}")).json()
    assert blocked["blocked"].startswith("needs_not_assessed:") and "priority" not in blocked, blocked


async def test_a_household_formed_with_a_registration_merged_before_it_is_complete(
    housing: InProcessService, uid: str
) -> None:
    """Intake (docs/partners.md, "What is not yours"): a partner whose registration was merged into another partner's
    person by her fiscal code forms its household with its own registration's id, after the merge. Housing deleted
    the merged person at the merge, so that household named a member it did not know: blocked for good,
    "composition_incomplete". The merged registration stays known (households formed before the merge name her
    survivor, as before)."""
    await on_the_list(housing, f"h-first-{uid}")
    events = matrix.intake_events(f"h-later-{uid}", f"h-later-{uid}-case")
    merged = iev.PersonsMerged(
        surviving_person_id=f"h-first-{uid}-p", merged_person_id=f"h-later-{uid}-p", decided_by="fiscal_code_match"
    )
    for e in [events[0], merged, *events[1:]]:
        await housing.deliver(HANDLERS, e, "torino", A)
    entry = (await get(housing, STAFF_TO, f"/households/h-later-{uid}")).json()
    assert entry["blocked"] is None and entry["size"] == 1, entry
    first = (await get(housing, STAFF_TO, f"/households/h-first-{uid}")).json()
    assert first["blocked"] is None and first["size"] == 1, first


async def test_a_household_off_the_callers_list_is_not_found_and_its_existence_not_told(
    housing: InProcessService,
    uid: str,
) -> None:
    await on_the_list(housing, f"h-a-{uid}")
    await on_the_list(housing, f"h-closed-{uid}")
    closed = iev.CaseClosed(case_id=f"h-closed-{uid}-case", outcome=iev.CaseOutcome.OTHER, closed_on=clock.today())
    await housing.deliver(HANDLERS, closed, "torino", A)

    async def not_found(actor: str, hid: str) -> str:
        r = await get(housing, actor, f"/households/{hid}")
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        problem = r.json()
        assert problem["status"] == 404 and problem["field"] == "household_id", problem
        assert "waiting list" in problem["reason"], problem  # the reason named
        return str(problem["reason"]).replace(hid, "<id>")

    assert "torino" in await not_found(STAFF_TO, f"h-nobody-{uid}")  # unknown
    await not_found(STAFF_TO, f"h-closed-{uid}")  # its case closed: off the list
    # Another partner of the city, and another city's staff, may not see h-a: answered as for a household that does
    # not exist, word for word, so that neither learns it does.
    assert await not_found(B, f"h-a-{uid}") == await not_found(B, f"h-nobody-{uid}")
    assert await not_found("staff-trieste", f"h-a-{uid}") == await not_found("staff-trieste", f"h-nobody-{uid}")
    r = await get(housing, "coordination", f"/households/h-a-{uid}")  # the national role reads aggregates only
    assert r.status_code == 403 and r.json()["field"] == "", r.text
    r = await get(housing, STAFF_TO, "/households/h%00")  # no id PostgreSQL could hold: bad input, not unknown
    assert (r.status_code, r.json()["field"]) == (422, "path.household_id"), r.text


async def test_every_api_read_of_a_household_is_in_housings_read_log_for_the_citys_dpo(
    housing: InProcessService,
    uid: str,
) -> None:
    """Housing answers no name, but what it answers of a household says much: its priority (vulnerabilities score
    there) and why it is not matching (a specialist team for psychiatric or addiction needs). Every read through the
    API — the waiting list, an entry, its why, the matches — is kept (who, which household, when, shown or denied)
    and the city's DPO reads it with a read-log token (`GET /read-log`), which opens nothing else."""
    from lgnet_shared import read_log_readers

    start = (await began(housing)).isoformat()
    await on_the_list(housing, f"h-log-{uid}")
    await get(housing, A, "/households")
    await get(housing, A, f"/households/h-log-{uid}/why")
    async with housing.client(STAFF_TO, headers={"LgNet-Client": "desk"}) as c:
        assert (await c.get(f"/households/h-log-{uid}")).status_code == 200
    assert (
        await get(housing, B, f"/households/h-log-{uid}")
    ).status_code == 404  # not B's: refused, and kept as denied
    assert (await get(housing, B, f"/households/h-nobody-{uid}")).status_code == 404  # exists nowhere: nothing to keep
    async with housing.pool.acquire() as conn:
        torino = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")
        trieste = await read_log_readers.issue_reader_token(conn, "trieste", "RPD Trieste")

    async def log(token: str, **params: str) -> list[dict[str, Any]]:
        async with housing.client(headers={"Authorization": f"Bearer {token}"}) as c:
            r = await c.get("/read-log", params=params)
        assert r.status_code == 200, r.text
        return list(r.json())

    entries = await log(torino, since=start)
    assert [(e["principal"], e["kind"], e["household_id"], e["outcome"], e["via"]) for e in entries] == [
        (B, "household", f"h-log-{uid}", "denied", "api"),
        (STAFF_TO, "household", f"h-log-{uid}", "shown", "desk"),
        (A, "why", f"h-log-{uid}", "shown", "api"),
        (A, "waiting_list", f"h-log-{uid}", "shown", "api"),
    ], entries
    assert [e["kind"] for e in await log(torino, household_id=f"h-log-{uid}", since="2020-01-01T00:00:00+00:00")] == [
        "household", "household", "why", "waiting_list"]  # fmt: skip
    assert await log(trieste, since=start) == []
    # one reader's ("what did this operator look at?")
    assert [e["kind"] for e in await log(torino, since=start, principal=A)] == ["why", "waiting_list"]
    assert [e["outcome"] for e in await log(torino, since=start, principal=B)] == ["denied"]
    assert (await get(housing, STAFF_TO, "/read-log")).status_code == 403  # an actor's token never opens it


async def test_reading_the_reminders_is_in_the_read_log_for_each_household_they_show(
    housing: InProcessService, uid: str
) -> None:
    """A reminder says why a household is on hold ("hospitalised": health, special-category data) and which match of
    it is stalled: reading the reminders is a read of those households, kept as the waiting list's is."""
    from lgnet_housing.adapters import read_log

    start = await began(housing)
    await on_the_list(housing, f"h-held-{uid}")
    await on_the_list(housing, f"h-other-{uid}")
    until = (clock.today() + timedelta(days=3)).isoformat()
    async with housing.client(STAFF_TO) as c:
        r = await c.post(f"/households/h-held-{uid}/park", json={"reason": "hospitalised", "until": until})
        assert r.status_code == 200, r.text
    async with housing.client(A, headers={"LgNet-Client": "desk"}) as c:
        [reminder] = (await c.get("/reminders")).json()
    assert (reminder["household_id"], reminder["reason"]) == (f"h-held-{uid}", "hospitalised"), reminder
    assert (await get(housing, "staff-trieste", "/reminders")).json() == []  # shows nothing: nothing to keep
    async with housing.pool.acquire() as conn:
        entries = await read_log.entries(conn, "torino", None, 50, start, None, None)
        assert await read_log.entries(conn, "trieste", None, 50, start, None, None) == []
    kept = [(e["principal"], e["kind"], e["household_id"], e["outcome"], e["via"]) for e in entries]
    assert kept == [(A, "reminders", f"h-held-{uid}", "shown", "desk")], kept


async def test_the_answers_of_a_matching_run_an_acceptance_and_a_decline_are_in_the_read_log(
    housing: InProcessService, uid: str
) -> None:
    """From an outside test: accepting or declining a proposal answers the whole match — its explanation and score
    breakdown, as `GET /matches/{id}` does, which is kept — and the matching run answers every proposal's and every
    unmatched household's; none of them was in the read log."""
    from lgnet_housing.adapters import read_log
    from lgnet_shared.testing.authz import World

    start = await began(housing)
    w = World(housing)
    accepted = await matrix.match(w)
    async with housing.pool.acquire() as conn:
        entries = await read_log.entries(conn, "torino", None, 50, start, None, None)
    ran = [(e["principal"], e["household_id"]) for e in entries if e["kind"] == "matching_run"]
    assert ran == [(STAFF_TO, accepted["household_id"])], entries
    async with housing.client(A, headers={"LgNet-Client": "desk"}) as c:
        r = await c.post(
            f"/matches/{accepted['match_id']}/acceptance", json={}, headers={"Idempotency-Key": f"k-1-{uid}"}
        )
        assert r.status_code == 200 and r.json()["explanation"], r.text
    declined = await matrix.match(w)
    async with housing.client(A) as c:
        body = {"by": "household", "reason": "too_far"}
        r = await c.post(
            f"/matches/{declined['match_id']}/decline", json=body, headers={"Idempotency-Key": f"k-2-{uid}"}
        )
        assert r.status_code == 200, r.text
    async with housing.pool.acquire() as conn:
        kept = [(e["principal"], e["kind"], e["household_id"], e["via"]) for e in await read_log.entries(
            conn, "torino", None, 50, start, None, None) if e["kind"] == "match"]  # fmt: skip
    assert kept == [(A, "match", declined["household_id"], "api"), (A, "match", accepted["household_id"], "desk")]


async def test_a_replayed_acceptance_shows_the_match_again_and_is_in_the_read_log(
    housing: InProcessService, uid: str
) -> None:
    """An acceptance sent again (the same Idempotency-Key, or the same transition without one) is answered the whole
    match again, from the stored answer: that answer was not in the read log (only the first call's was)."""
    from lgnet_housing.adapters import read_log
    from lgnet_shared.testing.authz import World

    start = await began(housing)
    w = World(housing)
    shown = []
    for sent in ({"Idempotency-Key": f"k-1-{uid}"}, {}):  # a retry with its key; the same transition again without one
        accepted = await matrix.match(w)
        async with housing.client(A) as c:
            for _ in range(2):
                r = await c.post(f"/matches/{accepted['match_id']}/acceptance", json={}, headers=sent)
                assert r.status_code == 200 and r.json()["explanation"], r.text
            assert r.headers.get("Idempotent-Replayed") == "true", r.headers
        shown += [(A, accepted["household_id"])] * 2
    async with housing.pool.acquire() as conn:
        kept = [(e["principal"], e["household_id"]) for e in await read_log.entries(
            conn, "torino", None, 50, start, None, None) if e["kind"] == "match"]  # fmt: skip
    assert sorted(kept) == sorted(shown), kept


async def test_housings_read_log_is_found_by_a_member_of_the_household_for_a_subject_access_request(
    housing: InProcessService,
    uid: str,
) -> None:
    """A person asking who read her data (GDPR art. 15) is known to the DPO by her own id, not her household's:
    each entry keeps the household's members at the time of the read, and `person_id` finds them. A member who
    joins later was not in what was read then."""
    from lgnet_shared import read_log_readers

    await on_the_list(housing, f"h-sar-{uid}")
    await on_the_list(housing, f"h-other-{uid}")
    await get(housing, A, f"/households/h-sar-{uid}/why")
    await get(housing, B, f"/households/h-sar-{uid}")  # refused: kept as denied, with the members too
    joined = iev.HouseholdMemberJoined(
        household_id=f"h-sar-{uid}", person_id=f"h-other-{uid}-p", reason="joined", on=clock.today()
    )
    await housing.deliver(HANDLERS, joined, "torino", A)
    await get(housing, STAFF_TO, f"/households/h-sar-{uid}")
    async with housing.pool.acquire() as conn:
        token = await read_log_readers.issue_reader_token(conn, "torino", "RPD Torino")

    async def log(**params: str) -> list[tuple[str, str, str, list[str]]]:
        async with housing.client(headers={"Authorization": f"Bearer {token}"}) as c:
            r = await c.get("/read-log", params=params)
        assert r.status_code == 200, r.text
        return [(e["principal"], e["kind"], e["outcome"], sorted(e["person_ids"])) for e in r.json()]

    assert await log(person_id=f"h-sar-{uid}-p") == [
        (STAFF_TO, "household", "shown", [f"h-other-{uid}-p", f"h-sar-{uid}-p"]),
        (B, "household", "denied", [f"h-sar-{uid}-p"]),
        (A, "why", "shown", [f"h-sar-{uid}-p"]),
    ]
    # h-other's member: only the read made after she joined h-sar
    assert await log(person_id=f"h-other-{uid}-p") == [
        (STAFF_TO, "household", "shown", [f"h-other-{uid}-p", f"h-sar-{uid}-p"])
    ]
    assert await log(person_id=f"h-nobody-{uid}-p") == []
    async with housing.client(headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.get("/read-log", params={"person_id": "x" * 201})
    assert (r.status_code, r.json()["field"]) == (422, "query.person_id"), r.text


async def test_the_upgrade_gives_earlier_entries_the_households_members(database_url: str, pg_schema: str) -> None:
    """Entries from before `housing-read-log-2` had no members: the upgrade gives them the household's members at the
    upgrade (the nearest housing knows), so that a subject-access request finds them by the person's id."""
    from lgnet_housing.adapters import read_log
    from lgnet_shared import db
    from lgnet_shared.runtime_schema import all_migrations

    migrations = all_migrations([*SPEC.migrations])
    pool = await db.create_pool(database_url, pg_schema, max_size=1)
    try:
        await db.migrate(pool, [m for m in migrations if m[0] != "housing-read-log-2"])
        async with pool.acquire() as conn:
            await conn.execute(
                "insert into households (household_id, city, member_ids) values ('h-up', 'torino', '{p-1,p-2}')"
            )
            await conn.execute(
                "insert into read_log (principal, role, partner, city, household_id, kind, outcome, via)"
                " values ('coop', 'partner', 'coop', 'torino', 'h-up', 'why', 'shown', 'api')"
            )
        assert await db.migrate(pool, migrations) == ["housing-read-log-2"]
        async with pool.acquire() as conn:
            found = await read_log.entries(conn, "torino", person_id="p-2")
        assert [(e["household_id"], sorted(e["person_ids"])) for e in found] == [("h-up", ["p-1", "p-2"])]
    finally:
        await pool.close()


async def test_an_expired_token_is_refused_saying_so(housing: InProcessService) -> None:
    """A token issued with an end (`lgnet-admin issue-token --days`) opens nothing after it, and the 401 says why,
    so a partner's developer knows to ask for a new one rather than debug their code."""
    from lgnet_shared import auth

    async with housing.pool.acquire() as conn:
        token = await auth.issue_token(conn, STAFF_TO, days=30)
    async with housing.client(headers={"Authorization": f"Bearer {token}"}) as c:
        assert (await c.get("/households")).status_code == 200
        async with housing.pool.acquire() as conn:
            await conn.execute(
                "update api_tokens set expires_at = '2026-01-31T12:00:00+00' where token_hash = $1",
                auth.token_hash(token),
            )
        r = await c.get("/households")
    assert r.status_code == 401, r.text
    assert (r.json()["field"], r.json()["reason"]) == (
        "headers.authorization", "token expired on 2026-01-31: ask for a new one")  # fmt: skip


async def test_tokens_ending_within_30_days_are_counted_for_an_alert(housing: InProcessService) -> None:
    """A partner's integration stops the day its token ends: `/metrics` counts the live tokens ending within 30 days
    (`lgnet_api_tokens_ending`), so an alert asks for the next bundle before that day."""
    from lgnet_shared import auth

    async def ending() -> float:
        async with housing.client() as c:
            text = (await c.get("/metrics")).text
        line = next(ln for ln in text.splitlines() if ln.startswith('lgnet_api_tokens_ending{within_days="30"}'))
        return float(line.split()[-1])

    before = await ending()
    async with housing.pool.acquire() as conn:
        await auth.issue_token(conn, STAFF_TO, days=10)  # counted
        await auth.issue_token(conn, STAFF_TO, days=90)  # not yet
        gone = await auth.issue_token(conn, STAFF_TO, days=5)
        await conn.execute("update api_tokens set revoked_at = now() where token_hash = $1", auth.token_hash(gone))
    assert await ending() == before + 1


async def test_a_households_matches_are_read_alone_and_only_that_household_is_in_the_read_log(
    housing: InProcessService, uid: str
) -> None:
    """From an outside test: opening one person's cartella at the desk put 72 reads of 43 other households in the read
    log, as the desk read the whole city's matches (`GET /proposals` for each state) to keep that household's. Asked
    with `household_id`, `GET /proposals` answers that household's matches alone, for whoever may see them (another
    cooperative: none), and the read log keeps that household only."""
    from lgnet_housing.adapters import read_log
    from lgnet_shared.testing.authz import World

    w = World(housing)
    other = await matrix.match(w)  # its case closed as the next is made: its match cancelled
    mine = await matrix.match(w)
    start = await began(housing)
    async with housing.client(STAFF_TO, headers={"LgNet-Client": "desk"}) as c:
        r = await c.get("/proposals", params={"household_id": mine["household_id"]})
        assert r.status_code == 200, r.text
        assert [m["match_id"] for m in r.json()] == [mine["match_id"]], r.json()
        r = await c.get("/proposals", params={"household_id": mine["household_id"], "status": "cancelled"})
        assert r.json() == [], r.json()  # its state and its household both
        cancelled = await c.get("/proposals", params={"household_id": other["household_id"], "status": "cancelled"})
        assert [m["match_id"] for m in cancelled.json()] == [other["match_id"]], cancelled.json()
        r = await c.get("/proposals?household_id=h%00")  # no id PostgreSQL could hold: bad input
        assert (r.status_code, r.json()["field"]) == (422, "query.household_id"), r.text
    async with housing.client(A) as a:  # the case's cooperative sees it
        assert [m["match_id"] for m in (await a.get(f"/proposals?household_id={mine['household_id']}")).json()] == [
            mine["match_id"]
        ]
    async with housing.client(B) as b:  # another cooperative: none, as without the filter
        assert (await b.get(f"/proposals?household_id={mine['household_id']}")).json() == []
    async with housing.pool.acquire() as conn:
        entries = await read_log.entries(conn, "torino", None, 50, start, None, None)
    kept = [(e["principal"], e["kind"], e["household_id"], e["via"]) for e in entries]
    assert kept == [
        (A, "matches", mine["household_id"], "api"),
        (STAFF_TO, "matches", other["household_id"], "desk"),
        (STAFF_TO, "matches", mine["household_id"], "desk"),
    ], kept


async def test_a_households_matches_in_every_state_are_one_answer_and_only_it_is_in_the_read_log(
    housing: InProcessService, uid: str
) -> None:
    """The desk's cartella asked housing six times per household (`GET /proposals?household_id=…&status=…`, one per
    match state). `status=any` answers the household's matches in every state at once, for whoever may see them (the
    same rule as one state: another cooperative none), and the read log keeps that household only, once per read."""
    from lgnet_housing.adapters import read_log
    from lgnet_shared.testing.authz import World

    w = World(housing)
    other = await matrix.match(w)  # its case closed as the next is made: its match cancelled
    mine = await matrix.match(w)
    start = await began(housing)
    async with housing.client(STAFF_TO, headers={"LgNet-Client": "desk"}) as c:
        for m, status in ((other, "cancelled"), (mine, "proposed")):
            r = await c.get("/proposals", params={"household_id": m["household_id"], "status": "any"})
            assert r.status_code == 200, r.text
            assert [(x["match_id"], x["status"]) for x in r.json()] == [(m["match_id"], status)], r.json()
        r = await c.get("/proposals", params={"household_id": mine["household_id"], "status": "every"})
        assert (r.status_code, r.json()["field"]) == (422, "query.status"), r.text
    async with housing.client(A) as a:
        r = await a.get("/proposals", params={"household_id": mine["household_id"], "status": "any"})
        assert [x["match_id"] for x in r.json()] == [mine["match_id"]], r.json()
    async with housing.client(B) as b:  # another cooperative: none, as for one state
        r = await b.get("/proposals", params={"household_id": mine["household_id"], "status": "any"})
        assert r.json() == [], r.json()
    async with housing.pool.acquire() as conn:
        entries = await read_log.entries(conn, "torino", None, 50, start, None, None)
    kept = [(e["principal"], e["kind"], e["household_id"], e["via"]) for e in entries]
    assert kept == [
        (A, "matches", mine["household_id"], "api"),
        (STAFF_TO, "matches", mine["household_id"], "desk"),
        (STAFF_TO, "matches", other["household_id"], "desk"),
    ], kept
