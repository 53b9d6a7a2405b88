"""Transactional outbox: events are written in the same PostgreSQL transaction as the state change that causes
them, then relayed to Kafka in order by one active relay per service (others wait on an advisory lock).

Delivery is at-least-once (a crash after producing and before deleting re-sends the tail); consumers' inboxes
make that effectively-once. Order per aggregate holds because one producer sends rows in `seq` order and the
idempotent producer keeps per-partition order across retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from pydantic_core import to_json

from lgnet_shared import db, metrics, outbox_waiting, runtime_schema
from lgnet_shared.db import Conn, Pool
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import ContractError
from lgnet_shared.events import latest
from lgnet_shared.fact_signing import FactSigner
from lgnet_shared.kafka import KafkaSecurity, client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.tasks import being_cancelled
from lgnet_shared.topics import TOPICS, TopicsNotCreated, ensure_topics, for_partner, physical

log = logging.getLogger(__name__)
# The schema's own notification channel, named as the outbox trigger names it (runtime_schema, lgnet-outbox-3).
CHANNEL_SQL = "select 'lgnet_outbox_' || hashtext(current_schema())"

MIGRATIONS = runtime_schema.OUTBOX


_TOPIC_OF_TYPE: dict[str, str] = {}  # event type -> its topic, for the types whose topic is not per partner


def topic_of(env: Envelope) -> str:
    """Logical topic of an envelope's event type (the latest registered version decides); for a per-partner
    topic, the addressee's own ('partner.rejections.coop-aurora'): the event's `partner` field (a reminder that
    staff's action causes names the partner it is for), else the envelope's partner."""
    topic = _TOPIC_OF_TYPE.get(env.type)
    if topic is not None:
        return topic
    model = latest(env.type)
    if model is None:
        raise KeyError(f"no topic for unregistered event type {env.type}")
    if not TOPICS[model.topic].per_partner:
        _TOPIC_OF_TYPE[env.type] = model.topic
        return model.topic
    partner = env.data.get("partner") or env.partner
    if not partner:
        raise KeyError(f"{env.type} goes to a per-partner topic but names no partner")
    return for_partner(model.topic, str(partner))


Row = tuple[str, str, bytes, bytes, str]  # event id, logical topic, key, value, headers as a JSON array of pairs
# While a consumer batch is being handled: (its connection, the rows its handlers staged so far).
_STAGED: ContextVar[tuple[Conn, list[Row]] | None] = ContextVar("lgnet_outbox_staged", default=None)


# The largest fact a service stages (its JSON, before compression). The broker refuses a record batch above its
# message.max.bytes (1 MiB by default): a larger fact would stay first in the outbox, refused at every relay cycle,
# and hold back every later fact of the deployment. Refused here instead, in the transaction that made it.
MAX_FACT_BYTES = 900 * 1024


async def append(conn: Conn, envelopes: Iterable[Envelope]) -> int:
    """Stage events in the caller's transaction; they reach Kafka only if that transaction commits."""
    rows: list[Row] = []
    for env in envelopes:
        value, headers = env.to_structured()
        if len(value) > MAX_FACT_BYTES:
            raise ContractError(
                "", f"the {env.type} it makes is too large ({len(value):,} bytes, at most {MAX_FACT_BYTES:,})"
            )
        rows.append((env.id, topic_of(env), env.key, value, to_json([[k, v.decode()] for k, v in headers]).decode()))
    staged = _STAGED.get()
    # A pipelined handler's connection (db.DeferredWrites) stages on the connection it defers for: emitted events
    # stay in the order of the events that caused them, whichever kind of handler emitted them.
    if staged is not None and (staged[0] is conn or staged[0] is getattr(conn, "deferring_for", None)):
        staged[1].extend(rows)
    else:
        await _insert(conn, rows)
    return len(rows)


@contextlib.asynccontextmanager
async def staged(conn: Conn) -> AsyncIterator[None]:
    """Appends on `conn` inside are written together, in order, when the block ends without error: a consumer
    batch writes its handlers' events in one statement instead of one per event. Same transaction, same order."""
    rows: list[Row] = []
    token = _STAGED.set((conn, rows))
    try:
        yield
    finally:
        _STAGED.reset(token)
    await _insert(conn, rows)


async def _insert(conn: Conn, rows: list[Row]) -> None:
    if rows:
        await conn.execute(
            "insert into outbox (event_id, topic, key, value, headers) select e, t, k, v, h::jsonb"
            " from unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]) as r(e, t, k, v, h)",
            *(list(column) for column in zip(*rows, strict=True)),
        )


RETRY_AFTER_S = 2.0  # after a failure (broker or database away), the relay tries again this much later


class Refused(Exception):
    """The broker refused every record the relay sent in a cycle: the message names the topic and the event."""


# What a topic answers for good (a record above its limit, a right missing, the topic gone): the relay holds that topic
# back and keeps its producer and its lead. It gave both up after a cycle that published nothing: a standby replica
# then took the lead, sent the held topic's records again (those on its other partitions had been acknowledged) and
# gave it back, every 2 s. Any other failure (the broker unreachable) starts a new producer after RETRY_AFTER_S.
TOPIC_REFUSALS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    TopicsNotCreated,
)


