"""`lgnet-audit`: an auditor's independent verification of the fact log, with read access and pinned keys only.
`lgnet-notary`: the notary, which signs checkpoints of every fact topic-partition (docs/reporting.md).

    lgnet-audit keys --out pinned-keys.json          fetch the producers' key registry (check fingerprints, then pin)
    lgnet-audit keys --pinned pinned-keys.json --out new-keys.json
                                                     only the keys registered since (a rotation): check, then pin
    lgnet-audit verify --keys pinned-keys.json [--keys new-keys.json] --notary-key <vkey> [--state DIR]
    lgnet-notary key                                 print the notary's verifier key (auditors pin it)
    lgnet-notary run [--every SECONDS] [--state DIR] [--http-port PORT]
                                                     checkpoint every fact topic-partition (once, or following the
                                                     log: at an interval and after each published report), serving
                                                     checkpoints and proofs over HTTP

Every failure is a line naming the topic, partition, offset and reason, and the exit status is 1; a setup problem
(a bad argument or file, an unreachable broker, refused credentials, a topic prefix with no fact topic, a principal
that may not read them all) is one line and exit 2, found before the log is read; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka.errors import (
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from lgnet_shared import logs, metrics, serving, tls
from lgnet_shared.checkpoints import Checkpoint, CheckpointError, NotarySigner, Verifier
from lgnet_shared.cities import legacy_deployments
from lgnet_shared.fact_signing import SigningKey, pinned_file, registry_contents
from lgnet_shared.kafka import KafkaSecurity

from lgnet_reporting import settings
from lgnet_reporting.adapters import facts_log, folders, setup_errors
from lgnet_reporting.adapters.notary_store import NotaryStore, OtherKey
from lgnet_reporting.domain.audit import Audit, origin, table
from lgnet_reporting.domain.notary import Notary
from lgnet_reporting.entrypoints.notary_http import create_app
from lgnet_reporting.service_layer.audit import NoFactTopics, NotAuthorised, default_workers, pinpoint, verify_log
from lgnet_reporting.service_layer.notary import SWEEP_RECORDS, NotaryRunner


def _bootstrap() -> str:
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise UsageError("KAFKA_BOOTSTRAP_SERVERS: not set (host:port of the shared cluster)")
    return value


class UsageError(Exception):
    pass


PINNED_FILE = 'a pinned-keys file as `lgnet-audit keys --out` writes it ({"keys": [...]})'


def pinned_keys(arg: str, path: str) -> dict[str, SigningKey]:
    """The keys of one pinned-keys file; a file that is not one (a state.json, a list, no key at all) is a setup
    error naming the argument and the file, never an audit in which every record fails."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{arg} {path}: cannot read it ({why}): expected {PINNED_FILE}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{arg} {path}: not JSON ({exc}): expected {PINNED_FILE}") from None
    if isinstance(doc, list):
        raise UsageError(f"{arg} {path}: a JSON list: expected {PINNED_FILE}")
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise UsageError(f'{arg} {path}: no "keys" list (a state.json, another file?): expected {PINNED_FILE}')
    if not doc["keys"]:
        raise UsageError(f"{arg} {path}: holds no key: pin the producers' keys first (`lgnet-audit keys --out`)")
    keys: dict[str, SigningKey] = {}
    for i, entry in enumerate(doc["keys"], 1):
        try:
            key = SigningKey.from_json(json.dumps(entry))
        except KeyError as exc:
            raise UsageError(f"{arg} {path}: key {i} has no {exc}: expected {PINNED_FILE}") from None
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{arg} {path}: key {i} is not a pinned key ({exc}): expected {PINNED_FILE}") from None
        keys[key.key_id] = key
    return keys


def notary_verifiers(values: list[str]) -> list[Verifier]:
    out = []
    for value in values:
        expected = "expected the notary's verifier key, the output of `lgnet-notary key`"
        if not value.strip():
            raise UsageError(f"--notary-key {value!r}: empty (a variable not set?): {expected}")
        try:
            out.append(Verifier.parse(value))
        except ValueError as exc:
            raise UsageError(f"--notary-key {value!r}: {exc}: {expected}") from None
    return out


def writable_folder(arg: str, value: str) -> Path:
    """The folder, once it is sure that it can be made and written; it is made when the audit saves its state."""
    path = Path(value)
    if why := folders.folder_problem(path):
        hint = " (the folder of your last audit's state, or a new one)" if why.startswith("is a file") else ""
        raise UsageError(f"{arg} {value}: {why}{hint}")
    return path


