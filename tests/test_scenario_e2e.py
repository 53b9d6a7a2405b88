"""The main job end to end: the scenario of Torino and Trieste played against the four running services through
their public interfaces, then checked against the scenario's own truth."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from lgnet_scenario import driver, reports
from lgnet_scenario.housing_steps import call
from lgnet_scenario.payments_steps import iban
from lgnet_scenario.platform import Actors, Endpoints, Platform, provision
from lgnet_scenario.population import DEFAULT_CITIES, population
from lgnet_shared import clock
from lgnet_shared.codec import decode
from lgnet_shared.envelope import from_record
from lgnet_shared.events.intake import InboundRejected
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing.topics import read_topics
from lgnet_shared.topics import physical

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
SEED = 2026


@pytest.fixture(scope="module")
async def actors(platform_endpoints: Endpoints) -> Actors:
    """The scenario's actors, provisioned once for this module (each provisioning registers every partner's key
    again with intake's admin CLI)."""
    return await provision(platform_endpoints, {c.city: c.partners for c in DEFAULT_CITIES})


@pytest.fixture(scope="module")
async def played(platform_endpoints: Endpoints, actors: Actors) -> dict[str, Any]:
    """The scenario at its default size (the programme's published figures), played once for this module."""
    truth = await driver.run(platform_endpoints, cities=DEFAULT_CITIES, seed=SEED, progress=print, actors=actors)
    cities = {c.city: c.partners for c in DEFAULT_CITIES}
    platform = Platform(platform_endpoints, actors)
    try:
        bodies = await reports.caught_up(platform, truth, timeout=300)
        truth.published = await reports.publish(platform, list(cities), "e2e")
        national = await call(platform.http("reporting", "coordination"), "GET", "/reports/national")
    finally:
        await platform.close()
    return {"truth": truth, "reports": bodies, "national": national}


async def test_reports_equal_the_scenario_truth_and_the_published_figures(played: dict[str, Any]) -> None:
    truth: driver.Truth = played["truth"]
    trieste = played["reports"]["trieste"]["indicators"]
    torino = played["reports"]["torino"]["indicators"]
    # The programme's published results: Trieste 106 beneficiaries in 29 households, 47 minors; Torino more than
    # 160 people, about 60 minors.
    assert (trieste["persons"]["total"], trieste["households"]["total"], trieste["persons"]["minors"]) == (106, 29, 47)
    assert torino["persons"]["total"] > 160 and 55 <= torino["persons"]["minors"] <= 65
    for city, t in truth.cities.items():
        ind = played["reports"][city]["indicators"]
        assert ind["persons"]["total"] == t.persons
        assert ind["persons"]["minors"] == t.minors
        assert ind["persons"]["adults"] == t.persons - t.minors
        assert ind["households"]["total"] == t.households
        assert ind["households"]["single_person"] == t.single_persons
        assert ind["cases"]["opened"] == t.cases_opened
        assert ind["cases"]["closed"] == t.cases_closed
        assert ind["placements"]["started"] == t.placements
        assert sum(ind["leases_by_type"].values()) == t.leases
        assert ind["contributions_paid"]["amount_cents"] == t.contributions_paid_cents
        assert t.placements > 0 and t.leases > 0 and t.contributions_paid_cents > 0


async def test_civic_engagement_in_the_reports_equals_the_scenario_truth(played: dict[str, Any]) -> None:
    """#19: activities, sessions, participants, hours, certificates and CEFR progress per kind, as the scenario
    played them (partners' registers through the gatekeeper, the city's over HTTP); the fund's indicators follow."""
    truth: driver.Truth = played["truth"]
    for city, t in truth.cities.items():
        ind = played["reports"][city]["indicators"]
        total = t.civic["total"]
        got = ind["civic_engagement"]
        assert {f: got[f] for f in total} == total, city
        for kind, figures in t.civic.items():
            if kind != "total":
                assert ind["civic_by_kind"][kind] == figures, (city, kind)
        assert sum(m["sessions"] for m in ind["civic_monthly"]) == total["sessions"]
        assert total["sessions"] > 0 and total["completed"] > 0 and total["cefr_improved"] > 0
        assert got["volunteers"] > 0


