"""The auditors' replay: rebuild every projection from offset zero into a fresh schema, as of given log positions,
and compare each report's canonical digest with the live (or published) one.

The fold uses the very projection the live consumer uses (domain.projection) and the same decisions the live
consumer takes for each record: not signed by a registered key of a service that may write its topic, naming another
key or city than its signer's, or of a type its topic does not carry → skipped (live, with
LGNET_FACT_SIGNATURES=required: dead-lettered), not a CloudEvent or invalid data → skipped (live: dead-lettered),
another city in a city deployment → skipped, a redelivered event (same source and id) → skipped (live: the inbox),
in a national replay a fact about an aggregate id another city's facts own → skipped (live: dead-lettered,
`other_city_id`; lgnet_shared.owned_ids), judged in the order the replay reads the log — or, by the parallel workers,
not judged at all when no city's fact names an id another city's facts are keyed by (then the rule refuses nothing).
The folded tables are bulk-loaded with COPY, then the reports are computed by the same code as the live ones.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import asyncpg
from lgnet_shared import codec, consumer, db, owned_ids
from lgnet_shared.consumer import Record
from lgnet_shared.envelope import Envelope, from_record, is_binary_mode
from lgnet_shared.errors import ContractError, InvalidEventData, from_pydantic
from lgnet_shared.events import Event, latest
from lgnet_shared.events.reporting import ReportPublished
from lgnet_shared.fact_signing import (
    FactAuthenticator,
    FactSignatureError,
    KeyRegistry,
    SigningKey,
    TopicCheck,
    check_claims,
)
from pydantic import TypeAdapter, ValidationError

from lgnet_reporting.adapters import log, store
from lgnet_reporting.adapters.schema import MIGRATIONS
from lgnet_reporting.domain.anchoring import announcer_problem
from lgnet_reporting.domain.projection import PROJECTORS, TABLES, Tables
from lgnet_reporting.service_layer import collector


@dataclass
class Fold:
    """The report tables folded in memory from records, as the live consumer would have written them."""

    city: str | None = None  # None: national deployment, every city
    tables: Tables = field(default_factory=Tables)
    seen: set[str] = field(default_factory=set)
    records: int = 0
    applied: int = 0
    # A national fold's facts applied without the owners' check (no broker stamp, made before the rule), as the live
    # consumers count them in lgnet_facts_unjudged_total; a city's fold judges none and counts none.
    unjudged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # Whether a signed fact's type belongs on its topic, as the live consumer decides it (its `FactAuthenticator`'s).
    on_topic: TopicCheck = field(default_factory=TopicCheck)
    # (key id, the envelope's `signingkey`, its city) that `check_claims` passed: it depends on nothing else, and a
    # log has few such triples (one per key and city)
    claims_passed: set[tuple[str, str | None, str]] = field(default_factory=set, repr=False, compare=False)
    # A national fold judging in log order: its aggregate ids and the city whose fact first named each (owned_ids).
    owners: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # A national fold of the parallel replay's worker instead: every id each city's facts name (owned_ids.name_into),
    # judged by nobody; the workers' ids then tell whether the rule could refuse anything (cities_share_ids).
    named: dict[str, owned_ids.Named] | None = field(default=None, repr=False, compare=False)

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def add(self, records: Iterable[Record], signers: dict[int, SigningKey | None] | None = None) -> None:
        """`signers`: per record (by id), the key that signed it or None when live refused its signature (None: no
        signature check, LGNET_FACT_SIGNATURES=off)."""
        # Runs once per record of the log: attributes and functions held in locals (one look-up per batch, not
        # several per record); the decisions and their order are the live consumer's, as documented above.
        city, seen, apply, inbox_id, judged, on_topic, passed, named = (
            self.city,
            self.seen,
            self.tables.apply,
            consumer.inbox_id,
            consumer.judged,
            self.on_topic,
            self.claims_passed,
            self.named,
        )
        count = applied = unjudged = 0
        for record in records:
            count += 1
            signer = signers[id(record)] if signers is not None else None
            if signers is not None and signer is None:
                self._skip("signature")
                continue
            try:
                env, read = _read(record)
                if signer is not None:
                    claims = (signer.key_id, env.signingkey, env.city)
                    if claims not in passed:
                        check_claims(signer, env)
                        passed.add(claims)
                    on_topic(record.topic, env.type)
                if city is not None and env.city != city:
                    self._skip("other_city")
                    continue
                projector = PROJECTORS.get(env.type)
                if projector is None:
                    self._skip("not_reported")
                    continue
                event = read if read is not None else _decode(env)
            except FactSignatureError:  # its envelope names another key, or a city not its signer's, or another topic
                self._skip("signature")
                continue
            except ContractError:
                self._skip("invalid")
                continue
            key = inbox_id(env)
            if key in seen:
                self._skip("redelivered")
                continue
            seen.add(key)
            if city is None:
                is_judged = judged(record, env)
                if named is not None:
                    ids = named.get(env.city)
                    if ids is None:
                        ids = named[env.city] = (set(), set())
                    owned_ids.name_into(ids, event)
                elif self._other_citys(env, event, is_judged):
                    continue
                unjudged += not is_judged
            apply(projector(env, event))  # projection.project, its projector looked up once above
            applied += 1
        self.records += count
        self.applied += applied
        self.unjudged += unjudged

    def _other_citys(self, env: Envelope, event: Event, is_judged: bool) -> bool:
        """Whether the fact names an id another city owns (skipped, as live dead-letters it); else its key is
        claimed. `is_judged` by its record, as live decides it (the broker's stamp is in the log)."""
        refused = owned_ids.fold(self.owners, env.city, event, is_judged)
        if refused is not None:
            self._skip(refused.kind)
            return True
        return False


_ONE_PASS: TypeAdapter[Any] | None = None


def _one_pass() -> TypeAdapter[Any]:
    """The reported types' one-pass reader (codec.typed_envelopes, as the live consumers read): a usual record's
    envelope and event validated together from its bytes. (The two-step way parsed `data` into Python objects only
    to validate them again: ~60 % of the fold's time, measured with py-spy.)"""
    global _ONE_PASS
    if _ONE_PASS is None:
        typed = codec.typed_envelopes(frozenset(PROJECTORS))
        assert typed is not None  # every reported type is registered
        _ONE_PASS = typed
    return _ONE_PASS


def _read(record: Record) -> tuple[Envelope, Event | None]:
    """The record's envelope and, when it is a usual one (structured mode, a reported type at its latest version,
    valid), its event too, in one pass; the same envelope and event the two-step way gives (the same models validate
    them). Anything the one pass refuses goes the two-step way (`from_record`, then `_decode`), which decides and
    names the fault as live does. Only the envelope attributes the fold reads matter (its `data` is the event)."""
    headers = record.headers or ()
    if record.value is not None and not is_binary_mode(headers):
        try:
            env = (_ONE_PASS or _one_pass()).validate_json(record.value)
        except ValidationError:
            pass
        else:
            return env, env.data
    return from_record(record.value, headers, record.key), None


_CURRENT: dict[tuple[str, str | None], type[Event] | None] = {}


def _decode(env: Envelope) -> Event:
    """codec.decode, with the model looked up once per (type, dataschema): when the record is of the latest version
    (nothing to upcast) decoding is validating its data with that model, which is what codec.decode does then."""
    key = (env.type, env.dataschema)
    if key not in _CURRENT:
        model = latest(env.type)
        _CURRENT[key] = model if model is not None and env.dataschema == model.dataschema() else None
    model = _CURRENT[key]
    if model is None:
        return codec.decode(env)  # older version (upcast), no dataschema, unknown type: the general path
    try:
        return model.model_validate(env.data)
    except ValidationError as exc:
        raise from_pydantic(exc, "data", InvalidEventData) from None


class _Registered(KeyRegistry):
    """The registry's keys as read once before the replay: a key not among them is not registered."""

    def __init__(self, keys: Iterable[SigningKey], prefix: str) -> None:
        super().__init__("", prefix)
        self.add(keys)

    async def lookup(self, key_id: str) -> SigningKey | None:
        return self.keys.get(key_id)


class Signatures:
    """The live consumer's signature decisions (shared.fact_signing's, with the registered keys)."""

    def __init__(self, keys: Iterable[SigningKey], prefix: str) -> None:
        self.gate = FactAuthenticator(_Registered(keys, prefix))

    async def signers(self, batch: list[Record]) -> dict[int, SigningKey | None]:
        """Per record (by id), the key that signed it, or None when the live consumer refuses its signature: the
        gate's verdicts for the whole fetch at once (each signed batch proven once, one verdict per batch and topic),
        not `prepare` and then an `authenticate` per record."""
        out = {i: v if isinstance(v, SigningKey) else None for i, v in (await self.gate.verdicts(batch)).items()}
        if len(out) < len(batch):  # a record the batch check could not take: the consumer's general path
            for r in batch:
                if id(r) not in out:
                    try:
                        out[id(r)] = self.gate.registry.keys[await self.gate.authenticate(None, r)]
                    except FactSignatureError:
                        out[id(r)] = None
        return out


async def fold(
    records: AsyncIterator[list[Record]], city: str | None, signatures: Signatures | None = None, *, named: bool = False
) -> Fold:
    """`named`: a national fold that names ids per city instead of judging them (the parallel replay's workers)."""
    f = Fold(city) if signatures is None else Fold(city, on_topic=signatures.gate.on_topic)
    if named and city is None:
        f.named = {}
    async for batch in records:
        f.add(batch, await signatures.signers(batch) if signatures is not None else None)
    return f


# What the worker processes get to check signatures: the registered keys and the topic prefix (None: no check).
Keys = tuple[list[SigningKey], str] | None


async def announcements(
    records: AsyncIterator[list[Record]], keys: Keys
) -> tuple[list[ReportPublished], list[tuple[ReportPublished, str]]]:
    """The reports announced on `reporting.events` (`report_published` records), and the announcements that are
    not reports the platform published, each with why: not signed by a registered reporting key, naming another key
    or city than its signer's (as the consumers decide), or of a scope its signer's deployment does not publish (a
    city's deployment announcing another city's summary, or a national report). Without keys (signatures off, as the
    live deployment ran) every announcement is taken. A record that is no readable event is none."""
    signatures = _signatures(keys)
    taken: list[ReportPublished] = []
    refused: list[tuple[ReportPublished, str]] = []
    async for batch in records:
        signers = await signatures.signers(batch) if signatures is not None else None
        for record in batch:
            try:
                env = from_record(record.value, record.headers or (), record.key)
                event = codec.decode(env)
            except ContractError:
                continue
            if not isinstance(event, ReportPublished):
                continue
            why = None if signers is None else _not_announced_by(signers[id(record)], env, event)
            if why is None:
                taken.append(event)
            else:
                refused.append((event, why))
    return taken, refused


def _not_announced_by(signer: SigningKey | None, env: Envelope, event: ReportPublished) -> str | None:
    if signer is None:
        return "not signed by a registered reporting key (live: dead-lettered)"
    try:
        check_claims(signer, env, "reporting.events")
    except FactSignatureError as err:
        return err.reason
    return announcer_problem(signer.deployment_city, signer.deployment, event.report, event.scope)


def _signatures(keys: Keys) -> Signatures | None:
    return Signatures(*keys) if keys is not None else None


async def prepare(pool: db.Pool) -> None:
    """The report tables in the fresh schema, unlogged: a throw-away rebuild needs no write-ahead log, and COPY
    into it is faster."""
    await db.migrate(pool, [consumer.MIGRATION, *MIGRATIONS])
    async with pool.acquire() as conn:
        if await conn.fetchval("select count(*) from cases") or await conn.fetchval("select count(*) from persons"):
            raise RuntimeError("the replay schema is not empty: give a fresh schema")
        for table in TABLES:
            await conn.execute(f"alter table {table} set unlogged")


async def load(pool: db.Pool, f: Fold, positions: store.Positions) -> dict[str, int]:
    """Create the report tables in the pool's (fresh, empty) schema and load the fold into them."""
    await prepare(pool)
    async with pool.acquire() as conn, conn.transaction():
        loaded = await store.bulk_load(conn, f.tables)
        await store.save_positions(conn, positions)
    return loaded


@dataclass
class Timing:
    read_fold_s: float
    load_s: float
    folded: Fold
    # A national replay's owners of ids (owned_ids): "in_parallel" when no city's fact names another city's ids (the
    # rule refuses nothing, so no worker judged), "in_log_order" otherwise (one process judged every fact in the
    # order it read them); None for a city's replay, which judges none.
    owners_judged: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.folded.records,
            "applied": self.folded.applied,
            "skipped": dict(sorted(self.folded.skipped.items())),
            "owners_judged": self.owners_judged,
            "applied_unjudged": self.folded.unjudged if self.owners_judged is not None else None,
            "read_and_fold_seconds": round(self.read_fold_s, 3),
            "load_seconds": round(self.load_s, 3),
        }


