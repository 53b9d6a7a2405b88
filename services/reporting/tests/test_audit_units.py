"""Pure parts of the audit and the notary: the split of partitions among verify's workers, the notary's OpenAPI."""

from __future__ import annotations

import base64
import os
from pathlib import Path
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
    walked: list[tuple[Any, ...]] = []
    original = merkle.root_from_inclusion

    def walking(*a: Any) -> Any:
        walked.append(a)
        return original(*a)

    monkeypatch.setattr(merkle, "root_from_inclusion", walking)

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
    from lgnet_shared.fact_signing import FactSigner, pinned_file

    with socket.socket() as s:  # a port where nothing listens (bound, never listening, then released)
        s.bind(("127.0.0.1", 0))
        broker = f"127.0.0.1:{s.getsockname()[1]}"
    keys = tmp_path / "pinned-keys.json"  # one key: a file with none is refused before the broker is asked
    keys.write_text(json.dumps(pinned_file([FactSigner(os.urandom(32), "torino", "intake", "torino").key])))
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


# --------------------------------------------------------------------------- an auditor's setup mistakes (#16)
# From an outside test, a new auditor on a real deployment: each setup mistake is one JSON line naming the argument,
# the file and what was expected, exit 2, before any record is read (the broker below answers nothing: a mistake
# found only after reading the log, or not at all, shows up as the broker's error instead).


def _setup_error(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    import json
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{s.getsockname()[1]}")
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        audit_cli.main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert ended.value.code == 2 and len(out) == 1, out
    answer = json.loads(out[0])
    assert answer["ok"] is False and "Traceback" not in answer["error"], answer
    assert "broker unreachable" not in answer["error"], answer  # found before any connection
    return str(answer["error"])


def _pinned(path: Any, n: int = 1) -> Any:
    import json
    import os

    from lgnet_shared.fact_signing import FactSigner, pinned_file

    path.write_text(json.dumps(pinned_file([FactSigner(os.urandom(32), "torino", "intake", "torino").key] * n)))
    return path


def _notary_key() -> str:
    import os

    from lgnet_shared.checkpoints import NotarySigner

    return str(NotarySigner("lgnet-notary.test", os.urandom(32)).verifier)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{}", 'no "keys" list'),  # an empty object
        ('{"lgnet/intake.events/0": {"note": "x", "leaves": "y"}}', 'no "keys" list'),  # a state.json by mistake
        ('[{"key_id": "x"}]', "a JSON list"),
        ("not json at all", "not JSON"),
        ('{"keys": []}', "holds no key"),
        ('{"keys": [{"key_id": "torino.intake.00"}]}', "key 1"),
        ('{"keys": "torino.intake"}', 'no "keys" list'),
    ],
)
def test_a_bad_pinned_keys_file_is_one_line_naming_the_argument_and_file(
    content: str, expected: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`{}` or a state.json was accepted (then every record failed as signed by a key "not registered"), a JSON list
    was an AttributeError, a non-JSON file named neither the file nor which argument."""
    keys = tmp_path / "pinned-keys.json"
    keys.write_text(content)
    error = _setup_error(["verify", "--keys", str(keys), "--notary-key", _notary_key()], monkeypatch, capsys)
    assert error.startswith(f"--keys {keys}: "), error
    assert expected in error and "lgnet-audit keys" in error, error


def test_a_missing_pinned_keys_file_is_named(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for keys in (tmp_path / "nope.json", tmp_path):
        error = _setup_error(["verify", "--keys", str(keys), "--notary-key", _notary_key()], monkeypatch, capsys)
        assert error.startswith(f"--keys {keys}: cannot read it"), error


@pytest.mark.parametrize(
    ("vkey", "expected"),
    [("", "--notary-key '': empty"), ("lgnet-notary.x+00+AAAA", "--notary-key 'lgnet-notary.x+00+AAAA': verifier")],
)
def test_a_bad_notary_key_is_named_with_what_was_given(
    vkey: str, expected: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _pinned(tmp_path / "pinned-keys.json")
    error = _setup_error(["verify", "--keys", str(keys), "--notary-key", vkey], monkeypatch, capsys)
    assert error.startswith(expected) and "lgnet-notary key" in error, error


def test_a_state_path_that_cannot_be_a_folder_is_refused_before_the_log_is_read(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--state <a file>` read the whole log, then failed with FileExistsError (not naming --state); `--state
    /proc/nope` likewise with FileNotFoundError."""
    keys = _pinned(tmp_path / "pinned-keys.json")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for state, why in ((a_file, "is a file, not a folder"), ("/proc/nope", "cannot be made")):
        argv = ["verify", "--keys", str(keys), "--notary-key", _notary_key(), "--state", str(state)]
        error = _setup_error(argv, monkeypatch, capsys)
        assert error.startswith(f"--state {state}: {why}"), error
    assert a_file.read_text() == "mine"


def _foreign_state(folder: Any) -> None:
    """The state an audit of another deployment saved: its checkpoint signed by that deployment's notary."""
    import json
    import os

    from lgnet_shared.checkpoints import NotarySigner

    note = NotarySigner("lgnet-notary.torino", os.urandom(32)).sign("lgnet/intake.events/0", 1, b"r" * 32).note
    (folder / "a.leaves").write_bytes(b"r" * 32)
    (folder / "state.json").write_text(json.dumps({"lgnet/intake.events/0": {"note": note, "leaves": "a.leaves"}}))


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ('["lgnet/intake.events/0"]', "not the state an audit saves"),  # was AttributeError: 'list' object ...
        ('{"lgnet/intake.events/0": "x"}', "not the state an audit saves"),  # was TypeError: string indices ...
        ("{not json", "not the state an audit saves"),
        (None, "saved by an audit with another notary key"),
    ],
)
def test_a_state_folder_that_is_not_this_audits_is_named_as_such(
    state: str | None, expected: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state.json that is not an audit's was an AttributeError or TypeError naming neither --state nor the file;
    another deployment's state folder (its notary's key) read "saved checkpoints unreadable: signed by no pinned
    notary key"."""
    folder = tmp_path / "state"
    folder.mkdir()
    if state is None:
        _foreign_state(folder)
    else:
        (folder / "state.json").write_text(state)
    keys = _pinned(tmp_path / "pinned-keys.json")
    argv = ["verify", "--keys", str(keys), "--notary-key", _notary_key(), "--state", str(folder)]
    error = _setup_error(argv, monkeypatch, capsys)
    assert error.startswith(f"--state {folder}: ") and expected in error, error


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["verify", "--keys", "k.json", "--notary-key", "v", "--workers", "two"], "--workers two: not a whole number"),
        (["verify", "--keys", "k.json", "--notary-key", "v", "--bogus"], "--bogus: not an option of lgnet-audit"),
        (["verify", "--keys", "k.json"], "the following arguments are required: --notary-key"),
    ],
)
def test_a_bad_argument_is_the_one_json_line_too(
    argv: list[str], said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse printed its usage and error on stderr, nothing on stdout, where every other setup problem is one JSON
    line `{"ok": false, "error": …}` (exit 2)."""
    assert _setup_error(argv, monkeypatch, capsys).startswith(said)


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_are_refused(
    workers: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _pinned(tmp_path / "pinned-keys.json")
    argv = ["verify", "--keys", str(keys), "--notary-key", _notary_key(), "--workers", workers]
    assert _setup_error(argv, monkeypatch, capsys).startswith(f"--workers {workers}: at least 1")


def test_keys_never_overwrites_a_pinned_file_and_names_a_bad_out_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lgnet-audit keys --out <the pinned file>` silently replaced what the auditor trusts (the keys they had
    confirmed, the unconfirmed ones deleted); `--out <a folder>` was an IsADirectoryError."""
    pinned = _pinned(tmp_path / "pinned-keys.json")
    before = pinned.read_text()
    error = _setup_error(["keys", "--out", str(pinned)], monkeypatch, capsys)
    assert error.startswith(f"--out {pinned}: exists") and "--pinned" in error and "--force" in error, error
    assert pinned.read_text() == before
    assert _setup_error(["keys", "--out", str(tmp_path)], monkeypatch, capsys).startswith(
        f"--out {tmp_path}: is a folder"
    )
    assert _setup_error(["keys", "--out", "/proc/nope/keys.json"], monkeypatch, capsys).startswith(
        "--out /proc/nope/keys.json: cannot be written"
    )
    # --pinned is read as --keys is
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    error = _setup_error(["keys", "--pinned", str(bad), "--out", str(tmp_path / "new.json")], monkeypatch, capsys)
    assert error.startswith(f"--pinned {bad}: "), error


def test_keys_with_force_replaces_the_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import socket

    pinned = _pinned(tmp_path / "pinned-keys.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{s.getsockname()[1]}")
    with pytest.raises(SystemExit) as ended:
        audit_cli.main(["keys", "--out", str(pinned), "--force"])
    assert ended.value.code == 2
    # past the check: it went to read (the summary is the last line: a log handler an earlier test of this worker left
    # on the root logger may have written the client's retries before it)
    assert "broker unreachable" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def _audited(pinned: Any, rows: list[tuple[bytes, list[tuple[str, bytes]]]]) -> Any:
    """An audit, with `pinned` the one pinned key, of `rows` as partition 0 of intake.events (no checkpoint read)."""
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit

    a = Audit(keys={pinned.key.key_id: pinned.key}, notaries=[], partitions={"intake.events": 1})
    a.records(
        "intake.events",
        [
            SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
            for o, (v, h) in enumerate(rows)
        ],
    )
    return a


def _unpinned_rows(n: int) -> Any:
    """An audit of n records of one partition signed by a key left out of the pinned file."""
    signer, rows = _signed_rows(n, 1)
    other, _ = _signed_rows(1, 1)
    return signer, _audited(other, rows)


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
    assert rows[-1] == (
        f"… and {40 - SHOWN_PER_REASON} more records with the same reason in intake.events partition 0: {reason}"
    ), rows
    assert len(rows) == 2 + SHOWN_PER_REASON + 1


def test_the_docs_failure_table_uses_the_tools_wording() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "reporting.md").read_text()
    assert "| `producer signature: signed with key '…', which is not in your pinned keys` |" in doc
    assert "which is not registered" not in doc.split("## Auditing the log")[1].split("### Checking signatures")[0]


