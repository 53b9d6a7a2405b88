"""The broker authenticates and authorises: against the real secured broker (`make test` provisions one).

The authorisation matrix is computed from the topic registry: every role x every topic x (produce, consume) is
attempted with the role's own credentials, and the outcome must be exactly what `kafka_acls.allowed` derives.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from lgnet_shared import broker_time
from lgnet_shared import kafka_acls as ka
from lgnet_shared.broker_time import LOG_APPEND_TIME, TIMESTAMP_TYPE
from lgnet_shared.cities import CITIES, programme_cities
from lgnet_shared.fact_signing import FactSigner, publish_key, read_registry, registry_topic
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.kafka_admin import main as admin_main
from lgnet_shared.testing.kafka_access import as_user, seed, try_consume, try_produce
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.topics import (
    TOPICS,
    TopicsNotCreated,
    ensure_topics,
    for_city,
    for_partner,
    for_writer,
    physical,
    retired_topics,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def admin_security() -> KafkaSecurity:
    sec = KafkaSecurity.from_env()
    if sec.security_protocol != "SASL_SSL":
        pytest.fail(
            "these tests need the secured broker: run them with `make test` (deploy/local/infra.py provisions"
            " TLS + SASL/SCRAM and writes the admin's KAFKA_* settings into .local/infra.env)",
            pytrace=False,
        )
    return sec


async def refused(bootstrap: str, security: KafkaSecurity) -> str:
    """Connect and ask for metadata; the name of the error that stopped it ('' if it was let in)."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, security), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 15)
        await admin.list_topics()
        return ""
    except (KafkaError, OSError, TimeoutError) as exc:
        return type(exc).__name__ or "error"
    finally:
        await admin.close()


async def refused_soon(bootstrap: str, security: KafkaSecurity, seconds: float = 5) -> str:
    """A changed credential reaches the broker's authenticator through its metadata log, a moment later."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not (why := await refused(bootstrap, security)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
    return why


async def test_plaintext_client_is_refused(kafka_bootstrap: str, admin_security: KafkaSecurity) -> None:
    assert await refused(kafka_bootstrap, KafkaSecurity()) != ""
    # TLS without logging in is refused too, and the admin's own settings get in.
    assert await refused(kafka_bootstrap, KafkaSecurity(security_protocol="SSL", ssl_cafile=admin_security.ssl_cafile))
    assert await refused(kafka_bootstrap, admin_security) == ""


async def test_wrong_password_and_unknown_user_are_refused(kafka_bootstrap: str, admin_security: KafkaSecurity) -> None:
    assert await refused(kafka_bootstrap, as_user(admin_security, "admin", "not-the-password")) != ""
    assert await refused(kafka_bootstrap, as_user(admin_security, f"nobody-{uuid.uuid4().hex}", "x")) != ""


async def test_a_broker_certificate_from_another_ca_is_refused(
    kafka_bootstrap: str, admin_security: KafkaSecurity
) -> None:
    # The system's CAs never signed the project CA's broker certificate: the client does not talk to it.
    assert await refused(kafka_bootstrap, admin_security.model_copy(update={"ssl_cafile": None})) != ""


@dataclass
class Party:
    principal: ka.Principal
    security: KafkaSecurity


@pytest.fixture(scope="module")
def party_prefix() -> str:
    """The topic prefix of the module's parties, whose ACLs name it: the tests that use them share it. Provisioning
    thirteen principals took ≈ 6 s of each of them, and more beside the suite's other workers."""
    return new_topic_prefix()


@pytest.fixture(scope="module")
async def parties(
    kafka_bootstrap: str, admin_security: KafkaSecurity, party_prefix: str
) -> AsyncIterator[dict[str, Party]]:
    """One principal per role (three cities' deployments and a national one, partners of two cities, an auditor,
    the national coordination), provisioned as lgnet-kafka-admin does, under `party_prefix`: the deployments before
    the partners (a partner joins a city whose deployments run), Trieste's partners before Trieste's housing.
    Trieste's intake was there before the per-city inbound topics: it drains the old shared one. The tests only
    use them (none changes a credential or an ACL); what they write goes to topics of their own or is read back
    by its offset."""
    uid = uuid.uuid4().hex[:8]
    principals = {
        **{f"torino.{s}": ka.Principal.service(f"torino-{uid}", s) for s in ("intake", "housing", "payments")},
        "torino.reporting": ka.Principal.service(f"torino-{uid}", "reporting"),
        "trieste.intake": ka.Principal.service(f"trieste-{uid}", "intake", drain_old_inbound=True),
        "genova.intake": ka.Principal.service(f"genova-{uid}", "intake"),
        "national.intake": ka.Principal.service(f"national-{uid}", "intake"),
        "partner.a": ka.Principal.partner_(f"coop-a-{uid}", city="torino"),
        "partner.b": ka.Principal.partner_(f"coop-b-{uid}", city="trieste"),
        "partner.t": ka.Principal.partner_(f"coop-t-{uid}", city="trieste"),
        "trieste.housing": ka.Principal.service(f"trieste-{uid}", "housing"),
        "auditor": ka.Principal.auditor(f"audit-{uid}"),
        "national": ka.Principal.national(f"nat-{uid}"),
        "notary": ka.Principal.notary(f"nat-{uid}"),
    }
    out = {}
    async with Admin(kafka_bootstrap, admin_security, party_prefix) as admin:
        await admin.create_topics()
        await admin.create_topics(retired_topics())  # as a cluster from before per-city and per-partner topics holds
        for key, principal in principals.items():
            password, _ = await admin.provision(principal)
            assert password is not None
            out[key] = Party(principal, as_user(admin_security, principal.name, password))
    try:
        yield out
    finally:
        async with Admin(kafka_bootstrap, admin_security, party_prefix) as admin:
            for party in out.values():
                await ka.delete_credentials(admin.client, party.principal.name)
                await ka.delete_acls(admin.client, party.principal.user)


def matrix_topics(prefix: str, parties: dict[str, Party]) -> list[str]:
    """Every registry topic; per-partner ones once for each provisioned partner, per-city ones for each city of
    a provisioned party."""
    names = []
    cities = sorted({p.principal.city for p in parties.values() if p.principal.city in CITIES})
    for t in TOPICS.values():
        if t.per_city:
            names += [physical(for_city(t.name, city), prefix) for city in cities]
        elif t.per_partner:
            names += [
                physical(for_partner(t.name, p.principal.partner), prefix)
                for p in parties.values()
                if p.principal.partner
            ]
        elif t.per_writer:  # each service deployment's signing-key registry
            names += [
                physical(for_writer(t.name, p.principal.deployment, p.principal.role), prefix)
                for p in parties.values()
                if p.principal.deployment
            ]
        else:
            names.append(physical(t.name, prefix))
    return names