async def rebuild(
    bootstrap: str,
    pool: db.Pool,
    positions: store.Positions,
    city: str | None,
    *,
    workers: int = 1,
    database_url: str | None = None,
    schema: str | None = None,
    keys: Keys = None,
) -> Timing:
    """Read the log from zero up to `positions`, fold, load into the pool's schema (which must be `schema` of
    `database_url` when `workers` > 1: each worker process then reads, folds and COPYs its share of partitions).
    `keys`: the registered signing keys and the topic prefix, to take the live consumers' signature decisions."""
    if workers > 1 and database_url and schema:
        try:
            return await _rebuild_parallel(bootstrap, pool, positions, city, workers, database_url, schema, keys)
        except (asyncpg.UniqueViolationError, _CitiesShareIds):
            # Two partitions wrote the same row (never with the current events), or two cities' facts name one id
            # (`owned_ids.cities_share_ids`: the rule may refuse some): fold everything in order, judging each fact.
            async with pool.acquire() as conn:
                await conn.execute(f"truncate {', '.join(TABLES)}")
    with collector.paused():  # the fold keeps every row: each full collection walked them all
        started = time.perf_counter()
        f = await fold(log.read(bootstrap, positions, by_time=city is None, whole=True), city, _signatures(keys))
        folded = time.perf_counter()
        await load(pool, f, positions)
    return Timing(folded - started, time.perf_counter() - folded, f, None if city is not None else "in_log_order")