def test_an_unreachable_notary_url_is_named_before_the_log_is_read(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--notary-url` was asked only after the whole log had been verified (hours on a real log), and then the
    run ended on a setup error: it is asked first, so a wrong URL costs nothing."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    keys = _pinned(tmp_path / "pinned-keys.json")
    argv = ["verify", "--keys", str(keys), "--notary-key", _notary_key(), "--notary-url", url]
    error = _setup_error(argv, monkeypatch, capsys)
    assert error.startswith(f"--notary-url {url}: no checkpoints from the notary"), error


def test_a_run_that_fails_leaves_no_folder_behind(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--state <new folder>` and `keys --out <new folder>/<file>` made their folders before the broker was asked:
    an audit that could not run left empty folders (an auditor's archive gained a state folder holding nothing).
    The folder's place is checked first and the folder made only when something is written into it."""
    import json
    import socket

    keys = _pinned(tmp_path / "pinned-keys.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{s.getsockname()[1]}")
    state, out = tmp_path / "audits" / "2026-12", tmp_path / "keys" / "new-keys.json"
    for argv in (
        ["verify", "--keys", str(keys), "--notary-key", _notary_key(), "--state", str(state)],
        ["keys", "--out", str(out)],
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            audit_cli.main(argv)
        assert ended.value.code == 2
        assert "broker unreachable" in json.loads(capsys.readouterr().out)["error"]  # past the argument checks
    assert not (tmp_path / "audits").exists() and not (tmp_path / "keys").exists()


def test_the_notary_logs_json_lines_and_rate_limits_a_broker_outage() -> None:
    """A city IT team stopped the broker for a minute: the notary's log got 540 plain-text lines from the Kafka client
    ("Unable connect to node with id 1", one per retry), where the services log JSON lines and one line per kind of
    connection error per 30 s (docs/operators.md, "Logs"). The command runs as `lgnet-notary run`, its work replaced
    by an outage's worth of the client's lines."""
    import json
    import subprocess
    import sys

    outage = (
        "import logging, sys\n"
        "from lgnet_reporting.entrypoints import audit\n"
        "def outage(_fn, _args):\n"
        "    for _ in range(200):\n"
        "        logging.getLogger('aiokafka.conn').error('Unable connect to node with id %s: %s', 1, 'refused')\n"
        "    return 0\n"
        "audit._run = outage\n"
        "audit.notary_main(['run'])\n"
    )
    # Settings it checks before it starts (test_the_notary_names_every_bad_setting_at_once); the broker: nobody.
    env = {
        **os.environ,
        "LGNET_NOTARY_KEY": base64.b64encode(bytes(32)).decode(),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }
    done = subprocess.run([sys.executable, "-c", outage], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines[:5]
    line = json.loads(lines[0])
    assert line["event"].startswith("Unable connect to node with id 1: refused [repeats of this error are summarised")
    assert (line["level"], line["service"]) == ("error", "notary")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LGNET_NOTARY_PORT", "80a", "LGNET_NOTARY_PORT: '80a' is not a port"),
        ("LGNET_NOTARY_KEY", "abc", "LGNET_NOTARY_KEY: must be base64 of exactly 32 bytes"),
        ("LGNET_MASTER_KEY", "abc", "LGNET_MASTER_KEY: must be base64 of exactly 32 bytes"),
    ],
)
def test_the_notarys_bad_settings_are_named_in_one_line(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an outside test: `LGNET_NOTARY_PORT=80a lgnet-notary key` ended in a Python traceback, and a bad
    LGNET_NOTARY_KEY or LGNET_MASTER_KEY in `{"ok": false, "error": "ValueError: must be base64 of exactly 32 bytes"}`,
    naming no variable. Each is one JSON line naming the variable, exit 2."""
    import json

    monkeypatch.delenv("LGNET_NOTARY_KEY", raising=False)
    monkeypatch.setenv("LGNET_MASTER_KEY", base64.b64encode(bytes(32)).decode())
    monkeypatch.setenv(variable, value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        audit_cli.notary_main(["key"])
    out = capsys.readouterr().out.strip().splitlines()
    assert ended.value.code == 2 and len(out) == 1, out
    answer = json.loads(out[0])
    assert answer == {"ok": False, "error": answer["error"]} and answer["error"].startswith(expected), answer


def test_the_notary_names_every_bad_setting_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The services name every bad variable in one go; the notary named the first it met and stopped, so a city IT
    team fixed its settings one start at a time. Every setting `lgnet-notary run` reads is checked before it starts:
    one JSON line, each problem naming its variable, exit 2."""
    import json

    monkeypatch.delenv("LGNET_MASTER_KEY", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    (a_file := tmp_path / "state").write_text("")
    bad = {
        "LGNET_NOTARY_PORT": "80a",
        "LGNET_NOTARY_SWEEP": "many",
        "LGNET_NOTARY_KEY": "abc",
        "LGNET_LEGACY_DEPLOYMENTS": "north",
        "KAFKA_SECURITY_PROTOCOL": "FOO",
        "LGNET_NOTARY_STATE": str(a_file),
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        audit_cli.notary_main(["run", "--every", "60"])
    out = capsys.readouterr().out.strip().splitlines()
    assert ended.value.code == 2 and len(out) == 1, out
    error = json.loads(out[0])["error"]
    for name in [*bad, "KAFKA_BOOTSTRAP_SERVERS"]:
        assert error.count(f"{name}:") + error.count(f"{name} (") == 1, (name, error)
    assert "'many' is not a number of records" in error and "is a file" in error, error


def test_a_log_without_any_signed_checkpoint_is_no_clean_audit() -> None:
    """Read as a broker administrator would attack the audit (#16): with the checkpoint topic's records removed (or a
    notary that never ran) `lgnet-audit verify` said ok — every signature verified, nothing anchored, so a log
    rewritten from records its producers once signed (some of them dropped, say) passed an auditor's first audit. No
    checkpoint over a log of records is a failure that says so; the summary counts the records no checkpoint covers."""
    signer, rows = _signed_rows(5, 5)
    a = _audited(signer, rows)
    assert a.failures == []
    a.finish()
    summary = a.summary()
    assert (summary["ok"], summary["events_after_the_newest_checkpoints"]) == (False, 5), summary
    assert [(f.topic, f.reason) for f in a.failures] == [
        (
            "checkpoints",
            "no signed checkpoint in the log: none of its 5 records is anchored (the notary has not run yet, or its"
            " checkpoints were removed)",
        )
    ]


def test_an_audit_that_read_no_record_is_no_clean_audit() -> None:
    """Every fact topic there but empty (a fact topic deleted and recreated, the checkpoint topic too, by a broker
    administrator) and no checkpoint: `lgnet-audit verify` said {"ok": true, "events": 0}, exit 0 — ok when nothing
    was checked. It is a failure that says nothing was verified."""
    from lgnet_reporting.domain.audit import Audit

    a = Audit(keys={}, notaries=[], partitions={"intake.events": 1})
    a.finish()
    summary = a.summary()
    assert (summary["ok"], summary["events"]) == (False, 0), summary
    assert [(f.topic, f.partition, f.offset, f.reason) for f in a.failures] == [
        (
            "log",
            0,
            None,
            "no record in any fact topic: nothing was verified (a new deployment, or the fact topics deleted and made"
            " anew)",
        )
    ]


def test_a_gap_in_a_partitions_offsets_is_one_failure_not_one_per_record_after_it() -> None:
    """Records removed from the middle of a partition (a super user turning compaction on for a fact topic) or its
    start (delete-records): every record after the gap failed too, each with its own reason ("offset gap: expected
    offset 3", "… 4", …), so the table, which groups failures by reason, printed one line per record left."""
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit

    signer, rows = _signed_rows(8, 8)
    for offsets, gaps in [
        ([0, 1, 4, 5, 6, 7], [(4, 2)]),
        ([3, 4, 5, 6, 7], [(3, 0)]),
        ([0, 2, 3, 6, 7], [(2, 1), (6, 4)]),
    ]:
        a = Audit(keys={signer.key.key_id: signer.key}, notaries=[], partitions={"intake.events": 1})
        a.records(
            "intake.events",
            [
                SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
                for o, (v, h) in zip(offsets, [rows[o] for o in offsets], strict=True)
            ],
        )
        assert [(f.offset, f.reason) for f in a.failures] == [
            (at, f"offset gap: expected offset {expected} (records deleted?)") for at, expected in gaps
        ], offsets


def test_a_log_rewritten_under_checkpoints_is_named_at_the_first_offset_no_matching_checkpoint_covers() -> None:
    """A first audit (no saved state) of a log rewritten at offset 6, checkpointed at sizes 2, 4, 8 and 10: each
    checkpoint over the rewritten record failed on its own ("the first 8 records do not hash …", "the first 10 …"),
    with no offset (null) — the exact place not named, although the checkpoint of size 4 matching shows the first
    4 records are the ones the notary signed. One failure, at offset 4: a record from 4 to 7 was changed. A
    checkpoint the log does not match below one it matches is the notary's own fork, and said so."""
    import os

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    genuine = [merkle.leaf_hash(b"record %d" % i) for i in range(10)]
    rewritten = [*genuine[:6], merkle.leaf_hash(b"forged"), *genuine[7:]]

    def audited(sizes: list[int], signed: list[bytes]) -> Any:
        a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1})
        a.trees[("intake.events", 0)] = merkle.Tree(rewritten)
        a.events = a.signatures = len(rewritten)
        for size in sizes:
            a.checkpoint(None, notary.sign("lgnet/intake.events/0", size, merkle.Tree(signed).root(size)).note)
        a.finish()
        return [(f.topic, f.partition, f.offset, f.reason) for f in a.failures]

    assert audited([2, 4, 8, 10], genuine) == [
        (
            "intake.events",
            0,
            4,
            "record changed, dropped, reordered or inserted between offsets 4 and 7: the first 8 records do not hash"
            " to the signed checkpoint's root, the first 4 do (your saved state names the exact offset)",
        )
    ]
    assert audited([8, 10], genuine) == [  # no checkpoint the log matches: from offset 0
        (
            "intake.events",
            0,
            0,
            "record changed, dropped, reordered or inserted between offsets 0 and 7: the first 8 records do not hash"
            " to the signed checkpoint's root (your saved state names the exact offset)",
        )
    ]
    # the notary signed size 8 of the rewritten log, size 4 of another history: its own fork
    other = [merkle.leaf_hash(b"other %d" % i) for i in range(10)]
    a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1})
    a.trees[("intake.events", 0)] = merkle.Tree(rewritten)
    a.events = a.signatures = 10
    a.checkpoint(None, notary.sign("lgnet/intake.events/0", 8, merkle.Tree(rewritten).root(8)).note)
    a.checkpoint(None, notary.sign("lgnet/intake.events/0", 4, merkle.Tree(other).root(4)).note)
    a.finish()
    assert [(f.offset, f.reason) for f in a.failures] == [
        (
            None,
            "the notary signed two histories: its checkpoint of size 4 disagrees with its checkpoint of size 8, which"
            " the log matches",
        )
    ]


def test_records_signed_with_a_rotated_key_after_its_successor_signed_on_the_partition_fail() -> None:
    """A deployment's signing key leaks; its operator rotates it (a new key, registered later, signs from the
    restart on; a service publishes through one relay at a time, so the old key signs nothing more). The auditor
    keeps the old key pinned, as the docs say, for the records it signed before. Facts forged with the leaked key
    and appended after the rotation verified: "ok". The old key's records before the new key's first record on a
    partition still verify; after it they fail, named, whether checked with their whole batch or one by one."""
    import dataclasses
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit

    old, old_rows = _signed_rows(8, 4)
    new, new_rows = _signed_rows(4, 4)
    old_key = dataclasses.replace(old.key, registered_at="2026-01-10T09:00:00+00:00")
    new_key = dataclasses.replace(new.key, registered_at="2026-11-02T17:30:00+00:00")
    rows = [*old_rows[:4], *new_rows, *old_rows[4:]]  # the last four: forged with the leaked key after the rotation
    reason = (
        f"producer signature: signed with key {old_key.key_id!r} after key {new_key.key_id!r}, registered later for"
        " the same deployment and service, signed on this partition: a rotated key (forged with it?)"
    )
    keys = {old_key.key_id: old_key, new_key.key_id: new_key}
    records = [
        SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
        for o, (v, h) in enumerate(rows)
    ]
    whole = Audit(keys=keys, notaries=[], partitions={"intake.events": 1})
    whole.records("intake.events", records)  # whole signed batches: proven together
    alone = Audit(keys=keys, notaries=[], partitions={"intake.events": 1})
    for r in records:  # one by one
        alone.record("intake.events", r)
    for a in (whole, alone):
        assert [(f.offset, f.reason) for f in a.failures] == [(o, reason) for o in range(8, 12)]
        assert a.signatures == 8
    # the rotation in the other order (the records as written): nothing fails
    ordered = Audit(keys=keys, notaries=[], partitions={"intake.events": 1})
    ordered.records("intake.events", [*records[:4], *records[8:], *records[4:8]])
    assert [f.reason for f in ordered.failures if "rotated" in f.reason] == []


def test_the_table_has_a_row_for_a_partition_that_failed_with_no_record_left() -> None:
    """Every record of a partition deleted (or its topic made anew, empty, under its checkpoints): the failure was
    named below the table, but the table — one row per partition read — had no row for it, as if it never was."""
    from lgnet_reporting.domain.audit import table

    signer, rows = _signed_rows(3, 3)
    a = _audited(signer, rows)
    a.starts = {("intake.events", 0): 0, ("intake.events", 2): 7}
    a.finish()
    lines = table(a)
    assert [line.split() for line in lines[1:3]] == [
        ["intake.events", "0", "3", "-", "ok"],  # (no checkpoint at all: a failure of the log's, below)
        ["intake.events", "2", "0", "-", "FAIL"],
    ], lines


def test_with_the_notary_over_http_a_first_audit_names_the_exact_offset_of_a_rewritten_record() -> None:
    """Without a saved state, a log rewritten under the notary's checkpoints was named over a range ("between
    offsets 4 and 9": only the checkpoints on the topic to go by). The notary signs a checkpoint of any size its tree
    reached (`GET /checkpoints/{topic}/{partition}?size=N`): with `--notary-url` the audit halves the range with
    them until the first record that differs, each note checked with the pinned notary key. A notary that cannot
    answer leaves the range as it was."""
    import asyncio
    import os

    from lgnet_reporting.domain.audit import Audit
    from lgnet_reporting.service_layer.audit import pinpoint
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    genuine = merkle.Tree([merkle.leaf_hash(b"record %d" % i) for i in range(10)])
    rewritten = [*genuine.leaves[:6], merkle.leaf_hash(b"forged"), *genuine.leaves[7:]]
    asked: list[int] = []

    async def served(topic: str, partition: int, size: int) -> str | None:
        asked.append(size)
        return notary.sign(f"lgnet/{topic}/{partition}", size, genuine.root(size)).note

    async def away(topic: str, partition: int, size: int) -> str | None:
        return None

    for fetch, offset in ((served, 6), (away, 4)):
        a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1})
        a.trees[("intake.events", 0)] = merkle.Tree(rewritten)
        a.events = a.signatures = 10
        for size in (4, 10):
            a.checkpoint(None, notary.sign("lgnet/intake.events/0", size, genuine.root(size)).note)
        a.finish()
        asyncio.run(pinpoint(a, fetch))
        assert [(f.topic, f.partition, f.offset) for f in a.failures] == [("intake.events", 0, offset)], a.failures
    assert a.failures[0].reason.startswith("record changed, dropped, reordered or inserted between offsets 4 and 9")
    assert len(asked) <= 3, asked  # log2 of the range
    named = "record changed, dropped, reordered or inserted at offset 6: the first 6 records hash to the notary's"
    a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1})
    a.trees[("intake.events", 0)] = merkle.Tree(rewritten)
    a.events = a.signatures = 10
    a.checkpoint(None, notary.sign("lgnet/intake.events/0", 10, genuine.root(10)).note)
    a.finish()
    asyncio.run(pinpoint(a, served))
    assert [f.reason for f in a.failures] == [
        f"{named} checkpoint of size 6, the first 7 do not (the notary's checkpoints, over --notary-url)"
    ]