async def test_authorisation_matrix_is_exactly_the_derived_acls(
    kafka_bootstrap: str, admin_security: KafkaSecurity, party_prefix: str, parties: dict[str, Party]
) -> None:
    topics = matrix_topics(party_prefix, parties)
    await seed(kafka_bootstrap, admin_security, topics)

    cities = {
        p.principal.partner: p.principal.city for p in parties.values() if p.principal.partner and p.principal.city
    }

    async def attempt(party: Party, op: str, topic: str) -> tuple[str, str, str, bool, bool]:
        expected = ka.allowed(party.principal, op, topic, party_prefix, cities)
        act = try_produce if op == "write" else try_consume
        return party.principal.name, op, topic, expected, await act(kafka_bootstrap, party.security, topic)

    sem = asyncio.Semaphore(8)

    async def limited(party: Party, op: str, topic: str) -> tuple[str, str, str, bool, bool]:
        async with sem:
            return await attempt(party, op, topic)

    results = await asyncio.gather(
        *(limited(p, op, t) for p in parties.values() for op in ("write", "read") for t in topics)
    )
    wrongly_allowed = [r for r in results if r[4] and not r[3]]
    wrongly_refused = [r for r in results if r[3] and not r[4]]
    allowed = [r for r in results if r[4]]
    print(
        f"authorisation matrix: {len(results)} attempts ({len(parties)} principals x {len(topics)} topics x 2),"
        f" {len(allowed)} allowed, {len(results) - len(allowed)} refused, {len(wrongly_allowed)} wrongly allowed,"
        f" {len(wrongly_refused)} wrongly refused"
    )
    assert len(results) == len(parties) * len(topics) * 2
    assert wrongly_allowed == []
    assert wrongly_refused == []
    # The cases the federation issue names, spelled out.
    a, b = parties["partner.a"].principal, parties["partner.b"].principal
    rejections_b = physical(for_partner("partner.rejections.{partner}", b.partner or ""), party_prefix)
    outcome = {(r[0], r[1], r[2]): r[4] for r in results}
    assert outcome[(a.name, "write", physical("payments.events", party_prefix))] is False
    # A partner writes its own city's inbound topic only; an intake reads its city's only, a national one every
    # city's; the old shared topic is read only by a deployment draining it, and written by nobody.
    inbound = {city: physical(for_city("partner.inbound.{city}", city), party_prefix) for city in ("torino", "trieste")}
    old_inbound = physical("partner.inbound", party_prefix)
    assert outcome[(a.name, "write", inbound["torino"])] is True
    assert outcome[(a.name, "write", inbound["trieste"])] is False
    assert outcome[(a.name, "write", old_inbound)] is False
    assert outcome[(b.name, "write", inbound["trieste"])] is True
    intake = {city: parties[f"{city}.intake"].principal.name for city in ("torino", "trieste", "genova", "national")}
    assert outcome[(intake["genova"], "read", inbound["torino"])] is False
    assert outcome[(intake["genova"], "read", old_inbound)] is False
    assert outcome[(intake["torino"], "read", inbound["torino"])] is True
    assert outcome[(intake["torino"], "read", inbound["trieste"])] is False
    assert outcome[(intake["trieste"], "read", old_inbound)] is True
    assert outcome[(intake["national"], "read", inbound["torino"])] is True
    assert outcome[(intake["national"], "read", inbound["trieste"])] is True
    assert outcome[(a.name, "read", rejections_b)] is False
    assert outcome[(b.name, "read", rejections_b)] is True
    assert outcome[(parties["auditor"].principal.name, "write", physical("intake.events", party_prefix))] is False
    assert outcome[(parties["national"].principal.name, "read", physical("payments.events", party_prefix))] is True
    assert (
        outcome[(parties["torino.housing"].principal.name, "write", physical("intake.events", party_prefix))] is False
    )
    assert (
        outcome[(parties["torino.intake"].principal.name, "read", physical("partner.rejections", party_prefix))]
        is False
    )
    # A partner's answers come from its own city's intake and housing (and the national ones), never another city's.
    answers_a = [
        physical(for_partner(f"partner.{kind}.{{partner}}", a.partner or ""), party_prefix)
        for kind in ("rejections", "reminders")
    ]
    t = parties["partner.t"].principal.partner or ""
    reminders_t = physical(for_partner("partner.reminders.{partner}", t), party_prefix)
    for who, may in (("torino.intake", True), ("trieste.intake", False), ("national.intake", True)):
        for topic in answers_a:
            assert outcome[(parties[who].principal.name, "write", topic)] is may, (who, topic)
    assert outcome[(parties["torino.housing"].principal.name, "write", answers_a[1])] is True
    assert outcome[(parties["trieste.housing"].principal.name, "write", answers_a[1])] is False
    assert outcome[(parties["trieste.housing"].principal.name, "write", reminders_t)] is True
    assert outcome[(parties["torino.housing"].principal.name, "write", reminders_t)] is False
    # Only the notary publishes checkpoints: not a city's reporting, which could otherwise make audits fail.
    checkpoints = physical("checkpoints", party_prefix)
    assert outcome[(parties["torino.reporting"].principal.name, "write", checkpoints)] is False
    assert outcome[(parties["notary"].principal.name, "write", checkpoints)] is True
    assert outcome[(parties["notary"].principal.name, "write", physical("reporting.events", party_prefix))] is False


async def test_a_deployment_uses_only_its_own_consumer_groups_and_produces_idempotently(
    kafka_bootstrap: str, party_prefix: str, parties: dict[str, Party]
) -> None:
    housing = parties["torino.housing"]
    topic = physical("intake.events", party_prefix)
    # Services' producers are idempotent: WRITE on a topic is enough (no IDEMPOTENT_WRITE on the cluster).
    producer = AIOKafkaProducer(
        **client_kwargs(kafka_bootstrap, parties["torino.intake"].security), enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"fact", key=b"k")
    finally:
        await producer.stop()

    async def join(group: str) -> str:
        consumer = AIOKafkaConsumer(
            topic, **client_kwargs(kafka_bootstrap, housing.security), group_id=group, auto_offset_reset="earliest"
        )
        try:
            await consumer.start()
            await consumer.getmany(timeout_ms=3000)
            await consumer.commit()
            return "ok"
        except GroupAuthorizationFailedError:
            return "refused"
        finally:
            await consumer.stop()

    own = housing.principal.group_prefix(party_prefix) + "intake"
    trieste = ka.Principal.service(f"trieste-{uuid.uuid4().hex[:6]}", "housing").group_prefix(party_prefix) + "intake"
    assert await join(own) == "ok"
    assert await join(trieste) == "refused"
    assert await join(f"{party_prefix}anything") == "refused"


