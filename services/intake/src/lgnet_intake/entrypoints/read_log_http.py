"""`GET /read-log`: the read log of a city, for its data-protection officer (through the desk's "Registro degli
accessi"). Authenticated by a read-log token (`lgnet-intake-admin issue-read-log-token`), not an actor's: it opens
this route only, and no actor's token opens it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from lgnet_shared.auth import Before, LogLimit, LogPrincipal, LogSubject, ReaderCity, Since
from lgnet_shared.http import problem_responses
from lgnet_shared.service import Runtime
from pydantic import BaseModel, Field

from lgnet_intake.adapters import read_log


class ReadLogEntry(BaseModel):
    """One read of a person's data through intake's API: ids, never names."""

    at: datetime
    principal: str = Field(description="The actor whose token read: a partner's id, a staff actor (desk.op-…)")
    principal_name: str | None = Field(description="Its name in intake (`lgnet-admin add-actor --name`)")
    role: str
    partner: str | None
    city: str | None = Field(description="The principal's city (null: the national role)")
    person_id: str = Field(
        description="The person read: the one whose data was answered (a street person's id for kind street_person)"
    )
    requested_id: str | None = Field(
        default=None,
        description="The id the caller named, when it was a registration merged into person_id (else null)",
    )
    kind: str = Field(description="person, record, notes, documents, document, search, case, street_person")
    outcome: str = Field(description="shown, or denied (intake refused the read)")
    via: str = Field(description="desk (the desk said it called) or api")


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["intake: read log"], responses=problem_responses())

    @api.get(
        "/read-log",
        summary="The city's read log (DPO): who read whose data through the API, newest first",
        responses={200: {"model": list[ReadLogEntry], "description": "Newest first"}},
    )
    async def read_log_entries(
        city: ReaderCity,
        person_id: LogSubject = None,
        principal: LogPrincipal = None,  # "what did this operator look at?"
        limit: LogLimit = 500,
        since: Since = None,
        before: Before = None,
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            rows = await read_log.entries(conn, city, person_id or None, limit, since, before, principal or None)
        return [{**r, "at": r["at"].isoformat()} for r in rows]

    return api
