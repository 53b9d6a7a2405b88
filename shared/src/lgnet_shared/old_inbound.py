"""The old shared inbound topic after the upgrade to per-city topics (docs/operators.md, "Upgrade: per-city inbound
topics"): what each draining intake deployment, and each city, still has to read on `lgnet.partner.inbound`, and the
topic's removal, with every ACL naming it, once nothing is left.

The draining deployments are those the operator gave READ on the old topic (`add-deployment --drain-old-inbound`);
each one's gatekeeper group (`<prefix><deployment>.intake.gatekeeper`) is past a record when its committed offset on
the record's partition is beyond it. A deployment's being past the end says nothing of other cities' records: its
gatekeeper skips them (another city's) and commits past them. So a record counts as read only once a draining
deployment of its city (read off its name), or a national one, is past it; a record naming no city, once any is.
Nobody writes the old topic any more, so it is finite and read whole here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from lgnet_shared import kafka_acls as ka
from lgnet_shared.cities import NATIONAL
from lgnet_shared.kafka import READ_AND_GO, KafkaSecurity, client_kwargs
from lgnet_shared.topics import OLD_INBOUND, physical

GATEKEEPER = "gatekeeper"  # intake's consumer of partners' records (lgnet_intake.entrypoints.gatekeeper)
IDLE_FETCHES = 30  # one-second fetches that bring nothing before reading the old topic gives up
NO_CITY = "(no city)"  # a record whose city cannot be read: whichever draining gatekeeper reads it answers it


@dataclass(frozen=True)
class CityLeft:
    records: int  # the city's records on the old topic
    left: int  # those no draining deployment of the city (or national) is past yet
    readers: tuple[str, ...]  # the draining deployments that read the city's records


@dataclass(frozen=True)
class Left:
    """What is left on the old topic: per draining deployment, and per city that has records on it."""

    deployments: dict[str, int] = field(default_factory=dict)
    cities: dict[str, CityLeft] = field(default_factory=dict)

    @property
    def drained(self) -> bool:
        return not any(self.deployments.values()) and not any(c.left for c in self.cities.values())

    def lines(self) -> list[str]:
        out = [f"{name}: {f'{n} record(s) left' if n else 'drained'}" for name, n in self.deployments.items()]
        for city, c in self.cities.items():
            if not c.left:
                out.append(f"{city}: {c.records} record(s), read")
            elif not c.readers:
                who = "deployment" if city == NO_CITY else f"deployment of {city} or national"
                out.append(f"{city}: {c.left} record(s) left (no {who} drains the topic)")
            else:
                out.append(f"{city}: {c.left} record(s) left of {c.records} (read by {', '.join(c.readers)})")
        return out


def record_city(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> str:
    """The city a partner's record names: its `ce_city` header (binary mode) or its JSON `city` (structured mode),
    as the gatekeeper reads it; NO_CITY when neither is readable."""
    for key, v in headers:
        if key.lower() == "ce_city" and v:
            return v.decode("utf-8", "replace")
    try:
        doc = json.loads((value or b"").decode("utf-8"))
    except (ValueError, RecursionError):
        return NO_CITY
    city = doc.get("city") if isinstance(doc, dict) else None
    return city if isinstance(city, str) and city else NO_CITY


def cities_left(
    records: Mapping[TopicPartition, Sequence[tuple[int, str]]],
    positions: Mapping[str, Mapping[TopicPartition, int]],
    cities: Mapping[str, str | None],
) -> dict[str, CityLeft]:
    """Per city with records (offset, city) on the topic: how many no draining deployment that reads that city's
    records is past. `positions`: each draining deployment's committed offsets; `cities`: its city (off its name)."""
    found: dict[str, list[tuple[TopicPartition, int]]] = {}
    for tp, offsets in records.items():
        for offset, city in offsets:
            found.setdefault(city, []).append((tp, offset))
    out = {}
    for city, where in sorted(found.items()):
        readers = tuple(name for name in sorted(positions) if city == NO_CITY or cities.get(name) in (city, NATIONAL))
        left = sum(1 for tp, offset in where if not any(positions[r].get(tp, 0) > offset for r in readers))
        out[city] = CityLeft(len(where), left, readers)
    return out


async def records_left(admin: AIOKafkaAdminClient, bootstrap: str, security: KafkaSecurity, prefix: str) -> Left | None:
    """What the draining deployments' gatekeepers have still to read, per deployment and per city; None if the topic
    is gone."""
    topic = physical(OLD_INBOUND, prefix)
    if topic not in await admin.list_topics():
        return None
    acls = await ka.describe_acls(admin)
    readers = sorted({a.principal for a in acls if a.resource_name == topic and a.operation == ka.Op.READ})
    [described] = await admin.describe_topics([topic])
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    ends, records = await _read_whole(bootstrap, security, partitions)
    positions, cities, deployments = {}, {}, {}
    for user in readers:
        principal = ka.Principal.parse(user)
        group = principal.group_prefix(prefix) + GATEKEEPER
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        positions[principal.name] = at = {tp: max(meta.offset, 0) for tp, meta in committed.items()}
        cities[principal.name] = principal.city
        deployments[principal.name] = sum(max(end - at.get(tp, 0), 0) for tp, end in ends.items())
    return Left(deployments, cities_left(records, positions, cities))


async def _read_whole(
    bootstrap: str, security: KafkaSecurity, partitions: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, list[tuple[int, str]]]]:
    """Every partition's end, and each record's (offset, city), from its first retained record to the end."""
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap, security), **READ_AND_GO, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        for tp, first in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, first)  # set at once: seek_to_beginning may lose a race with assign's reset to latest
        records: dict[TopicPartition, list[tuple[int, str]]] = {tp: [] for tp in partitions}
        idle = 0
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            fetched = await consumer.getmany(timeout_ms=1000)
            idle = 0 if fetched else idle + 1
            if idle > IDLE_FETCHES:
                raise ka.AdminError(f"reading {partitions[0].topic}: no record came for {IDLE_FETCHES} s")
            for tp, batch in fetched.items():
                records[tp] += [(r.offset, record_city(r.value, r.headers)) for r in batch if r.offset < ends[tp]]
        return ends, records
    finally:
        await consumer.stop()


async def remove(admin: AIOKafkaAdminClient, prefix: str) -> int:
    """Delete every ACL naming the old topic (the draining deployments' READ, partners' WRITE of before the
    upgrade) and the topic itself; returns how many ACLs."""
    topic = physical(OLD_INBOUND, prefix)
    removed = await ka.delete_topic_acls(admin, topic)
    await admin.delete_topics([topic])
    return removed