def test_derived_acls_follow_the_registry() -> None:
    cities = {"coop-aurora": "torino", "coop-mare": "genova"}
    intake = ka.derive(ka.Principal.service("torino", "intake"), "p.", cities)
    assert {str(a) for a in intake} == {
        "User:service.torino.intake WRITE TOPIC p.lgnet.intake.events (literal)",
        "User:service.torino.intake WRITE TOPIC p.lgnet.intake.special (literal)",
        "User:service.torino.intake WRITE TOPIC p.lgnet.deadletter (literal)",
        # its city's partners' records only (on the old shared topic, every intake read every city's)
        "User:service.torino.intake READ TOPIC p.lgnet.partner.inbound.torino (literal)",
        # the answer topics of its own city's partners only (not Genova's coop-mare)
        "User:service.torino.intake WRITE TOPIC p.lgnet.partner.rejections.coop-aurora (literal)",
        "User:service.torino.intake CREATE TOPIC p.lgnet.partner.rejections.coop-aurora (literal)",
        # partners' reminders of tomorrow's appointments (#19), created by their first writer when missing
        "User:service.torino.intake WRITE TOPIC p.lgnet.partner.reminders.coop-aurora (literal)",
        "User:service.torino.intake CREATE TOPIC p.lgnet.partner.reminders.coop-aurora (literal)",
        "User:service.torino.intake READ GROUP p.torino.intake. (prefixed)",
        # its own fact-signing key registry only, made and written at start-up; every deployment's, to verify
        # their facts (#16)
        "User:service.torino.intake WRITE TOPIC p.lgnet.signing-keys.torino.intake (literal)",
        "User:service.torino.intake CREATE TOPIC p.lgnet.signing-keys.torino.intake (literal)",
        "User:service.torino.intake READ TOPIC p.lgnet.signing-keys. (prefixed)",
    }
    partner = {str(a) for a in ka.derive(ka.Principal.partner_("coop-aurora", city="torino"))}
    assert partner == {
        "User:partner.coop-aurora WRITE TOPIC lgnet.partner.inbound.torino (literal)",
        "User:partner.coop-aurora READ TOPIC lgnet.partner.rejections.coop-aurora (literal)",
        "User:partner.coop-aurora READ TOPIC lgnet.partner.reminders.coop-aurora (literal)",
        "User:partner.coop-aurora READ GROUP partner.coop-aurora. (prefixed)",
        # every deployment's public keys: the SDK verifies who signed each answer (#16); nothing to write there
        "User:partner.coop-aurora READ TOPIC lgnet.signing-keys. (prefixed)",
    }
    auditor = ka.derive(ka.Principal.auditor("eu"))
    assert {a.operation for a in auditor} == {ka.Op.READ}
    # A national intake reads every programme city's partners' records (all 16 unless the operator names fewer;
    # test_programme_cities.py); a deployment draining the old shared topic reads it.
    national_intake = {a.resource_name for a in ka.derive(ka.Principal.service("national", "intake"))}
    assert {n for n in national_intake if n.startswith("lgnet.partner.inbound")} == {
        f"lgnet.partner.inbound.{city}" for city in programme_cities()
    }
    draining = ka.Principal.service("torino-north", "intake", city="torino", drain_old_inbound=True)
    assert ka.allowed(draining, "read", "lgnet.partner.inbound")
    assert not ka.allowed(
        ka.Principal.service("torino-north", "intake", city="torino"), "read", "lgnet.partner.inbound"
    )
    # Whose city is unknown gets no inbound topic at all: a clear error, not every city's.
    for cityless in (ka.Principal.partner_("coop-aurora"), ka.Principal.service("north", "intake")):
        with pytest.raises(ka.PrincipalError, match="city"):
            ka.derive(cityless)
    facts = {t.physical() for t in TOPICS.values() if "auditor" in t.readers and not t.family}
    facts.add("lgnet.signing-keys.")  # every deployment's registry (prefixed): the producers' keys, which auditors pin
    assert {a.resource_name for a in auditor if a.resource_type == ka.ResourceType.TOPIC} == facts
    assert facts == {
        "lgnet.intake.events",
        "lgnet.intake.special",  # auditors reproduce the counts by vulnerability
        "lgnet.housing.events",
        "lgnet.payments.events",
        "lgnet.reporting.events",
        "lgnet.signing-keys.",
        "lgnet.checkpoints",  # the notary's signed checkpoints
    }
    national = ka.derive(ka.Principal.national("main"))
    assert "lgnet.intake.special" not in {a.resource_name for a in national}, "need to know: not the national level"
    payments = ka.derive(ka.Principal.service("torino", "payments"))
    assert "lgnet.intake.special" not in {a.resource_name for a in payments}
    # The notary reads every fact topic (to hash it, special-category one included) and alone writes checkpoints.
    notary = ka.derive(ka.Principal.notary("national"))
    assert {str(a) for a in notary if a.operation != ka.Op.READ} == {
        "User:notary.national WRITE TOPIC lgnet.checkpoints (literal)"
    }
    assert {a.resource_name for a in notary if a.resource_type == ka.ResourceType.TOPIC} == facts
    assert not any(a.resource_name == "lgnet.checkpoints" and a.operation == ka.Op.WRITE for a in national)
    for service in ("intake", "housing", "payments", "reporting"):
        assert not ka.allowed(ka.Principal.service("national", service), "write", "lgnet.checkpoints")
    housing = {str(a) for a in ka.derive(ka.Principal.service("torino-north", "housing"), "", cities)}
    assert "User:service.torino-north.housing WRITE TOPIC lgnet.partner.reminders.coop-aurora (literal)" in housing
    assert not any("coop-mare" in a or (a.endswith(". (prefixed)") and "partner" in a) for a in housing)
    assert not any("rejections" in a for a in housing)  # housing answers no partner's inbound event
    # The national deployment serves every city: every partner's answer topics, those added later too.
    national_intake = {str(a) for a in ka.derive(ka.Principal.service("national", "intake"), "", cities)}
    assert "User:service.national.intake WRITE TOPIC lgnet.partner.rejections. (prefixed)" in national_intake
    assert "User:service.national.intake WRITE TOPIC lgnet.partner.reminders. (prefixed)" in national_intake


