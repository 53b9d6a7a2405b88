"""Consuming events effectively once: inbox, bounded retries, dead letters.

Each partition's share of a batch is processed in one PostgreSQL transaction, where every event id is recorded
in the inbox together with the handlers' effects and the events they emit (written to the outbox in one
statement at the end). A redelivered event finds its id in the inbox and has no effect. Kafka offsets are
committed only after that transaction commits. Optimistically the whole share goes at once (one statement for the
inbox and the positions; a `BatchHandler` gets runs of consecutive events); if any record needs care, it is redone
record by record, each in a savepoint.

A record that is not a valid event (not JSON, not a CloudEvent, unknown type, invalid data — or anything at all
that goes wrong reading it) goes straight to the dead-letter topic, or to the consumer's `on_invalid` hook (the
intake gatekeeper answers the partner). A handler that keeps failing is retried with backoff, then dead-lettered,
so it never blocks its partition. Loss of the database or broker is not the record's fault: it propagates, and
the batch is redelivered later. Every other failure is the record's: it is dead-lettered once and the partition
moves on.

With an `authenticate` hook (the gatekeeper), only an authenticated record whose claims `verify` accepts may
claim an inbox id (source, id) or be answered: anything else is dead-lettered, remembered by its position
(topic:partition:offset), so a forged record can neither burn a partner's event id nor write to its feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import TypeAdapter

from lgnet_shared import codec, inbox_digest, logs, metrics, outbox, owned_ids, runtime_schema, tracing
from lgnet_shared.db import Conn, DeferredWrites, Pool
from lgnet_shared.deadletter import DeadLetters, Failure
from lgnet_shared.envelope import Envelope, from_record, is_binary_mode, loggable
from lgnet_shared.errors import ContractError, NotACloudEvent, UnknownEventType, Unreadable
from lgnet_shared.events import Event, latest
from lgnet_shared.fact_signing import FactSignatureError
from lgnet_shared.fetch import UnreadableRecord, behind

Record: TypeAlias = ConsumerRecord[bytes, bytes]
EventHandler = Callable[[Conn, Envelope, Event], Awaitable[None]]


@dataclass(frozen=True)
class BatchHandler:
    """Applies the effects of a run of consecutive events (of the types it is registered for) together, in
    order — e.g. one `executemany` instead of a round trip to PostgreSQL per event. Every event is still recorded
    in the inbox one by one. Should the run fail, the batch takes the careful path, where `apply` receives one
    event at a time with its own retries, log context and trace span."""

    apply: Callable[[Conn, Sequence[tuple[Envelope, Event]]], Awaitable[None]]


@dataclass(frozen=True)
class PipelinedHandler:
    """A per-event handler whose writes may travel together: on the batch's optimistic path it gets a connection
    (`db.DeferredWrites`) that queues its `execute` calls and sends them to PostgreSQL with the next events' as
    one pipelined `executemany` per statement, flushed before any read, savepoint or other handler, and before
    the batch commits — one round trip for many events instead of one each. Same transaction, same order, same
    effects; for a handler that does not read `execute`'s status string and does not catch a failing statement
    itself (a failure surfaces at the flush and sends the batch down the careful path, where it runs as a plain
    event handler on the real connection, with its retries and dead letters)."""

    handle: EventHandler

    async def __call__(self, conn: Conn, env: Envelope, event: Event) -> None:
        await self.handle(conn, env, event)


Handler: TypeAlias = EventHandler | BatchHandler
# Called for every refused record (undecodable, claims refused, or a handler's ContractError) to answer its sender,
# which is the authenticated sender when the consumer authenticates (never a record's unverified claim), else None.
# Returns False when there is nobody to answer, and the record is dead-lettered instead. `env` is None when the
# record is not even a CloudEvent. Never called for a record that failed authentication.
InvalidHook = Callable[[Conn, Record, Envelope | None, ContractError, str | None], Awaitable[bool]]
# Authenticates the record's bytes (e.g. a partner's signature) before it is even decoded: returns the sender's
# id, or raises ContractError (Unauthenticated).
AuthenticateHook = Callable[[Conn, Record], Awaitable[str]]
# Checks the decoded record's claims (partner, city) against its authenticated sender; raises ContractError.
VerifyHook = Callable[[Conn, Record, Envelope, str | None], Awaitable[None]]
# Called once per fetched batch of a partition before its records are authenticated one by one: e.g. checks all
# their signatures at once in a worker thread, off the event loop; `authenticate` stays the judge of each record.
PrepareHook = Callable[[Sequence[Record]], Awaitable[None]]
# The inbox key of an authenticated, verified event (default `inbox_id`: its (source, id)); the gatekeeper scopes it
# by the signer, so that no partner can take another's event ids.
InboxKey = Callable[[Envelope], str]
log = logs.get_logger(__name__)
UNREGISTERED = "(unregistered)"  # the type label of a record whose type no contract names


def _type_label(env: Envelope | None) -> str:
    """A metric's `type` label: a skipped or refused record's type is whatever string its sender wrote (unread,
    unauthenticated on the old shared topic), and each new label value would be a series kept for ever."""
    if env is None:
        return ""
    return env.type if latest(env.type) is not None else UNREGISTERED


MIGRATION = runtime_schema.INBOX
# Failures that are the infrastructure's, not the record's: never dead-letter for these.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    KafkaError,  # the dead-letter producer's; a dead letter too large is handled in DeadLetters.send
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
)


BACKOFF_MAX_S = 2.0  # the longest pause before a batch that failed on the infrastructure is redelivered


@dataclass
class RetryPolicy:
    attempts: int = 3
    backoff_s: Sequence[float] = (0.05, 0.5)

    def delay(self, attempt: int) -> float:
        return self.backoff_s[min(attempt - 1, len(self.backoff_s) - 1)]


@dataclass
class Consumer:
    """One consumer group's processing: `handlers` maps event types to handlers; other types are ignored.
    `name` is the Kafka consumer group (it carries the deployment; metrics and dead letters name it); the inbox
    and positions are kept under `inbox_name` (default `name`), which stays the same when a group is renamed,
    so a redelivery under a new group name is still recognised."""

    name: str
    pool: Pool
    dead_letters: DeadLetters
    handlers: dict[str, Handler]
    city: str | None = None  # None = national: every city's events; otherwise other cities' events are skipped
    # A national deployment's cities run by their own deployments of the service (LGNET_SERVED_CITIES): skipped too.
    leaves_out: frozenset[str] = frozenset()
    # Topics only the city's own parties may write (a city's partners' inbound topic): a record there claiming another
    # city is no other city's to judge, so it is judged here (refused to its signer), never skipped unanswered.
    city_topics: frozenset[str] = frozenset()
    on_invalid: InvalidHook | None = None
    authenticate: AuthenticateHook | None = None
    verify: VerifyHook | None = None
    prepare: PrepareHook | None = None
    strict: bool = False  # True (gatekeeper): a type without a handler is refused, not ignored; JSON types strict
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    inbox_name: str = ""
    inbox_key: InboxKey | None = None  # None: inbox_id
    # The inbox keeps each event's content digest: an id used again for another record is refused (inbox_digest.py).
    digests: bool = False
    # A consumer of every city's facts (national housing, payments, reporting): a fact about an aggregate id another
    # city's facts own is refused (owned_ids.py), its effects never applied. Needs owned_ids.MIGRATION.
    guard_ids: bool = False

    @property
    def inbox(self) -> str:
        return self.inbox_name or self.name

    def _inbox_key(self, env: Envelope) -> str:
        return (self.inbox_key or inbox_id)(env)

    # (topic, partition) -> (offset waiting to be processed, monotonic time since when): cleared once processed.
    waiting: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)
    fetch_failing: tuple[float, str] | None = None  # since when fetching fails, and the last error's type
    failing: tuple[int, str] | None = None  # batches failed in a row on the infrastructure, and the last error's type
    # Records dead-lettered by a transaction that has not committed (yet): topic:partition:offset (`_dead_letter`).
    _unsettled: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    # Topics whose facts this process applied unjudged (no broker stamp, dated before the rule): warned once each.
    _unjudged_on: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    client: AIOKafkaConsumer | None = None  # the Kafka client whose batches this processes (its lag: `refresh_lag`)
    _lagging: set[tuple[str, int]] = field(default_factory=set, init=False, repr=False, compare=False)
    # Partitions with records waiting as the last look (`stuck`: readiness, /metrics) saw them, fetched or not: (first
    # offset not processed, since when a look has seen it wait); and the partitions whose age gauge it set.
    _seen_waiting: dict[tuple[str, int], tuple[int, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _aged: set[tuple[str, int]] = field(default_factory=set, init=False, repr=False, compare=False)
    # The handled types' one-pass reader (codec.typed_envelopes); False until first needed.
    _one_pass: TypeAdapter[Any] | Literal[False] | None = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kinds = ContractError.kinds() | {"processing", "internal"}  # a handler that kept failing; our own fault
        metrics.export_consumer_at_zero(self.name, sorted(kinds), FactSignatureError.CODES)
        for event_type in sorted(self.handlers) if self.guard_ids else ():
            metrics.FACTS_UNJUDGED.labels(self.name, event_type)  # at 0, for an alert on any increase

    def fetched(self, error: Exception | None) -> None:
        """What the subscriber's fetch reported: a consumer whose fetch keeps failing is stuck too."""
        if error is None:
            self.fetch_failing = None
        else:
            since = self.fetch_failing[0] if self.fetch_failing else time.monotonic()
            self.fetch_failing = (since, type(error).__name__)

    async def process(self, records: Sequence[Record]) -> None:
        """Partitions are independent (order only holds within one): each is processed in its own transaction,
        concurrently. If one fails, the error propagates and the batch is redelivered; what the others
        committed is then recognised by the inbox."""
        if not records:
            return
        started = time.perf_counter()
        by_partition: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            by_partition.setdefault((r.topic, r.partition), []).append(r)
        now = time.monotonic()
        for tp, rs in by_partition.items():
            head = self.waiting.get(tp)
            if head is None or head[0] != rs[0].offset:  # a redelivery of the same offset keeps its age
                self.waiting[tp] = (rs[0].offset, now)
        results: list[BaseException | None]
        if len(by_partition) == 1:  # the usual fetch at a person's pace: no task to create (≈ 20 µs of CPU)
            try:
                await self._process_partition(next(iter(by_partition.values())))  # failed: propagates, still waiting
            except Exception as exc:
                await self._back_off(exc)
                raise
            results = [None]
        else:
            results = await asyncio.gather(
                *(self._process_partition(rs) for rs in by_partition.values()), return_exceptions=True
            )
        for tp, result in zip(by_partition, results, strict=True):
            if not isinstance(result, BaseException):
                self.waiting.pop(tp, None)
                metrics.CONSUMER_STUCK_SECONDS.labels(self.name, tp[0], str(tp[1])).set(0)
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, Exception):
                    await self._back_off(result)
                raise result
        if self.failing is not None:
            self.failing = None
        metrics.PROCESSING_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        """Partitions a rebalance handed to another member: their records no longer wait here. A partition this process
        was stuck on (PostgreSQL away) was otherwise said stuck by it for ever, after another member had it."""
        for tp in partitions:
            seen = self._seen_waiting.pop(tp, None)
            if self.waiting.pop(tp, None) is not None or seen is not None:
                metrics.CONSUMER_STUCK_SECONDS.labels(self.name, tp[0], str(tp[1])).set(0)

    async def _back_off(self, exc: Exception) -> None:
        """A batch failed on the infrastructure (PostgreSQL or Kafka away; a record's own faults never get here): its
        redelivery waits, 0.1 s doubling to BACKOFF_MAX_S. It was redelivered at once, about 40 times a second per
        consumer, each failure an ERROR line with its traceback, against a database that was not there."""
        failures = self.failing[0] + 1 if self.failing is not None else 1
        self.failing = (failures, type(exc).__name__)
        await asyncio.sleep(min(BACKOFF_MAX_S, 0.1 * 2 ** min(failures - 1, 10)))

    def stuck(self, after_s: float) -> list[str]:
        """Partitions whose next record has waited longer than `after_s` (e.g. redelivered again and again because
        the database is gone, or behind a batch of another partition that hangs); also refreshes the age gauges."""
        now, found = time.monotonic(), []
        if self.fetch_failing and now - self.fetch_failing[0] > after_s:
            since, error = self.fetch_failing
            found.append(f"{self.name} cannot fetch for {now - since:.0f}s ({error})")
        heads = self._heads(now)
        for topic, partition in self._aged - heads.keys():  # caught up, or taken away by a rebalance
            metrics.CONSUMER_STUCK_SECONDS.labels(self.name, topic, str(partition)).set(0)
        self._aged = set(heads)
        for (topic, partition), (offset, since) in sorted(heads.items()):
            age = now - since
            metrics.CONSUMER_STUCK_SECONDS.labels(self.name, topic, str(partition)).set(age)
            if age > after_s:
                why = f" ({self.failing[1]})" if self.failing is not None else ""
                found.append(f"{self.name} stuck on {topic} partition {partition} offset {offset} for {age:.0f}s{why}")
        return found

    def _heads(self, now: float) -> dict[tuple[str, int], tuple[int, float]]:
        """Each partition's first record not processed, and since when it has waited: the batch in hand's since it
        was handed out (`waiting`); a partition whose records the client holds or has not fetched yet (behind a batch
        that hangs) since a look first saw that record wait — its lag above 0 and its first offset unchanged. From the
        client's state (`behind`), at each look: nothing per record."""
        unprocessed = {tp: offset for tp, (offset, _) in self.waiting.items()}
        seen: dict[tuple[str, int], tuple[int, float]] = {}
        for tp, (first, n) in (behind(self.client, unprocessed) if self.client else {}).items():
            if n > 0:
                before = self._seen_waiting.get(tp)
                seen[tp] = before if before is not None and before[0] == first else (first, now)
        self._seen_waiting = seen
        heads = dict(seen)
        for tp, (offset, since) in self.waiting.items():
            other = heads.get(tp)
            if other is None or other[0] != offset or since < other[1]:
                heads[tp] = (offset, since)
        return heads

    def refresh_lag(self) -> None:
        """`lgnet_consumer_lag` of the partitions assigned now; a partition a rebalance took away loses its series
        (its new owner reports it)."""
        unprocessed = {tp: offset for tp, (offset, _) in self.waiting.items()}
        lag = {tp: n for tp, (_, n) in behind(self.client, unprocessed).items()} if self.client else {}
        for topic, partition in self._lagging - lag.keys():
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(self.name, topic, str(partition))
        for (topic, partition), n in lag.items():
            metrics.CONSUMER_LAG.labels(self.name, topic, str(partition)).set(n)
        self._lagging = set(lag)

    async def _process_partition(self, records: list[Record]) -> None:
        """Optimistic first: the whole batch in one transaction, the inbox written with one statement and no
        savepoints. Should any record need care (refused, or its handler fails), that transaction is rolled
        back and the batch is processed record by record, each in its own savepoint with retries."""
        if self.prepare is not None:
            await self.prepare(records)
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    counted = await self._fast(conn, records)  # positions saved with the inbox
            except _NeedsCare:
                metrics.CAREFUL_BATCHES.labels(self.name).inc()
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:  # e.g. the staged outbox refused what a handler emitted: find the record
                log.warning("batch needs care", error=type(exc).__name__)
                metrics.CAREFUL_BATCHES.labels(self.name).inc()
            else:
                counted.publish(self.name)
                return
            counts = _Counts()
            async with conn.transaction():
                for record in records:
                    await self._careful(conn, record, counts)
                await self._save_positions(conn, records)
            counts.publish(self.name)
            if self._unsettled:  # committed: their inbox rows remember them now
                self._unsettled.difference_update(position_id(r) for r in records)

    async def _careful(self, conn: Conn, record: Record, counts: _Counts) -> None:
        """One record in its own savepoint. Whatever goes wrong that is not the infrastructure's is the record's
        fault: its partial effects are undone and it is dead-lettered once, so the partition always moves on."""
        mine = _Counts()
        try:
            async with conn.transaction():
                await self._one(conn, record, mine)
            counts.add(mine)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            log.error("record cannot be processed", error=type(exc).__name__, **_where(record))
            await self._dead(conn, record, position_id(record), Failure.of("internal", exc))

    async def _fast(self, conn: Conn, records: list[Record]) -> _Counts:
        outcomes: list[tuple[str, str]] = []
        todo: list[tuple[str, Envelope, Event, Handler, bool]] = []
        for record in records:
            a = await self._admit(conn, record)
            if a.refused is not None:
                raise _NeedsCare
            if a.skipped is not None:
                outcomes.append((_type_label(a.env), a.skipped))
                continue
            assert a.env is not None and a.event is not None and a.handler is not None
            todo.append(
                (self._inbox_key(a.env), a.env, a.event, a.handler, self.guard_ids and self._judged(record, a.env))
            )
        positions = _last_offsets(records)
        firsts: dict[str, Envelope] = {}  # once each: an upsert touches a row once
        for event_id, env, *_ in todo:
            firsts.setdefault(event_id, env)
        digests = (
            {event_id: inbox_digest.content_digest(env) for event_id, env in firsts.items()} if self.digests else {}
        )
        fresh = set(  # one round trip: the inbox and the positions (the transaction rolls both back if need be)
            await conn.fetchval(
                f"with {_POSITIONS_CTE}, new as (insert into inbox (consumer, event_id, outcome, digest)"
                f" select $1, e, 'processed', d from unnest($5::text[], $6::bytea[]) as x(e, d)"
                f" {inbox_digest.CLAIM} returning event_id) select coalesce(array_agg(event_id), '{{}}') from new"
                if self.digests
                else f"with {_POSITIONS_CTE}, new as (insert into inbox (consumer, event_id, outcome)"
                f" select $1, unnest($5::text[]), 'processed' {_CLAIM} returning event_id)"
                " select coalesce(array_agg(event_id), '{}') from new",
                self.inbox,
                *positions,
                list(firsts),
                *([list(digests.values())] if self.digests else []),
            )
        )
        if self.digests:
            await self._same_content(conn, todo, fresh, digests)
        ready: list[tuple[Envelope, Event, Handler]] = []
        judging: list[bool] = []  # ready's: whether the owners' rule applies to each (owned_ids.judged)
        unjudged: list[str] = []
        for event_id, env, event, handler, is_judged in todo:
            if event_id not in fresh:  # seen before, or twice in this batch
                outcomes.append((env.type, "duplicate"))
                continue
            fresh.discard(event_id)
            ready.append((env, event, handler))
            judging.append(is_judged)
            if self.guard_ids and not is_judged:
                unjudged.append(env.type)
        if self.guard_ids and ready:
            await self._claim_ids(conn, ready, judging)
        writes = DeferredWrites(conn)  # pipelined handlers' writes, sent before anything else uses the connection
        async with outbox.staged(conn):  # the events handlers emit: one insert for the whole batch
            for handler, run in _runs(ready):
                try:
                    if isinstance(handler, PipelinedHandler):
                        env, event = run[0]
                        with self._in_context(env):
                            await handler.handle(writes, env, event)
                    elif isinstance(handler, BatchHandler):
                        await writes.flush()
                        traceparents = [env.traceparent for env, _ in run]
                        with tracing.consuming_batch(f"{self.name} process batch", traceparents):
                            await handler.apply(conn, run)
                    else:
                        await writes.flush()
                        env, event = run[0]
                        with self._in_context(env):
                            await handler(conn, env, event)
                except INFRASTRUCTURE_ERRORS:
                    raise
                except Exception:
                    raise _NeedsCare from None
                outcomes.extend((env.type, "processed") for env, _ in run)
            try:
                await writes.flush()
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception:
                raise _NeedsCare from None
        return _Counts(outcomes, unjudged=unjudged)

    async def _same_content(
        self,
        conn: Conn,
        todo: list[tuple[str, Envelope, Event, Handler, bool]],
        fresh: set[str],
        first: dict[str, bytes],
    ) -> None:
        """Duplicates of the batch whose content differs from what their id was first used for — before, or earlier in
        this batch — send it down the careful path, where each is refused (`inbox_digest`). One query, and only for a
        batch holding duplicates."""
        seen: set[str] = set()
        again = []
        for event_id, env, *_ in todo:
            if event_id in seen or event_id not in fresh:
                again.append((event_id, env))
            seen.add(event_id)
        if not again:
            return
        kept = await inbox_digest.stored(conn, self.inbox, [i for i, _ in again if i not in fresh])
        kept.update((i, first[i]) for i in fresh)
        if any(inbox_digest.differs(kept.get(i), inbox_digest.content_digest(env)) for i, env in again):
            raise _NeedsCare

    async def _claim_ids(self, conn: Conn, ready: list[tuple[Envelope, Event, Handler]], judging: list[bool]) -> None:
        """The batch's facts judged in order against the ids' owners (owned_ids.py), and their new ids claimed for
        the first city of the batch that names them: one statement for the batch, rolled back with it. A fact of
        another city's id sends the batch down the careful path, where it is refused alone (`_own`); so does an id
        another partition's fact claimed meanwhile (committed since the statement began)."""
        claims: dict[str, str] = {}
        for env, event, _ in ready:
            claims.setdefault(event.aggregate_id(), env.city)
        named = (i for _, event, _ in ready for i in owned_ids.named(event))
        owners, claimed = await owned_ids.look_and_claim(conn, named, claims)
        if any(k not in owners and k not in claimed for k in claims):
            raise _NeedsCare
        for (env, event, _), is_judged in zip(ready, judging, strict=True):
            if owned_ids.fold(owners, env.city, event, is_judged) is not None:
                raise _NeedsCare

    def _judged(self, record: Record, env: Envelope) -> bool:
        """Whether the owners' rule applies to the record's fact (`judged`), for a consumer with `guard_ids`. A fact it
        does not apply to is history of before the topic was switched to the broker's time — or a fact backdated on
        a topic not switched yet, which escapes the rule: the operator is told once per topic (and counted, per type,
        when applied: lgnet_facts_unjudged_total)."""
        if judged(record, env):
            return True
        if record.topic not in self._unjudged_on:
            self._unjudged_on.add(record.topic)
            log.warning(
                "fact applied without the owners' check: its record carries no broker stamp and its time is before"
                " the rule — history of before the topic was switched, or a fact backdated on a topic not switched"
                " yet; the cluster's admin runs `lgnet-kafka-admin create-topics` to switch it",
                **_where(record),
                city=env.city,
                type=env.type,
            )
        return False

    async def _own(self, conn: Conn, env: Envelope, event: Event, is_judged: bool) -> None:
        """One fact judged against the ids' owners and its id claimed (the careful path): raises OtherCitysId."""
        owners = await owned_ids.owners_of(conn, owned_ids.named(event))
        refused = owned_ids.judge(owners, env.city, event, is_judged)
        if refused is not None:
            raise refused
        key = event.aggregate_id()
        if key not in owners and not await owned_ids.claim(conn, {key: env.city}):
            # Another partition's fact claimed it meanwhile (committed since the look-up): judged by its owner.
            refused = owned_ids.judge(await owned_ids.owners_of(conn, [key]), env.city, event, is_judged)
            if refused is not None:
                raise refused

    async def _save_positions(self, conn: Conn, records: Sequence[Record]) -> None:
        await conn.execute(f"with {_POSITIONS_CTE} select", self.inbox, *_last_offsets(records))

    async def _admit(self, conn: Conn, record: Record) -> _Admission:
        """Decode and check a record: refused, skipped (another city's, no handler), or ready for its handler. Any
        failure but the infrastructure's is a refusal, never an exception that would redeliver the batch forever."""
        a = _Admission(authentic=self.authenticate is None, verified=self.verify is None)
        if isinstance(record, UnreadableRecord):  # nobody can be answered for it: dead-lettered by its position
            a.authentic, a.refused = False, Unreadable("", record.reason)
            return a
        try:
            ours = record.topic in self.city_topics
            claimed = None if ours else self._claimed(record)
            if claimed is not None and claimed.city != self.city:
                a.env, a.skipped = claimed, "other_city"  # not ours to judge: skipped before it is authenticated
                return a
            if self.authenticate is not None:
                a.sender = await self.authenticate(conn, record)
                a.authentic = True
            typed = self._typed(record)
            a.env = env = typed[0] if typed else claimed or self._read(record)
            if ((self.city is not None and env.city != self.city) or env.city in self.leaves_out) and not ours:
                a.skipped = "other_city"
                return a
            if self.verify is not None:
                await self.verify(conn, record, env, a.sender)
                a.verified = True
            handler = self.handlers.get(env.type)
            if handler is None:
                if self.strict:
                    raise UnknownEventType("type", f"{env.type!r} is not accepted here")
                a.skipped = "ignored"
                return a
            a.event, a.handler = typed[1] if typed else codec.decode(env, strict=self.strict), handler
        except ContractError as err:
            a.refused = err
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # RecursionError, ValueError, ... from a decoder or a hook: the record's fault
            a.refused = NotACloudEvent("", f"cannot be read: {type(exc).__name__}")
        return a

    def _claimed(self, record: Record) -> Envelope | None:
        """The envelope of a record, read before it is authenticated, by a city's consumer that authenticates its
        senders and reads envelopes in two steps anyway (strict, or answering refusals: the gatekeeper), so that
        another city's record on a topic every city's parties wrote (the old shared partners' topic) is skipped
        unjudged: a city's gatekeeper knows its own city's partners' keys only, and
        another city's partner's record would fail as signed by an unknown key and be dead-lettered — kept forever,
        alerting, its data copied into the dead letters. None otherwise, and for a record that is not even a
        CloudEvent (authenticated, then refused, as before). A fact consumer keeps its one-pass read and checks
        every city's facts (every deployment's key is registered), then skips other cities'."""
        if self.city is None or self.authenticate is None or not (self.strict or self.on_invalid is not None):
            return None
        try:
            return self._read(record)
        except Exception:  # anything wrong with it is judged after authentication, as before
            return None

    def _read(self, record: Record) -> Envelope:
        """The record's envelope, the two-step way; a strict consumer's (the gatekeeper's) as a partner's record."""
        return from_record(record.value, record.headers or (), record.key, partner=self.strict)

    def _typed(self, record: Record) -> tuple[Envelope, Event] | None:
        """A usual record (structured mode, a handled type at its latest version, valid) read in one pass; None for
        any other, which the two-step way reads and judges. Not for a strict consumer (partners' JSON types are
        judged strictly) nor one that answers refusals (its hook may read the envelope's data as a dict)."""
        if self.strict or self.on_invalid is not None or record.value is None or is_binary_mode(record.headers or ()):
            return None
        if self._one_pass is False:
            self._one_pass = codec.typed_envelopes(frozenset(self.handlers))
        return codec.read_typed(self._one_pass, record.value) if self._one_pass is not None else None

    @contextlib.contextmanager
    def _in_context(self, env: Envelope) -> Iterator[None]:
        """Logs carry the event's ids; the span continues the producer's trace."""
        with (
            logs.event_context(env),
            tracing.consuming(
                f"{self.name} process {env.type}",
                env.traceparent,
                {"messaging.message.id": env.id, "lgnet.city": env.city},
            ),
        ):
            yield

    async def _one(self, conn: Conn, record: Record, counts: _Counts) -> None:
        a = await self._admit(conn, record)
        if a.refused is not None:
            await self._refuse(conn, record, a, a.refused, counts)
            return
        assert a.env is not None
        if a.skipped is not None:
            counts.outcomes.append((_type_label(a.env), a.skipped))
            return
        assert a.event is not None and a.handler is not None
        with self._in_context(a.env):
            await self._handle_with_retries(conn, record, a, (a.env, a.event, a.handler), counts)

    async def _handle_with_retries(
        self, conn: Conn, record: Record, a: _Admission, ready: tuple[Envelope, Event, Handler], counts: _Counts
    ) -> None:
        env, event, handler = ready
        is_judged = self.guard_ids and self._judged(record, env)
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with conn.transaction():  # savepoint: a failure undoes this record only
                    if not await self._remember(conn, self._inbox_key(env), "processed", env):
                        await self._reused(conn, env)  # raises IdReused: refused below
                        counts.outcomes.append((env.type, "duplicate"))
                        return
                    if self.guard_ids:
                        # another city's id: refused below, nothing applied
                        await self._own(conn, env, event, is_judged)
                    if isinstance(handler, BatchHandler):
                        await handler.apply(conn, [(env, event)])
                    else:
                        await handler(conn, env, event)
                counts.outcomes.append((env.type, "processed"))
                if self.guard_ids and not is_judged:
                    counts.unjudged.append(env.type)
                return
            except INFRASTRUCTURE_ERRORS:
                raise
            except ContractError as err:  # the handler found the event unacceptable: retrying won't help
                await self._refuse(conn, record, a, err, counts)
                return
            except Exception as exc:
                if attempt == self.retry.attempts:
                    log.warning("dead-lettering after retries", attempts=attempt, error=type(exc).__name__)
                    await self._dead(
                        conn,
                        record,
                        dead_id(self._inbox_key(env), record),
                        Failure.of("processing", exc, attempts=attempt),
                    )
                    return
                metrics.RETRIES.labels(self.name).inc()
                await asyncio.sleep(self.retry.delay(attempt))

    async def _refuse(self, conn: Conn, record: Record, a: _Admission, err: ContractError, counts: _Counts) -> None:
        """Answer (on_invalid) or dead-letter a refused record — once, however often it is redelivered. Only an
        authentic record with verified claims is remembered by its (source, id), with what it held (`refused_id`):
        the same bytes again are its retry, a corrected record under that id is processed; only an authentic record
        is answered."""
        env = a.env
        reused = isinstance(err, inbox_digest.IdReused)  # its id was processed: for another record, not this one
        if a.authentic and not reused and await self._processed_before(conn, record, env):
            counts.outcomes.append((_type_label(env), "duplicate"))
            return  # accepted before a rule that refuses it now: as any record read again, a duplicate
        known = env is not None and a.authentic and a.verified
        event_id = refused_id(self._inbox_key(env), record) if env is not None and known else position_id(record)
        if not await self._remember(conn, event_id, "rejected" if a.authentic else "dead_lettered"):
            counts.outcomes.append((_type_label(env), "duplicate"))
            return  # refused before: answered or dead-lettered then
        counts.outcomes.append((_type_label(env), err.kind))
        if isinstance(err, FactSignatureError):
            counts.refused.append(err.code)
        answered = (
            a.authentic and self.on_invalid is not None and await self.on_invalid(conn, record, env, err, a.sender)
        )
        if not answered:
            await self._dead_letter(record, Failure(err.kind, type(err).__name__, str(err), err.field))
        # One line an operator finds by the flow's correlation_id: the kind and field, never the reason (it may quote
        # what was sent), nor an id holding a person's data (`loggable`).
        with logs.event_context(loggable(env)) if env is not None else contextlib.nullcontext():
            outcome = "answered" if answered else "dead_lettered"
            log.info("event refused", kind=err.kind, field=err.field, outcome=outcome, **_where(record))

    async def _processed_before(self, conn: Conn, record: Record, env: Envelope | None) -> bool:
        """Whether this consumer processed the record's event before. Offsets reach Kafka after the effects, so a
        restart — an upgrade's — reads again records it had processed; one that a rule added since refuses (a partner's
        partition key, an id or a traceparent holding what it may not) was answered as refused, and its partner told
        that an accepted record was not. An envelope that the record's own rules refuse is read without them for its
        event id (its place in the inbox); a record that is no envelope at all was never processed. Asked of refused
        records only: one query each."""
        if env is None:
            try:
                env = from_record(record.value, record.headers or (), record.key)
            except Exception:  # not even a CloudEvent: nothing was processed under any id of it
                return False
        key = self._inbox_key(env)
        if self.digests:  # the same record, not another under its id (answered: `inbox_digest`)
            kept = await inbox_digest.stored(conn, self.inbox, [key])
            return key in kept and not inbox_digest.differs(kept[key], inbox_digest.content_digest(env))
        return bool(
            await conn.fetchval(
                "select exists (select 1 from inbox where consumer = $1 and event_id = $2 and outcome = 'processed')",
                self.inbox,
                key,
            )
        )

    async def _remember(self, conn: Conn, event_id: str, outcome: str, env: Envelope | None = None) -> bool:
        """Claim `event_id` in the inbox; False when it was claimed before (an event processed claims its id, with its
        content's digest for a consumer that keeps them)."""
        if self.digests and env is not None:
            return bool(
                await conn.fetchval(
                    "insert into inbox (consumer, event_id, outcome, digest) values ($1, $2, $3, $4)"
                    f" {inbox_digest.CLAIM} returning true",
                    self.inbox,
                    event_id,
                    outcome,
                    inbox_digest.content_digest(env),
                )
            )
        return bool(
            await conn.fetchval(
                "insert into inbox (consumer, event_id, outcome) values ($1, $2, $3)"
                f" {_CLAIM if outcome == 'processed' else 'on conflict do nothing'} returning true",
                self.inbox,
                event_id,
                outcome,
            )
        )

    async def _reused(self, conn: Conn, env: Envelope) -> None:
        """Raises IdReused when the event's id was processed for a record of other content (`digests` only)."""
        if self.digests:
            key = self._inbox_key(env)
            kept = (await inbox_digest.stored(conn, self.inbox, [key])).get(key)
            if inbox_digest.differs(kept, inbox_digest.content_digest(env)):
                raise inbox_digest.IdReused()

    async def _dead(self, conn: Conn, record: Record, event_id: str, failure: Failure) -> None:
        """Dead-letter once: the inbox remembers it, so a redelivered batch does not dead-letter it again."""
        if await self._remember(conn, event_id, "dead_lettered"):
            await self._dead_letter(record, failure)

    async def _dead_letter(self, record: Record, failure: Failure) -> None:
        """Sent while the batch's transaction is open (a letter is never lost: the inbox row that remembers it commits
        only after it was sent). Should that transaction fail (PostgreSQL lost at the next record), the redelivered
        batch finds no row and would send the letter again, at every redelivery while the database is away: a record
        whose letter went out is remembered here until its transaction commits."""
        where = position_id(record)
        if where in self._unsettled:
            return
        await self.dead_letters.send(record, failure)
        self._unsettled.add(where)


