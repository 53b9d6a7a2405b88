"""The tables every service's schema has, whatever the service: the outbox, the inbox, per-person keys,
idempotency keys, actors and tokens, and the deployment that owns the schema. Kept apart from the code that uses them
so that an admin command migrates a schema without importing a web framework or a Kafka client (the service, its
tests and the admin CLIs apply the same list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Migration = tuple[str, str]

# The outbox (outbox.py) and the notification that wakes its relay.
OUTBOX = [
    (
        "lgnet-outbox-1",
        """
    create table if not exists outbox (
        seq bigserial primary key,
        event_id text not null unique,
        topic text not null,
        key bytea not null,
        value bytea not null,
        headers jsonb not null default '[]',
        created_at timestamptz not null default now()
    )
    """,
    ),
    (
        "lgnet-outbox-2",
        """
    -- Wake the relay when a transaction that staged events commits (PostgreSQL folds duplicate
    -- notifications of one transaction into one), without a round trip per append.
    create or replace function outbox_notify() returns trigger language plpgsql as $$
    begin
        perform pg_notify('lgnet_outbox', current_schema());
        return null;
    end $$;
    create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();
    """,
    ),
    (
        "lgnet-outbox-3",
        """
    -- One channel per schema (outbox.CHANNEL_SQL names it the same way): on the one channel of
    -- lgnet-outbox-2, every relay of the database woke, and queried its own empty outbox, at every
    -- other schema's commit. The payload (the schema) is for whoever listens in by hand.
    create or replace function outbox_notify() returns trigger language plpgsql as $$
    begin
        perform pg_notify('lgnet_outbox_' || hashtext(TG_TABLE_SCHEMA), TG_TABLE_SCHEMA);
        return null;
    end $$;
    """,
    ),
]

# What each consumer has processed (the inbox) and where it is in each partition (consumer.py).
INBOX = (
    "lgnet-inbox-1",
    """
    create table if not exists inbox (
        consumer text not null,
        event_id text not null,
        outcome text not null,
        processed_at timestamptz not null default now(),
        primary key (consumer, event_id)
    );
    create table if not exists consumer_positions (
        consumer text not null,
        topic text not null,
        partition int not null,
        next_offset bigint not null,
        primary key (consumer, topic, partition)
    )
    """,
)

# Per-person keys: crypto-shredding erases a person by deleting theirs (pii.py).
PERSON_KEYS = (
    "lgnet-pii-1",
    """
    create table if not exists person_keys (
        kid text primary key,
        wrapped bytea,
        created_at timestamptz not null default now(),
        erased_at timestamptz,
        check ((wrapped is null) = (erased_at is not null))
    )
    """,
)

# Answers to idempotent HTTP requests (http.py).
IDEMPOTENCY = (
    "lgnet-idempotency-1",
    """
    create table if not exists idempotency_keys (
        actor_id text not null,
        key text not null,
        request_hash text not null,
        status_code int not null,
        response jsonb not null,
        created_at timestamptz not null default now(),
        primary key (actor_id, key)
    )
    """,
)

# Who may call the HTTP APIs, and their tokens' hashes (auth.py); a token may have an end (`expires_at`). Every
# caller lists this one migration, so it grew in place: idempotent, under a new id, so that a schema made under
# `lgnet-auth-1` runs it again and gains the column (`-3`: the auditor role in the check).
ACTORS = (
    "lgnet-auth-3",
    """
    create table if not exists actors (
        actor_id text primary key,
        role text not null check (role in ('partner', 'staff', 'national', 'auditor')),
        city text,
        display_name text not null,
        created_at timestamptz not null default now()
    );
    create table if not exists api_tokens (
        token_hash text primary key,
        actor_id text not null references actors,
        created_at timestamptz not null default now(),
        revoked_at timestamptz
    );
    alter table api_tokens add column if not exists expires_at timestamptz;
    -- lgnet-auth-3: the auditor role (a schema made before it has the narrower check, named by PostgreSQL's default)
    alter table actors drop constraint if exists actors_role_check;
    alter table actors add constraint actors_role_check check (role in ('partner', 'staff', 'national', 'auditor'))
    """,
)

DEPLOYMENT = (
    "lgnet-deployment-1",
    """
    -- Which deployment owns this schema: two deployments pointed at one schema would share an outbox, an
    -- inbox and state, and silently take each other's work. One row, written at first start.
    create table if not exists deployment_identity (
        only_row boolean primary key default true check (only_row),
        deployment text not null,
        city text not null,
        claimed_at timestamptz not null default now()
    )
    """,
)


# Which Kafka cluster the recorded positions (`consumer_positions`) are offsets of: on another cluster (rebuilt from a
# mirror, whose offsets differ) they would name other records (service.same_cluster).
KAFKA_CLUSTER = (
    "lgnet-kafka-cluster-1",
    """
    create table if not exists kafka_cluster (
        only_row boolean primary key default true check (only_row),
        cluster_id text not null,
        since timestamptz not null default now()
    )
    """,
)


# Which master key the schema's service started with: a keyed hash of a fixed label under it (pii.master_key_check),
# never the key. A service started with another one refuses to start before it registers anything derived from it
# (its fact-signing key) — person keys alone told nothing in a schema that keeps none (reporting). One row, written at
# the first start (of a schema made before this table too).
MASTER_KEY_CHECK = (
    "lgnet-master-key-1",
    """
    create table if not exists master_key_check (
        only_row boolean primary key default true check (only_row),
        check_value text not null,
        recorded_at timestamptz not null default now()
    )
    """,
)


# Who ran which admin command, when, on what, and its outcome (admin_actions.py): `lgnet-admin`, `lgnet-intake-admin`,
# `lgnet-partner-admin` and `lgnet-desk-admin` record each change they make in the schema they make it in, in the same
# transaction (GDPR art. 5(2)). Never a password, a token, a key or a person's data: ids, usernames, counts.
ADMIN_ACTIONS = (
    "lgnet-admin-actions-1",
    """
    create table if not exists admin_actions (
        id bigserial primary key,
        at timestamptz not null default clock_timestamp(),
        run_by text not null check (run_by <> ''),
        program text not null,
        command text not null,
        target text not null default '',
        outcome text not null
    );
    create index if not exists admin_actions_latest on admin_actions (at desc, id desc)
    """,
)


def all_migrations(own: Sequence[Migration]) -> list[Migration]:
    """The runtime's tables, then the service's own: what a service applies at start, and what its tests and admin
    commands apply to use its adapters without the process."""
    return [
        *OUTBOX, INBOX, PERSON_KEYS, IDEMPOTENCY, ACTORS, DEPLOYMENT, KAFKA_CLUSTER, MASTER_KEY_CHECK, ADMIN_ACTIONS,
        *own,
    ]  # fmt: skip


# The programs whose own migrations are named `<program>-…` (`intake-3`, `intake-read-log-1`, `desk-9`): which one a
# schema's recorded migrations (`schema_migrations`) belong to. The runtime's (`lgnet-…`) and the shared ones
# (`scheduler-1`, `read-log-readers-1`) are everyone's.
MIGRATION_OWNERS = ("intake", "housing", "payments", "reporting", "desk")


def held_by_others(recorded: Sequence[str], program: str) -> str:
    """Whose tables a schema holds besides `program`'s, as its recorded migration ids tell ("intake's tables
    (migrations intake-1, intake-2, intake-3, …)"), or "" when none: a schema is one program's."""
    others: dict[str, list[str]] = {}
    for mid in sorted(recorded, key=lambda m: (m.split("-")[0], len(m), m)):
        owner = mid.split("-", 1)[0]
        if owner != program and owner in MIGRATION_OWNERS:
            others.setdefault(owner, []).append(mid)
    return "; ".join(
        f"{owner}'s tables (migrations {', '.join(ids[:3])}{', …' if len(ids) > 3 else ''})"
        for owner, ids in others.items()
    )


SERVICES = tuple(p for p in MIGRATION_OWNERS if p != "desk")  # whose schemas hold actors (lgnet-admin's)


async def refuse_held_by_others(pool: Any, schema: str, program: str | None, setting: str = "LGNET_DB_SCHEMA") -> None:
    """Before any migration or write: a schema holding another program's tables (LGNET_DB_SCHEMA set to intake's for
    housing or the desk, `--housing-schema` naming intake's) is refused, on one line naming `setting` (SetupError).
    Migrating it failed half-way on a table both make (a DuplicateTableError traceback), or worse succeeded, and two
    programs shared a schema. `program` None: any one service's (lgnet-admin serves every service's schema, never
    the desk's). The services' start, the desk's, and every admin command that takes a schema apply this one check."""
    # Here, not at import: the list of tables is read without a Kafka client (setup_errors imports aiokafka's errors)
    from lgnet_shared import db, setup_errors

    recorded = await db.recorded_migrations(pool)
    owner = program or next((m.split("-", 1)[0] for m in sorted(recorded) if m.split("-", 1)[0] in SERVICES), "")
    if held := held_by_others(recorded, owner):
        whose = f"{program}'s" if program else "one service's"
        default = f", by default {program!r}" if program else ""
        raise setup_errors.SetupError(
            f"{setting} {schema}: holds {held}, not {whose}: name {whose} own schema ({setting}{default});"
            " nothing was written there"
        )


async def pool_of(
    url: str,
    schema: str,
    program: str | None,
    setting: str = "LGNET_DB_SCHEMA",
    migrations: Sequence[Migration] = (),
    *,
    max_size: int = 1,
    create: bool = True,
) -> Any:
    """A pool on `program`'s schema (the desk's, an admin command's), refused as another program's
    (`refuse_held_by_others`, naming `setting`), then `migrations` applied."""
    from lgnet_shared import db

    pool = await db.create_pool(url, schema, max_size=max_size, create=create, field=setting)
    try:
        await refuse_held_by_others(pool, schema, program, setting)
        await db.migrate(pool, migrations)
    except BaseException:
        await pool.close()
        raise
    return pool