COUNT_EVERY_S = 5.0  # draining full batches, the relay counts the whole outbox at most this often


class OutboxRelay:
    """Publishes committed outbox rows to Kafka and deletes them once the broker has acknowledged them."""

    def __init__(
        self,
        pool: Pool,
        bootstrap: str,
        *,
        topic_prefix: str = "",
        security: KafkaSecurity | None = None,
        batch_size: int = 1000,
        idle_poll_s: float = 1.0,
        signer: FactSigner | None = None,
        topic_replication: int = 1,
    ) -> None:
        self.pool, self.bootstrap, self.prefix = pool, bootstrap, topic_prefix
        self.replication = topic_replication
        self._partner_topics: set[str] = set()  # per-partner topics known to exist
        self.security = security  # None: the KAFKA_* environment
        self.batch_size, self.idle_poll_s = batch_size, idle_poll_s
        self.signer = signer  # the deployment's key: every record published is signed (None: unsigned)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.leader = False
        self._pending, self._counted_at = 0, -COUNT_EVERY_S  # what waits as last seen (lgnet_outbox_pending)
        # A topic whose broker refused a record (larger than its `max.message.bytes`, access taken away, …): logical
        # topic -> seq of that row. Until it goes, only that row of the topic is sent again; other topics go on.
        self._held: dict[str, int] = {}
        self._retry_held_at = 0.0  # monotonic time the held rows are sent again
        self._held_since: dict[str, tuple[float, str]] = {}  # held topic -> (since when, what it refused)
        self.failing_since: float | None = None  # since when the relay cannot publish at all (Kafka, PostgreSQL away)
        self.failure = ""  # what it last failed on: "<topic> refuses event <id> (<error>)", or the error's type
        # The batch being sent: monotonic time its send began (None between sends), and the watch on it (`_watch`).
        self._sending_since: float | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._counting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._counting:
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._counting
            self._counting = None

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    def stuck_for(self) -> float:
        """Seconds the relay has failed to publish something that waits (0 while it publishes all; metrics)."""
        since = [s for s, _ in self._held_since.values()]
        if self.failing_since is not None:
            since.append(self.failing_since)
        return time.monotonic() - min(since) if since else 0.0

    def state(self, after_s: float) -> str:
        """/health/ready's check once the relay has failed for longer than `after_s`: "error: …" when it cannot publish
        at all, or a fact topic is held back (the other services wait for its facts); "degraded: …" (still ready)
        when only partners' answer topics are (that partner waits for its answers, everything else goes on)."""
        now = time.monotonic()
        if self.failing_since is not None and now - self.failing_since > after_s:
            return f"error: cannot publish for {now - self.failing_since:.0f}s: {self.failure}"
        held = sorted((since, t, text) for t, (since, text) in self._held_since.items() if now - since > after_s)
        if not held:
            return "ok"
        facts = [h for h in held if h[1] in TOPICS]
        since, _, text = (facts or held)[0]
        return f"{'error' if facts else 'degraded'}: cannot publish for {now - since:.0f}s: {text}"

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again shortly
                if being_cancelled():  # stopping, and the cleanup failed: stop all the same
                    log.exception("outbox relay: closing failed while stopping")
                    raise asyncio.CancelledError from None
                log.exception("outbox relay failed; retrying")
                if not isinstance(exc, Refused):  # which topic and event: said when it was refused
                    self.failure = type(exc).__name__
                    if self.failing_since is None:
                        self.failing_since = time.monotonic()
                await self._count_pending()
                await asyncio.sleep(RETRY_AFTER_S)

    async def _count_pending(self) -> None:
        """While the relay cannot publish (Kafka unreachable), what waits is still counted: operators alert on it."""
        with contextlib.suppress(Exception):  # the database away too: nothing to count with
            async with self.pool.acquire() as conn:
                await self._recount(conn)

    async def _recount(self, conn: Conn) -> None:
        self._set_pending(await conn.fetchval("select count(*) from outbox"))
        self._counted_at = time.monotonic()

    def _set_pending(self, n: int) -> None:
        self._pending = n
        metrics.OUTBOX_PENDING.set(n)

    async def _lead(self) -> None:
        async with self.pool.acquire() as lock_conn:
            db.keeps_session_state(lock_conn)  # the advisory lock and the LISTEN below
            # One relay per schema publishes; a second replica waits here as a hot standby.
            while not await lock_conn.fetchval("select pg_try_advisory_lock(hashtext(current_schema() || ':outbox'))"):
                await asyncio.sleep(self.idle_poll_s)
            self.leader = True
            producer = AIOKafkaProducer(
                **client_kwargs(self.bootstrap, self.security),
                enable_idempotence=True,
                acks="all",
                # The relay hands over whole record batches: lingering would only hold each one back.
                linger_ms=0,
                max_batch_size=BATCH_BYTES,
            )
            channel = ""
            try:  # from here on, whatever happens (a stop while the producer connects), the finally cleans up
                channel = await lock_conn.fetchval(CHANNEL_SQL)
                await lock_conn.add_listener(channel, self._notified)
                await producer.start()
                while True:
                    self._wake.clear()
                    # Fewer rows than a batch: every commit notified before this cycle began was seen (PostgreSQL
                    # notifies after the commit), and one since has set `_wake` again; no need to look once more.
                    if await self._publish_batch(producer) < self.batch_size:
                        # Not `wait_for`: on Python 3.11 it swallows a cancellation (stop) that arrives as the
                        # notification does, and the relay then runs on after `stop()` (test_relay_cycle.py).
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(self.idle_poll_s):
                                await self._wake.wait()
            finally:
                self.leader = False
                try:
                    await producer.stop()
                finally:  # a producer that fails to close (a broker gone) still lets go of the listener and lock
                    with contextlib.suppress(Exception):
                        if channel:
                            await lock_conn.remove_listener(channel, self._notified)
                        await lock_conn.execute("select pg_advisory_unlock(hashtext(current_schema() || ':outbox'))")

    async def _publish_batch(self, producer: AIOKafkaProducer) -> int:
        async with self.pool.acquire() as conn:
            retried = False
            if self._held:  # of a topic that refused a record, only that record, every RETRY_AFTER_S
                retried = time.monotonic() >= self._retry_held_at
                rows = await conn.fetch(
                    "select seq, topic, key, value, headers from outbox where topic <> all($2::text[])"
                    " or seq = any($3::bigint[]) order by seq limit $1",
                    self.batch_size,
                    list(self._held),
                    list(self._held.values()) if retried else [],
                )
            else:
                rows = await conn.fetch(
                    "select seq, topic, key, value, headers from outbox order by seq limit $1", self.batch_size
                )
            if not rows:
                if retried:  # what a topic refused is gone (an operator deleted it): its later rows go next
                    self._held.clear()
                    self._held_since.clear()
                self.failing_since = None
                self._set_pending(0 if not self._held else await conn.fetchval("select count(*) from outbox"))
                return 0
            # All that waits: this batch; or, when it is a full one, a backlog, counted every COUNT_EVERY_S (a count
            # of a large outbox at every batch would slow its draining) and otherwise what is left of the last count.
            if len(rows) < self.batch_size:
                self._set_pending(len(rows))
            elif time.monotonic() - self._counted_at >= COUNT_EVERY_S:
                await self._recount(conn)
            else:
                self._set_pending(max(self._pending, len(rows)))
            pairs = [(physical(r["topic"], self.prefix), r) for r in rows]
            self._watch_send()
            try:
                uncreated = await self._ensure_partner_topics({r["topic"] for r in rows})
                if uncreated:
                    pairs = [(topic, r) for topic, r in pairs if topic not in uncreated]
                sent, partitions = await _send_in_batches(producer, pairs, self.signer)
                sent += [(topic, -1, _failed(exc)) for topic, exc in uncreated.items()]
                outcomes = await asyncio.gather(*(future for _, _, future in sent), return_exceptions=True)
            finally:
                self._sent()
            self.failing_since = None  # the broker answered (a topic may have refused: held below)
            refused: dict[tuple[str, int], BaseException] = {
                (topic, partition): o
                for (topic, partition, _), o in zip(sent, outcomes, strict=True)
                if isinstance(o, BaseException)
            }
            if refused or self._held:
                where = {r["seq"]: partition for (_, r), (_, partition) in zip(pairs, partitions, strict=True)}
                rows = await self._hold_refused(conn, rows, where, refused, retried)
            # Exactly the rows published: a transaction that took a lower seq may have committed since the
            # select, and `seq <= last` would delete its row unpublished.
            await conn.execute("delete from outbox where seq = any($1::bigint[])", [r["seq"] for r in rows])
        self.published += len(rows)
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        self._set_pending(max(0, self._pending - len(rows)))
        return len(rows)

    def _watch_send(self) -> None:
        """A timer on the batch about to be sent, fired only if it is not acknowledged within RETRY_AFTER_S: the
        idempotent producer retries a batch until the broker takes it, and never fails it while the broker is
        unreachable — the relay waited on it with nothing said. Per batch: one timer, cancelled by `_sent`."""
        self._sending_since = time.monotonic()
        self._watch = asyncio.get_running_loop().call_later(RETRY_AFTER_S, self._send_hangs, self._sending_since)

    def _sent(self) -> None:
        self._sending_since = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _send_hangs(self, since: float) -> None:
        """The batch sent at `since` is not acknowledged after RETRY_AFTER_S (and again every RETRY_AFTER_S while it
        is not): the relay cannot publish since then, and what waits is counted, as when it cannot connect at all."""
        if self._sending_since != since:
            return
        if self.failing_since is None:
            self.failing_since = since
            self.failure = "Kafka does not acknowledge what the relay sends"
        self._watch = asyncio.get_running_loop().call_later(RETRY_AFTER_S, self._send_hangs, since)
        if self._counting is None or self._counting.done():
            self._counting = asyncio.create_task(self._count_waiting(since), name="outbox-relay-count")

    async def _count_waiting(self, since: float) -> None:
        """Off the batch's connection (it is handed back as soon as the send ends): the outbox's count, its oldest
        row's age (`lgnet_outbox_stuck_seconds`: how long it has waited), its first event (/health/ready names it)."""
        with contextlib.suppress(Exception):  # PostgreSQL away too: the relay's own retry says so
            async with self.pool.acquire() as conn:
                topics = await outbox_waiting.waiting(conn)
            if self._sending_since != since or not topics:  # acknowledged meanwhile: the relay counts itself
                return
            self._set_pending(sum(t["rows"] for t in topics))
            age = max(t["waited_s"] for t in topics)  # PostgreSQL's clock, not this host's (which may be off)
            if self.failing_since is not None:
                self.failing_since = min(self.failing_since, time.monotonic() - max(0.0, age))
            first = topics[0]
            self.failure = (
                f"Kafka does not acknowledge what the relay sends ({physical(first['topic'], self.prefix)} event"
                f" {first['first_event_id']} waits first)"
            )

    async def _hold_refused(
        self,
        conn: Conn,
        rows: list[Any],
        where: dict[int, int],
        refused: dict[tuple[str, int], BaseException],
        retried: bool,
    ) -> list[Any]:
        """The rows published, of the topics that took every record sent them. A topic that refused one (the broker
        refuses a record larger than the topic's `max.message.bytes` at every retry) is held from its first row of
        this batch on: that row alone is sent again every RETRY_AFTER_S (`retried`: in this batch), its later rows
        wait behind it in order, none sent again while it is held, and every other topic's facts go on. Of the held
        topic, the records of a partition the broker took (`where`: each row's partition by seq) are out of the
        outbox; those of a partition it refused wait. Nothing published and a failure that is not a topic's refusal
        (TOPIC_REFUSALS): `Refused`, and a new producer in a while."""
        seqs = {r["seq"] for r in rows}
        last = max(seqs)
        # A held row sent again and published, or no longer in the outbox (an operator deleted it): its topic goes on.
        held = {t: s for t, s in self._held.items() if not (retried and (s in seqs or s < last))}
        failed: list[tuple[int, str, str, BaseException]] = []
        published = []
        for r in rows:
            topic = physical(r["topic"], self.prefix)
            exc = refused.get((topic, where.get(r["seq"], -1))) or refused.get((topic, -1))
            if exc is None:
                published.append(r)
                continue
            if r["topic"] not in held:
                held[r["topic"]] = r["seq"]
                failed.append((r["seq"], r["topic"], topic, exc))
        self._held = held
        for released in [t for t in self._held_since if t not in held]:
            del self._held_since[released]
        self._set_pending(await conn.fetchval("select count(*) from outbox") - len(published))
        if not failed:
            return published
        now = time.monotonic()
        self._retry_held_at = now + RETRY_AFTER_S
        event_ids = dict(
            await conn.fetch("select seq, event_id from outbox where seq = any($1::bigint[])", [f[0] for f in failed])
        )
        for seq, logical, topic, exc in sorted(failed, key=lambda f: f[0], reverse=True):
            self.failure = f"{topic} refuses event {event_ids.get(seq, '?')} ({type(exc).__name__})"
            self._held_since[logical] = (self._held_since.get(logical, (now, ""))[0], self.failure)
        first = min(failed, key=lambda f: f[0])[3]
        if not published and not all(isinstance(e, TOPIC_REFUSALS) for e in refused.values()):
            raise Refused(f"{self.failure}: {first}") from first  # the broker away, say: a new producer, in a while
        log.warning(
            "outbox relay failed to publish on %s: %s; the topic's later events wait behind it, other topics' go on",
            ", ".join(sorted({topic for topic, _ in refused})),
            f"{self.failure}: {first}",
        )
        return published

    async def _ensure_partner_topics(self, logical: set[str]) -> dict[str, BaseException]:
        """A per-partner topic (a partner's rejections or reminders) is created by its first writer when the
        partner's provisioning has not (the writer role has CREATE on the family): a partner provisioned after the
        service started, or one whose topic the operator created before the family existed. Once per topic.
        Returns the physical topics the broker refused to create, and why (a partner not added with the deployment's
        city, or moved to another): the relay holds those back, the others go on."""
        missing = sorted(t for t in logical if t not in TOPICS and t not in self._partner_topics)
        refused: dict[str, BaseException] = {}
        if missing:
            try:
                await ensure_topics(self.bootstrap, self.prefix, missing, self.replication, self.security)
                self._partner_topics.update(missing)
            except TopicsNotCreated:
                for topic in missing:  # which of them the broker refuses
                    try:
                        await ensure_topics(self.bootstrap, self.prefix, [topic], self.replication, self.security)
                        self._partner_topics.add(topic)
                    except TopicsNotCreated as exc:
                        refused[physical(topic, self.prefix)] = exc
        return refused


