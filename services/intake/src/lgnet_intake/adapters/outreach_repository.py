"""Intake's outreach state in PostgreSQL (units, outings, street persons and contacts, appointments, reminders).
Plain functions over an asyncpg connection inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.errors import NotFound

from lgnet_intake.domain.access import Actor, of_city
from lgnet_intake.domain.appointments import ANYONE, OperatorFilter, Slot
from lgnet_intake.domain.outreach import StreetPerson

Row = dict[str, Any]


async def _insert(conn: Conn, table: str, row: Row) -> bool:
    """Insert a row; False when its key is taken."""
    cols = list(row)
    values = ", ".join(f"${n}" for n in range(1, len(cols) + 1))
    status = await conn.execute(
        f"insert into {table} ({', '.join(cols)}) values ({values}) on conflict do nothing", *row.values()
    )
    return bool(status.endswith(" 1"))


# ---------------------------------------------------------------- units and outings


async def insert_unit(conn: Conn, row: Row) -> bool:
    return await _insert(conn, "mobile_units", row)


async def unit(conn: Conn, unit_id: str, field: str = "unit_id", caller: Actor | None = None) -> Row:
    row = await conn.fetchrow("select * from mobile_units where unit_id = $1", unit_id)
    return of_city(row, caller, NotFound(field, f"no mobile unit {unit_id}"))


async def units(conn: Conn, city: str) -> list[Row]:
    return [dict(r) for r in await conn.fetch("select * from mobile_units where city = $1 order by name", city)]


async def insert_outing(conn: Conn, row: Row) -> bool:
    return await _insert(conn, "outings", row)


async def outing(conn: Conn, outing_id: str, caller: Actor | None = None) -> Row:
    row = await conn.fetchrow("select * from outings where outing_id = $1", outing_id)
    return of_city(row, caller, no_outing(outing_id))


async def outings(conn: Conn, city: str, since: date, until: date, unit_id: str | None) -> list[Row]:
    rows = await conn.fetch(
        "select o.*, (select count(*) from street_contacts c where c.outing_id = o.outing_id) as contacts"
        " from outings o where o.city = $1 and o.on_date between $2 and $3 and ($4::text is null or o.unit_id = $4)"
        " order by o.on_date desc, o.start_time desc",
        city,
        since,
        until,
        unit_id,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- street persons and contacts


def _street(row: Any) -> StreetPerson:
    return StreetPerson(row["street_id"], row["city"], row["first_contact_on"], row["person_id"], row["linked_on"])


async def street_person_by_nickname(conn: Conn, city: str, nickname_hash: str) -> StreetPerson | None:
    """The street person of a nickname; locks the nickname until the transaction ends, so that two contacts of a new
    nickname recorded at once (two units, two partners) make one street person, not a duplicate-key error."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 19))", f"nickname:{city}:{nickname_hash}")
    row = await conn.fetchrow(
        "select * from street_persons where city = $1 and nickname_hash = $2 for update", city, nickname_hash
    )
    return _street(row) if row else None


async def street_person(
    conn: Conn, street_id: str, field: str = "street_id", caller: Actor | None = None, *, lock: bool = False
) -> StreetPerson:
    """`lock`: held until the transaction ends (two contacts or links of one street person at once)."""
    sql = "select * from street_persons where street_id = $1" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, street_id)
    return _street(of_city(row, caller, NotFound(field, f"no street person {street_id}")))


async def save_street_person(conn: Conn, sp: StreetPerson, nickname_hash: str | None, case_id: str | None) -> None:
    await conn.execute(
        "insert into street_persons (street_id, city, nickname_hash, first_contact_on, person_id, linked_on, case_id)"
        " values ($1, $2, $3, $4, $5, $6, $7) on conflict (street_id) do update set"
        " first_contact_on = excluded.first_contact_on, person_id = excluded.person_id,"
        " linked_on = excluded.linked_on, case_id = coalesce(excluded.case_id, street_persons.case_id),"
        " nickname_hash = coalesce(street_persons.nickname_hash, excluded.nickname_hash)",
        sp.street_id,
        sp.city,
        nickname_hash,
        sp.first_contact_on,
        sp.person_id,
        sp.linked_on,
        case_id,
    )


async def street_persons_of(conn: Conn, person_ids: list[str]) -> list[str]:
    """The street persons linked to these persons (their sealed nicknames are erased with them)."""
    rows = await conn.fetch("select street_id from street_persons where person_id = any($1::text[])", person_ids)
    return [r["street_id"] for r in rows]


