"""A minimal service built on the backbone, run as a real process by the outbox/inbox tests.

It consumes `lgnet.intake.employment_recorded` from the intake topic and records each application in
`applied`; `person_id == "poison"` always fails, to exercise retries and dead letters; `"stall"` fails as if the
database were gone (an infrastructure error: redelivered, never dead-lettered), to exercise stuck detection; a
`"fixable…"` one fails until a row of `fixed` names it (a cause an operator fixes, then re-drives the dead letter); a
`"typed…"` one passes its value where PostgreSQL expects a number (a handler's bug, whose error quotes the value).
Its own relay publishes what tests stage in its outbox.
"""

from __future__ import annotations

import asyncio

from lgnet_shared.consumer import handlers_of
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec, run


async def apply(conn: Conn, env: Envelope, event: Event) -> None:
    assert isinstance(event, EmploymentRecorded)
    if event.person_id == "poison":
        raise RuntimeError("this event always fails")
    if event.person_id == "stall":
        raise ConnectionResetError("simulated: the database went away")
    if event.person_id.startswith("typed"):
        await conn.fetchval("select $1::int", event.person_id)
    if event.person_id.startswith("fixable") and not await conn.fetchval(
        "select exists (select 1 from fixed where person_id = $1)", event.person_id
    ):
        raise RuntimeError("fails until an operator fixes its cause")
    await conn.execute("insert into applied (event_id, person_id) values ($1, $2)", env.id, event.person_id)
    await asyncio.sleep(0.001)  # widen the window in which a kill lands mid-batch


def consumers(_: Runtime) -> list[ConsumerSpec]:
    return [ConsumerSpec("probe", ["intake.events"], handlers_of((EmploymentRecorded, apply)))]


SPEC = ServiceSpec(
    name="probe",
    default_port=8099,
    migrations=[
        (
            "probe-1",
            "create table applied (seq bigserial primary key, event_id text not null, person_id text not null)",
        ),
        ("probe-2", "create table fixed (person_id text primary key)"),
    ],
    consumers=consumers,
)

if __name__ == "__main__":
    run(SPEC)
