"""One deployment's service, one schema: a second process claiming a deployment name that already runs elsewhere —
the same LGNET_DEPLOYMENT and service, another LGNET_DB_SCHEMA (or database) — is refused at start.

Its schema is new, so `deployment_identity` cannot tell (it records the name in the new schema, and joined the first
one's consumer groups, taking half of its partitions). The Kafka side can: the deployment's groups
(`<prefix><deployment>.<service>.<consumer>`) have committed offsets, while this schema has processed nothing (no
inbox entry, no recorded position). Committed offsets only ever follow what a schema recorded with its effects
(`consumer_positions`, the inbox), so a schema that has processed nothing did not advance them: another one did.
What keeps working: a restart, a replica on the same schema, a schema restored from a backup or renamed, a database
moved (each has processed something, or its groups have no offsets yet); a schema made before `deployment_identity`
(it has processed before). A new schema made on purpose to replace the one that ran (lost, or rebuilt) starts with
LGNET_TAKE_OVER_DEPLOYMENT=<the deployment>: the groups, which no process may then hold, are rewound to the start of
the log, the system of record, which the new schema reads again (docs/operators.md, "Deployments on a shared
cluster")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from lgnet_shared import logs
from lgnet_shared.kafka import READ_AND_GO
from lgnet_shared.setup_errors import SetupError

log = logs.get_logger(__name__)
TAKE_OVER = "LGNET_TAKE_OVER_DEPLOYMENT"


class SecondOwner(SetupError):
    """The deployment's service already runs on another schema."""


async def processed_anything(conn: Any) -> bool:
    return bool(await conn.fetchval("select exists (select 1 from inbox) or exists (select 1 from consumer_positions)"))


async def other_schemas(conn: Any, schema: str, deployment: str, service: str) -> list[str]:
    """The other schemas of this database that record `deployment` as their owner and hold `service`'s migrations:
    where the deployment runs, to name it. Those this login may not read are passed over (naming is a courtesy;
    the refusal rests on Kafka's groups)."""
    found = []
    rows = await conn.fetch(
        "select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relname = 'deployment_identity' and n.nspname <> $1 order by n.nspname",
        schema,
    )
    for (other,) in rows:
        try:
            async with conn.transaction():  # a savepoint: a refused read leaves the connection usable
                ours = await conn.fetchval(
                    f'select exists (select 1 from "{other}".deployment_identity where deployment = $1)'
                    f' and exists (select 1 from "{other}".schema_migrations where id like $2)',
                    deployment,
                    f"{service}-%",
                )
        except asyncpg.PostgresError:  # not readable (privileges), or half made: not this deployment's to name
            continue
        if ours:
            found.append(other)
    return found


async def advanced_groups(admin: AIOKafkaAdminClient, prefix: str) -> dict[str, dict[TopicPartition, int]]:
    """The groups named `prefix…` with committed offsets, and those offsets."""
    groups = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix))
    advanced = {}
    for group in groups:
        committed = await admin.list_consumer_group_offsets(group)
        if offsets := {tp: o.offset for tp, o in committed.items() if o.offset >= 0}:
            advanced[group] = offsets
    return advanced


async def members(admin: AIOKafkaAdminClient, groups: Sequence[str]) -> list[str]:
    """The processes in `groups` now: '<client id>@<host>'. One request per group: aiokafka cannot read the broker's
    answer describing two groups ("Buffer underrun decoding string", then the connection closed), which made the
    refusal of a service with two groups (payments) say the broker was unreachable."""
    found = []
    for name in groups:
        for response in await admin.describe_consumer_groups([name]):
            for group in response.to_object()["groups"]:
                found += [f"{m['client_id']}@{m['client_host'].lstrip('/')}" for m in group["members"]]
    return sorted(set(found))


async def check(
    pool: Any, kafka: dict[str, Any], schema: str, deployment: str, service: str, group_prefix: str, take_over: bool
) -> None:
    """Refuse (SecondOwner) a start on a schema that has processed nothing while the deployment's groups have
    committed offsets; with `take_over`, rewind those groups to the log's start instead (none may be held)."""
    async with pool.acquire() as conn:
        if await processed_anything(conn):
            return
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        advanced = await advanced_groups(admin, group_prefix)
        if not advanced:  # a new deployment, or one whose first start has not processed anything yet
            return
        held = await members(admin, list(advanced))
    finally:
        await admin.close()
    async with pool.acquire() as conn:  # only now: it reads every schema's identity
        elsewhere = await other_schemas(conn, schema, deployment, service)
    where = f"schema {', '.join(repr(s) for s in elsewhere)} of this database" if elsewhere else "another schema"
    groups = ", ".join(advanced)
    if not take_over:
        running = f"; running now: {', '.join(held)}" if held else ""
        raise SecondOwner(
            f"LGNET_DEPLOYMENT {deployment}: its {service} already runs on {where} (its consumer groups {groups} have"
            f" committed offsets{running}), and schema {schema!r} (LGNET_DB_SCHEMA) has processed nothing: a second"
            f" deployment of that name would take half of its partitions. Give this one its own LGNET_DEPLOYMENT"
            f" ({deployment}-…), or point LGNET_DB_SCHEMA at the deployment's schema (a replica); if this schema"
            f" replaces that one on purpose, stop it and set {TAKE_OVER}={deployment}"
        )
    if held:
        raise SecondOwner(
            f"{TAKE_OVER} {deployment}: its consumer groups {groups} are held by {', '.join(held)} (on {where}):"
            " stop those processes first; nothing was taken over"
        )
    await rewind(kafka, advanced)
    log.warning(
        "deployment taken over: its consumer groups rewound to the start of the log, which this schema reads again",
        deployment=deployment,
        schema=schema,
        groups=sorted(advanced),
        replaced=elsewhere,
    )


async def rewind(kafka: dict[str, Any], advanced: dict[str, dict[TopicPartition, int]]) -> None:
    """Commit each group's partitions back to their first offset."""
    for group, offsets in advanced.items():
        consumer = AIOKafkaConsumer(**kafka, **READ_AND_GO, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            first = await consumer.beginning_offsets(list(offsets))
            await consumer.commit({tp: OffsetAndMetadata(o, f"{TAKE_OVER}: rewound") for tp, o in first.items()})
        finally:
            await consumer.stop()