# Record batches of the topics only services, the national level and auditors read (facts, never deleted) are
# compressed with lz4: a signed batch repeats its key id, signature and upper proof nodes in every record, and the
# JSON values their member names — about 8 times fewer bytes on the wire and on disk (docs/benchmarks.md "Fourth
# pass"), at lz4's fast level (below). A partner's own topics (rejections, reminders) stay
# uncompressed: its client may have no lz4 codec (kafkajs has none built in). None: no compression anywhere.
COMPRESSION: str | None = "lz4"
_CODECS = {
    "gzip": DefaultRecordBatch.CODEC_GZIP,
    "snappy": DefaultRecordBatch.CODEC_SNAPPY,
    "lz4": DefaultRecordBatch.CODEC_LZ4,
    "zstd": DefaultRecordBatch.CODEC_ZSTD,
}
BATCH_BYTES = 256 * 1024
# lz4's fast level. aiokafka compresses at level 9 (LZ4 HC, what the broker uses when it recompresses itself): 4.5 µs
# of the relay's CPU per signed fact, against 0.35 µs here for about 5 % more bytes (docs/benchmarks-history.md,
# "Fifteenth pass"). aiokafka has no setting for it: its record-batch builders call the module's `lz4_encode`,
# which is given this level below. The frames are lz4's either way: every consumer and the broker read them alike.
LZ4_LEVEL = 1


