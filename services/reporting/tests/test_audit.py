"""Tamper tests (#16): a log signed by its producers and checkpointed by the notary verifies; copies of it, each
tampered one way (a field changed, a record dropped, two reordered, one inserted with a foreign key or copied from
another partition, the end truncated, a checkpoint forking from the saved one), fail with the exact place named.
Real Kafka: each copy is written to its own topic prefix, as a broker administrator could rewrite a log."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.adapters import facts_log
from lgnet_reporting.entrypoints import audit
from lgnet_reporting.service_layer import audit as audit_service
from lgnet_shared.checkpoints import NotarySigner, open_checkpoint, origin_of, split_origin
from lgnet_shared.codec import to_envelope
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fact_signing import FactSigner, publish_key
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.partitioning import partition_of
from lgnet_shared.testing.facts import signed_fact, upstream_signer
from lgnet_shared.testing.plugin import new_topic_prefix
from lgnet_shared.testing.topics import read_records
from lgnet_shared.topics import ensure_topics, physical

pytestmark = pytest.mark.integration
Rec = tuple[str, int, bytes, bytes, list[tuple[str, bytes]]]  # logical topic, partition, key, value, headers
NOTARY = NotarySigner("lgnet-notary.test", os.urandom(32))
PARTITION = 2  # the intake.events partition the tampering happens in


def employment(person: str) -> Any:
    event = EmploymentRecorded(person_id=person, status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
    return to_envelope(event, source="/lgnet/intake", city="torino")


def report_stand_in() -> Any:
    """A report announcement that covers no fact: a record of reporting.events (each topic carries its own service's
    types only, `events.carried_on`)."""
    from lgnet_shared.events.reporting import ReportPublished

    announced = ReportPublished(
        report_id="report-stand-in", report="city_summary", scope="torino", as_of=date(2026, 3, 31), digest="0" * 64,
        positions={}, published_at=datetime(2026, 4, 1, tzinfo=UTC), method=2, threshold=5,
    )  # fmt: skip
    return to_envelope(announced, source="/lgnet/reporting", city="torino")


def special_stand_in() -> Any:
    """A record of intake.special (one of the types it carries)."""
    from lgnet_shared.events.outreach import StreetPersonLinked

    linked = StreetPersonLinked(
        street_id="special-stand-in", person_id="p-1", city="torino", linked_on=date(2026, 3, 1),
        first_contact_on=date(2026, 2, 1),
    )  # fmt: skip
    return to_envelope(linked, source="/lgnet/intake", city="torino")


async def write(bootstrap: str, prefix: str, records: list[Rec]) -> None:
    await ensure_topics(bootstrap, prefix)
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for signing_key in {upstream_signer(s).key for s in ("intake", "reporting")}:
            await publish_key(producer, signing_key, prefix)
        for topic, partition, key, value, headers in records:
            await producer.send_and_wait(physical(topic, prefix), value, key=key, headers=headers, partition=partition)
    finally:
        await producer.stop()


async def original(bootstrap: str, prefix: str) -> list[Rec]:
    """A small signed log: employment facts (several on PARTITION, batch-signed), and one published report (a
    single signature)."""
    await ensure_topics(bootstrap, prefix)
    producer = AIOKafkaProducer(**client_kwargs(bootstrap))
    await producer.start()
    out: list[Rec] = []
    try:
        # Signed as intake's relay signs them: in batches, one signature over each batch's Merkle root.
        envs = [employment(f"person-{i}") for i in range(60)]
        unsigned = [(value, list(headers)) for value, headers in (env.to_structured() for env in envs)]
        signed = upstream_signer("intake").sign_batch(unsigned)
        for env, (_, headers), (value, signature) in zip(envs, unsigned, signed, strict=True):
            out.append(("intake.events", partition_of(env.key, 6) or 0, env.key, value, [*headers, signature]))
        report = report_stand_in()  # what matters is its place on reporting.events (it covers no fact)
        value, headers = await signed_fact(producer, prefix, report, "reporting.events")
        out.append(("reporting.events", 0, report.key, value, headers))
    finally:
        await producer.stop()
    return out


def on_partition(records: list[Rec]) -> list[int]:
    return [i for i, r in enumerate(records) if r[0] == "intake.events" and r[1] == PARTITION]


def run_verify(
    bootstrap: str,
    prefix: str,
    keys: Path,
    state: Path,
    capsys: Any,
    workers: int = 1,
    *,
    notary: NotarySigner = NOTARY,
    notary_url: str | None = None,
) -> tuple[int, dict[str, Any]]:
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    ns = argparse.Namespace(
        command="verify",
        topic_prefix=prefix,
        keys=[str(keys)],
        notary_key=[str(notary.verifier)],
        state=str(state),
        notary_url=notary_url,
        workers=workers,
    )
    capsys.readouterr()
    rc = audit._run(audit.verify, ns)
    out = capsys.readouterr().out.strip().splitlines()
    return rc, json.loads(out[-1])


def notarise(bootstrap: str, prefix: str) -> None:
    asyncio.run(audit.notary_once(bootstrap, prefix, NOTARY))


def test_tampered_copies_of_a_signed_notarised_log_fail_at_the_exact_place(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = new_topic_prefix()
    records = asyncio.run(original(kafka_bootstrap, prefix))
    asyncio.run(write(kafka_bootstrap, prefix, records))
    notarise(kafka_bootstrap, prefix)
    keys = tmp_path / "pinned.json"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    capsys.readouterr()
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
    table = capsys.readouterr().err.splitlines()
    assert table[0].split() == ["key", "id", "deployment", "service", "city"], table  # headed, as verify's is
    saved = tmp_path / "saved"
    rc, summary = run_verify(kafka_bootstrap, prefix, keys, saved, capsys)
    assert rc == 0 and summary["failures"] == 0, summary
    assert summary["events"] == len(records) and summary["signatures_verified"] == len(records)
    assert summary["reports_anchored"] == 1 and (saved / "state.json").exists()

    idx = on_partition(records)
    assert len(idx) >= 4
    second, third = idx[1], idx[2]
    other = next(i for i, r in enumerate(records) if r[0] == "intake.events" and r[1] != PARTITION)
    foreign = FactSigner(os.urandom(32), "torino", "intake", "torino")  # not pinned
    forged_env = employment("forged")
    forged_value, forged_sig = foreign.sign(forged_env.to_structured()[0])

    def modified(rs: list[Rec]) -> list[Rec]:
        t, p, k, v, h = rs[second]
        return [*rs[:second], (t, p, k, v.replace(b"training", b"employed"), h), *rs[second + 1 :]]

    def dropped(rs: list[Rec]) -> list[Rec]:
        return [r for i, r in enumerate(rs) if i != second]

    def reordered(rs: list[Rec]) -> list[Rec]:
        out = list(rs)
        out[second], out[third] = rs[third], rs[second]
        return out

    def foreign_key(rs: list[Rec]) -> list[Rec]:
        insert = ("intake.events", PARTITION, forged_env.key, forged_value, [forged_sig])
        return [*rs[:second], insert, *rs[second:]]

    def from_other_partition(rs: list[Rec]) -> list[Rec]:
        t, _, k, v, h = rs[other]
        return [*rs[:second], (t, PARTITION, k, v, h), *rs[second:]]

    def truncated(rs: list[Rec]) -> list[Rec]:
        return [r for i, r in enumerate(rs) if i != idx[-1]]

    # (tampering, re-notarised by a complicit notary?, the expected failure's (partition, offset) and reason)
    cases: list[tuple[str, Callable[[list[Rec]], list[Rec]], bool, int, str]] = [
        ("modified", modified, False, 1, "producer signature: signature does not verify"),
        ("dropped", dropped, False, 1, "differs from the one audited last time"),
        ("reordered", reordered, False, 1, "differs from the one audited last time"),
        ("foreign key", foreign_key, False, 1, "producer signature: signed with key"),
        ("other partition", from_other_partition, False, 1, "key belongs on partition"),
        ("truncated", truncated, False, len(idx) - 1, "log truncated"),
        ("forked checkpoint", reordered, True, 1, "differs from the one audited last time"),
    ]
    for name, tamper, renotarise, offset, reason in cases:
        copy = new_topic_prefix()
        asyncio.run(write(kafka_bootstrap, copy, tamper(records)))
        if renotarise:  # the notary signs the rewritten log: only the saved checkpoint shows the fork
            notarise(kafka_bootstrap, copy)
        else:  # the genuine checkpoints, copied
            notes = asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", prefix)))
            asyncio.run(copy_checkpoints(kafka_bootstrap, copy, [(r.key, r.value) for r in notes]))
        state = tmp_path / f"state-{name.replace(' ', '-')}"
        in_place(saved, state, copy)
        rc, summary = run_verify(kafka_bootstrap, copy, keys, state, capsys)
        assert rc == 1, name
        at_place = [
            f["reason"]
            for f in summary["first_failures"]
            if (f["topic"], f["partition"], f["offset"]) == ("intake.events", PARTITION, offset)
        ]
        assert any(reason in r for r in at_place), (name, summary["first_failures"])
        if renotarise:
            assert any("forks from the saved checkpoint" in f["reason"] for f in summary["first_failures"]), summary
        if name in ("reordered", "other partition"):  # partitions verified by worker processes: the same findings
            monkeypatch.setattr(audit_service, "MIN_PARALLEL", 0)
            parallel = run_verify(kafka_bootstrap, copy, keys, state, capsys, workers=3)
            monkeypatch.undo()
            assert parallel == (rc, summary), name


def in_place(saved: Path, state: Path, copy: str) -> None:
    """The auditor's saved state, as if the copy under its own prefix were the audited log rewritten in place (a
    state names the topic prefix of the log it was saved from)."""
    shutil.copytree(saved, state)
    index = json.loads((state / "state.json").read_text())
    (state / "state.json").write_text(json.dumps({**index, "topic_prefix": copy}))


async def copy_checkpoints(
    bootstrap: str, prefix: str, notes: list[tuple[bytes, bytes]], *, as_signed: bool = False
) -> None:
    """The notes onto the checkpoint topic under `prefix`, each signed anew for that log (a checkpoint's origin
    names its log's prefix) with the test's notary key: what the notary signed of the original log, as it would
    stand had the log been rewritten in place (the copy under another prefix stands for that). `as_signed`: the
    notes as they are (another log's checkpoints put there)."""
    producer = AIOKafkaProducer(**client_kwargs(bootstrap))
    await producer.start()
    try:
        for key, value in notes:
            if not as_signed:
                cp = open_checkpoint(value.decode(), [NOTARY.verifier])
                where = split_origin(cp.origin)
                assert where is not None, cp.origin
                cp = NOTARY.sign(origin_of(where[1], where[2], prefix), cp.size, cp.root)
                key, value = cp.origin.encode(), cp.note.encode()
            await producer.send_and_wait(physical("checkpoints", prefix), value, key=key)
    finally:
        await producer.stop()


def test_crypto_shredding_an_erased_person_does_not_break_verification(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Erasure destroys the person's key, never a record: the sealed bytes stay, signatures and trees still verify,
    and the erasure fact itself extends the verified log."""
    from lgnet_shared import pii
    from lgnet_shared.events.intake import Identity, PersonErased

    prefix = new_topic_prefix()
    person_key = os.urandom(32)
    sealed = pii.seal_with(person_key, "k-anna", "given_name", "Anna")
    env = employment("anna")  # a fact carrying a sealed field, as a registration does
    env = env.model_copy(update={"data": {**env.data, "identity": Identity(given_name=sealed).model_dump(mode="json")}})

    async def signed_records(*envs: Any, prefix: str) -> list[Rec]:
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            out = []
            for e in envs:
                value, headers = await signed_fact(producer, prefix, e, "intake.events")
                out.append(("intake.events", partition_of(e.key, 6) or 0, e.key, value, headers))
            return out
        finally:
            await producer.stop()

    asyncio.run(ensure_topics(kafka_bootstrap, prefix))
    before = asyncio.run(signed_records(env, prefix=prefix))
    asyncio.run(write(kafka_bootstrap, prefix, before))
    notarise(kafka_bootstrap, prefix)
    keys, state = tmp_path / "pinned.json", tmp_path / "state"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
    first = run_verify(kafka_bootstrap, prefix, keys, state, capsys)
    assert first[0] == 0, first

    del person_key  # crypto-shredding: the key is gone; the log is not touched
    erasure = to_envelope(
        PersonErased(person_id="anna", erased_on=date(2026, 7, 1)), source="/lgnet/intake", city="torino"
    )
    asyncio.run(write(kafka_bootstrap, prefix, asyncio.run(signed_records(erasure, prefix=prefix))))
    notarise(kafka_bootstrap, prefix)
    rc, summary = run_verify(kafka_bootstrap, prefix, keys, state, capsys)
    assert rc == 0 and summary["events"] == 2 and summary["signatures_verified"] == 2, summary
    on_kafka = asyncio.run(read_records(kafka_bootstrap, physical("intake.events", prefix)))
    assert any(sealed.ct.encode() in (r.value or b"") for r in on_kafka)  # the sealed bytes, unchanged


# --------------------------------------------------------------------------- an auditor's setup on a real cluster
# From an outside test, a new auditor on a `make up` deployment: a wrong topic prefix was a clean audit of nothing,
# refused credentials read as an unreachable broker, and a principal that may not read a fact topic as tampering.
# Each is a setup problem: one JSON line naming it, exit 2.


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    """`lgnet-audit <argv>` as an auditor runs it: its exit status, its JSON line and its stderr (the table)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        audit.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(ended.value.code or 0), json.loads(out.strip().splitlines()[-1]), err


def verify_with_one_more_key(
    bootstrap: str, prefix: str, records: list[Rec], signer: FactSigner, tmp_path: Path, capsys: Any
) -> tuple[int, dict[str, Any], str]:
    """`records` written and notarised with `signer`'s key registered besides the log's own, the registry's keys
    pinned (that one among them) and the log verified: verify's exit status, JSON line and table."""

    async def register() -> None:
        producer = AIOKafkaProducer(**client_kwargs(bootstrap))
        await producer.start()
        try:
            await publish_key(producer, signer.key, prefix)
        finally:
            await producer.stop()

    asyncio.run(write(bootstrap, prefix, records))
    asyncio.run(register())
    notarise(bootstrap, prefix)
    keys = tmp_path / "pinned-keys.json"
    rc, line, _ = cli(["--topic-prefix", prefix, "keys", "--out", str(keys)], capsys)
    assert rc == 0 and signer.key.key_id in keys.read_text(), line
    verify = ["--topic-prefix", prefix, "verify", "--keys", str(keys), "--notary-key", str(NOTARY.verifier)]
    return cli(verify, capsys)


@pytest.fixture(scope="module")
def small_log(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A signed, notarised log with a record on intake.special too (need-to-know: not every reader may read it),
    and the auditor's file of its producers' keys (intake's and reporting's)."""
    prefix = new_topic_prefix()
    records = asyncio.run(original(kafka_bootstrap, prefix))

    async def special() -> Rec:
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            env = special_stand_in()
            value, headers = await signed_fact(producer, prefix, env, "intake.special")
            return "intake.special", partition_of(env.key, 6) or 0, env.key, value, headers
        finally:
            await producer.stop()

    asyncio.run(write(kafka_bootstrap, prefix, [*records, asyncio.run(special())]))
    notarise(kafka_bootstrap, prefix)
    keys = tmp_path_factory.mktemp("auditor") / "pinned-keys.json"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
    return prefix, keys


def test_a_wrong_topic_prefix_is_a_setup_error_not_a_clean_audit_of_nothing(
    small_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--topic-prefix foo` (or LGNET_TOPIC_PREFIX=foo) reported {"ok": true, "events": 0, "partitions": 0}, exit 0;
    `keys` wrote {"keys": []}, exit 0."""
    _, keys = small_log
    wrong = new_topic_prefix("foo")
    verify = ["verify", "--keys", str(keys), "--notary-key", str(NOTARY.verifier)]
    rc, line, _ = cli(["--topic-prefix", wrong, *verify], capsys)
    assert rc == 2 and line["ok"] is False, line
    assert line["error"].startswith(f"no fact topics found under prefix {wrong!r}: none of {wrong}lgnet."), line
    monkeypatch.setenv("LGNET_TOPIC_PREFIX", wrong)
    rc, line, _ = cli(verify, capsys)
    assert rc == 2 and line["error"].startswith(f"no fact topics found under prefix {wrong!r}"), line
    out = tmp_path / "keys.json"
    rc, line, _ = cli(["keys", "--out", str(out)], capsys)
    assert rc == 2 and line["error"].startswith(f"no signing keys found under prefix {wrong!r}"), line
    assert not out.exists()


def test_refused_credentials_are_named_as_such_not_as_an_unreachable_broker(
    small_log: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong SASL password or an unknown user was "broker unreachable: KafkaConnectionError: Unable to
    bootstrap"."""
    prefix, keys = small_log
    verify = ["--topic-prefix", prefix, "verify", "--keys", str(keys), "--notary-key", str(NOTARY.verifier)]
    user = os.environ["KAFKA_SASL_USERNAME"]
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "not-the-password")
    rc, line, _ = cli(verify, capsys)
    assert rc == 2 and f"the broker refused the credentials of {user!r}" in line["error"], line
    unknown = f"nobody-{os.urandom(4).hex()}"
    monkeypatch.setenv("KAFKA_SASL_USERNAME", unknown)
    rc, line, _ = cli(["--topic-prefix", prefix, "keys"], capsys)
    assert rc == 2 and f"the broker refused the credentials of {unknown!r}" in line["error"], line


async def _provisioned(bootstrap: str, admin_security: Any, prefix: str, principals: list[Any]) -> dict[str, str]:
    """Principals provisioned as `lgnet-kafka-admin` does under this prefix, once each can log in: name -> password."""
    from aiokafka.admin import AIOKafkaAdminClient
    from lgnet_shared.kafka_admin import Admin
    from lgnet_shared.testing.kafka_access import as_user

    out = {}
    async with Admin(bootstrap, admin_security, prefix) as admin:
        for principal in principals:
            password, _ = await admin.provision(principal)
            assert password is not None
            out[principal.name] = password
    for name, password in out.items():  # a new credential reaches the broker's authenticator a moment later
        for _ in range(20):
            client = AIOKafkaAdminClient(**client_kwargs(bootstrap, as_user(admin_security, name, password)))
            try:
                await client.start()
                break
            except Exception:
                await asyncio.sleep(0.5)
            finally:
                await client.close()
    return out


async def _deprovisioned(bootstrap: str, admin_security: Any, prefix: str, principals: list[Any]) -> None:
    from lgnet_shared import kafka_acls as ka
    from lgnet_shared.kafka_admin import Admin

    async with Admin(bootstrap, admin_security, prefix) as admin:
        for principal in principals:
            await ka.delete_credentials(admin.client, principal.name)
            await ka.delete_acls(admin.client, principal.user)


def test_a_principal_that_may_not_read_a_fact_topic_is_a_setup_error_not_tampering(
    kafka_bootstrap: str,
    small_log: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The national coordination's principal, which by design may not read intake.special, was told "FAIL
    intake.special partition 0 offset 0: log truncated: it ends at offset 0, a signed checkpoint covers 1 records"
    (once per checkpoint): it read as tampering. The auditor's principal verifies the same log; with a wrong
    prefix (it may read no topic under it) it is told no fact topic was found."""
    from lgnet_shared import kafka_acls as ka
    from lgnet_shared.kafka import KafkaSecurity

    prefix, keys = small_log
    uid = os.urandom(4).hex()
    national, auditor = ka.Principal.national(f"nat-{uid}"), ka.Principal.auditor(f"audit-{uid}")
    admin = KafkaSecurity.from_env()  # the platform's admin provisions (and then removes) the two principals
    passwords = asyncio.run(_provisioned(kafka_bootstrap, admin, prefix, [national, auditor]))
    try:
        verify = ["verify", "--keys", str(keys), "--notary-key", str(NOTARY.verifier)]
        monkeypatch.setenv("KAFKA_SASL_USERNAME", national.name)
        monkeypatch.setenv("KAFKA_SASL_PASSWORD", passwords[national.name])
        rc, line, table = cli(["--topic-prefix", prefix, *verify], capsys)
        assert rc == 2, (line, table)
        special = physical("intake.special", prefix)
        # worded as the replay words it (setup_errors.not_authorised): one sentence for one cause in both tools
        wanted = f"KAFKA_SASL_USERNAME {national.name}: not authorised to read {special}: use the auditor principal"
        assert line["error"].startswith(wanted), line
        assert "FAIL" not in table
        monkeypatch.setenv("KAFKA_SASL_USERNAME", auditor.name)
        monkeypatch.setenv("KAFKA_SASL_PASSWORD", passwords[auditor.name])
        rc, line, _ = cli(["--topic-prefix", prefix, *verify], capsys)
        assert rc == 0 and line["events"] == 62 and line["failures"] == 0, line
        rc, line, _ = cli(["--topic-prefix", new_topic_prefix("foo"), *verify], capsys)
        assert rc == 2 and line["error"].startswith("no fact topics found under prefix"), line
        assert f"may be read by {auditor.name}" in line["error"], line
    finally:
        asyncio.run(_deprovisioned(kafka_bootstrap, admin, prefix, [national, auditor]))


def test_a_rotated_key_is_pinned_from_a_file_of_its_own_and_the_pinned_file_is_never_replaced(
    small_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key left out of the pinned file (a deployment's rotated key, say) was "not registered" although it is,
    and `keys --out <the pinned file>` silently replaced what the auditor had confirmed. The flow of
    docs/reporting.md: verify names the key, `keys --pinned` writes only the keys not pinned yet to a new file, the
    auditor checks their fingerprints and verifies with both files."""
    prefix, all_keys = small_log
    doc = json.loads(all_keys.read_text())
    rotated = next(k for k in doc["keys"] if k["service"] == "reporting")  # signed the report record
    pinned = tmp_path / "pinned-keys.json"
    pinned.write_text(json.dumps({"keys": [k for k in doc["keys"] if k != rotated]}))
    before = pinned.read_text()
    verify = ["--topic-prefix", prefix, "verify", "--keys", str(pinned), "--notary-key", str(NOTARY.verifier)]
    rc, line, table = cli(verify, capsys)
    reason = f"producer signature: signed with key {rotated['key_id']!r}, which is not in your pinned keys"
    assert rc == 1 and line["failures"] == 1, line
    assert line["first_failures"] == [{"topic": "reporting.events", "partition": 0, "offset": 0, "reason": reason}]
    assert f"FAIL reporting.events partition 0 offset 0: {reason}" in table.splitlines()

    rc, line, _ = cli(["--topic-prefix", prefix, "keys", "--out", str(pinned)], capsys)
    assert rc == 2 and line["error"].startswith(f"--out {pinned}: exists"), line
    assert pinned.read_text() == before
    new = tmp_path / "new-keys.json"
    rc, line, table = cli(["--topic-prefix", prefix, "keys", "--pinned", str(pinned), "--out", str(new)], capsys)
    assert (rc, line) == (0, {"keys": 1, "written": str(new), "already_pinned": 1}), line
    assert [k["key_id"] for k in json.loads(new.read_text())["keys"]] == [rotated["key_id"]]
    header, *rows = table.splitlines()
    assert header.split()[:2] == ["key", "id"] and [row.split()[0] for row in rows] == [rotated["key_id"]], table
    rc, line, _ = cli([*verify, "--keys", str(new)], capsys)
    assert rc == 0 and line["events"] == 62 and line["failures"] == 0, line
    nothing = tmp_path / "nothing-new.json"  # every key pinned already: no file, not an empty one
    argv = ["--topic-prefix", prefix, "keys", "--pinned", str(pinned), "--pinned", str(new), "--out", str(nothing)]
    rc, line, _ = cli(argv, capsys)
    assert (rc, line) == (0, {"keys": 0, "written": None, "already_pinned": 2}) and not nothing.exists(), line


# --------------------------------------------------------------------------- a broker administrator rewrites history
# Read as the cluster's super user would attack a new auditor's first audit (no saved state yet): records dropped
# from a partition, or deleted at its start with the admin API, and the checkpoint topic rewritten with the
# notary's genuine checkpoints of every other partition (a super user may delete and recreate any topic).


@pytest.fixture(scope="module")
def notarised(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Rec], list[Any], Path]:
    """A genuine signed log, its notary's checkpoints (records of the checkpoint topic) and the pinned keys."""
    prefix = new_topic_prefix()
    records = asyncio.run(original(kafka_bootstrap, prefix))
    asyncio.run(write(kafka_bootstrap, prefix, records))
    notarise(kafka_bootstrap, prefix)
    notes = asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", prefix)))
    keys = tmp_path_factory.mktemp("auditor") / "pinned-keys.json"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    assert audit._run(audit.keys, audit.audit_parse(["--topic-prefix", prefix, "keys", "--out", str(keys)])) == 0
    return records, notes, keys


def _but_partition(notes: list[Any], topic: str, partition: int) -> list[tuple[bytes, bytes]]:
    """The genuine checkpoints of every topic-partition except this one."""
    return [(r.key, r.value) for r in notes if not r.key.endswith(f"lgnet/{topic}/{partition}".encode())]


def test_a_partition_rewritten_and_its_checkpoints_left_out_fails_a_first_audit(
    kafka_bootstrap: str, notarised: tuple[list[Rec], list[Any], Path], tmp_path: Path, capsys: Any
) -> None:
    """A payment dropped: the administrator rewrites one partition without the record (every other record keeps
    its producer's signature, and the offsets run on without a gap) and leaves that partition's checkpoints out of
    the checkpoint topic. Every signature verified, every checkpoint present matched: "ok", exit 0."""
    records, notes, keys = notarised
    dropped = on_partition(records)[1]
    copy = new_topic_prefix()
    asyncio.run(write(kafka_bootstrap, copy, [r for i, r in enumerate(records) if i != dropped]))
    asyncio.run(copy_checkpoints(kafka_bootstrap, copy, _but_partition(notes, "intake.events", PARTITION)))
    rc, summary = run_verify(kafka_bootstrap, copy, keys, tmp_path / "state", capsys)
    left = len(on_partition(records)) - 1
    assert rc == 1 and summary["ok"] is False, summary
    assert summary["first_failures"] == [
        {
            "topic": "intake.events",
            "partition": PARTITION,
            "offset": 0,
            "reason": f"no signed checkpoint of this partition: none of its {left} records is anchored (the notary"
            " has not checkpointed it yet, or its checkpoints were removed)",
        }
    ], summary
    assert not (tmp_path / "state" / "state.json").exists()


def test_records_deleted_at_the_start_of_a_partition_are_named_where_the_log_now_starts(
    kafka_bootstrap: str,
    notarised: tuple[list[Rec], list[Any], Path],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The administrator deletes every record of one partition with the admin API (`delete_records`: the log now
    starts at its end offset; retention shortened does the same) and leaves its checkpoints out: the audit read no
    record there and said ok. With the checkpoints kept it said "log truncated: it ends at offset 0" although the
    log ends where it always did: its start moved. The first records deleted only: one failure at offset 0 (not an
    offset gap at the first record left, a root mismatch per checkpoint and, against a saved state, "record
    differs" and forks)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.records_to_delete import RecordsToDelete

    records, notes, keys = notarised
    end = len(on_partition(records))
    genuine = [(r.key, r.value) for r in notes]

    async def delete_before(prefix: str, offset: int) -> None:
        admin = AIOKafkaAdminClient(**client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            tp = TopicPartition(physical("intake.events", prefix), PARTITION)
            await admin.delete_records({tp: RecordsToDelete(offset)})
        finally:
            await admin.close()

    saved = tmp_path / "saved"  # an audit of the log as it was
    before = new_topic_prefix()
    asyncio.run(write(kafka_bootstrap, before, records))
    asyncio.run(copy_checkpoints(kafka_bootstrap, before, genuine))
    assert run_verify(kafka_bootstrap, before, keys, saved, capsys)[0] == 0
    # (the log's new start, the partition's checkpoints kept, the saved state given)
    for start, kept, with_state in [(end, False, False), (end, True, False), (2, True, False), (2, True, True)]:
        copy = new_topic_prefix()
        asyncio.run(write(kafka_bootstrap, copy, records))
        asyncio.run(delete_before(copy, start))
        asyncio.run(
            copy_checkpoints(
                kafka_bootstrap, copy, genuine if kept else _but_partition(notes, "intake.events", PARTITION)
            )
        )
        state = tmp_path / f"state-{start}-{kept}-{with_state}"
        if with_state:
            in_place(saved, state, copy)
        rc, summary = run_verify(kafka_bootstrap, copy, keys, state, capsys)
        gone = f"records deleted: offsets 0 to {start - 1} are gone, the partition now starts at offset {start}"
        assert rc == 1, (start, kept, summary)
        assert summary["first_failures"] == [
            {"topic": "intake.events", "partition": PARTITION, "offset": 0, "reason": gone}
        ], (start, kept, with_state, summary["first_failures"])
        if start < end:  # partitions read by worker processes: the same finding
            monkeypatch.setattr(audit_service, "MIN_PARALLEL", 0)
            assert run_verify(kafka_bootstrap, copy, keys, state, capsys, workers=3) == (rc, summary)
            monkeypatch.undo()


def test_a_state_folder_saved_by_an_audit_of_another_topic_prefix_is_named_not_taken_for_tampering(
    kafka_bootstrap: str,
    small_log: tuple[str, Path],
    notarised: tuple[list[Rec], list[Any], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two logs under two topic prefixes of one cluster, notarised with the same notary key (derived from one
    master key and deployment name): an auditor who gave the state folder of one audit to the other's was told
    "record differs from the one audited last time (changed, dropped, reordered or inserted here)" for every
    partition, and forks — a rewritten log, when the folder was the wrong one. It is a setup error naming both
    prefixes; the folder is left as it was."""
    prefix, keys = small_log
    records, notes, _ = notarised
    state = tmp_path / "state"
    rc, summary = run_verify(kafka_bootstrap, prefix, keys, state, capsys)
    assert rc == 0, summary
    before = (state / "state.json").read_text()
    other = new_topic_prefix()
    asyncio.run(write(kafka_bootstrap, other, records))
    asyncio.run(copy_checkpoints(kafka_bootstrap, other, [(r.key, r.value) for r in notes]))
    rc, line = run_verify(kafka_bootstrap, other, keys, state, capsys)
    assert rc == 2 and line["ok"] is False, line
    assert line["error"].startswith(
        f"--state {state}: saved by an audit of topic prefix {prefix!r}, not {other!r}: the folder of another log's"
        " audits?"
    ), line
    assert (state / "state.json").read_text() == before


def test_facts_a_report_was_computed_from_must_be_under_a_checkpoint(
    kafka_bootstrap: str,
    notarised: tuple[list[Rec], list[Any], Path],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A report counted a payment; the administrator drops it from the log afterwards. The report's own record
    stays anchored, the partition keeps its older checkpoints (which the records below them still match), only
    the checkpoints written since are left out: `lgnet-audit verify` said ok — every record verified, the dropped
    one merely "after the newest checkpoint" — though the report names (its `positions`) facts no checkpoint
    covers any more. Each report's positions must be covered by a checkpoint of that partition."""
    from datetime import UTC, datetime

    from lgnet_shared.events.reporting import ReportPublished
    from lgnet_shared.topics import TOPICS

    records, _, keys = notarised
    idx = on_partition(records)
    end = len(idx)
    later = set(idx[-3:])  # the partition's last three records: written after its first checkpoint
    staging, copy = new_topic_prefix(), new_topic_prefix()  # the genuine history, then the log rewritten
    report = to_envelope(
        ReportPublished(
            report_id="r-2026-03",
            report="city_summary",
            scope="torino",
            as_of=date(2026, 3, 31),
            digest="0" * 64,
            positions={physical("intake.events", copy): {str(PARTITION): end}},
            published_at=datetime.now(UTC),
            method=2,
            threshold=5,
        ),
        source="/lgnet/reporting",
        city="torino",
    )

    async def signed_report() -> Rec:
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            value, headers = await signed_fact(producer, staging, report, "reporting.events")
        finally:
            await producer.stop()
        home = partition_of(report.key, TOPICS["reporting.events"].partitions) or 0
        return "reporting.events", home, report.key, value, headers

    asyncio.run(
        write(
            kafka_bootstrap, staging, [r for i, r in enumerate(records) if r[0] == "intake.events" and i not in later]
        )
    )
    notarise(kafka_bootstrap, staging)  # the partition checkpointed at end - 3 records
    published = asyncio.run(signed_report())
    asyncio.run(write(kafka_bootstrap, staging, [*(records[i] for i in sorted(later)), published]))
    notarise(kafka_bootstrap, staging)  # at end, and the report anchored
    notes = asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", staging)))
    newest = f"lgnet/intake.events/{PARTITION}".encode()
    kept = [
        (r.key, r.value)
        for r in notes
        if not (r.key.endswith(newest) and (r.value or b"").split(b"\n")[1] == str(end).encode())
    ]
    assert len(kept) == len(notes) - 1

    dropped = idx[-2]
    asyncio.run(
        write(
            kafka_bootstrap,
            copy,
            [*(r for i, r in enumerate(records) if r[0] == "intake.events" and i != dropped), published],
        )
    )
    asyncio.run(copy_checkpoints(kafka_bootstrap, copy, kept))
    rc, summary = run_verify(kafka_bootstrap, copy, keys, tmp_path / "state", capsys)
    assert rc == 1, summary
    assert summary["first_failures"] == [
        {
            "topic": "intake.events",
            "partition": PARTITION,
            "offset": end - 3,
            "reason": f"records a published report was computed from (reporting.events partition {published[1]}"
            f" offset 0: up to offset {end - 1}) are not all under a checkpoint: the newest covers {end - 3}"
            " (records changed or dropped there and the checkpoints since removed?)",
        }
    ], summary
    monkeypatch.setattr(audit_service, "MIN_PARALLEL", 0)  # partitions read by worker processes: the same finding
    assert run_verify(kafka_bootstrap, copy, keys, tmp_path / "state", capsys, workers=3) == (rc, summary)


def test_checkpoints_published_while_the_log_is_read_are_no_truncation(
    kafka_bootstrap: str,
    notarised: tuple[list[Rec], list[Any], Path],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a live deployment the log grows, and the notary checkpoints it every minute, while an audit reads
    millions of records: the facts were read up to the ends taken at the start, the checkpoint topic to its end
    afterwards, so a checkpoint published meanwhile covered records the audit had not read — "log truncated: it ends
    at offset N, a signed checkpoint covers N+k records", exit 1, on a log nobody touched. The checkpoint topic's
    end is taken before the facts' ends: every checkpoint read covers records that were there to read."""
    records, notes, keys = notarised
    copy = new_topic_prefix()
    asyncio.run(write(kafka_bootstrap, copy, records))
    asyncio.run(copy_checkpoints(kafka_bootstrap, copy, [(r.key, r.value) for r in notes]))
    more = [employment(f"later-{i}") for i in range(8)]
    read_checkpoints = facts_log.checkpoint_notes

    async def meanwhile(bootstrap: str, prefix: str, *args: Any, **kwargs: Any) -> Any:
        """The log grows and the notary checkpoints it between the audit's reading of the facts and its reading of
        the checkpoints."""
        producer = AIOKafkaProducer(**client_kwargs(bootstrap))
        await producer.start()
        try:
            for env in more:
                value, headers = await signed_fact(producer, prefix, env, "intake.events")
                await producer.send_and_wait(
                    physical("intake.events", prefix),
                    value,
                    key=env.key,
                    headers=headers,
                    partition=partition_of(env.key, 6),
                )
        finally:
            await producer.stop()
        await audit.notary_once(bootstrap, prefix, NOTARY)
        async for item in read_checkpoints(bootstrap, prefix, *args, **kwargs):
            yield item

    monkeypatch.setattr(facts_log, "checkpoint_notes", meanwhile)
    rc, summary = run_verify(kafka_bootstrap, copy, keys, tmp_path / "state", capsys)
    assert (rc, summary["failures"], summary["events"]) == (0, 0, len(records)), summary["first_failures"]


def test_a_citys_registered_key_signing_another_citys_fact_fails_verify_named_at_its_place(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read as Trieste's IT team would attack the audit (#16): their deployment's key is registered on its own
    registry topic and pinned by the auditor, as every city's is. A fact it signs saying it is Torino's was
    dead-lettered by the consumers and skipped by the replay, but `lgnet-audit verify` said ok (exit 0): the
    auditor's check vouched for a Torino fact Torino never wrote. It fails there: exit 1, the JSON line and the
    table name its topic, partition, offset and the reason."""
    prefix = new_topic_prefix()
    records = asyncio.run(original(kafka_bootstrap, prefix))
    trieste = FactSigner(os.urandom(32), "trieste", "intake", "trieste")
    forged = employment("forged-by-trieste")  # city="torino"
    value, signature = trieste.sign(*forged.to_structured())
    partition = partition_of(forged.key, 6) or 0
    headers = [*forged.to_structured()[1], signature]
    offset = sum(1 for r in records if r[0] == "intake.events" and r[1] == partition)
    records.append(("intake.events", partition, forged.key, value, headers))

    rc, line, table = verify_with_one_more_key(kafka_bootstrap, prefix, records, trieste, tmp_path, capsys)
    reason = "producer signature: 'torino' is not the city of the signing deployment (trieste)"
    assert rc == 1 and line["ok"] is False and line["failures"] == 1, line
    assert line["first_failures"] == [
        {"topic": "intake.events", "partition": partition, "offset": offset, "reason": reason}
    ]
    assert f"FAIL intake.events partition {partition} offset {offset}: {reason}" in table.splitlines(), table


def test_checkpoints_a_notary_of_another_topic_prefix_signed_are_refused_naming_it(
    kafka_bootstrap: str, notarised: tuple[list[Rec], list[Any], Path], tmp_path: Path, capsys: Any
) -> None:
    """A staging deployment (its own topic prefix) runs a notary with the production notary's key (one master key).
    The administrator drops a payment from production's log, writes the same rewritten log under staging's prefix,
    lets staging's notary checkpoint it, and puts those checkpoints in production's checkpoint topic in place of
    the genuine ones: the origins named no prefix (`lgnet/<topic>/<partition>`), so a first audit of production
    said ok. A checkpoint's origin names the prefix of the log it is of; each of staging's is refused, named."""
    records, _, keys = notarised
    dropped = on_partition(records)[1]
    rewritten = [r for i, r in enumerate(records) if i != dropped]
    production, staging = new_topic_prefix(), new_topic_prefix()
    asyncio.run(write(kafka_bootstrap, production, rewritten))
    asyncio.run(write(kafka_bootstrap, staging, rewritten))
    notarise(kafka_bootstrap, staging)
    staged = asyncio.run(read_records(kafka_bootstrap, physical("checkpoints", staging)))
    asyncio.run(copy_checkpoints(kafka_bootstrap, production, [(r.key, r.value) for r in staged], as_signed=True))
    rc, summary = run_verify(kafka_bootstrap, production, keys, tmp_path / "state", capsys)
    assert rc == 1 and summary["ok"] is False and summary["checkpoints"] == 0, summary
    refused = [f for f in summary["first_failures"] if f["topic"] == "checkpoints" and f["offset"] is not None]
    assert [f["offset"] for f in refused] == list(range(len(staged))), summary
    for f, r in zip(refused, staged, strict=True):
        name = r.key.decode()
        assert f["reason"] == (
            f"checkpoint of another log: its origin {name!r} is under topic prefix {staging!r}, not this log's"
            f" {production!r} (a notary of another deployment sharing this one's key signed it)"
        ), f
    assert not (tmp_path / "state" / "state.json").exists()


def test_a_fact_of_another_services_type_signed_by_the_topics_writer_fails_the_audit_naming_it(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Torino's compromised housing deployment: its key may sign housing facts and its principal may write
    housing.events, so it publishes a payments `contribution_paid` there, correctly signed with its own key. The
    replay projected it into Torino's payments and `lgnet-audit verify` said ok (exit 0): a report to the EU fund
    inflated, vouched for. Verify fails there, naming the topic, partition, offset and reason."""
    from lgnet_shared.events.payments import ContributionKind, ContributionPaid

    prefix = new_topic_prefix()
    records = asyncio.run(original(kafka_bootstrap, prefix))
    housing = FactSigner(os.urandom(32), "torino", "housing", "torino")
    paid = ContributionPaid(
        request_id="req-forged", batch_id="b-1", case_id="c-1", household_id="h-1", city="torino",
        kind=ContributionKind.RENT, budget_line_id="bl-1", amount_cents=500_000, paid_on=date(2026, 3, 1),
    )  # fmt: skip
    forged = to_envelope(paid, source="/lgnet/housing", city="torino")
    value, signature = housing.sign(*forged.to_structured())
    partition = partition_of(forged.key, 6) or 0
    records.append(("housing.events", partition, forged.key, value, [*forged.to_structured()[1], signature]))

    rc, line, table = verify_with_one_more_key(kafka_bootstrap, prefix, records, housing, tmp_path, capsys)
    reason = (
        "producer signature: 'lgnet.payments.contribution_paid' does not belong on housing.events:"
        " it is carried by payments.events"
    )
    assert rc == 1 and line["ok"] is False and line["failures"] == 1, line
    assert line["first_failures"] == [
        {"topic": "housing.events", "partition": partition, "offset": 0, "reason": reason}
    ]
    assert f"FAIL housing.events partition {partition} offset 0: {reason}" in table.splitlines(), table
