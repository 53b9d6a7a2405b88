"""Who holds a deployment's consumer groups, asked of a real broker (`deployment_owner.members`).

Found by a city IT team starting Trieste's payments a second time on a new schema: payments has two consumer groups
(`trieste.payments.housing`, `trieste.payments.intake`), and the start was refused with "KAFKA_BOOTSTRAP_SERVERS …:
broker unreachable: KafkaConnectionError: Connection at … closed" and two tracebacks in its log, instead of the one
line naming the deployment and the schema where it runs; `LGNET_TAKE_OVER_DEPLOYMENT` could not replace it either.
aiokafka cannot read the broker's answer to one DescribeGroups request that names two groups (ValueError "Buffer
underrun decoding string", the connection closed), so the groups are described one by one."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lgnet_shared import deployment_owner
from lgnet_shared.kafka import client_kwargs

pytestmark = pytest.mark.integration


async def test_the_processes_in_two_groups_are_named_one_group_at_a_time(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}owner.events"
    groups = [f"{topic_prefix}trieste.payments.housing", f"{topic_prefix}trieste.payments.intake"]
    admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
    await admin.start()
    consumers = [
        AIOKafkaConsumer(
            topic,
            group_id=group,
            client_id=f"probe-{i}",
            auto_offset_reset="earliest",
            **client_kwargs(kafka_bootstrap),
        )
        for i, group in enumerate(groups)
    ]
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x")
        finally:
            await producer.stop()
        for consumer in consumers:
            await consumer.start()
            await asyncio.wait_for(consumer.getone(), 30)
            await consumer.commit()

        advanced = await deployment_owner.advanced_groups(admin, f"{topic_prefix}trieste.payments.")
        assert sorted(advanced) == groups
        held = await deployment_owner.members(admin, list(advanced))
        assert [m.split("@")[0] for m in held] == ["probe-0", "probe-1"], held
    finally:
        for consumer in consumers:
            await consumer.stop()
        await admin.close()
