"""The DPO's access log: the desk's own table and intake's read log (`GET /read-log`, the DPO's read-log token)."""

from __future__ import annotations

from typing import Any

import httpx
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain import access_log

READ_LOG = "intake-read-log"


async def entries(
    conn: Conn, services: Services, city: str, person_id: str | None, source: str | None, limit: int = 500
) -> tuple[list[dict[str, Any]], bool]:
    """(the rows, newest first; whether intake's read log was read: False when intake is away or the DPO has no
    read-log token, which the page says)."""
    source = source if source in access_log.SOURCES else None
    desk = await store.access_entries(conn, city, person_id, limit) if source != "intake" else []
    intake: list[dict[str, Any]] = []
    read = True
    if source != "desk":
        try:
            intake = await services.get(READ_LOG, "/read-log", person_id=person_id, limit=limit) or []
        except (ServiceRefusal, httpx.HTTPError):
            read = False
    return access_log.merged(desk, intake, source)[:limit], read