def _city_rows(signer: Any, city: str, n: int, *, names: str | None = None) -> list[tuple[bytes, list[Any]]]:
    """n employment facts of `city`, signed by `signer` in one batch; `names`: the key id their envelope names
    instead of the signer's (a deployment's IT team writing the extension itself)."""
    from datetime import date

    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus

    facts = []
    for i in range(n):
        e = EmploymentRecorded(person_id=f"{city}-p{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1))
        v, h = to_envelope(e, source="/lgnet/intake", city=city).to_structured()
        facts.append((v, list(h)))
    member = signer._member
    if names is not None:  # the extension the signer splices in, naming another key (a relay written to lie)
        signer._member = f',"signingkey":"{names}"}}'.encode()
    try:
        signed = signer.sign_batch(facts)
    finally:
        signer._member = member
    return [(v, [*h, s]) for (v, s), (_, h) in zip(signed, facts, strict=True)]


def test_a_citys_pinned_key_signing_another_citys_facts_fails_the_audit_as_the_consumers_refuse_them() -> None:
    """Read as Trieste's IT team would attack the audit (#16): Trieste's key is registered and pinned, as every
    city's is. Facts it signs saying they are Torino's were dead-lettered by the consumers and skipped by the replay
    (`check_claims`: a city's key signs only its city's facts), but `lgnet-audit verify` checked the signature
    alone and said "ok" — the audit vouched for Torino facts Torino never wrote. They fail, named at their offsets,
    whether checked with their whole signed batch or one by one; so does a fact whose envelope names another key
    than the one that signed it, or one with no envelope to read claims from (the consumers refuse it too). A national
    key may sign any city's facts; a city's own facts verify."""
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit, table
    from lgnet_shared.fact_signing import FactSigner

    trieste = FactSigner(os.urandom(32), "trieste", "intake", "trieste")
    torino = FactSigner(os.urandom(32), "torino", "intake", "torino")
    national = FactSigner(os.urandom(32), "national", "intake", "national")

    def as_row(signed: tuple[bytes, tuple[str, bytes]]) -> tuple[bytes, list[Any]]:
        value, signature = signed
        return value, [signature]

    rows = [
        *_city_rows(trieste, "trieste", 2),  # 0-1: Trieste's own
        *_city_rows(trieste, "torino", 3),  # 2-4: Trieste's key, Torino's facts
        *_city_rows(national, "torino", 2),  # 5-6: the national deployment's, any city's
        *_city_rows(trieste, "trieste", 1, names=torino.key.key_id),  # 7: names Torino's key, signed by Trieste's
        as_row(trieste.sign(b'{"city_of": "torino"}')),  # 8: no envelope: whose, nobody can say
    ]
    keys = {s.key.key_id: s.key for s in (trieste, torino, national)}
    records = [
        SimpleNamespace(topic="intake.events", partition=0, offset=o, key=None, value=v, headers=h)
        for o, (v, h) in enumerate(rows)
    ]
    city = "producer signature: 'torino' is not the city of the signing deployment (trieste)"
    named = f"producer signature: names key {torino.key.key_id!r} but the record is signed with {trieste.key.key_id!r}"
    unread = (
        "producer signature: its claims cannot be read (specversion): missing: not a CloudEvent (structured mode needs"
        " specversion)"
    )
    expected = [(2, city), (3, city), (4, city), (7, named), (8, unread)]
    whole = Audit(keys=keys, notaries=[], partitions={"intake.events": 1})
    whole.records("intake.events", records)  # whole signed batches: proven together
    alone = Audit(keys=keys, notaries=[], partitions={"intake.events": 1})
    for r in records:
        alone.record("intake.events", r)
    for a in (whole, alone):
        assert [(f.topic, f.partition, f.offset, f.reason) for f in a.failures] == [
            ("intake.events", 0, o, reason) for o, reason in expected
        ]
        assert (a.signatures, a.summary()["ok"]) == (4, False)
        assert f"FAIL intake.events partition 0 offset 2: {city}" in table(a)


def test_a_checkpoint_names_the_topic_prefix_of_its_log_only_when_there_is_one() -> None:
    """Checkpoints of an unprefixed deployment keep their origin (`lgnet/<topic>/<partition>`: every checkpoint
    published so far, and reporting's stored anchors, stay valid); a prefixed deployment's notary signs
    `<prefix>lgnet/<topic>/<partition>`. An audit takes its own log's and refuses, naming it, one of another
    prefix — an unprefixed production's audit a staging's, signed with the same notary key. A prefixed log's audit
    does not use an unprefixed origin (its own notary's before December 2026, or an unprefixed log's: nobody can
    tell), nor fails it: its notary signs every partition anew, prefixed, at its next round."""
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_reporting.domain.notary import Notary
    from lgnet_shared.checkpoints import NotarySigner

    signer = NotarySigner("lgnet-notary.test", os.urandom(32))
    notes = {}
    for prefix in ("", "staging.", "prod."):
        notary = Notary(signer, prefix)
        for i in range(3):
            notary.add("intake.events", SimpleNamespace(partition=0, offset=i, key=b"k", value=b"v", headers=[]))
        (cp,) = notary.grown()
        assert cp.origin == f"{prefix}lgnet/intake.events/0"
        assert notary.checkpoint("intake.events", 0, 2).origin == cp.origin
        notes[prefix] = cp.note

    def audited(prefix: str, other: str) -> Audit:
        a = Audit(keys={}, notaries=[signer.verifier], partitions={"intake.events": 1}, prefix=prefix)
        a.checkpoint(7, notes[prefix])
        a.checkpoint(8, notes[other])
        assert [cp.note for cp in a.checkpoints["lgnet/intake.events/0"]] == [notes[prefix]]
        return a

    for prefix, other in (("", "staging."), ("prod.", "staging.")):
        assert [(f.topic, f.offset, f.reason) for f in audited(prefix, other).failures] == [
            (
                "checkpoints",
                8,
                f"checkpoint of another log: its origin '{other}lgnet/intake.events/0' is under topic prefix {other!r},"
                f" not this log's {prefix!r} (a notary of another deployment sharing this one's key signed it)",
            )
        ]
    assert audited("prod.", "").failures == []


def test_a_signed_fact_copied_to_another_partition_under_another_kafka_key_is_named() -> None:
    """Read as Trieste's IT team would attack the audit (#16): its principal may write intake.events, so it copies
    one of Torino's genuine facts into another partition. With the record's own Kafka key the audit names it ("key
    belongs on partition N"); but the Kafka key is not signed: copied under a key that hashes to the partition it
    lands on (or none), it passed — signature, claims and place all "ok". The place is the one the signed
    envelope's `partitionkey` says."""
    import json
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared.fact_signing import FactSigner
    from lgnet_shared.partitioning import partition_of

    torino = FactSigner(os.urandom(32), "torino", "intake", "torino")
    ((value, headers),) = _city_rows(torino, "torino", 1)

    signed_key = json.loads(value)["partitionkey"].encode()
    home = partition_of(signed_key, 6)
    assert home is not None  # the key is not null
    elsewhere = (home + 1) % 6
    rekeyed = next(k for k in (b"k%d" % i for i in range(1000)) if partition_of(k, 6) == elsewhere)
    moved = f"key belongs on partition {home}: copied from elsewhere"
    for kafka_key, partition, expected in [
        (signed_key, home, []),  # where its producer wrote it
        (signed_key, elsewhere, [moved]),  # caught before too
        (rekeyed, elsewhere, [moved]),
        (None, elsewhere, [moved]),
    ]:
        a = Audit(keys={torino.key.key_id: torino.key}, notaries=[], partitions={"intake.events": 6})
        r = SimpleNamespace(topic="intake.events", partition=partition, offset=0, key=kafka_key, value=value)
        a.records("intake.events", [SimpleNamespace(**vars(r), headers=headers)])
        assert [(f.partition, f.offset, f.reason) for f in a.failures] == [
            (partition, 0, reason) for reason in expected
        ], kafka_key


def test_a_report_announced_for_another_city_by_a_citys_deployment_fails_the_audit() -> None:
    """Trieste's reporting deployment (its key registered and pinned) announces on `reporting.events` a "Torino"
    city summary in its own envelope city (the claims rule passes): `lgnet-audit verify` said ok, and the
    announcement counted among the reports anchored. A city's deployment announces its own city's summary only (the
    national one any report), as the replay decides: it fails, named at its offset. Its own city's, and the
    national deployment's of any scope, verify."""
    import os
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.reporting import ReportPublished
    from lgnet_shared.fact_signing import FactSigner

    trieste = FactSigner(os.urandom(32), "trieste", "reporting", "trieste")
    national = FactSigner(os.urandom(32), "national", "reporting", "national")

    def announced(signer: Any, report: str, scope: str, city: str) -> tuple[bytes, list[Any]]:
        event = ReportPublished(
            report_id=f"{signer.key.deployment}-{scope}", report=report, scope=scope, as_of=date(2026, 6, 30),
            digest="0" * 64, positions={}, published_at=datetime.now(UTC), method=8, threshold=5,
        )  # fmt: skip
        value, headers = to_envelope(event, source="/lgnet/reporting", city=city).to_structured()
        value, signature = signer.sign(value, headers)
        return value, [*headers, signature]

    rows = [
        announced(trieste, "city_summary", "trieste", "trieste"),
        announced(trieste, "city_summary", "torino", "trieste"),  # 1: another city's summary
        announced(national, "city_summary", "torino", "torino"),
        announced(national, "national", "national", "national"),
    ]
    a = Audit(keys={s.key.key_id: s.key for s in (trieste, national)}, notaries=[], partitions={"reporting.events": 1})
    for offset, (value, headers) in enumerate(rows):
        r = SimpleNamespace(topic="reporting.events", partition=0, offset=offset, key=None, value=value)
        a.record("reporting.events", SimpleNamespace(**vars(r), headers=headers))
    assert [(f.offset, f.reason) for f in a.failures] == [
        (
            1,
            "producer signature: a city_summary of torino announced by trieste (a deployment of trieste), which"
            " publishes only the city summary of trieste",
        )
    ]
    assert a.signatures == 3


def test_a_housing_key_signing_a_payments_fact_fails_the_audit_as_the_consumers_refuse_it() -> None:
    """The brief's other case of #16's claims rule: Trieste's housing key signing a payments fact on
    `payments.events`. The audit already failed it (a key of a service that may not write the topic, `check_fact`,
    as the consumers decide): kept here beside the city rule."""
    import os
    from datetime import date
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared.codec import to_envelope
    from lgnet_shared.events.payments import BudgetAllocated
    from lgnet_shared.fact_signing import FactSigner

    housing = FactSigner(os.urandom(32), "trieste", "housing", "trieste")
    event = BudgetAllocated(budget_line_id="b1", city="trieste", line="rent", amount_cents=100, on=date(2026, 3, 1))
    value, headers = to_envelope(event, source="/lgnet/housing", city="trieste").to_structured()
    value, signature = housing.sign(value, headers)
    a = Audit(keys={housing.key.key_id: housing.key}, notaries=[], partitions={"payments.events": 1})
    r = SimpleNamespace(topic="payments.events", partition=0, offset=0, key=None, value=value)
    a.record("payments.events", SimpleNamespace(**vars(r), headers=[*headers, signature]))
    assert [f.reason for f in a.failures] == [
        f"producer signature: key {housing.key.key_id!r} belongs to housing, which may not write payments.events"
    ]


def test_the_summary_tells_the_checkpoints_served_over_the_notary_url_from_the_topics() -> None:
    """`checkpoints` counts every signed checkpoint verified: the topic's, and with `--notary-url` the newest ones the
    notary serves again over HTTP (one per partition). The tester read 63, then 88 with `--notary-url`, and nothing
    said the 25 more were the notary's newest served again: `checkpoints_from_notary_url` says how many of them."""
    import os

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    leaves = [merkle.leaf_hash(b"record %d" % i) for i in range(4)]
    a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1})
    a.trees[("intake.events", 0)] = merkle.Tree(leaves)
    a.events = a.signatures = len(leaves)
    for size in (2, 4):
        a.checkpoint(None, notary.sign("lgnet/intake.events/0", size, merkle.Tree(leaves).root(size)).note)
    a.checkpoint(None, notary.sign("lgnet/intake.events/0", 4, merkle.Tree(leaves).root(4)).note, "notary-http")
    a.checkpoint(None, "not a checkpoint", "notary-http")  # refused: a failure, not counted
    a.finish()
    summary = a.summary()
    assert (summary["checkpoints"], summary["checkpoints_from_notary_url"]) == (3, 1), summary


