"""`lgnet-partner check FILE…`: a partner's conformance kit. Checks event files offline exactly as intake's
gatekeeper would — the same functions (service_layer/inbound.py), so the same kind, field and reason — and prints
every problem of every record, one line each: `RECORD: <kind> <field>: <reason>`, or `RECORD: ok`, then a summary.
Exit status 0 when every record would be accepted, 1 when any would be refused (or a file cannot be read), 2 for
wrong arguments.

    lgnet-partner check --bundle coop-aurora.json [--intake-test-key HEX] record.json batch.jsonl …

A record is either a Kafka record as your code produces it — `{"key": "coop-aurora", "headers": [["lgnet-signature",
"ed25519;…"], ["ce_id", "…"], …], "value": "<the exact value as a string>"}` (or `"value_base64"`; headers may also
be an object) — whose signature is checked too, or a bare structured-mode CloudEvent (the value alone: not signed,
so its signature is not checked unless --require-signature). A FILE holds one record (RECORD is then the file's
name), or several: a JSON array of them, or JSON Lines (one per line); RECORD is then `FILE[<index>]` (from 0),
followed by `(partition P, offset O)` when the record carries `partition` and `offset` members.

The gatekeeper answers a record's first refusal (with every field of its data at fault); the kit goes on where it
can and says every problem: the claims, the partition key, each field of the data, each of a registration's rules.

Who you are comes from your onboarding bundle (`--bundle`) or `--partner`, `--city` and `--signing-public-key`.
Sealed fields open only with the private key they were sealed to: seal your test records to a test key pair of
your own (or the worked example's in docs/partners.md) and pass its private half as `--intake-test-key` (hex or
base64 of the raw 32 bytes); the kit then checks what is inside too (birth date, fiscal code, lengths). What needs
intake's state (an unknown person, another partner's case, an id already used) only intake can judge: use the
city's sandbox (docs/partners.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from lgnet_shared import clock, signing
from lgnet_shared.envelope import Headers, from_record
from lgnet_shared.errors import ContractError, Unauthenticated, noted
from lgnet_shared.events import Sealed
from lgnet_shared.events import partner as cmd_in

from lgnet_intake.domain.cases import PROGRAMME_START
from lgnet_intake.entrypoints.admin import public_key_bytes
from lgnet_intake.service_layer import inbound as rules

PROG = "lgnet-partner"


@dataclass(frozen=True)
class Partner:
    partner: str
    city: str
    signing_public_key: bytes | None
    signing_key_id: str | None


@dataclass
class Record:
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes
    signed: bool


class NotARecordFile(ValueError):
    """A record file (`key`, `headers`, `value` or `value_base64`) whose form is wrong: said per file, by its member."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member}: {reason}")


Loaded = Record | NotARecordFile


def load(path: Path) -> list[tuple[str, Loaded]]:
    """The records of a file, each with the name it is said by: one record (a Kafka record file, or a bare value),
    a JSON array of them, or JSON Lines."""
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        docs = _json_lines(raw)
        if docs is None:
            return [(str(path), Record(None, [], raw, False))]  # not JSON at all: the gatekeeper will say so
    else:
        if not isinstance(doc, list):
            return [(str(path), _record(doc, raw))]
        docs = doc
    return [(_label(path, i, d), _record(d, json.dumps(d).encode())) for i, d in enumerate(docs)]


