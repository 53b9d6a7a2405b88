"""How registrations are stored, against real PostgreSQL. Stored together (the gatekeeper's path for a run of
partner registrations): the same persons, keys, duplicate flags, merges and events, in the same order, as
registering them one by one — and only the possible duplicates take the one-by-one path. One surviving person
per fiscal code, which the upgrade that enforces it checks first."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import pytest
from lgnet_intake.adapters import repository
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_intake.domain.access import Actor, Role
from lgnet_intake.entrypoints.main import SPEC
from lgnet_intake.service_layer import commands as cmd
from lgnet_intake.service_layer import read_log as read_log_service
from lgnet_intake.service_layer.handlers import Context, Intake
from lgnet_shared import db, pii
from lgnet_shared.errors import Conflict
from lgnet_shared.service import all_migrations
from lgnet_shared.testing import schema_pool

pytestmark = pytest.mark.integration

AURORA = Context(Actor("coop-aurora", Role.PARTNER, "torino"), date(2026, 11, 23))
BORGO = Context(Actor("coop-borgo", Role.PARTNER, "torino"), date(2026, 11, 23))
AMINA_FC = "DLLMNA90A41Z335Y"  # Amina Diallo, 1 January 1990
YUSUF_FC = "HDDYSF85C12Z240I"  # Yusuf Haddad, 12 March 1985


def person(pid: str, given: str, family: str | None, born: date, *, sex: str = "female", fc: str | None = None) -> Any:
    identity = cmd.PlainIdentity(given_name=given, family_name=family, fiscal_code=fc)
    return cmd.RegisterPerson(person_id=pid, birth_date=born, sex=sex, nationality="SN", identity=identity)


ON_FILE = [
    (AURORA, person("old-amina", "Amina", "Diallo", date(1990, 1, 1), fc=AMINA_FC)),
    (AURORA, person("old-ana", "Ana", "Lopez", date(1970, 6, 2))),
]
BATCH = [
    (BORGO, person("n-1", "Grace", "Okoro", date(2001, 2, 3))),
    (BORGO, person("n-2", "Amina", "Diallo", date(1990, 1, 1), fc=AMINA_FC)),  # on file: merged
    (BORGO, person("n-3", "Ana", None, date(1970, 6, 2))),  # no family name: no name match
    (BORGO, person("n-4", "Lopez", "Ana", date(1970, 6, 2))),  # on file by name and birth date: flagged
    (AURORA, person("n-5", "Yusuf", "Haddad", date(1985, 3, 12), sex="male", fc=YUSUF_FC)),
    (BORGO, person("n-6", "Yusuf", "Haddad", date(1985, 3, 12), sex="male", fc=YUSUF_FC)),  # n-5: merged
    (AURORA, person("n-7", "Li", "Wei", date(1999, 9, 9))),
    (BORGO, person("n-8", "Wei", "Li", date(1999, 9, 9))),  # n-7, same batch: flagged
    (AURORA, person("n-9", "Omar", "Said", date(1980, 1, 1))),
]


@contextlib.asynccontextmanager
async def intake_pool(database_url: str, schema: str) -> AsyncIterator[Any]:
    """A pool on `schema` with every table intake has at start (no process needed to use its adapters)."""
    pool = await db.create_pool(database_url, schema, max_size=2)
    try:
        await db.migrate(pool, all_migrations(SPEC.migrations))
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[Any]:
    async with intake_pool(database_url, pg_schema) as pool:
        yield pool


@pytest.fixture
async def other_pool(database_url: str) -> AsyncIterator[Any]:
    """A second schema, for the one-by-one reference."""
    schema = f"t_ref_{os.urandom(6).hex()}"
    async with intake_pool(database_url, schema) as pool:
        try:
            yield pool
        finally:
            async with pool.acquire() as conn:
                await schema_pool.keep_or_drop(conn, schema)


KEYS = pii.KeyStore(os.urandom(32))
SECRET = b"fiscal-code-hash-secret-32-bytes"


async def register(pool: Any, *, together: bool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        intake = Intake(conn, KEYS, SECRET)
        for ctx, c in ON_FILE:
            await intake.register_person(ctx, c)
    async with pool.acquire() as conn, conn.transaction():
        intake = Intake(conn, KEYS, SECRET)
        if together:
            await intake.register_persons(BATCH)
        else:
            for ctx, c in BATCH:
                await intake.register_person(ctx, c)


async def state(pool: Any) -> dict[str, Any]:
    """What registering left behind, without the sealed values (each seal has its own nonce)."""
    async with pool.acquire() as conn:
        persons = await conn.fetch(
            "select person_id, city, registered_by, birth_date, fiscal_code_hash, name_key_hash, merged_into,"
            " (select array_agg(k order by k) from jsonb_object_keys(identity) k) as sealed_fields"
            " from persons order by person_id"
        )
        flags = await conn.fetch(
            "select person_id, candidate_person_id, match, status from duplicate_flags order by 1, 2"
        )
        keys = await conn.fetch("select kid from person_keys where wrapped is not null order by kid")
        outbox = await conn.fetch("select topic, key, value from outbox order by seq")
    events = []
    for r in outbox:
        value = json.loads(r["value"])
        data = {k: v for k, v in value["data"].items() if k != "identity"}
        events.append((r["topic"], r["key"], value["type"], value["partner"], data))
    return {
        "persons": [dict(r) for r in persons],
        "flags": [tuple(r) for r in flags],
        "keys": [r["kid"] for r in keys],
        "events": events,
    }


async def test_together_has_the_effects_of_one_by_one(
    pool: Any, other_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_together: list[list[str]] = []
    insert_persons = repository.insert_persons

    async def spy(conn: Any, people: Any) -> set[str]:
        stored_together.append([p["person_id"] for p, _ in people])
        return await insert_persons(conn, people)

    monkeypatch.setattr(repository, "insert_persons", spy)
    await register(pool, together=True)
    together = await state(pool)
    await register(other_pool, together=False)
    assert together == await state(other_pool)

    # Only the possible duplicates went one by one; the rest in runs, in order.
    assert stored_together == [["n-1"], ["n-3"], ["n-5"], ["n-7"], ["n-9"]]
    merged = {p["person_id"]: p["merged_into"] for p in together["persons"] if p["merged_into"]}
    assert merged == {"n-2": "old-amina", "n-6": "n-5"}
    assert together["flags"] == [
        ("n-4", "old-ana", "name_birth_date", "open"),
        ("n-8", "n-7", "name_birth_date", "open"),
    ]
    assert together["keys"] == sorted(p["person_id"] for p in together["persons"])
    types = [
        (e[2].rsplit(".", 1)[-1], e[4].get("person_id") or e[4].get("merged_person_id")) for e in together["events"]
    ]
    assert types[2:] == [
        ("person_registered", "n-1"),
        ("person_registered", "n-2"),
        ("persons_merged", "n-2"),
        ("person_registered", "n-3"),
        ("person_registered", "n-4"),
        ("possible_duplicate_flagged", "n-4"),
        ("person_registered", "n-5"),
        ("person_registered", "n-6"),
        ("persons_merged", "n-6"),
        ("person_registered", "n-7"),
        ("person_registered", "n-8"),
        ("possible_duplicate_flagged", "n-8"),
        ("person_registered", "n-9"),
    ]
    assert {e[3] for e in together["events"][2:]} == {"coop-aurora", "coop-borgo"}


async def test_a_taken_person_id_fails_the_batch_naming_the_field(pool: Any) -> None:
    await register(pool, together=True)
    async with pool.acquire() as conn:
        await KEYS.erase(conn, "erased-1")  # key material without a person: the id may never be reused
    for taken in ("n-9", "erased-1"):
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                with pytest.raises(Conflict) as err:
                    await Intake(conn, KEYS, SECRET).register_persons(
                        [
                            (AURORA, person("n-10", "Ada", "Obi", date(1995, 5, 5))),
                            (AURORA, person(taken, "X", "Y", date(1995, 5, 5))),
                        ]
                    )
                assert err.value.field == "person_id" and taken in err.value.reason
            finally:
                await tx.rollback()


Step = Callable[[Any], Awaitable[None]]


async def the_second_waits_for_the_first(pool: Any, first: Step, second: Step) -> None:
    """`first` done in a transaction left open; `second`, in its own, must wait for it (checked half a second on),
    then completes once `first` commits."""

    async def later() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await second(conn)

    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await first(conn)
            waiting = asyncio.create_task(later())
            await asyncio.sleep(0.5)
            assert not waiting.done(), "the later one did not wait for the one not yet committed"
        finally:
            await tx.commit()
    await waiting


@pytest.mark.parametrize("batch_first", [True, False])
async def test_one_name_registered_together_and_alone_at_once_is_flagged(pool: Any, batch_first: bool) -> None:
    """The gatekeeper's run of registrations and a registration of one of its persons through the API, at the same
    moment: the run looked for her on file before the other was committed and stored her without a look (no lock),
    the other did the same, and neither was flagged as her possible duplicate. Whichever commits first, the later
    one waits for it and flags her."""
    run = [
        (BORGO, person("t-1", "Grace", "Okoro", date(2001, 2, 3))),
        (BORGO, person("t-2", "Omar", "Said", date(1980, 1, 1))),
    ]
    alone = (AURORA, person("a-1", "Omar", "Said", date(1980, 1, 1)))

    async def together(conn: Any) -> None:
        await Intake(conn, KEYS, SECRET).register_persons(run)

    async def by_itself(conn: Any) -> None:
        await Intake(conn, KEYS, SECRET).register_person(*alone)

    await the_second_waits_for_the_first(pool, *((together, by_itself) if batch_first else (by_itself, together)))
    async with pool.acquire() as conn:
        flags = await conn.fetch("select person_id, candidate_person_id from duplicate_flags")
    assert [tuple(f) for f in flags] == ([("a-1", "t-2")] if batch_first else [("t-2", "a-1")])


STAFF = Context(Actor("staff-torino", Role.STAFF, "torino"), date(2026, 11, 23))


@pytest.mark.parametrize("erasure_first", [True, False])
async def test_a_registration_by_the_fiscal_code_of_a_person_being_erased_is_not_kept_under_her(
    pool: Any, erasure_first: bool
) -> None:
    """Amina is erased at the moment a partner registers her again by her fiscal code. The registration merged into
    her as it found her surviving, and once both committed it rested merged into an erased person, its names and
    fiscal code readable and found. Whichever commits first: registered after her erasure, she is a new person;
    registered before it, her new record is erased with her."""
    async with pool.acquire() as conn:
        await Intake(conn, KEYS, SECRET).register_person(*ON_FILE[0])  # old-amina, by her fiscal code
    again = (BORGO, person("again-amina", "Amina", "Diallo", date(1990, 1, 1), fc=AMINA_FC))

    async def erase(conn: Any) -> None:
        await Intake(conn, KEYS, SECRET).erase_person(STAFF, "old-amina")

    async def register(conn: Any) -> None:
        await Intake(conn, KEYS, SECRET).register_person(*again)

    await the_second_waits_for_the_first(pool, *((erase, register) if erasure_first else (register, erase)))
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "select merged_into, erased_at, fiscal_code_hash from persons where person_id = 'again-amina'"
        )
    if erasure_first:
        assert row["merged_into"] is None and row["erased_at"] is None and row["fiscal_code_hash"] is not None
    else:
        assert row["merged_into"] == "old-amina" and row["erased_at"] is not None and row["fiscal_code_hash"] is None


async def test_the_upgrade_to_one_person_per_fiscal_code_names_those_to_merge_first(
    database_url: str, pg_schema: str
) -> None:
    """Before `intake-3`, two concurrent registrations could both survive; the upgrade refuses to start until
    staff have merged them, and names them (ids only)."""
    pool = await db.create_pool(database_url, pg_schema, max_size=1)
    try:
        before = [m for m in all_migrations(MIGRATIONS) if m[0] != "intake-3"]
        await db.migrate(pool, before)
        async with pool.acquire() as conn:
            for pid in ("p-1", "p-2"):
                await conn.execute(
                    "insert into persons (person_id, city, registered_by, birth_date, sex, nationality, third_country,"
                    " fiscal_code_hash) values ($1, 'torino', 'coop', '1990-01-01', 'female', 'SN', true, 'h')",
                    pid,
                )
        with pytest.raises(asyncpg.RaiseError, match=r"must be merged first .*torino: p-1, p-2"):
            await db.migrate(pool, all_migrations(MIGRATIONS))
        async with pool.acquire() as conn:
            await conn.execute("update persons set merged_into = 'p-1' where person_id = 'p-2'")
        assert await db.migrate(pool, all_migrations(MIGRATIONS)) == ["intake-3"]
    finally:
        await pool.close()


async def test_a_read_of_many_persons_finds_who_each_is_shown_as_in_one_query(pool: Any) -> None:
    """`logged_each` (the street persons' nicknames, up to 100 ids a call) looked up each id's surviving person one
    query at a time, a chain of merges one more each. One query now finds every id's: a registration merged into
    another is logged under the survivor (through a chain too) with the id named beside it; any other id (a street
    person's) under itself."""
    await register(pool, together=True)
    async with pool.acquire() as conn:  # a chain: n-6 was merged into n-5, which is merged into old-amina here
        await conn.execute("update persons set merged_into = 'old-amina' where person_id = 'n-5'")
    statements: list[str] = []
    asked = ["n-2", "n-6", "n-1", "sp-street", "old-amina"]
    staff = Actor("staff-torino", Role.STAFF, "torino")

    async def run(person_id: str) -> str:
        return person_id

    async with pool.acquire() as conn:

        def logger(record: Any) -> None:
            statements.append(record.query)

        conn.add_query_logger(logger)
        answers = await read_log_service.logged_each(conn, staff, None, "person", asked, run)
        conn.remove_query_logger(logger)
        rows = await conn.fetch("select person_id, requested_id from read_log order by entry_id")
    assert answers == asked
    assert [(r["person_id"], r["requested_id"]) for r in rows] == [
        ("old-amina", "n-2"),
        ("old-amina", "n-6"),
        ("n-1", None),
        ("sp-street", None),
        ("old-amina", None),
    ], rows
    lookups = [s for s in statements if "merged_into" in s]
    assert len(lookups) == 1, lookups
