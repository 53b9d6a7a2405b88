"""Erasure leaves nothing behind that confirms who the person was: not in intake's tables (idempotency
fingerprints), not in what partners sealed to intake's inbound key (rotated, old private keys destroyed)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from codicefiscale import codicefiscale
from lgnet_intake.adapters import credentials
from lgnet_shared import clock
from lgnet_shared.events import Sealed
from lgnet_shared.events import partner as inbound
from lgnet_shared.events.intake import PersonErased
from lgnet_shared.testing.tables import everything_in
from partner_records import refused_at

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

# One intake for the module: each test's ids carry its `uid`. Two tests rotate or destroy the service's inbound keys
# (`own_service`): an erasure retires the key the module's handle seals with (still opened, in its grace period).
pytestmark = [pytest.mark.integration, pytest.mark.shared_service]
LOOKUP_CACHE_SECONDS = 2  # the gatekeeper's (30 by default): how long it keeps an opened private key
ENV = {"LGNET_INTAKE_LOOKUP_CACHE_SECONDS": str(LOOKUP_CACHE_SECONDS)}


@pytest.fixture(scope="module")
def intake_shared_env() -> dict[str, str]:
    return ENV


@pytest.fixture
def intake_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The same environment for a test's own intake (`own_service`); the shared one takes `intake_shared_env`."""
    return ENV if request.node.get_closest_marker("own_service") else {}


def amina_of(uid: str) -> tuple[str, str]:
    """Amina Okonkwo's birth date and fiscal code, this test's own (1960-1999): two tests' registrations of one
    fiscal code would be merged into one person."""
    born = date(1960, 1, 1) + timedelta(days=int(uid, 16) % 14_600)
    code = codicefiscale.encode("Okonkwo", "Amina", "F", born.strftime("%d/%m/%Y"), "Z335")
    return born.isoformat(), code


def registration(pid: str, given: str, family: str) -> dict[str, Any]:
    return {
        "person_id": pid,
        "birth_date": "1990-05-01",
        "sex": "female",
        "nationality": "NG",
        "languages": ["en"],
        "literate": True,
        "identity": {"given_name": given, "family_name": family},
    }


async def test_after_erasure_no_table_confirms_a_guessed_name(intake: IntakeUnderTest, uid: str) -> None:
    """On the module's intake: the dump and the service's log hold every test's data so far (each erases its
    persons of these names), and still name neither."""
    amina = f"p-amina-{uid}"
    people = {amina: ("Amina", "Okonkwo"), f"p-grace-{uid}": ("Grace", "Adeyemi")}
    bodies = {pid: registration(pid, *names) for pid, names in people.items()}
    keys = {pid: str(uuid.uuid4()) for pid in people}
    async with intake.client("coop-aurora") as c:
        for pid, body in bodies.items():
            r = await c.post("/persons", json=body, headers={"Idempotency-Key": keys[pid]})
            assert r.status_code == 201, r.text
    # What an attacker with a copy of the table does: hash the body with guessed names (here the right guess).
    unkeyed = {
        pid: hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        for pid, body in bodies.items()
    }
    async with intake.pool.acquire() as conn:
        dump = await everything_in(conn)
        assert not any(d in dump for d in unkeyed.values()), "the fingerprint of a registration is unkeyed"
    async with intake.client("staff-torino") as staff:
        for pid in people:
            assert (await staff.post(f"/persons/{pid}/erasure")).status_code == 200
    async with intake.pool.acquire() as conn:
        dump = await everything_in(conn)
        fingerprints = {
            r["key"]: r["request_hash"]
            for r in await conn.fetch(
                "select key, request_hash from idempotency_keys where key = any($1)", list(keys.values())
            )
        }
    logged = intake.process.log_path.read_text()  # the service's log: never personal data (DESIGN §5)
    for given, family in people.values():
        assert given not in dump and family not in dump
        assert given not in logged and family not in logged
    assert not any(d in dump for d in unkeyed.values())
    # Nothing left depends on the body: two different names leave the same thing behind.
    assert len(fingerprints) == 2 and len(set(fingerprints.values())) == 1
    # A retry of an erased person's registration cannot bring them back.
    async with intake.client("coop-aurora") as c:
        r = await c.post("/persons", json=bodies[amina], headers={"Idempotency-Key": keys[amina]})
        assert r.status_code == 409


