"""Federation end to end: the scenario played against per-city deployments (Torino's and Trieste's own
intake, housing, payments and reporting) and a national reporting deployment, all on one Kafka cluster and one
PostgreSQL server. Every report must equal what the single national deployment produces for the same
scenario: the scenario's truth, which tests/test_scenario_e2e.py checks the single deployment against."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from lgnet_scenario import driver, reports
from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import Endpoints, Platform, provision
from lgnet_scenario.population import scaled
from lgnet_shared import kafka_acls as ka
from lgnet_shared.deadletter import H_TOPIC
from lgnet_shared.events import partner as inbound
from lgnet_shared.fact_signing import registry_topic
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.sdk import PartnerClient
from lgnet_shared.testing.kafka_access import as_user, seed, try_consume, try_produce
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import TOPICS, for_city, for_partner, partner_inbound, physical, retired_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]
SEED = 2026
CITIES = scaled(0.3)


def registration(client: PartnerClient, person_id: str) -> inbound.PersonRegistrationSubmitted:
    return inbound.PersonRegistrationSubmitted(
        person_id=person_id,
        sex="female",
        nationality="NG",
        languages=["en"],
        literate=True,
        identity=inbound.PartnerIdentityV2(
            given_name=client.seal("given_name", "Ada"),
            family_name=client.seal("family_name", "Obi"),
            birth_date=client.seal_birth_date(date(1990, 5, 1)),
        ),
    )


@pytest.fixture(scope="module")
async def federated_run(federated_endpoints: Endpoints) -> dict[str, Any]:
    actors = await provision(federated_endpoints, {c.city: c.partners for c in CITIES})  # once for the module
    truth = await driver.run(federated_endpoints, cities=CITIES, seed=SEED, progress=print, actors=actors)
    platform = Platform(federated_endpoints, actors)
    try:
        own = await reports.caught_up(platform, truth, timeout=300)  # each city's own reporting deployment
        national = await call(platform.http("reporting", "coordination"), "GET", "/reports/national")
    finally:
        await platform.close()
    return {"truth": truth, "own": own, "national": national, "actors": actors}


async def test_each_city_deployment_reports_exactly_its_truth(federated_run: dict[str, Any]) -> None:
    truth: driver.Truth = federated_run["truth"]
    assert set(truth.cities) == {c.city for c in CITIES}
    for city, t in truth.cities.items():
        ind = federated_run["own"][city]["indicators"]
        assert (ind["persons"]["total"], ind["persons"]["minors"], ind["households"]["total"]) == (
            t.persons,
            t.minors,
            t.households,
        )
        assert ind["households"]["single_person"] == t.single_persons
        assert (ind["cases"]["opened"], ind["cases"]["closed"]) == (t.cases_opened, t.cases_closed)
        assert ind["placements"]["started"] == t.placements
        assert sum(ind["leases_by_type"].values()) == t.leases
        assert ind["contributions_paid"]["amount_cents"] == t.contributions_paid_cents
        assert t.placements > 0 and t.contributions_paid_cents > 0


async def test_the_national_deployment_counts_every_city_as_the_cities_do(federated_run: dict[str, Any]) -> None:
    """The national reporting deployment reads every city's facts; its row per city (cells not suppressed)
    equals what the city's own deployment reports, and its totals are the cities' sums."""
    national = federated_run["national"]
    for city, own in federated_run["own"].items():
        ind = own["indicators"]
        expected = {
            "persons": ind["persons"]["total"],
            "minors": ind["persons"]["minors"],
            "households": ind["households"]["total"],
            "cases_opened": ind["cases"]["opened"],
            "placements_started": ind["placements"]["started"],
            "paid_cents": ind["contributions_paid"]["amount_cents"],
        }
        row = national["by_city"][city]
        assert row["persons"] == expected["persons"] and row["households"] == expected["households"], city
        shown = {k: row[k] for k in expected if isinstance(row.get(k), int)}
        assert shown == {k: expected[k] for k in shown}, city
    truth: driver.Truth = federated_run["truth"]
    assert national["indicators"]["persons"]["total"] == sum(t.persons for t in truth.cities.values())
    assert national["indicators"]["households"]["total"] == sum(t.households for t in truth.cities.values())


async def test_a_partner_may_compress_with_any_codec_and_an_unreadable_record_blocks_nothing(
    federation: Any, federated_run: dict[str, Any]
) -> None:
    """Partners use whatever their Kafka client does by default: every codec is read. A record nobody can read
    is dead-lettered, and the same partner's later records (same key, so same partition) are still processed."""
    ep = federation.endpoints
    plan = CITIES[0]
    partner = plan.partners[0]
    platform = Platform(ep, federated_run["actors"])
    run = uuid.uuid4().hex[:6]
    sent: list[str] = []
    try:
        for codec in ("gzip", "snappy", "lz4", "zstd", None):
            async with await platform.partner_client(partner, plan.city, compression_type=codec) as client:
                if codec is None:  # garbage first, on the partner's own partition, then one more registration
                    unreadable = b"\x00\xff not an event \xfe"
                    await client._producer.send_and_wait(  # type: ignore[union-attr]
                        partner_inbound(plan.city, ep.topic_prefix), unreadable, key=partner.encode()
                    )
                person_id = f"codec-{codec or 'after-garbage'}-{run}"
                await client.emit(registration(client, person_id))
                sent.append(person_id)
        api = platform.http("intake", f"staff-{plan.city}")  # staff read every person of their city
        for person_id in sent:
            for _ in range(120):
                if (await api.get(f"/persons/{person_id}")).status_code == 200:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"{person_id} was not registered")
    finally:
        await platform.close()
    dead = await read_records(ep.kafka, physical("deadletter", ep.topic_prefix), quiet_ms=2000)
    inbound_topic = partner_inbound(plan.city, ep.topic_prefix).encode()
    garbage = [d for d in dead if dict(d.headers).get(H_TOPIC) == inbound_topic]
    assert any(d.value and d.value.startswith(b"\x00\xff not an event") for d in garbage), "not dead-lettered"


