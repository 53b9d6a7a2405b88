"""Intake's state in PostgreSQL. Plain functions over an asyncpg connection inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import asyncpg
from lgnet_shared.access import ID_TAKEN
from lgnet_shared.db import Conn
from lgnet_shared.errors import Conflict, NotFound

from lgnet_intake.domain.access import Actor, Role, of_city
from lgnet_intake.domain.cases import CaseState

Row = dict[str, Any]


# ---------------------------------------------------------------- actors and credentials


async def signing_key(conn: Conn, key_id: str) -> tuple[Actor, bytes] | None:
    row = await conn.fetchrow(
        "select a.actor_id, a.role, a.city, k.public_key from signing_keys k join actors a using (actor_id)"
        " where k.key_id = $1 and k.revoked_at is null",
        key_id,
    )
    return (Actor(row["actor_id"], Role(row["role"]), row["city"]), bytes(row["public_key"])) if row else None


async def actor(conn: Conn, actor_id: str) -> Actor | None:
    row = await conn.fetchrow("select actor_id, role, city from actors where actor_id = $1", actor_id)
    return Actor(row["actor_id"], Role(row["role"]), row["city"]) if row else None


def _offboarded(actor_id: str) -> str:
    """SQL: the partner `actor_id` (an SQL expression) was offboarded (`lgnet-partner-admin offboard`, or its every
    token revoked): it had API tokens or signing keys and every one is revoked, so nobody can act for it. Onboarded
    again (a new token), it is not."""
    return (
        "coalesce((select bool_and(c.revoked_at is not null) from"
        f" (select revoked_at from api_tokens where actor_id = {actor_id}"
        f" union all select revoked_at from signing_keys where actor_id = {actor_id}) c), false)"
    )


async def partners(conn: Conn, city: str) -> list[Row]:
    """The city's partner actors that may be assigned a case (not offboarded), by name."""
    sql = (
        "select actor_id as partner_id, display_name as name from actors a where role = 'partner' and city = $1"
        f" and not {_offboarded('a.actor_id')} order by lower(display_name), actor_id"
    )
    return [dict(r) for r in await conn.fetch(sql, city)]


async def partner(conn: Conn, partner_id: str) -> Row | None:
    """A partner actor's city and whether it was offboarded; None for an id that is no partner."""
    sql = f"select city, {_offboarded('$1')} as offboarded from actors where actor_id = $1 and role = 'partner'"
    row = await conn.fetchrow(sql, partner_id)
    return dict(row) if row else None


# ---------------------------------------------------------------- persons


async def person(
    conn: Conn, person_id: str, *, resolve: bool = True, caller: Actor | None = None, lock: bool = False
) -> Row:
    """The person, following merges to the surviving record unless `resolve` is False. `caller`: whose lookup it is
    (another city's person is answered as none: `of_city`). `lock`: the records read stay locked until the
    transaction ends (an erasure and an update at once: the second sees the first)."""
    sql = "select * from persons where person_id = $1" + (" for no key update" if lock else "")
    for _ in range(10):
        row = await conn.fetchrow(sql, person_id)
        found = of_city(row, caller, NotFound("person_id", f"no person {person_id}"))
        if not resolve or found["merged_into"] is None:
            return found
        person_id, caller = found["merged_into"], None  # a merge is within a city
    raise RuntimeError("merge chain too long")


