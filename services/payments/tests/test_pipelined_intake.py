"""Intake's case facts, consumed by payments' pipelined handlers (#22), beside the household facts' plain ones (they
read whether a member was erased before them), against real PostgreSQL and Kafka: the same batches go through the
consumer with the handlers as registered and with the same handlers plain, each on its own schema. Cases, households
and members must come out the same — on the optimistic path, on the careful path (a statement failing at the flush,
in the middle of a batch: only that event is dead-lettered), and after a redelivery of everything (nothing changes,
nothing dead-lettered again)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.entrypoints.consumers import consumers
from lgnet_shared import db, metrics, pii
from lgnet_shared.codec import to_envelope
from lgnet_shared.consumer import Consumer, Handler, PipelinedHandler
from lgnet_shared.deadletter import H_KIND, H_TYPE, DeadLetters
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import intake as iev
from lgnet_shared.service import all_migrations
from lgnet_shared.testing import schema_pool
from lgnet_shared.testing.topics import as_records, read_records
from lgnet_shared.topics import physical

pytestmark = pytest.mark.integration

ON = date(2026, 3, 2)
PIPELINED = {
    iev.CaseOpened.type,
    iev.CaseTransferred.type,
    iev.CaseClosed.type,
    iev.ConsentRecorded.type,
}
# A statement that fails only when it reaches PostgreSQL (at the flush, for a pipelined handler): the case "poison".
POISON = """
    create function refuse_poison() returns trigger language plpgsql as $$
    begin
        if new.case_id = 'poison' then raise exception 'poisoned case'; end if;
        return new;
    end $$;
    create trigger cases_refuse_poison before insert or update on cases
        for each row execute function refuse_poison();
"""


def registered() -> dict[str, Handler]:
    """The intake consumer's handlers as payments registers them (the key store: no member here was erased)."""
    runtime: Any = SimpleNamespace(keys=pii.KeyStore(os.urandom(32)))
    spec = next(s for s in consumers(runtime) if s.name == "intake")
    return dict(spec.handlers)


def plain(handlers: dict[str, Handler]) -> dict[str, Handler]:
    return {t: h.handle if isinstance(h, PipelinedHandler) else h for t, h in handlers.items()}


def fact(event: Event) -> Envelope:
    return to_envelope(event, source="/lgnet/intake", city="torino", partner="coop-aurora")


def opened(case_id: str, household_id: str, partner: str = "coop-aurora") -> Event:
    return iev.CaseOpened(
        case_id=case_id,
        household_id=household_id,
        city="torino",
        action_area=iev.ActionArea.HOUSING_INCLUSION,
        channel=iev.Channel.DESK,
        partner=partner,
        opened_on=ON,
    )


def formed(household_id: str, *members: str) -> Event:
    return iev.HouseholdFormed(
        household_id=household_id, city="torino", reference_person_id=members[0], member_ids=list(members)
    )


def transferred(case_id: str, to: str) -> Event:
    return iev.CaseTransferred(case_id=case_id, from_partner="coop-aurora", to_partner=to, on=ON)


def closed(case_id: str) -> Event:
    return iev.CaseClosed(case_id=case_id, outcome=iev.CaseOutcome.HOUSING_AUTONOMY, closed_on=ON)


def joined(household_id: str, person_id: str) -> Event:
    return iev.HouseholdMemberJoined(household_id=household_id, person_id=person_id, reason="birth", on=ON)


def sharing(person_id: str, granted: bool, on: date = ON) -> Event:
    return iev.ConsentRecorded(
        person_id=person_id, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=granted, recorded_on=on
    )


def ignored(person_id: str) -> Event:  # payments has no handler for it: skipped, between the others
    return iev.EmploymentRecorded(person_id=person_id, status=iev.EmploymentStatus.TRAINING, as_of=ON)


def batches() -> list[list[Envelope]]:
    """Mixed facts, bursts of one kind (consecutive writes of one statement: the pipelined runs), an event twice,
    a member listed twice, and the poisoned case in the middle of the third batch."""
    again = fact(formed("h1", "p1", "p2", "p1"))
    return [
        [
            again,
            fact(opened("c1", "h1")),
            fact(ignored("p1")),
            fact(formed("h2", "p3")),
            fact(opened("c2", "h2")),
            fact(formed("h3", "p4", "p5")),
            fact(opened("c3", "h3")),
            again,  # the same event twice in one batch: applied once
        ],
        [
            fact(transferred("c1", "coop-b")),
            fact(transferred("c2", "coop-b")),
            fact(transferred("c3", "coop-c")),
            fact(joined("h1", "p6")),
            fact(joined("h2", "p7")),
            fact(joined("h1", "p6")),  # a member already there (another event id): nothing new
            fact(sharing("p1", True)),
            fact(sharing("p3", True)),
            fact(sharing("p3", False)),  # withdrawn
            fact(sharing("p3", True, date(2026, 3, 1))),  # recorded late, dated before: the withdrawal stays
            fact(closed("c1")),
            fact(closed("c2")),
        ],
        [
            fact(opened("c4", "h4")),
            fact(formed("h4", "p8")),
            fact(opened("poison", "h4")),
            fact(transferred("c4", "coop-d")),
            fact(closed("c3")),
            fact(formed("h3", "p4", "p9")),  # formed again: the city is kept up to date, members only added
        ],
    ]