async def cancel_coming_appointments(
    conn: Conn, person_ids: list[str], street_ids: list[str], after: datetime, reason: str
) -> list[str]:
    """Cancel the booked appointments of these persons and street persons that start after `after`; their ids."""
    rows = await conn.fetch(
        "update appointments set status = 'cancelled', cancel_reason = $4"
        " where status = 'booked' and starts_at > $3 and (person_id = any($1::text[]) or street_id = any($2::text[]))"
        " returning appointment_id",
        person_ids,
        street_ids,
        after,
        reason,
    )
    return sorted(r["appointment_id"] for r in rows)


async def forget_nickname(conn: Conn, street_id: str) -> None:
    await conn.execute("update street_persons set nickname_hash = null where street_id = $1", street_id)
    await conn.execute("update street_contacts set nickname = null where street_id = $1", street_id)


async def insert_contact(conn: Conn, row: Row) -> bool:
    return await _insert(conn, "street_contacts", row)


async def contact(conn: Conn, contact_id: str, field: str = "contact_id", caller: Actor | None = None) -> Row:
    row = await conn.fetchrow(
        "select c.*, o.unit_id from street_contacts c join outings o using (outing_id) where c.contact_id = $1",
        contact_id,
    )
    return of_city(row, caller, no_contact(field, contact_id))


async def contacts(conn: Conn, *, outing_id: str | None = None, street_id: str | None = None) -> list[Row]:
    rows = await conn.fetch(
        "select c.*, o.unit_id, s.first_contact_on, s.person_id, s.linked_on"
        " from street_contacts c join outings o using (outing_id) join street_persons s using (street_id)"
        " where ($1::text is null or c.outing_id = $1) and ($2::text is null or c.street_id = $2)"
        " order by c.contacted_on, c.contact_id",
        outing_id,
        street_id,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- appointments


async def lock_operator(conn: Conn, city: str, party: str | None, operator: str) -> None:
    """Serialise bookings of one operator (of the city's staff, `party` None, or of a partner) until the transaction
    ends (two at once cannot both find the time free). The key as JSON: a partner's id or operator value may hold
    any character, and no two (party, operator) pairs may meet in one key."""
    key = json.dumps(["agenda", city, party, operator])
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 19))", key)


def _slot(row: Any) -> Slot:
    return Slot(
        row["appointment_id"],
        row["operator"],
        row["starts_at"],
        row["ends_at"],
        row["status"],
        row["outcome"],
        row["booked_by"],
        row["operator_partner"],
    )


async def operator_agenda(
    conn: Conn, city: str, party: str | None, operator: str, starts_at: datetime, ends_at: datetime
) -> list[Slot]:
    """The booked appointments of one party's operator overlapping [starts_at, ends_at)."""
    rows = await conn.fetch(
        "select * from appointments where city = $1 and operator = $2 and operator_partner is not distinct from $5"
        " and status = 'booked' and starts_at < $4 and ends_at > $3",
        city,
        operator,
        starts_at,
        ends_at,
        party,
    )
    return [_slot(r) for r in rows]


async def insert_appointment(conn: Conn, row: Row) -> bool:
    return await _insert(conn, "appointments", row)


async def appointment(conn: Conn, appointment_id: str, caller: Actor | None = None, *, lock: bool = False) -> Row:
    """`lock`: held until the transaction ends (two changes of one appointment at once)."""
    sql = "select * from appointments where appointment_id = $1" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, appointment_id)
    return of_city(row, caller, NotFound("appointment_id", f"no appointment {appointment_id}"))


def slot_of(row: Row) -> Slot:
    return _slot(row)


async def update_appointment(conn: Conn, appointment_id: str, changes: Row) -> None:
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(changes, start=2))
    await conn.execute(f"update appointments set {sets} where appointment_id = $1", appointment_id, *changes.values())


# A partner's appointments: those it booked, those of its own operators (the city's staff may book them), those of
# its open cases' persons, those of a mobile unit it runs (the same rule for the agenda and the to-do list's
# reminders). `a` is the appointment, `u` its unit, `c` the case.
_PARTNERS = "(a.booked_by = {p} or a.operator_partner = {p} or c.partner = {p} or u.partner = {p})"
_CASE_OF_PERSON = (
    " left join mobile_units u on u.unit_id = a.unit_id"
    " left join lateral (select c.case_id, c.partner from household_members m join cases c using (household_id)"
    "   where m.person_id = a.person_id and m.left_on is null and c.closed_on is null"
    "   order by (c.partner = {p}) desc, c.opened_on desc, c.case_id limit 1) c on true"
)


# One party's operators (`party` None: the city's staff), or one of them (`operator`); `narrowed` false: anyone's.
_OPERATOR = (
    " and ({n}::bool is not true or (a.operator_partner is not distinct from {party}"
    " and ({op}::text is null or a.operator = {op})))"
)


