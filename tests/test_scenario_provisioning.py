"""The scenario's own provisioning on a secured broker: plays under several topic prefixes at once."""

from __future__ import annotations

import uuid

import pytest
from lgnet_scenario.platform import Actors, Endpoints, provision_kafka
from lgnet_shared import kafka_acls as ka
from lgnet_shared.kafka import KafkaSecurity
from lgnet_shared.kafka_admin import Admin
from lgnet_shared.testing.kafka_access import try_produce
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.topics import partner_inbound

pytestmark = pytest.mark.integration


async def test_scenario_plays_under_two_prefixes_keep_each_others_partner_rights(kafka_bootstrap: str) -> None:
    """Two plays at once (parallel tests) provision the same partner under their own topic prefixes: the second
    must not take away the first one's rights (seen: TopicAuthorizationFailed mid-play on the first prefix)."""
    partner = f"coop-twice-{uuid.uuid4().hex[:6]}"
    first, second = new_topic_prefix("twice"), new_topic_prefix("twice")
    actors = Actors()
    try:
        for prefix in (first, second):
            await provision_kafka(
                Endpoints(kafka_bootstrap, "", {}, {}, topic_prefix=prefix), {partner: "torino"}, actors
            )
        security = actors.kafka_of(partner)
        for prefix in (first, second):
            assert await try_produce(kafka_bootstrap, security, partner_inbound("torino", prefix)), prefix
    finally:
        async with Admin(kafka_bootstrap, KafkaSecurity.from_env()) as admin:
            await ka.delete_credentials(admin.client, f"partner.{partner}")
            await ka.delete_acls(admin.client, f"User:partner.{partner}")
