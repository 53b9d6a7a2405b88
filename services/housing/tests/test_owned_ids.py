"""A city's facts about ids another city's facts own are refused by the national housing (owned_ids.py): a Bologna
partner re-using Torino's household, case and person ids took over Torino's row and cancelled its proposal."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

import pytest
from lgnet_housing.adapters.schema import MIGRATIONS
from lgnet_shared import clock, db, deadletter_cli
from lgnet_shared.deadletter import H_FIELD, H_KIND, H_MESSAGE
from lgnet_shared.deadletter_cli import DeadLetter
from lgnet_shared.events import intake as iev
from lgnet_shared.service import all_migrations

if TYPE_CHECKING:
    from conftest import HousingUnderTest

pytestmark = [pytest.mark.integration]
F = iev.Sex.FEMALE
ADULT = date(1990, 5, 1)


async def letters_of(h: HousingUnderTest, uid: str, want: int) -> list[DeadLetter]:
    """The dead letters of this test's records (their keys carry `uid`), once there are `want`."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        got = [
            d for d in await deadletter_cli.read_dead_letters(h.bootstrap, h.prefix) if uid in (d.key or b"").decode()
        ]
        if len(got) >= want or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.5)


async def test_another_citys_facts_about_torinos_ids_are_dead_lettered_and_change_nothing(
    housing_own: HousingUnderTest, uid: str
) -> None:
    h = housing_own
    hid = f"h-to-{uid}"
    await h.publish("torino", *h.household_events(hid, "torino", [(ADULT, F)]))
    async with h.client("coop-aurora") as c:
        r = await c.post(
            "/opportunities",
            json={
                "opportunity_id": f"o-to-{uid}", "kind": "private_rental", "capacity": 2, "bedrooms": 1,
                "accessible": False, "monthly_rent_cents": 30_000, "available_from": clock.today().isoformat(),
                "support_level": "none", "restrictions": [], "languages": ["en"],
            },
            headers={"Idempotency-Key": f"o-to-{uid}"},
        )  # fmt: skip
    assert r.status_code == 201, r.text
    proposed = "select count(*) from matches where status = 'proposed' and household_id = $1"
    await h.wait_sql(proposed, hid, want=1)

    # Bologna's partner re-uses Torino's household (its formation: the household changed, which cancelled the
    # proposal), Torino's case, and Torino's person — as a new Bologna household's member.
    person = f"{hid}-p0"
    await h.publish(
        "bologna",
        iev.HouseholdFormed(household_id=hid, city="bologna", reference_person_id=f"p-bo-{uid}",
                           member_ids=[f"p-bo-{uid}"]),
        iev.CaseOpened(case_id=f"{hid}-case", household_id=f"h-bo-{uid}", city="bologna",
                       action_area=iev.ActionArea.HOUSING_INCLUSION, channel=iev.Channel.DESK, partner="coop-felsina",
                       opened_on=date(2026, 12, 2), housing_need=True),
        iev.HouseholdFormed(household_id=f"h-bo-{uid}", city="bologna", reference_person_id=person,
                           member_ids=[person]),
        partner="coop-felsina",
    )  # fmt: skip
    letters = await letters_of(h, uid, want=3)
    assert sorted((d.header(H_KIND), d.header(H_FIELD)) for d in letters) == [
        ("other_city_id", "case_id"),
        ("other_city_id", "household_id"),
        ("other_city_id", "reference_person_id"),
    ]
    messages = {d.header(H_MESSAGE) for d in letters}
    assert "household_id: the household belongs to another city (torino)" in messages
    assert "reference_person_id: names the reference person of another city (torino)" in messages
    assert all(person not in m and hid not in m for m in messages)  # the reason names no id

    async with h.pool.acquire() as conn:
        assert await conn.fetchval("select city from households where household_id = $1", hid) == "torino"
        assert await conn.fetchval(proposed, hid) == 1  # Torino's proposal stands
        assert await conn.fetchval("select household_id from cases where case_id = $1", f"{hid}-case") == hid
        assert await conn.fetchval("select count(*) from households where household_id = $1", f"h-bo-{uid}") == 0
        assert await conn.fetchval("select city from owned_ids where id = $1", hid) == "torino"
    async with h.process.client(None, timeout=10) as c:
        r = await c.get("/metrics")
    assert "lgnet_dead_letters_total{consumer=" in r.text and 'kind="other_city_id"' in r.text


async def test_an_upgraded_housing_knows_the_owners_of_the_ids_it_already_keeps(
    database_url: str, pg_schema: str
) -> None:
    """Migration housing-7: the ids of the records kept before the rule are claimed for their cities at once, not by
    whichever city's fact names them first after the upgrade."""
    pool = await db.create_pool(database_url, pg_schema)
    try:
        await db.migrate(pool, [m for m in all_migrations(MIGRATIONS) if m[0] != "housing-7"])
        async with pool.acquire() as conn:
            await conn.execute("insert into households (household_id, city) values ('H1', 'torino'), ('H2', 'trieste')")
            await conn.execute(
                "insert into persons (person_id, household_id, birth_date, sex) values ('P1', 'H1', '1990-01-01', 'f')"
            )
            await conn.execute(
                "insert into cases (case_id, household_id, city, partner, opened_on, housing_need)"
                " values ('C2', 'H2', 'trieste', 'coop-carso', '2026-01-01', true)"
            )
        assert await db.migrate(pool, all_migrations(MIGRATIONS)) == ["housing-7"]
        async with pool.acquire() as conn:
            owners = {r["id"]: r["city"] for r in await conn.fetch("select id, city from owned_ids")}
    finally:
        await pool.close()
    assert owners == {"H1": "torino", "H2": "trieste", "P1": "torino", "C2": "trieste"}
