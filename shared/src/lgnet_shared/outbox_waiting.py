"""What waits in a service's outbox, for its operators (`lgnet-admin outbox`, `drop-answers`): without the relay's
Kafka runtime or the event catalogue, which an admin command does not load (outbox.py has both)."""

from __future__ import annotations

from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.topics import TOPICS, for_partner


async def waiting(conn: Conn) -> list[dict[str, Any]]:
    """What the relay has not published yet, per topic, the first-staged topic first: how many rows, since when, and
    the first one's event id (the one the relay sends next) — where and since when, never a payload. `waited_s`: the
    oldest row's age by the database's clock, the one that wrote `created_at` (a service host's clock may be off)."""
    rows = await conn.fetch(
        "select topic, count(*) as rows, min(created_at) as oldest,"
        " extract(epoch from statement_timestamp() - min(created_at))::float8 as waited_s,"
        " (array_agg(event_id order by seq))[1] as first_event_id from outbox group by topic order by min(seq)"
    )
    return [dict(r) for r in rows]


def partner_topics(partner: str) -> list[str]:
    """The topics only that partner reads (its answers, its reminders), logical as the outbox keeps them: ValueError
    for an id no topic can have."""
    return [for_partner(t.name, partner) for t in TOPICS.values() if t.per_partner]


async def drop_waiting(conn: Conn, topics: list[str]) -> dict[str, int]:
    """Deletes the rows waiting for `topics`, which will never be published; how many, per topic. A row the relay is
    sending at that moment is published once (the relay deletes what it published)."""
    rows = await conn.fetch(
        "with gone as (delete from outbox where topic = any($1::text[]) returning topic)"
        " select topic, count(*) as n from gone group by topic order by topic",
        topics,
    )
    return {r["topic"]: r["n"] for r in rows}
