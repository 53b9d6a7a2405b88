"""A city's facts about ids another city's facts own are refused by the national reporting, live and in the
auditors' replay alike (owned_ids.py): a Bologna partner re-using Trieste's person id and Torino's household and case
ids had moved them to Bologna in the national figures, and nothing detected it. Then Bologna's deployment, backdating
its fact to before the rule, moved Torino's case all the same: the rule trusted a time the deployment sets."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_shared import broker_time, clock, deadletter_cli
from lgnet_shared.deadletter import H_FIELD, H_KIND
from lgnet_shared.events import intake as i
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import physical

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

pytestmark = [pytest.mark.integration]
F, M = i.Sex.FEMALE, i.Sex.MALE
HI, DESK = i.ActionArea.HOUSING_INCLUSION, i.Channel.DESK


def person(pid: str, hh: str, sex: i.Sex, nat: str) -> i.PersonRegistered:
    return i.PersonRegistered(person_id=pid, household_id=hh, registered_by="desk", birth_date=date(1985, 3, 1),
                              sex=sex, nationality=nat, third_country=True)  # fmt: skip


def case(cid: str, hh: str, city: str) -> i.CaseOpened:
    return i.CaseOpened(case_id=cid, household_id=hh, city=city, action_area=HI, channel=DESK, partner="coop",
                        opened_on=date(2026, 2, 1))  # fmt: skip


def household(hid: str, city: str, *members: str) -> i.HouseholdFormed:
    return i.HouseholdFormed(household_id=hid, city=city, reference_person_id=members[0], member_ids=list(members))


async def rows(r: ReportingUnderTest) -> dict[str, Any]:
    async with r.pool.acquire() as conn:
        return {
            "persons": [
                tuple(x) for x in await conn.fetch("select person_id, sex, nationality from persons order by 1")
            ],
            "households": [tuple(x) for x in await conn.fetch("select household_id, city from households order by 1")],
            "cases": [tuple(x) for x in await conn.fetch("select case_id, household_id, city from cases order by 1")],
            "memberships": [
                tuple(x) for x in await conn.fetch("select person_id, household_id from memberships order by 1, 2")
            ],
        }


async def test_another_citys_facts_about_owned_ids_change_no_figure_live_or_replayed(
    reporting_own: ReportingUnderTest,
) -> None:
    r = reporting_own
    as_of = {"as_of": clock.today().isoformat()}
    mine = [
        r.envelope(person("PT1", "HT1", F, "NG"), "torino"),
        r.envelope(household("HT1", "torino", "PT1"), "torino"),
        r.envelope(case("CT1", "HT1", "torino"), "torino"),
        r.envelope(case("CT0", "HT1", "torino"), "torino", date(2026, 1, 15)),
        r.envelope(person("PS1", "HS1", M, "AF"), "trieste"),
        r.envelope(household("HS1", "trieste", "PS1"), "trieste"),
    ]
    await r.send(mine)
    await r.settle()
    before = await rows(r)
    # No city's fact names another's ids: the workers read in parallel, none judging in order (it could refuse none).
    code, lines = await r.replay("--workers", "2")
    assert code == 0 and lines[0]["replay"]["owners_judged"] == "in_parallel", lines
    async with r.client("coordination") as c:
        figures = (await c.get("/reports/national", params=as_of)).json()["indicators"]
    bologna = [
        r.envelope(person("PS1", "HB1", F, "MA"), "bologna"),  # Trieste's person, "registered" again
        r.envelope(household("HT1", "bologna", "PB1"), "bologna"),  # Torino's household
        r.envelope(case("CT1", "HB1", "bologna"), "bologna"),  # Torino's case
        r.envelope(household("HB1", "bologna", "PB1", "PS1"), "bologna"),  # names Trieste's person
        r.envelope(person("PB1", "HB1", M, "TN"), "bologna"),  # Bologna's own: applied
    ]
    await r.send(bologna)
    await r.settle()
    after = await rows(r)
    assert after["persons"] == sorted([*before["persons"], ("PB1", "male", "TN")])
    assert after["households"] == before["households"]
    assert after["cases"] == before["cases"] == [("CT0", "HT1", "torino"), ("CT1", "HT1", "torino")]
    assert after["memberships"] == before["memberships"]

    letters = [d for d in await deadletter_cli.read_dead_letters(r.bootstrap, r.prefix)]
    assert sorted((d.header(H_KIND), d.header(H_FIELD)) for d in letters) == [
        ("other_city_id", "case_id"),
        ("other_city_id", "household_id"),
        ("other_city_id", "member_ids"),
        ("other_city_id", "person_id"),
    ]
    async with r.client("coordination") as c:
        national = (await c.get("/reports/national", params=as_of)).json()["indicators"]
        metrics = (await c.get("/metrics")).text
    assert national == figures  # Torino's case and household still Torino's, counted once
    assert 'kind="other_city_id"' in metrics

    # Bologna's deployment backdates its fact to before the rule (its relay signs whatever time its code says, and
    # its producer the record's timestamp): judged all the same, live and replayed — the broker stamped the record.
    await r.send([r.envelope(case("CT1", "HB1", "bologna"), "bologna", date(2026, 12, 6))], backdated=True)
    await r.settle()
    code, lines = await r.replay("--workers", "1")
    live = (await rows(r))["cases"]
    assert (live, lines[0]["replay"]["skipped"]) == (before["cases"], {"other_city_id": 5}), lines[0]

    # Made before the rule (owned_ids.JUDGED_FROM) and written before provisioning switched its topic to the
    # broker's time (a CreateTime record): applied as the live consumer then did, so that a report published before
    # it still replays to its digest.
    intake = physical("intake.events", r.prefix)
    admin = AIOKafkaAdminClient(**client_kwargs(r.bootstrap))
    await admin.start()
    try:
        # returns once the broker applies it: a record sent before that was stamped (2 runs in 3 of this test)
        assert await broker_time.set_timestamp_type(admin, [intake], broker_time.CREATE_TIME) == [intake]
        await r.send([r.envelope(case("CT0", "HB1", "bologna"), "bologna", date(2026, 3, 1))], backdated=True)
        await r.settle()
        assert await broker_time.stamp(admin, [intake]) == [intake]  # as `lgnet-kafka-admin create-topics` does
    finally:
        await admin.close()
    assert (await rows(r))["cases"] == [("CT0", "HB1", "bologna"), ("CT1", "HT1", "torino")]
    async with r.client("coordination") as c:
        metrics = (await c.get("/metrics")).text
    unjudged = [x for x in metrics.splitlines() if x.startswith("lgnet_facts_unjudged_total{") and "case_opened" in x]
    assert [x.rsplit(" ", 1)[1] for x in unjudged] == ["1.0"], unjudged  # the live consumer said so too
    async with r.client("coordination") as c:
        published = await c.post("/reports/national/publish", json=as_of, headers={"Idempotency-Key": "n1"})
        assert published.status_code == 201, published.text
    for workers in ("1", "2"):
        code, lines = await r.replay("--published", "--workers", workers)
        assert code == 0, lines
        assert lines[0]["replay"]["skipped"] == {"other_city_id": 5}, lines[0]
        assert lines[0]["replay"]["owners_judged"] == "in_log_order", lines[0]  # two workers fell back to one
        assert lines[0]["replay"]["applied_unjudged"] == 1, lines[0]  # the CreateTime record of before the rule
        checks = [x for x in lines if "equal" in x and "report" in x]
        assert len(checks) == 1 and checks[0]["replayed_digest"] == checks[0]["expected_digest"], checks
