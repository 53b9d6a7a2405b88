"""Which city an aggregate id belongs to, where the cities' facts meet (issue: a city's fact folded over another's).

A city's intake sees its own schema only, so it cannot know that an id it accepts is already another city's: a
Bologna partner could register a "new" person under Trieste's person id, and a national consumer (housing, payments,
reporting: they keep every city's rows) folded that fact over Trieste's row. So those consumers record, for each
aggregate id (a fact's Kafka key), the city whose fact first named it, in the same transaction as the fact's
effects; a later fact of another city keyed by that id, or referring to it (a household naming another city's person
as a member, a case opened for another city's household), is refused: dead-lettered with `OtherCitysId`, its
effects never applied. An id not recorded yet is not judged by a reference (its owner's fact may still be on its
way on another partition); it is claimed by the first fact keyed by it.

No legitimate flow shares an id between cities: a person who moves is registered again by the new city, under an id of
its own (the national pseudonym key links the two), and a case is transferred between partners of one city.

Facts of before the rule are applied as they were (`judged`). Which those are is never decided by a time the fact's
deployment alone sets: its envelope's `time` and its record's producer timestamp are both its to write, and a
deployment backdating its facts escaped the rule. The broker's append time (LogAppendTime topics: broker_time) it
cannot set.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime

from lgnet_shared.db import Conn
from lgnet_shared.errors import ContractError
from lgnet_shared.events import Event

MIGRATION = (
    "lgnet-owned-ids-1",
    """
    -- The city whose fact first named each aggregate id (a fact's Kafka key): kept by the consumers of every city's
    -- facts, so that another city's fact about that id is refused (owned_ids.py).
    create table if not exists owned_ids (
        id text primary key,
        city text not null,
        since timestamptz not null default now()
    )
    """,
)

# Facts made before this rule are applied as they were (and still claim their key): a report published before it
# replays to its digest, as the live consumer then folded them. Which facts those are is `judged`'s to say.
JUDGED_FROM = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
# A Kafka record's timestamp type (an int, not broker_time's config value): the broker's append time (a topic with
# message.timestamp.type=LogAppendTime), whatever the producer sent; 0 is the producer's own (CreateTime).
STAMPED_BY_BROKER = 1


def judged(at: datetime, record_type: int) -> bool:
    """Whether the rule applies to a fact made `at` (its envelope's time) whose Kafka record's timestamp is of type
    `record_type`. A fact's time, and its record's producer timestamp, are the producing deployment's to write (its
    relay signs whatever its code says): a deployment backdating its facts would escape the rule. The broker's append
    time it cannot set, so a record the broker stamped is judged whatever its times say — every record of the fact
    topics since provisioning made them LogAppendTime. A record written before that keeps the decision the consumers
    took for it then, by its envelope's time, so that the reports they published replay to their digests (judging
    it by its producer's timestamp too made such a report replay "not equal", with no dead letter to say why, and
    caught no deployment: it writes that timestamp as well). Pure: the live consumers and the auditors' replay take
    the same decision from the same record."""
    return record_type == STAMPED_BY_BROKER or at >= JUDGED_FROM


def backfill(name: str, *selects: str) -> tuple[str, str]:
    """A service's migration recording the owners of the ids its tables already keep (each `select` gives id, city),
    so that a deployment upgraded with records already folded protects them from the first fact on — not only the
    ids whose first fact comes after the upgrade. Honest records give each id the city of its first fact (rows keep
    their city); creates the table itself, whatever order the migrations run in."""
    inserts = "".join(f"insert into owned_ids (id, city) {q} on conflict do nothing;\n" for q in selects)
    return name, MIGRATION[1] + ";\n" + inserts


# Fields named like ids that name no aggregate a fact is keyed by: never judged.
NOT_AGGREGATES = frozenset({"message_id", "inbound_event_id", "certificate_id", "session_id"})
# Maps whose keys are aggregate ids, besides the `*_id` and `*_ids` fields, and what their keys are.
KEYED_BY_IDS = {"minors": "a person", "minor_in_cases": "a case", "vulnerabilities_by_person": "a person"}
# Lists of aggregate ids not named `*_ids` (a session's attendance register: persons), and what they hold.
LISTS_OF_IDS = {"present": "a person", "absent": "a person"}


class OtherCitysId(ContractError):
    """A fact of one city about an aggregate id another city's facts already own."""

    kind = "other_city_id"


