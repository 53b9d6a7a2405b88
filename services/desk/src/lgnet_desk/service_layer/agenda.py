"""What the desk checks of an appointment before intake books or moves it: not on a past day, and for an operator
who is a desk user the booker may book for (intake knows operators only as names: an outside test booked one
nobody has)."""

from __future__ import annotations

from datetime import date

from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.domain.agenda import past_day
from lgnet_desk.domain.operators import Operator, may_book_for
from lgnet_desk.service_layer.desk import FieldErrors


async def check_booking(conn: Conn, booker: Operator, operator: str, day: str, today: date) -> None:
    """Raise FieldErrors on the form's `time` (the day is the agenda's) and `operator` fields."""
    errors: dict[str, str] = {}
    if refused := past_day(day, today):
        errors["time"] = refused
    found = await store.operator(conn, operator)
    if found is None or not may_book_for(booker, found[0]):  # one answer: no hint that the name exists elsewhere
        errors["operator"] = f"{operator} is not an operator of your city or cooperative"
    if errors:
        raise FieldErrors(errors)