def _compress_lz4_fast() -> None:
    import aiokafka.record.default_records as python_builder
    from aiokafka import codec

    fast = functools.partial(codec.lz4_encode, level=LZ4_LEVEL)
    builders = [python_builder]
    with contextlib.suppress(ImportError):  # the compiled builder, which aiokafka uses where it was built
        import aiokafka.record._crecords.default_records as compiled_builder

        builders.append(compiled_builder)
    for module in builders:
        module.lz4_encode = fast


_compress_lz4_fast()


async def _signed(
    signer: FactSigner, values: list[bytes], all_headers: list[list[tuple[str, bytes]]], tps: list[tuple[str, int]]
) -> list[bytes]:
    """The values signed (one signature per FactSigner.sign_batch batch), each row's signature header appended to
    its headers. On the event loop: with one Ed25519 signature per 64 rows, what is left is Python (hashing small
    values, encoding proofs) that holds the GIL, so a worker thread only added a hand-off (docs/benchmarks.md)."""

    def sign_all() -> list[tuple[bytes, tuple[str, bytes]]]:
        # Batches per partition: a consumer or an auditor reads a partition's records together, so each batch's
        # signature is checked once (across partitions it would be once per partition, by different readers).
        groups: dict[tuple[str, int], list[int]] = {}
        for i, tp in enumerate(tps):
            groups.setdefault(tp, []).append(i)
        out: list[tuple[bytes, tuple[str, bytes]]] = [(b"", ("", b""))] * len(values)
        for rows in groups.values():
            for i, signed in zip(rows, signer.sign_batch([(values[i], all_headers[i]) for i in rows]), strict=True):
                out[i] = signed
        return out

    signed = sign_all()
    for headers, (_, signature) in zip(all_headers, signed, strict=True):
        headers.append(signature)
    return [value for value, _ in signed]