PERSON_COLUMNS = (
    "person_id",
    "city",
    "registered_by",
    "birth_date",
    "sex",
    "nationality",
    "third_country",
    "languages",
    "literate",
    "fiscal_code_hash",
    "name_key_hash",
    "identity",
)
_COLUMNS = ", ".join(PERSON_COLUMNS)
FISCAL_CODE_INDEX = "persons_fiscal_surviving"  # one surviving person per fiscal code and city
_SURVIVING = "city = $2 and person_id <> $1 and merged_into is null and erased_at is null"
_INSERT_PERSON = f"""
with same_fiscal_code as (
    -- Locked: her erasure at this moment (it locks her) is waited for, and she is then no longer found; an erasure
    -- after it waits for this registration and finds it among her records, to erase with her.
    select person_id from persons where {_SURVIVING} and fiscal_code_hash = $10 order by created_at limit 1 for share
), person as (
    insert into persons ({_COLUMNS}, merged_into)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, (select person_id from same_fiscal_code))
    on conflict (person_id) do nothing
    returning person_id
), person_key as (
    insert into person_keys (kid, wrapped) select person_id, $13 from person on conflict (kid) do nothing
    returning kid
)
select exists (select from person) as inserted, exists (select from person_key) as keyed,
    (select person_id from same_fiscal_code) as same_fiscal_code,
    array(select person_id from persons where {_SURVIVING} and name_key_hash = $11 order by created_at)
        as same_name_and_birth
"""
_INSERT_PERSONS = f"""
with person as (
    insert into persons ({_COLUMNS})
    select {_COLUMNS} from jsonb_populate_recordset(null::persons, $1::text::jsonb)
    on conflict (person_id) do nothing
    returning person_id
), person_key as (
    insert into person_keys (kid, wrapped)
    select k.kid, k.wrapped from unnest($2::text[], $3::bytea[]) as k(kid, wrapped) join person on person_id = kid
    on conflict (kid) do nothing
    returning kid
)
select coalesce(array_agg(kid), '{{}}') from person_key
"""


@dataclass(frozen=True)
class Inserted:
    """What inserting a person found: earlier surviving persons of the city sharing a pseudonymous hash. With the
    same fiscal code, the new person is stored merged into that one."""

    same_fiscal_code: str | None
    same_name_and_birth: list[str]


async def insert_person(conn: Conn, p: Row, wrapped_key: bytes) -> Inserted | None:
    """The person and their wrapped data key, and the duplicate candidates, in one round trip. None when the
    person id is taken."""
    if p["name_key_hash"]:
        # Registrations of one name and birth date in a city one after the other: two at once (two partners
        # registering her the same minute) each looked for the other before it was committed, and neither was
        # flagged as her possible duplicate.
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended($1, 29))", _name_lock(p["city"], p["name_key_hash"])
        )
    for attempt in range(1, 4):
        try:
            async with conn.transaction():  # a savepoint, to try again
                row = await conn.fetchrow(_INSERT_PERSON, *(p[c] for c in PERSON_COLUMNS), wrapped_key)
            break
        except asyncpg.UniqueViolationError as err:
            # The same fiscal code, registered at the same moment by another transaction that has now committed:
            # the next attempt sees that person and merges into it.
            if err.constraint_name != FISCAL_CODE_INDEX or attempt == 3:
                raise
    assert row is not None
    if not row["inserted"]:
        return None
    if not row["keyed"]:  # a key (or its erasure) under this id without its person: never reuse it
        raise Conflict("person_id", ID_TAKEN)
    return Inserted(row["same_fiscal_code"], list(row["same_name_and_birth"]))


class DuplicateKey(NamedTuple):
    """A pseudonymous hash (`fiscal_code_hash` or `name_key_hash`) that two registrations of one person in one
    city share."""

    city: str
    column: str
    value: str


def _name_lock(city: str, name_key_hash: str) -> str:
    return f"person-name:{city}:{name_key_hash}"


async def lock_names(conn: Conn, keys: Sequence[DuplicateKey]) -> None:
    """The name locks `insert_person` takes, for a run of registrations at once (in one order: two runs never wait
    for each other crosswise). Held to the transaction's end: a registration of one of those names elsewhere waits,
    then finds her; the run, having waited for one, finds that one (`duplicate_keys_on_file`)."""
    names = sorted({_name_lock(k.city, k.value) for k in keys if k.column == "name_key_hash"})
    if names:
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(k, 29)) from (select unnest($1::text[]) k order by 1) s",
            names,
        )


