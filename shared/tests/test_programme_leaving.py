"""A city leaves the programme (LGNET_PROGRAMME_CITIES shrinks): the national intake, re-provisioned, would lose READ
on the city's inbound topic, whose records are kept for ever, while the city's partners could still write it — records
nobody reads and nobody answers (review of the programme change). `lgnet-kafka-admin add-deployment --city national
--service intake` refuses while the leaving city still has partners on record or records its gatekeeper has not read,
and names both. Against the real secured broker."""

from __future__ import annotations

import re
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from lgnet_shared import kafka_acls as ka
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.kafka_admin import Admin, Fail
from lgnet_shared.old_inbound import GATEKEEPER
from lgnet_shared.testing.topics import send_record
from lgnet_shared.topics import partner_inbound

pytestmark = pytest.mark.integration
VAR = "LGNET_PROGRAMME_CITIES"


async def test_a_city_leaves_only_once_its_partners_are_revoked_and_its_records_read(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_security = KafkaSecurity.from_env()
    uid = uuid.uuid4().hex[:8]
    national = ka.Principal.service(f"national-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-m-{uid}", city="milano")
    milano = partner_inbound("milano", topic_prefix)
    monkeypatch.setenv(VAR, "milano,torino")
    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        try:
            await admin.provision(national)
            await admin.provision(partner)
            await send_record(kafka_bootstrap, admin_security, milano, b"a partner's record", partition=1)

            monkeypatch.setenv(VAR, "torino")  # Milano leaves
            with pytest.raises(Fail) as refused:
                await admin.provision(national)
            said = str(refused.value)
            assert f"milano: partners {partner.partner} still on record" in said and "1 record" in said, said
            granted = await ka.describe_acls(admin.client, national.user)
            assert any(a.resource_name == milano and a.operation == ka.Op.READ for a in granted)  # still reads it

            # A national intake that never read milano's topic is no concern of it (review: refused for ever).
            other = ka.Principal.service(f"national-{uid}-b", "intake")
            try:
                await admin.provision(other)
            finally:
                await ka.delete_credentials(admin.client, other.name)
                await ka.delete_acls(admin.client, other.user)

            await admin.revoke(partner)
            with pytest.raises(
                Fail, match=re.escape(f"milano: 1 record(s) on {milano} not yet read by {national.name}.")
            ):
                await admin.provision(national)

            # The national gatekeeper reads it (its committed offset passes the record), then the city may leave.
            group = national.group_prefix(topic_prefix) + GATEKEEPER
            reader = AIOKafkaConsumer(**client_kwargs(kafka_bootstrap, admin_security), group_id=group)
            await reader.start()
            try:
                tp = TopicPartition(milano, 1)
                reader.assign([tp])
                await reader.commit({tp: 1})
            finally:
                await reader.stop()
            await admin.provision(national)
            assert not [a for a in await ka.describe_acls(admin.client, national.user) if a.resource_name == milano]
            # Left: a later record there (its group's offsets on it expire) no longer stops the national intake's
            # provisioning, e.g. when another city joins.
            await send_record(kafka_bootstrap, admin_security, milano, b"too late", partition=0)
            await admin.provision(national)
        finally:
            await ka.delete_credentials(admin.client, national.name)
            await ka.delete_acls(admin.client, national.user)
            await admin.revoke(partner)


async def test_a_city_left_out_of_the_served_cities_is_held_until_its_own_intake_reads_its_topic(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LGNET_SERVED_CITIES without a city drops the national intake's READ on its partners' topic as leaving the
    programme does; `check_leaving` looked at the programme only, so the READ went while the city's partners were
    on record and records unread, and nobody read them. Held the same way — unless the city's own intake deployment
    reads the topic, which it may only when provisioned before the city had partners or records
    (docs/operators.md, "A city joins an existing cluster")."""
    admin_security = KafkaSecurity.from_env()
    uid = uuid.uuid4().hex[:8]
    national = ka.Principal.service(f"national-{uid}", "intake")
    own = ka.Principal.service(f"milano-{uid}", "intake")
    partner = ka.Principal.partner_(f"coop-m-{uid}", city="milano")
    milano = partner_inbound("milano", topic_prefix)
    monkeypatch.setenv(VAR, "milano,torino")
    monkeypatch.delenv("LGNET_SERVED_CITIES", raising=False)

    async def reads_milano(principal: ka.Principal) -> bool:
        granted = await ka.describe_acls(admin.client, principal.user)
        return any(a.resource_name == milano and a.operation == ka.Op.READ for a in granted)

    async with Admin(kafka_bootstrap, admin_security, topic_prefix) as admin:
        try:
            await admin.provision(national)
            await admin.provision(partner)
            await send_record(kafka_bootstrap, admin_security, milano, b"a partner's record", partition=1)

            monkeypatch.setenv("LGNET_SERVED_CITIES", "torino")  # Milano is to run its own intake
            with pytest.raises(Fail) as refused:
                await admin.provision(national)
            said = str(refused.value)
            assert f"milano: partners {partner.partner} still on record" in said and "1 record" in said, said
            assert "LGNET_SERVED_CITIES=torino" in said, said
            assert await reads_milano(national)  # still reads it

            # Milano's own intake cannot take over the partners the national one serves (their records are sealed to
            # its key): refused too. Provisioned first, for a city new to the platform, it lets the national one go
            # (test_city_served_elsewhere.py).
            with pytest.raises(Fail, match=f"milano is already served by {national.name}"):
                await admin.provision(own)
            assert await reads_milano(national) and not await reads_milano(own)
        finally:
            for principal in (national, own):
                await ka.delete_credentials(admin.client, principal.name)
                await ka.delete_acls(admin.client, principal.user)
            await admin.revoke(partner)