async def state(pool: Any) -> dict[str, list[tuple[Any, ...]]]:
    async with pool.acquire() as conn:
        return {
            "cases": [tuple(r) for r in await conn.fetch("select * from cases order by case_id")],
            "households": [tuple(r) for r in await conn.fetch("select * from households order by household_id")],
            "members": [tuple(r) for r in await conn.fetch("select * from household_members order by 1, 2")],
            "sharing": [tuple(r) for r in await conn.fetch("select * from partner_sharing order by 1")],
        }


async def payments_schema(database_url: str, schema: str) -> Any:
    pool = await db.create_pool(database_url, schema)
    await db.migrate(pool, [*all_migrations(MIGRATIONS), ("test-poison", POISON)])
    return pool


def test_intake_case_handlers_are_registered_pipelined() -> None:
    handlers = registered()
    assert {t for t, h in handlers.items() if isinstance(h, PipelinedHandler)} == PIPELINED
    # Reads, and the money path, stay plain (docs/benchmarks-history.md, "Which service handlers are pipelined").
    for read in (iev.PersonErased, iev.HouseholdFormed, iev.HouseholdMemberJoined):
        assert not isinstance(handlers[read.type], PipelinedHandler)
    runtime: Any = SimpleNamespace(keys=None)
    housing = next(s for s in consumers(runtime) if s.name == "housing")
    assert not any(isinstance(h, PipelinedHandler) for h in housing.handlers.values())


async def test_pipelined_intake_handlers_have_the_plain_handlers_effects(
    database_url: str, pg_schema: str, dead_letters: DeadLetters, kafka_bootstrap: str, topic_prefix: str
) -> None:
    other = f"{pg_schema}_plain"
    pipelined_pool = await payments_schema(database_url, pg_schema)
    plain_pool = await payments_schema(database_url, other)
    try:
        pipelined = Consumer("payments.intake", pipelined_pool, dead_letters, registered())
        as_before = Consumer("payments.intake.plain", plain_pool, dead_letters, plain(registered()))
        for c in (pipelined, as_before):
            c.retry.backoff_s = (0.0,)
        careful = metrics.CAREFUL_BATCHES.labels(pipelined.name)
        offset, records = 0, []
        for batch in batches():  # one partition's log: offsets go on from batch to batch
            records.append([replace(r, offset=r.offset + offset) for r in as_records(batch, topic="intake.events")])
            offset += len(batch)

        before = careful._value.get()
        for rs in records[:2]:  # no failure: the optimistic path, the writes pipelined
            await pipelined.process(rs)
            await as_before.process(rs)
        assert careful._value.get() == before
        await pipelined.process(records[2])  # the poisoned case fails at the flush: the careful path
        await as_before.process(records[2])
        assert careful._value.get() == before + 1

        expected = await state(plain_pool)
        assert await state(pipelined_pool) == expected
        cases = {r[0]: r for r in expected["cases"]}
        assert "poison" not in cases  # dead-lettered; the others of its batch applied
        assert cases["c1"][3] == "coop-b" and cases["c1"][5] == ON  # transferred, then closed
        assert cases["c4"][3] == "coop-d" and cases["c3"][5] == ON  # after the poisoned case, in its batch
        assert expected["households"] == [(h, "torino") for h in ("h1", "h2", "h3", "h4")]
        assert expected["members"] == [
            ("h1", "p1"),
            ("h1", "p2"),
            ("h1", "p6"),
            ("h2", "p3"),
            ("h2", "p7"),
            ("h3", "p4"),
            ("h3", "p5"),
            ("h3", "p9"),
            ("h4", "p8"),
        ]
        assert expected["sharing"] == [("p1", True, ON), ("p3", False, ON)]

        for rs in records:  # redelivered, e.g. after a crash before the Kafka commit: nothing changes
            await pipelined.process(rs)
            await as_before.process(rs)
        assert await state(pipelined_pool) == expected == await state(plain_pool)

        dead = await read_records(kafka_bootstrap, physical("deadletter", topic_prefix))
        assert len(dead) == 2  # the poisoned case, once per consumer, never again on redelivery
        for record in dead:
            headers = dict(record.headers)
            assert headers[H_KIND] == b"processing" and headers[H_TYPE] == b"RaiseError"
            assert b"poison" in record.value
    finally:
        await pipelined_pool.close()
        async with plain_pool.acquire() as conn:
            await schema_pool.keep_or_drop(conn, other)
        await plain_pool.close()
