"""What every LgNet service is made of, assembled once: configuration, logs, traces, PostgreSQL schema and
migrations, topics, the outbox relay, FastStream subscribers running the effectively-once consumers, and an HTTP
app with health, readiness and metrics. A service supplies a `ServiceSpec`; its entrypoint stays thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from fastapi import APIRouter, FastAPI, Response
from faststream.kafka import KafkaBroker
from faststream.kafka import Topic as KafkaTopic
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lgnet_shared import (
    actors,
    auth,
    config,
    db,
    deployment_owner,
    fetch,
    http,
    kafka_health,
    logs,
    metrics,
    outbox,
    owned_ids,
    pii,
    runtime_schema,
    serving,
    setup_errors,
)
from lgnet_shared.commits import DeferredCommits
from lgnet_shared.consumer import AuthenticateHook, Consumer, Handler, InboxKey, InvalidHook, Record, VerifyHook
from lgnet_shared.deadletter import DeadLetters
from lgnet_shared.fact_signing import (
    REGISTRY_TOPIC,
    FactAuthenticator,
    FactSigner,
    KeyRegistry,
    TopicCheck,
    publish_key,
)
from lgnet_shared.kafka import READ_AND_GO, KafkaSecurity, client_kwargs
from lgnet_shared.tasks import being_cancelled
from lgnet_shared.topics import (
    SERVICES,
    TOPICS,
    TopicsNotCreated,
    city_of_topic,
    city_topics,
    ensure_topics,
    for_writer,
    physical,
    used_by,
)

log = logs.get_logger(__name__)
# Records per consumer batch (one PostgreSQL transaction each).
MAX_BATCH = 2000


DEPLOYMENT_MIGRATION = runtime_schema.DEPLOYMENT


all_migrations = runtime_schema.all_migrations


class StartRefused(Exception):
    """A start that cannot go on for a reason the operator fixes — a setting, the database or the broker refusing
    or not answering, a migration that needs staff first: logged on one "start refused" line that names the setting
    and the reason, then the process exits (status 3), without a traceback. An Exception, not a SystemExit: raised
    in one of the start's concurrent steps, a SystemExit escaped asyncio's task and the event loop — a CancelledError
    traceback, and the reason printed raw instead of as a JSON line."""


class SchemaOwnedElsewhere(StartRefused):
    """Start-up refused: the schema belongs to another deployment."""


async def claim_schema(pool: Any, schema: str, deployment: str, city: str) -> None:
    """Record this deployment as the schema's owner, or refuse to start if another deployment owns it."""
    async with pool.acquire() as conn:
        owner = await conn.fetchrow(
            "insert into deployment_identity (deployment, city) values ($1, $2)"
            " on conflict (only_row) do update set only_row = true returning deployment, city",
            deployment,
            city,
        )
    if (owner["deployment"], owner["city"]) != (deployment, city):
        raise SchemaOwnedElsewhere(
            f"schema {schema!r} belongs to deployment {owner['deployment']!r} ({owner['city']}), not"
            f" {deployment!r} ({city}): give this deployment its own LGNET_DB_SCHEMA (or database), or set"
            f" LGNET_DEPLOYMENT={owner['deployment']} LGNET_CITY={owner['city']} if it is that deployment"
        )


# The cyclic collector's generations while a service runs. A consumer holds a fetched batch in flight (hundreds of
# records, each a few dozen objects): with Python's default (a young collection every 700 allocations, an older one
# every 10 of those, a full one every 10 of the older) the batch was scanned again and again and promoted, and full
# collections took 50-105 ms of CPU each, a pause in a partner's p99 (intake: ≈ 0.1 ms of CPU per event). With a
# young collection every 20,000 allocations most of a batch is freed by reference counting before any scan: intake
# 0.03-0.04 ms per event, the longest pause 13-22 ms (docs/benchmarks-history.md, "Intake: a partner's answer at a
# steady rate").
GC_THRESHOLDS = (20_000, 20, 100)