async def duplicate_keys_on_file(conn: Conn, keys: Sequence[DuplicateKey]) -> set[DuplicateKey]:
    """Those of `keys` that a surviving person on file has (the candidates `insert_person` would find)."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "select city, fiscal_code_hash, name_key_hash from persons where merged_into is null and erased_at is null"
        " and (fiscal_code_hash = any($1::text[]) or name_key_hash = any($2::text[]))",
        [k.value for k in keys if k.column == "fiscal_code_hash"],
        [k.value for k in keys if k.column == "name_key_hash"],
    )
    on_file = {DuplicateKey(r["city"], c, r[c]) for r in rows for c in ("fiscal_code_hash", "name_key_hash") if r[c]}
    return on_file & set(keys)


async def insert_persons(conn: Conn, people: Sequence[tuple[Row, bytes]]) -> set[str]:
    """Many persons and their wrapped data keys in one statement, without looking for duplicates (the caller
    knows there are none). The ids stored; an id that is taken, or has key material already, is not."""
    rows = json.dumps([{c: p[c] for c in PERSON_COLUMNS} for p, _ in people], default=date.isoformat)
    stored = await conn.fetchval(
        _INSERT_PERSONS, rows, [p["person_id"] for p, _ in people], [wrapped for _, wrapped in people]
    )
    return set(stored)


async def flag_duplicate(conn: Conn, person_id: str, candidate: str, match: str) -> None:
    await conn.execute(
        "insert into duplicate_flags (person_id, candidate_person_id, match) values ($1, $2, $3)"
        " on conflict do nothing",
        person_id,
        candidate,
        match,
    )


async def open_duplicate_flags(conn: Conn, city: str) -> list[Row]:
    rows = await conn.fetch(
        "select f.* from duplicate_flags f join persons p using (person_id)"
        " where f.status = 'open' and p.city = $1 order by f.person_id",
        city,
    )
    return [dict(r) for r in rows]


async def lock_merges(conn: Conn, city: str) -> None:
    """Until the transaction ends, the city's merges one at a time: two at once (A into B, B into A) each read the
    records before the other's merge and made a cycle that no look-up of either could follow."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 23))", f"person-merge:{city}")


async def merge(conn: Conn, surviving: str, merged: str) -> None:
    await conn.execute("update persons set merged_into = $1 where person_id = $2", surviving, merged)
    await conn.execute(
        "update duplicate_flags set status = 'merged' where status = 'open' and"
        " ((person_id = $1 and candidate_person_id = $2) or (person_id = $2 and candidate_person_id = $1))",
        surviving,
        merged,
    )


async def merged_into(conn: Conn, person_id: str) -> list[str]:
    """Every person merged into this one, directly or through a chain (the same human's other records)."""
    rows = await conn.fetch(
        "with recursive merged(person_id) as ("
        " select person_id from persons where merged_into = $1"
        " union select p.person_id from persons p join merged m on p.merged_into = m.person_id"
        ") select person_id from merged order by person_id",
        person_id,
    )
    return [r["person_id"] for r in rows]


ERASED_REQUEST = "erased"  # what an erased person's idempotency fingerprints become


async def erase(conn: Conn, person_id: str) -> None:
    # The sealed values are unreadable once the key is gone; the pseudonymous hashes go too.
    await conn.execute(
        "update persons set erased_at = now(), identity = '{}', fiscal_code_hash = null, name_key_hash = null"
        " where person_id = $1",
        person_id,
    )
    # A create's fingerprint is a (keyed) hash of its body, and a registration's body holds the name: with the
    # key, a guessed name could still be confirmed against it. The answers stay (ids only), the fingerprints go;
    # a retry of such a request is a conflict from now on.
    # Their stored answers go down to the id: an employment report's answered the status, a consent's the purpose.
    await conn.execute(
        "update idempotency_keys set request_hash = $2, response = jsonb_build_object('person_id', $1::text)"
        " where response->>'person_id' = $1 and key not like 'transition:%'",
        person_id,
        ERASED_REQUEST,
    )
    # Employment details are the person's own and serve nothing once they are forgotten (reports count the facts).
    await conn.execute("delete from employment where person_id = $1", person_id)


async def erased_among(conn: Conn, person_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "select person_id from persons where person_id = any($1::text[]) and erased_at is not null", person_ids
    )
    return {r["person_id"] for r in rows}


async def assessments_of_households_of(conn: Conn, person_id: str) -> list[Row]:
    """The needs assessments of the cases of every household the person is or was in, each with whether any member
    of that household (ever) is not erased."""
    rows = await conn.fetch(
        "select a.case_id, a.body, exists(select 1 from household_members m join persons p using (person_id)"
        "  where m.household_id = c.household_id and p.erased_at is null) as anyone_left"
        " from assessments a join cases c using (case_id)"
        " where c.household_id in (select household_id from household_members where person_id = $1)",
        person_id,
    )
    return [dict(r) for r in rows]