async def test_the_financial_statement_matches_the_payments_ledger_to_the_cent(
    played: dict[str, Any], platform_endpoints: Endpoints, actors: Actors
) -> None:
    """Reporting's rendicontazione against payments' own figures, per budget line, as of today: the budget and
    what remains equal the ledger's grant_funding and budget_available balances; paid and committed equal the
    contribution requests payments reports paid and approved or batched; the payments listed behind a line are
    exactly the line's paid requests and add up to its paid figure."""
    cities = {c.city: c.partners for c in DEFAULT_CITIES}
    platform = Platform(platform_endpoints, actors)
    today = clock.today().isoformat()
    try:
        for city in cities:
            staff = f"staff-{city}"
            money = await call(platform.http("reporting", staff), "GET", f"/reports/financial_statement?as_of={today}")
            ledger = await call(platform.http("payments", staff), "GET", f"/budget-lines?as_of={today}")
            requests = await call(platform.http("payments", staff), "GET", "/contribution-requests")
            lines = {x["budget_line_id"]: x for x in money["lines"]}
            assert money["scope"] == city and set(lines) == {b["budget_line_id"] for b in ledger}, city
            assert money["totals"]["paid_cents"] > 0, city
            for book in ledger:
                line, balances = lines[book["budget_line_id"]], book["balances"]
                where = (city, book["line"])
                assert line["line"] == book["line"], where
                assert line["budget_cents"] == -balances.get("grant_funding", 0), where
                assert line["remaining_cents"] == balances.get("budget_available", 0), where
                mine = [r for r in requests if r["budget_line_id"] == book["budget_line_id"]]
                paid = {r["request_id"]: r["amount_cents"] for r in mine if r["status"] == "paid"}
                pending = [r["amount_cents"] for r in mine if r["status"] in ("approved", "batched")]
                assert line["paid_cents"] == sum(paid.values()), where
                assert line["committed_cents"] == sum(pending), where
                assert line["committed_cents"] == balances.get("committed", 0) + balances.get("in_transit", 0), where
                listed = {p["request_id"]: p["amount_cents"] for p in line["payments"]}
                assert listed == paid and sum(listed.values()) == line["paid_cents"], where
                assert line["paid_in_period_cents"] == line["paid_cents"], where
            assert money["totals"]["paid_cents"] == sum(x["paid_cents"] for x in money["lines"])
    finally:
        await platform.close()


async def test_national_aggregate_adds_up_the_cities_without_personal_data(played: dict[str, Any]) -> None:
    national = json.dumps(played["national"])
    people = population(DEFAULT_CITIES, seed=SEED)
    for households in people.values():
        for h in households:
            assert h.household_id not in national and h.reference.person_id not in national
    truth: driver.Truth = played["truth"]
    assert str(sum(t.persons for t in truth.cities.values())) in national


async def test_every_bad_partner_event_was_answered_with_its_reason(
    played: dict[str, Any], platform_endpoints: Endpoints
) -> None:
    truth: driver.Truth = played["truth"]
    answers: dict[str, InboundRejected] = {}
    partners = sorted({partner for partner, _ in truth.rejections_expected.values()})
    # Each partner's answers are on its own topic, which only it (and operators) may read.
    topics = [physical(f"partner.rejections.{p}", platform_endpoints.topic_prefix) for p in partners]
    records = [r for rs in (await read_topics(platform_endpoints.kafka, topics, quiet_ms=2000)).values() for r in rs]
    for record in records:
        event = decode(from_record(record.value, record.headers or (), record.key))
        assert isinstance(event, InboundRejected), event
        answers[event.inbound_event_id] = event
    for event_id, (_partner, kind) in truth.rejections_expected.items():
        assert event_id in answers, f"no answer to {kind} event {event_id}"
        assert answers[event_id].kind == kind, answers[event_id]
        assert answers[event_id].reason
    bad_date = next(e for e, (_, k) in truth.rejections_expected.items() if k == "invalid_data")
    assert answers[bad_date].field == "data.birth_date"


