"""Migration housing-3: city rules stored before the rules had upper bounds are brought down to them and load."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_housing.adapters import repository as repo
from lgnet_housing.adapters.schema import MIGRATIONS
from lgnet_housing.domain.rules import CityRules
from lgnet_shared import db
from lgnet_shared.service import all_migrations

pytestmark = pytest.mark.integration


BOUNDED_BEFORE = {"rent_share_of_income"}  # at most 1 from the start: never stored beyond


def _maxima(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: p["maximum"] for k, p in schema["properties"].items() if "maximum" in p and k not in BOUNDED_BEFORE}


async def test_rules_beyond_the_bounds_are_brought_down_to_them(database_url: str, pg_schema: str) -> None:
    schema = CityRules.model_json_schema()
    defs = schema["$defs"]
    # max_hold_days came after housing-3, bounded from the start: no rule saved before it carries one out of bounds
    top = {k: v for k, v in _maxima(schema).items() if k != "max_hold_days"}
    prio = _maxima(defs["PriorityWeights"])
    situation_max = defs["PriorityWeights"]["properties"]["situation"]["additionalProperties"]["maximum"]
    stored = CityRules().model_dump(mode="json")
    stored |= {k: 10**30 for k in top}
    stored["priority"] |= {k: 10**30 for k in prio} | {"situation": {"homeless": 1e300, "precarious": 1.5}}
    pool = await db.create_pool(database_url, pg_schema)
    try:
        before = [m for m in all_migrations(MIGRATIONS) if m[0] != "housing-3"]
        await db.migrate(pool, before)
        async with pool.acquire() as conn:
            await conn.execute(
                "insert into city_rules (city, rules, updated_by) values ('torino', $1, 'staff')", stored
            )
        assert await db.migrate(pool, all_migrations(MIGRATIONS)) == ["housing-3"]
        async with pool.acquire() as conn:
            loaded = await repo.rules(conn, "torino")
    finally:
        await pool.close()
    dumped = loaded.model_dump()
    assert {k: dumped[k] for k in top} == top
    assert {k: dumped["priority"][k] for k in prio} == prio
    assert dumped["priority"]["situation"] == {"homeless": situation_max, "precarious": 1.5}
    assert loaded.auto_match == CityRules().auto_match  # the rest as it was