async def wait_for(intake: IntakeUnderTest, sql: str, *args: Any) -> None:
    for _ in range(150):
        async with intake.pool.acquire() as conn:
            if await conn.fetchval(sql, *args):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sql} never true")


def sealed_registration(pid: str, client: Any) -> inbound.PersonRegistrationSubmitted:
    return inbound.PersonRegistrationSubmitted(
        person_id=pid,
        sex="male",
        nationality="SY",
        identity=inbound.PartnerIdentityV2(
            given_name=client.seal("given_name", "Yusuf"),
            family_name=client.seal("family_name", "Haddad"),
            birth_date=client.seal_birth_date(date(1985, 3, 12)),
        ),
    )


@pytest.mark.own_service  # destroys every retired inbound key of the service, and its key must be the current one
async def test_an_erased_persons_inbound_identity_cannot_be_opened_afterwards(intake: IntakeUnderTest) -> None:
    old_key_id = intake.inbound_key["key_id"]
    async with intake.partner("coop-aurora", "torino") as client:
        await client.emit(sealed_registration("y-1", client))
    await wait_for(intake, "select true from persons where person_id = 'y-1'")
    records = await intake.raw_records("partner.inbound.torino")
    sealed_name = Sealed(**json.loads(records[-1].value)["data"]["identity"]["given_name"])
    assert sealed_name.kid == f"hpke:{old_key_id}"
    async with intake.client("staff-torino") as staff:
        assert (await staff.post("/persons/y-1/erasure")).status_code == 200
    # Erasure retired the key: partners get a new one at once; the old one is destroyed after the grace period.
    async with intake.client("coop-aurora") as c:
        current = (await c.get("/inbound-key")).json()
    assert current["key_id"] != old_key_id
    async with intake.pool.acquire() as conn:
        assert await credentials.inbound_private_key(conn, b"\0" * 32, "never-made") is None
        destroyed = await credentials.destroy_retired_inbound_keys(conn, grace=timedelta(0))
        assert old_key_id in destroyed
        row = await conn.fetchrow("select * from inbound_keys where key_id = $1", old_key_id)
        assert row["private_wrapped"] is None and row["destroyed_at"] is not None
        assert await credentials.inbound_private_key(conn, b"\0" * 32, old_key_id) is None
    # Nothing in intake's tables opens the record any more; a partner still sealing to the old key is told why.
    assert sealed_name.kid.removeprefix("hpke:") == old_key_id
    await asyncio.sleep(LOOKUP_CACHE_SECONDS + 0.5)  # the gatekeeper's cache of private keys expires
    async with intake.partner("coop-aurora", "torino") as client:
        late = await client.emit(sealed_registration("y-2", client))
        async for rejection in client.rejections(timeout=15):
            if rejection.inbound_event_id == late.id:
                assert rejection.field == "data.identity.given_name.kid"
                assert "destroyed" in rejection.reason
                break
        else:
            raise AssertionError("no rejection for a record sealed to a destroyed key")


@pytest.mark.own_service  # ages every inbound key of the service, whose first key must still be the current one
async def test_the_inbound_key_rotates_on_schedule(intake: IntakeUnderTest) -> None:
    policy = credentials.InboundKeyPolicy(rotate_after=timedelta(days=30), grace=timedelta(hours=24))  # defaults
    first = intake.inbound_key["key_id"]
    async with intake.client("coop-aurora") as c:
        assert (await c.get("/inbound-key")).json()["key_id"] == first
        # Thirty days later the key is replaced; a day after that, its private half is gone.
        async with intake.pool.acquire() as conn:
            await conn.execute("update inbound_keys set created_at = created_at - interval '31 days'")
        second = (await c.get("/inbound-key")).json()["key_id"]
        assert second != first
        assert (await c.get("/inbound-key")).json()["key_id"] == second
    async with intake.pool.acquire() as conn:
        assert await credentials.rotate_inbound_keys(conn, policy) == []
        await conn.execute(
            "update inbound_keys set retired_at = retired_at - interval '25 hours' where key_id = $1", first
        )
        assert await credentials.rotate_inbound_keys(conn, policy) == [first]


