"""What waits in a service's outbox, and dropping a departed partner's answers without SQL by hand."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg
from lgnet_shared import admin, db, runtime_schema

WAITING = {  # the outbox keeps logical topics (the relay adds the deployment's prefix)
    "intake.events": 2,
    "partner.rejections.coop-aurora": 3,
    "partner.reminders.coop-aurora": 1,
    "partner.rejections.coop-boreas": 1,
}


async def _stage(database_url: str, schema: str) -> None:
    pool = await db.create_pool(database_url, schema)
    try:
        await db.migrate(pool, runtime_schema.OUTBOX)
        async with pool.acquire() as conn:
            for topic, n in WAITING.items():
                for i in range(n):
                    await conn.execute(
                        "insert into outbox (event_id, topic, key, value) values ($1, $2, 'k', 'sealed')",
                        f"{topic}-{i}",
                        topic,
                    )
    finally:
        await pool.close()


async def _left(database_url: str, schema: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return {r["topic"]: r["n"] for r in await conn.fetch("select topic, count(*) as n from outbox group by topic")}
    finally:
        await conn.close()


def said(capsys: Any) -> str:
    """What the command printed, without the JSON log lines a Kafka client another test left open in this worker may
    write meanwhile (a full run's worker: `{"event": …}` on stdout)."""
    return "\n".join(line for line in capsys.readouterr().out.splitlines() if not _a_log_line(line))


def _a_log_line(line: str) -> bool:
    try:
        parsed = json.loads(line)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "event" in parsed


def test_the_outbox_is_listed_per_topic_and_a_departed_partners_answers_are_dropped_alone(
    database_url: str, pg_schema: str, monkeypatch: Any, capsys: Any
) -> None:
    """operators.md told an operator whose relay holds a partner's answer topic (a partner gone from the programme) to
    delete that partner's rows from the schema's `outbox` table with SQL, by hand — where a wrong `where` drops facts
    the other services and the auditors need, and no command said what waited. `outbox` lists what waits, per topic;
    `drop-answers PARTNER --yes` deletes that partner's waiting answers and reminders, and nothing else."""
    monkeypatch.setitem(os.environ, "DATABASE_URL", database_url)
    asyncio.run(_stage(database_url, pg_schema))
    base = ["--schema", pg_schema]
    capsys.readouterr()
    assert admin.main([*base, "outbox", "--json"]) == 0
    listed = {r["topic"]: r for r in map(json.loads, said(capsys).splitlines())}
    assert {t: r["rows"] for t, r in listed.items()} == WAITING
    assert listed["intake.events"]["first_event_id"] == "intake.events-0"
    assert "sealed" not in json.dumps(listed)  # what is listed is where and since when, never a payload
    assert admin.main([*base, "outbox"]) == 0
    lines = said(capsys).splitlines()
    assert lines[0].split() == ["topic", "rows", "oldest", "first_event_id"] and len(lines) == 1 + len(WAITING)

    dropping = [*base, "drop-answers", "coop-aurora"]
    assert admin.main(dropping) == 0  # without --yes: says what it would drop, drops nothing
    assert "would drop 4" in capsys.readouterr().out
    assert asyncio.run(_left(database_url, pg_schema)) == WAITING
    assert admin.main([*dropping, "--yes"]) == 0
    assert "dropped 4" in capsys.readouterr().out
    assert asyncio.run(_left(database_url, pg_schema)) == {
        "intake.events": 2,
        "partner.rejections.coop-boreas": 1,
    }
    assert admin.main([*base, "drop-answers", "coop aurora!", "--yes"]) == 2
    assert "partner id 'coop aurora!'" in capsys.readouterr().err
