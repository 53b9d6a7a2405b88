"""Pure parts of the audit and the notary: the split of partitions among verify's workers, the notary's OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from lgnet_reporting.entrypoints import audit as audit_cli
from lgnet_reporting.service_layer.audit import balanced


def test_partitions_are_shared_evenly_among_workers() -> None:
    ends = {"a": {"0": 100, "1": 90, "2": 10, "3": 0}, "b": {"0": 95}}
    groups = balanced(ends, 2)
    sizes = sorted(sum(o for ps in g.values() for o in ps.values()) for g in groups)
    assert sizes == [110, 185] and all("3" not in g.get("a", {}) for g in groups)
    assert balanced(ends, 1) == [{"a": {"0": 100, "1": 90, "2": 10}, "b": {"0": 95}}]


def test_the_committed_openapi_of_the_notary_is_current() -> None:
    import json
    from pathlib import Path

    from lgnet_reporting.entrypoints.notary_http import openapi_document

    committed = Path(__file__).parents[3] / "docs" / "reporting" / "notary-openapi.json"
    assert json.loads(committed.read_text()) == openapi_document(), (
        "regenerate: python -m lgnet_reporting.entrypoints.notary_http > docs/reporting/notary-openapi.json"
    )


def test_the_audit_verifies_both_signature_header_versions_in_one_log_and_names_a_tampered_record() -> None:
    """Auditors replay logs written before the binary header (version 2): a partition holding version 1 records
    (text: batches and a lone plain signature) followed by version 2 ones verifies; a changed value of either
    version is named at its offset."""
    import os
    from datetime import date
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
    from lgnet_shared.fact_signing import FactSigner

    seed = os.urandom(32)
    old = FactSigner(seed, "torino", "intake", "torino", header_version=1)
    new = FactSigner(seed, "torino", "intake", "torino")
    assert old.key.key_id == new.key.key_id  # the same key: only the header's form changed

    def facts(n: int) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
        envs = [
            to_envelope(
                EmploymentRecorded(person_id=f"p{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1)),
                source="/lgnet/intake",
                city="torino",
            )
            for i in range(n)
        ]
        return [(v, list(h)) for v, h in (e.to_structured() for e in envs)]

    rows = []
    for signer, batch in ((old, facts(70)), (old, facts(1)), (new, facts(70)), (new, facts(1))):
        rows += [(v, [*h, s]) for (v, s), (_, h) in zip(signer.sign_batch(batch), batch, strict=True)]

    def audit(records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> Audit:
        a = Audit(keys={new.key.key_id: new.key}, notaries=[], partitions={"intake.events": 1})
        for offset, (value, headers) in enumerate(records):
            a.record(
                "intake.events", SimpleNamespace(partition=0, offset=offset, key=None, value=value, headers=headers)
            )
        return a

    clean = audit(rows)
    assert clean.failures == [] and clean.signatures == len(rows) == 142
    assert {h[-1][1][:1] for _, h in rows} == {b"e", b"\x02"}
    tampered = list(rows)
    for at in (3, 100):  # a version 1 and a version 2 record
        value, headers = tampered[at]
        tampered[at] = (value.replace(b"training", b"employed"), headers)
    failures = audit(tampered).failures
    assert [(f.offset, f.reason.split(" with key")[0]) for f in failures] == [
        (3, "producer signature: signature does not verify"),
        (100, "producer signature: signature does not verify"),
    ]


def _signed_rows(n: int, batch: int) -> tuple[Any, list[tuple[bytes, list[tuple[str, bytes]]]]]:
    """n signed facts (version 2 headers), signed `batch` at a time as the relay signs one partition's batch."""
    import os
    from datetime import date

    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
    from lgnet_shared.fact_signing import FactSigner

    signer = FactSigner(os.urandom(32), "torino", "intake", "torino")
    rows = []
    for start in range(0, n, batch):
        facts = []
        for i in range(start, min(n, start + batch)):
            e = EmploymentRecorded(person_id=f"p{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
            v, h = to_envelope(e, source="/lgnet/intake", city="torino").to_structured()
            facts.append((v, list(h)))
        rows += [(v, [*h, s]) for (v, s), (_, h) in zip(signer.sign_batch(facts), facts, strict=True)]
    return signer, rows


def test_the_audit_checks_a_fetch_of_whole_signed_batches_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetch holding whole signed batches is proven batch by batch (each tree rebuilt once, one signature each),
    not record by record through its proof; a batch split between two fetches is checked record by record. Either
    way the verdicts are those of checking each record alone: a changed value is named at its offset."""
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared import merkle
    from lgnet_shared.fact_signing import BATCH  # one signature per BATCH records of a relay's batch

    signer, rows = _signed_rows(3 * BATCH + 20, 3 * BATCH + 20)
    walked = []
    original = merkle.root_from_inclusion
    monkeypatch.setattr(merkle, "root_from_inclusion", lambda *a: walked.append(a) or original(*a))

    def audit(rows: list[tuple[bytes, list[tuple[str, bytes]]]], fetches: list[int]) -> Audit:
        a = Audit(keys={signer.key.key_id: signer.key}, notaries=[], partitions={"intake.events": 1})
        records = [
            SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
            for o, (v, h) in enumerate(rows)
        ]
        for start, end in zip([0, *fetches], [*fetches, len(records)], strict=True):
            a.records("intake.events", records[start:end])
        return a

    n = len(rows)
    whole = audit(rows, [2 * BATCH])  # two fetches: signed batches 1-2, then 3-4
    assert (whole.events, whole.signatures, whole.failures, len(walked)) == (n, n, [], 0)
    split = audit(rows, [BATCH + 10])  # the second signed batch split between the fetches
    assert (split.signatures, split.failures, len(walked)) == (n, [], BATCH)
    tampered = list(rows)
    tampered[42] = (rows[42][0].replace(b"training", b"employed"), rows[42][1])
    failures = audit(tampered, [2 * BATCH]).failures
    assert [(f.offset, f.reason.split(" with key")[0]) for f in failures] == [
        (42, "producer signature: signature does not verify")
    ]
    assert (
        whole.trees[("intake.events", 0)].root()
        == audit(rows, [10, 20, BATCH + 10, n - 1]).trees[("intake.events", 0)].root()
    )


@pytest.mark.parametrize(("main", "prog"), [(audit_cli.main, "lgnet-audit"), (audit_cli.notary_main, "lgnet-notary")])
def test_each_command_describes_itself(main: Any, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    """From an outside test: `lgnet-notary --help` described itself as the auditor's verification."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert f"`{prog}`:" in out and out.count("`lgnet-") == 1


def test_verify_against_an_unreachable_broker_prints_only_its_own_line(tmp_path: Any) -> None:
    """From an outside test: `lgnet-audit verify` with nothing listening at the bootstrap address printed
    aiokafka's "Unable connect to ..." and asyncio's "Unclosed AIOKafkaConsumer" on stderr beside its JSON line.
    The auditor sees the command's one JSON line naming the broker and the reason, and nothing else."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from lgnet_shared.checkpoints import NotarySigner
    from lgnet_shared.fact_signing import pinned_file

    with socket.socket() as s:  # a port where nothing listens (bound, never listening, then released)
        s.bind(("127.0.0.1", 0))
        broker = f"127.0.0.1:{s.getsockname()[1]}"
    keys = tmp_path / "pinned-keys.json"
    keys.write_text(json.dumps(pinned_file([])))
    notary_key = str(NotarySigner("lgnet-notary.test", os.urandom(32)).verifier)
    run = subprocess.run(
        [sys.executable, "-c", "from lgnet_reporting.entrypoints.audit import main; main()",
         "verify", "--keys", str(keys), "--notary-key", notary_key],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run
    assert run.stderr == "", run.stderr  # no library chatter
    (line,) = run.stdout.splitlines()
    answer = json.loads(line)
    assert answer["ok"] is False
    assert answer["error"].startswith(f"KAFKA_BOOTSTRAP_SERVERS {broker}: broker unreachable"), answer


def test_help_lists_reportings_own_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: `--help` listed the shared variables only, not the service's own."""
    from lgnet_reporting.entrypoints.main import SPEC
    from lgnet_shared.testing.service_help import help_lines

    lines = help_lines(SPEC, monkeypatch, capsys)
    assert "  LGNET_REPORTING_MIN_CELL  (default '5')" in lines and "  LGNET_NOTARY_VERIFIER  (optional)" in lines


def test_a_verify_worker_keeps_the_kafka_clients_log_lines_off_the_auditors_screen() -> None:
    """`lgnet-audit verify` prints its table and one JSON line; the command keeps library log lines off stderr, but its
    worker processes (`--workers`, forked clean) did not, so a Kafka client's warning in a worker reached the auditor's
    screen. What a worker finds comes back to the command as its share, never as a log line."""
    import subprocess
    import sys

    script = """
import logging
from lgnet_reporting.service_layer import audit
async def reading(*args):
    logging.getLogger("aiokafka.conn").warning("Unable connect to node with id 1")
    return "share"
audit._read_share = reading
print(audit._share("127.0.0.1:1", "", {}, {}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "share", ""), done


def test_a_bad_legacy_deployments_declaration_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LGNET_LEGACY_DEPLOYMENTS", "north")
    with pytest.raises(SystemExit) as ended:
        audit_cli.main(["keys"])
    assert ended.value.code == 2
    assert capsys.readouterr().out.strip() == (
        '{"ok": false, "error": "ValueError: LGNET_LEGACY_DEPLOYMENTS: \'north\' is not <deployment>=<city>"}'
    )


def _unpinned_rows(n: int) -> Any:
    """An audit of n records of one partition signed by a key left out of the pinned file."""
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit

    signer, rows = _signed_rows(n, 1)
    other, _ = _signed_rows(1, 1)
    a = Audit(keys={other.key.key_id: other.key}, notaries=[], partitions={"intake.events": 1})
    a.records(
        "intake.events",
        [
            SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
            for o, (v, h) in enumerate(rows)
        ],
    )
    return signer, a


def test_records_of_a_key_left_out_of_the_pinned_file_are_summarised_per_key() -> None:
    """One key left out of the pinned file gave one FAIL line per record it signed (millions on a real log), worded
    "which is not registered" although it is registered, only not pinned. The JSON keeps the exact count; the human
    table names the first few records, then how many more the same key signed."""
    from lgnet_reporting.domain.audit import SHOWN_PER_REASON, table

    signer, a = _unpinned_rows(40)
    reason = f"producer signature: signed with key {signer.key.key_id!r}, which is not in your pinned keys"
    assert a.summary()["failures"] == 40 and {f.reason for f in a.failures} == {reason}
    rows = table(a)
    fails = [r for r in rows if r.startswith("FAIL ")]
    assert fails == [f"FAIL intake.events partition 0 offset {o}: {reason}" for o in range(SHOWN_PER_REASON)]
    assert rows[-1] == f"… and {40 - SHOWN_PER_REASON} more records with the same reason: {reason}", rows
    assert len(rows) == 2 + SHOWN_PER_REASON + 1


def test_the_docs_failure_table_uses_the_tools_wording() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "reporting.md").read_text()
    assert "| `producer signature: signed with key '…', which is not in your pinned keys` |" in doc
    assert "which is not registered" not in doc.split("## Auditing the log")[1].split("### Checking signatures")[0]
