"""`PUT /rules` sets the whole of a city's matching rules: a coordinator saving weights from an older read put back
the hold limit another had changed meanwhile. Each save counts a version (GET's `version` and ETag); a save over an
older one is refused (412) — If-Match, or the version sent back in the body, as a client echoing what it read does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lgnet_housing.entrypoints.main import SPEC
from lgnet_shared import auth
from lgnet_shared.access import Role
from lgnet_shared.testing.inprocess import InProcessService, in_process

pytestmark = pytest.mark.integration
ANNA, BRUNO = "staff-torino", "staff-torino-2"


@pytest.fixture
async def housing(database_url: str, pg_schema: str) -> AsyncIterator[InProcessService]:
    async with in_process(SPEC, database_url, pg_schema, check_answers=True) as service:
        async with service.pool.acquire() as conn:
            await auth.add_actor(conn, BRUNO, Role.STAFF, "torino", BRUNO)
            service.tokens[BRUNO] = await auth.issue_token(conn, BRUNO)
        yield service


async def test_a_coordinator_saving_from_an_older_read_cannot_undo_anothers_change(housing: InProcessService) -> None:
    async def put(actor: str, body: dict[str, Any], if_match: str | None = None) -> Any:
        headers = {"Idempotency-Key": uuid.uuid4().hex} | ({"If-Match": if_match} if if_match else {})
        async with housing.client(actor) as c:
            return await c.put("/rules", json=body, headers=headers)

    async with housing.client(ANNA) as c:
        read = await c.get("/rules")
    assert (read.json()["version"], read.headers["etag"]) == (0, '"0"')  # the defaults, never saved
    settings = {k: v for k, v in read.json().items() if k not in ("city", "version")}
    held = await put(ANNA, settings | {"max_hold_days": 90}, '"0"')
    assert (held.status_code, held.json()["version"], held.headers["etag"]) == (200, 1, '"1"'), held.text
    late = await put(BRUNO, settings | {"auto_match": False}, '"0"')  # Bruno read version 0 too
    assert late.status_code == 412 and late.json()["field"] == "headers.if-match", late.text
    echoed = await put(BRUNO, read.json() | {"auto_match": False})  # what he read, `city` and all
    assert echoed.status_code == 412 and echoed.json()["field"] == "version", echoed.text  # what he read: v0
    async with housing.client(BRUNO) as c:
        now = (await c.get("/rules")).json()
    assert (now["version"], now["max_hold_days"], now["auto_match"]) == (1, 90, True)
    elsewhere = await put(BRUNO, now | {"city": "trieste"})  # another city's rules are not his to set
    assert elsewhere.status_code == 422 and elsewhere.json()["field"] == "city", elsewhere.text
    saved = await put(BRUNO, now | {"auto_match": False})
    assert (saved.status_code, saved.json()["max_hold_days"], saved.json()["auto_match"]) == (200, 90, False)
    assert (await put(ANNA, settings)).json()["version"] == 3  # no condition: saved as sent, as before
