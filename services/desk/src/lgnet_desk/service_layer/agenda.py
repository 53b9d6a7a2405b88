"""What the desk checks of an appointment before intake books or moves it: not on a past day, and for an operator
who is a desk user the booker may book for (intake knows operators only as codes: an outside test booked one
nobody has); an outing's operators alike (one accepted "nessuno"). The operators are typed by username and sent as
their codes (domain/operators.py), never their usernames. Who is coming: a street contact (`ct-…`), or a person,
chosen from their cartella or typed by name (intake's search) or by identifier."""

from __future__ import annotations

from datetime import date

from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import Services
from lgnet_desk.domain.agenda import no_person_named, several_named, when_problem
from lgnet_desk.domain.operators import Operator, may_book_for
from lgnet_desk.service_layer import persons
from lgnet_desk.service_layer.desk import FieldErrors


async def check_booking(
    conn: Conn, booker: Operator, operator: str, day: str, time: str, today: date
) -> tuple[str, str | None]:
    """The code of the appointment's operator (`operator`: her username, typed) and whose operator she is (intake's
    `operator_partner`: her cooperative, None for the city's staff: her code is in its namespace, and her bookings
    clash with its own whoever books her), else FieldErrors on the form's `time` (the day is the agenda's: a day or a
    time that is none, a past day) and `operator` fields."""
    errors: dict[str, str] = {}
    if refused := when_problem(day, time, today):
        errors["time"] = refused
    found = await bookable(conn, booker, [operator])
    if isinstance(found, str):
        errors["operator"] = found
    if errors or isinstance(found, str):
        raise FieldErrors(errors)
    assert found[0].code is not None
    return found[0].code, found[0].partner


async def whose_agenda(conn: Conn, reader: Operator, username: str) -> dict[str, str]:
    """What to ask intake for one operator's agenda (`username`, typed): her code and her party, since an operator
    value names an operator within her party (`operator_partner`: her cooperative; none for the city's staff), else
    FieldErrors on `operator` (a desk user `reader` may name, as for a booking)."""
    found = await bookable(conn, reader, [username])
    if isinstance(found, str):
        raise FieldErrors({"operator": found})
    assert found[0].code is not None
    return {"operator": found[0].code} | ({"operator_partner": found[0].partner} if found[0].partner else {})


async def check_outing_staff(conn: Conn, recorder: Operator, staff: list[str], field: str = "staff") -> list[str]:
    """An outing's operators (or a civic session's facilitators, `field`), as an appointment's: the codes of desk
    users the recorder may name (FieldErrors on `field`; a facilitator typed wrong was recorded as who ran the
    session)."""
    codes = await operator_codes(conn, recorder, staff)
    if isinstance(codes, str):
        raise FieldErrors({field: codes})
    return codes


async def operator_codes(conn: Conn, booker: Operator, usernames: list[str]) -> list[str] | str:
    """The codes of the operators `usernames` names, each a desk user `booker` may name (of the city; a cooperative's
    operator: of its own cooperative; not the DPO), else the refusal of the first who is not."""
    found = await bookable(conn, booker, usernames)
    return found if isinstance(found, str) else [o.code for o in found if o.code is not None]


async def bookable(conn: Conn, booker: Operator, usernames: list[str]) -> list[Operator] | str:
    """The operators `usernames` names, each a desk user with a code `booker` may name, else the refusal of the
    first who is not."""
    operators = []
    for username in usernames:
        found = await store.operator(conn, username)
        if found is None or not may_book_for(booker, found[0]) or found[0].code is None:
            return f"{username} is not an operator of your city or cooperative"  # no hint it exists elsewhere
        operators.append(found[0])
    return operators


async def party(services: Services, typed: str) -> dict[str, str | None]:
    """Who the appointment is with, from what the operator typed: a street contact's identifier (`ct-…`), else a person
    (`persons.typed`; a tester typed "Fatima El Amrani" and intake refused it as an identifier, in English). A name of
    several persons, or that names nobody, is refused at the field saying how to proceed: from the person's
    cartella."""
    if typed.startswith("ct-"):
        return {"contact_id": typed}
    return {"person_id": await persons.typed(services, typed, "party", no_person_named, several_named) or None}


def said_for_the_party(errors: dict[str, str], typed: str) -> dict[str, str]:
    """Intake's "no person <id>" for what the operator typed, said as a name that names nobody (typed, it may be a
    one-word name as well as a wrong identifier); other refusals as they are."""
    if typed and errors.get("party", "").startswith("no person "):
        return errors | {"party": no_person_named(typed)}
    return errors
