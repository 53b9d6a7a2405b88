"""The civic engagement pages' reads of intake that take more than one call."""

from __future__ import annotations

import asyncio
from typing import Any

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.service_layer.desk import READS_AT_ONCE


async def register_of_session(
    services: Services, activity_id: str, session_id: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(the activity, the session, whoever attended its other sessions: a course's class, ready to tick, by id). The
    activity and the session side by side, then the other sessions' registers, at most `READS_AT_ONCE` at a time: a
    course of twenty sessions read nineteen registers one after another before the page showed."""
    activity, session = await asyncio.gather(
        services.get("intake", service_path("/civic/activities/{}", activity_id)),
        services.get("intake", service_path("/civic/activities/{}/sessions/{}", activity_id, session_id)),
    )
    others = [
        o["session_id"]
        for o in activity["session_list"]
        if o["session_id"] != session_id and (o["present"] or o["absent"])
    ]
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def register(other: str) -> list[dict[str, Any]]:
        async with gate:
            at = service_path("/civic/activities/{}/sessions/{}", activity_id, other)
            read: list[dict[str, Any]] = (await services.get("intake", at))["register"]
            return read

    registers = await asyncio.gather(*(register(o) for o in others))
    known = dict.fromkeys(m["person_id"] for r in registers for m in r)
    return activity, session, sorted(known)