async def replace_assessment(conn: Conn, case_id: str, body: Row | None) -> None:
    """A stored assessment rewritten as it is kept (None: deleted), its date unchanged."""
    if body is None:
        await conn.execute("delete from assessments where case_id = $1", case_id)
    else:
        await conn.execute("update assessments set body = $2::jsonb where case_id = $1", case_id, body)


_SAME_FISCAL_CODE = f"""
select person_id from persons where {_SURVIVING} and fiscal_code_hash = $3 order by created_at limit 1 for share
"""


async def update_person(conn: Conn, p: Row, changes: Row, *, merge_same_fiscal_code: bool = False) -> str | None:
    """`changes` to the person `p` (her row as read). A fiscal code another surviving person of her city has is a
    conflict ("merge them"), or with `merge_same_fiscal_code` (and `p` surviving) merges `p` into that person, as a
    registration with it is (`insert_person`): her id is returned, else None."""
    if not changes:
        return None
    merging = merge_same_fiscal_code and p["merged_into"] is None and changes.get("fiscal_code_hash") is not None
    for attempt in range(1, 4):
        now, same = dict(changes), None
        if merging:
            # Locked as a registration locks her: her erasure at this moment is waited for, then she is not found.
            same = await conn.fetchval(_SAME_FISCAL_CODE, p["person_id"], p["city"], changes["fiscal_code_hash"])
            if same is not None:
                now["merged_into"] = same
        cols = list(now)
        sets = ", ".join(f"{c} = ${i + 2}" + ("::jsonb" if c == "identity" else "") for i, c in enumerate(cols))
        try:
            async with conn.transaction():  # a savepoint, to try again
                await conn.execute(f"update persons set {sets} where person_id = $1", p["person_id"], *now.values())
            break
        except asyncpg.UniqueViolationError as err:
            if err.constraint_name != FISCAL_CODE_INDEX:
                raise
            # The same fiscal code given to another person by a transaction that has now committed: the next
            # attempt finds her and merges into her.
            if not merging or attempt == 3:
                reason = "another person of the city has this fiscal code: merge them"
                raise Conflict("identity.fiscal_code", reason) from None
    if same is not None:
        await merge(conn, same, p["person_id"])  # her open duplicate flags with this record are settled too
    return same


async def partners_serving(conn: Conn, person_id: str) -> set[str]:
    """The partners with an open case on a household the person currently belongs to."""
    rows = await conn.fetch(
        "select distinct c.partner from cases c join household_members m using (household_id)"
        " where m.person_id = $1 and m.left_on is null and c.closed_on is null",
        person_id,
    )
    return {r["partner"] for r in rows}


async def consent(conn: Conn, person_id: str, purpose: str) -> bool:
    return bool(
        await conn.fetchval("select granted from consents where person_id = $1 and purpose = $2", person_id, purpose)
    )


async def record_consent(conn: Conn, person_id: str, purpose: str, granted: bool, on: date) -> None:
    """The state now (a consent recorded late, dated before the last one, does not replace it) and the history."""
    await conn.execute(
        "insert into consent_history (person_id, purpose, granted, recorded_on) values ($1, $2, $3, $4)",
        person_id,
        purpose,
        granted,
        on,
    )
    await conn.execute(
        "insert into consents values ($1, $2, $3, $4) on conflict (person_id, purpose)"
        " do update set granted = excluded.granted, recorded_on = excluded.recorded_on"
        " where consents.recorded_on <= excluded.recorded_on",
        person_id,
        purpose,
        granted,
        on,
    )


async def record_employment(conn: Conn, person_id: str, status: str, as_of: date, case_id: str | None) -> None:
    await conn.execute(
        "insert into employment values ($1, $2, $3, $4) on conflict (person_id, as_of)"
        " do update set status = excluded.status, case_id = excluded.case_id",
        person_id,
        as_of,
        status,
        case_id,
    )


# ---------------------------------------------------------------- households


