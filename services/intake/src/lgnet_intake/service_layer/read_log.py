"""A read of a person's data, recorded in the read log (docs/operators.md, "Intake's read log").

A read that is answered is recorded in the read's own transaction: if the entry cannot be written, nothing is
answered. A refused read (403, or the 404 another city's person is answered with: `Elsewhere`) is recorded in a
transaction of its own after the read's is rolled back, then the refusal is answered. A read of something that does
not exist (404) or a malformed one (4xx) is no person's read and is not recorded. The national role is refused every
read here by role, before anything is looked up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from lgnet_shared.db import Conn
from lgnet_shared.errors import Forbidden

from lgnet_intake.adapters import read_log
from lgnet_intake.domain.access import Actor, Elsewhere, in_a_city
from lgnet_intake.domain.read_log import read_by

T = TypeVar("T")


async def logged(
    conn: Conn,
    actor: Actor,
    client: str | None,
    kind: str,
    person_id: str | None,
    run: Callable[[], Awaitable[T]],
    shown: Callable[[T], list[str]] | None = None,
) -> T:
    """`run` over `conn` (no transaction open yet), its answer recorded as shown to `actor`: `person_id`'s, or each
    person `shown` finds in it (a search's results, a case's members)."""
    try:
        async with conn.transaction():
            in_a_city(actor)
            result = await run()
            ids = shown(result) if shown is not None else [person_id] if person_id else []
            await read_log.record(conn, [read_by(actor, kind, pid, "shown", client) for pid in ids])
    except (Forbidden, Elsewhere):
        if person_id:
            async with conn.transaction():
                await read_log.record(conn, [read_by(actor, kind, person_id, "denied", client)])
        raise
    return result
