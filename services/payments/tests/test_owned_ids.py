"""National payments keeps every city's cases and households: a city's facts about ids another city's facts own
are dead-lettered and change nothing (owned_ids.py), as in national housing and reporting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from lgnet_shared import deadletter_cli
from lgnet_shared.deadletter import H_FIELD, H_KIND
from lgnet_shared.events import intake as iev
from payments_testkit import PaymentsUnderTest, case_opened

pytestmark = [pytest.mark.integration]


def formed(household: str, city: str, person: str) -> iev.HouseholdFormed:
    return iev.HouseholdFormed(household_id=household, city=city, reference_person_id=person, member_ids=[person])


async def test_a_bologna_case_and_household_under_torinos_ids_change_nothing(
    payments_own: PaymentsUnderTest, uid: str
) -> None:
    p = payments_own
    case, household = f"c-to-{uid}", f"h-to-{uid}"
    await p.publish(formed(household, "torino", f"p-to-{uid}"), "torino")
    await p.publish(case_opened(case, household), "torino")
    assert await p.wait_for("select count(*) from cases where case_id = $1", case) == 1
    assert await p.wait_for("select count(*) from households where household_id = $1", household) == 1

    await p.publish(case_opened(case, f"h-bo-{uid}", city="bologna"), "bologna", partner="coop-felsina")
    await p.publish(formed(household, "bologna", f"p-bo-{uid}"), "bologna")
    # Bologna's deployment backdating its fact to before the rule (owned_ids.JUDGED_FROM), its record's timestamp
    # too: judged all the same, by the broker's stamp.
    backdated = datetime(2026, 12, 6, 9, tzinfo=UTC)
    await p.publish(case_opened(case, f"h-bo-{uid}", city="bologna"), "bologna", partner="coop-felsina", at=backdated)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        letters = [d for d in await deadletter_cli.read_dead_letters(p.bootstrap, p.prefix) if d.key]
        if len(letters) >= 3 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert sorted((d.header(H_KIND), d.header(H_FIELD)) for d in letters) == [
        ("other_city_id", "case_id"),
        ("other_city_id", "case_id"),
        ("other_city_id", "household_id"),
    ]
    async with p.pool.acquire() as conn:
        row = await conn.fetchrow("select household_id, city from cases where case_id = $1", case)
        assert tuple(row) == (household, "torino")
        assert await conn.fetchval("select city from households where household_id = $1", household) == "torino"
