"""A city's own intake provisioned beside the deployment that already serves the city: on a cluster where the national
intake onboarded Trieste's partners, `lgnet-kafka-admin add-deployment --city trieste --service intake` succeeded and
the Trieste intake started; every one of Trieste's partners' records was dead-lettered (unknown partner key), and
refused again once re-driven (sealed to the national intake's key). `add-deployment` now refuses it, in one line
saying why and what to do, while a city new to the platform may still get its own intake. Against the real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from lgnet_shared import kafka_acls as ka
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_admin import Admin, main
from lgnet_shared.testing.topics import send_record
from lgnet_shared.topics import partner_inbound

pytestmark = pytest.mark.integration


async def forget(admin: Admin, *principals: ka.Principal) -> None:
    for principal in principals:
        if principal.partner is not None:
            await admin.revoke(principal)
        else:
            await ka.delete_credentials(admin.client, principal.name)
            await ka.delete_acls(admin.client, principal.user)


async def test_a_citys_own_intake_is_refused_while_the_national_intake_serves_its_partners(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LGNET_SERVED_CITIES", raising=False)
    security = KafkaSecurity.from_env()
    uid = uuid.uuid4().hex[:8]
    national = ka.Principal.service(f"national-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-t-{uid}", city="trieste")
    trieste = partner_inbound("trieste", topic_prefix)
    deployment = f"trieste-{uid}"
    own = ka.Principal.service(deployment, "intake", city="trieste")
    argv = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix, "add-deployment", "--city", "trieste"]
    argv += ["--service", "intake", "--deployment", deployment]
    async with Admin(kafka_bootstrap, security, topic_prefix) as admin:
        try:
            await admin.provision(national)  # serves every city: reads trieste's partners' topic
            await admin.provision(partner)  # onboarded there
            await send_record(kafka_bootstrap, security, trieste, b"a partner's record", partition=0)

            assert await asyncio.to_thread(main, argv) == 1
            said = capsys.readouterr().err.strip()
            assert len(said.splitlines()) == 1, said
            assert f"trieste is already served by {national.name}, which reads {trieste}" in said, said
            assert f"partners {partner.partner} on record and 1 record(s) on {trieste}" in said, said
            assert "Moving a city off a deployment that serves it is not supported" in said, said
            assert not await admin.exists(own.name) and not await ka.describe_acls(admin.client, own.user)

            # Its partners revoked, the records they sent still hold it: they are the national intake's.
            await admin.revoke(partner)
            assert await asyncio.to_thread(main, argv) == 1
            said = capsys.readouterr().err
            assert f"(1 record(s) on {trieste})" in said and "partners coop" not in said, said
        finally:
            await forget(admin, national, own, partner)


async def test_a_city_new_to_the_platform_gets_its_own_intake_beside_the_national_one(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither partners nor records of the city: its own intake is provisioned first (the documented order, so that
    the national one may then stop serving it), and provisioned again later, its partners on record, as a refresh."""
    monkeypatch.delenv("LGNET_SERVED_CITIES", raising=False)
    security = KafkaSecurity.from_env()
    uid = uuid.uuid4().hex[:8]
    national = ka.Principal.service(f"national-{uid}", "intake")
    own = ka.Principal.service(f"trieste-{uid}", "intake", city="trieste")
    partner = ka.Principal.partner_(f"coop-t-{uid}", city="trieste")
    trieste = partner_inbound("trieste", topic_prefix)
    async with Admin(kafka_bootstrap, security, topic_prefix) as admin:
        try:
            await admin.provision(national)
            assert (await admin.provision(own))[0] is not None  # new credentials
            await admin.provision(partner)
            await send_record(kafka_bootstrap, security, trieste, b"a partner's record", partition=0)
            monkeypatch.setenv("LGNET_SERVED_CITIES", "bologna,genova,roma,torino")
            await admin.provision(national)  # the city's own intake reads its topic: the national one lets go
            assert (await admin.provision(own))[0] is None  # refreshed, password kept
            granted = await ka.describe_acls(admin.client, own.user)
            assert any(a.resource_name == trieste and a.operation == ka.Op.READ for a in granted)
        finally:
            await forget(admin, national, own, partner)