def test_the_docs_explain_every_figure_of_the_audits_and_the_replays_output() -> None:
    """Every key of `lgnet-audit verify`'s JSON line and of `lgnet-replay`'s rebuild line, each reason a record is
    skipped for, and each column of the audit's table is explained in docs/reporting.md's auditors' sections (the
    tester met `"skipped": {"not_reported": 380}` and a `checkpoints` count that grew with `--notary-url`,
    undocumented)."""
    import re
    from pathlib import Path

    from lgnet_reporting.domain.audit import Audit
    from lgnet_reporting.service_layer import replay

    doc = (Path(__file__).parents[3] / "docs" / "reporting.md").read_text()
    auditors = doc.split("## Auditors' replay, step by step")[1].split("### Checking signatures")[0]
    verify = Audit(keys={}, notaries=[], partitions={}).summary()
    rebuild = replay.Timing(0.0, 0.0, replay.Fold()).as_dict()
    source = (Path(replay.__file__)).read_text()
    reasons = set(re.findall(r'self\._skip\("([a-z_]+)"\)', source))
    assert reasons >= {"not_reported", "signature", "redelivered"}, reasons
    explained = set(re.findall(r"^\s*[-|] `([a-z_]+)`", auditors, re.M))
    missing = {*verify, "saved", "first_failures", *rebuild, "schema", "positions", *reasons} - explained
    assert not missing, f"not explained in docs/reporting.md (as a list or table row `key`): {sorted(missing)}"
    for column in ("topic", "part", "events", "checkpoint", "result"):
        assert f"| `{column}` |" in auditors, column


