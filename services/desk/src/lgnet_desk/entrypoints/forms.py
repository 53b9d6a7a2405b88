"""Reading the desk's HTML form posts (shared by every screen's routes)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, Request
from lgnet_shared.storable import text_problem

from lgnet_desk.domain.days import TIME_FIELDS, clock_time, is_day_field, iso_day

__all__ = ["is_day_field"]  # the desk's date fields' names, as its templates' test reads them

UNSTORABLE = "unstorable"  # the HTTPException's detail: the desk's page says what it means (422)


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields as text (the last value of a repeated field; lists: `request.form().getlist`); a field
    holding what PostgreSQL cannot store (NUL) is refused (422)."""
    form = await request.form()
    storable((k, v) for k, v in form.multi_items() if isinstance(v, str))
    return as_days({k: str(v) for k, v in form.items()})


def as_days(fields: dict[str, str]) -> dict[str, str]:
    """A form's fields with each day typed `gg/mm/aaaa` as an ISO date (`days.iso_day`), each time as `HH:MM`."""
    return {k: iso_day(v) if is_day_field(k) else clock_time(v) if k in TIME_FIELDS else v for k, v in fields.items()}


def storable(fields: Iterable[tuple[str, str]]) -> None:
    """The storage rule of the services (`lgnet_shared.storable`) for the desk's own inputs: an address's or a form's
    text with a NUL character (or an unpaired surrogate) reached the desk's tables (the access log, a login, an
    appointment's operator) and answered 500; it is refused, 422, before anything is read or written."""
    for name, value in fields:
        if text_problem(name) or text_problem(value):
            raise HTTPException(422, UNSTORABLE)


def whole_number(text: str) -> int | str:
    """A form's whole number as the JSON integer the services require (they refuse `"80"`); anything else as typed,
    so that the service's refusal names the field."""
    text = text.strip()
    return int(text) if text.isdigit() else text
