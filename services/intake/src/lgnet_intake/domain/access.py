"""Who may do what (DESIGN section 5, "Tenancy and access"). Pure rules; every denial names its reason.

- A partner acts only in its own city and only on cases assigned to it.
- A partner acts on a household only while it has an open case on it, or — before anyone has a case on it — when
  it formed the household itself. It opens a case only on such a household: when another partner already has an
  open case on the household, only the city's staff can assign it a further case (or transfer the case).
- The same holds for a person's data: a partner writes it while it has an open case on the person's household, or
  — while no partner has one — when it registered the person.
- Staff act on every case of their city.
- Whose a new thing is (an activity's organiser, the operator an appointment is with): a partner's is its own, and it
  may name no other party; the city's staff act for the city (none named) or name one of the city's partners
  (`party_of`).
- The national role reads aggregates only: it never reads or changes a case. It is refused by role (`in_a_city`)
  before anything it names is looked up.
- Another city's person, case, household or any object is answered as one that exists nowhere (`of_city`): the
  same 404, field and reason (docs/partners.md, "What is not yours"). So is, to a partner, what another partner of
  the city holds and it has no hand in (`not_theirs`): a 403 "the case is assigned to another partner" told it which
  of the others' ids exist. A partner that registered or formed the thing knows it exists: it keeps the precise 403.
The city-wide rules and the actor model are lgnet_shared.access, the same in every service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lgnet_shared.access import Actor, Role, may_write_in_city, not_national
from lgnet_shared.errors import Forbidden, NotFound

__all__ = [
    "Actor",
    "Elsewhere",
    "Role",
    "in_a_city",
    "may_act_on_case",
    "may_act_on_household",
    "may_open_case",
    "may_read_person",
    "may_write_in_city",
    "not_theirs",
    "of_city",
    "on_own_registration",
    "party_of",
    "told_of_a_fiscal_code_on_file",
]


def party_of(actor: Actor, named: str | None, field: str) -> str | None:
    """The party a new thing belongs to: a partner, its own (naming another at `field` is refused); the city's
    staff, the partner `named` (the caller checks it is one of the city's) or, none named, the city (None)."""
    if actor.role is Role.PARTNER:
        if named not in (None, actor.id):
            raise Forbidden(field, "a partner acts for itself only")
        return actor.id
    return named


class Elsewhere(NotFound):
    """Another city's object, answered word for word as an id that exists nowhere (404, its `field` and `reason`): a
    403 "staff of trieste cannot act in torino" told a caller of another city that the id exists, and where. It is a
    refusal all the same: the read log keeps it as one (`denied`), which the caller never sees."""


def of_city(row: Mapping[str, Any] | None, caller: Actor | None, absent: NotFound) -> dict[str, Any]:
    """`row`, found by an id `caller` named, if there is one and it is of the caller's city; else `absent` (the error
    of an id that exists nowhere), for another city's row too — and for every row to the national role, which has
    no city (its routes refuse it by role before any lookup: `in_a_city`). `caller` None: the service's own lookup."""
    if row is None:
        raise absent
    if caller is not None and row["city"] != caller.city:
        raise Elsewhere(absent.field, absent.reason)
    return dict(row)


def not_theirs(absent: NotFound) -> Elsewhere:
    """What a partner may not see, answered word for word as `absent` (the error of an id that exists nowhere)."""
    return Elsewhere(absent.field, absent.reason)


def in_a_city(actor: Actor) -> None:
    """The national role is refused by role (403, field "") before anything it names is looked up: a 403 for an id
    that exists and a 404 for one that does not told it which ids exist. Every route of intake but the city's partner
    list (`GET /partners`) refuses it so."""
    not_national(actor)


def may_act_on_case(actor: Actor, case_city: str, case_partner: str, absent: NotFound) -> None:
    """`absent`: the case's error as an id that exists nowhere, what another partner is answered."""
    may_write_in_city(actor, case_city, absent.field)
    if actor.role is Role.PARTNER and actor.id != case_partner:
        raise not_theirs(absent)


def may_read_person(
    actor: Actor,
    person_city: str,
    assigned_partners: set[str],
    sharing_consent: bool,
    absent: NotFound,
    registered_by: str | None = None,
) -> None:
    """A partner sees a person's data only for a case of its own, and only with consent to share with partners (staff
    of the city always, for the service the person consented to). Without a case of its own: the partner that
    registered the person (`registered_by`) knows she exists and is told why (403); any other, `absent` (as an
    unknown id)."""
    may_write_in_city(actor, person_city, "person_id")
    if actor.role is Role.PARTNER:
        if actor.id not in assigned_partners:
            if registered_by != actor.id:
                raise not_theirs(absent)
            if assigned_partners:
                raise Forbidden("person_id", "the person's case is assigned to another partner")
            raise Forbidden(
                "person_id",
                "no case of yours on the person's household yet: a partner reads a person's data for"
                " its own case, with her consent to sharing",
            )
        may_correct_person(sharing_consent)


def may_correct_person(sharing_consent: bool) -> None:
    """A partner serving a person reads and corrects her data only with her consent to sharing with partners."""
    if not sharing_consent:
        raise Forbidden("person_id", "the person has not consented to sharing data with partners")


def may_act_on_household(actor: Actor, city: str, formed_by: str, case_partners: set[str], absent: NotFound) -> None:
    """`case_partners`: the partners with an open case on the household. A partner that neither serves nor formed
    it is answered `absent` (as an unknown id)."""
    may_write_in_city(actor, city, absent.field)
    if actor.role is not Role.PARTNER or actor.id in case_partners:
        return
    if formed_by != actor.id:
        raise not_theirs(absent)
    if case_partners:
        raise Forbidden(absent.field, "the household's case is assigned to another partner")


def may_open_case(actor: Actor, city: str, formed_by: str, case_partners: set[str], absent: NotFound) -> None:
    """A partner opens a case on a household it may act on (see `may_act_on_household`); when another partner has
    an open case on it, only staff can assign one more (a second partner is the city's decision)."""
    may_write_in_city(actor, city, absent.field)
    if actor.role is not Role.PARTNER:
        return
    if actor.id not in case_partners and formed_by != actor.id:
        raise not_theirs(absent)
    if case_partners - {actor.id}:
        raise Forbidden(
            absent.field, "another partner has an open case on this household: the city's staff assign cases"
        )
    may_act_on_household(actor, city, formed_by, case_partners, absent)


def on_own_registration(actor: Actor, registered_by: str, survivor_is_theirs: bool) -> bool:
    """Whether `actor`, naming a registration (`registered_by`) merged into another record of the person (the survivor,
    `survivor_is_theirs`: it registered or serves her), acts on that registration itself rather than on the survivor:
    a partner that registered it and has no hand in the survivor works on its own registration under its own id, as
    if nothing were on file. Its answers never depend on what other parties hold of her (a 404 for the id it had just
    registered told it her fiscal code was on file), and it reaches only what it sent and recorded itself."""
    return actor.role is Role.PARTNER and registered_by == actor.id and not survivor_is_theirs


def told_of_a_fiscal_code_on_file(actor: Actor) -> bool:
    """Whether a correction giving a person a fiscal code another person of the city has is refused saying so (409
    "merge them"): to the city's staff, who merge. A partner's is taken as a registration with that code is (the two
    merged), answered as any correction: the 409 told it the code was on file under another partner."""
    return actor.role is not Role.PARTNER