def test_the_notary_keeps_where_offsets_jump_and_a_restart_from_its_state_keeps_it(tmp_path: Any) -> None:
    """A log whose offsets jump (a transaction's commit marker; records deleted at the start): each offset maps to
    its own record's leaf, a gap's offset to none, and the state folder keeps the jumps (a restart proved offsets
    past a gap as the next records before)."""
    import json
    import os
    from types import SimpleNamespace

    from lgnet_reporting.adapters.notary_store import NotaryStore
    from lgnet_reporting.domain.notary import Notary, OutOfRange
    from lgnet_shared.checkpoints import NotarySigner

    offsets = [3, 4, 6, 7, 9]  # 0-2 deleted; 5 and 8: commit markers
    notary = Notary(NotarySigner("lgnet-notary.test", os.urandom(32)))
    for o in offsets:
        value = json.dumps({"id": f"event-{o}"}).encode()
        notary.add("intake.events", SimpleNamespace(partition=0, offset=o, key=b"k", value=value, headers=[]))
    NotaryStore(tmp_path).save(notary)
    again = Notary(notary.signer)
    NotaryStore(tmp_path).load(again)
    for n in (notary, again):
        part = n.partitions[("intake.events", 0)]
        assert [part.leaf_of(o) for o in range(11)] == [None, None, None, 0, 1, None, 2, 3, None, 4, None]
        assert [part.offset_of(i) for i in range(5)] == offsets
        for o in offsets:
            proof = n.inclusion("intake.events", 0, o, 5)
            assert (proof["offset"], proof["event_id"]) == (o, f"event-{o}")
            assert proof["leaf_hash"] == base64.b64encode(part.tree.leaves[offsets.index(o)]).decode()
            assert n.locate(f"event-{o}") == ("intake.events", 0, o)
        with pytest.raises(OutOfRange, match="no record at offset 8"):
            n.inclusion("intake.events", 0, 8, 5)
        with pytest.raises(OutOfRange, match="offset 9 is not in the checkpoint of 4 records"):
            n.inclusion("intake.events", 0, 9, 4)
        with pytest.raises(OutOfRange, match="offset 10 is not in the checkpoint"):
            n.inclusion("intake.events", 0, 10, 5)