def test_principal_names_are_checked() -> None:
    for bad in ("bogus", "service.torino.nothing", "service.Torino!.intake", "partner.a b", "service.partner.intake"):
        with pytest.raises(ka.PrincipalError):
            ka.Principal.parse(bad)
    assert ka.Principal.parse("coordination.main").role == "national"
    assert ka.Principal.parse("notary.national").role == "notary"
    with pytest.raises(ka.PrincipalError):
        ka.Principal.service("notary", "reporting")  # its group prefix is the notary's
    # A deployment's city is the one its name says; told another, it is refused.
    assert ka.Principal.service("torino-north", "intake", city="torino").city == "torino"
    assert ka.Principal.service("national-2", "reporting").city == "national"
    with pytest.raises(ka.PrincipalError, match="not a deployment of genova"):
        ka.Principal.service("torino-north", "intake", city="genova")


async def test_admin_cli_provisions_rotates_and_revokes(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    partner = f"coop-cli-{uuid.uuid4().hex[:6]}"
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    run = asyncio.to_thread

    def password_from(out: str) -> str:
        return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KAFKA_SASL_PASSWORD="))

    assert await run(admin_main, [*base, "add-partner", partner, "--city", "torino"]) == 0
    first = password_from(capsys.readouterr().out)
    user = f"partner.{partner}"
    assert await refused(kafka_bootstrap, as_user(admin_security, user, first)) == ""
    assert await run(admin_main, [*base, "rotate", user]) == 0
    second = password_from(capsys.readouterr().out)
    assert await refused_soon(kafka_bootstrap, as_user(admin_security, user, first)) != ""
    assert await refused(kafka_bootstrap, as_user(admin_security, user, second)) == ""
    assert await run(admin_main, [*base, "acls", user, "--city", "torino"]) == 0
    shown = capsys.readouterr().out
    assert f"READ TOPIC {topic_prefix}lgnet.partner.rejections.{partner} (literal)" in shown
    assert f"  User:{user} WRITE TOPIC {topic_prefix}lgnet.partner.inbound.torino (literal)" in shown
    assert await run(admin_main, [*base, "revoke", user]) == 0
    assert "5 ACLs deleted" in capsys.readouterr().out  # inbound, rejections, reminders, its groups, key registries
    assert await refused_soon(kafka_bootstrap, as_user(admin_security, user, second)) != ""
    assert await run(admin_main, [*base, "revoke", user]) == 1
    assert "neither credentials nor ACLs" in capsys.readouterr().err


async def test_each_change_lgnet_kafka_admin_makes_says_who_made_it(
    kafka_bootstrap: str,
    topic_prefix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partner was granted the inbound topic, its password rotated, its access revoked, and nothing said which of
    the IT team did it (the other admin commands record it). Each change is one JSON line on stderr naming who
    (`--by`, else LGNET_ADMIN_BY, else the OS login), the command and the principal — never the password; a read or
    a refused command says nothing."""
    monkeypatch.delenv("LGNET_ADMIN_BY", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "os-login")
    partner = f"coop-by-{uuid.uuid4().hex[:6]}"
    user = f"partner.{partner}"
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    run = asyncio.to_thread

    def said(err: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    capsys.readouterr()
    assert await run(admin_main, ["--by", "anna", *base, "add-partner", partner, "--city", "torino"]) == 0
    out, err = capsys.readouterr()
    password = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KAFKA_SASL_PASSWORD="))
    [line] = said(err)
    assert (line["event"], line["by"], line["program"], line["command"], line["target"], line["outcome"]) == (
        "admin action",
        "anna",
        "lgnet-kafka-admin",
        "add-partner",
        user,
        "done",
    )
    assert password not in err
    monkeypatch.setenv("LGNET_ADMIN_BY", "it-marco")
    assert await run(admin_main, [*base, "rotate", user]) == 0
    assert [(x["by"], x["command"], x["target"]) for x in said(capsys.readouterr().err)] == [
        ("it-marco", "rotate", user)
    ]
    monkeypatch.delenv("LGNET_ADMIN_BY")
    assert await run(admin_main, [*base, "acls", user]) == 0
    assert said(capsys.readouterr().err) == []
    assert await run(admin_main, [*base, "revoke", user]) == 0
    assert [(x["by"], x["command"], x["outcome"]) for x in said(capsys.readouterr().err)] == [
        ("os-login", "revoke", "done")
    ]
    assert await run(admin_main, [*base, "revoke", user, "--by", "anna"]) == 1
    assert said(capsys.readouterr().err) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add-deployment", "--city", "atlantis", "--service", "intake"], "invalid choice: 'atlantis'"),
        (["add-deployment", "--city", "torino"], "--service"),
        (["add-partner", "bad id!", "--city", "torino"], "partner id 'bad id!'"),
        (["add-partner", "coop-x"], "--city"),
        (["add-partner", "coop-x", "--city", "national"], "invalid choice: 'national'"),
        (["rotate", "someone"], "principal 'someone'"),
        # a reserved name (its group prefix is another kind's) cannot be a city's deployment name either
        (
            ["add-deployment", "--city", "torino", "--service", "intake", "--deployment", "partner"],
            "'partner' is not a deployment of torino",
        ),
        # a deployment's city is read off its name: a name of another city (or of none) is refused
        (
            ["add-deployment", "--city", "genova", "--service", "intake", "--deployment", "national"],
            "--deployment: 'national' is not a deployment of genova",
        ),
        (
            ["add-deployment", "--city", "genova", "--service", "intake", "--deployment", "torino-2"],
            "--deployment: 'torino-2' is not a deployment of genova",
        ),
        (["add-deployment", "--city", "genova", "--service", "intake", "--deployment", "genovese"], "genova-<suffix>"),
        ([], "required: COMMAND"),
    ],
)
def test_admin_cli_bad_arguments_are_clear_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        admin_main(["--bootstrap", "127.0.0.1:1", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_admin_cli_unreachable_broker_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    for var in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(var, raising=False)
    assert admin_main(["--bootstrap", "127.0.0.1:1", "list"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach Kafka at 127.0.0.1:1" in err and "Traceback" not in err


def test_admin_cli_with_a_wrong_password_says_the_login_was_refused(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "cannot reach Kafka" for a broker that answered and refused the password (a city IT team's typo)."""
    assert os.environ.get("KAFKA_SASL_USERNAME"), "the suite's broker is secured (.local/infra.env)"
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "not-the-password")
    assert admin_main(["--bootstrap", kafka_bootstrap, "list"]) == 1
    err = capsys.readouterr().err
    assert f"Kafka at {kafka_bootstrap} refused the login of {os.environ['KAFKA_SASL_USERNAME']!r}" in err, err
    assert "KAFKA_SASL_PASSWORD" in err and "cannot reach" not in err and "not-the-password" not in err


async def test_the_sdk_says_a_refused_password_naming_the_user_and_an_unreachable_broker_naming_its_address(
    kafka_bootstrap: str, parties: dict[str, Party], party_prefix: str
) -> None:
    """A partner whose password the broker refused read aiokafka's "Unable to bootstrap from [...]", the words of a
    broker it could not reach. The SDK now tells the two apart: the login refused, naming the user and the settings
    to check (and never the password), or no broker at the address, naming it."""
    from lgnet_shared.kafka import KafkaLoginRefused, KafkaUnreachable
    from lgnet_shared.sdk import PartnerClient

    party = parties["partner.a"]
    user = party.principal.name
    wrong = as_user(party.security, user, "not-the-password")
    client = PartnerClient(kafka_bootstrap, partner=user.removeprefix("partner."), city="torino", security=wrong)
    with pytest.raises(KafkaLoginRefused) as refused_login:
        await client.start()
    said = str(refused_login.value)
    assert f"Kafka at {kafka_bootstrap} refused the credentials of {user!r}" in said, said
    assert "kafka.password" in said and "sasl_password" in said and "not-the-password" not in said, said
    assert "Unable to bootstrap" not in said and "cannot reach" not in said, said
    with pytest.raises(KafkaLoginRefused):  # reading answers alike
        async for _ in client.rejections(timeout=1, group_id=f"{client.group_prefix}x"):
            pass
    client = PartnerClient("127.0.0.1:1", partner="coop-a", city="torino", security=party.security)
    with pytest.raises(KafkaUnreachable) as unreachable:
        await client.start()
    said = str(unreachable.value)
    assert "cannot reach Kafka at 127.0.0.1:1" in said and "bootstrap_servers" in said and "refused the" not in said
    async with PartnerClient(kafka_bootstrap, partner="coop-a", city="torino", topic_prefix=party_prefix,
                             security=party.security):  # fmt: skip
        pass  # the right password is let in


@pytest.mark.parametrize("service", ["intake", "housing", "payments", "reporting"])
def test_each_service_uses_only_what_the_registry_grants_its_role(service: str) -> None:
    """The ACLs come from the registry's writers/readers: a service producing or consuming a topic its role is
    not granted would be refused by the broker, so the registry and the services' specs must agree."""
    import importlib

    from lgnet_shared.asyncapi import declared_consumers

    spec = importlib.import_module(f"lgnet_{service}.entrypoints.main").SPEC
    for topic in spec.produces:
        assert service in TOPICS[topic].writers, (service, "writes", topic)
    national = ka.Principal.service("national", service)  # declared without a runtime: a national deployment's
    for consumer in declared_consumers(spec):
        for topic in consumer.topics:  # per-city topics included: each of the 16 cities'
            assert ka.allowed(national, "read", physical(topic)), (service, "reads", topic)


async def test_only_an_intake_that_answers_the_partner_may_create_its_rejection_topic(
    kafka_bootstrap: str, party_prefix: str, parties: dict[str, Party]
) -> None:
    """Intake answers a partner whose topic is missing by creating it (CREATE on that topic): the national intake
    any partner's (the family prefix: it serves every city), a city's intake its own city's partners' only (the
    operator makes them at `add-partner`); nobody else but the operator creates topics."""
    newcomer = for_partner("partner.rejections.{partner}", f"coop-new-{uuid.uuid4().hex[:6]}")
    national = parties["national.intake"].security
    assert await ensure_topics(kafka_bootstrap, party_prefix, [newcomer], security=national) == [
        physical(newcomer, party_prefix)
    ]
    other = for_partner("partner.rejections.{partner}", f"coop-x-{uuid.uuid4().hex[:6]}")
    for who in ("partner.a", "torino.housing", "auditor", "torino.intake", "trieste.intake"):
        with pytest.raises(TopicsNotCreated):
            await ensure_topics(kafka_bootstrap, party_prefix, [other], security=parties[who].security)
    intake = parties["torino.intake"].security
    # A service whose topics an operator has not created yet is told so, by name.
    with pytest.raises(TopicsNotCreated, match="lgnet-kafka-admin add-deployment"):
        await ensure_topics(kafka_bootstrap, f"{party_prefix}fresh.", ["intake.events"], security=intake)


async def test_a_partners_answer_topics_are_written_by_its_own_citys_deployments_only(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str
) -> None:
    """The outside tester's attack: Genova's intake wrote a forged rejection on a Torino partner's topic, and the
    partner's SDK yielded it. Now a partner's answer topics are written by its city's intake and housing only (and
    the national deployments): a deployment added after the partner gets WRITE on them, and one added before gets it
    when the partner is added; Genova's intake is refused by the broker."""
    uid = uuid.uuid4().hex[:8]
    torino_before = ka.Principal.service(f"torino-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-{uid}", city="torino")
    torino_after = ka.Principal.service(f"torino-{uid}-2", "housing")
    genova = ka.Principal.service(f"genova-{uid}", "intake")
    made: dict[str, KafkaSecurity] = {}
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        try:
            for principal in (torino_before, partner, torino_after, genova):
                password, _ = await admin.provision(principal)
                assert password is not None
                made[principal.name] = as_user(admin_security, principal.name, password)
            rejections, reminders = (
                physical(for_partner(f"partner.{kind}.{{partner}}", partner.partner or ""), topic_prefix)
                for kind in ("rejections", "reminders")
            )
            assert await try_produce(kafka_bootstrap, made[torino_before.name], rejections) is True
            assert await try_produce(kafka_bootstrap, made[torino_after.name], reminders) is True
            producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap, made[genova.name]))
            await producer.start()
            try:
                for topic in (rejections, reminders):
                    with pytest.raises(TopicAuthorizationFailedError):
                        await producer.send_and_wait(topic, b'{"forged": true}', key=(partner.partner or "").encode())
            finally:
                await producer.stop()
        finally:
            for principal in (torino_before, partner, torino_after, genova):
                await ka.delete_credentials(admin.client, principal.name)
                await ka.delete_acls(admin.client, principal.user)


