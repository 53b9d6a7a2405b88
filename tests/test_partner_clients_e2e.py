"""The reference partner clients under examples/partners/ (Node.js with kafkajs, Java with kafka-clients), written
from docs/partners.md alone, against the real platform: a city's intake and reporting as processes on the secured
broker, the partner onboarded with `lgnet-partner-admin`. Each client seals, signs and produces a small
registration sequence over TLS + SASL/SCRAM with its client's default compression, books an appointment for
tomorrow, changes the household (a baby joins by birth, the father by reunification, the father is named reference
person; the reference person's leaving is refused), reads its rejections and (once the city's staff sent the day's
reminders) its reminder of the appointment; the result is checked through the reporting API (four persons, two of
them minors, one household, one case) and the household's record at intake (its members and reference person).

Before the clients read, forged answers wait on their topics, written as the cluster's administrator (or a
compromised deployment) could: unsigned, signed by a key nobody registered, a registered writer's record changed after
signing, another city's intake answering for Torino, Torino's housing posing as intake, intake's key vouching for
housing's reminder, a rejection on the reminders topic. Each client must verify every answer as docs/partners.md says
("Answers are verified") and print only the genuine ones, counting the others by reason in `refused_answers`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lgnet_intake.entrypoints import partner_admin
from lgnet_shared import auth, clock, db, signing
from lgnet_shared.auth import Role
from lgnet_shared.fact_signing import FactSigner, publish_key
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.testing import HTTP_TIMEOUT_S
from lgnet_shared.testing.forged_answers import answer, appointment, batch, match, rejection, signer, tampered
from lgnet_shared.testing.plugin import fresh_schema, new_topic_prefix
from lgnet_shared.testing.process import ServiceProcess, service_env, start_all, stop_all
from lgnet_shared.topics import for_partner, physical

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ROOT / "examples" / "partners"


@dataclass
class City:
    env: dict[str, str]  # what the city's IT team has: the cluster admin's KAFKA_*, the schemas, the URLs
    urls: dict[str, str]
    staff_token: str  # the city's staff at intake (sends the day's appointment reminders, as the scheduler does)


@pytest.fixture(scope="module", params=["registries", "pinned"])
def keys(request: pytest.FixtureRequest) -> str:
    """Where the clients take the keys they verify answers with: the cluster's registries, or a pinned file. A city
    each: a client registers the same persons on every run (the same fiscal codes, which make one person)."""
    return str(request.param)


@pytest.fixture(scope="module")
async def city(
    keys: str, kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[City]:
    """Torino's intake and reporting, as processes, on their own topics and schemas."""
    prefix = new_topic_prefix("partners")
    logs = tmp_path_factory.mktemp("partners")
    master = base64.b64encode(os.urandom(32)).decode()
    async with fresh_schema(database_url) as intake, fresh_schema(database_url) as reporting:
        schemas = {"intake": intake, "reporting": reporting}
        processes = {
            s: ServiceProcess(
                [sys.executable, "-m", f"lgnet_{s}.entrypoints.main"],
                service_env(kafka_bootstrap, database_url, schemas[s], prefix, city="torino", master_key=master),
                logs / f"{s}.log",
            )
            for s in schemas
        }
        try:
            await start_all(processes.values(), timeout=120)
            pool = await db.create_pool(database_url, intake)
            try:
                async with pool.acquire() as conn:
                    await auth.add_actor(conn, "staff-torino", Role.STAFF, "torino", "staff-torino")
                    staff_token = await auth.issue_token(conn, "staff-torino")
            finally:
                await pool.close()
            urls = {s: p.url for s, p in processes.items()}
            env = {
                **{k: v for k, v in os.environ.items() if k.startswith("KAFKA_")},
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "DATABASE_URL": database_url,
                "LGNET_TOPIC_PREFIX": prefix,
                **{f"LGNET_{s.upper()}_DB_SCHEMA": schema for s, schema in schemas.items()},
                **{f"LGNET_{s.upper()}_URL": url for s, url in urls.items()},
            }
            yield City(env, urls, staff_token)
        finally:
            stop_all(processes.values())


