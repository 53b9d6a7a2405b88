"""The DPO's access log: the desk's own table, intake's, housing's and payments' read logs (`GET /read-log`:
payments' the reads of a request's payee) and payments' download log of its SEPA files (`GET /download-log`), the
services' with the DPO's read-log tokens; each found by a person's id (housing's and payments' by the members they
keep of the households read or paid)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services
from lgnet_desk.domain import access_log
from lgnet_desk.domain.operators import Operator

# The services' logs, each read with the DPO's read-log token of that service (kept under these names).
READ_LOGS = {"intake": "intake-read-log", "housing": "housing-read-log", "payments": "payments-read-log"}
PATHS = {"intake": ("/read-log",), "housing": ("/read-log",), "payments": ("/download-log", "/read-log")}
# A log a service older than it has not (payments before payments-21 kept no read log): none of its entries, not the
# service's logs unread.
NEWER = {("payments", "/read-log")}


async def entries(
    conn: Conn,
    services: Services,
    city: str,
    person_id: str | None,
    source: str | None,
    limit: int = 500,
    since: datetime | None = None,
    before: datetime | None = None,
    operator: Operator | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the rows, newest first, `since` (included) to `before` (not) when given; the services whose log could not be
    read — away, or no read-log token of the DPO's —, which the page says). Payments' log names files, each with the
    members of the households it pays; housing's names households and their members when read: an identifier is
    looked for there as either. `operator`: what she looked at — the desk's entries of hers, and the services'
    entries of her actor there (`principal`: a cooperative's operator's is the cooperative's; the DPO, who acts on
    no service, has none there)."""
    source = source if source in access_log.SOURCES else None
    username = operator.username if operator else None
    at_desk = source in (None, "desk")
    desk = await store.access_entries(conn, city, person_id, limit, since, before, username) if at_desk else []
    bounds = {k: v.isoformat() for k, v in (("since", since), ("before", before)) if v is not None}
    if operator is not None:
        if operator.service_actor is None:  # she reads no service: none of their entries are hers
            return access_log.merged(desk, {}, source)[:limit], []
        bounds["principal"] = operator.service_actor

    async def read(service: str) -> list[dict[str, Any]] | None:
        # housing's log is by household, each entry with its members when read: the identifier typed is looked for
        # as a household's and as a member's there (an id is one or the other: no entry comes twice)
        # (payments' read log too: by the household paid for and by its members when read)
        def keys(path: str) -> list[str]:
            by_household = person_id and (service == "housing" or (service, path) == ("payments", "/read-log"))
            return ["household_id", "person_id"] if by_household else ["person_id"]

        async def one(path: str, params: dict[str, Any]) -> Any:
            try:
                return await services.get(READ_LOGS[service], path, **params)
            except ServiceRefusal as refused:
                if (service, path) in NEWER and refused.status == 404:
                    return []
                raise

        asked = [
            (path, {"limit": limit, **({key: person_id} if person_id else {}), **bounds})
            for path in PATHS[service]
            for key in keys(path)
        ]
        try:
            answers = await asyncio.gather(*(one(path, p) for path, p in asked))
        except (ServiceRefusal, httpx.HTTPError):
            return None
        return [e for answer in answers for e in answer or []]

    wanted = [s for s in READ_LOGS if source in (None, s) and services.runs(s)]  # a service not run has no log
    read_now = dict(zip(wanted, await asyncio.gather(*(read(s) for s in wanted)), strict=True))
    logs = {s: rows for s, rows in read_now.items() if rows is not None}
    unread = [s for s, rows in read_now.items() if rows is None]
    return access_log.merged(desk, logs, source)[:limit], unread