def split(positions: store.Positions, parts: int) -> list[store.Positions]:
    """Partitions dealt round-robin into `parts` groups (each row is written from one partition only)."""
    flat = sorted((t, p, o) for t, ps in positions.items() for p, o in ps.items() if o > 0)
    groups: list[store.Positions] = [{} for _ in range(parts)]
    for n, (t, p, o) in enumerate(flat):
        groups[n % parts].setdefault(t, {})[p] = o
    return [g for g in groups if g]


async def _rebuild_parallel(
    bootstrap: str,
    pool: db.Pool,
    positions: store.Positions,
    city: str | None,
    workers: int,
    url: str,
    schema: str,
    keys: Keys = None,
) -> Timing:
    groups = split(positions, workers)
    loop = asyncio.get_running_loop()
    # forkserver: clean children (no inherited event loop or sockets), forked from a server that has the modules
    # imported already, so starting them costs little.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    # The schema's tables are created (migrations, ~0.5 s) while the workers start and read: they wait for `ready`
    # only before their COPY. `abandoned`: the schema could not be prepared; the workers stop at their next batch.
    ready, abandoned = ctx.Event(), ctx.Event()
    with ProcessPoolExecutor(len(groups) or 1, mp_context=ctx, initializer=_hold, initargs=(ready, abandoned)) as ex:
        running = [loop.run_in_executor(ex, _worker, bootstrap, url, schema, g, city, keys) for g in groups]
        try:
            await prepare(pool)
        except BaseException:
            abandoned.set()
            ready.set()
            await asyncio.gather(*running, return_exceptions=True)  # each stops at its next batch (Abandoned)
            raise
        ready.set()
        try:
            results = await asyncio.gather(*running)
        except BaseException:
            # A worker failed (a topic not readable, the database gone), or the replay was interrupted: the others
            # stop at their next batch rather than fold the rest of the log before the pool may shut down.
            abandoned.set()
            await asyncio.gather(*running, return_exceptions=True)
            raise
    if city is None and owned_ids.cities_share_ids(r.named for r in results):
        raise _CitiesShareIds
    total = Fold(city)
    for r in results:
        total.records += r.records
        total.applied += r.applied
        total.unjudged += r.unjudged
        for why, n in r.skipped.items():
            total.skipped[why] = total.skipped.get(why, 0) + n
    async with pool.acquire() as conn:
        await store.save_positions(conn, positions)
    return Timing(
        max((r.fold_s for r in results), default=0.0),
        max((r.copy_s for r in results), default=0.0),
        total,
        None if city is not None else "in_parallel",
    )


