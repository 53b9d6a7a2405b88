"""What a starting intake needs to take part in the programme (`preflight`): the national pseudonym key (a start
without it is said), and the records of cities that left it.

A national intake's gatekeeper reads the partners' topics of the cities taking part (LGNET_PROGRAMME_CITIES) only.
Restarted after a city left the programme, it would stop reading that city's topic, whose records are kept for ever:
those it had not read yet would wait, unread and unanswered. So it refuses to start while a city it no longer serves
has records there that it has not read, and names them; the operator keeps the city in the programme until they are
read (docs/operators.md, "A city leaves the programme"). Only topics this deployment may still see count: one
re-provisioned without the city no longer holds rights on its topic. It fails closed: a count Kafka does not give in
time is a refusal too."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from lgnet_shared.cities import CITIES, NATIONAL, programme_cities
from lgnet_shared.kafka import client_kwargs, offset_bounds, unread_count
from lgnet_shared.old_inbound import GATEKEEPER
from lgnet_shared.service import Runtime, recorded_positions
from lgnet_shared.topics import partner_inbound

from lgnet_intake import settings

log = structlog.get_logger()


async def preflight(runtime: Runtime) -> None:
    """Before intake serves: what it needs to take part in the programme (the national key, said; the leaving
    cities' records, refused)."""
    say_without_national_key(runtime)
    await refuse_unread_leaving_cities(runtime)


def say_without_national_key(runtime: Runtime) -> None:
    """An intake without the programme's national pseudonym key starts (a city may run alone), but its registrations
    carry no cross-city key, so the national report counts its persons apart from every other city's: said at start,
    where the operator looks, rather than found months later in the national figures (an outside tester joined a city
    without it; the docs did not ask for it). A sandbox publishes nothing: nothing to say."""
    s = runtime.settings
    if settings.national_pseudonym_key() is None and not settings.sandbox(s.topic_prefix, s.db_schema):
        log.warning(
            "no national pseudonym key: this intake's registrations carry no cross-city key, so the national report"
            " counts its persons apart from the same persons in other cities; ask the national coordination for it"
            " (docs/operators.md, 'National pseudonym key')",
            variable=settings.NATIONAL_KEY_VAR,
        )


class LeavingCityUnread(SystemExit):
    """Start-up refused: a city that left the programme has partners' records this national intake has not read."""


async def refuse_unread_leaving_cities(runtime: Runtime, timeout_s: float = 30.0) -> None:
    s = runtime.settings
    if s.city != NATIONAL:  # a city's deployment reads its own city's topic only, in or out of the programme
        return
    taking_part = programme_cities()
    leaving = {partner_inbound(c, s.topic_prefix): c for c in CITIES if c not in taking_part}
    if not leaving:  # every city takes part (the default): nothing to ask the broker
        return
    try:
        async with asyncio.timeout(timeout_s):
            problems = await _unread(runtime, leaving)
    except (KafkaError, OSError, TimeoutError) as exc:  # fail closed: a record nobody would read is the risk
        problems = [f"cannot tell whether their records were read ({type(exc).__name__}: {exc})"]
    if problems:
        raise LeavingCityUnread(
            f"{s.deployment_name} intake would stop reading the partners' topics of cities outside the programme"
            f" (LGNET_PROGRAMME_CITIES={','.join(taking_part)}) with records it has not read — "
            + "; ".join(problems)
            + ". Keep those cities in LGNET_PROGRAMME_CITIES, revoke their partners, let the records be read, then"
            " re-provision (docs/operators.md, 'A city leaves the programme')"
        )


async def _unread(runtime: Runtime, leaving: dict[str, str]) -> list[str]:
    """'<city>: <n> record(s) on <topic> not yet read' for each leaving city's topic this deployment can see. Read is
    what the gatekeeper recorded with its effects or its group committed, whichever is further: a transaction's
    commit marker (a partner's transactional producer, a dead letter re-driven before December 2026) ends a
    partition one offset past its last record, which only the group's offset steps over."""
    s = runtime.settings
    kafka = client_kwargs(s.kafka_bootstrap_servers, s.kafka_security())
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        visible = sorted(set(leaving) & set(await admin.list_topics()))
        if not visible:
            return []
        partitions: list[TopicPartition] = []
        for d in await admin.describe_topics(visible):
            if d["error_code"] or not d["partitions"] or any(p["error_code"] for p in d["partitions"]):
                return [f"{leaving[d['topic']]}: cannot count the records on {d['topic']} (error {d['error_code']})"]
            partitions += [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
        group = s.consumer_group(runtime.spec.name, GATEKEEPER)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    firsts, ends = await offset_bounds(kafka, partitions)
    read = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    for tp, at in (await recorded_positions(runtime.pool, f"{runtime.spec.name}.{GATEKEEPER}", visible)).items():
        read[tp] = max(read.get(tp, 0), at)
    problems = []
    for topic in visible:
        on_topic = {tp: end for tp, end in ends.items() if tp.topic == topic}
        if n := unread_count(firsts, on_topic, read):
            problems.append(f"{leaving[topic]}: {n} record(s) on {topic} not yet read")
    return problems
