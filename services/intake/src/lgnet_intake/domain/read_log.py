"""The read log (the DPO's review of who read whose data through intake's API). Pure: what one entry says.

An entry names who read (the authenticated principal, its role, its partner, its city), what (the route's kind and
the id of the person shown — the surviving person when the caller named a registration merged into another, whose id
is then kept as `requested_id` —: never a name, a fiscal code or anything the answer held), when, and the outcome
(`shown`, or `denied` when intake refused the read). `via` is what the caller says it is (`desk` when the desk calls
with its operator's token, else `api`): a label for the DPO, never a reason to leave an entry out, since any caller
could claim it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lgnet_shared.access import Actor
from lgnet_shared.read_log_readers import via_of

Outcome = Literal["shown", "denied"]
# Each kind of read that returns a person's data, as the DPO's page names it.
KINDS = ("person", "record", "notes", "documents", "document", "search", "case", "street_person")
VIA = ("desk", "api")


@dataclass(frozen=True)
class Read:
    principal: str
    role: str
    partner: str | None
    city: str | None  # the principal's city (None: the national role)
    kind: str
    person_id: str
    outcome: Outcome
    via: str
    requested_id: str | None = None  # the id named, when it was a registration merged into `person_id`


def read_by(
    actor: Actor, kind: str, person_id: str, outcome: Outcome, client: str | None, requested_id: str | None = None
) -> Read:
    assert kind in KINDS, kind
    named = requested_id if requested_id != person_id else None
    return Read(actor.id, actor.role.value, actor.partner, actor.city, kind, person_id, outcome, via_of(client), named)