@dataclass
class _Admission:
    authentic: bool = True  # no authenticate hook, or it accepted the record
    verified: bool = True  # no verify hook, or it accepted the record's claims
    sender: str | None = None  # who authenticate says sent it
    env: Envelope | None = None
    skipped: str | None = None  # other_city, ignored
    event: Event | None = None
    handler: Handler | None = None
    refused: ContractError | None = None


@dataclass
class _Counts:
    """A partition's outcomes, counted once the transaction that keeps them commits: a batch redelivered after a
    failure counted its records again at each redelivery. Per (type, outcome), not per event: a labelled child is
    looked up once per batch."""

    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (type label, outcome)
    refused: list[str] = field(default_factory=list)  # FactSignatureError codes
    unjudged: list[str] = field(default_factory=list)  # type labels of facts applied without the owners' check

    def add(self, other: _Counts) -> None:
        self.outcomes += other.outcomes
        self.refused += other.refused
        self.unjudged += other.unjudged

    def publish(self, consumer: str) -> None:
        for (event_type, outcome), n in Counter(self.outcomes).items():
            metrics.EVENTS_CONSUMED.labels(consumer, event_type, outcome).inc(n)
        for code, n in Counter(self.refused).items():
            metrics.FACTS_REFUSED.labels(consumer, code).inc(n)
        for event_type, n in Counter(self.unjudged).items():
            metrics.FACTS_UNJUDGED.labels(consumer, event_type).inc(n)