async def onboard(city: City, folder: Path, partner: str) -> tuple[Path, str]:
    """The IT team's one command; the partner made its key pair and sent the public half."""
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(signing.public_bytes(key)).decode()
    bundle = folder / f"{partner}.json"
    argv = ["onboard", partner, "--city", "torino", "--signing-key-id", f"{partner}-2026"]
    argv += ["--signing-public-key", public, "--out", str(bundle), "--services", "intake,reporting"]
    assert await asyncio.to_thread(partner_admin.main, argv, city.env) == 0
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    return bundle, seed


def build_node() -> list[str]:
    folder = CLIENTS / "node"
    # CI: from npm, exactly the locked versions; again when the lock changed since (npm writes its copy at install)
    installed = folder / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, timeout=600)
    return ["node", str(folder / "partner.mjs")]


def build_java() -> list[str]:
    folder = CLIENTS / "java"
    jar = folder / "target" / "lgnet-partner-reference-1.0.0.jar"  # its dependencies in target/lib/
    sources = [folder / "pom.xml", *(folder / "src").rglob("*.java")]
    if not jar.exists() or jar.stat().st_mtime < max(f.stat().st_mtime for f in sources):  # CI: from Maven Central
        subprocess.run(["mvn", "-B", "-q", "package", "-DskipTests"], cwd=folder, check=True, timeout=900)
    return ["java", "-jar", str(jar)]


async def play(
    command: list[str], bundle: Path, seed: str, run: str, appointment_at: datetime, answer_keys: Path | None
) -> tuple[dict[str, Any], str]:
    """The client's JSON summary (its last line on stdout) and what it logged (stderr). `answer_keys`: the pinned
    keys it verifies its answers with (else it reads the cluster's registries)."""
    env = {**os.environ, "LGNET_BUNDLE": str(bundle), "LGNET_SIGNING_SEED": seed, "LGNET_RUN": run}
    if answer_keys is not None:
        env["LGNET_ANSWER_KEYS"] = str(answer_keys)
    env["LGNET_APPOINTMENT_AT"] = appointment_at.isoformat()
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary, done.stderr


SECRET = "Mario Rossi"  # in every forged answer: a refusal is logged by place and reason, never its content


async def forge_answers(city: City, partner: str, appointment_id: str) -> dict[str, int]:
    """Forged answers (and genuine ones of other writers, which the client reads and passes over) on the partner's
    topics, written before it reads, as the cluster's administrator; returns how many the client must refuse, by
    reason. The administrator registers three keys, each in its deployment's own registry (as that deployment would):
    the national intake's (which may answer every city's partners), Trieste's intake's and Torino's housing's. The
    national intake signs with both header versions (2, binary, and the text version 1 of older logs), alone and in
    batches (inclusion proofs)."""
    prefix = city.env["LGNET_TOPIC_PREFIX"]
    seed = os.urandom(32)
    national, national_v1 = (FactSigner(seed, "national", "intake", "national", header_version=v) for v in (2, 1))
    trieste, housing = signer("trieste", "intake"), signer("torino", "housing")
    stranger = signer("torino", "intake")  # registered nowhere
    forged_reminder = appointment(partner, appointment_id, case_id="c-forged", person_id=SECRET.replace(" ", "-"))
    refused = rejection(partner, SECRET, inbound_event_id="e-forged")
    genuine = [rejection(partner, "genuine", inbound_event_id=f"e-national-{n}") for n in range(3)]
    in_batch = batch(genuine, national)
    answers = {
        "partner.rejections.{partner}": [
            answer(refused, None),  # missing
            answer(refused, stranger),  # unknown_key
            tampered(answer(refused, national), b"data.x", b"data.y"),  # invalid
            answer(refused, trieste),  # claims: Trieste's deployment answering for Torino
            answer(refused, housing),  # not_a_writer: housing may not write rejections
            in_batch[0],  # genuine (not the client's own: passed over) ...
            tampered(in_batch[1], b"e-national-1", b"e-national-9"),  # ... invalid: changed within its batch
            in_batch[2],
            *batch(genuine, national_v1),  # genuine, version 1 "ed25519-merkle"
            answer(genuine[0], national_v1),  # genuine, version 1 "ed25519" (a lone record)
        ],
        "partner.reminders.{partner}": [
            answer(forged_reminder, None),  # missing: the very appointment the client waits for, unsigned
            tampered(answer(forged_reminder, national), b"c-forged", b"c-changed"),  # invalid
            answer(forged_reminder, housing),  # not_a_writer: housing posing as intake
            answer(match(partner, "m-by-intake"), national),  # not_a_writer: intake's key for housing's reminder
            answer(refused, national),  # wrong_topic: a rejection is no reminder
            answer(match(partner, "m-genuine"), housing),  # genuine, and not what the client waits for
        ],
    }
    producer = AIOKafkaProducer(**client_kwargs(city.env["KAFKA_BOOTSTRAP_SERVERS"]), acks="all")
    await producer.start()
    try:
        for s in (national, trieste, housing):
            await publish_key(producer, s.key, prefix)
        for family, records in answers.items():
            topic = physical(for_partner(family, partner), prefix)
            for value, headers in records:
                await producer.send_and_wait(topic, value, key=partner.encode(), headers=headers)
    finally:
        await producer.stop()
    return {"missing": 2, "unknown_key": 1, "invalid": 3, "claims": 1, "not_a_writer": 3, "wrong_topic": 1}


