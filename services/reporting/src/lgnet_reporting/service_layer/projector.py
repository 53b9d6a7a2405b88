"""The projections' consumer handler: the writes of a run of events applied in the consumer's transaction (with
their inbox records and log positions, so a redelivered event changes nothing and the positions always match the
tables). Projecting is pure, so a run's writes are applied together, in order, in a few round trips."""

from __future__ import annotations

from collections.abc import Sequence

from lgnet_shared.consumer import BatchHandler, Handler
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event

from lgnet_reporting.adapters import store
from lgnet_reporting.domain.projection import PROJECTORS, project

TOPICS = ("intake.events", "intake.special", "housing.events", "payments.events")


async def handle(conn: Conn, run: Sequence[tuple[Envelope, Event]]) -> None:
    await store.apply(conn, [w for env, event in run for w in project(env, event)])


def handlers() -> dict[str, Handler]:
    return dict.fromkeys(PROJECTORS, BatchHandler(handle))