class _NeedsCare(Exception):
    """A record of the batch needs the careful path (refusal, retries, dead letter)."""


def _runs(ready: list[tuple[Envelope, Event, Handler]]) -> Iterator[tuple[Handler, list[tuple[Envelope, Event]]]]:
    """Consecutive events of one batch handler form a run; an event handler's events go one by one."""
    run: list[tuple[Envelope, Event]] = []
    current: Handler | None = None
    for env, event, handler in ready:
        if run and (handler is not current or not isinstance(handler, BatchHandler)):
            assert current is not None
            yield current, run
            run = []
        current = handler
        run.append((env, event))
    if run:
        assert current is not None
        yield current, run


# Where each partition of a batch has got to ($1 the inbox name; $2-$4 from `_last_offsets`); a redelivered batch never
# moves a position back. A common table expression, so that it travels with the inbox's statement.
_POSITIONS_CTE = (
    "positions as (insert into consumer_positions select $1, t, p, o"
    " from unnest($2::text[], $3::int[], $4::bigint[]) as x(t, p, o)"
    " on conflict (consumer, topic, partition)"
    " do update set next_offset = greatest(consumer_positions.next_offset, excluded.next_offset))"
)


def judged(record: Record, env: Envelope) -> bool:
    """Whether the owners' rule applies to the record's fact: by the broker's stamp when the topic has one, never by
    a time its producer alone set (owned_ids.judged). The auditors' replay decides it by this too."""
    return owned_ids.judged(env.time, record.timestamp_type)


