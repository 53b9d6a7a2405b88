"""Read-only queries behind the desk's search and the cartella sociale (intake's own tables)."""

from __future__ import annotations

from typing import Any

from lgnet_shared.db import Conn

Row = dict[str, Any]


async def persons_of_city(conn: Conn, city: str, partner: str | None) -> list[Row]:
    """The city's living persons (not merged away, not erased); for a partner only those of its open cases, its own
    registrations merged into another party's record among them (it works on them under their own id:
    `Intake._own_registration`)."""
    sql = "select person_id, identity from persons p where city = $1 and erased_at is null"
    args: list[Any] = [city]
    if partner is None:
        sql += " and merged_into is null"
    else:
        sql += (
            " and (merged_into is null or registered_by = $2)"
            " and exists (select 1 from cases c join household_members m using (household_id)"
            " where m.person_id = p.person_id and m.left_on is null and c.partner = $2 and c.closed_on is null)"
        )
        args.append(partner)
    return [dict(r) for r in await conn.fetch(sql + " order by person_id", *args)]


async def persons_by_fiscal_hash(conn: Conn, city: str, fiscal_hash: str, partner: str | None) -> list[str]:
    """The city's living person with the fiscal code; for a partner also its own registrations with it merged into
    another party's record (`persons_of_city`)."""
    rows = await conn.fetch(
        "select person_id from persons where city = $1 and fiscal_code_hash = $2 and erased_at is null"
        " and (merged_into is null or registered_by = $3) order by created_at, person_id",
        city,
        fiscal_hash,
        partner,
    )
    return [r["person_id"] for r in rows]


async def members_of_case(conn: Conn, case_id: str) -> list[str]:
    rows = await conn.fetch(
        "select distinct m.person_id from cases c join household_members m using (household_id)"
        " where c.case_id = $1 and m.left_on is null order by m.person_id",
        case_id,
    )
    return [r["person_id"] for r in rows]


async def reference_of_case(conn: Conn, case_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "select h.reference_person_id from cases c join households h using (household_id) where c.case_id = $1",
        case_id,
    )
    return found


async def households_of_person(conn: Conn, person_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select distinct h.* from households h join household_members m using (household_id)"
        " where m.person_id = $1 order by h.household_id",
        person_id,
    )
    return [dict(r) for r in rows]


async def membership(conn: Conn, household_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select m.person_id, m.joined_on, m.left_on, m.reason, p.birth_date, p.sex from household_members m"
        " join persons p using (person_id) where m.household_id = $1 order by m.joined_on, m.person_id",
        household_id,
    )
    return [dict(r) for r in rows]


async def reference_changes(conn: Conn, household_id: str) -> list[Row]:
    """The household's changes of reference person, in the order they were made."""
    rows = await conn.fetch(
        "select person_id, previous_person_id, reason, named_on from household_reference_changes"
        " where household_id = $1 order by change_no",
        household_id,
    )
    return [dict(r) for r in rows]


async def cases_of(conn: Conn, household_ids: list[str]) -> list[Row]:
    rows = await conn.fetch(
        "select c.*, a.body as assessment, a.assessed_on from cases c left join assessments a using (case_id)"
        " where c.household_id = any($1::text[]) order by c.opened_on, c.case_id",
        household_ids,
    )
    return [dict(r) for r in rows]


async def plans_of(conn: Conn, case_ids: list[str]) -> list[Row]:
    rows = await conn.fetch("select * from plans where case_id = any($1::text[]) order by agreed_on, plan_id", case_ids)
    return [dict(r) for r in rows]


async def referrals_of(conn: Conn, household_ids: list[str]) -> list[Row]:
    rows = await conn.fetch(
        "select * from referrals where household_id = any($1::text[]) order by received_on, referral_id",
        household_ids,
    )
    return [dict(r) for r in rows]


async def consents_of(conn: Conn, person_id: str) -> list[Row]:
    rows = await conn.fetch("select * from consents where person_id = $1 order by purpose", person_id)
    return [dict(r) for r in rows]


async def consent_history_of(conn: Conn, person_id: str) -> list[Row]:
    """Every consent recorded for the person, in the order recorded (a day's in the order they came)."""
    rows = await conn.fetch(
        "select purpose, granted, recorded_on from consent_history where person_id = $1 order by recorded_on, seq",
        person_id,
    )
    return [dict(r) for r in rows]


async def employment_of(conn: Conn, person_id: str) -> list[Row]:
    rows = await conn.fetch("select * from employment where person_id = $1 order by as_of", person_id)
    return [dict(r) for r in rows]


async def registered_on(conn: Conn, person_id: str) -> Any:
    return await conn.fetchval("select created_at::date from persons where person_id = $1", person_id)