async def test_a_deployment_cannot_register_a_signing_key_in_another_deployments_name(
    kafka_bootstrap: str, party_prefix: str, parties: dict[str, Party]
) -> None:
    """#16: the key registry is one topic per service deployment, written by that deployment's service only. Torino
    cannot publish a key on Trieste's registry (the broker refuses), and a key naming Trieste that Torino puts on its
    own registry is ignored by every reader (consumers and `lgnet-audit keys` read the registry the same way)."""
    torino, trieste = parties["torino.intake"], parties["trieste.intake"]
    assert torino.principal.deployment and trieste.principal.deployment
    impostor = FactSigner(os.urandom(32), trieste.principal.deployment, "intake", "trieste")
    theirs = registry_topic(trieste.principal.deployment, "intake", party_prefix)
    assert await try_produce(kafka_bootstrap, torino.security, theirs) is False
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap, torino.security))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(theirs, impostor.key.to_json(), key=impostor.key.key_id.encode())
        own = registry_topic(torino.principal.deployment, "intake", party_prefix)
        await producer.send_and_wait(own, impostor.key.to_json(), key=impostor.key.key_id.encode())
        genuine = FactSigner(os.urandom(32), torino.principal.deployment, "intake", "torino")
        await publish_key(producer, genuine.key, party_prefix, torino.security)  # its own: registered
    finally:
        await producer.stop()
    for reader in (torino, parties["auditor"]):
        keys = {k.key_id for k in await read_registry(kafka_bootstrap, party_prefix, reader.security)}
        assert genuine.key.key_id in keys
        assert impostor.key.key_id not in keys


