"""Who may do what (DESIGN section 5, "Tenancy and access"). Pure rules; every denial names its reason.

- A partner acts only in its own city and only on cases assigned to it.
- Staff act on every case of their city.
- The national role reads aggregates only: it never reads or changes a case.
The city-wide rules and the actor model are lgnet_shared.access, the same in every service.
"""

from __future__ import annotations

from lgnet_shared.access import Actor, Role, may_write_in_city
from lgnet_shared.errors import Forbidden

__all__ = ["Actor", "Role", "may_act_on_case", "may_read_person", "may_write_in_city"]


def may_act_on_case(actor: Actor, case_city: str, case_partner: str, field: str = "case_id") -> None:
    may_write_in_city(actor, case_city, field)
    if actor.role is Role.PARTNER and actor.id != case_partner:
        raise Forbidden(field, "the case is assigned to another partner")


def may_read_person(actor: Actor, person_city: str, assigned_partners: set[str], sharing_consent: bool) -> None:
    """A partner sees a person's data only for a case of its own, and only with consent to share with partners
    (staff of the city always, for the service the person consented to)."""
    may_write_in_city(actor, person_city, "person_id")
    if actor.role is Role.PARTNER:
        if actor.id not in assigned_partners:
            raise Forbidden("person_id", "no case of this person is assigned to this partner")
        if not sharing_consent:
            raise Forbidden("person_id", "the person has not consented to sharing data with partners")