async def test_erasing_a_person_erases_the_records_merged_into_them(intake: IntakeUnderTest, uid: str) -> None:
    """Two partners registered the same human (same fiscal code): one person, two records, two keys. Erasing the
    person erases both, and neither registration's fingerprint is left."""
    a1, b7 = f"a-1-{uid}", f"b-7-{uid}"
    amina = registration(a1, "Amina", "Okonkwo")
    amina["birth_date"], amina["identity"]["fiscal_code"] = amina_of(uid)
    again = {**amina, "person_id": b7, "identity": {**amina["identity"], "given_name": "Amína"}}
    keys = [str(uuid.uuid4()), str(uuid.uuid4())]
    async with intake.client("coop-aurora") as a, intake.client("coop-borgo") as b:
        assert (await a.post("/persons", json=amina, headers={"Idempotency-Key": keys[0]})).status_code == 201
        r = await b.post("/persons", json=again, headers={"Idempotency-Key": keys[1]})
        assert r.status_code == 201  # merged into a-1 (not told to Borgo: test_http_api.py)
    async with intake.client("staff-torino") as staff:
        assert (await staff.get(f"/persons/{b7}")).json()["person_id"] == a1
        assert (await staff.post(f"/persons/{a1}/erasure")).status_code == 200
    async with intake.pool.acquire() as conn:
        wrapped = await conn.fetch("select kid, wrapped from person_keys where kid = any($1)", [a1, b7])
        assert {r["kid"]: r["wrapped"] for r in wrapped} == {a1: None, b7: None}
        erased = await conn.fetch(
            "select person_id from persons where erased_at is not null and person_id like $1 order by person_id",
            f"%-{uid}",
        )
        assert [r["person_id"] for r in erased] == [a1, b7]
        fingerprints = await conn.fetch("select request_hash from idempotency_keys where key = any($1)", keys)
        assert {r["request_hash"] for r in fingerprints} == {"erased"}
        dump = await everything_in(conn)
    assert "Okonkwo" not in dump and "Amina" not in dump and "Amína" not in dump


async def test_an_erased_persons_birth_date_is_not_given_out(intake: IntakeUnderTest, uid: str) -> None:
    """operators.md: after erasure the birth date stays in intake's own table (minor or adult at later case
    openings) and "never leaves intake in clear". `GET /persons/{id}` and the cartella's person still answered
    "1990-05-01" (the desk showed "Data di nascita 1 mag 1990" under "nome non registrato"), while the household's
    member list already hid it: with sex, nationality and the household, it points the person out again."""
    pid = f"p-erased-bd-{uid}"
    async with intake.client("coop-aurora") as c:
        r = await c.post(
            "/persons", json=registration(pid, "Salma", "Diallo"), headers={"Idempotency-Key": f"k-bd-{uid}"}
        )
        assert r.status_code == 201, r.text
    async with intake.client("staff-torino") as staff:
        assert (await staff.post(f"/persons/{pid}/erasure")).status_code == 200
        person = (await staff.get(f"/persons/{pid}")).json()
        record = (await staff.get(f"/persons/{pid}/record")).json()
    assert person["erased"] is True and person["identity"] == {}
    assert person["birth_date"] is None, person
    assert record["person"]["birth_date"] is None, record["person"]
    assert "1990-05-01" not in json.dumps(record), record
    async with intake.pool.acquire() as conn:  # kept in intake's own table, as documented
        assert await conn.fetchval("select birth_date from persons where person_id = $1", pid) == date(1990, 5, 1)


ROSSI_CF = "RSSMRA80A01L219M"  # a well-formed fiscal code (Mario Rossi, born in Turin on 1 January 1980)


