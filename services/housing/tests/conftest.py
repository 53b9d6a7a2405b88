"""The housing service under test: a real process on the test's own topics and schema, with actors of two cities
(Torino and Trieste) provisioned, and helpers to publish intake's events and read housing's."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from lgnet_shared import auth, db
from lgnet_shared.access import Role
from lgnet_shared.codec import to_envelope
from lgnet_shared.events import Event
from lgnet_shared.events import intake as iev
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import service_fixtures
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.testing.topics import Since, read_events
from lgnet_shared.topics import ensure_topics, physical

ACTORS = [
    ("staff-torino", Role.STAFF, "torino"),
    ("staff-trieste", Role.STAFF, "trieste"),
    ("coop-aurora", Role.PARTNER, "torino"),
    ("coop-borgo", Role.PARTNER, "torino"),
    ("coop-carso", Role.PARTNER, "trieste"),
    ("coordination", Role.NATIONAL, None),
]


@dataclass
class HousingUnderTest:
    process: ServiceProcess
    pool: Any
    bootstrap: str
    prefix: str
    producer: AIOKafkaProducer
    tokens: dict[str, str] = field(default_factory=dict)
    since: Since = field(default_factory=dict)  # on a shared housing: where its topics ended when the test began

    def client(self, actor: str) -> httpx.AsyncClient:
        return self.process.client(self.tokens[actor], timeout=20)

    async def publish(self, city: str, *events: Event, partner: str = "coop-aurora", times: int = 1) -> None:
        """Intake's events as intake publishes them (CloudEvents, structured mode, key = aggregate id, each on its
        model's topic: needs assessments on the restricted `intake.special`); `times`
        > 1 delivers each record again, as a relay retry after a crash would."""
        for e in events:
            env = to_envelope(e, source="/lgnet/intake", city=city, partner=partner)
            value, headers = await signed_fact(self.producer, self.prefix, env, e.topic)  # as intake signs it
            for _ in range(times):
                await self.producer.send_and_wait(physical(e.topic, self.prefix), value, key=env.key, headers=headers)

    async def events(self, *, want: int = 1, timeout: float = 30, of_type: str | None = None) -> list[Event]:
        """housing.events so far; waits until at least `want` (of `of_type`, if given) are there."""
        topic = physical("housing.events", self.prefix)
        return await read_events(self.bootstrap, topic, want=want, timeout=timeout, of_type=of_type, since=self.since)

    @staticmethod
    def household_events(*args: Any, **kwargs: Any) -> list[Event]:
        return household_events(*args, **kwargs)

    async def sql(self, statement: str, *args: Any) -> None:
        """Set the scene in housing's own tables (e.g. a step that began days ago), as time passing would."""
        async with self.pool.acquire() as conn:
            await conn.execute(statement, *args)

    async def wait_open_cases(self, want: int) -> None:
        """Until `want` cases are open with a housing need and assessed. `assessed` alone is not enough: needs
        (on `intake.special`) may arrive before the case opens (on `intake.events`) and wait on a placeholder row."""
        sql = "select count(*) from cases where assessed and housing_need and closed_on is null"
        await self.wait_sql(sql, want=want)

    async def wait_sql(self, sql: str, *args: Any, want: Any = True, timeout: float = 30) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        value = None
        while asyncio.get_running_loop().time() < deadline:
            async with self.pool.acquire() as conn:
                value = await conn.fetchval(sql, *args)
            if value == want:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"{sql} -> {value!r}, wanted {want!r}")


@asynccontextmanager
async def started_housing(
    kafka_bootstrap: str, database_url: str, schema: str, prefix: str, home: Path
) -> AsyncIterator[HousingUnderTest]:
    env = service_env(kafka_bootstrap, database_url, schema, prefix)
    await ensure_topics(kafka_bootstrap, prefix)
    process = ServiceProcess([sys.executable, "-m", "lgnet_housing.entrypoints.main"], env, home / "housing.log")
    await process.start()
    await process.check_answers()  # every answer the tests get, as housing's OpenAPI documents it
    pool = await db.create_pool(database_url, schema)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
    await producer.start()
    under_test = HousingUnderTest(process, pool, kafka_bootstrap, prefix, producer)
    try:
        async with pool.acquire() as conn:
            for actor_id, role, city in ACTORS:
                await auth.add_actor(conn, actor_id, role, city, actor_id)
                under_test.tokens[actor_id] = await auth.issue_token(conn, actor_id)
        yield under_test
    finally:
        await producer.stop()
        await pool.close()
        process.stop()


# The test's own housing, or its view of its module's one (`own_or_shared`).
housing, housing_own, housing_shared, housing_view = service_fixtures("housing", started_housing)


def household_events(
    hid: str,
    city: str,
    members: list[tuple[date, iev.Sex]],
    *,
    income: int = 100_000,
    opened_on: date = date(2026, 1, 10),
    accessibility: bool = False,
    specialist: bool = False,
    eviction: date | None = None,
    vulnerabilities: tuple[str, ...] = (),
    partner: str = "coop-aurora",
    sharing: bool = True,
) -> list[Event]:
    """What intake publishes for one household with a housing need: persons, each one's consent to sharing with
    partners (`sharing`: given, as the desk and a partner record it with the registration; else none recorded),
    household, case, assessment."""
    persons = [
        iev.PersonRegistered(
            person_id=f"{hid}-p{i}", household_id=hid, registered_by=partner, birth_date=b, sex=s, nationality="NG"
        )
        for i, (b, s) in enumerate(members)
    ]
    consents = [
        iev.ConsentRecorded(
            person_id=p.person_id, purpose=iev.ConsentPurpose.PARTNER_SHARING, granted=True, recorded_on=opened_on
        )
        for p in persons
        if sharing
    ]
    return [
        *persons,
        *consents,
        iev.HouseholdFormed(
            household_id=hid,
            city=city,
            reference_person_id=persons[0].person_id,
            member_ids=[p.person_id for p in persons],
        ),
        iev.CaseOpened(
            case_id=f"{hid}-case",
            household_id=hid,
            city=city,
            action_area=iev.ActionArea.HOUSING_INCLUSION,
            channel=iev.Channel.DESK,
            partner=partner,
            opened_on=opened_on,
            housing_need=True,
        ),
        iev.NeedsAssessed(
            case_id=f"{hid}-case",
            household_id=hid,
            vulnerabilities=list(vulnerabilities),
            housing_situation=iev.HousingSituation.HOMELESS,
            monthly_income_cents=income,
            employment_status=iev.EmploymentStatus.EMPLOYED_FIXED_TERM,
            eviction_date=eviction,
            accessibility_needs=accessibility,
            specialist_support=specialist,
            assessed_on=opened_on,
        ),
    ]