def new_file(arg: str, value: str, force: bool) -> Path:
    """Where `keys` writes: never over an existing file (the auditor's pinned keys, most likely) unless `force`;
    checked before the registry is read; its folder made only when the file is written."""
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{arg} {value}: is a folder: name a file in it, e.g. {path / 'pinned-keys.json'}")
    if path.exists() and not force:
        raise UsageError(
            f"{arg} {value}: exists (your pinned keys?): not replaced. For the keys registered since, write them to a"
            f" new file: --pinned {value} --out <new file>; --force replaces it"
        )
    try:
        folders.can_write_in(path.parent)
    except OSError as exc:
        raise UsageError(f"{arg} {value}: cannot be written ({exc.strerror or exc})") from None
    return path


async def keys(args: argparse.Namespace) -> int:
    pinned: dict[str, SigningKey] = {}
    for path in args.pinned or ():
        pinned |= pinned_keys("--pinned", path)
    out = new_file("--out", args.out, args.force) if args.out else None
    found, ignored = await registry_contents(_bootstrap(), args.topic_prefix)
    if not found:
        raise UsageError(
            f"no signing keys found under prefix {args.topic_prefix!r}: no registry topic"
            f" ({args.topic_prefix}lgnet.signing-keys.*) with a key this principal may read;"
            " check --topic-prefix / LGNET_TOPIC_PREFIX"
        )
    new = [k for k in found if k.key_id not in pinned]
    doc = pinned_file(new)
    if out and new:
        text = json.dumps(doc, indent=1)
        await asyncio.to_thread(_write, out, text, args.force)
    if doc["keys"]:  # headed as verify's table is
        print(f"{'key id':<50} {'deployment':<16} {'service':<10} {'city':<10}", file=sys.stderr)
    for k in doc["keys"]:
        print(f"{k['key_id']:<50} {k['deployment']:<16} {k['service']:<10} {k['city']:<10}", file=sys.stderr)
    for i in ignored:  # evidence, not keys: a deployment registering a key in another's name, or another city's
        print(f"IGNORED {i.topic} partition {i.partition} offset {i.offset}: {i.reason}", file=sys.stderr)
    line: dict[str, object] = {"keys": len(new), "written": str(out) if out and new else None}
    if args.pinned:
        line["already_pinned"] = len(found) - len(new)
    if ignored:
        line["ignored"] = [{"topic": i.topic, "offset": i.offset, "reason": i.reason} for i in ignored]
    print(json.dumps(line))
    return 0