_READY: Any = None  # in a worker process: set once the schema's tables exist
_ABANDONED: Any = None  # in a worker process: set when the schema could not be prepared


def _hold(ready: Any, abandoned: Any) -> None:
    """A worker process's initializer: keeps the coordinator's two events."""
    global _READY, _ABANDONED
    _READY, _ABANDONED = ready, abandoned
    logging.getLogger().addHandler(logging.NullHandler())  # the command's lines only, as in its own process


class _CitiesShareIds(Exception):
    """Two cities' facts name one aggregate id (`owned_ids.cities_share_ids`): the workers, which judged none, may
    have applied a fact the rule refuses."""


class WorkerFold(NamedTuple):
    """What a worker process sends back: its counts, its times, and (national) the ids each city's facts name."""

    records: int
    applied: int
    unjudged: int
    skipped: dict[str, int]
    fold_s: float
    copy_s: float
    named: dict[str, owned_ids.Named]


class Abandoned(RuntimeError):
    """The coordinator could not prepare the schema: this worker's fold is of no use."""


def _worker(
    bootstrap: str, url: str, schema: str, positions: store.Positions, city: str | None, keys: Keys = None
) -> WorkerFold:
    """In a worker process: read and fold these partitions, COPY the rows into the schema."""
    with collector.paused():  # the fold keeps every row: each full collection walked them all
        return asyncio.run(_fold_and_copy(bootstrap, url, schema, positions, city, keys))


async def _batches(records: AsyncIterator[list[Record]]) -> AsyncIterator[list[Record]]:
    async for batch in records:
        if _ABANDONED is not None and _ABANDONED.is_set():
            raise Abandoned("the replay schema could not be prepared")
        yield batch


async def _fold_and_copy(
    bootstrap: str, url: str, schema: str, positions: store.Positions, city: str | None, keys: Keys = None
) -> WorkerFold:
    started = time.perf_counter()
    # Names ids rather than judging them, so the order of the partitions does not matter (no time merge): if two
    # cities' facts share an id, the coordinator folds the whole log again, in order.
    f = await fold(_batches(log.read(bootstrap, positions, whole=True)), city, _signatures(keys), named=True)
    folded = time.perf_counter()
    if _READY is not None:
        await asyncio.to_thread(_READY.wait)  # the tables exist (or the schema was abandoned)
        if _ABANDONED.is_set():
            raise Abandoned("the replay schema could not be prepared")
    copying = time.perf_counter()
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            await store.bulk_load(conn, f.tables)
    finally:
        await conn.close()
    return WorkerFold(
        f.records, f.applied, f.unjudged, f.skipped, folded - started, time.perf_counter() - copying, f.named or {}
    )
