"""The first city per aggregate id (owned_ids.py) in a consumer of every city's facts, against real PostgreSQL and
Kafka: another city's fact about an owned id is dead-lettered once and applies nothing, on the optimistic path (the
whole batch) and on the careful one (one record at a time); its own city's facts go on."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from lgnet_shared import db, outbox, owned_ids, pii
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import MIGRATION, Consumer, handlers_of
from lgnet_shared.db import Conn, Pool
from lgnet_shared.deadletter import H_FIELD, H_KIND, H_MESSAGE, DeadLetters
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events.civic import CivicAttendanceRecorded
from lgnet_shared.events.intake import ActionArea, CaseOpened, Channel, HouseholdFormed, PersonRegistered, Sex
from lgnet_shared.testing.topics import as_records, read_records
from lgnet_shared.topics import physical

pytestmark = pytest.mark.integration


def formed(hid: str, city: str, *members: str) -> Envelope:
    event = HouseholdFormed(household_id=hid, city=city, reference_person_id=members[0], member_ids=list(members))
    return to_envelope(event, source=f"/{city}", city=city)


def registered(pid: str, hid: str, city: str) -> Envelope:
    event = PersonRegistered(person_id=pid, household_id=hid, registered_by="desk", birth_date=date(1990, 1, 1),
                             sex=Sex.FEMALE, nationality="NG")  # fmt: skip
    return to_envelope(event, source=f"/{city}", city=city)


def opened(cid: str, hid: str, city: str) -> Envelope:
    event = CaseOpened(case_id=cid, household_id=hid, city=city, action_area=ActionArea.TAKING_CHARGE,
                       channel=Channel.DESK, partner="coop", opened_on=date(2026, 3, 1))  # fmt: skip
    return to_envelope(event, source=f"/{city}", city=city)


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Pool]:
    p = await db.create_pool(database_url, pg_schema, max_size=1)
    tables = ("t-1", "create table applied (seq serial, what text, city text)")
    await db.migrate(p, [MIGRATION, *outbox.MIGRATIONS, pii.MIGRATION, owned_ids.MIGRATION, tables])
    try:
        yield p
    finally:
        await p.close()


def consumer(pool: Pool, dead: DeadLetters) -> Consumer:
    async def apply(conn: Conn, env: Envelope, event: Event) -> None:
        await conn.execute("insert into applied (what, city) values ($1, $2)", event.aggregate_id(), env.city)

    handlers = handlers_of((HouseholdFormed, apply), (CaseOpened, apply), (PersonRegistered, apply))
    return Consumer("reporting.test", pool, dead, handlers, guard_ids=True)


async def applied(pool: Pool) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        return [(r["what"], r["city"]) for r in await conn.fetch("select what, city from applied order by seq")]


async def test_another_citys_facts_about_owned_ids_are_dead_lettered_once_and_apply_nothing(
    pool: Pool, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    c = consumer(pool, dead_letters)
    torino = [registered("P1", "H1", "torino"), formed("H1", "torino", "P1"), opened("C1", "H1", "torino")]
    first = as_records(torino, partition=0)
    await c.process(first)  # the optimistic path: the ids claimed with the effects
    # In one batch: Bologna re-uses Torino's household (key), opens a case for it (a reference), names Torino's
    # person in a household of its own (a reference); Bologna's own household goes on, and so does Torino's next fact.
    second = as_records(
        [formed("H1", "bologna", "PB"), opened("CB", "H1", "bologna"), formed("HB", "bologna", "PB", "P1"),
         formed("HB2", "bologna", "PB2"), opened("C2", "H1", "torino")],
        partition=1,
    )  # fmt: skip
    await c.process(second)
    await c.process(second)  # redelivered: nothing again, no second letter
    assert await applied(pool) == [
        ("P1", "torino"),
        ("H1", "torino"),
        ("C1", "torino"),
        ("HB2", "bologna"),
        ("C2", "torino"),
    ]
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    said = sorted((dict(d.headers)[H_FIELD].decode(), dict(d.headers)[H_MESSAGE].decode()) for d in dead)
    assert {dict(d.headers)[H_KIND] for d in dead} == {b"other_city_id"}
    assert said == [
        ("household_id", "household_id: names the household of another city (torino)"),
        ("household_id", "household_id: the household belongs to another city (torino)"),
        ("member_ids", "member_ids: names a member of another city (torino)"),
    ]
    async with pool.acquire() as conn:
        owners = dict(await conn.fetch("select id, city from owned_ids"))
    assert owners == {"P1": "torino", "H1": "torino", "C1": "torino", "HB2": "bologna", "C2": "torino"}


async def test_a_batch_claims_an_id_for_its_first_city_and_refuses_the_next(
    pool: Pool, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    c = consumer(pool, dead_letters)
    await c.process(as_records([formed("H9", "trieste", "P9"), formed("H9", "bologna", "P8")]))
    assert await applied(pool) == [("H9", "trieste")]
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    assert [dict(d.headers)[H_KIND] for d in dead] == [b"other_city_id"]


def test_references_are_the_ids_an_event_names_besides_its_key() -> None:
    event = HouseholdFormed(household_id="H", city="torino", reference_person_id="P1", member_ids=["P1", "P2"])
    assert list(owned_ids.references(event)) == [
        ("reference_person_id", "P1"),
        ("member_ids", "P1"),
        ("member_ids", "P2"),
    ]
    assert owned_ids.judge({"H": "torino", "P2": "torino"}, "torino", event, True) is None
    refused = owned_ids.judge({"P2": "trieste"}, "torino", event, True)
    assert refused is not None and (refused.kind, refused.field) == ("other_city_id", "member_ids")


def test_an_attendance_register_names_persons() -> None:
    register = CivicAttendanceRecorded(activity_id="A", session_id="S", present=["P1"], absent=["P2"])
    assert list(owned_ids.references(register)) == [("present", "P1"), ("absent", "P2")]
    refused = owned_ids.judge({"P2": "trieste"}, "bologna", register, True)
    assert refused is not None and str(refused) == "absent: names a person of another city (trieste)"


def test_a_fact_made_before_the_rule_is_applied_as_it_was_and_claims_its_key() -> None:
    """A report published before the rule replays to its digest: the live consumer then folded such facts."""
    owners = {"P2": "trieste"}
    event = HouseholdFormed(household_id="H", city="torino", reference_person_id="P1", member_ids=["P1", "P2"])
    assert owned_ids.fold(owners, "torino", event, False) is None
    assert owners == {"P2": "trieste", "H": "torino"}
    assert owned_ids.fold(owners, "bologna", event, True) is not None


def test_a_fact_is_judged_by_the_brokers_stamp_whatever_times_its_deployment_wrote() -> None:
    """A deployment sets its facts' times and its records' own timestamps: backdating both escaped the rule. The
    broker's stamp (LogAppendTime) it cannot set; a record from before the stamps keeps the decision taken then."""
    before = owned_ids.JUDGED_FROM - timedelta(days=1)
    create_time = 0
    assert owned_ids.judged(before, owned_ids.STAMPED_BY_BROKER)
    assert not owned_ids.judged(before, create_time)  # written before the topic was switched
    # A record of a topic not switched yet keeps the decision the consumers of then took, by its envelope's time,
    # whatever its producer's timestamp says (the deployment's to write too): a report they published replays to its
    # digest (an upgrade's reviewer: such a report replayed "not equal", and no dead letter said why).
    assert owned_ids.judged(owned_ids.JUDGED_FROM, create_time)