def _json_lines(raw: bytes) -> list[object] | None:
    """JSON Lines (one record per line, at least two), or None when the file is not that either."""
    lines = [line for line in raw.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    try:
        return [json.loads(line) for line in lines]
    except (ValueError, RecursionError):
        return None


def _label(path: Path, index: int, doc: object) -> str:
    where = ""
    if isinstance(doc, dict) and isinstance(doc.get("offset"), int):
        partition = doc.get("partition")
        where = f" (partition {partition}, offset {doc['offset']})" if isinstance(partition, int) else ""
        where = where or f" (offset {doc['offset']})"
    return f"{path}[{index}]{where}"


def _record(doc: object, raw: bytes) -> Loaded:
    if not (isinstance(doc, dict) and "specversion" not in doc and ("value" in doc or "value_base64" in doc)):
        return Record(None, [], raw, False)  # a bare structured-mode value
    try:
        return Record(_key_of(doc), _headers_of(doc.get("headers", [])), _value_of(doc), True)
    except NotARecordFile as exc:
        return exc


def _key_of(doc: dict[str, object]) -> bytes | None:
    key = doc.get("key")
    if key is not None and not isinstance(key, str):
        raise NotARecordFile("key", "must be a string (the record key, your partner id) or null")
    return key.encode() if key is not None else None


def _headers_of(headers: object) -> list[tuple[str, bytes]]:
    """A record's headers as the file gives them: [[name, value], …] or {name: value}, names and values strings
    (a record without headers is unsigned: the gatekeeper does not answer it)."""
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    if not isinstance(pairs, list):
        raise NotARecordFile("headers", 'must be a list of [name, value] pairs or an object {"name": "value"}')
    out = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise NotARecordFile(f"headers.{i}", "must be a [name, value] pair of strings")
        out.append((pair[0], pair[1].encode()))
    return out


def _value_of(doc: dict[str, object]) -> bytes:
    if "value" in doc:
        if not isinstance(doc["value"], str):
            raise NotARecordFile("value", "must be a string: the exact value as produced (bytes: value_base64)")
        return doc["value"].encode()
    encoded = doc["value_base64"]
    try:
        if not isinstance(encoded, str):
            raise ValueError
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise NotARecordFile("value_base64", "must be the value's bytes in base64") from None


async def check(
    record: Record,
    who: Partner,
    intake_key: X25519PrivateKey | None,
    today: date,
    earliest: date = PROGRAMME_START,
    *,
    require_signature: bool = False,
) -> list[str]:
    """The record through the gatekeeper's checks, in its order: the first refusal is what intake would answer,
    and it carries (`also`) every other problem the kit finds going on where it can — past a signature, the
    claims or a rule that fails, not past an envelope or data it cannot read. `earliest` is the programme's
    earliest date in the partner's city. Returns notes about what could not be checked offline."""
    notes: list[str] = []
    broken: list[ContractError] = []
    if record.signed:
        with noted(broken):
            authenticate(record.value, record.headers, who)
    elif require_signature:
        broken.append(Unauthenticated(f"headers.{signing.HEADER}", "missing: records must be signed"))
    else:
        notes.append("not signed (a bare value): signature not checked")
    with refused_with(broken):
        env = from_record(record.value, record.headers, record.key, partner=True)
    with noted(broken):
        rules.check_claims(env, who.partner, who.city)
    with noted(broken):
        rules.check_partition_key(env, who.partner, record.key if record.signed else rules.UNKEYED)
    with refused_with(broken):
        event = rules.read(env)
    with noted(broken), rules.partner_fields():
        rules.check_event(event, today, earliest)
    if isinstance(event, cmd_in.PersonRegistrationSubmitted):
        with noted(broken), rules.partner_fields():
            if intake_key is None:
                notes.append("sealed fields not opened (pass --intake-test-key): their contents not checked")
                check_sealed_form(event.identity)
                rules.clear_birth_date_allowed(env, today)
            else:
                opened = await rules.open_identity(event.identity, lambda _: _key(intake_key), _never)
                clear = rules.clear_birth_date_allowed(env, today)
                rules.checked_person(
                    rules.sealed_registration(event, opened, clear_birth_date=clear, today=today), today
                )
    if broken:
        raise ContractError.all_of(broken)
    return notes


@contextlib.contextmanager
def refused_with(broken: list[ContractError]) -> Iterator[None]:
    """A check past which nothing can be read (the envelope, the event): its problem ends the record's checks, said
    after those found before it."""
    try:
        yield
    except ContractError as err:
        raise ContractError.all_of([*broken, err, *err.also]) from None


def authenticate(value: bytes, headers: Headers, who: Partner) -> None:
    """As the gatekeeper: the key id must be yours (registered), the signature must verify with its public key."""
    key_id = signing.key_id_of(headers)
    field = f"headers.{signing.HEADER}"
    if key_id is None:
        raise Unauthenticated(field, "missing: records must be signed")
    if who.signing_key_id is not None and key_id != who.signing_key_id:
        raise Unauthenticated(field, f"unknown partner key (yours is {who.signing_key_id}, the record names {key_id})")
    if who.signing_public_key is None:
        raise ContractError("--signing-public-key", "needed to check a signed record")
    signing.verify(who.signing_public_key, value, headers)


def check_sealed_form(identity: cmd_in.PartnerIdentity) -> None:
    """Without the key, at least the form: what intake could never open, it refuses with the same reason."""
    rules.check_identity_form(identity)
    for field, sealed in identity:
        if sealed is None:
            continue
        assert isinstance(sealed, Sealed)
        rules.check_sealed_header(field, sealed)
        ct = sealed.ct + "=" * (-len(sealed.ct) % 4)
        try:
            blob = base64.urlsafe_b64decode(ct)
        except (binascii.Error, ValueError):
            blob = b""
        if len(blob) < 32 + 16:
            raise ContractError(
                f"identity.{field}", f"{field}: cannot be opened with intake's key (wrong key id or field)"
            )


async def _key(key: X25519PrivateKey) -> X25519PrivateKey:
    return key


async def _never(_: str) -> bool:
    return False


def partner_of(args: argparse.Namespace) -> Partner:
    if args.bundle:
        bundle = json.loads(Path(args.bundle).read_text())
        signing_info = bundle.get("signing", {})
        return Partner(
            bundle["partner"],
            bundle["city"],
            public_key_bytes(signing_info["public_key"], "bundle.signing.public_key"),
            signing_info.get("key_id"),
        )
    if not (args.partner and args.city):
        raise ContractError("--bundle", "pass your onboarding bundle, or --partner and --city")
    public = public_key_bytes(args.signing_public_key, "--signing-public-key") if args.signing_public_key else None
    return Partner(args.partner, args.city, public, args.signing_key_id)


def test_key(value: str | None) -> X25519PrivateKey | None:
    if not value:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = public_key_bytes(value, "--intake-test-key")
    if len(raw) != 32:
        raise ContractError("--intake-test-key", f"an X25519 private key is 32 bytes, not {len(raw)}")
    return X25519PrivateKey.from_private_bytes(raw)


async def run(args: argparse.Namespace) -> int:
    who = partner_of(args)
    key = test_key(args.intake_test_key)
    today = date.fromisoformat(args.today) if args.today else clock.today()
    earliest = date.fromisoformat(args.earliest_date) if args.earliest_date else PROGRAMME_START
    records = refused = problems = 0
    for name in args.files:
        loaded: list[tuple[str, Loaded | OSError]]
        try:
            loaded = [*load(Path(name))]
        except OSError as exc:
            loaded = [(name, exc)]
        for label, record in loaded:
            records += 1
            said = await verdict(record, who, key, today, earliest, args.require_signature)
            print("\n".join(f"{label}: {line}" for line in said.lines) + "".join(f"\n  note: {n}" for n in said.notes))
            refused += bool(said.problems)
            problems += said.problems
    print(
        f"{records - refused} of {records} records would be accepted by the gatekeeper's offline checks;"
        f" {problems} problems in {refused} records"
    )
    return 1 if refused else 0


@dataclass
class Verdict:
    lines: list[str]  # what is said of the record: "ok", or one line per problem
    problems: int
    notes: list[str]


async def verdict(
    record: Loaded | OSError,
    who: Partner,
    key: X25519PrivateKey | None,
    today: date,
    earliest: date,
    require_signature: bool,
) -> Verdict:
    if isinstance(record, OSError):
        return Verdict([f"unreadable file: {record.strerror or record}"], 1, [])
    if isinstance(record, NotARecordFile):
        return Verdict([f"not a record file: {record}"], 1, [])
    try:
        notes = await check(record, who, key, today, earliest, require_signature=require_signature)
    except ContractError as err:
        each = [f"{e.kind} {e.field or '<record>'}: {e.reason}" for e in (err, *err.also)]
        return Verdict(each, len(each), [])
    return Verdict(["ok"], 0, notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = sub.add_parser("check", help="check event files as intake's gatekeeper would")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--bundle", help="your onboarding bundle (partner, city, signing key)")
    c.add_argument("--partner", help="your partner id (without --bundle)")
    c.add_argument("--city", help="your city (without --bundle)")
    c.add_argument("--signing-public-key", help="base64 of your raw Ed25519 public key (without --bundle)")
    c.add_argument("--signing-key-id", help="the key id your records name (without --bundle)")
    c.add_argument("--intake-test-key", help="hex or base64 of the X25519 private key your test records are sealed to")
    c.add_argument("--today", help="judge dates as of this day (YYYY-MM-DD; default today)")
    c.add_argument(
        "--earliest-date",
        help=f"your city's earliest date of the programme (YYYY-MM-DD; default {PROGRAMME_START}; docs/partners.md)",
    )
    c.add_argument("--require-signature", action="store_true", help="refuse bare (unsigned) values")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (ContractError, ValueError, KeyError, OSError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"{PROG}: error: {what}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