async def household(conn: Conn, household_id: str, caller: Actor | None = None, *, lock: bool = False) -> Row:
    """`lock`: held until the transaction ends, so that two changes of the household's cases check one after the
    other (no key update: a row referring to the household may still be written meanwhile)."""
    sql = "select * from households where household_id = $1" + (" for no key update" if lock else "")
    return _household_of_city(await conn.fetchrow(sql, household_id), household_id, caller)


async def household_and_partners(conn: Conn, household_id: str, caller: Actor | None = None) -> tuple[Row, set[str]]:
    """The household (not locked) and the partners with an open case on it (`open_case_partners`), in one round
    trip."""
    row = await conn.fetchrow(
        "select h.*, array(select distinct partner from cases c where c.household_id = h.household_id"
        " and c.closed_on is null) as case_partners from households h where h.household_id = $1",
        household_id,
    )
    h = _household_of_city(row, household_id, caller)
    return h, set(h.pop("case_partners"))


def _household_of_city(row: Any, household_id: str, caller: Actor | None) -> Row:
    return of_city(row, caller, NotFound("household_id", f"no household {household_id}"))


async def open_case_partners(conn: Conn, household_id: str) -> set[str]:
    """The partners with an open case on the household."""
    rows = await conn.fetch(
        "select distinct partner from cases where household_id = $1 and closed_on is null", household_id
    )
    return {r["partner"] for r in rows}


# Who holds an id a create names (`lgnet_shared.access.id_taken`): the city and the actor it is whose (the partner
# who registered or formed it, the case's partner, the activity's organiser), by the id's field.
_HOLDERS = {
    "person_id": "select city, registered_by from persons where person_id = $1",
    "household_id": "select city, created_by from households where household_id = $1",
    "referral_id": "select r.city, h.created_by from referrals r join households h using (household_id)"
    " where r.referral_id = $1",
    "case_id": "select city, partner from cases where case_id = $1",
    "activity_id": "select city, coalesce(partner, created_by) from civic_activities where activity_id = $1",
    "session_id": "select a.city, coalesce(a.partner, a.created_by) from civic_sessions s"
    " join civic_activities a using (activity_id) where s.session_id = $1",
    "certificate_id": "select a.city, coalesce(a.partner, a.created_by) from civic_certificates c"
    " join civic_activities a using (activity_id) where c.certificate_id = $1",
    # outreach: a unit is its running partner's (else its creator's), an outing or a contact its recorder's, an
    # appointment its booker's
    "unit_id": "select city, coalesce(partner, created_by) from mobile_units where unit_id = $1",
    "outing_id": "select city, recorded_by from outings where outing_id = $1",
    "contact_id": "select city, recorded_by from street_contacts where contact_id = $1",
    "appointment_id": "select city, booked_by from appointments where appointment_id = $1",
}


async def id_holder(conn: Conn, field: str, object_id: str) -> tuple[str | None, str | None]:
    """(city, holder) of the object `field` = `object_id` names; (None, None) when none does (e.g. only an erased
    person's key is left under the id)."""
    row = await conn.fetchrow(_HOLDERS[field], object_id)
    return (row[0], row[1]) if row else (None, None)


async def household_exists(conn: Conn, household_id: str) -> bool:
    return bool(await conn.fetchval("select true from households where household_id = $1", household_id))


async def insert_household(
    conn: Conn, household_id: str, city: str, reference: str, by: str, members: list[str], on: date
) -> None:
    await _insert_once(
        conn,
        "household_id",
        "insert into households values ($1, $2, $3, $4)",
        household_id,
        city,
        reference,
        by,
    )
    await conn.executemany(
        "insert into household_members (household_id, person_id, joined_on, reason) values ($1, $2, $3, 'formed')",
        [(household_id, m, on) for m in members],
    )


async def current_members(conn: Conn, household_id: str) -> list[str]:
    rows = await conn.fetch(
        "select person_id from household_members where household_id = $1 and left_on is null", household_id
    )
    return [r["person_id"] for r in rows]