async def in_partners_agenda(conn: Conn, appointment_id: str, partner: str) -> bool:
    """Whether the appointment is in `partner`'s agenda (`appointments_between`'s `partner`): it may read it."""
    found = await conn.fetchval(
        "select true from appointments a" + _CASE_OF_PERSON.format(p="$2")
        + " where a.appointment_id = $1 and " + _PARTNERS.format(p="$2"),
        appointment_id,
        partner,
    )  # fmt: skip
    return bool(found)


async def appointments_between(
    conn: Conn,
    city: str,
    starts: datetime,
    ends: datetime,
    whose: OperatorFilter = ANYONE,
    unit_id: str | None = None,
    partner: str | None = None,
) -> list[Row]:
    """A city's appointments starting in [starts, ends), by start time; `whose`: only those of one party's
    operator(s); `partner`: only that partner's."""
    rows = await conn.fetch(
        "select a.* from appointments a"
        + _CASE_OF_PERSON.format(p="$6")
        + " where a.city = $1 and a.starts_at >= $2 and a.starts_at < $3 and ($5::text is null or a.unit_id = $5)"
        + _OPERATOR.format(n="$7", party="$8", op="$4")
        + " and ($6::text is null or "
        + _PARTNERS.format(p="$6")
        + ")"
        " order by a.starts_at, a.appointment_id",
        city,
        starts,
        ends,
        whose.operator,
        unit_id,
        partner,
        whose.narrowed,
        whose.party,
    )
    return [dict(r) for r in rows]


async def reminder_sent(conn: Conn, appointment_id: str, starts_at: datetime, due_on: date) -> bool:
    """Record a reminder; False when this appointment was already reminded of this start time."""
    return await _insert(
        conn, "appointment_reminders", {"appointment_id": appointment_id, "starts_at": starts_at, "due_on": due_on}
    )


async def open_reminders(conn: Conn, city: str, partner: str | None, whose: OperatorFilter = ANYONE) -> list[Row]:
    """Appointments reminded of their current start time and still waiting: booked (not cancelled), no outcome
    recorded. Each with the open case of the person (if any) and its partner, the case's operator. `partner`: only
    those it booked, those of its own cases' persons, or those with contacts of a unit it runs; `whose`: only those
    of one party's operator(s)."""
    rows = await conn.fetch(
        "select a.appointment_id, a.city, a.agenda, a.operator, a.operator_partner, a.unit_id, a.person_id,"
        " a.street_id, a.purpose, a.starts_at, a.ends_at, a.booked_by, r.due_on, c.case_id,"
        " c.partner as case_partner, u.partner as unit_partner"
        " from appointment_reminders r join appointments a using (appointment_id, starts_at)"
        + _CASE_OF_PERSON.format(p="$2")
        + " where a.city = $1 and a.status = 'booked' and a.outcome is null"
        " and ($2::text is null or "
        + _PARTNERS.format(p="$2")
        + ")"
        + _OPERATOR.format(n="$4", party="$5", op="$3")
        + " order by r.due_on, a.starts_at, a.appointment_id",
        city,
        partner,
        whose.operator,
        whose.narrowed,
        whose.party,
    )
    return [dict(r) for r in rows]


async def reminder_partners(conn: Conn, appointment_id: str) -> list[Row]:
    """The partners an appointment's reminder concerns, each with its case of the person (if any): the partner of
    each open case of the person's households, the partner running the unit, and the partner that booked it."""
    rows = await conn.fetch(
        "with a as (select * from appointments where appointment_id = $1)"
        " select c.partner, min(c.case_id) as case_id from a join household_members m on m.person_id = a.person_id"
        "   join cases c using (household_id) where m.left_on is null and c.closed_on is null group by c.partner"
        " union select u.partner, null from a join mobile_units u using (unit_id) where u.partner is not null"
        " union select x.actor_id, null from a join actors x on x.actor_id = a.booked_by where x.role = 'partner'",
        appointment_id,
    )
    found: dict[str, Row] = {}
    for r in rows:  # a partner once, with its case when it has one
        if r["partner"] not in found or r["case_id"] is not None:
            found[r["partner"]] = dict(r)
    return [found[p] for p in sorted(found)]


def no_outing(outing_id: str) -> NotFound:
    """An outing id that exists nowhere: what another city's or another partner's outing is answered too."""
    return NotFound("outing_id", f"no outing {outing_id}")


def no_contact(field: str, contact_id: str) -> NotFound:
    return NotFound(field, f"no street contact {contact_id}")
