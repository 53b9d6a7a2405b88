"""A read of a person's data, recorded in the read log (docs/operators.md, "Intake's read log").

A read that is answered is recorded in the read's own transaction: if the entry cannot be written, nothing is
answered. A refused read (403, or the 404 another city's person is answered with: `Elsewhere`) is recorded in a
transaction of its own after the read's is rolled back, then the refusal is answered. A read of something that does
not exist (404) or a malformed one (4xx) is no person's read and is not recorded. The national role is refused every
read here by role, before anything is looked up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from lgnet_shared.db import Conn
from lgnet_shared.errors import Forbidden, NotFound

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
    person `shown` finds in it (a search's results, a case's or a record's members). A person is logged under the id
    her data is answered under: a merged registration's id named is the surviving person's read (the DPO's query by
    her id finds it), the id named kept beside it (`requested_id`)."""
    try:
        async with conn.transaction():
            in_a_city(actor)
            result = await run()
            subject = await read_log.shown_as(conn, person_id) if person_id else None
            ids = shown(result) if shown is not None else [subject] if subject else []
            named = {subject: person_id}
            await read_log.record(conn, [read_by(actor, kind, p, "shown", client, named.get(p)) for p in ids])
    except (Forbidden, Elsewhere):
        if person_id:
            async with conn.transaction():
                subject = await read_log.shown_as(conn, person_id)
                await read_log.record(conn, [read_by(actor, kind, subject, "denied", client, person_id)])
        raise
    return result


async def logged_each(
    conn: Conn,
    actor: Actor,
    client: str | None,
    kind: str,
    person_ids: list[str],
    run: Callable[[str], Awaitable[T]],
) -> list[T]:
    """`run` of each of `person_ids`, in one transaction (`logged`'s, once per id, was a connection, a transaction and
    an insert each: up to a hundred a call), with `logged`'s read-log entries: each answered shown, each refused
    denied and left out, an id that exists nowhere left out unrecorded. The answers, in the order asked. `run` only
    reads, so a refusal leaves nothing of its own to roll back."""
    answers: list[T] = []
    outcomes: list[tuple[str, Literal["shown", "denied"]]] = []
    async with conn.transaction():
        in_a_city(actor)
        for person_id in person_ids:
            try:
                answers.append(await run(person_id))
                outcomes.append((person_id, "shown"))
            except (Forbidden, Elsewhere):
                outcomes.append((person_id, "denied"))
            except NotFound:
                continue
        subjects = await read_log.shown_as_each(conn, [p for p, _ in outcomes])
        reads = [read_by(actor, kind, subjects[p], outcome, client, p) for p, outcome in outcomes]
        await read_log.record(conn, reads)
    return answers