async def members_born(conn: Conn, household_id: str, on: date) -> list[tuple[str, date]]:
    """(person id, birth date) of the household's members on `on` (those who have not left before)."""
    rows = await conn.fetch(
        "select distinct m.person_id, p.birth_date from household_members m join persons p using (person_id)"
        " where m.household_id = $1 and (m.left_on is null or m.left_on >= $2) order by m.person_id",
        household_id,
        on,
    )
    return [(r["person_id"], r["birth_date"]) for r in rows]


async def cases_of_household(conn: Conn, household_id: str, *, since: date) -> list[tuple[str, date]]:
    """(case id, opening date) of the household's cases not closed before `since`."""
    rows = await conn.fetch(
        "select case_id, opened_on from cases where household_id = $1 and (closed_on is null or closed_on >= $2)"
        " order by case_id",
        household_id,
        since,
    )
    return [(r["case_id"], r["opened_on"]) for r in rows]


async def cases_of_person(conn: Conn, person_id: str) -> list[tuple[str, date]]:
    """(case id, opening date) of every case of every household the person has been a member of, as any of her
    records: a merge moves no membership, and a case of a merged record's household counts her too."""
    rows = await conn.fetch(
        "with recursive records(person_id) as ("
        " select $1::text union select p.person_id from persons p join records r on p.merged_into = r.person_id"
        ") select distinct c.case_id, c.opened_on from cases c join household_members m using (household_id)"
        " where m.person_id in (select person_id from records) order by c.case_id",
        person_id,
    )
    return [(r["case_id"], r["opened_on"]) for r in rows]


async def member_joined(conn: Conn, household_id: str, person_id: str, on: date, reason: str) -> None:
    """A membership from `on`; rejoining on the day the person joined and left reopens that membership (one per day
    joined: a second insert broke the key, and the partner's record was dead-lettered unanswered)."""
    await conn.execute(
        "insert into household_members (household_id, person_id, joined_on, reason) values ($1, $2, $3, $4)"
        " on conflict (household_id, person_id, joined_on) do update set left_on = null",
        household_id,
        person_id,
        on,
        reason,
    )


async def membership_days(conn: Conn, household_id: str, person_id: str) -> tuple[date | None, date | None]:
    """The day the person's current membership of the household began (None: not a member) and the day she last
    left it (None: never left)."""
    row = await conn.fetchrow(
        "select max(joined_on) filter (where left_on is null) as joined, max(left_on) as left"
        " from household_members where household_id = $1 and person_id = $2",
        household_id,
        person_id,
    )
    return (row["joined"], row["left"]) if row else (None, None)


async def member_left(conn: Conn, household_id: str, person_id: str, on: date) -> None:
    await conn.execute(
        "update household_members set left_on = $3 where household_id = $1 and person_id = $2 and left_on is null",
        household_id,
        person_id,
        on,
    )


async def reference_since(conn: Conn, household_id: str) -> date | None:
    """The day the household's reference person now was named (None: she has been since it formed)."""
    since: date | None = await conn.fetchval(
        "select max(named_on) from household_reference_changes where household_id = $1", household_id
    )
    return since


async def replaced_as_reference(conn: Conn, household_id: str, person_id: str) -> date | None:
    """The day another member was last named the household's reference person in this person's place (None:
    never)."""
    day: date | None = await conn.fetchval(
        "select max(named_on) from household_reference_changes where household_id = $1 and previous_person_id = $2",
        household_id,
        person_id,
    )
    return day


async def set_reference_person(
    conn: Conn, household_id: str, person_id: str, previous_person_id: str, reason: str, on: date
) -> None:
    """Another member is the household's reference person from `on`, the change kept for the cartella."""
    await conn.execute(
        "with change as (insert into household_reference_changes"
        " (household_id, person_id, previous_person_id, reason, named_on) values ($1, $2, $3, $4, $5))"
        " update households set reference_person_id = $2 where household_id = $1",
        household_id,
        person_id,
        previous_person_id,
        reason,
        on,
    )


# ---------------------------------------------------------------- referrals and cases


async def referral(conn: Conn, referral_id: str) -> Row | None:
    row = await conn.fetchrow("select * from referrals where referral_id = $1", referral_id)
    return dict(row) if row else None