@dataclass
class ConsumerSpec:
    name: str  # the group is "<topic prefix><deployment>.<service>.<name>"; inbox entries are "<service>.<name>"
    topics: Sequence[str]  # logical topic names
    handlers: dict[str, Handler]
    on_invalid: InvalidHook | None = None
    authenticate: AuthenticateHook | None = None
    verify: VerifyHook | None = None
    strict: bool = False
    inbox_key: InboxKey | None = None  # the inbox key of a verified event (None: its (source, id))
    digests: bool = False  # an id used again for another record is refused (inbox_digest.py; the inbox's `digest`)


@dataclass
class ServiceSpec:
    name: str
    default_port: int
    migrations: Sequence[tuple[str, str]] = ()
    consumers: Callable[[Runtime], Sequence[ConsumerSpec]] = lambda _: ()
    routers: Callable[[Runtime], Sequence[APIRouter]] = lambda _: ()
    produces: Sequence[str] = ()  # logical topics this service writes to
    variables: Sequence[config.Variable] = ()  # its own settings, beyond the shared ones (`--help` lists them)
    # Checks against PostgreSQL and Kafka before the consumers subscribe; one raises SystemExit to refuse to start.
    preflight: Callable[[Runtime], Awaitable[None]] | None = None
    # A city's records and parties are this service's to act on (intake, housing, payments): a national deployment
    # of it serves LGNET_SERVED_CITIES only. False (reporting): a national one reads and reports every city.
    serves_cities: bool = True
    # The auditor role (`Role.AUDITOR`) may call this service's API (reporting): every other service refuses an
    # auditor's token at authentication, on every route (`auth.authenticate`), before any role's branch is reached.
    admits_auditors: bool = False


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: config.Settings
    pool: Any = None
    keys: pii.KeyStore | None = None
    relay: outbox.OutboxRelay | None = None
    broker: KafkaBroker | None = None
    producer: AIOKafkaProducer | None = None
    consumers: list[Consumer] = field(default_factory=list)
    signer: FactSigner | None = None
    signing_keys: KeyRegistry | None = None
    consumers_started: bool = False
    consumers_error: str | None = None
    _consumers_since: float = 0.0  # monotonic time the consumers began joining their groups
    _consumers_task: asyncio.Task[None] | None = None
    _thaw_at_stop: bool = False  # this runtime froze the heap (start): its stop unfreezes it
    _subscriptions: list[tuple[Consumer, list[str]]] = field(default_factory=list)  # consumer, physical topics
    _commits: list[DeferredCommits] = field(default_factory=list)  # each subscriber's offset commits
    # What a service's own entrypoints opened (a Kafka reader of an HTTP router, …): closed first at stop.
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.settings.db_schema or self.spec.name

    @property
    def leaves_out(self) -> frozenset[str] | None:
        """The cities a national deployment of this service leaves to their own deployments (LGNET_SERVED_CITIES):
        their records skipped, their parties refused. None: it serves every city (reporting always does)."""
        return self.settings.leaves_out if self.spec.serves_cities else None

    async def start(self) -> None:
        """Ready in well under 3 s after a crash (docs/operators.md, "Restart"): the independent steps run
        together (PostgreSQL: pool and migrations; Kafka: topics and the producer), and the consumers join their
        groups in the background — a group may wait for a crashed member's session to expire (6 s) before it
        assigns partitions, which HTTP need not wait for. Each step's duration is in the "service started" line."""
        s = self.settings
        began = time.monotonic()
        steps: dict[str, float] = {}
        security = s.kafka_security()

        async def timed(name: str, step: Awaitable[Any]) -> Any:
            t0 = time.monotonic()
            try:
                return await step
            finally:
                steps[name] = round(time.monotonic() - t0, 3)

        # Set by the database's steps: whether LGNET_MASTER_KEY is the schema's (the broker's wait for it to register
        # the signing key derived from it).
        master_key_checked: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def postgres() -> None:
            url = s.database_url.get_secret_value()
            try:
                with setup_errors.database(url, needs=f"the service creates its schema {self.schema!r} there"):
                    self.pool = await timed("pool", db.create_pool(url, self.schema))
                    await runtime_schema.refuse_held_by_others(self.pool, self.schema, self.spec.name)
                    migrations = [*all_migrations(self.spec.migrations), owned_ids.MIGRATION]
                    await timed("migrations", db.migrate(self.pool, migrations))
            except setup_errors.SetupError as exc:
                raise StartRefused(str(exc)) from None
            except asyncpg.RaiseError as exc:  # a migration that needs people to act first (docs/operators.md)
                raise StartRefused(
                    f"{setup_errors.database_url(url)}: schema {self.schema!r} cannot be upgraded yet: {exc}"
                ) from None
            await self._one_owner()
            await claim_schema(self.pool, self.schema, s.deployment_name, s.city)
            async with self.pool.acquire() as conn:
                if not await pii.opens_stored_keys(conn, s.master_key_bytes()):
                    raise StartRefused(
                        f"LGNET_MASTER_KEY: does not open the personal-data keys already in schema {self.schema!r}"
                        " (they were wrapped with another master key): start with the key this deployment has used;"
                        " a new key cannot read them"
                    )
                if not await pii.is_the_schemas_master_key(conn, s.master_key_bytes()):
                    raise StartRefused(
                        f"LGNET_MASTER_KEY: not the master key schema {self.schema!r} was first started with (its"
                        " check value differs: a secret regenerated, or another deployment's key): start with the key"
                        " this deployment has used; nothing derived from this one (a signing key) was registered"
                    )
            master_key_checked.set_result(True)

        async def checked_postgres() -> None:
            try:
                await postgres()
            finally:
                if not master_key_checked.done():  # refused, or failed: the broker's steps register nothing
                    master_key_checked.set_result(False)

        async def kafka() -> None:
            try:
                await kafka_steps()
            except KafkaConnectionError as exc:  # no broker, the login refused, TLS: which setting, and why
                raise StartRefused(str(setup_errors.kafka(exc))) from None
            except (TopicsNotCreated, TopicAuthorizationFailedError, GroupAuthorizationFailedError) as exc:
                who = s.kafka_sasl_username or "(none)"
                raise StartRefused(
                    f"KAFKA_SASL_USERNAME {who}: not authorised: {exc or type(exc).__name__}."
                    f" Provision this deployment's service: `lgnet-kafka-admin add-deployment --city {s.city}"
                    f" --service {self.spec.name} --deployment {s.deployment_name}` (LGNET_DEPLOYMENT, LGNET_CITY)"
                ) from None

        async def kafka_steps() -> None:
            self.producer = AIOKafkaProducer(
                **client_kwargs(s.kafka_bootstrap_servers, security), enable_idempotence=True
            )
            # The topics this service reads or writes, and its own signing-key registry, which only this deployment's
            # service may write.
            names = self.topic_names()
            own_registry = for_writer(REGISTRY_TOPIC, s.deployment_name, self.spec.name)
            topics = ensure_topics(
                s.kafka_bootstrap_servers,
                s.topic_prefix,
                [*names, own_registry],
                s.topic_replication,
                security,
            )
            await asyncio.gather(timed("topics", topics), timed("producer", self.producer.start()))
            # A key derived from another master key than the schema's would stay in the registry for good, one no
            # operator can confirm to an auditor: registered only once the database has said it is the schema's.
            if not await timed("master_key", master_key_checked):
                return
            # Registered before the relay publishes anything signed with it (idempotent: same key, same record).
            await timed("signing_key", publish_key(self.producer, signer.key, s.topic_prefix, ensure=False))
            if s.fact_signatures == "required":
                # The keys known now, read before the consumers start: the first facts are checked at once,
                # not after a registry read (a new connection, SCRAM and TLS) on the consumer's path.
                assert self.signing_keys is not None
                await timed("signing_registry", self.signing_keys.load())

        self.signer = signer = FactSigner(s.signing_seed(self.spec.name), s.deployment_name, self.spec.name, s.city)
        self.signing_keys = KeyRegistry(s.kafka_bootstrap_servers, s.topic_prefix, security)

        # Both run to their end, so a start refused says everything at fault at once (the database and the broker).
        outcomes = await asyncio.gather(checked_postgres(), kafka(), return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, StartRefused)]
        if len(refused) == 1:
            raise refused[0]
        if refused:
            # the broker not answering is said once, though both steps met it (the deployment's groups are Kafka's)
            raise StartRefused("; ".join(dict.fromkeys(str(r) for r in refused)))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if self.spec.preflight is not None:
            await timed("preflight", self.spec.preflight(self))
        metrics.DEPLOYMENT.labels(self.spec.name, s.deployment_name, s.city).set(1)
        self.keys = pii.KeyStore(s.master_key_bytes())
        self.relay = outbox.OutboxRelay(
            self.pool,
            s.kafka_bootstrap_servers,
            topic_prefix=s.topic_prefix,
            security=security,
            signer=self.signer,
            topic_replication=s.topic_replication,
        )
        await timed("relay", self.relay.start())
        self.broker = faststream_broker(s.kafka_bootstrap_servers, security, f"lgnet-{self.spec.name}")
        for cspec in self.spec.consumers(self):
            self._subscriptions.append((self._subscribe(cspec), [physical(t, s.topic_prefix) for t in cspec.topics]))
        self._consumers_task = asyncio.create_task(self._start_consumers(), name="consumers-start")
        # What start-up built (modules, models, schemas, clients: ≈ 100,000 objects) lives as long as the service:
        # frozen, the cyclic collector's full passes no longer re-scan it every few thousand records (they were
        # ≈ 20 % of a consumer's CPU per event, docs/benchmarks.md). `stop` unfreezes it — unless the heap was frozen
        # before (a test process, by the shared plugin): unfreezing cannot tell its objects from the runtime's.
        self._thaw_at_stop = gc.get_freeze_count() == 0
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        steps["total"] = round(time.monotonic() - began, 3)
        # The key id names this deployment's producer key and its fingerprint: what an operator reads out to an
        # auditor who checks the pinned keys out of band (docs/reporting.md, step 1).
        log.info(
            "service started",
            schema=self.schema,
            city=s.city,
            deployment=s.deployment_name,
            signing_key_id=self.signer.key.key_id if self.signer is not None else None,
            start_seconds=steps,
        )

    async def _one_owner(self) -> None:
        """Before the schema is claimed: the deployment's service runs on no other schema (deployment_owner)."""
        s = self.settings
        if s.take_over_deployment not in (None, s.deployment_name):
            raise StartRefused(
                f"{deployment_owner.TAKE_OVER} {s.take_over_deployment}: not this deployment's name"
                f" ({s.deployment_name}: LGNET_DEPLOYMENT, else LGNET_CITY); it takes over this deployment only"
            )
        kafka = client_kwargs(s.kafka_bootstrap_servers, s.kafka_security())
        try:
            await deployment_owner.check(
                self.pool,
                kafka,
                self.schema,
                s.deployment_name,
                self.spec.name,
                s.consumer_group(self.spec.name, ""),
                take_over=s.take_over_deployment is not None,
            )
        except setup_errors.SetupError as exc:
            raise StartRefused(str(exc)) from None
        except (KafkaError, OSError) as exc:  # the broker's own step names it as well
            raise StartRefused(str(setup_errors.kafka(exc))) from None

    async def _start_consumers(self) -> None:
        """The consumers join their groups; retried while Kafka refuses (readiness says "joining" meanwhile)."""
        assert self.broker is not None
        t0 = self._consumers_since = time.monotonic()
        attempt = 0
        while True:
            try:
                kafka = client_kwargs(self.settings.kafka_bootstrap_servers, self.settings.kafka_security())
                assert self.producer is not None  # started before the consumers: its connection tells the cluster
                cluster = await kafka_health.cluster_id(self.producer.client)
                await same_cluster(self.pool, cluster)  # the recorded positions are this cluster's offsets, or none
                for cons, topics in self._subscriptions:  # before joining: where a group has no offsets yet
                    await seed_group_offsets(self.pool, kafka, cons, topics)
                await self.broker.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                attempt += 1
                self.consumers_error = f"{type(exc).__name__}"
                log.warning("consumers could not start; retrying", error=repr(exc), attempt=attempt)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(min(5.0, 0.5 * 2**attempt))
        self.consumers_error = None
        self.consumers_started = True
        log.info("consumers joined their groups", seconds=round(time.monotonic() - t0, 3))

    def _subscribe(self, cspec: ConsumerSpec) -> Consumer:
        assert self.broker is not None and self.producer is not None
        group = self.settings.consumer_group(self.spec.name, cspec.name)
        authenticate, verify, prepare = cspec.authenticate, cspec.verify, None
        if authenticate is None and verify is None and self._facts_only(cspec.topics):
            if self.settings.fact_signatures == "required":
                assert self.signing_keys is not None
                facts = FactAuthenticator(self.signing_keys)
                authenticate, verify, prepare = facts.authenticate, facts.verify, facts.prepare
            else:  # no signatures checked (a log of before them): which types each topic carries still holds
                verify = TopicCheck(self.settings.topic_prefix).verify
        cons = Consumer(
            name=group,
            inbox_name=f"{self.spec.name}.{cspec.name}",
            pool=self.pool,
            handlers=cspec.handlers,
            city=self.settings.city_filter,
            leaves_out=self.leaves_out or frozenset(),
            city_topics=frozenset(
                physical(t, self.settings.topic_prefix) for t in cspec.topics if city_of_topic(t) == self.settings.city
            ),
            on_invalid=cspec.on_invalid,
            authenticate=authenticate,
            verify=verify,
            prepare=prepare,
            strict=cspec.strict,
            inbox_key=cspec.inbox_key,
            digests=cspec.digests,
            # Every city's facts kept together (a national deployment's fact consumers): one city may not fold its
            # facts over another's ids (owned_ids.py). The gatekeeper reads partners' records, keyed by partner.
            guard_ids=self.settings.city_filter is None and not cspec.strict and cspec.on_invalid is None,
            dead_letters=DeadLetters(self.producer, group, self.settings.topic_prefix),
        )
        self.consumers.append(cons)
        commits = DeferredCommits(group, self.settings.consumer_commit_interval_ms / 1000, on_revoked=cons.forget)
        self._commits.append(commits)

        # Batches: one PostgreSQL transaction per batch; offsets committed after it (NACK rewinds on error), at most
        # once per interval (commits.py): they are a cache of the positions the batch saved with its effects.
        subscriber = self.broker.subscriber(
            *subscribed(cspec.topics, self.settings.topic_prefix),
            # The deployment's group, `<prefix><deployment>.<service>.<consumer>`, which its principal's ACL allows.
            group_id=group,
            batch=True,
            max_records=MAX_BATCH,
            # The broker answers a fetch once 64 KiB have gathered or after 10 ms: a record waits at most 10 ms
            # (it was 50 ms, behind a 256 KiB floor that a partner's pace never reaches), and a batch still gathers
            # what arrives meanwhile — one transaction per batch, not per relayed chunk
            # (with fetch_min_bytes 1 the backbone bench ran slower under load: smaller batches, docs/benchmarks.md).
            # Idle (a fetch brought nothing), it asks with 1 byte and 500 ms instead (fetch.Pace): an idle consumer
            # asks twice a second, not a hundred times, and a record after a quiet spell is answered at once.
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            auto_offset_reset="earliest",
            # A crashed member holds its partitions until its session expires: the broker's minimum (6 s, not
            # aiokafka's 10 s) brings a killed service's consumers back sooner.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1500,
            isolation_level="read_committed",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            listener=commits,  # partitions a rebalance takes away are committed before they go
            decoder=_undecoded,
            parser=_tolerant_parser,
        )
        # A record batch the client cannot read becomes placeholders the consumer dead-letters (fetch.py).
        pace = fetch.Pace(
            self.settings.consumer_fetch_min_bytes,
            self.settings.consumer_fetch_max_wait_ms,
            self.settings.consumer_idle_fetch_max_wait_ms,
        )
        tolerant = fetch.tolerant(fetch.batches(MAX_BATCH, 200, pace), cons.fetched)
        setattr(subscriber, "get_msg", tolerant)  # noqa: B010 (an instance override)

        context = self.broker.context

        @subscriber
        async def on_batch(_: None) -> None:
            message: KafkaMessage = context.get_local("message")  # FastStream's, for this batch (no injection)
            raw = message.raw_message
            cons.client = message.consumer  # the client whose partitions' lag /metrics reports
            await cons.process(raw if isinstance(raw, tuple) else (raw,))
            # FastStream acknowledges the batch by calling `commit()` on this: noted, sent within the interval.
            message.consumer = commits.acknowledging(message.consumer)

        return cons

    def _facts_only(self, topics: Sequence[str]) -> bool:
        """Consumers of topics only services write (canonical facts) check producer signatures, unless turned off."""
        return all(t in TOPICS and TOPICS[t].writers and TOPICS[t].writers <= set(SERVICES) for t in topics)

    async def stop(self) -> None:
        if self._thaw_at_stop:  # what this runtime held may now be collected (a process that starts runtimes again)
            gc.unfreeze()
        if self._consumers_task is not None and not self._consumers_task.done():
            self._consumers_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumers_task
        # The broker first: its consumers leave their groups (LeaveGroup), so a restarted replica is assigned
        # partitions at once instead of after the old member's session timeout.
        for closer in (
            *self.closers,
            *(c.close for c in self._commits),  # what the consumers processed, committed while they are members
            self.broker.stop if self.broker else None,
            self.relay.stop if self.relay else None,
            self.signing_keys.close if self.signing_keys else None,
            self.producer.stop if self.producer else None,
            self.pool.close if self.pool else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    def topic_names(self) -> list[str]:
        """The logical topics this service reads or writes (the registry's roles; its city's per-city topics, every
        city's for a national deployment): all its principal may see or create.
        A service name with no role in the registry, e.g. a test's probe, gets every topic."""
        return (used_by(self.spec.name) + city_topics(self.spec.name, self.settings.city)) or [
            t.name for t in TOPICS.values() if not t.family
        ]

    async def ready(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await db.ping(self.pool)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            assert self.producer is not None
            topics = [physical(t, self.settings.topic_prefix) for t in self.topic_names()]
            async with asyncio.timeout(3):
                checks["kafka"] = await kafka_health.topics_state(self.producer.client, topics)
        except Exception as exc:
            checks["kafka"] = f"error: {type(exc).__name__}"
        checks["outbox_relay"] = self.relay_state()
        stuck = [s for c in self.consumers for s in c.stuck(self.settings.consumer_stuck_after_s)]
        joining_s = time.monotonic() - self._consumers_since
        if self._subscriptions and not self.consumers_started and joining_s > self.settings.consumer_stuck_after_s:
            # HTTP does not wait for the groups (fast restarts); a deployment that never joins is not ready
            stuck.insert(
                0, f"consumers have not joined their groups for {joining_s:.0f}s ({self.consumers_error or 'joining'})"
            )
        checks["consumers"] = "error: " + "; ".join(stuck) if stuck else "ok"
        return checks

    def relay_state(self) -> str:
        """In /health/ready: the relay runs, and has not failed to publish for longer than the consumers' stuck time
        (a record its topic refuses held that topic's facts back, with "ok" said all along; OutboxRelay.state)."""
        if not (self.relay and self.relay.healthy):
            return "error: not running"
        return self.relay.state(self.settings.consumer_stuck_after_s)

    def refresh_metrics(self) -> None:
        for c in self.consumers:
            c.stuck(self.settings.consumer_stuck_after_s)
            c.refresh_lag()
        metrics.OUTBOX_STUCK_SECONDS.set(self.relay.stuck_for() if self.relay else 0)

    async def count_tokens_ending(self, within_days: int = 30) -> None:
        """The tokens ending soon, counted at each scrape (a small table); PostgreSQL away: the last count stays, and
        /health/ready says why."""
        try:
            async with asyncio.timeout(2), self.pool.acquire() as conn:
                metrics.TOKENS_ENDING.labels(str(within_days)).set(await actors.tokens_ending(conn, within_days))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            pass

    def consumers_state(self) -> str:
        """In /health/ready: "ok", "joining" or "retrying: <error>" (a readiness condition past the stuck delay)."""
        if self.consumers_started:
            return "ok"
        return f"retrying: {self.consumers_error}" if self.consumers_error else "joining"


def faststream_broker(bootstrap: str, security: KafkaSecurity, client_id: str) -> KafkaBroker:
    """The subscribers' broker. FastStream takes a string for one server: a cluster's "a:1,b:2,c:3" is split."""
    return KafkaBroker(
        [server.strip() for server in bootstrap.split(",") if server.strip()],
        security=security.faststream(),
        client_id=client_id,
        # FastStream's own lines go through our JSON logs; its per-batch received/processed lines are DEBUG.
        logger=logging.getLogger("lgnet.kafka"),
        log_level=logging.DEBUG,
        # No dependency injection: resolving the handler's `KafkaMessage` parameter ran a synchronous function in a
        # worker thread, in a task group of its own, for every batch (shared/tests/test_batch_dispatch.py); the
        # handler reads the message from FastStream's context instead.
        apply_types=False,
    )


def subscribed(topics: Sequence[str], prefix: str) -> list[KafkaTopic]:
    """The topics a consumer subscribes to, which FastStream must not try to create: the service has created them
    (`ensure_topics`, with their replication and settings), and FastStream's attempt at each start was refused under
    a deployment's ACLs and logged "Failed to create topic …: TopicAuthorizationFailedError" per topic."""
    return [KafkaTopic(physical(t, prefix), declare=False) for t in topics]


async def recorded_positions(pool: Any, inbox: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The next offset a consumer (`inbox`: '<service>.<consumer>') will process, per partition of `topics`, as it
    recorded it with its effects (`consumer_positions`)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "select topic, partition, next_offset from consumer_positions where consumer = $1 and topic = any($2)",
            inbox,
            list(topics),
        )
    return {TopicPartition(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}


async def same_cluster(pool: Any, cluster: str) -> str | None:
    """The recorded positions (`consumer_positions`) are offsets of one Kafka cluster, the one the schema records. On
    another — the deployment moved to a cluster rebuilt from a mirror, whose offsets differ — they would name other
    records, and seeding a group from them skipped the records before: they are set aside, and the consumers read
    this cluster's log where its groups are, or from its start (the inbox recognises what was processed). Returns
    the cluster the positions were of, when it was another one."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("insert into kafka_cluster (cluster_id) values ($1) on conflict do nothing", cluster)
        recorded = await conn.fetchval("select cluster_id from kafka_cluster for update")
        if recorded == cluster:
            return None
        cleared = await conn.execute("delete from consumer_positions")
        await conn.execute("update kafka_cluster set cluster_id = $1, since = now()", cluster)
    log.warning(
        "another Kafka cluster: the positions recorded are the old one's offsets, set aside; the consumers read this"
        " cluster's log from where its groups are, or from its start",
        recorded_cluster=recorded,
        cluster=cluster,
        positions=int(cleared.split()[-1]),
    )
    return str(recorded)


async def seed_group_offsets(pool: Any, kafka: dict[str, Any], cons: Consumer, topics: Sequence[str]) -> dict[str, int]:
    """PostgreSQL's record of what a consumer processed (`consumer_positions`, written with its effects) is the
    truth; Kafka's committed offsets are a cache of it. Where the group has none (a renamed group after an
    upgrade, offsets expired while the deployment was down), commit the recorded positions, so the consumer
    resumes there instead of re-reading the log from the start. Where the group is *ahead* of them, PostgreSQL is
    behind the log — restored from a backup: the records in between were applied once and lost with the restore —
    so the group is rewound to them and reads those records again (the inbox recognises what the backup held).
    A group behind them is normal (commits are deferred) and left alone. Returns what was committed
    ("topic:partition")."""
    recorded = await recorded_positions(pool, cons.inbox, topics)
    if not recorded:
        return {}
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(cons.name)
    finally:
        await admin.close()
    missing = {tp: o for tp, o in recorded.items() if tp not in committed or committed[tp].offset < 0}
    behind = {tp: o for tp, o in recorded.items() if tp not in missing and committed[tp].offset > o}
    if behind:
        log.warning(
            "PostgreSQL is behind the log (restored from a backup?): consumer group rewound to the recorded positions",
            group=cons.name,
            partitions={f"{tp.topic}:{tp.partition}": [o, committed[tp].offset] for tp, o in behind.items()},
            records=sum(committed[tp].offset - o for tp, o in behind.items()),
        )
    missing |= behind
    if not missing:
        return {}
    seeder = AIOKafkaConsumer(**kafka, **READ_AND_GO, group_id=cons.name, enable_auto_commit=False)
    await seeder.start()
    try:
        seeder.assign(list(missing))
        await seeder.commit({tp: OffsetAndMetadata(o, "seeded from consumer_positions") for tp, o in missing.items()})
    finally:
        await seeder.stop()
    seeded = {f"{tp.topic}:{tp.partition}": o for tp, o in missing.items()}
    log.info("consumer group offsets seeded from recorded positions", group=cons.name, partitions=len(seeded))
    return seeded


async def _undecoded(_: StreamMessage[Any]) -> None:
    """The consumer decodes records itself (naming the field at fault); FastStream's own per-record JSON
    decoding of every batch would be thrown away."""
    return None


async def _tolerant_parser(
    records: Record | tuple[Record, ...], original: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream's batch parser decodes every header value as UTF-8. One record with a binary header made the
    whole batch fail before our code saw it — and its offsets were committed with the next batch: records lost.
    The consumer reads the raw records (headers included) itself, so FastStream parses a header-less copy of a
    batch's first and last records only (all its message id needs): every fact's signature header is binary
    (fact_signing, version 2), and parsing, failing, copying and re-parsing whole batches cost more per event
    than checking the signatures (docs/benchmarks.md, "Fourth pass")."""
    if not isinstance(records, tuple):
        try:
            return await original(records)
        except Exception:
            message = await original(dataclasses.replace(records, headers=[]))
            message.raw_message = records
            return message
    ends = records if len(records) < 2 else (records[0], records[-1])
    message = await original(tuple(dataclasses.replace(r, headers=[]) for r in ends))
    message.raw_message = records
    return message


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Spans are recorded only when they go somewhere (recording and dropping a span per event would cost
    ~20-80 µs at backbone rates). Either way every event carries its `traceparent` onwards."""
    if exporter == "none" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # Imported only when spans go somewhere: the OTLP exporter alone is ~0.1-0.4 s of every start.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    # Sampling: the standard OTEL_TRACES_SAMPLER(_ARG); default parent-based always-on.
    provider = TracerProvider(resource=Resource.create({"service.name": f"lgnet-{service}"}))
    if exporter == "otlp":  # endpoint, headers, protocol: the standard OTEL_EXPORTER_OTLP_* variables
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def create_app(spec: ServiceSpec, settings: config.Settings) -> FastAPI:
    runtime = Runtime(spec, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
        except (StartRefused, SystemExit) as refused:  # not a fault: its reason on one line an operator finds
            log.error("start refused", reason=str(refused))
            app.state.start_refused = True  # uvicorn is not to log the traceback too (http.quiet_refusal)
            await runtime.stop()  # what the start opened
            raise
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"LgNet {spec.name}", lifespan=lifespan, version="0.1.0")
    http.install_problem_handlers(app)
    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @health.get(
        "/health/ready",
        summary="Dependencies answer: PostgreSQL, Kafka, the outbox relay (status degraded: a Kafka broker is missing,"
        " or a partner's answers are held back)",
        responses={503: {"description": "A dependency does not answer: the failing check is named in `checks`"}},
    )
    async def ready(response: Response) -> dict[str, Any]:
        checks = await runtime.ready()
        response.status_code, status = http.readiness(checks)
        return {
            "status": status,
            "service": spec.name,
            "checks": checks,
            "consumer_groups": runtime.consumers_state(),  # past the stuck delay, `consumers` says it
        }

    @health.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        runtime.refresh_metrics()  # ages of waiting records grow between batches
        await runtime.count_tokens_ending()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health)
    app.include_router(auth.me_router())
    for router in spec.routers(runtime):
        app.include_router(router)
    app.state.runtime = runtime
    app.state.spec = spec
    return app


def run(spec: ServiceSpec) -> None:
    """Console entry point of a service: validate config, then serve until stopped (`--help`: the variables; it
    started the service instead)."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(config.usage(f"lgnet-{spec.name}", spec.variables))
        return
    settings = config.load()
    config.check_own(spec.variables)
    config.check_principal(settings, spec.name)
    # The port first: taken by another process, nothing else starts (no schema, topic or signing key made).
    sock = serving.listening_socket(settings.http_host, settings.http_port or spec.default_port)
    logs.configure(spec.name, settings.log_level, deployment=settings.deployment_name)
    configure_tracing(spec.name, settings.traces_exporter)
    app = create_app(spec, settings)
    serving.serve_on(sock, http.quiet_refusal(app), log_config=None, access_log=False)
