"""Housing's state in PostgreSQL. Plain functions over an asyncpg connection inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from lgnet_shared import partner_sharing
from lgnet_shared.db import Conn
from lgnet_shared.errors import NotFound
from lgnet_shared.events.housing import HousingKind, SupportLevel

from lgnet_housing.domain.model import Household, Member, Opportunity
from lgnet_housing.domain.rules import CityRules

Row = dict[str, Any]
LIVE = ("proposed", "accepted", "placed")

# ---------------------------------------------------------------- people and households (from intake)


async def upsert_person(
    conn: Conn,
    person_id: str,
    household_id: str | None,
    birth_date: date | None,
    sex: str,
    languages: list[str],
    minor: bool | None = None,
) -> None:
    await conn.execute(
        "insert into persons (person_id, household_id, birth_date, sex, languages, minor)"
        " values ($1, $2, $3, $4, $5, $6)"
        " on conflict (person_id) do update set household_id = coalesce(excluded.household_id,"
        " persons.household_id), birth_date = excluded.birth_date, sex = excluded.sex, languages = excluded.languages,"
        " minor = excluded.minor",
        person_id,
        household_id,
        birth_date,
        sex,
        languages,
        minor,
    )


async def update_person(
    conn: Conn, person_id: str, birth_date: date | None, sex: str | None, minor: bool | None = None
) -> None:
    await conn.execute(
        "update persons set birth_date = coalesce($2, birth_date), sex = coalesce($3, sex),"
        " minor = coalesce($4, minor) where person_id = $1",
        person_id,
        birth_date,
        sex,
        minor,
    )


async def set_minors(conn: Conn, minors: dict[str, bool]) -> None:
    """Intake's word on who is a minor (at a case's opening): used for persons whose birth date is sealed."""
    if minors:
        await conn.execute(
            "update persons p set minor = m.minor from unnest($1::text[], $2::boolean[]) as m(person_id, minor)"
            " where p.person_id = m.person_id",
            list(minors),
            list(minors.values()),
        )


async def delete_person(conn: Conn, person_id: str) -> None:
    await conn.execute("delete from persons where person_id = $1", person_id)
    await partner_sharing.forget(conn, person_id)


async def not_shared(conn: Conn, household_ids: list[str]) -> set[str]:
    """Those of the households whose data a partner may not read: a member has not consented to sharing with
    partners (never, or withdrawn), or housing knows no members of it (nobody's consent to go by)."""
    rows = await conn.fetch(
        "select id from unnest($1::text[]) as x(id) where not exists (select 1 from households h where"
        " h.household_id = x.id and cardinality(h.member_ids) > 0 and not exists (select 1 from unnest(h.member_ids)"
        " as m(person_id) where not exists (select 1 from partner_sharing s where s.person_id = m.person_id"
        " and s.granted)))",
        list(dict.fromkeys(household_ids)),
    )
    return {r["id"] for r in rows}


async def record_erasure(conn: Conn, person_id: str, on: date) -> None:
    await conn.execute("insert into erased_persons values ($1, $2) on conflict (person_id) do nothing", person_id, on)


async def erased_member(conn: Conn, household_id: str, on_or_after: date | None = None) -> bool:
    """Whether a member of the household was erased (on or after the day given: a fact of that day or before
    is one of before the erasure)."""
    return bool(
        await conn.fetchval(
            "select exists(select 1 from erased_persons e join households h on e.person_id = any(h.member_ids)"
            " where h.household_id = $1 and ($2::date is null or e.erased_on >= $2))",
            household_id,
            on_or_after,
        )
    )


async def forget_needs(conn: Conn, household_id: str) -> None:
    """A member of the household was erased: its cases keep no detail of its needs assessments (special-category
    data: vulnerabilities, specialist support, accessibility, income, eviction), only that they were assessed."""
    await conn.execute(
        "update cases set vulnerabilities = '{}', specialist_support = false, accessibility_needs = false,"
        " eviction_date = null, monthly_income_cents = 0 where household_id = $1",
        household_id,
    )


async def explanations_of(conn: Conn, household_id: str) -> list[Row]:
    rows = await conn.fetch(
        "select match_id, explanation, score_breakdown from matches where household_id = $1", household_id
    )
    return [dict(r) for r in rows]


async def replace_explanation(conn: Conn, match_id: str, explanation: Any, breakdown: dict[str, float]) -> None:
    await conn.execute(
        "update matches set explanation = $2, score_breakdown = $3 where match_id = $1",
        match_id,
        explanation,
        breakdown,
    )


async def households_with(conn: Conn, person_id: str) -> list[str]:
    rows = await conn.fetch("select household_id from households where $1 = any(member_ids)", person_id)
    return [r["household_id"] for r in rows]


async def upsert_household(conn: Conn, household_id: str, city: str, member_ids: list[str]) -> None:
    await conn.execute(
        "insert into households (household_id, city, member_ids) values ($1, $2, $3)"
        " on conflict (household_id) do update set city = excluded.city, member_ids = excluded.member_ids",
        household_id,
        city,
        member_ids,
    )


async def change_member(conn: Conn, household_id: str, person_id: str, *, joined: bool) -> None:
    sql = (
        "update households set member_ids = array_append(array_remove(member_ids, $2), $2) where household_id = $1"
        if joined
        else "update households set member_ids = array_remove(member_ids, $2) where household_id = $1"
    )
    await conn.execute(sql, household_id, person_id)


async def replace_member(conn: Conn, merged: str, surviving: str) -> list[str]:
    rows = await conn.fetch(
        "update households set member_ids = array_append(array_remove(array_remove(member_ids, $1), $2), $2)"
        " where $1 = any(member_ids) returning household_id",
        merged,
        surviving,
    )
    return [r["household_id"] for r in rows]


# ---------------------------------------------------------------- cases


async def upsert_case(
    conn: Conn, case_id: str, household_id: str, city: str, partner: str, opened_on: date, housing_need: bool
) -> None:
    await conn.execute(
        "insert into cases (case_id, household_id, city, partner, opened_on, housing_need)"
        " values ($1, $2, $3, $4, $5, $6) on conflict (case_id) do nothing",
        case_id,
        household_id,
        city,
        partner,
        opened_on,
        housing_need,
    )


async def assess_case(conn: Conn, case_id: str, household_id: str, values: Row) -> None:
    """Needs may be assessed before the case reaches housing: keep them on a placeholder case row then."""
    await conn.execute(
        "insert into cases (case_id, household_id, city, partner, opened_on, housing_need)"
        " values ($1, $2, '', '', '1970-01-01', false) on conflict (case_id) do nothing",
        case_id,
        household_id,
    )
    await conn.execute(
        "update cases set assessed = true, monthly_income_cents = $2, accessibility_needs = $3,"
        " specialist_support = $4, eviction_date = $5, vulnerabilities = $6, housing_situation = $7"
        " where case_id = $1",
        case_id,
        values["monthly_income_cents"],
        values["accessibility_needs"],
        values["specialist_support"],
        values["eviction_date"],
        values["vulnerabilities"],
        values["housing_situation"],
    )


async def open_case_opened(
    conn: Conn, case_id: str, household_id: str, city: str, partner: str, on: date, need: bool
) -> None:
    """case_opened after a placeholder from needs_assessed: fill in what the opening says."""
    await conn.execute(
        "update cases set household_id = $2, city = $3, partner = $4, opened_on = $5, housing_need = $6"
        " where case_id = $1",
        case_id,
        household_id,
        city,
        partner,
        on,
        need,
    )


async def case(conn: Conn, case_id: str) -> Row | None:
    row = await conn.fetchrow("select * from cases where case_id = $1", case_id)
    return dict(row) if row else None


async def transfer_case(conn: Conn, case_id: str, partner: str) -> None:
    await conn.execute("update cases set partner = $2 where case_id = $1", case_id, partner)


async def close_case(conn: Conn, case_id: str, on: date) -> None:
    await conn.execute("update cases set closed_on = $2 where case_id = $1 and closed_on is null", case_id, on)


async def remove_from_list(conn: Conn, household_id: str, why: str) -> list[Row]:
    rows = await conn.fetch(
        "update cases set removed = $2 where household_id = $1 and closed_on is null and removed is null returning *",
        household_id,
        why,
    )
    return [dict(r) for r in rows]


async def housing_case(conn: Conn, household_id: str) -> Row | None:
    """The household's current case with a housing need (latest opened)."""
    row = await conn.fetchrow(
        "select c.*, h.member_ids from cases c left join households h using (household_id)"
        " where c.household_id = $1 and c.housing_need order by c.closed_on nulls first, c.opened_on desc limit 1",
        household_id,
    )
    return dict(row) if row else None


@dataclass(frozen=True)
class Candidate:
    """A household with an open housing case, and what (if anything) keeps it off the waiting list."""

    case: Row
    household: Household | None
    blocked: str | None  # None: waiting


async def members(conn: Conn, member_ids: list[str]) -> dict[str, Member]:
    rows = await conn.fetch("select * from persons where person_id = any($1)", member_ids)
    return {
        r["person_id"]: Member(r["person_id"], r["birth_date"], r["sex"], tuple(r["languages"]), minor=r["minor"])
        for r in rows
    }


def _household(case: Row, people: dict[str, Member]) -> Household:
    return Household(
        household_id=case["household_id"],
        case_id=case["case_id"],
        city=case["city"],
        partner=case["partner"],
        members=tuple(people[m] for m in case["member_ids"]),
        waiting_since=case["opened_on"],
        monthly_income_cents=case["monthly_income_cents"],
        accessibility_needs=case["accessibility_needs"],
        specialist_support=case["specialist_support"],
        eviction_date=case["eviction_date"],
        vulnerabilities=tuple(case["vulnerabilities"]),
        housing_situation=case["housing_situation"],
    )


async def candidates(conn: Conn, city: str, today: date, household_id: str | None = None) -> list[Candidate]:
    """Every household of the city with an open housing case (or just one), each waiting or blocked."""
    rows = await conn.fetch(
        "select distinct on (c.household_id) c.*, h.member_ids,"
        " (select until from holds p where p.household_id = c.household_id and p.until > $2) as parked_until,"
        " (select status from matches m where m.household_id = c.household_id"
        "   and m.status in ('proposed', 'accepted', 'placed')) as live_match"
        " from cases c left join households h using (household_id)"
        " where c.city = $1 and c.closed_on is null and c.housing_need and c.removed is null"
        " and ($3::text is null or c.household_id = $3)"
        " order by c.household_id, c.opened_on desc",
        city,
        today,
        household_id,
    )
    ids = sorted({m for r in rows for m in (r["member_ids"] or [])})
    people = await members(conn, ids)
    out = []
    for r in rows:
        case = dict(r)
        blocked = None
        if r["member_ids"] is None:
            blocked = "household_unknown: intake has not formed this household yet"
        elif any(m not in people for m in r["member_ids"]) or not r["member_ids"]:
            blocked = "composition_incomplete: some members' birth date and sex are not known yet"
        elif not r["assessed"]:
            blocked = "needs_not_assessed: the case has no needs assessment yet"
        elif r["parked_until"] is not None:
            blocked = f"parked: on hold until {r['parked_until']}"
        elif r["live_match"] is not None:
            blocked = f"has_match: the household already has a {r['live_match']} match"
        household = _household(case, people) if blocked is None or blocked.startswith(("parked", "has_")) else None
        out.append(Candidate(case, household, blocked))
    return out


async def candidate(conn: Conn, city: str, today: date, household_id: str) -> Candidate | None:
    found = await candidates(conn, city, today, household_id)
    return found[0] if found else None


# ---------------------------------------------------------------- opportunities


def opportunity_of(row: Row) -> Opportunity:
    return Opportunity(
        opportunity_id=row["opportunity_id"],
        city=row["city"],
        partner=row["partner"],
        kind=HousingKind(row["kind"]),
        capacity=row["capacity"],
        bedrooms=row["bedrooms"],
        accessible=row["accessible"],
        monthly_rent_cents=row["monthly_rent_cents"],
        available_from=row["available_from"],
        available_until=row["available_until"],
        support_level=SupportLevel(row["support_level"]),
        restrictions=frozenset(row["restrictions"]),
        area=row["area"],
        languages=frozenset(row["languages"]),
    )


OPPORTUNITY_FIELDS = (
    "city",
    "partner",
    "kind",
    "capacity",
    "bedrooms",
    "accessible",
    "monthly_rent_cents",
    "available_from",
    "available_until",
    "support_level",
    "restrictions",
    "area",
    "languages",
)


async def opportunity_holder(conn: Conn, opportunity_id: str) -> tuple[str | None, str | None]:
    """(city, owning partner) of the opportunity, or (None, None) (`lgnet_shared.access.id_taken`)."""
    row = await conn.fetchrow("select city, partner from opportunities where opportunity_id = $1", opportunity_id)
    return (row["city"], row["partner"]) if row else (None, None)


async def insert_opportunity(conn: Conn, opportunity_id: str, values: Row, listed_by: str, listed_on: date) -> bool:
    cols = ", ".join(OPPORTUNITY_FIELDS)
    marks = ", ".join(f"${i}" for i in range(2, len(OPPORTUNITY_FIELDS) + 2))
    n = len(OPPORTUNITY_FIELDS)
    status = await conn.execute(
        f"insert into opportunities (opportunity_id, {cols}, listed_by, listed_on)"
        f" values ($1, {marks}, ${n + 2}, ${n + 3}) on conflict do nothing",
        opportunity_id,
        *[values[f] for f in OPPORTUNITY_FIELDS],
        listed_by,
        listed_on,
    )
    return bool(status.endswith(" 1"))


def absent(field: str, id_: str) -> NotFound:
    """An opportunity, match or placement that does not exist, said one way (another city's is said so too)."""
    return NotFound(field, f"no {field.removesuffix('_id')} {id_}")


async def opportunity(conn: Conn, opportunity_id: str, *, lock: bool = False) -> Row:
    row = await conn.fetchrow(
        "select * from opportunities where opportunity_id = $1" + (" for update" if lock else ""), opportunity_id
    )
    if row is None:
        raise absent("opportunity_id", opportunity_id)
    return dict(row)


async def update_opportunity(conn: Conn, opportunity_id: str, changes: Row) -> None:
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
    await conn.execute(f"update opportunities set {sets} where opportunity_id = $1", opportunity_id, *changes.values())


async def withdraw_opportunity(conn: Conn, opportunity_id: str, reason: str) -> None:
    await conn.execute(
        "update opportunities set status = 'withdrawn', withdrawn_reason = $2 where opportunity_id = $1",
        opportunity_id,
        reason,
    )


async def opportunities(conn: Conn, city: str, status: str | None, partner: str | None) -> list[Row]:
    rows = await conn.fetch(
        "select o.*, (select m.status from matches m where m.opportunity_id = o.opportunity_id"
        " and m.status in ('proposed', 'accepted', 'placed')) as live_match"
        " from opportunities o where city = $1 and ($2::text is null or status = $2)"
        " and ($3::text is null or partner = $3) order by opportunity_id",
        city,
        status,
        partner,
    )
    return [dict(r) for r in rows]


async def open_opportunities(conn: Conn, city: str) -> tuple[list[Opportunity], dict[str, str]]:
    """The city's open opportunities, and which of them a live match holds (opportunity -> household)."""
    rows = await conn.fetch(
        "select o.*, (select m.household_id from matches m where m.opportunity_id = o.opportunity_id"
        " and m.status in ('proposed', 'accepted', 'placed')) as held_by"
        " from opportunities o where city = $1 and status = 'open' order by opportunity_id",
        city,
    )
    held = {r["opportunity_id"]: r["held_by"] for r in rows if r["held_by"] is not None}
    return [opportunity_of(dict(r)) for r in rows], held


async def occupied_opportunities(conn: Conn, city: str) -> frozenset[str]:
    """The city's opportunities a household has accepted or lives in (an accepted or placed match)."""
    rows = await conn.fetch(
        "select opportunity_id from matches where city = $1 and status in ('accepted', 'placed')", city
    )
    return frozenset(r["opportunity_id"] for r in rows)


# ---------------------------------------------------------------- matches


async def declined_pairs(conn: Conn, city: str) -> frozenset[tuple[str, str]]:
    rows = await conn.fetch(
        "select household_id, opportunity_id from matches where city = $1 and status = 'declined'", city
    )
    return frozenset((r["household_id"], r["opportunity_id"]) for r in rows)


async def insert_match(conn: Conn, values: Row) -> None:
    cols = list(values)
    await conn.execute(
        f"insert into matches ({', '.join(cols)}) values ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})",
        *values.values(),
    )


async def match(conn: Conn, match_id: str, *, lock: bool = False) -> Row:
    row = await conn.fetchrow(
        "select m.*, c.partner as case_partner, o.partner as opportunity_partner, o.kind"
        " from matches m join cases c using (case_id) join opportunities o using (opportunity_id)"
        " where m.match_id = $1" + (" for update of m" if lock else ""),
        match_id,
    )
    if row is None:
        raise absent("match_id", match_id)
    return dict(row)


async def live_match_of(conn: Conn, household_id: str) -> Row | None:
    row = await conn.fetchrow(
        "select match_id from matches where household_id = $1 and status in ('proposed', 'accepted', 'placed')",
        household_id,
    )
    return await match(conn, row["match_id"], lock=True) if row else None


async def live_match_on(conn: Conn, opportunity_id: str) -> Row | None:
    row = await conn.fetchrow(
        "select match_id from matches where opportunity_id = $1 and status in ('proposed', 'accepted', 'placed')",
        opportunity_id,
    )
    return await match(conn, row["match_id"], lock=True) if row else None


async def set_match(conn: Conn, match_id: str, **changes: Any) -> None:
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
    await conn.execute(f"update matches set {sets} where match_id = $1", match_id, *changes.values())


async def matches(
    conn: Conn, city: str, status: str | None, partner: str | None, household_id: str | None = None
) -> list[Row]:
    rows = await conn.fetch(
        "select m.*, c.partner as case_partner from matches m join cases c using (case_id)"
        " join opportunities o using (opportunity_id) where m.city = $1 and ($2::text is null or m.status = $2)"
        " and ($3::text is null or c.partner = $3 or o.partner = $3)"
        " and ($4::text is null or m.household_id = $4) order by m.proposed_on, m.match_id",
        city,
        status,
        partner,
        household_id,
    )
    return [dict(r) for r in rows]


async def open_reminders(conn: Conn, city: str, case_partner: str | None) -> list[Row]:
    """Matches reminded as stalled (match_stalled) whose step still waits: the step is unchanged (a step taken
    clears `stalled_step`) and, for a placement, no lease is signed. A partner: those of its own cases."""
    rows = await conn.fetch(
        "select m.match_id, m.household_id, m.case_id, m.opportunity_id, m.status, m.stalled_step, m.step_since,"
        " c.partner as case_partner from matches m join cases c using (case_id)"
        " where m.city = $1 and m.status in ('proposed', 'accepted', 'placed') and m.stalled_step is not null"
        " and ($2::text is null or c.partner = $2)"
        " and not exists (select 1 from placements p join leases l using (placement_id) where p.match_id = m.match_id)"
        " order by m.step_since, m.match_id",
        city,
        case_partner,
    )
    return [dict(r) for r in rows]


async def holds_ending(conn: Conn, city: str, case_partner: str | None, today: date, last: date) -> list[Row]:
    """Holds still on whose last day is by `last`, each with its household's open case (a partner: its own cases)."""
    rows = await conn.fetch(
        "select h.household_id, h.reason, h.until, c.case_id, c.partner as case_partner from holds h"
        " join cases c on c.household_id = h.household_id and c.closed_on is null"
        " where h.city = $1 and h.until > $3 and h.until <= $4 and ($2::text is null or c.partner = $2)"
        " order by h.until, h.household_id, c.case_id",
        city,
        case_partner,
        today,
        last,
    )
    return [dict(r) for r in rows]


async def waiting_steps(conn: Conn, city: str | None) -> list[Row]:
    """Matches waiting on a step, each with its case's partner (`case_partner`: who is reminded)."""
    rows = await conn.fetch(
        "select m.*, c.partner as case_partner from matches m left join cases c using (case_id)"
        " where m.status in ('proposed', 'accepted', 'placed')"
        " and ($1::text is null or m.city = $1) order by m.match_id",
        city,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- placements and leases


async def insert_placement(conn: Conn, values: Row) -> None:
    await insert(conn, "placements", values)


async def placement(conn: Conn, placement_id: str, *, lock: bool = False) -> Row:
    row = await conn.fetchrow(
        "select p.*, l.lease_id, c.partner as case_partner, o.partner as opportunity_partner"
        " from placements p left join leases l using (placement_id) join cases c using (case_id)"
        " join opportunities o using (opportunity_id) where p.placement_id = $1" + (" for update of p" if lock else ""),
        placement_id,
    )
    if row is None:
        raise absent("placement_id", placement_id)
    return dict(row)


async def placement_of_match(conn: Conn, match_id: str) -> Row | None:
    row = await conn.fetchrow("select placement_id from placements where match_id = $1", match_id)
    return await placement(conn, row["placement_id"]) if row else None


async def placement_view(conn: Conn, match_id: str) -> Row | None:
    """What a match's reader sees of its placement: its days, how it ended, the signed lease's terms (or None)."""
    row = await conn.fetchrow(
        "select p.placement_id, p.started_on, p.ended_on, p.end_reason, l.lease_id, l.lease_type,"
        " l.monthly_rent_cents, l.deposit_cents, l.start_date, l.end_date, l.signed_on"
        " from placements p left join leases l using (placement_id) where p.match_id = $1",
        match_id,
    )
    if row is None:
        return None
    terms = ("lease_id", "lease_type", "monthly_rent_cents", "deposit_cents", "start_date", "end_date", "signed_on")
    lease = {k: row[k] for k in terms} if row["lease_id"] else None
    return {k: row[k] for k in ("placement_id", "started_on", "ended_on", "end_reason")} | {"lease": lease}


async def lease_signed_on(conn: Conn, placement_id: str) -> date | None:
    """The day the placement's lease was signed, None before one is."""
    day: date | None = await conn.fetchval("select signed_on from leases where placement_id = $1", placement_id)
    return day


async def insert(conn: Conn, table: str, values: Row) -> None:
    cols = list(values)
    await conn.execute(
        f"insert into {table} ({', '.join(cols)}) values ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})",
        *values.values(),
    )


async def end_placement(conn: Conn, placement_id: str, reason: str, on: date) -> None:
    await conn.execute(
        "update placements set ended_on = $3, end_reason = $2 where placement_id = $1", placement_id, reason, on
    )


# ---------------------------------------------------------------- holds


async def park(conn: Conn, household_id: str, city: str, reason: str, until: date, by: str) -> None:
    await conn.execute(
        "insert into holds (household_id, city, reason, until, parked_by) values ($1, $2, $3, $4, $5)"
        " on conflict (household_id) do update set reason = excluded.reason, until = excluded.until,"
        " parked_by = excluded.parked_by",
        household_id,
        city,
        reason,
        until,
        by,
    )


async def hold(conn: Conn, household_id: str) -> Row | None:
    row = await conn.fetchrow("select * from holds where household_id = $1", household_id)
    return dict(row) if row else None


async def unpark(conn: Conn, household_id: str) -> None:
    await conn.execute("delete from holds where household_id = $1", household_id)


async def expired_holds(conn: Conn, city: str | None, today: date) -> list[Row]:
    rows = await conn.fetch(
        "select * from holds where until <= $2 and ($1::text is null or city = $1) order by household_id",
        city,
        today,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- rules


async def rules(conn: Conn, city: str) -> CityRules:
    raw = await conn.fetchval("select rules from city_rules where city = $1", city)
    return CityRules() if raw is None else CityRules.model_validate(raw)


async def rules_version(conn: Conn, city: str, *, lock: bool = False) -> int:
    """Times the city's rules were saved (0: the defaults, never saved)."""
    sql = "select version from city_rules where city = $1" + (" for update" if lock else "")
    return int(await conn.fetchval(sql, city) or 0)


async def save_rules(conn: Conn, city: str, rules: CityRules, by: str, if_version: int | None) -> int | None:
    """The rules saved, their new version; None when `if_version` is given and is not the recorded one. Two first
    saves at once both find no row: the second meets the first at the primary key, and its `where` finds 1."""
    if if_version is not None and if_version != await rules_version(conn, city, lock=True):
        return None
    version: int | None = await conn.fetchval(
        "insert into city_rules (city, rules, updated_by) values ($1, $2, $3) on conflict (city) do update"
        " set rules = excluded.rules, updated_by = excluded.updated_by, updated_at = now(),"
        " version = city_rules.version + 1 where $4::int is null or city_rules.version = $4 returning version",
        city,
        rules.model_dump(mode="json"),
        by,
        if_version,
    )
    return version