async def pin_keys(city: City, folder: Path) -> Path:
    """The keys as an auditor pins them (`lgnet-audit keys --out`, with the city's admin user), for a partner that
    verifies with pinned keys rather than the registries."""
    out = folder / "pinned-keys.json"
    audit = [str(Path(sys.executable).parent / "lgnet-audit"), "keys", "--out", str(out)]
    env = {**os.environ, **city.env}
    done = await asyncio.to_thread(subprocess.run, audit, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


COUNTED = {  # what one client's sequence adds to its city's report: four persons (two minors), a household, a case
    ("persons", "total"): 4,
    ("persons", "minors"): 2,
    ("households", "total"): 1,
    ("cases", "opened"): 1,
}


async def counts(city: City, token: str) -> dict[tuple[str, str], int]:
    """The partner's view of its city through the reporting API (its own token)."""
    async with httpx.AsyncClient(
        base_url=city.urls["reporting"], headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S
    ) as api:
        answer = await api.get("/reports/city_summary", params={"city": "torino"})
    assert answer.status_code == 200, answer.text
    indicators = answer.json()["indicators"]
    return {(group, key): int(indicators[group][key]) for group, key in COUNTED}


async def remind_when_booked(city: City, appointment_id: str, at: datetime) -> None:
    """The city's daily reminders (what its scheduler does), sent once intake has the client's booking."""
    headers = {"Authorization": f"Bearer {city.staff_token}"}
    async with httpx.AsyncClient(base_url=city.urls["intake"], headers=headers, timeout=30) as staff:
        for _ in range(240):
            day = (await staff.get("/appointments", params={"day": at.date().isoformat()})).json()
            if any(a["appointment_id"] == appointment_id for a in day):
                r = await staff.post(
                    "/appointments/reminders",
                    json={"day": (at.date() - timedelta(days=1)).isoformat()},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                assert r.status_code == 200, r.text
                return
            await asyncio.sleep(0.5)
    raise AssertionError(f"intake never booked {appointment_id}")


async def household_at_intake(city: City, person_id: str, household_id: str) -> dict[str, Any]:
    """The household as intake holds it (the city's staff reading the reference person's record), once intake has
    applied the client's changes (the refused one comes back after them)."""
    headers = {"Authorization": f"Bearer {city.staff_token}"}
    async with httpx.AsyncClient(base_url=city.urls["intake"], headers=headers, timeout=HTTP_TIMEOUT_S) as staff:
        answer = await staff.get(f"/persons/{person_id}/record")
    assert answer.status_code == 200, answer.text
    (household,) = [h for h in answer.json()["households"] if h["household_id"] == household_id]
    return household  # type: ignore[no-any-return]


async def counted(city: City, token: str, want: dict[tuple[str, str], int]) -> None:
    got: dict[tuple[str, str], int] = {}
    for _ in range(120):  # reporting projects intake's facts a moment after intake accepted the events
        got = await counts(city, token)
        if got == want:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"reporting shows {got}, expected {want}")


@pytest.mark.parametrize("language", ["node", "java"])
async def test_a_reference_client_onboards_sends_and_reads_its_answers(
    language: str, keys: str, city: City, tmp_path: Path
) -> None:
    tool = {"node": "node", "java": "mvn"}[language]
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is needed to build the {language} reference client (README, Quick start)", pytrace=False)
    command = await asyncio.to_thread(build_node if language == "node" else build_java)
    partner = f"coop-{language}-{uuid.uuid4().hex[:6]}"
    bundle, seed = await onboard(city, tmp_path, partner)
    before = await counts(city, json.loads(bundle.read_text())["services"]["reporting"]["token"])
    run = uuid.uuid4().hex[:8]
    rome = ZoneInfo("Europe/Rome")
    at = datetime.combine(clock.today() + timedelta(days=1), time(10), tzinfo=rome)
    refusing = await forge_answers(city, partner, f"{language}-{run}-a1")
    pinned = await pin_keys(city, tmp_path) if keys == "pinned" else None
    reminding = asyncio.create_task(remind_when_booked(city, f"{language}-{run}-a1", at))
    summary, logged = await play(command, bundle, seed, run, at, pinned)
    await reminding
    sent, rejections = summary["sent"], summary["rejections"]
    assert sorted((r["inbound_event_id"], r["kind"], r["field"]) for r in rejections) == sorted(
        [
            (sent["refused"], "not_found", "data.household_id"),
            (sent["refused_leave"], "conflict", "data.person_id"),  # the reference person may not leave
        ]
    ), rejections
    # The household's changes as the client says it sent them, and as intake holds them.
    ids = {n: f"{language}-{run}-{n}" for n in ("p1", "p2", "p3", "p4", "h1")}
    assert [(c["sent"], c["person_id"], c["change"], c["reason"]) for c in summary["household_changes"]] == [
        ("baby_joined", ids["p4"], "joined", "birth"),
        ("father_joined", ids["p3"], "joined", "reunification"),
        ("reference_person", ids["p3"], "reference_person", "household_choice"),
        ("refused_leave", ids["p3"], "left", "moved"),
    ], summary["household_changes"]
    household = await household_at_intake(city, ids["p1"], ids["h1"])
    assert household["reference_person_id"] == ids["p3"], household
    members = {m["person_id"]: (m["reason"], m["left_on"]) for m in household["members"]}
    assert {members[ids[p]] for p in ("p3", "p4")} == {("reunification", None), ("birth", None)}, household
    assert set(members) == {ids[p] for p in ("p1", "p2", "p3", "p4")} and all(
        left is None for _, left in members.values()
    ), household
    # Its reminder, read from its own topic: the appointment with its case's person, ids and codes only.
    (reminder,) = summary["reminders"]
    assert reminder["partner"] == partner and reminder["appointment_id"] == f"{language}-{run}-a1"
    assert reminder["case_id"] == f"{language}-{run}-c1" and reminder["person_id"] == f"{language}-{run}-p1"
    assert datetime.fromisoformat(reminder["starts_at"]) == at
    # Every forged answer refused, counted by reason (the SDK's names) and logged by its place, not its content.
    assert summary["refused_answers"] == refusing, summary["refused_answers"]
    refusals = [line for line in logged.splitlines() if "refused an answer" in line]
    assert len(refusals) == sum(refusing.values()), logged[-3000:]
    assert all("partition 0 offset " in line for line in refusals), refusals
    assert SECRET not in logged and SECRET.replace(" ", "-") not in logged, logged[-3000:]
    token = json.loads(bundle.read_text())["services"]["reporting"]["token"]
    await counted(city, token, {k: before[k] + n for k, n in COUNTED.items()})