async def test_no_personal_data_in_plain_text_on_any_topic(
    played: dict[str, Any], platform_endpoints: Endpoints
) -> None:
    people = population(DEFAULT_CITIES, seed=SEED)
    # As they would appear in JSON or in a display name; short names alone could occur by chance in ciphertext.
    members = [p for hs in people.values() for h in hs for p in h.members]
    secrets = {f"{p.given_name} {p.family_name}" for p in members} | {f'"{p.family_name}"' for p in members}
    secrets |= {f'"{p.given_name}"' for p in members}
    # Every topic of the platform: facts, inbound, dead letters, each partner's rejections and reminders, the key
    # registries and the notary's checkpoints — a topic added later is covered without being named here.
    topics = await _all_topics(platform_endpoints)
    rejected = sorted({partner for partner, _ in played["truth"].rejections_expected.values()})
    assert {physical(f"partner.rejections.{p}", platform_endpoints.topic_prefix) for p in rejected} <= set(topics)
    # One consumer over every topic at once, until all are quiet for 2 s (a quiet period each took ~50 s).
    by_topic = await read_topics(platform_endpoints.kafka, topics, quiet_ms=2000)
    records = [r for topic in topics for r in by_topic[topic]]
    assert len(records) > 1000
    blob = b"\n".join((r.value or b"") + b"".join(v or b"" for _, v in r.headers or ()) for r in records)
    text = blob.decode("utf-8", "replace")
    found = sorted(s for s in secrets if s in text)
    assert not found, f"identifying data in plain text on Kafka: {found[:5]}"

    def on(logical: str) -> list[Any]:
        return by_topic[physical(logical, platform_endpoints.topic_prefix)]

    # Birth dates travel sealed (person_registered v3, partner registration v2); special-category data only on the
    # restricted intake.special.
    clear_birth = re.compile(rb'"birth_date": ?"\d{4}-\d{2}-\d{2}"')
    inbound = [t for t in topics if t.startswith(physical("partner.inbound", platform_endpoints.topic_prefix))]
    assert inbound, "the partners' inbound topics (one per city) were read"
    for topic in (physical("intake.events", platform_endpoints.topic_prefix), *inbound):
        leaked = [r for r in by_topic[topic] if clear_birth.search(r.value or b"")]
        assert not leaked, f"a birth date in clear on {topic}: {leaked[0].value[:200]!r}"
    public = on("intake.events")
    assert not [r for r in public if b"vulnerabilities" in (r.value or b"")], "vulnerabilities on intake.events"
    assert any(b"vulnerabilities" in (r.value or b"") for r in on("intake.special"))
    # Beneficiaries' IBANs (landlords of the paid contributions) never travel either.
    paid = [r for r in records if b"contribution_paid" in (r.value or b"")]
    assert paid
    for r in paid[:20]:
        request_id = json.loads(r.value)["data"]["request_id"]
        assert iban(request_id) not in text


def _read_logs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in sorted(folder.glob("*.log"))}


async def test_no_personal_data_in_the_services_logs(played: dict[str, Any], platform_logs: Path) -> None:
    """DESIGN section 5: logs never contain identifying data. What the four services logged while the scenario played
    (JSON lines an operator searches) holds none of its people's names or payees' names, nor any IBAN or fiscal code."""
    logs = _read_logs(platform_logs)
    assert set(logs) == {"intake.log", "housing.log", "payments.log", "reporting.log"}, sorted(logs)
    assert all(len(text.splitlines()) > 10 for text in logs.values()), {n: len(t) for n, t in logs.items()}
    people = population(DEFAULT_CITIES, seed=SEED)
    members = [p for hs in people.values() for h in hs for p in h.members]
    secrets = {f"{p.given_name} {p.family_name}" for p in members} | {f'"{p.family_name}"' for p in members}
    secrets |= {f'"{p.given_name}"' for p in members} | {f"{p.family_name} {p.given_name}" for p in members}
    secrets |= {f"Locatore {p.family_name}" for p in members}  # the payees' names the scenario enters
    # Any IBAN or fiscal code at all, not only the scenario's: none is ever logged.
    shapes = re.compile(r"\bIT\d{2}[A-Z]\d{10}[0-9A-Z]{12}\b|\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")
    for name, text in logs.items():
        found = sorted(s for s in secrets if s in text) + shapes.findall(text)
        assert not found, f"identifying data in {name}: {found[:5]}"