async def test_a_backdated_fact_in_a_record_the_broker_stamped_is_refused(
    pool: Pool, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    c = consumer(pool, dead_letters)
    await c.process(as_records([formed("H7", "torino", "P7")]))
    before = datetime(2026, 12, 6, tzinfo=UTC)
    old, forged = as_records([formed("H7", "bologna", "P6").model_copy(update={"time": before}) for _ in "ab"], "t", 1)
    stamped = dataclasses.replace(forged, timestamp=int(before.timestamp() * 1000), timestamp_type=1)
    await c.process([old, stamped])  # from before the stamps: applied as it was; stamped by the broker: judged
    assert await applied(pool) == [("H7", "torino"), ("H7", "bologna")]
    dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
    assert [dict(d.headers)[H_KIND] for d in dead] == [b"other_city_id"]


@pytest.mark.parametrize("path", ["optimistic", "careful"])
async def test_a_fact_applied_unjudged_is_counted_and_its_topic_named_once(
    pool: Pool, dead_letters: DeadLetters, path: str
) -> None:
    """On a topic not switched to the broker's time, a fact dated before the rule is applied as it was: history of
    before the switch, or a deployment backdating it to escape the rule. The operator sees it: a counter per type, and
    one warning per topic naming where and what to run (an upgrade's reviewer: nothing said the rule was off)."""
    from prometheus_client import REGISTRY
    from structlog.testing import capture_logs

    def unjudged() -> float:
        return (
            REGISTRY.get_sample_value(
                "lgnet_facts_unjudged_total", {"consumer": "reporting.test", "type": "lgnet.intake.household_formed"}
            )
            or 0.0
        )

    c = consumer(pool, dead_letters)
    # exported from the consumer's start (at 0 until counted), for an alert on any increase
    assert (
        REGISTRY.get_sample_value(
            "lgnet_facts_unjudged_total", {"consumer": "reporting.test", "type": "lgnet.intake.case_opened"}
        )
        is not None
    )
    before = datetime(2026, 12, 6, tzinfo=UTC)
    if path == "careful":  # a refused fact beside them sends the batch down the careful path
        await c.process(as_records([formed("H5", "torino", "P5")], "t", 2))
    facts = [formed(f"H{n}", "bologna", f"P{n}").model_copy(update={"time": before}) for n in (11, 12)]
    facts += [formed("H5", "bologna", "P4")] if path == "careful" else []
    old = as_records(facts, "t", 1)
    stamped = dataclasses.replace(as_records([formed("H13", "bologna", "P13")], "t", 1)[0], offset=5, timestamp_type=1)
    counted = unjudged()
    with capture_logs() as said:
        await c.process([*old, stamped])
        [later] = as_records([formed("H14", "bologna", "P14").model_copy(update={"time": before})], "t", 1)
        await c.process([dataclasses.replace(later, offset=9)])
    assert unjudged() - counted == 3  # the broker-stamped one was judged
    warned = [e for e in said if e["event"].startswith("fact applied without the owners' check")]
    assert len(warned) == 1, said
    assert warned[0]["log_level"] == "warning"
    assert (warned[0]["topic"], warned[0]["partition"], warned[0]["offset"]) == ("t", 1, 0), warned
    assert "lgnet-kafka-admin create-topics" in warned[0]["event"], warned


async def test_the_optimistic_path_judges_and_claims_a_batch_in_one_statement(
    pool: Pool, dead_letters: DeadLetters
) -> None:
    """Each round trip costs a consumer ≈ 0.1 ms of CPU: the owners' look-up and the claims travel together."""
    sent: list[str] = []
    async with pool.acquire() as conn:  # the pool's only connection: the one the consumer will use
        conn.add_query_logger(lambda q: sent.append(q.query))
    c = consumer(pool, dead_letters)
    await c.process(as_records([formed("H0", "torino", "P0")], partition=2))  # the first use asks for type details
    sent.clear()
    await c.process(as_records([formed("H1", "torino", "P1"), formed("H2", "trieste", "P2")], partition=3))
    owned = [q for q in sent if "owned_ids" in q]
    assert len(owned) == 1 and owned[0].startswith("with claimed as (insert into owned_ids"), sent
    assert await applied(pool) == [("H0", "torino"), ("H1", "torino"), ("H2", "trieste")]


def test_the_ids_an_event_names_are_its_key_and_its_references() -> None:
    """What the parallel replay collects per city to tell whether the rule could refuse anything (`name_into`): the
    same ids `named` gives, the key apart, an absent optional reference left out."""
    formed_ = HouseholdFormed(household_id="H", city="torino", reference_person_id="P1", member_ids=["P1", "P2"])
    opened = CaseOpened(case_id="C", household_id="H", city="torino", action_area=ActionArea.HOUSING_INCLUSION,
                        channel=Channel.DESK, partner="coop", opened_on=date(2026, 2, 1))  # fmt: skip
    register = CivicAttendanceRecorded(activity_id="A", session_id="S", present=["P1"], absent=["P3"])
    for event in (formed_, opened, register):
        named: owned_ids.Named = (set(), set())
        owned_ids.name_into(named, event)
        assert named == ({event.aggregate_id()}, set(owned_ids.named(event)[1:])), type(event).__name__
    named = (set(), set())
    owned_ids.name_into(named, formed_)
    owned_ids.name_into(named, register)
    assert named == ({"H", "A"}, {"P1", "P2", "P3"})  # a register's session is no aggregate; its activity its key


def test_cities_share_ids_when_a_city_names_an_id_another_citys_facts_are_keyed_by() -> None:
    """None shared: the rule refuses nothing, whatever the order of the facts; otherwise the log must be judged in
    order. An id no fact is keyed by (a provider) may be named by any city: nobody owns it."""
    torino = {"torino": ({"H1", "P1"}, {"P1", "PR"})}
    trieste = {"trieste": ({"H2", "P2"}, {"P2", "PR"})}
    assert not owned_ids.cities_share_ids([torino, trieste])
    assert not owned_ids.cities_share_ids([torino, {"torino": ({"C1"}, {"H1"})}, trieste])  # one city, two folds
    assert owned_ids.cities_share_ids([torino, {"bologna": ({"HB"}, {"P1"})}])  # a reference, across folds
    assert owned_ids.cities_share_ids([{"torino": ({"H1"}, set()), "bologna": ({"H1"}, set())}])  # keyed by both
    assert owned_ids.cities_share_ids([trieste, {"bologna": ({"P2"}, set())}])  # Trieste names what Bologna keys
    assert not owned_ids.cities_share_ids([])
