"""The reference partner clients under examples/partners/ (Node.js with kafkajs, Java with kafka-clients), written
from docs/partners.md alone, against the real platform: a city's intake and reporting as processes on the secured
broker, the partner onboarded with `lgnet-partner-admin`. Each client seals, signs and produces a small
registration sequence over TLS + SASL/SCRAM with its client's default compression, books an appointment for
tomorrow, reads its rejections and (once the city's staff sent the day's reminders) its reminder of the appointment;
the result is checked through the reporting API (two persons, one a minor, one household, one case)."""

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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lgnet_intake.entrypoints import partner_admin
from lgnet_shared import auth, clock, db, signing
from lgnet_shared.auth import Role
from lgnet_shared.testing.plugin import fresh_schema, new_topic_prefix
from lgnet_shared.testing.process import ServiceProcess, service_env, start_all, stop_all

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ROOT / "examples" / "partners"


@dataclass
class City:
    env: dict[str, str]  # what the city's IT team has: the cluster admin's KAFKA_*, the schemas, the URLs
    urls: dict[str, str]
    staff_token: str  # the city's staff at intake (sends the day's appointment reminders, as the scheduler does)


@pytest.fixture(scope="module")
async def city(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
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


async def play(command: list[str], bundle: Path, seed: str, run: str, appointment_at: datetime) -> dict[str, Any]:
    env = {**os.environ, "LGNET_BUNDLE": str(bundle), "LGNET_SIGNING_SEED": seed, "LGNET_RUN": run}
    env["LGNET_APPOINTMENT_AT"] = appointment_at.isoformat()
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


COUNTED = {  # what one client's sequence adds to its city's report: two persons (one a minor), a household, a case
    ("persons", "total"): 2,
    ("persons", "minors"): 1,
    ("households", "total"): 1,
    ("cases", "opened"): 1,
}


async def counts(city: City, token: str) -> dict[tuple[str, str], int]:
    """The partner's view of its city through the reporting API (its own token)."""
    async with httpx.AsyncClient(base_url=city.urls["reporting"], headers={"Authorization": f"Bearer {token}"}) as api:
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
    language: str, city: City, tmp_path: Path
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
    reminding = asyncio.create_task(remind_when_booked(city, f"{language}-{run}-a1", at))
    summary = await play(command, bundle, seed, run, at)
    await reminding
    sent, rejections = summary["sent"], summary["rejections"]
    assert [(r["inbound_event_id"], r["kind"], r["field"]) for r in rejections] == [
        (sent["refused"], "not_found", "data.household_id")
    ], rejections
    # Its reminder, read from its own topic: the appointment with its case's person, ids and codes only.
    (reminder,) = summary["reminders"]
    assert reminder["partner"] == partner and reminder["appointment_id"] == f"{language}-{run}-a1"
    assert reminder["case_id"] == f"{language}-{run}-c1" and reminder["person_id"] == f"{language}-{run}-p1"
    assert datetime.fromisoformat(reminder["starts_at"]) == at
    token = json.loads(bundle.read_text())["services"]["reporting"]["token"]
    await counted(city, token, {k: before[k] + n for k, n in COUNTED.items()})
