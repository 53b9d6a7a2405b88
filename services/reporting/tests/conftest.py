"""The reporting service under test: a real process (national deployment) on the test's own topics and schema,
actors of two cities and the national role provisioned, and a publisher that writes other services' events
(envelopes built from the event models) straight to the test's topics."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.adapters import log, store
from lgnet_reporting.service_layer import projector
from lgnet_shared import auth, db
from lgnet_shared.auth import Role
from lgnet_shared.codec import to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import REGISTRY, Event
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.facts import signed_fact
from lgnet_shared.testing.plugin import service_fixtures
from lgnet_shared.testing.process import ServiceProcess, service_env
from lgnet_shared.testing.topics import Since
from lgnet_shared.topics import ensure_topics, physical

sys.path.insert(0, str(Path(__file__).parent))  # test modules import each other's helpers by name (importlib mode)
ACTORS = [
    ("staff-torino", Role.STAFF, "torino"),
    ("staff-trieste", Role.STAFF, "trieste"),
    ("coop-aurora", Role.PARTNER, "torino"),
    ("coordination", Role.NATIONAL, None),
    ("audit-office", Role.AUDITOR, None),  # every report, no drill-down, never publishes
]
MIN_CELL = 3


def written_topic(env: Envelope) -> str:
    """The topic an event of this version was written to (v1 assessments: `intake.events`; v2: `intake.special`)."""
    version = int((env.dataschema or "").rsplit(":v", 1)[1])
    return REGISTRY[(env.type, version)].model.topic


@dataclass
class ReportingUnderTest:
    process: ServiceProcess
    pool: Any
    bootstrap: str
    prefix: str
    env: dict[str, str]
    producer: AIOKafkaProducer
    tokens: dict[str, str] = field(default_factory=dict)
    since: Since = field(default_factory=dict)  # on a shared reporting: where its topics ended when the test began

    def client(self, actor: str | None) -> httpx.AsyncClient:
        return self.process.client(self.tokens[actor] if actor else None, timeout=30)

    def envelope(self, event: Event, city: str, day: Any = None) -> Envelope:
        when = datetime.combine(day, time(9), tzinfo=UTC) if day else None
        return to_envelope(event, source=f"/lgnet/{event.type.split('.')[1]}", city=city, time=when)

    async def send(self, envelopes: Iterable[Envelope], backdated: bool = False) -> None:
        """`backdated`: each record's own timestamp is its fact's time too, as a deployment that backdates its facts
        would write it (else the producer's clock: now)."""
        for env in envelopes:
            value, headers = await signed_fact(self.producer, self.prefix, env, written_topic(env))
            at = int(env.time.timestamp() * 1000) if backdated else None
            topic = physical(written_topic(env), self.prefix)
            await self.producer.send(topic, value, key=env.key, headers=headers, timestamp_ms=at)
        await self.producer.flush()

    async def settle(self, timeout: float = 30) -> store.Positions:
        """Wait until the projections have consumed everything on their topics; returns the positions."""
        topics = [physical(t, self.prefix) for t in projector.TOPICS]
        ends = await log.end_positions(self.bootstrap, topics)
        wanted = {t: {p: o for p, o in parts.items() if o > 0} for t, parts in ends.items()}
        wanted = {t: parts for t, parts in wanted.items() if parts}
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.pool.acquire() as conn:
                got = await store.positions(conn)
            if got == wanted:
                return got
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"projections did not catch up: {got} != {wanted}")
            await asyncio.sleep(0.2)

    async def replay(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Run the auditors' replay command as an auditor would (`env`: the auditor's, by default the service's);
        returns exit code and JSON lines."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lgnet_reporting.entrypoints.replay", *args,
            env=self.env if env is None else env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        if proc.returncode not in (0, 1):
            raise AssertionError(err.decode()[-3000:])
        return proc.returncode, lines


@asynccontextmanager
async def started_reporting(
    kafka_bootstrap: str, database_url: str, schema: str, prefix: str, home: Path
) -> AsyncIterator[ReportingUnderTest]:
    env = {**service_env(kafka_bootstrap, database_url, schema, prefix), "LGNET_REPORTING_MIN_CELL": "3"}
    await ensure_topics(kafka_bootstrap, prefix)
    process = ServiceProcess([sys.executable, "-m", "lgnet_reporting.entrypoints.main"], env, home / "reporting.log")
    await process.start()
    await process.check_answers()  # every answer the tests get, as reporting's OpenAPI documents it
    pool = await db.create_pool(database_url, schema, max_size=4)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    under_test = ReportingUnderTest(process, pool, kafka_bootstrap, prefix, env, producer)
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


# The test's own reporting, or its view of its module's one (`own_or_shared`).
reporting, reporting_own, reporting_shared, reporting_view = service_fixtures("reporting", started_reporting)


def scenario_events(rt: ReportingUnderTest) -> list[Envelope]:
    """Events of all three services for Torino, Trieste and Bologna; test_reports.py computes the expectations
    by hand from this story (see its docstring)."""
    from datetime import date as d

    from lgnet_shared.events import housing as h
    from lgnet_shared.events import intake as i
    from lgnet_shared.events import payments as p

    def person(pid: str, hh: str, born: Any, sex: i.Sex, nat: str) -> i.PersonRegistered:
        return i.PersonRegistered(person_id=pid, household_id=hh, registered_by="desk", birth_date=born, sex=sex,
                                  nationality=nat, third_country=True)  # fmt: skip

    def case(cid: str, hh: str, city: str, area: i.ActionArea, ch: i.Channel, on: Any) -> i.CaseOpened:
        return i.CaseOpened(case_id=cid, household_id=hh, city=city, action_area=area, channel=ch, partner="coop",
                            opened_on=on)  # fmt: skip

    F, M = i.Sex.FEMALE, i.Sex.MALE
    HI, TC, CE = i.ActionArea.HOUSING_INCLUSION, i.ActionArea.TAKING_CHARGE, i.ActionArea.CIVIC_ENGAGEMENT
    DESK, MOBILE = i.Channel.DESK, i.Channel.MOBILE_UNIT
    torino = [
        person("P1", "H1", d(1985, 3, 1), F, "MA"), person("P2", "H1", d(2015, 6, 1), M, "MA"),
        person("P3", "H1", d(2019, 1, 1), F, "MA"), person("P8", "H1", d(1960, 1, 1), M, "MA"),
        person("P4", "H2", d(1990, 1, 1), M, "NG"), person("P5", "H3", d(2008, 5, 10), M, "AF"),
        person("P7", "H3", d(1980, 1, 1), F, "AL"), person("P6", "H4", d(2008, 5, 10), M, "AF"),
        i.HouseholdFormed(household_id="H1", city="torino", reference_person_id="P1", member_ids=["P1", "P2", "P3"]),
        i.HouseholdFormed(household_id="H2", city="torino", reference_person_id="P4", member_ids=["P4"]),
        i.HouseholdFormed(household_id="H3", city="torino", reference_person_id="P5", member_ids=["P5", "P7"]),
        i.HouseholdFormed(household_id="H4", city="torino", reference_person_id="P6", member_ids=["P6"]),
        i.HouseholdMemberJoined(household_id="H1", person_id="P8", reason="reunification", on=d(2026, 3, 15)),
        # P8 named H1's reference person in P1's place (P1 stays a member): no count changes, the row names P8
        i.HouseholdReferencePersonChanged(household_id="H1", person_id="P8", previous_person_id="P1", reason="moved",
                                          on=d(2026, 4, 25)),
        i.ReferralReceived(referral_id="R-H1", household_id="H1", source=i.ReferralSource.SOCIAL_DISTRICT,
                           received_on=d(2026, 1, 5)),
        i.ReferralReceived(referral_id="R-H2", household_id="H2", source=i.ReferralSource.TERRITORY,
                           received_on=d(2026, 2, 10)),
        i.ReferralReceived(referral_id="R-H3", household_id="H3", source=i.ReferralSource.RECEPTION_EXIT,
                           received_on=d(2026, 1, 25)),
        case("C1", "H1", "torino", HI, DESK, d(2026, 1, 10)),
        case("C2", "H2", "torino", TC, MOBILE, d(2026, 2, 15)),
        case("C3", "H3", "torino", TC, DESK, d(2026, 2, 1)),
        case("C4", "H4", "torino", CE, DESK, d(2026, 3, 1)),
        # Assessments as written before v2 (on `intake.events`) and v3 (per household, on `intake.special`).
        i.NeedsAssessedV1(case_id="C1", household_id="H1", vulnerabilities=["eviction"],
                        housing_situation=i.HousingSituation.FACING_EVICTION, monthly_income_cents=0,
                        employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=d(2026, 1, 12)),
        i.NeedsAssessedV2(case_id="C2", household_id="H2", vulnerabilities=["addiction"],
                          housing_situation=i.HousingSituation.HOMELESS, monthly_income_cents=0,
                          employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=d(2026, 2, 16)),
        # Since v3 an assessment says whose each vulnerability is: P7's, not P5's (her 17-year-old son).
        i.NeedsAssessed(case_id="C3", household_id="H3", vulnerabilities=["victim_of_violence"],
                        vulnerabilities_by_person={"P7": ["victim_of_violence"]},
                        housing_situation=i.HousingSituation.HOMELESS, monthly_income_cents=0,
                        employment_status=i.EmploymentStatus.UNEMPLOYED, assessed_on=d(2026, 2, 5)),
        i.EmploymentRecorded(person_id="P1", case_id="C1", status=i.EmploymentStatus.UNEMPLOYED, as_of=d(2026, 1, 5)),
        i.EmploymentRecorded(person_id="P1", case_id="C1", status=i.EmploymentStatus.EMPLOYED_FIXED_TERM,
                             as_of=d(2026, 4, 1)),
        i.EmploymentRecorded(person_id="P4", status=i.EmploymentStatus.UNEMPLOYED, as_of=d(2026, 2, 1)),
        i.EmploymentRecorded(person_id="P7", status=i.EmploymentStatus.EMPLOYED_PERMANENT, as_of=d(2026, 1, 1)),
        i.PersonsMerged(surviving_person_id="P5", merged_person_id="P6", decided_by="staff-torino"),
        i.CaseClosed(case_id="C4", outcome=i.CaseOutcome.DROPPED_OUT, closed_on=d(2026, 3, 20)),
        i.CaseClosed(case_id="C1", outcome=i.CaseOutcome.HOUSING_AUTONOMY, closed_on=d(2026, 4, 20)),
        h.PlacementStarted(placement_id="PL1", match_id="M1", household_id="H1", case_id="C1", opportunity_id="O1",
                           city="torino", kind=h.HousingKind.PRIVATE_RENTAL, started_on=d(2026, 3, 1)),
        h.LeaseSigned(lease_id="L1", placement_id="PL1", household_id="H1", case_id="C1", city="torino",
                      lease_type=h.LeaseType.LEASE, monthly_rent_cents=60000, deposit_cents=120000,
                      start_date=d(2026, 3, 1), signed_on=d(2026, 3, 1)),
        p.BudgetAllocated(budget_line_id="BL1", city="torino", line="rent", amount_cents=10_000_000, on=d(2026, 1, 1)),
        p.BudgetAllocated(budget_line_id="BL2", city="torino", line="lease_activation", amount_cents=5_000_000,
                          on=d(2026, 1, 1)),
        # The vouchers' line: payments issues a voucher only from a line that holds its value.
        p.BudgetAllocated(budget_line_id="BL3", city="torino", line="voucher", amount_cents=500_000, on=d(2026, 1, 1)),
        p.ContributionPaid(request_id="RQ1", batch_id="B1", case_id="C1", household_id="H1", city="torino",
                           kind=p.ContributionKind.RENT, budget_line_id="BL1", amount_cents=50000,
                           paid_on=d(2026, 3, 5)),
        p.ContributionPaid(request_id="RQ2", batch_id="B1", case_id="C1", household_id="H1", city="torino",
                           kind=p.ContributionKind.LEASE_ACTIVATION, budget_line_id="BL2", amount_cents=120000,
                           paid_on=d(2026, 3, 2)),
        p.ContributionPaid(request_id="RQ3", batch_id="B2", case_id="C2", household_id="H2", city="torino",
                           kind=p.ContributionKind.RENT, budget_line_id="BL1", amount_cents=30000,
                           paid_on=d(2026, 3, 10)),
        p.ContributionPaymentFailed(request_id="RQ3", batch_id="B2", reason="ac04", on=d(2026, 3, 12)),
        p.VoucherIssued(voucher_id="V1", household_id="H1", case_id="C1", city="torino",
                        kind=p.VoucherKind.PUBLIC_TRANSPORT, value_cents=5000, budget_line_id="BL3",
                        valid_until=d(2026, 12, 31), on=d(2026, 3, 1)),
        p.VoucherRedeemed(voucher_id="V1", provider_id="gtt", amount_cents=2000, on=d(2026, 3, 10)),
        p.VoucherRedeemed(voucher_id="V1", provider_id="gtt", amount_cents=1500, on=d(2026, 4, 2)),
        p.VoucherIssued(voucher_id="V2", household_id="H2", case_id="C2", city="torino",
                        kind=p.VoucherKind.BABYSITTING, value_cents=8000, budget_line_id="BL3",
                        valid_until=d(2026, 6, 30), on=d(2026, 3, 15)),
        p.VoucherExpired(voucher_id="V2", remaining_cents=8000, on=d(2026, 6, 30)),
    ]  # fmt: skip
    trieste = [
        person("P9", "H5", d(1975, 7, 7), F, "PK"), person("P10", "H5", d(2012, 12, 12), M, "PK"),
        i.HouseholdFormed(household_id="H5", city="trieste", reference_person_id="P9", member_ids=["P9", "P10"]),
        i.ReferralReceived(referral_id="R-H5", household_id="H5", source=i.ReferralSource.SOCIAL_DISTRICT,
                           received_on=d(2026, 1, 15)),
        case("C5", "H5", "trieste", HI, DESK, d(2026, 1, 20)),
        h.PlacementStarted(placement_id="PL2", match_id="M2", household_id="H5", case_id="C5", opportunity_id="O2",
                           city="trieste", kind=h.HousingKind.SOLIDARITY_COHOUSING, started_on=d(2026, 2, 19)),
        i.PersonErased(person_id="P10", erased_on=d(2026, 5, 1)),
    ]  # fmt: skip
    bologna = [
        person("P11", "H6", d(1988, 4, 4), M, "TN"),
        i.HouseholdFormed(household_id="H6", city="bologna", reference_person_id="P11", member_ids=["P11"]),
        case("C6", "H6", "bologna", TC, DESK, d(2026, 2, 10)),
    ]

    def consent(pid: str, granted: bool = True, on: Any = d(2026, 1, 1)) -> i.ConsentRecorded:
        return i.ConsentRecorded(person_id=pid, purpose=i.ConsentPurpose.REPORTING, granted=granted, recorded_on=on)

    # Everyone consents to reporting at registration; P4 withdraws on 1 May (consent-based indicators drop P4).
    torino += [consent(f"P{n}") for n in range(1, 9)] + [consent("P4", False, d(2026, 5, 1))]
    trieste += [consent("P9"), consent("P10")]
    bologna.append(consent("P11"))
    return (
        [rt.envelope(e, "torino") for e in torino]
        + [rt.envelope(e, "trieste") for e in trieste]
        + [rt.envelope(e, "bologna") for e in bologna]
    )


@pytest.fixture
def scenario() -> Any:
    return scenario_events


async def load_scenario(reporting: ReportingUnderTest) -> ReportingUnderTest:
    """The scenario sent, with some events delivered twice (redelivery), and consumed."""
    envs = scenario_events(reporting)
    await reporting.send(envs)
    await reporting.send(
        [e for e in envs if e.type.endswith(("case_opened", "contribution_paid", "person_registered"))]
    )
    await reporting.settle()
    return reporting


@pytest.fixture
async def loaded(reporting: ReportingUnderTest) -> ReportingUnderTest:
    """The scenario sent, with some events delivered twice (redelivery), and consumed."""
    return await load_scenario(reporting)


@pytest.fixture(scope="module")
async def loaded_shared(reporting_shared: ReportingUnderTest) -> ReportingUnderTest:
    """`loaded` once for a module's shared reporting: for the module's tests that only read the loaded state (every
    fact counts in its city's figures, so a test that sends, publishes or replays-and-writes takes its own)."""
    return await load_scenario(reporting_shared)
