"""What a copy of a service's database holds: a data-protection review reads the tables, not the answers."""

from __future__ import annotations

from typing import Any


async def everything_in(conn: Any) -> str:
    """Every row of every table of the connection's schema, one JSON text per row."""
    tables = await conn.fetch(
        "select table_name from information_schema.tables where table_schema = current_schema()"
        " and table_type = 'BASE TABLE'"
    )
    texts = []
    for t in tables:
        rows = await conn.fetch(f'select row_to_json(x)::text as j from "{t["table_name"]}" x')
        texts += [r["j"] for r in rows]
    return "\n".join(texts)
