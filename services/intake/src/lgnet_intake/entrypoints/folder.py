"""Intake's read API for the desk: find a person, read the cartella sociale. Same authorisation as
`GET /persons/{id}` for every person shown (see service_layer/folder.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from lgnet_shared import pii
from lgnet_shared.auth import Who
from lgnet_shared.http import problem_responses
from lgnet_shared.service import Runtime

from lgnet_intake.service_layer.folder import Folder
from lgnet_intake.service_layer.handlers import Context, Intake


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["intake: desk reads"], responses=problem_responses())

    def fiscal_secret() -> bytes:
        return pii.derive(runtime.settings.master_key_bytes(), "fiscal-code-hash")

    @api.get("/persons", summary="Find persons by name (fuzzy, accent-insensitive), fiscal code or case number")
    async def find_persons(
        actor: Who,
        name: Annotated[str | None, Query(max_length=200)] = None,
        fiscal_code: Annotated[str | None, Query(max_length=32)] = None,
        case_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[dict[str, Any]]:
        async with runtime.pool.acquire() as conn, conn.transaction(readonly=True):
            assert runtime.keys is not None
            folder = Folder(Intake(conn, runtime.keys, fiscal_secret()))
            return await folder.search(Context(actor, datetime.now(UTC).date()), name, fiscal_code, case_id)

    @api.get("/persons/{person_id}/record", summary="The cartella sociale of a person (who may read the person)")
    async def read_record(person_id: str, actor: Who) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn, conn.transaction(readonly=True):
            assert runtime.keys is not None
            folder = Folder(Intake(conn, runtime.keys, fiscal_secret()))
            return await folder.record(Context(actor, datetime.now(UTC).date()), person_id)

    return api