async def test_the_broker_refuses_what_each_principal_may_not_do(
    federation: Any, federated_run: dict[str, Any]
) -> None:
    """Every running deployment's principal and two partners, against every topic of the run, produce and
    consume: allowed exactly where the registry's derivation says (0 wrongly allowed, 0 wrongly refused)."""
    ep = federation.endpoints
    admin = KafkaSecurity.from_env()
    parties = dict(federation.principals.values())
    # Partners of this test alone: SCRAM users are not per topic prefix, and the scenario's partners (coop-aurora, …)
    # log in with a password every play shares (lgnet_scenario.platform.partner_password) while other modules play
    # side by side; a new password for one of them here broke their logins, and theirs ours.
    run = uuid.uuid4().hex[:8]
    partners = {f"matrix-{run}-a": "torino", f"matrix-{run}-b": "trieste"}  # each answered by its city only
    async with Admin(ep.kafka, admin, ep.topic_prefix) as provisioning:
        for p, city in partners.items():
            principal, password = ka.Principal.partner_(p, city=city), ka.new_password()
            await provisioning.provision(principal, password=password)
            parties[principal] = as_user(admin, principal.name, password)
        await provisioning.create_topics()
        await provisioning.create_topics(retired_topics())  # as a cluster from before the per-city topics holds them
        cities = await provisioning.partner_cities()
    topics = [physical(t.name, ep.topic_prefix) for t in TOPICS.values() if not t.family]
    # Each city's partners' inbound topic, for the cities of the run (a partner writes, an intake reads its own).
    run_cities = sorted(set(partners.values()))
    topics += [
        physical(for_city(t.name, c), ep.topic_prefix) for t in TOPICS.values() if t.per_city for c in run_cities
    ]
    topics += [
        physical(for_partner(t.name, p), ep.topic_prefix) for t in TOPICS.values() if t.per_partner for p in partners
    ]
    # Each running deployment's signing-key registry, which its service created and wrote at start (#16).
    topics += sorted({registry_topic(p.deployment, p.role, ep.topic_prefix) for p in parties if p.deployment})
    await seed(ep.kafka, admin, topics)  # a record at offset 0 of partition 0 for the readers to find
    sem = asyncio.Semaphore(8)

    async def attempt(principal: ka.Principal, op: str, topic: str) -> tuple[str, str, str, bool, bool]:
        expected = ka.allowed(principal, op, topic, ep.topic_prefix, cities)
        act = try_produce if op == "write" else try_consume
        async with sem:
            return principal.name, op, topic, expected, await act(ep.kafka, parties[principal], topic)

    results = await asyncio.gather(*(attempt(p, op, t) for p in parties for op in ("write", "read") for t in topics))
    wrongly_allowed = [r[:3] for r in results if r[4] and not r[3]]
    wrongly_refused = [r[:3] for r in results if r[3] and not r[4]]
    print(
        f"federated broker matrix: {len(results)} attempts ({len(parties)} principals x {len(topics)} topics x 2),"
        f" {sum(r[4] for r in results)} allowed, {len(wrongly_allowed)} wrongly allowed,"
        f" {len(wrongly_refused)} wrongly refused"
    )
    assert len(results) == len(parties) * len(topics) * 2
    assert wrongly_allowed == [] and wrongly_refused == []
    outcome = {(r[0], r[1], r[2]): r[4] for r in results}
    names = {key: principal.name for key, (principal, _) in federation.principals.items()}
    a, b = partners  # Torino's, Trieste's
    partner_a = f"partner.{a}"
    rejections_b = physical(for_partner("partner.rejections.{partner}", b), ep.topic_prefix)
    # The federation issue's cases, spelled out.
    assert outcome[(partner_a, "write", physical("payments.events", ep.topic_prefix))] is False
    assert outcome[(partner_a, "read", rejections_b)] is False
    reminders_a, reminders_b = (
        physical(for_partner("partner.reminders.{partner}", p), ep.topic_prefix) for p in partners
    )
    assert outcome[(partner_a, "read", reminders_a)] is True
    assert outcome[(partner_a, "read", reminders_b)] is False
    assert outcome[(names["torino.housing"], "write", reminders_a)] is True  # the case's partner is told
    # A partner is told by its own city's deployments only: Torino's cannot write (or forge) Trieste's partner's.
    assert outcome[(names["torino.housing"], "write", reminders_b)] is False
    assert outcome[(names["trieste.housing"], "write", reminders_b)] is True
    assert outcome[(names["torino.intake"], "write", rejections_b)] is False
    assert outcome[(names["torino.housing"], "read", reminders_b)] is False
    assert outcome[(names["torino.housing"], "read", rejections_b)] is False
    assert outcome[(names["national.reporting"], "write", physical("intake.events", ep.topic_prefix))] is False
    assert outcome[(names["torino.payments"], "read", physical("intake.special", ep.topic_prefix))] is False
    assert outcome[(names["trieste.intake"], "write", physical("intake.events", ep.topic_prefix))] is True
    # A deployment registers signing keys on its own registry only, never in another deployment's name (#16).
    torino_keys = registry_topic(federation.principals["torino.intake"][0].deployment or "", "intake", ep.topic_prefix)
    assert outcome[(names["torino.intake"], "write", torino_keys)] is True
    assert outcome[(names["trieste.intake"], "write", torino_keys)] is False
    assert outcome[(names["torino.housing"], "write", torino_keys)] is False
    assert outcome[(names["trieste.intake"], "read", torino_keys)] is True