Sent = list[tuple[str, int, asyncio.Future[Any]]]  # each record batch's physical topic, partition (-1: the whole
# topic, refused before any was sent) and the future of its acknowledgement


async def _send_in_batches(
    producer: AIOKafkaProducer, rows: list[tuple[str, Any]], signer: FactSigner | None = None
) -> tuple[Sent, list[tuple[str, int]]]:
    """(Physical topic, outbox row) pairs sent in record batches per partition, in order; returns the batches sent
    (`Sent`) and each row's (topic, partition) (-1: its topic refused before anything was sent). Per record, `send`
    waits on metadata and partitions the key (a third of the relay's time under load); here once per topic.
    Signed here rather than when staged: the relay holds the deployment's key, and a re-sent row is signed to
    the same bytes (Ed25519 is deterministic)."""
    partitions: dict[str, list[int]] = {}
    batches: dict[tuple[str, int], Any] = {}  # aiokafka BatchBuilder
    futures: Sent = []
    all_headers = [[(k, v.encode()) for k, v in r["headers"]] for _, r in rows]
    values: list[bytes] = [r["value"] for _, r in rows]
    tps: list[tuple[str, int]] = []
    refused: dict[str, BaseException] = {}  # topics the broker does not describe to the relay (no right, none such)
    for topic, r in rows:
        ids = partitions.get(topic)
        if ids is None:
            try:
                ids = partitions[topic] = await _partitions(producer, topic)
            except KafkaError as exc:
                ids = partitions[topic] = []
                refused[topic] = exc
        # Where `send` would put the key (an outbox row always has one): Kafka's murmur2, compiled.
        tps.append((topic, ids[partition_of(r["key"], len(ids)) or 0] if ids else -1))
    row_partitions = tps
    if refused:  # their rows stay in the outbox; the others go
        kept = [i for i, (topic, _) in enumerate(rows) if topic not in refused]
        rows, tps = [rows[i] for i in kept], [tps[i] for i in kept]
        values, all_headers = [values[i] for i in kept], [all_headers[i] for i in kept]
    if signer is not None:
        values = await _signed(signer, values, all_headers, tps)
    compressed = {topic for (topic, r) in rows if r["topic"] in TOPICS and not TOPICS[r["topic"]].per_partner}
    codec = _CODECS[COMPRESSION] if COMPRESSION else None
    for (_, r), headers, value, tp in zip(rows, all_headers, values, tps, strict=True):
        record = {"key": r["key"], "value": value, "timestamp": None}
        batch = batches.get(tp)
        if batch is None or batch.append(**record, headers=headers) is None:
            if batch is not None:  # full: on its way, and a new one for this partition
                futures.append((*tp, await producer.send_batch(batch, tp[0], partition=tp[1])))
            batch = batches[tp] = producer.create_batch()
            if codec and tp[0] in compressed and type(batch) is BatchBuilder:
                # The same builder with this topic's compression (a producer's own setting holds for all topics).
                batch = batches[tp] = BatchBuilder(BATCH_BYTES, codec)
            batch.append(**record, headers=headers)  # an empty batch takes any one record
    for (topic, partition), batch in batches.items():
        futures.append((topic, partition, await producer.send_batch(batch, topic, partition=partition)))
    return futures + [(topic, -1, _failed(exc)) for topic, exc in refused.items()], row_partitions


# How long the relay waits for the metadata of a topic its producer does not know yet (a service's topics are made
# before it writes them, and a partner's by `_ensure_partner_topics`: known at once). The client itself would wait its
# request timeout (40 s) for a topic deleted or never made, at every attempt, every other topic's facts behind it.
METADATA_WAIT_S = 5.0


async def _partitions(producer: AIOKafkaProducer, topic: str) -> list[int]:
    try:
        async with asyncio.timeout(METADATA_WAIT_S):
            return sorted(await producer.partitions_for(topic))
    except TimeoutError:
        raise UnknownTopicOrPartitionError(f"{topic}: no such topic on the cluster") from None


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    """A send's outcome that is already known: the broker refused the topic."""
    future = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future