def test_with_the_notary_over_http_a_rewritten_record_after_an_offset_gap_is_named_at_its_own_offset() -> None:
    """A partition whose offsets have a gap (offset 3 holds no record: a transaction's commit marker, say), its
    record at offset 7 — leaf 6 of the tree — rewritten. The narrowing halves tree sizes (the notary signs a
    checkpoint of any size its tree reached) and named the size it stopped at as an offset: "at offset 6", the
    record before the one rewritten; the range before it, "between offsets 4 and 9", was leaf indexes too (the
    records there are at offsets 5 to 10). Both are now the records' own offsets; the gap is still named."""
    import asyncio
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_reporting.service_layer.audit import pinpoint
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    signer, rows = _signed_rows(10, 10)
    offsets = [0, 1, 2, *range(4, 11)]  # ten records, no record at offset 3
    where = ("intake.events", 0)

    def audit() -> Audit:
        a = Audit(keys={signer.key.key_id: signer.key}, notaries=[notary.verifier], partitions={"intake.events": 1})
        fetched = [
            SimpleNamespace(partition=0, offset=o, key=None, value=v, headers=h)
            for o, (v, h) in zip(offsets, rows, strict=True)
        ]
        a.records("intake.events", fetched)
        return a

    genuine = audit().trees[where]
    rewritten = merkle.Tree([*genuine.leaves[:6], merkle.leaf_hash(b"forged"), *genuine.leaves[7:]])

    async def served(topic: str, partition: int, size: int) -> str | None:
        return notary.sign(f"lgnet/{topic}/{partition}", size, genuine.root(size)).note

    async def away(topic: str, partition: int, size: int) -> str | None:
        return None

    gap = (4, "offset gap: expected offset 3 (records deleted?)")  # named at the first record after it
    for fetch, named in (
        (away, (5, "record changed, dropped, reordered or inserted between offsets 5 and 10: the first 10 records")),
        (served, (7, "record changed, dropped, reordered or inserted at offset 7: the first 6 records hash to the")),
    ):
        a = audit()
        a.trees[where] = rewritten  # what the audit read: the record at offset 7 is not the one the notary signed
        for size in (4, 10):
            a.checkpoint(None, notary.sign("lgnet/intake.events/0", size, genuine.root(size)).note)
        a.finish()
        asyncio.run(pinpoint(a, fetch))
        assert [(f.offset, f.reason[: len(r)]) for f, (_, r) in zip(a.failures, [gap, named], strict=True)] == [
            gap,
            named,
        ], a.failures


