"""The projections' consumer handlers: each event's writes applied in the consumer's transaction (with its inbox
record and log position, so a redelivered event changes nothing and the positions always match the tables)."""

from __future__ import annotations

from lgnet_shared.consumer import Handler
from lgnet_shared.db import Conn
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event

from lgnet_reporting.adapters import store
from lgnet_reporting.domain.projection import PROJECTORS, project

TOPICS = ("intake.events", "housing.events", "payments.events")


async def handle(conn: Conn, env: Envelope, event: Event) -> None:
    await store.apply(conn, project(env, event))


def handlers() -> dict[str, Handler]:
    return dict.fromkeys(PROJECTORS, handle)