def _write(path: Path, text: str, force: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w" if force else "x", encoding="utf-8") as f:  # "x": a file made meanwhile is not replaced
        f.write(text)


async def verify(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: at least 1 process (left out: one per CPU)")
    pinned: dict[str, SigningKey] = {}
    for path in args.keys:
        pinned |= pinned_keys("--keys", path)
    notaries = notary_verifiers(args.notary_key)
    state = writable_folder("--state", args.state) if args.state else None
    try:
        saved = facts_log.load_state(state, notaries, args.topic_prefix) if state else {}
    except facts_log.OtherPrefix as exc:
        raise UsageError(
            f"--state {state}: saved by an audit of topic prefix {exc.saved!r}, not {args.topic_prefix!r}: the folder"
            " of another log's audits? Give this log's, or a new one"
        ) from None
    except (OSError, facts_log.NotAState) as exc:
        raise UsageError(
            f"--state {state}: not the state an audit saves ({exc}): give the folder of your last audit's state,"
            " or a new one"
        ) from None
    except CheckpointError as exc:  # the folder of another deployment's audit, most likely
        raise UsageError(
            f"--state {state}: saved by an audit with another notary key, or altered ({exc}): the folder of an audit"
            " of another deployment? Give this deployment's, or a new one"
        ) from None
    workers = args.workers or default_workers()
    # Optional: the notary's newest checkpoints, checked exactly like the topic's. Asked first: a wrong URL is said
    # before the log is read, and what the notary served then is covered by the log read after it.
    served = await served_checkpoints(args.notary_url) if args.notary_url else []
    audit = await verify_log(_bootstrap(), args.topic_prefix, pinned, notaries, saved, workers)
    for note in served:
        audit.checkpoint(None, note, "notary-http")
    audit.finish()
    if args.notary_url and (audit.rewritten or audit.truncated):
        await pinpoint_over_http(audit, args.notary_url)
    for row in table(audit):
        print(row, file=sys.stderr)
    summary = audit.summary()
    if state and not audit.failures:
        newest = audit.newest()
        leaves = {origin(t, p): tree.leaves for (t, p), tree in audit.trees.items()}
        facts_log.save_state(state, newest, leaves, args.topic_prefix)
        summary["saved"] = str(state)
    summary["first_failures"] = [f.as_dict() for f in audit.failures[:20]]
    print(json.dumps(summary), flush=True)
    return 0 if not audit.failures else 1


async def served_checkpoints(url: str) -> list[str]:
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30, verify=tls.http_verify()) as http:
            answer = await http.get("/checkpoints")
            answer.raise_for_status()
            return [str(c["checkpoint"]) for c in answer.json()]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--notary-url {url}: no checkpoints from the notary ({type(exc).__name__}: {exc})") from None


async def pinpoint_over_http(audit: Audit, url: str) -> None:
    """The exact offset of each partition rewritten under the checkpoints, with checkpoints of the sizes between
    the range's ends from the notary (`GET /checkpoints/{topic}/{partition}?size=N`)."""
    async with httpx.AsyncClient(base_url=url, timeout=30, verify=tls.http_verify()) as http:

        async def note_of_size(topic: str, partition: int, size: int) -> str | None:
            try:
                answer = await http.get(f"/checkpoints/{topic}/{partition}", params={"size": size})
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 else None

        await pinpoint(audit, note_of_size)


def notary_signer() -> NotarySigner:
    try:
        signer = settings.notary_signer()
    except ValueError as exc:  # the key's form: named with the variable it came from
        raise UsageError(f"{key_variable()}: {exc}") from None
    if signer is None:
        raise UsageError("LGNET_NOTARY_KEY (or LGNET_MASTER_KEY): not set; the notary signs with it")
    return signer


def key_variable() -> str:
    """The variable the notary's key comes from: LGNET_NOTARY_KEY when set, else LGNET_MASTER_KEY (derived from it)."""
    return settings.NOTARY_KEY_VAR if os.environ.get(settings.NOTARY_KEY_VAR) else "LGNET_MASTER_KEY"


def other_key(exc: OtherKey, signer: NotarySigner) -> str:
    """The refusal of a notary started on a state folder another key built, naming the variable its key came from."""
    built = f"notary key {exc.recorded}" if exc.recorded else "another notary key (its checkpoints' signatures)"
    return (
        f"{key_variable()}: the notary's state folder {exc.folder} was built with {built}, and this one is"
        f" {signer.verifier}: its checkpoints would not verify with the key the auditors pinned. Start with the key"
        " this notary has used (LGNET_NOTARY_KEY, or the LGNET_MASTER_KEY it is derived from); a new notary key"
        " takes a new state folder, and its verifier key (`lgnet-notary key`) given to the auditors"
    )


async def notary_once(bootstrap: str, prefix: str, signer: NotarySigner, state: Path | None = None) -> list[Checkpoint]:
    """One round: read what is new since the state (everything without one), publish checkpoints of what grew."""
    runner = NotaryRunner(Notary(signer), bootstrap, prefix, NotaryStore(state) if state else None)
    await runner.start()
    try:
        await runner.catch_up()
        return await runner.checkpoint()
    finally:
        await runner.stop()


def _print(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


async def notary(args: argparse.Namespace) -> int:
    signer = notary_signer()
    if args.command == "key":
        print(str(signer.verifier))
        return 0
    state = Path(args.state) if args.state else None
    sock = None
    if args.every and args.http_port is not None:  # the port first: taken, nothing read, signed or published
        try:
            sock = serving.bound(args.http_host, args.http_port, "--http-host", "--http-port (LGNET_NOTARY_PORT)")
        except serving.Unbindable as exc:
            raise UsageError(str(exc)) from None
    metrics.DEPLOYMENT.labels("notary", settings.deployment_of(), os.environ.get("LGNET_CITY", "national")).set(1)
    store = NotaryStore(state) if state else None
    runner = NotaryRunner(Notary(signer), _bootstrap(), args.topic_prefix, store, args.sweep)
    try:
        await runner.start()
    except OtherKey as exc:  # before any client is made: nothing read, signed or published
        raise UsageError(other_key(exc, signer)) from None
    try:
        await runner.catch_up()
        fresh = await runner.checkpoint()
        restored = sum(runner.restored.values())
        _print({"restored": restored, "read": runner.read, "checkpoints": len(fresh), "state": args.state})
        if not args.every:
            return 0
        tasks = [asyncio.create_task(runner.follow(args.every, _print))]
        if sock is not None:
            config = uvicorn.Config(
                create_app(runner.notary, runner),
                host=args.http_host,
                port=args.http_port,
                log_level="warning",
                log_config=None,  # uvicorn's lines go through the notary's JSON logs (notary_logs)
            )
            tasks.append(asyncio.create_task(uvicorn.Server(config).serve(sockets=[sock])))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for task in done:
            task.result()
        return 0
    finally:
        await runner.stop()


TOPIC_PREFIX_HELP = "the cluster's topic prefix (default: $LGNET_TOPIC_PREFIX, else none)"


def _parser(prog: str) -> argparse.ArgumentParser:
    """The command's own line of the module's docstring (`lgnet-notary --help` described the audit tool)."""
    description = next(line for line in __doc__.splitlines() if line.startswith(f"`{prog}`"))
    p = setup_errors.CommandLine(prog=prog, description=description)
    p.add_argument("--topic-prefix", default=os.environ.get("LGNET_TOPIC_PREFIX", ""), help=TOPIC_PREFIX_HELP)
    return p


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand that also takes --topic-prefix after its name (an auditor's `verify … --topic-prefix staging.`
    was refused as "not an option": it was the tool's, before the command, only); given there, it wins."""
    c: argparse.ArgumentParser = sub.add_parser(name, help=summary)
    c.add_argument("--topic-prefix", default=argparse.SUPPRESS, help=TOPIC_PREFIX_HELP)
    return c


def audit_parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _parser("lgnet-audit")
    sub = p.add_subparsers(dest="command", required=True)
    k = _command(sub, "keys", "fetch the producers' signing keys from the registry topic")
    k.add_argument(
        "--out",
        help="write them as a pinned-keys file (check the fingerprints out of band first); an existing file is"
        " never replaced (see --pinned, --force)",
    )
    k.add_argument(
        "--pinned",
        action="append",
        help="your pinned-keys file (repeatable): list and write only the keys not in it, e.g. a rotated key",
    )
    k.add_argument("--force", action="store_true", help="replace the --out file if it exists")
    v = _command(sub, "verify", "verify signatures, trees, checkpoints and report anchoring")
    v.add_argument(
        "--keys",
        action="append",
        required=True,
        help="pinned producers' keys (JSON, from `lgnet-audit keys`; repeatable: e.g. a file of rotated keys)",
    )
    v.add_argument("--notary-key", action="append", required=True, help="pinned notary verifier key (repeatable)")
    v.add_argument("--state", help="folder of the last audit's checkpoints: verified against, then updated")
    v.add_argument(
        "--workers",
        type=int,
        help="processes that verify partitions in parallel (default: one per CPU; logs under 50,000 records: one)",
    )
    v.add_argument(
        "--notary-url",
        help="also check the newest checkpoints the notary serves over HTTP (optional: the topic is enough)",
    )
    return p.parse_args(argv)


def _run(coro_fn: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """The command's exit code; a setup problem (exit 2) is one JSON line, never a traceback (a broker unreachable or
    refusing the login reaches here as a UsageError, from `_call`)."""
    try:
        return asyncio.run(_call(coro_fn, args))
    except UsageError as exc:
        error = str(exc)
    except NoFactTopics as exc:
        who = os.environ.get("KAFKA_SASL_USERNAME") or "this client"
        error = (
            f"{exc}: none of {', '.join(exc.looked_for)} exists or may be read by {who};"
            " check --topic-prefix / LGNET_TOPIC_PREFIX"
        )
    except (NotAuthorised, TopicAuthorizationFailedError) as exc:  # a setup problem, not a finding about the log
        topics = exc.topics if isinstance(exc, NotAuthorised) else [str(a) for a in exc.args]
        error = str(setup_errors.not_authorised(topics))  # as the replay says it
    except Exception as exc:  # anything else: one line, never a traceback
        error = f"{type(exc).__name__}: {exc}"
    return _refused(error)


def _refused(error: str) -> int:
    print(json.dumps({"ok": False, "error": error}), flush=True)
    return 2


async def _call(coro_fn: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    legacy_deployments()  # a bad LGNET_LEGACY_DEPLOYMENTS is named before anything is read
    try:
        return await coro_fn(args)
    except KafkaConnectionError as exc:  # the login refused, TLS, or no broker: said as the replay says it
        raise UsageError(str(setup_errors.kafka(exc))) from None


def quiet_libraries() -> None:
    """An auditor reads the command's own output only (its table and one JSON line, or its error line): the Kafka
    client's log lines (\"Unable connect to ...\", retries) and asyncio's went to stderr through logging's
    last-resort handler, which a handler on the root logger replaces."""
    logging.getLogger().addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> None:
    try:
        args = audit_parse(argv)
    except setup_errors.SetupError as exc:  # a bad argument: the one JSON line too
        sys.exit(_refused(str(exc)))
    quiet_libraries()
    sys.exit(_run(keys if args.command == "keys" else verify, args))


def notary_main(argv: Sequence[str] | None = None) -> None:
    problems = []  # the environment's bad settings, every one said at once (the services' do; it said one a start)
    port = sweep = None
    try:
        port = _port()
    except UsageError as exc:
        problems.append(str(exc))
    try:
        sweep = _records(os.environ.get("LGNET_NOTARY_SWEEP") or str(SWEEP_RECORDS))
    except argparse.ArgumentTypeError as exc:
        problems.append(f"LGNET_NOTARY_SWEEP: {exc}")
    p = _parser("lgnet-notary")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("key", help="print the notary's verifier key (C2SP vkey) for auditors to pin")
    r = _command(sub, "run", "publish signed checkpoints of every fact topic-partition")
    r.add_argument(
        "--every",
        type=float,
        default=0,
        help="follow the log, checkpointing at this interval in seconds"
        " and after every published report (default: one round, then exit)",
    )
    r.add_argument(
        "--state",
        default=os.environ.get("LGNET_NOTARY_STATE"),
        help="folder of the notary's trees: a restart continues from there (default: $LGNET_NOTARY_STATE;"
        " none: read from offset 0)",
    )
    r.add_argument(
        "--sweep",
        type=_records,
        default=SWEEP_RECORDS if sweep is None else sweep,
        help="notarised records of each partition read again and compared each round, a sweep through all of them"
        f" (default: $LGNET_NOTARY_SWEEP, else {SWEEP_RECORDS}; 0: only the first and the last)",
    )
    r.add_argument("--http-port", type=int, default=port, help="serve checkpoints and proofs over HTTP (with --every)")
    r.add_argument("--http-host", default=os.environ.get("LGNET_HTTP_HOST", "127.0.0.1"))
    try:
        args = p.parse_args(argv)
    except setup_errors.SetupError as exc:  # a bad argument: the one JSON line too
        sys.exit(_refused("; ".join([*problems, str(exc)])))
    if problems := problems + notary_problems(args):
        sys.exit(_refused("; ".join(problems)))
    notary_logs()
    sys.exit(_run(notary, args))


def notary_problems(args: argparse.Namespace) -> list[str]:
    """The settings `notary` reads when it gets to them, each checked now, each problem naming its variable."""
    checks: list[Callable[[], object]] = [notary_signer, legacy_deployments]
    if args.command == "run":
        checks += [_bootstrap, KafkaSecurity.from_env]
        if args.state:
            checks.append(lambda: writable_folder("LGNET_NOTARY_STATE (--state)", args.state))
    problems = []
    for check in checks:
        try:
            check()
        except (UsageError, ValueError) as exc:  # KafkaConfigError and legacy_deployments' name their variables
            problems.append(str(exc))
    return problems


def notary_logs() -> None:
    """The notary runs for months beside the services: what libraries log (the Kafka client, uvicorn) is JSON lines
    like theirs, warnings and errors only, and the Kafka client's connection errors while a broker is away are
    rate-limited as the services' are (docs/operators.md, "Logs"). Its own lines (one per round) are unchanged.
    Before, they went to stderr as plain text through logging's last resort, one per retry: 540 lines in the log of
    a one-minute broker outage."""
    logs.configure("notary", "WARNING", deployment=settings.deployment_of())


def _records(value: str) -> int:
    """A count of records, 0 or more (argparse names the option when this refuses)."""
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of records, 0 or more")
    return int(value)


def _port() -> int | None:
    value = os.environ.get("LGNET_NOTARY_PORT")
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"LGNET_NOTARY_PORT: {value!r} is not a port (1 to 65535)")
    return int(value)


def seed_b64() -> str:
    """A fresh notary key (base64 seed) for LGNET_NOTARY_KEY."""
    return base64.b64encode(os.urandom(32)).decode()