def _last_offsets(records: Sequence[Record]) -> tuple[list[str], list[int], list[int]]:
    """The next offset of every (topic, partition) in `records`, as the three arrays `_POSITIONS_CTE` takes."""
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    return [t for t, _ in last], [p for _, p in last], [o + 1 for o in last.values()]


def position_id(record: Record) -> str:
    """The inbox key of a record that cannot (or may not) claim an event id: where it is in the log."""
    return f"{record.topic}:{record.partition}:{record.offset}"


# An event's own id is claimed only by processing it: a row left under it by a refusal or a dead letter before they
# were kept under keys of their own (refused_id, dead_id) is taken over, so such an event re-driven or corrected is
# processed rather than a duplicate.
_CLAIM = (
    "on conflict (consumer, event_id) do update set outcome = excluded.outcome, processed_at = now()"
    " where inbox.outcome <> 'processed'"
)


def refused_id(event_id: str, record: Record) -> str:
    """The inbox key of a refused event: its id and a digest of the record's value. The event's own key stays free, so
    a corrected event sent again under the refused one's id is processed (it was dropped as a duplicate, unanswered),
    while the same bytes again are recognised as the refused record's retry and not answered twice."""
    return f"{event_id}#refused:{hashlib.sha256(record.value or b'').hexdigest()[:32]}"


def dead_id(event_id: str, record: Record) -> str:
    """The inbox key of an event dead-lettered after its retries: its id and where this copy of it is in the log. The
    event's own key stays free, so its copy re-driven once the cause is fixed is processed (it was a duplicate), and
    a re-driven copy that fails again is dead-lettered again; a redelivery of one copy is dead-lettered once."""
    return f"{event_id}#dead:{position_id(record)}"


def _where(record: Record) -> dict[str, object]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def inbox_id(env: Envelope) -> str:
    """CloudEvents ids are unique per source: two partners may pick the same id for different events."""
    return f"{env.source}|{env.id}"


def handlers_of(*pairs: tuple[type[Event], Handler]) -> dict[str, Handler]:
    return {model.type: handler for model, handler in pairs}
