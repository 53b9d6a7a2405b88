"""Erasure leaves nothing behind that confirms who the person was: not in intake's tables (idempotency
fingerprints), not in what partners sealed to intake's inbound key (rotated, old private keys destroyed)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

pytestmark = pytest.mark.integration


def registration(pid: str, given: str, family: str) -> dict[str, Any]:
    return {
        "person_id": pid,
        "birth_date": "1990-05-01",
        "sex": "female",
        "nationality": "NG",
        "languages": ["en"],
        "literate": True,
        "identity": {"given_name": given, "family_name": family},
    }


async def everything_in(conn: Any) -> str:
    """Every row of every table of the schema, as text."""
    tables = await conn.fetch(
        "select table_name from information_schema.tables where table_schema = current_schema()"
        " and table_type = 'BASE TABLE'"
    )
    texts = []
    for t in tables:
        rows = await conn.fetch(f'select row_to_json(x)::text as j from "{t["table_name"]}" x')
        texts += [r["j"] for r in rows]
    return "\n".join(texts)


async def test_after_erasure_no_table_confirms_a_guessed_name(intake: IntakeUnderTest) -> None:
    people = {"p-amina": ("Amina", "Okonkwo"), "p-grace": ("Grace", "Adeyemi")}
    bodies = {pid: registration(pid, *names) for pid, names in people.items()}
    keys = {pid: str(uuid.uuid4()) for pid in people}
    async with intake.client("coop-aurora") as c:
        for pid, body in bodies.items():
            r = await c.post("/persons", json=body, headers={"Idempotency-Key": keys[pid]})
            assert r.status_code == 201, r.text
    # What an attacker with a copy of the table does: hash the body with guessed names (here the right guess).
    unkeyed = {
        pid: hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        for pid, body in bodies.items()
    }
    async with intake.pool.acquire() as conn:
        dump = await everything_in(conn)
        assert not any(d in dump for d in unkeyed.values()), "the fingerprint of a registration is unkeyed"
    async with intake.client("staff-torino") as staff:
        for pid in people:
            assert (await staff.post(f"/persons/{pid}/erasure")).status_code == 200
    async with intake.pool.acquire() as conn:
        dump = await everything_in(conn)
        fingerprints = {
            r["key"]: r["request_hash"]
            for r in await conn.fetch(
                "select key, request_hash from idempotency_keys where key = any($1)", list(keys.values())
            )
        }
    for given, family in people.values():
        assert given not in dump and family not in dump
    assert not any(d in dump for d in unkeyed.values())
    # Nothing left depends on the body: two different names leave the same thing behind.
    assert len(fingerprints) == 2 and len(set(fingerprints.values())) == 1
    # A retry of an erased person's registration cannot bring them back.
    async with intake.client("coop-aurora") as c:
        r = await c.post("/persons", json=bodies["p-amina"], headers={"Idempotency-Key": keys["p-amina"]})
        assert r.status_code == 409