async def test_the_old_inbound_topic_goes_only_once_every_draining_gatekeeper_has_read_it(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the upgrade, the deployments given `--drain-old-inbound` read what partners left on the old shared
    topic; `lgnet-kafka-admin old-inbound` says what each still has to read, and `--delete` removes the topic and
    every ACL naming it only once none has anything left (nothing sent before the upgrade is lost)."""
    uid = uuid.uuid4().hex[:8]
    draining = ka.Principal.service(f"torino-{uid}", "intake", city="torino", drain_old_inbound=True)
    old = physical("partner.inbound", topic_prefix)
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        await admin.create_topics(["partner.inbound"])
        await admin.provision(draining)
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap, admin_security))
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(old, b"left before the upgrade", key=f"coop-{n}".encode(), partition=n)
    finally:
        await producer.stop()
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    run = asyncio.to_thread
    try:
        assert await run(admin_main, [*base, "old-inbound"]) == 1
        assert f"{draining.name}: 3 record(s) left" in capsys.readouterr().out
        assert await run(admin_main, [*base, "old-inbound", "--delete"]) == 1
        assert "not drained" in capsys.readouterr().err
        # The deployment's gatekeeper reads to the end (its group commits the end offsets).
        group = draining.group_prefix(topic_prefix) + "gatekeeper"
        reader = AIOKafkaConsumer(**client_kwargs(kafka_bootstrap, admin_security), group_id=group)
        await reader.start()
        try:
            partitions = [TopicPartition(old, p) for p in range(TOPICS["partner.inbound"].partitions)]
            reader.assign(partitions)
            await reader.commit(await reader.end_offsets(partitions))
        finally:
            await reader.stop()
        assert await run(admin_main, [*base, "old-inbound"]) == 0
        assert f"{draining.name}: drained" in capsys.readouterr().out
        assert await run(admin_main, [*base, "old-inbound", "--delete"]) == 0
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            for _ in range(100):  # a topic's deletion reaches every broker's metadata a moment later
                if old not in await admin.client.list_topics():
                    break
                await asyncio.sleep(0.1)
            assert old not in await admin.client.list_topics()
            assert not [a for a in await ka.describe_acls(admin.client, draining.user) if a.resource_name == old]
    finally:
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            await ka.delete_credentials(admin.client, draining.name)
            await ka.delete_acls(admin.client, draining.user)


async def test_a_partners_answer_topics_are_taken_back_from_its_old_citys_deployments(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str
) -> None:
    """A revoked partner's answer topics keep no city deployment's WRITE/CREATE, and a partner moved to another city
    is answered by the new city's deployments only: the old city's intake could otherwise still forge its answers.
    The national deployment's rights (the family's prefix) stay."""
    uid = uuid.uuid4().hex[:8]
    torino = ka.Principal.service(f"torino-{uid}", "intake")
    trieste = ka.Principal.service(f"trieste-{uid}", "intake")
    national = ka.Principal.service(f"national-{uid}", "intake")
    revoked, moved = (f"coop-{kind}-{uid}" for kind in ("x", "y"))

    def answers(partner: str) -> set[str]:
        return {
            physical(for_partner(f"partner.{k}.{{partner}}", partner), topic_prefix)
            for k in ("rejections", "reminders")
        }

    async def literal(principal: ka.Principal, partner: str) -> set[str]:
        acls = await ka.describe_acls(admin.client, principal.user)
        return {
            a.resource_name for a in acls if a.pattern == ka.Pattern.LITERAL and a.resource_name in answers(partner)
        }

    made: dict[str, KafkaSecurity] = {}
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        try:
            for principal in (torino, trieste, national):
                password, _ = await admin.provision(principal)
                made[principal.name] = as_user(admin_security, principal.name, password or "")
            for partner in (revoked, moved):
                await admin.provision(ka.Principal.partner_(partner, city="torino"))
                assert await literal(torino, partner) == answers(partner)
            await admin.revoke(ka.Principal.parse(f"partner.{revoked}"))
            assert await literal(torino, revoked) == set()
            await admin.provision(ka.Principal.partner_(moved, city="trieste"))
            assert await literal(torino, moved) == set()
            assert await literal(trieste, moved) == answers(moved)
            assert await literal(trieste, revoked) == set()
            # What the broker enforces: Torino's intake may no longer write them, Trieste's and the national one may.
            for topic in answers(moved) | answers(revoked):
                assert await try_produce(kafka_bootstrap, made[torino.name], topic) is False, topic
                assert await try_produce(kafka_bootstrap, made[national.name], topic) is True, topic
            for topic in answers(moved):
                assert await try_produce(kafka_bootstrap, made[trieste.name], topic) is True, topic
        finally:
            for principal in (torino, trieste, national, *(ka.Principal.partner_(p) for p in (revoked, moved))):
                await ka.delete_credentials(admin.client, principal.name)
                await ka.delete_acls(admin.client, principal.user)


async def _old_inbound_records(bootstrap: str, security: KafkaSecurity, topic: str, records: list[bytes]) -> None:
    producer = AIOKafkaProducer(**client_kwargs(bootstrap, security))
    await producer.start()
    try:
        for n, value in enumerate(records):
            await producer.send_and_wait(topic, value, key=f"coop-{n}".encode(), partition=n % 2)
    finally:
        await producer.stop()


async def _topic_still_there(bootstrap: str, security: KafkaSecurity, prefix: str, topic: str) -> bool:
    async with Admin(bootstrap, security, prefix) as admin:
        return topic in await admin.client.list_topics()


async def test_the_old_inbound_topic_is_not_deleted_when_no_deployment_drains_it(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No principal has READ on the old topic: nobody drained it, so its records are nobody's read ones and
    `--delete` refuses (it deleted them, judging "nothing left" from an empty list of deployments)."""
    old = physical("partner.inbound", topic_prefix)
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        await admin.create_topics(["partner.inbound"])
    await _old_inbound_records(kafka_bootstrap, admin_security, old, [b'{"city": "torino"}'])
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    assert await asyncio.to_thread(admin_main, [*base, "old-inbound", "--delete"]) == 1
    err = capsys.readouterr().err
    assert "no deployment drains" in err and len(err.strip().splitlines()) == 1, err
    assert await _topic_still_there(kafka_bootstrap, admin_security, topic_prefix, old)
    assert await asyncio.to_thread(admin_main, [*base, "old-inbound"]) == 1  # not drained: a waiting script waits
    assert "torino: 1 record(s) left" in capsys.readouterr().out