async def test_the_erased_person_is_unreadable_but_still_counted(
    played: dict[str, Any], platform_endpoints: Endpoints, actors: Actors
) -> None:
    truth: driver.Truth = played["truth"]
    platform = Platform(platform_endpoints, actors)
    try:
        person = await call(
            platform.http("intake", f"staff-{DEFAULT_CITIES[0].city}"), "GET", f"/persons/{truth.erased_person_id}"
        )
    finally:
        await platform.close()
    assert person.get("erased") or person.get("identity") in (None, {}), person
    assert all(v in (None, "") for v in (person.get("identity") or {}).values())
    ind = played["reports"][DEFAULT_CITIES[0].city]["indicators"]
    assert ind["persons"]["total"] == truth.cities[DEFAULT_CITIES[0].city].persons


async def test_the_auditors_replay_reproduces_the_published_reports(
    played: dict[str, Any], platform_endpoints: Endpoints
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": platform_endpoints.kafka,
        "DATABASE_URL": platform_endpoints.database_url,
        "LGNET_TOPIC_PREFIX": platform_endpoints.topic_prefix,
        "LGNET_DB_SCHEMA": platform_endpoints.schemas["reporting"],
        "LGNET_CITY": "national",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lgnet_reporting.entrypoints.replay", "--published"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    checks = [c for c in map(json.loads, done.stdout.splitlines()) if c.get("check") == "published"]
    published = played["truth"].published
    by_report = {c["report_id"]: c for c in checks}
    for scope, report in published.items():
        check = by_report[report["report_id"]]
        assert check["equal"] and check["replayed_digest"] == report["digest"], (scope, check)


async def _all_topics(ep: Endpoints) -> list[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(ep.kafka))
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(n for n in names if n.startswith(f"{ep.topic_prefix}lgnet."))


async def test_street_outreach_and_the_agenda_equal_the_scenario_truth(played: dict[str, Any]) -> None:
    """Issue #19: a year of street outreach in Torino and Trieste, as the reports count it."""
    truth: driver.Truth = played["truth"]
    assert set(truth.outreach) == {"torino", "trieste"}
    for city, t in truth.outreach.items():
        ind = played["reports"][city]["indicators"]
        street, agenda = ind["outreach"], ind["appointments"]
        assert street["outings"] == t.outings > 50
        assert street["outing_hours"] == round(t.outing_minutes / 60, 1)
        assert street["contacts"] == t.contacts
        assert street["persons_contacted"] == street["first_contacts"] == t.persons_contacted
        assert street["taken_in_charge"] == t.taken_in_charge > 0
        assert street["days_to_taking_in_charge_median"] == t.days_to_taking_in_charge_median
        assert street["taken_in_charge_share"] == round(t.taken_in_charge / t.persons_contacted, 4)
        assert ind["contacts_by_service_offered"] == dict(sorted(t.services_offered.items()))
        assert (agenda["booked"], agenda["attended"], agenda["no_show"], agenda["cancelled"]) == (
            t.appointments_booked,
            t.appointments_attended,
            t.appointments_no_show,
            t.appointments_cancelled,
        )
        assert t.reminders_sent == min(4, t.taken_in_charge)  # tomorrow's appointments, reminded once today
        months = [m for m in ind["outreach_monthly"] if m["outings"]]
        assert sum(m["contacts"] for m in months) == t.contacts and len(months) >= 12


async def test_the_households_changes_were_applied_and_counted(
    played: dict[str, Any], platform_endpoints: Endpoints, actors: Actors
) -> None:
    """Some households changed during the year (a baby born, a relative reunited, an adult who left on reaching
    autonomy), sent as partners and the desk send them: intake holds each household as it now stands, and the
    reports count everyone the case reached (the published figures, asserted above, include them)."""
    truth: driver.Truth = played["truth"]
    platform = Platform(platform_endpoints, actors)
    try:
        for city, t in truth.cities.items():
            assert {(c["change"], c["reason"]) for c in t.household_changes} == {
                ("joined", "birth"), ("joined", "reunification"), ("left", "autonomy")
            }, city  # fmt: skip
            staff = platform.http("intake", f"staff-{city}")
            for c in t.household_changes:
                case = await call(staff, "GET", f"/cases/{c['case_id']}")
                assert case["household_id"] == c["household_id"]
                assert (c["person_id"] in case["member_ids"]) == (c["change"] == "joined"), (city, c, case)
            ind = played["reports"][city]["indicators"]
            assert ind["persons"]["total"] == t.persons  # the joined and the one who left: all reached by the case
    finally:
        await platform.close()