async def insert_referral(conn: Conn, r: Row) -> None:
    await _insert_once(
        conn,
        "referral_id",
        "insert into referrals (referral_id, household_id, city, source, referrer, received_on)"
        " values ($1, $2, $3, $4, $5, $6)",
        r["referral_id"],
        r["household_id"],
        r["city"],
        r["source"],
        r["referrer"],
        r["received_on"],
    )


async def set_referral_outcome(conn: Conn, referral_id: str, outcome: str, case_id: str | None) -> None:
    await conn.execute(
        "update referrals set outcome = $2, case_id = $3 where referral_id = $1",
        referral_id,
        outcome,
        case_id,
    )


async def case(conn: Conn, case_id: str, caller: Actor | None = None) -> CaseState:
    return case_state(await case_row(conn, case_id, caller))


def case_state(row: Row) -> CaseState:
    """A `cases` row as the domain's case."""
    return CaseState(
        row["case_id"], row["city"], row["partner"], row["opened_on"], row["closed_on"], row["transferred_on"]
    )


async def case_row(conn: Conn, case_id: str, caller: Actor | None = None, *, lock: bool = False) -> Row:
    """`lock`: held until the transaction ends, so that two changes of one case (a closing, a plan's objective)
    each check and write what the other left."""
    sql = "select * from cases where case_id = $1" + (" for no key update" if lock else "")
    row = await conn.fetchrow(sql, case_id)
    return of_city(row, caller, NotFound("case_id", f"no case {case_id}"))


async def case_exists(conn: Conn, case_id: str) -> bool:
    return bool(await conn.fetchval("select true from cases where case_id = $1", case_id))


async def open_case_in_area(conn: Conn, household_id: str, action_area: str) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "select case_id from cases where household_id = $1 and action_area = $2 and closed_on is null",
        household_id,
        action_area,
    )


async def _insert_once(conn: Conn, field: str, sql: str, *args: Any) -> None:
    """`sql`, an insert whose key a concurrent transaction may have just taken (both having checked it free):
    then a 409 naming `field`, in a savepoint so that a batch of inbound records goes on. Said as an id the caller
    cannot use (`ID_TAKEN`): the one who took it may be another city's or partner's."""
    try:
        async with conn.transaction():
            await conn.execute(sql, *args)
    except asyncpg.UniqueViolationError:
        raise Conflict(field, ID_TAKEN) from None


async def insert_case(conn: Conn, c: Row) -> None:
    await _insert_once(
        conn,
        "case_id",
        "insert into cases (case_id, household_id, city, action_area, channel, partner, opened_on, housing_need)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8)",
        c["case_id"],
        c["household_id"],
        c["city"],
        c["action_area"],
        c["channel"],
        c["partner"],
        c["opened_on"],
        c["housing_need"],
    )


async def transfer_case(conn: Conn, case_id: str, to_partner: str, on: date) -> None:
    await conn.execute("update cases set partner = $2, transferred_on = $3 where case_id = $1", case_id, to_partner, on)


async def close_case(conn: Conn, case_id: str, outcome: str, on: date) -> None:
    await conn.execute("update cases set closed_on = $3, outcome = $2 where case_id = $1", case_id, outcome, on)


async def assessment(conn: Conn, case_id: str) -> Row | None:
    """The case's stored needs assessment (its body), if any."""
    body = await conn.fetchval("select body from assessments where case_id = $1", case_id)
    return dict(body) if body is not None else None


async def save_assessment(conn: Conn, case_id: str, body: Row, on: date) -> None:
    await conn.execute(
        "insert into assessments values ($1, $2::jsonb, $3) on conflict (case_id)"
        " do update set body = excluded.body, assessed_on = excluded.assessed_on",
        case_id,
        body,
        on,
    )


async def plan(conn: Conn, case_id: str, plan_id: str) -> Row | None:
    row = await conn.fetchrow("select * from plans where case_id = $1 and plan_id = $2", case_id, plan_id)
    return dict(row) if row else None


async def save_plan(conn: Conn, case_id: str, plan_id: str, objectives: dict[str, str], on: date) -> None:
    await conn.execute(
        "insert into plans values ($1, $2, $3::jsonb, $4) on conflict (case_id, plan_id)"
        " do update set objectives = excluded.objectives",
        case_id,
        plan_id,
        objectives,
        on,
    )