async def test_the_old_inbound_topic_is_drained_per_city_not_per_deployment(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Torino's draining intake skips Trieste's records (other city) but commits past them: its "drained" says nothing
    of Trieste's. With no Trieste (or national) deployment draining the topic, Trieste is reported not drained and
    `--delete` refuses; once a national one has read past them, the topic goes."""
    uid = uuid.uuid4().hex[:8]
    torino = ka.Principal.service(f"torino-{uid}", "intake", drain_old_inbound=True)
    national = ka.Principal.service(f"national-{uid}", "intake", drain_old_inbound=True)
    old = physical("partner.inbound", topic_prefix)
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        await admin.create_topics(["partner.inbound"])
        await admin.provision(torino)
    binary_trieste = (b'{"fields": 1}', [("ce_specversion", b"1.0"), ("ce_city", b"trieste")])
    await _old_inbound_records(kafka_bootstrap, admin_security, old, [b'{"city": "torino"}'])
    producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap, admin_security))
    await producer.start()
    try:
        await producer.send_and_wait(old, binary_trieste[0], key=b"coop-t", partition=1, headers=binary_trieste[1])
    finally:
        await producer.stop()
    partitions = [TopicPartition(old, p) for p in range(TOPICS["partner.inbound"].partitions)]

    async def read_to_the_end(principal: ka.Principal) -> None:
        group = principal.group_prefix(topic_prefix) + "gatekeeper"
        reader = AIOKafkaConsumer(**client_kwargs(kafka_bootstrap, admin_security), group_id=group)
        await reader.start()
        try:
            reader.assign(partitions)
            await reader.commit(await reader.end_offsets(partitions))
        finally:
            await reader.stop()

    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    run = asyncio.to_thread
    try:
        await read_to_the_end(torino)
        assert await run(admin_main, [*base, "old-inbound"]) == 1
        out = capsys.readouterr().out
        assert f"{torino.name}: drained" in out
        assert "torino: 1 record(s), read" in out
        assert "trieste: 1 record(s) left" in out and "no deployment of trieste" in out, out
        assert await run(admin_main, [*base, "old-inbound", "--delete"]) == 1
        assert "trieste: 1 record(s) left" in capsys.readouterr().err
        assert await _topic_still_there(kafka_bootstrap, admin_security, topic_prefix, old)
        # A national draining deployment that has not read yet: still left; once it has read, the topic goes.
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            await admin.provision(national)
        assert await run(admin_main, [*base, "old-inbound", "--delete"]) == 1
        assert "trieste: 1 record(s) left" in capsys.readouterr().err
        await read_to_the_end(national)
        assert await run(admin_main, [*base, "old-inbound", "--delete"]) == 0
        assert "trieste: 1 record(s), read" in capsys.readouterr().out
    finally:
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            for principal in (torino, national):
                await ka.delete_credentials(admin.client, principal.name)
                await ka.delete_acls(admin.client, principal.user)


def test_an_old_inbound_records_city_is_read_from_its_header_or_its_json() -> None:
    from lgnet_shared.old_inbound import NO_CITY, cities_left, record_city

    assert record_city(b"{}", [("ce_specversion", b"1.0"), ("CE_CITY", b"trieste")]) == "trieste"
    assert record_city(b'{"specversion": "1.0", "city": "torino"}', []) == "torino"
    for unreadable in (b"not json", b"[]", b'{"city": 7}', None):
        assert record_city(unreadable, []) == NO_CITY
    tp = TopicPartition("t", 0)
    records = {tp: [(0, "torino"), (1, "trieste"), (2, NO_CITY)]}
    # Torino's deployment is past all three: Torino's and the city-less record are read, Trieste's is not.
    left = cities_left(records, {"service.torino.intake": {tp: 3}}, {"service.torino.intake": "torino"})
    assert {c: (v.left, v.readers) for c, v in left.items()} == {
        "torino": (0, ("service.torino.intake",)),
        "trieste": (1, ()),
        NO_CITY: (0, ("service.torino.intake",)),
    }
    national = cities_left(records, {"service.national.intake": {tp: 2}}, {"service.national.intake": "national"})
    assert {c: v.left for c, v in national.items()} == {"torino": 0, "trieste": 0, NO_CITY: 1}


async def test_a_partners_city_is_written_for_good_and_used_as_written(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partner's city record is acknowledged by every in-sync replica (acks=all: with acks=1 it can sit above the
    high watermark, or be lost with its leader), and `add-partner` gives its city's deployments their rights from the
    city it has just written, not from reading the topic back (a read-back that lags by one record left them none)."""
    from lgnet_shared import kafka_admin

    producers: list[dict[str, object]] = []

    class Recording(AIOKafkaProducer):  # type: ignore[misc]
        def __init__(self, **kwargs: object) -> None:
            producers.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(kafka_admin, "AIOKafkaProducer", Recording)
    uid = uuid.uuid4().hex[:8]
    torino = ka.Principal.service(f"torino-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-{uid}", city="torino")
    answers = {
        physical(for_partner(f"partner.{k}.{{partner}}", partner.partner or ""), topic_prefix)
        for k in ("rejections", "reminders")
    }
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        try:
            await admin.provision(torino)
            read_back = admin.partner_cities

            async def lagging() -> dict[str, str]:
                found = await read_back()
                found.pop(partner.partner or "", None)  # the record just written is not readable yet
                return found

            monkeypatch.setattr(admin, "partner_cities", lagging)
            await admin.provision(partner)
            monkeypatch.setattr(admin, "partner_cities", read_back)
            held = {a.resource_name for a in await ka.describe_acls(admin.client, torino.user)}
            assert answers <= held
            assert (await admin.partner_cities())[partner.partner or ""] == "torino"
        finally:
            for principal in (torino, partner):
                await ka.delete_credentials(admin.client, principal.name)
                await ka.delete_acls(admin.client, principal.user)
    assert producers and all(kwargs.get("acks") == "all" for kwargs in producers)


async def test_admin_cli_acls_of_a_partner_takes_its_recorded_city(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`acls partner.X` without --city reads the city `add-partner --city` recorded (it failed: "its city is
    needed"); a partner with no recorded city gets one clear line saying to pass --city."""
    partner = f"coop-acls-{uuid.uuid4().hex[:6]}"
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    run = asyncio.to_thread
    try:
        assert await run(admin_main, [*base, "add-partner", partner, "--city", "trieste"]) == 0
        capsys.readouterr()
        assert await run(admin_main, [*base, "acls", f"partner.{partner}"]) == 0
        shown = capsys.readouterr().out
        assert f"  User:partner.{partner} WRITE TOPIC {topic_prefix}lgnet.partner.inbound.trieste (literal)" in shown
        assert "- " not in shown and "+ " not in shown  # what the broker has is what its recorded city derives
        unknown = f"coop-none-{uuid.uuid4().hex[:6]}"
        assert await run(admin_main, [*base, "acls", f"partner.{unknown}"]) == 1
        err = capsys.readouterr().err
        assert f"partner.{unknown} has no recorded city" in err and "--city" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    finally:
        async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
            await admin.revoke(ka.Principal.partner_(partner))


async def topic_settings(bootstrap: str, security: KafkaSecurity, topic: str) -> dict[str, str]:
    """The topic's own settings (not the broker's defaults), as the cluster's admin reads them."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap, security))
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [resource] = response.to_object()["resources"]
        return {e["config_names"]: e["config_value"] for e in resource["config_entries"] if e["config_source"] == 1}
    finally:
        await admin.close()


async def test_provisioning_switches_a_cluster_from_befores_fact_topics_to_the_brokers_time(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The owners' rule judges by the broker's stamp (owned_ids.judged): the fact topics a cluster already holds, made
    with the producers' time, are switched by `create-topics` (and every add-*), their other settings kept."""
    stamped = [physical(t.name, topic_prefix) for t in TOPICS.values() if t.broker_time]
    assert sorted(t.name for t in TOPICS.values() if t.broker_time) == [
        "housing.events", "intake.events", "intake.special", "payments.events", "reporting.events"
    ]  # fmt: skip
    await ensure_topics(kafka_bootstrap, topic_prefix, security=admin_security)
    assert (await topic_settings(kafka_bootstrap, admin_security, stamped[0]))[TIMESTAMP_TYPE] == LOG_APPEND_TIME
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap, admin_security))
    await admin.start()
    try:  # as the cluster was before
        assert await broker_time.set_timestamp_type(admin, stamped, broker_time.CREATE_TIME) == sorted(stamped)
    finally:
        await admin.close()
    base = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    assert await asyncio.to_thread(admin_main, [*base, "create-topics"]) == 0
    shown = capsys.readouterr().out
    assert all(f"{name}: records stamped with the broker's time from now on" in shown for name in stamped), shown
    for name in stamped:
        settings = await topic_settings(kafka_bootstrap, admin_security, name)
        assert settings[TIMESTAMP_TYPE] == LOG_APPEND_TIME
        assert (settings["retention.ms"], settings["retention.bytes"]) == ("-1", "-1")  # kept: facts kept forever
    assert await asyncio.to_thread(admin_main, [*base, "create-topics"]) == 0
    again = capsys.readouterr().out.strip().splitlines()
    assert again[0] == "every registry topic exists", again
    # said every time: an operator confirms the switch after an upgrade whatever made it (an upgrade's reviewer found
    # `make up` had switched them silently, and nothing to check it with but aiokafka)
    assert again[1] == "the broker stamps the records of (message.timestamp.type=LogAppendTime): " + ", ".join(
        sorted(stamped)
    ), again


async def test_a_switch_of_timestamp_type_returns_once_the_broker_describes_it(
    kafka_bootstrap: str, admin_security: KafkaSecurity, topic_prefix: str
) -> None:
    """AlterConfigs returns when the controller has the change; the broker applies it a moment later (a describe just
    after it showed the old value 7 times in 20), and a fact sent in between would escape the owners' rule:
    `set_timestamp_type` returns only once the broker describes the new value, so `create-topics` says the truth."""
    topic = physical("intake.events", topic_prefix)
    await ensure_topics(kafka_bootstrap, topic_prefix, names=["intake.events"], security=admin_security)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap, admin_security))
    await admin.start()
    try:
        for kind in [broker_time.CREATE_TIME, LOG_APPEND_TIME] * 6:
            assert await broker_time.set_timestamp_type(admin, [topic], kind) == [topic]
            [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            [resource] = response.to_object()["resources"]
            described = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
            assert described[TIMESTAMP_TYPE] == kind
            assert described["retention.ms"] == "-1"  # its other settings kept
    finally:
        await admin.close()


async def test_a_deployment_cannot_unstamp_its_fact_topic(
    kafka_bootstrap: str, admin_security: KafkaSecurity, party_prefix: str, parties: dict[str, Party]
) -> None:
    """A deployment that could set its fact topic back to its producers' time could backdate its facts past the
    owners' rule again: the broker refuses it any look at, or change of, a topic's settings."""
    intake = physical("intake.events", party_prefix)
    for party in (parties["torino.intake"], parties["national.intake"]):
        client = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap, party.security))
        await client.start()
        try:
            with pytest.raises(broker_time.NotStamped, match="TopicAuthorizationFailedError"):
                await broker_time.set_timestamp_type(client, [intake], broker_time.CREATE_TIME)
        finally:
            await client.close()
    assert (await topic_settings(kafka_bootstrap, admin_security, intake))[TIMESTAMP_TYPE] == LOG_APPEND_TIME
    every = [a for p in parties.values() for a in ka.derive(p.principal, party_prefix)]
    assert not [a for a in every if a.operation in (ka.Op.ALTER_CONFIGS, ka.Op.ALTER, ka.Op.ALL)]
