"""Facts without a business date of their own (a person registered, a household formed, persons merged, an
opportunity listed) are dated by the envelope's time on Italy's calendar (Europe/Rome), as every other date of the
programme. The reporting officer ran `make up` at 00:45 in Rome on 8 December (23:45 UTC on the 7th): the
opportunities it listed were dated 7 December, so the national report as of the 7th counted the city as running
housing (0 placements instead of "n.d.") though nothing was listed in Italy until the 8th. Method 12; reports of
methods 9-11 replay to the digests they were published with (the UTC day kept for them)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.domain.projection import Tables, Write, project
from lgnet_reporting.service_layer.reports import Request, build
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import housing as h
from lgnet_shared.events import intake as i

WINTER = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 00:30 on 8 December in Rome (CET, UTC+1)
SUMMER = datetime(2026, 7, 14, 22, 30, tzinfo=UTC)  # 00:30 on 15 July in Rome (CEST, UTC+2)


def _env(event: Any, at: datetime, source: str = "/lgnet/intake") -> Any:
    return to_envelope(event, source=source, city="torino", time=at)


def _listed(city: str) -> h.OpportunityListed:
    return h.OpportunityListed(
        opportunity_id=f"o-{city}", city=city, partner="coop", kind=h.HousingKind.PRIVATE_RENTAL, capacity=2,
        bedrooms=1, monthly_rent_cents=50_000, available_from=date(2026, 11, 1),
    )  # fmt: skip


def _rows(event: Any, at: datetime, source: str = "/lgnet/intake") -> dict[str, dict[str, Any]]:
    return {w.table: w.row for w in project(_env(event, at, source), event)}


@pytest.mark.parametrize(("at", "italian_day"), [(WINTER, date(2026, 12, 8)), (SUMMER, date(2026, 7, 15))])
def test_a_fact_late_in_the_utc_day_is_dated_by_the_next_italian_day(at: datetime, italian_day: date) -> None:
    person = i.PersonRegistered(person_id="P1", household_id="H1", registered_by="desk", birth_date=None,
                                sex=i.Sex.FEMALE, nationality="MA", third_country=True)  # fmt: skip
    household = i.HouseholdFormed(household_id="H1", city="torino", reference_person_id="P1", member_ids=["P1"])
    merged = i.PersonsMerged(surviving_person_id="P1", merged_person_id="P2", decided_by="staff-torino")
    assert _rows(person, at)["persons"]["registered_on"] == italian_day
    formed = _rows(household, at)
    assert formed["households"]["formed_on"] == formed["memberships"]["on_date"] == italian_day
    assert _rows(merged, at)["person_merges"]["merged_on"] == italian_day
    assert _rows(_listed("torino"), at, "/lgnet/housing")["opportunities"]["listed_on"] == italian_day


def _facts() -> dict[str, list[dict[str, Any]]]:
    """Torino and Bologna with a case each; Bologna lists its first opportunity at 00:30 on 8 December in Rome."""
    t = Tables()
    events: list[tuple[Any, datetime, str]] = []
    for city in ("torino", "bologna"):
        events += [
            (i.HouseholdFormed(household_id=f"h-{city}", city=city, reference_person_id=f"p-{city}",
                               member_ids=[f"p-{city}"]), datetime(2026, 11, 2, 9, tzinfo=UTC), "/lgnet/intake"),
            (i.CaseOpened(case_id=f"c-{city}", household_id=f"h-{city}", city=city,
                          action_area=i.ActionArea.HOUSING_INCLUSION, channel=i.Channel.DESK, partner="x",
                          opened_on=date(2026, 11, 3)), datetime(2026, 11, 3, 9, tzinfo=UTC), "/lgnet/intake"),
        ]  # fmt: skip
    events.append((_listed("bologna"), WINTER, "/lgnet/housing"))
    for event, at, source in events:
        t.apply(project(_env(event, at, source), event))
    return t.facts()


# Computed with the code before method 12 (main at 4f4879ec, UTC days: Bologna's opportunity dated 7 December).
RECORDED_11 = {
    "national": "c7b7a0be4a6e0fc820c45feb28d0bdfd92723bc658998e0b08385816e6d6ee55",
    "bologna": "7d8e4992ef7699255a0917b6c534bdf6397f7d9712e3c4ee61a5b4560ba5810b",
}


def test_a_report_as_of_the_utc_day_before_reads_no_housing_for_a_city_that_listed_after_midnight_in_italy() -> None:
    facts = _facts()
    seventh, eighth = Window(date(2026, 12, 7)), Window(date(2026, 12, 8))
    assert build(facts, Request("national", "national", seventh), 0)["housing_not_reported"] == ["bologna", "torino"]
    assert build(facts, Request("national", "national", eighth), 0)["housing_not_reported"] == ["torino"]
    assert build(facts, Request("city_summary", "bologna", seventh), 0)["housing_not_reported"] == ["bologna"]


def test_reports_of_method_11_replay_with_the_utc_day_they_were_published_with() -> None:
    facts = _facts()
    old = Window(date(2026, 12, 7), None, 11)
    nat = build(facts, Request("national", "national", old), 0)
    bologna = build(facts, Request("city_summary", "bologna", old), 0)
    assert nat["housing_not_reported"] == ["torino"] and bologna["housing_not_reported"] == []  # as published
    assert (digest(nat), digest(bologna)) == (RECORDED_11["national"], RECORDED_11["bologna"])


@pytest.mark.integration
async def test_a_deployment_upgraded_without_a_rebuild_keeps_the_digests_of_its_method_11_reports(
    database_url: str, pg_schema: str
) -> None:
    """A schema written before method 12 (an opportunity's row holding its UTC day, no `listed_utc_on`), migrated:
    reporting-16 copies that day into `listed_utc_on`, so the reports published with method 11 replay as they were."""
    from lgnet_reporting.adapters import store
    from lgnet_reporting.adapters.schema import MIGRATIONS
    from lgnet_shared import db

    pool = await db.create_pool(database_url, pg_schema, max_size=2)
    try:
        await db.migrate(pool, [m for m in MIGRATIONS if m[0] != "reporting-16"])
        async with pool.acquire() as conn:
            await conn.execute("alter table opportunities drop column listed_utc_on")  # as the version before made it
            t = Tables()
            for table, rows in _facts().items():
                for row in rows:
                    if table == "opportunities":  # as the version before wrote it: the UTC day, no other column
                        await conn.execute("insert into opportunities values ($1, $2, $3)", row["opportunity_id"],
                                           row["city"], row["listed_utc_on"])  # fmt: skip
                    else:
                        t.apply([Write("insert", table, row)])
            for table in t.rows:
                await store.apply(conn, [Write("insert", table, r) for r in t.rows[table].values()])
        await db.migrate(pool, MIGRATIONS)
        async with pool.acquire() as conn:
            facts = await store.load_facts(conn)
    finally:
        await pool.close()
    assert [(r["listed_on"], r["listed_utc_on"]) for r in facts["opportunities"]] == [(date(2026, 12, 7),) * 2]
    old = Window(date(2026, 12, 7), None, 11)
    assert digest(build(facts, Request("national", "national", old), 0)) == RECORDED_11["national"]
    assert digest(build(facts, Request("city_summary", "bologna", old), 0)) == RECORDED_11["bologna"]