def test_a_report_is_anchored_by_a_checkpoint_covering_its_offset_after_an_offset_gap() -> None:
    """Checkpoint sizes count records, reports name offsets: after a gap (offset 3 of intake.events holds no record,
    the commit marker of a transactional re-drive before December 2026), the checkpoint of all 10 records covers the
    facts up to offset 10, and the checkpoint of reporting.events' 3 records its report at offset 3. Both were
    compared as if a size were an offset: "not all under a checkpoint: the newest covers 10" and "published report
    not anchored in any checkpoint" for an honest log. Only the gap is named."""
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit, Report
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    signer, rows = _signed_rows(10, 10)
    offsets = [0, 1, 2, *range(4, 11)]
    a = Audit(
        keys={signer.key.key_id: signer.key},
        notaries=[notary.verifier],
        partitions={"intake.events": 1, "reporting.events": 1},
    )
    a.logical = {"intake.events": "intake.events"}
    a.records(
        "intake.events",
        [
            SimpleNamespace(partition=0, offset=o, key=None, value=v, headers=h)
            for o, (v, h) in zip(offsets, rows, strict=True)
        ],
    )
    reports = merkle.Tree([merkle.leaf_hash(b"report %d" % i) for i in range(3)])
    a.trees[("reporting.events", 0)] = reports  # its records at offsets 0, 1 and 3
    a.jumps[("reporting.events", 0)] = [(2, 3)]
    a.reports = [Report(0, 3, {"intake.events": {"0": 11}})]
    for name, tree in (("intake.events", a.trees[("intake.events", 0)]), ("reporting.events", reports)):
        a.checkpoint(None, notary.sign(f"lgnet/{name}/0", len(tree), tree.root()).note)
    a.finish()
    assert [(f.topic, f.offset, f.reason) for f in a.failures] == [
        ("intake.events", 4, "offset gap: expected offset 3 (records deleted?)")
    ]


def test_a_notary_state_folder_from_before_its_key_was_recorded_is_judged_by_its_checkpoints(tmp_path: Any) -> None:
    """A folder saved before `state.json` named its notary key: another key is refused (its checkpoints do not
    verify with it: OtherKey, no key named), the key that signed them loads it and records itself at the next save."""
    import json
    import os

    import pytest
    from lgnet_reporting.adapters.notary_store import NotaryStore, OtherKey
    from lgnet_reporting.domain.notary import Notary, Partition
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner, origin_of

    signer, other = (NotarySigner("lgnet-notary.test", os.urandom(32)) for _ in range(2))
    tree = merkle.Tree([merkle.leaf_hash(b"record %d" % i) for i in range(3)])
    notary = Notary(signer)
    checkpoint = signer.sign(origin_of("intake.events", 0, ""), 3, tree.root())
    notary.restore("intake.events", 0, Partition(tree=tree, next_offset=3, ids=["", "", ""], published=checkpoint))
    NotaryStore(tmp_path).save(notary)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state.pop("signed_by") == str(signer.verifier)
    (tmp_path / "state.json").write_text(json.dumps(state))  # as saved before the key was recorded

    with pytest.raises(OtherKey) as refused:
        NotaryStore(tmp_path).load(Notary(other))
    assert (refused.value.folder, refused.value.recorded) == (tmp_path, None)
    again = Notary(signer)
    store = NotaryStore(tmp_path)
    assert store.load(again) == {origin_of("intake.events", 0, ""): 3}
    store.save(again)
    assert json.loads((tmp_path / "state.json").read_text())["signed_by"] == str(signer.verifier)
    with pytest.raises(OtherKey) as refused:
        NotaryStore(tmp_path).load(Notary(other))
    assert refused.value.recorded == str(signer.verifier)


@pytest.mark.parametrize(
    "argv",
    [
        ["--topic-prefix", "staging.", "verify", "--keys", "k.json", "--notary-key", "v"],
        ["verify", "--keys", "k.json", "--notary-key", "v", "--topic-prefix", "staging."],  # an auditor's order
        ["--topic-prefix", "other.", "verify", "--topic-prefix", "staging.", "--keys", "k.json", "--notary-key", "v"],
        ["keys", "--topic-prefix", "staging."],
    ],
)
def test_the_topic_prefix_is_taken_before_or_after_the_command(argv: list[str]) -> None:
    """An auditor's `lgnet-audit verify … --topic-prefix staging.` was refused, "not an option of lgnet-audit": the
    option was the tool's, before the command, only, and `verify --help` did not list it."""
    assert audit_cli.audit_parse(argv).topic_prefix == "staging."


def test_without_a_topic_prefix_the_environments_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGNET_TOPIC_PREFIX", "env.")
    assert audit_cli.audit_parse(["verify", "--keys", "k.json", "--notary-key", "v"]).topic_prefix == "env."


def _partition_audit(leaves: list[bytes], notary: Any, notes: list[tuple[int, bytes]], saved: Any = None) -> Any:
    """An audit of intake.events partition 0 holding `leaves`, with checkpoints (size, root) read on the topic and
    served again over --notary-url, and a saved state."""
    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared import merkle

    a = Audit(keys={}, notaries=[notary.verifier], partitions={"intake.events": 1}, saved=saved or {})
    a.trees[("intake.events", 0)] = merkle.Tree(leaves)
    a.events = a.signatures = len(leaves)
    for source in ("checkpoints", "notary-http"):
        for size, root in notes:
            a.checkpoint(None, notary.sign("lgnet/intake.events/0", size, root).note, source)
    return a


def test_a_log_shorter_than_checkpoints_extending_the_saved_one_is_named_once_as_truncated() -> None:
    """After the log was rewritten one record shorter, verify --state --notary-url said "log truncated" (right) but
    also "checkpoint of size 9 forks from the saved checkpoint of size 8" and the same for 10, each twice (topic and
    HTTP): a checkpoint beyond the log got an empty consistency proof. They do extend the saved one; the log is just
    shorter: said once."""
    import os

    from lgnet_reporting.domain.audit import SavedOrigin
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner, open_checkpoint

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    genuine = merkle.Tree([merkle.leaf_hash(b"record %d" % i) for i in range(10)])
    old = open_checkpoint(notary.sign("lgnet/intake.events/0", 8, genuine.root(8)).note, [notary.verifier])
    saved = {"lgnet/intake.events/0": SavedOrigin(old, genuine.leaves[:8])}
    a = _partition_audit(genuine.leaves[:8], notary, [(9, genuine.root(9)), (10, genuine.root(10))], saved)
    a.finish()
    assert [(f.offset, f.reason) for f in a.failures] == [
        (8, "log truncated: it ends at offset 8, a signed checkpoint covers 10 records")
    ], a.failures