def references(event: Event) -> list[tuple[str, str]]:
    """(field, id) of every aggregate id the event names besides its key: `*_id` and `*_ids` fields, and the keys
    of the maps keyed by ids."""
    out: list[tuple[str, str]] = []
    for name, shape in _plan(type(event)):
        value = getattr(event, name)
        if shape is str:
            if isinstance(value, str):
                out.append((name, value))
        elif isinstance(value, (list, dict)):  # a list's items, a dict's keys
            out += [(name, v) for v in value if isinstance(v, str)]
    return out


@functools.cache
def _plan(cls: type[Event]) -> tuple[tuple[str, type], ...]:
    """Which of an event type's fields name aggregate ids, and their shape (str, list, dict): read once per type, so
    that judging a fact costs a few attribute reads (the auditors' replay judges every national fact)."""
    plan: list[tuple[str, type]] = []
    for name in cls.model_fields:
        if name == cls.key_field or name in NOT_AGGREGATES:
            continue
        if name.endswith("_id"):
            plan.append((name, str))
        elif name.endswith("_ids") or name in LISTS_OF_IDS:
            plan.append((name, list))
        elif name in KEYED_BY_IDS:
            plan.append((name, dict))
    return tuple(plan)


@functools.cache
def _names(cls: type[Event]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """`_plan` as `name_into` reads it: the key field, the fields holding one id, those holding several."""
    plan = _plan(cls)
    return cls.key_field, tuple(n for n, s in plan if s is str), tuple(n for n, s in plan if s is not str)


# One city's facts in a fold: the ids they are keyed by (what they would claim), and the other ids they name.
Named = tuple[set[str], set[str]]


def name_into(named: Named, event: Event) -> None:
    """Add the event's key and its references (an absent one left out) to its city's `named`: the auditors'
    parallel replay collects them to tell whether the rule can refuse anything (`cities_share_ids`), at ≈ 1 µs a
    fact — judging each fact in order costs ≈ 3."""
    key, one, several = _names(type(event))
    keys, refs = named
    keys.add(getattr(event, key))
    for name in one:
        value = getattr(event, name)
        if value is not None:
            refs.add(value)
    for name in several:
        values = getattr(event, name)
        if values:  # a list's items, a map's keys
            refs.update(values)


def cities_share_ids(folds: Iterable[Mapping[str, Named]]) -> bool:
    """Whether an id that one city's facts are keyed by is named (as key or reference) by another city's facts,
    given each fold's `Named` per city. When none is, the rule refuses no fact, in whatever order the facts come: a
    refusal needs an id that another city's fact claimed, and only a fact keyed by an id claims it. Ids that no fact
    is keyed by (a voucher's provider, a payment's batch in a log that has no batch's fact) may be named by any
    city. Set operations only (a million ids: tenths of a second)."""
    keys: dict[str, list[set[str]]] = {}
    refs: dict[str, list[set[str]]] = {}
    for fold in folds:
        for city, (k, r) in fold.items():
            keys.setdefault(city, []).append(k)
            refs.setdefault(city, []).append(r)
    claimed: dict[str, set[str]] = {c: ks[0] if len(ks) == 1 else set().union(*ks) for c, ks in keys.items()}
    every: set[str] = set()
    for ids in claimed.values():
        if not every.isdisjoint(ids):  # keyed by two cities' facts
            return True
        every |= ids
    for city, sets in refs.items():
        own = claimed.get(city, set())
        for ids in sets:
            if not every.isdisjoint(ids) and (ids & every) - own:  # another city's key named
                return True
    return False


def named(event: Event) -> list[str]:
    """Every id the event names, its key first: what to look up before judging it."""
    return [event.aggregate_id(), *(v for _, v in references(event))]


def judge(owners: Mapping[str, str], city: str, event: Event, is_judged: bool) -> OtherCitysId | None:
    """Why a fact of `city` may not be applied, given the ids' recorded owners; None when it may (always when it
    is not `is_judged`: made before the rule, see `judged`). Its key is the event's own aggregate id (what the
    projections write under), not the envelope's `partitionkey` (routing only). Names the field and the owner city,
    never the id's value nor anything of the other city's record."""
    if not is_judged:
        return None
    owner = owners.get(event.aggregate_id())
    if owner is not None and owner != city:
        return OtherCitysId(event.key_field, f"{_kind(event.key_field)} belongs to another city ({owner})")
    for name, value in references(event):
        owner = owners.get(value)
        if owner is not None and owner != city:
            return OtherCitysId(name, f"names {_kind(name)} of another city ({owner})")
    return None


def fold(
    owners: MutableMapping[str, str],
    city: str,
    event: Event,
    is_judged: bool,
) -> OtherCitysId | None:
    """`judge`, and an accepted fact's key is claimed for its city if nobody had it: the rule applied in order, in
    memory (the auditors' replay, which folds every national fact; a batch's events before they are written). The
    accepted path in one loop over the ids, without naming their fields (≈ 1 µs a fact): a refusal is `judge`'s to
    say."""
    cls = type(event)
    key = str(getattr(event, cls.key_field))
    if not is_judged:  # applied as it was, and claims its key
        owners.setdefault(key, city)
        return None
    get = owners.get
    owner = get(key)
    if owner is not None and owner != city:
        return judge(owners, city, event, True)
    _, one, several = _names(cls)  # the fields `name_into` reads
    for ref in [getattr(event, n) for n in one] + [r for n in several for r in getattr(event, n) or ()]:
        held = get(ref)  # an absent reference (None) is nobody's
        if held is not None and held != city:
            return judge(owners, city, event, True)
    if owner is None:
        owners[key] = city
    return None


def _kind(field: str) -> str:
    """`household_id` → "the household", `member_ids` → "a member": what the reason calls the id."""
    if field in KEYED_BY_IDS or field in LISTS_OF_IDS:
        return {**KEYED_BY_IDS, **LISTS_OF_IDS}[field]
    base = field.removesuffix("_ids").removesuffix("_id").replace("_", " ")
    return f"a {base}" if field.endswith("_ids") else f"the {base}"


async def owners_of(conn: Conn, ids: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch("select id, city from owned_ids where id = any($1::text[])", sorted(set(ids)))
    return {r["id"]: r["city"] for r in rows}


async def claim(conn: Conn, claims: Mapping[str, str]) -> set[str]:
    """Record each id's city unless one is recorded already; returns the ids this claimed. An id that a concurrent
    transaction claimed meanwhile (another partition's fact about it) is not among them: its owner is to be read
    again. In id order, so that two transactions claiming some of the same ids wait for each other, not deadlock."""
    if not claims:
        return set()
    ids = sorted(claims)
    rows = await conn.fetch(
        "insert into owned_ids (id, city) select * from unnest($1::text[], $2::text[]) on conflict do nothing"
        " returning id",
        ids,
        [claims[i] for i in ids],
    )
    return {r["id"] for r in rows}


async def look_and_claim(conn: Conn, ids: Iterable[str], claims: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """`owners_of(ids)` as they were before this statement, and `claim(claims)`, in one round trip (a batch's): what
    it claimed is for the caller to check against what the owners allow, and to roll back if they do not."""
    keys = sorted(claims)
    rows = await conn.fetch(
        "with claimed as (insert into owned_ids (id, city) select * from unnest($2::text[], $3::text[])"
        " on conflict do nothing returning id)"
        " select id, city from owned_ids where id = any($1::text[]) union all select id, null from claimed",
        sorted(set(ids)),
        keys,
        [claims[k] for k in keys],
    )
    return {r["id"]: r["city"] for r in rows if r["city"] is not None}, {r["id"] for r in rows if r["city"] is None}
