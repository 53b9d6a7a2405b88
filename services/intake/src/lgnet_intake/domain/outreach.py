"""Rules of street outreach (issue #19). Pure: no I/O.

- An outing lasts from its start to its end time, local; an end earlier than the start means past midnight (night
  units), so an outing is never longer than a day nor empty.
- A contact is made on the outing's day (or, past midnight, the day after) at one of the outing's places.
- A street person's first contact is the earliest of their contacts, whatever order they were recorded in; linking
  them to a registered person when taken in charge never changes it, and cannot be dated before it.
- A street person is linked to one person only (linking again to the same person changes nothing).
- A nickname is compared case- and space-insensitively (the unit writes it by hand, on the street).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from lgnet_shared.errors import Conflict, ContractError

MAX_NICKNAME = 60


def outing_minutes(start: time, end: time) -> int:
    """Length of an outing in minutes; an end before the start is on the next day."""
    if start == end:
        raise ContractError("end_time", "an outing must end after it starts")
    day = date(2000, 1, 1)
    length = datetime.combine(day, end) - datetime.combine(day, start)
    if length < timedelta(0):
        length += timedelta(days=1)
    return int(length.total_seconds() // 60)


def check_contact_on_outing(
    contacted_on: date, outing_on: date, overnight: bool, place: str, places: list[str]
) -> None:
    allowed = {outing_on, outing_on + timedelta(days=1)} if overnight else {outing_on}
    if contacted_on not in allowed:
        raise ContractError("contacted_on", f"the outing was on {outing_on.isoformat()}")
    if place not in places:
        raise ContractError("place", "is not one of the outing's places")


def nickname_key(nickname: str) -> str:
    """The nickname as compared: NFKC, case-folded, single spaces."""
    text = " ".join(unicodedata.normalize("NFKC", nickname).casefold().split())
    if not text:
        raise ContractError("nickname", "is empty")
    if len(text) > MAX_NICKNAME:
        raise ContractError("nickname", f"is longer than {MAX_NICKNAME} characters")
    return text


@dataclass(frozen=True)
class StreetPerson:
    """An unnamed person met by the units: their contacts so far and, once taken in charge, who they are."""

    street_id: str
    city: str
    first_contact_on: date
    person_id: str | None = None
    linked_on: date | None = None

    def contacted(self, on: date) -> StreetPerson:
        """A further contact: the first-contact date is the earliest ever seen."""
        return replace(self, first_contact_on=min(self.first_contact_on, on))

    def link(self, person_id: str, on: date) -> StreetPerson:
        """Taken in charge as `person_id` on `on`: the first contact stays what it was."""
        if self.person_id is not None and self.person_id != person_id:
            raise Conflict("contact_id", f"the street person is already linked to person {self.person_id}")
        if on < self.first_contact_on:
            raise ContractError("linked_on", f"is before the first contact ({self.first_contact_on.isoformat()})")
        if self.person_id == person_id:
            return self
        return replace(self, person_id=person_id, linked_on=on)

    def days_to_taking_in_charge(self) -> int | None:
        return None if self.linked_on is None else (self.linked_on - self.first_contact_on).days
