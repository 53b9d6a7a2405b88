"""The printout handed to a person who asks who looked at her data (GDPR art. 15): the DPO's access log of the person
(`access_log.entries`, every source), each desk view one row with what the services read for it
(`domain.subject_access.folded`), and every operator it names by name — another city's too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import Services
from lgnet_desk.domain import subject_access
from lgnet_desk.domain.operators import Operator, OperatorRole
from lgnet_desk.service_layer import access_log


@dataclass
class Printout:
    rows: list[dict[str, Any]]
    unread: list[str]  # the services whose log could not be read (the page says so)
    by_username: dict[str, Operator] = field(default_factory=dict)  # every desk operator a row names
    by_actor: dict[str, Operator] = field(default_factory=dict)  # a staff operator a service's log names by her actor


async def printout(conn: Conn, services: Services, dpo: Operator, person_id: str) -> Printout:
    """The person's printout as `dpo` (her city's entries, and another city's refused attempts on its persons). The
    operators are read from the desk's own table whatever their city and whether still active: the page's names were
    the DPO's city's only, and another city's operator was printed by her account (a DPO's review)."""
    entries, unread = await access_log.entries(conn, services, dpo.city, person_id, None, limit=100_000)
    usernames = {str(e["operator"]) for e in entries if e["operator"]}
    actors = {str(e["actor"]) for e in entries if e["actor"]}
    named = await store.operators_named(conn, sorted(usernames), sorted(actors))
    by_username = {o.username: o for o in named if o.username in usernames}
    by_actor = {str(o.service_actor): o for o in named if o.service_actor in actors and o.role is OperatorRole.STAFF}
    actor_of = {o.username: o.service_actor for o in by_username.values()}
    return Printout(subject_access.folded(entries, actor_of), unread, by_username, by_actor)
