"""Who may do what across a city (DESIGN section 5, "Tenancy and access"). Pure rules; every denial names its
reason. A service adds its own finer rules (intake: a partner acts only on cases assigned to it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lgnet_shared.errors import Conflict, Forbidden


class Role(StrEnum):
    PARTNER = "partner"
    STAFF = "staff"
    NATIONAL = "national"
    # Reads reporting's reports of every city, as of any date; never publishes, never drills down to ids or payments,
    # and is refused by every other service at authentication (`auth.authenticate`; docs/reporting.md, "Auditors").
    AUDITOR = "auditor"


# The roles of the whole programme: no city of their own (`Actor.city` None), read-only.
PROGRAMME_WIDE = frozenset({Role.NATIONAL, Role.AUDITOR})
AUDITOR_READS_REPORTS_ONLY = "the auditor role reads reports only (reporting's API), never a city's records"


@dataclass(frozen=True)
class Actor:
    id: str
    role: Role
    city: str | None  # None only for the programme-wide roles (national, auditor)

    @property
    def partner(self) -> str | None:
        return self.id if self.role is Role.PARTNER else None


def not_national(actor: Actor) -> None:
    """The national role and the auditor are read-only: refused by role (field "")."""
    if actor.role is Role.NATIONAL:
        raise Forbidden("", "the national role is read-only and sees aggregates only")
    if actor.role is Role.AUDITOR:
        raise Forbidden("", AUDITOR_READS_REPORTS_ONLY)


def may_write_in_city(actor: Actor, city: str, field: str = "city") -> None:
    not_national(actor)
    if actor.city != city:
        raise Forbidden(field, f"{actor.role.value} of {actor.city} cannot act in {city}")


def may_read_city(actor: Actor, city: str, field: str = "city") -> None:
    """Staff and partners read their own city; the national role reads every city's aggregates. The auditor reads no
    city's records (reporting's reports only: its own rules)."""
    if actor.role is Role.AUDITOR:
        raise Forbidden(field, AUDITOR_READS_REPORTS_ONLY)
    if actor.role is not Role.NATIONAL and actor.city != city:
        raise Forbidden(field, f"{actor.role.value} of {actor.city} cannot read {city}")


# A new object's id already taken by something the caller may not see (docs/partners.md, "Ids"): said alike for
# every kind and every holder, so that a create is no existence oracle for another city's or partner's data.
ID_TAKEN = "cannot be used: choose another id (a new UUID)"


def id_taken(actor: Actor, field: str, precise: str, holder_city: str | None, holder: str | None) -> Conflict:
    """The 409 for a create whose id is taken: `precise` ("person … is already registered") to the city's staff for an
    object of their city and to a partner for one it holds (`holder`: who registered or owns it); `ID_TAKEN` to
    anyone else — another city's staff or partner, another partner of the city — whatever holds the id and wherever
    (`holder_city` None: the id is held by nothing the caller could be told of, e.g. an erased person's key)."""
    theirs = actor.role is Role.STAFF or (actor.role is Role.PARTNER and holder == actor.id)
    return Conflict(field, precise if holder_city is not None and holder_city == actor.city and theirs else ID_TAKEN)