async def test_an_identifier_that_is_a_fiscal_code_iban_or_e_mail_is_refused(intake: IntakeUnderTest, uid: str) -> None:
    """A DPO's review: identifiers travel in clear on every topic, are copied into every service and into reporting,
    and no erasure reaches them (only sealed fields are shredded). A partner whose own system keys persons by their
    codice fiscale sent it as `person_id`, and staff could type one: intake took it (201) and published it in clear.
    A new person's, household's or case's identifier that holds a fiscal code, an IBAN or an e-mail address is refused
    at its field, over HTTP and from partners, and nothing of it reaches intake's topic."""
    async with intake.client("staff-torino") as staff:
        for pid in (ROSSI_CF, f"cf-{ROSSI_CF.lower()}", "IT60X0542811101000000123456", "mario.rossi@example.org"):
            body = {**registration(pid, "Mario", "Rossi"), "sex": "male"}
            r = await staff.post("/persons", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            assert r.status_code == 422 and r.json()["field"] == "person_id", (pid, r.text)
        p_ok, h_ok, r_ok = f"p-ok-{uid}", f"h-ok-{uid}", f"r-ok-{uid}"
        ok = await staff.post(
            "/persons", json=registration(p_ok, "Mario", "Rossi"), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert ok.status_code == 201, ok.text
        household = {"household_id": ROSSI_CF, "reference_person_id": p_ok, "member_ids": [p_ok]}
        r = await staff.post("/households", json=household, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 422 and r.json()["field"] == "household_id", r.text
        household["household_id"] = h_ok
        r = await staff.post("/households", json=household, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        referral = {"referral_id": "mario.rossi@example.org", "household_id": h_ok, "source": "reception_exit",
                    "received_on": "2026-01-10"}  # fmt: skip
        r = await staff.post("/referrals", json=referral, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 422 and r.json()["field"] == "referral_id", r.text
        # A referral's outcome is a free code that travels in clear (referral_outcome_recorded): not a fiscal code.
        referral["referral_id"] = r_ok
        r = await staff.post("/referrals", json=referral, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        outcome = {"outcome": ROSSI_CF.lower()}
        r = await staff.post(f"/referrals/{r_ok}/outcome", json=outcome, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert (r.status_code, r.json().get("field")) == (422, "outcome"), r.text
        case = {"case_id": f"c-{ROSSI_CF}", "household_id": h_ok, "action_area": "taking_charge", "channel": "desk",
                "opened_on": "2026-02-01", "partner": "coop-aurora"}  # fmt: skip
        r = await staff.post("/cases", json=case, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 422 and r.json()["field"] == "case_id", r.text
    async with intake.partner("coop-aurora", "torino") as client:
        sent = await client.emit(
            inbound.PersonRegistrationSubmitted(
                person_id=ROSSI_CF, sex="male", nationality="IT",
                identity=inbound.PartnerIdentityV2(
                    given_name=client.seal("given_name", "Mario"), family_name=client.seal("family_name", "Rossi"),
                    birth_date=client.seal_birth_date(date(1980, 1, 1)),
                ),
            )
        )  # fmt: skip
        await refused_at(client, sent.id, "data.person_id")
    published = await intake.raw_records("intake.events", missing_ok=True)  # all since this test began
    assert not any(ROSSI_CF.encode() in (rec.value or b"") for rec in published)
    async with intake.pool.acquire() as conn:  # the whole schema: no test stores the code
        assert ROSSI_CF not in await everything_in(conn)


async def test_a_plans_id_or_a_household_changes_reason_holding_identifying_data_is_refused(
    intake: IntakeUnderTest, uid: str
) -> None:
    """A DPO's review (DESIGN section 5): a plan's id travels in clear on intake's topic (individual_plan_agreed, its
    objectives' updates) and into reporting, for good. A partner keyed the household's plan by the person's fiscal
    code or e-mail: taken (201), over HTTP and from partners. A new plan's id holding a fiscal code, an IBAN, an
    e-mail address or a phone number is refused at `plan_id`; a household change's reason holding one, at `reason`."""
    today = str(clock.today())
    async with intake.client("staff-torino") as staff:
        p_pl, h_pl, c_pl, p_pl2 = f"p-pl-{uid}", f"h-pl-{uid}", f"c-pl-{uid}", f"p-pl2-{uid}"
        ok = await staff.post(
            "/persons", json=registration(p_pl, "Anna", "Bianchi"), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert ok.status_code == 201, ok.text
        household = {"household_id": h_pl, "reference_person_id": p_pl, "member_ids": [p_pl]}
        r = await staff.post("/households", json=household, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        case = {"case_id": c_pl, "household_id": h_pl, "action_area": "taking_charge", "channel": "desk",
                "opened_on": today, "partner": "coop-aurora"}  # fmt: skip
        r = await staff.post("/cases", json=case, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        # A household change's coded reason travels in clear too (member_joined): a fiscal code in lower case is a code.
        baby = registration(p_pl2, "Luca", "Bianchi")
        assert (await staff.post("/persons", json=baby, headers={"Idempotency-Key": f"k-pl2-{uid}"})).status_code == 201
        joined = {"household_id": h_pl, "person_id": p_pl2, "change": "joined", "reason": ROSSI_CF.lower(),
                  "on": today}  # fmt: skip
        r = await staff.post("/households/members", json=joined, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert (r.status_code, r.json().get("field")) == (422, "reason"), r.text
    async with intake.client("coop-aurora") as aurora:
        for pid in (ROSSI_CF, "IT60X0542811101000000123456", "anna.bianchi@example.org", "+39 347 1234567"):
            plan = {"case_id": c_pl, "plan_id": pid, "objectives": ["housing"], "agreed_on": today}
            r = await aurora.post("/cases/plans", json=plan, headers={"Idempotency-Key": str(uuid.uuid4())})
            assert (r.status_code, r.json().get("field")) == (422, "plan_id"), (pid, r.text)
    async with intake.partner("coop-aurora", "torino") as client:
        sent = await client.emit(
            inbound.PlanSubmitted(case_id=c_pl, plan_id=ROSSI_CF, objectives=["housing"], agreed_on=clock.today())
        )
        await refused_at(client, sent.id, "data.plan_id")
    published = await intake.raw_records("intake.events", missing_ok=True)  # all since this test began
    assert not any(v in (rec.value or b"") for rec in published for v in (ROSSI_CF.encode(), ROSSI_CF.lower().encode()))


async def test_erasing_a_person_by_a_record_merged_into_her_erases_her(intake: IntakeUnderTest, uid: str) -> None:
    """A DPO's review (GDPR art. 17): a person asks for erasure showing the id a cooperative gave her; that record was
    merged into the one the desk keeps (same fiscal code). `POST /persons/b-7/erasure` answered 200 and destroyed only
    the merged record's key: her record a-1 — names, fiscal code, phone — was still read and found by her fiscal code.
    An erasure by any of her records' ids erases the human: the surviving record and every record merged into it."""
    a1, b7 = f"a-1-{uid}", f"b-7-{uid}"
    amina = registration(a1, "Amina", "Okonkwo")
    amina["birth_date"], fiscal_code = amina_of(uid)
    amina["identity"]["fiscal_code"] = fiscal_code
    again = {**amina, "person_id": b7, "identity": {**amina["identity"], "given_name": "Amína"}}
    async with intake.client("coop-aurora") as a, intake.client("coop-borgo") as b:
        assert (await a.post("/persons", json=amina, headers={"Idempotency-Key": str(uuid.uuid4())})).status_code == 201
        r = await b.post("/persons", json=again, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201
    async with intake.client("staff-torino") as staff:
        r = await staff.post(f"/persons/{b7}/erasure")
        assert r.status_code == 200 and r.json()["person_id"] == a1, r.text
        assert (await staff.get(f"/persons/{a1}")).json()["erased"] is True
        found = await staff.post("/persons/search", json={"fiscal_code": fiscal_code})
        assert found.json() == [], found.text
        assert (await staff.post(f"/persons/{a1}/erasure")).status_code == 409  # already erased, whole
    async with intake.pool.acquire() as conn:
        erased = await conn.fetch(
            "select person_id from persons where erased_at is not null and person_id like $1 order by person_id",
            f"%-{uid}",
        )
        assert [r["person_id"] for r in erased] == [a1, b7]
        dump = await everything_in(conn)
    assert "Okonkwo" not in dump and "Amina" not in dump and "Amína" not in dump
    erasures: list[PersonErased] = []
    for _ in range(40):  # this test's erasures (a straggler of an earlier test's could be read first)
        events = await intake.events(want=2)
        erasures = [e for e in events if isinstance(e, PersonErased) and e.person_id.endswith(uid)]
        if len(erasures) >= 2:
            break
        await asyncio.sleep(0.25)
    assert sorted(e.person_id for e in erasures) == [a1, b7]
