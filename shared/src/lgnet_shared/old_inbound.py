"""The old shared inbound topic after the upgrade to per-city topics (docs/operators.md, "Upgrade: per-city inbound
topics"): what each draining intake deployment still has to read on `lgnet.partner.inbound`, and the topic's
removal, with every ACL naming it, once none has anything left.

The draining deployments are those the operator gave READ on the old topic (`add-deployment --drain-old-inbound`);
each one's gatekeeper group (`<prefix><deployment>.intake.gatekeeper`) has drained the topic when its committed
offsets are at the end of every partition. Nobody writes the old topic any more, so the end does not move.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from lgnet_shared import kafka_acls as ka
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.topics import OLD_INBOUND, physical

GATEKEEPER = "gatekeeper"  # intake's consumer of partners' records (lgnet_intake.entrypoints.gatekeeper)


async def records_left(
    admin: AIOKafkaAdminClient, bootstrap: str, security: KafkaSecurity, prefix: str
) -> dict[str, int] | None:
    """Records each draining deployment's gatekeeper has still to read, by principal; None if the topic is gone."""
    topic = physical(OLD_INBOUND, prefix)
    if topic not in await admin.list_topics():
        return None
    acls = await ka.describe_acls(admin)
    readers = sorted({a.principal for a in acls if a.resource_name == topic and a.operation == ka.Op.READ})
    [described] = await admin.describe_topics([topic])
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap, security), enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    left = {}
    for user in readers:
        principal = ka.Principal.parse(user)
        group = principal.group_prefix(prefix) + GATEKEEPER
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        at = {tp: max(meta.offset, 0) for tp, meta in committed.items()}
        left[principal.name] = sum(max(end - at.get(tp, 0), 0) for tp, end in ends.items())
    return left


async def remove(admin: AIOKafkaAdminClient, prefix: str) -> int:
    """Delete every ACL naming the old topic (the draining deployments' READ, partners' WRITE of before the
    upgrade) and the topic itself; returns how many ACLs."""
    topic = physical(OLD_INBOUND, prefix)
    removed = await ka.delete_topic_acls(admin, topic)
    await admin.delete_topics([topic])
    return removed
