"""Who may do what across a city (DESIGN section 5, "Tenancy and access"). Pure rules; every denial names its
reason. A service adds its own finer rules (intake: a partner acts only on cases assigned to it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lgnet_shared.errors import Forbidden


class Role(StrEnum):
    PARTNER = "partner"
    STAFF = "staff"
    NATIONAL = "national"


@dataclass(frozen=True)
class Actor:
    id: str
    role: Role
    city: str | None  # None only for the national role

    @property
    def partner(self) -> str | None:
        return self.id if self.role is Role.PARTNER else None


def not_national(actor: Actor) -> None:
    """The national role is read-only: refused by role (field "")."""
    if actor.role is Role.NATIONAL:
        raise Forbidden("", "the national role is read-only and sees aggregates only")


def may_write_in_city(actor: Actor, city: str, field: str = "city") -> None:
    not_national(actor)
    if actor.city != city:
        raise Forbidden(field, f"{actor.role.value} of {actor.city} cannot act in {city}")


def may_read_city(actor: Actor, city: str, field: str = "city") -> None:
    """Staff and partners read their own city; the national role reads every city's aggregates."""
    if actor.role is not Role.NATIONAL and actor.city != city:
        raise Forbidden(field, f"{actor.role.value} of {actor.city} cannot read {city}")