def test_checkpoints_smaller_than_the_saved_one_of_another_history_are_the_notarys_two_histories() -> None:
    """A saved state from the first platform, verified against a new log the notary re-notarised under the same key:
    its new, smaller checkpoints contradict the saved ones — never reported (`if cp.size < old.size: continue`)."""
    import os

    from lgnet_reporting.domain.audit import SavedOrigin
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner, open_checkpoint

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    genuine = merkle.Tree([merkle.leaf_hash(b"record %d" % i) for i in range(8)])
    other = merkle.Tree([merkle.leaf_hash(b"other %d" % i) for i in range(6)])
    old = notary.sign("lgnet/intake.events/0", 8, genuine.root(8))
    saved = {"lgnet/intake.events/0": SavedOrigin(open_checkpoint(old.note, [notary.verifier]), genuine.leaves)}
    a = _partition_audit(other.leaves, notary, [(4, other.root(4)), (6, other.root(6))], saved)
    a.finish()
    root = base64.b64encode(genuine.root(8)).decode()
    assert [(f.offset, f.reason) for f in a.failures] == [
        (0, "record differs from the one audited last time (changed, dropped, reordered or inserted here)"),
        (6, "log truncated: it ends at offset 6, the saved checkpoint covers 8 records"),
        (
            None,
            "the notary signed two histories: its checkpoint of size 4 (and of size 6) disagrees with the saved"
            f" checkpoint of size 8 (root {root}), which you audited",
        ),
    ], a.failures
    # the same history's smaller checkpoints (a prefix of what was audited) are no failure
    same = _partition_audit(genuine.leaves, notary, [(4, genuine.root(4)), (8, genuine.root(8))], saved)
    same.finish()
    assert same.failures == []


def test_the_table_names_every_partition_a_reason_failed_in() -> None:
    """The table said "… and 22 more records with the same reason" without naming the partitions (and the JSON lists
    the first 20 failures only): one line per partition, and the JSON names each failed partition with its count."""
    from lgnet_reporting.domain.audit import Audit, table

    a = Audit(keys={}, notaries=[], partitions={"intake.events": 3})
    for partition, n in ((0, 5), (2, 4)):
        for offset in range(n):
            a.fail("intake.events", partition, offset, "producer signature: missing")
    rows = table(a)
    assert rows[-2:] == [
        "… and 2 more records with the same reason in intake.events partition 0: producer signature: missing",
        "… and 4 more records with the same reason in intake.events partition 2: producer signature: missing",
    ], rows
    assert a.summary()["failed_partitions"] == [
        {"topic": "intake.events", "partition": 0, "failures": 5},
        {"topic": "intake.events", "partition": 2, "failures": 4},
    ]


def test_with_the_notary_over_http_a_record_dropped_from_a_truncated_log_is_named_at_its_offset() -> None:
    """A record dropped mid-partition (offset 5) was named only as "log truncated" on a first audit with
    --notary-url, which the docs say names the exact offset: the notary's checkpoint of the log's own length tells
    whether only the end went, and the halving names the record. Only the end removed: "log truncated" alone."""
    import asyncio
    import os

    from lgnet_reporting.service_layer.audit import pinpoint
    from lgnet_shared import merkle
    from lgnet_shared.checkpoints import NotarySigner

    notary = NotarySigner("lgnet-notary.test", os.urandom(32))
    genuine = merkle.Tree([merkle.leaf_hash(b"record %d" % i) for i in range(12)])

    async def served(topic: str, partition: int, size: int) -> str | None:
        return notary.sign(f"lgnet/{topic}/{partition}", size, genuine.root(size)).note

    async def away(topic: str, partition: int, size: int) -> str | None:
        return None

    def found(leaves: list[bytes], fetch: Any) -> list[tuple[int | None, str]]:
        a = _partition_audit(leaves, notary, [(12, genuine.root(12))])
        a.finish()
        asyncio.run(pinpoint(a, fetch))
        return [(f.offset, f.reason) for f in a.failures]

    truncated = "log truncated: it ends at offset 11, a signed checkpoint covers 12 records"
    dropped = [*genuine.leaves[:5], *genuine.leaves[6:]]
    assert found(dropped, served) == [
        (11, truncated),
        (
            5,
            "record changed, dropped, reordered or inserted at offset 5: the first 5 records hash to the notary's"
            " checkpoint of size 5, the first 6 do not (the notary's checkpoints, over --notary-url)",
        ),
    ]
    assert found(dropped, away) == [(11, truncated)]
    assert found(genuine.leaves[:11], served) == [(11, truncated)]


def test_a_malformed_signature_header_does_not_verify_and_an_unsigned_key_places_nothing() -> None:
    """A cut version 2 header (`\\x02\\xff`) and a malformed version 1 one (`ed25519;bogus`) were reported as
    "producer signature: missing", and the garbage records also as "key belongs on partition 4: copied from
    elsewhere", judged from the unsigned Kafka key. The docs' table: a cut or malformed header does not verify; a
    place is judged from the signed partitionkey only."""
    from types import SimpleNamespace

    from lgnet_reporting.domain.audit import Audit
    from lgnet_shared.partitioning import partition_of

    kafka_key = next(k for k in (b"k%d" % i for i in range(100)) if partition_of(k, 6) != 0)
    a = Audit(keys={}, notaries=[], partitions={"intake.events": 6})
    for offset, header in enumerate((b"\x02\xff", b"ed25519;bogus", None)):
        headers = [] if header is None else [("lgnet-signature", header)]
        a.record(
            "intake.events",
            SimpleNamespace(partition=0, offset=offset, key=kafka_key, value=b"garbage", headers=headers),
        )
    reasons = [(f.offset, f.reason) for f in a.failures]
    assert [offset for offset, _ in reasons] == [0, 1, 2], reasons
    for offset in (0, 1):
        assert reasons[offset][1].startswith("producer signature: signature does not verify"), reasons
        assert "malformed" in reasons[offset][1], reasons
    assert reasons[2][1].startswith("producer signature: missing"), reasons


def test_a_rewritten_partitions_notary_signs_no_size_beyond_its_last_published_checkpoint() -> None:
    """Found rewritten, a partition's tree gets no leaf more and no checkpoint beyond the newest it published — not
    even on request (`?size=N`: leaves read after the last round may be the rewritten log's); the sizes it published
    and below are still signed (auditors narrow a rewrite with them)."""
    import os
    from types import SimpleNamespace

    from lgnet_reporting.domain.notary import Notary, OutOfRange
    from lgnet_shared.checkpoints import NotarySigner

    notary = Notary(NotarySigner("lgnet-notary.test", os.urandom(32)))
    for offset in range(3):
        assert notary.add(
            "payments.events", SimpleNamespace(partition=0, offset=offset, key=None, value=b"r", headers=[])
        )
    notary.published(notary.grown())
    for offset in (3, 4):
        notary.add("payments.events", SimpleNamespace(partition=0, offset=offset, key=None, value=b"r", headers=[]))
    assert not notary.add("payments.events", SimpleNamespace(partition=0, offset=2, key=None, value=b"x", headers=[]))
    assert list(notary.rewritten()) == [("payments.events", 0)]
    assert len(notary.partitions[("payments.events", 0)].tree) == 5 and notary.grown() == []
    assert notary.checkpoint("payments.events", 0, 3).size == 3
    with pytest.raises(OutOfRange) as refused:
        notary.checkpoint("payments.events", 0, 4)
    assert "rewritten" in refused.value.reason and not refused.value.missing
    with pytest.raises(OutOfRange):
        notary.consistency("payments.events", 0, 3, 5)
