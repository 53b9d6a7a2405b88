"""Producer signatures on canonical facts: every fact a deployment's service publishes is signed (Ed25519) by that
deployment, and consumers and auditors verify who wrote it before believing it.

The outbox relay signs facts in batches (`FactSigner.sign_batch`): one Ed25519 signature over the RFC 9162 root of
up to 64 records of a partition, each record carrying in its `lgnet-signature` header the key id, the signature, its
place in the batch and its inclusion proof, so each record is verified on its own. Two header versions exist and
both verify forever (auditors replay old logs): version 1, text (`ed25519;<key id>;<sig>` over the record value, or
`ed25519-merkle;<key id>;<sig>;<index>;<size>;<proof>`, base64url), written until December 2026; version 2, binary
(written since: `HEADER_V2`, byte layout in docs/operators.md "Fact signatures"), a third smaller and read without
base64 or text parsing. The key id also travels inside the signed envelope as the CloudEvents extension
`signingkey`, so the claim of authorship is covered by the signature itself.

Key ids name their owner and fingerprint: `<deployment>.<service>.<first 8 bytes of SHA-256(public key), hex>`, so
a replaced key has a new id and an old fact still names the key it was signed with.

The key registry is one compacted topic per service deployment, `lgnet.signing-keys.<deployment>.<service>` (key =
key id, value = JSON: key id, deployment, service, city, base64 public key, registered at), which only that
deployment's service may write (a literal ACL derived from the topic registry). Each service publishes its own
public key there when it starts; a key read from another deployment's topic than its own is ignored, so a
compromised deployment cannot register a key in another's name. Consumers read every deployment's registry and
accept a fact only when it is signed by a registered key of a service that may write the fact's topic (the topic
registry's writers) and its type is one that topic carries (the event catalogue's: `events.carried_on`). A key's
city is read off its deployment's name (`torino`, `torino-north`: the operator provisions it), never taken from what
its record declares: a key declaring another city is ignored. Auditors do not trust the registry topic: they fetch
it once, check the fingerprints with each deployment's operator out of band and pin them (`lgnet-audit keys`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError

from lgnet_shared import merkle, signing
from lgnet_shared.cities import city_of
from lgnet_shared.envelope import Envelope, Headers, from_record, is_binary_mode
from lgnet_shared.errors import ContractError, Unauthenticated
from lgnet_shared.events.base import carried_on, service_of
from lgnet_shared.kafka import READ_AND_GO, KafkaSecurity, client_kwargs
from lgnet_shared.topics import TOPICS, ensure_topics, family_of, for_writer, physical

REGISTRY_TOPIC = "signing-keys.{writer}"  # one per service deployment: only it may write its own
EXTENSION = "signingkey"
FIELD = f"headers.{signing.HEADER}"


def key_id_for(deployment: str, service: str, public: bytes) -> str:
    return f"{deployment}.{service}.{hashlib.sha256(public).digest()[:8].hex()}"


@dataclass(frozen=True)
class SigningKey:
    """A registered public key: whose it is, and the raw 32 bytes."""

    key_id: str
    deployment: str
    service: str
    city: str
    public_key: str  # base64 of the raw Ed25519 public key
    registered_at: str = ""

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.public_key)

    @property
    def deployment_city(self) -> str | None:
        """The city whose facts the key may sign: its deployment's name's (the operator provisions that name), never
        the `city` its record declares, which is whatever the deployment wrote."""
        return city_of(self.deployment)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, value: bytes | str) -> SigningKey:
        doc = json.loads(value)
        key = cls(
            **{k: str(doc[k]) for k in ("key_id", "deployment", "service", "city", "public_key")},
            registered_at=str(doc.get("registered_at", "")),
        )
        if len(key.raw) != 32 or key_id_for(key.deployment, key.service, key.raw) != key.key_id:
            raise ValueError(f"key {key.key_id!r}: the id does not match its owner and public key")
        return key


# Version 2 of the signature header (binary), all integers big-endian:
#   1 byte   0x02, the version (a version 1 header is text and starts with "e")
#   1 byte   n, the length of the key id
#   n bytes  the key id, ASCII
#   64 bytes the Ed25519 signature of BATCH_CONTEXT + the batch's RFC 9162 root
#   2 bytes  the record's index in its batch
#   2 bytes  the batch's size (1: a lone record, whose root is its own leaf)
#   k * 32 bytes  the inclusion proof (RFC 9162 PATH), deepest sibling first
HEADER_V2 = 2
_V2 = bytes([HEADER_V2])
_PLACE = struct.Struct(">HH")
_SIG = 64


class FactSignature(NamedTuple):
    """A fact's signature header, parsed (either version)."""

    key_id: str
    signature: bytes  # the raw Ed25519 signature
    position: int  # the record's place (index) in its signed batch
    size: int  # the batch's size; 0: a version 1 signature over the record's own signed bytes; -1: malformed
    proof: bytes  # the inclusion proof's hashes, concatenated
    version: int  # 1 (text) or 2 (binary)


def parse_signature(headers: Headers) -> FactSignature | None:
    """The record's signature header, either version; None when there is none, or not even a key id can be read
    (a header that names a key but is otherwise malformed is returned with size -1: it fails as not verifying)."""
    v = _header_value(headers)
    if v is None:
        return None
    if v[:1] == _V2:
        return _parse_v2(v)
    text = signing.signature_of([(signing.HEADER, v)])
    return None if text is None else _parse_v1(*text)


def _header_value(headers: Headers) -> bytes | None:
    for k, v in headers:
        if k == signing.HEADER:
            return v
    for k, v in headers:  # header names are case-insensitive; services write them in lower case
        if k.lower() == signing.HEADER:
            return v
    return None


def _parse_v2(v: bytes) -> FactSignature | None:
    try:
        end = 2 + v[1]
        key_id = v[2:end].decode("ascii")
    except (IndexError, UnicodeDecodeError):
        return None
    if not key_id or len(key_id) != end - 2:
        return None
    if len(v) < end + _SIG + 4 or (len(v) - end - _SIG - 4) % 32:
        return FactSignature(key_id, b"", 0, -1, b"", 2)
    index, size = _PLACE.unpack_from(v, end + _SIG)
    return FactSignature(key_id, v[end : end + _SIG], index, size, v[end + _SIG + 4 :], 2)


def _parse_v1(key_id: str, rest: str) -> FactSignature:
    try:
        if ";" not in rest:  # ed25519;<key id>;<sig>: over the record's signed bytes
            return FactSignature(key_id, _unb64u(rest), 0, 0, b"", 1)
        sig, index, size, proof = rest.split(";")
        hashes = _unb64u(proof)
        if len(hashes) % 32 or int(size) < 1:
            raise ValueError("proof is not a list of SHA-256 hashes")
        return FactSignature(key_id, _unb64u(sig), int(index), int(size), hashes, 1)
    except (ValueError, binascii.Error):
        return FactSignature(key_id, b"", 0, -1, b"", 1)


class FactSigner:
    """One deployment's service signing what its outbox relay publishes. `header_version`: 2 (binary, the default)
    or 1 (the text form written before; kept so tests can write old logs)."""

    def __init__(self, seed: bytes, deployment: str, service: str, city: str, *, header_version: int = 2) -> None:
        # libsodium signs faster than OpenSSL here (~30 %), and the relay signs every record it publishes.
        self._private = NaclSigningKey(seed)
        public = bytes(self._private.verify_key)
        self.key = SigningKey(
            key_id_for(deployment, service, public),
            deployment,
            service,
            city,
            base64.b64encode(public).decode(),
            datetime.now(UTC).isoformat(),
        )
        if header_version not in (1, 2):
            raise ValueError(f"header_version {header_version}: 1 or 2")
        kid = self.key.key_id.encode("ascii")
        if len(kid) > 255:
            raise ValueError(f"key id {self.key.key_id!r}: longer than 255 characters")
        self.header_version = header_version
        self._v2_head = _V2 + bytes([len(kid)]) + kid
        # Spliced into the envelope's JSON before its closing brace: the value we write is always a JSON object
        # with members (Envelope.to_structured), and key ids need no escaping.
        self._member = f',"{EXTENSION}":"{self.key.key_id}"}}'.encode()

    def sign(self, value: bytes, headers: Headers = ()) -> tuple[bytes, tuple[str, bytes]]:
        """The record value with the `signingkey` extension added, and the signature header over it (version 2: a
        batch of one)."""
        if self.header_version == 2:
            return self.sign_batch([(value, headers)])[0]
        signed = self._claimed(value)
        return signed, signing.header(
            self.key.key_id, self._private.sign(signing.signed_bytes(signed, headers)).signature
        )

    def sign_batch(self, records: Sequence[tuple[bytes, Headers]]) -> list[tuple[bytes, tuple[str, bytes]]]:
        """Many records with one Ed25519 signature per `BATCH` of them: the signature covers the RFC 9162 root of
        the batch's leaves (SHA-256 of each record's signed bytes), and each record's header carries its index,
        the batch size and its inclusion proof, so each record is still verified on its own — a changed byte
        breaks its proof, and a record lifted out of its batch keeps a valid one. Version 1: a lone record gets a
        plain signature."""
        out: list[tuple[bytes, tuple[str, bytes]]] = []
        member, sha, header, signed_bytes = self._member, hashlib.sha256, signing.HEADER, signing.signed_bytes
        for start in range(0, len(records), BATCH):
            chunk = records[start : start + BATCH]
            if len(chunk) == 1 and self.header_version == 1:
                out.append(self.sign(*chunk[0]))
                continue
            values, leaves = [], []
            for v, h in chunk:
                if v[-1:] != b"}":
                    raise ValueError("a fact's value must be a structured-mode CloudEvent (a JSON object)")
                v = v[:-1] + member
                values.append(v)
                leaves.append(sha(b"\x00" + (signed_bytes(v, h) if h else v)).digest())
            # Each node hashed once and every proof read off the levels (a general Tree recomputed subtrees per
            # proof: most of the relay's signing time, docs/benchmarks.md).
            levels = merkle.levels_of(leaves)
            raw, size = self._private.sign(BATCH_CONTEXT + levels[-1][0]).signature, len(values)
            if self.header_version == 1:
                head = f"{signing.BATCH_ALG};{self.key.key_id};{_b64u(raw)};".encode()
                for i, v in enumerate(values):
                    proof = base64.urlsafe_b64encode(b"".join(merkle.path_in(levels, i))).rstrip(b"=")
                    out.append((v, (header, b"%b%d;%d;%b" % (head, i, size, proof))))
                continue
            head, pack = self._v2_head + raw, _PLACE.pack
            out += [
                (v, (header, head + pack(i, size) + path))
                for i, (v, path) in enumerate(zip(values, merkle.paths_of(levels), strict=True))
            ]
        return out

    def _claimed(self, value: bytes) -> bytes:
        if not value.endswith(b"}"):
            raise ValueError("a fact's value must be a structured-mode CloudEvent (a JSON object)")
        return value[:-1] + self._member


# Facts signed together: one Ed25519 signature per this many records (the relay publishes up to 1,000 rows at a
# time); each record then carries a proof of log2(BATCH) = 6 hashes (192 bytes of a 292-byte version 2 header).
BATCH = 64
# Domain separation: a batch root's signature can never pass for a single record's, nor the other way round.
BATCH_CONTEXT = b"lgnet-fact-batch-v1\n"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Batch roots whose signature verified: (public key, root, signature) -> True. A batch's records are checked one
# by one (each leaf and proof), but its signature once. Bounded: cleared when full.
_VERIFIED_ROOTS: dict[tuple[str, bytes, bytes], bool] = {}
_VERIFIED_ROOTS_MAX = 65_536


def _root_signed(verify_key: VerifyKey, public_key: str, root: bytes, sig: bytes) -> None:
    """Raises BadSignatureError (or ValueError) unless `sig` is the key's signature of the batch root `root`."""
    if (public_key, root, sig) not in _VERIFIED_ROOTS:
        verify_key.verify(BATCH_CONTEXT + root, sig)
        if len(_VERIFIED_ROOTS) >= _VERIFIED_ROOTS_MAX:
            _VERIFIED_ROOTS.clear()
        _VERIFIED_ROOTS[(public_key, root, sig)] = True


def _verify_alone(
    verify_key: VerifyKey, public_key: str, value: bytes | None, headers: Headers, s: FactSignature
) -> None:
    """One record on its own: a plain (version 1) signature over its signed bytes, or its leaf, through its proof,
    leading to a batch root the key signed; else raises."""
    try:
        if s.size < 0:
            raise ValueError("malformed signature header")
        data = signing.signed_bytes(value, headers)
        if s.size == 0:
            verify_key.verify(data, s.signature)
            return
        path = [s.proof[i : i + 32] for i in range(0, len(s.proof), 32)]
        root = merkle.root_from_inclusion(merkle.leaf_hash(data), s.position, s.size, path)
        if root is None:
            raise ValueError("proof does not fit its batch")
        _root_signed(verify_key, public_key, root, s.signature)
    except (ValueError, BadSignatureError):
        raise Unauthenticated(FIELD, "signature does not verify") from None


Todo = tuple[Any, "SigningKey | None", FactSignature | None]


def _proven_batches(verifier: Callable[[SigningKey], VerifyKey], todo: Sequence[Todo]) -> set[int]:
    """The records (by `id`) of signed batches that arrived whole: the batch's tree is rebuilt from its records'
    leaves in one pass (one hash per node, instead of a proof's six per record), its root's signature checked once,
    and each record's proof compared with the rebuilt tree's path — so each record is held to exactly what
    `_verify_alone` checks, at a fraction of the hashing. Records of a batch split between fetches, or of a batch
    that does not verify, are not in the set: `check_fact` checks them one by one, and names the bad ones."""
    groups: dict[tuple[str, bytes, int], dict[int, tuple[Any, bytes]]] = {}
    for r, key, s in todo:
        if key is None or s is None or s.size < 1:
            continue
        group = groups.get((s.key_id, s.signature, s.size))
        if group is None:
            group = groups[(s.key_id, s.signature, s.size)] = {}
        if s.position in group:  # the same place twice: not one whole batch
            group[-1] = (None, b"")
        group[s.position] = (r, s.proof)
    proven: set[int] = set()
    keys = {key.key_id: key for _, key, _ in todo if key is not None}
    sha = hashlib.sha256
    for (key_id, sig, size), members in groups.items():
        if len(members) != size or not all(i in members for i in range(size)):
            continue
        records = [members[i] for i in range(size)]
        levels = merkle.levels_of(
            [sha(b"\x00" + signing.signed_bytes(r.value, r.headers or ())).digest() for r, _ in records]
        )
        signer = keys[key_id]
        try:
            _root_signed(verifier(signer), signer.public_key, levels[-1][0], sig)
        except (ValueError, BadSignatureError):
            continue
        for i, (r, proof) in enumerate(records):
            if proof == b"".join(merkle.path_in(levels, i)):
                proven.add(id(r))
    return proven


def prove_whole_batches(
    records: Sequence[Any], key_of: Callable[[str], SigningKey | None], verifier: Callable[[SigningKey], VerifyKey]
) -> tuple[list[tuple[SigningKey, list[Any]]], list[Any]]:
    """(Records proven with their whole batch, with the key that signed them; the others). A batch is proven when
    all its records are here: its tree is rebuilt from their leaves (one hash per node), the root's signature
    checked once, and each record's header compared, byte for byte, with the header the signer writes for that
    place (key id, signature, index, size and the rebuilt tree's path) — exactly what checking the record alone
    (`_verify_alone`) requires of it, without parsing it or hashing its proof."""
    groups: dict[tuple[bytes, int], dict[int, tuple[Any, bytes, bytes]]] = {}
    others: list[Any] = []
    unpack, v2, name, sha, signed_bytes = (
        _PLACE.unpack_from,
        _V2,
        signing.HEADER,
        hashlib.sha256,
        signing.signed_bytes,
    )
    group: dict[int, tuple[Any, bytes, bytes]] = {}
    current, current_size = b"", -1  # the group of the record before: a batch's records come one after the other
    for r in records:
        try:
            headers = r.headers
        except AttributeError:  # unreadable: refused before anyone authenticates it
            continue
        v, structured = None, True
        for k, value in headers or ():
            if k == name:  # as services write it; another spelling takes the general path
                if v is None:  # the first, as parse_signature reads it
                    v = value
            elif k[2:3] == "_":  # perhaps a binary-mode attribute (ce_*): signed_bytes decides
                structured = False
        if v is None or v[:1] != v2 or len(v) < 2 or len(v) < 70 + v[1]:
            others.append(r)
            continue
        end = 66 + v[1]  # version, length, key id, signature
        position, size = unpack(v, end)
        if size != current_size or len(current) != end or not v.startswith(current):  # v[:end] is not `current`
            current, current_size = where = (v[:end], size)
            group = groups.setdefault(where, {})
        if position in group:  # the same place twice: not one whole batch
            others.append(r)
            group[-1] = group.pop(position)
            continue
        # The leaf hashed here, in the same pass: a fact's signed bytes are its value (structured mode).
        value = r.value or b""
        group[position] = (r, v, sha(b"\x00" + (value if structured else signed_bytes(value, r.headers))).digest())
    proven: list[tuple[SigningKey, list[Any]]] = []
    for (prefix, size), members in groups.items():
        key = None
        if len(members) == size and all(i in members for i in range(size)):
            with contextlib.suppress(UnicodeDecodeError):
                key_id = prefix[2:-_SIG].decode("ascii")
                key = key_of(key_id)
        if key is None:
            others += [r for r, _, _ in members.values()]
            continue
        batch = [members[i] for i in range(size)]
        levels = merkle.levels_of([leaf for _, _, leaf in batch])
        try:
            _root_signed(verifier(key), key.public_key, levels[-1][0], prefix[-_SIG:])
        except (ValueError, BadSignatureError):
            others += [r for r, _, _ in batch]
            continue
        # The header the signer writes for place i is prefix + (i, size) + path: the prefix and the place are
        # this group's by construction, so what is left to compare is the path, at the end.
        good = []
        head = len(prefix) + 4
        for (r, v, _), path in zip(batch, merkle.paths_of(levels), strict=True):
            if len(v) == head + len(path) and v.endswith(path):
                good.append(r)
            else:
                others.append(r)
        proven.append((key, good))
    return proven, others


def logical_topic(physical_topic: str, prefix: str = "") -> str | None:
    """The registry name of a physical topic ('<prefix>lgnet.intake.events' -> 'intake.events'; a family's member
    its family's: '<prefix>lgnet.partner.reminders.coop-a' -> 'partner.reminders.{partner}'), or None."""
    head = f"{prefix}lgnet."
    if not physical_topic.startswith(head):
        return None
    name = physical_topic[len(head) :]
    if name in TOPICS:
        return name
    try:
        return family_of(name)[0].name
    except KeyError:
        return None


class FactAuthenticator:
    """The consumer hooks (`authenticate`, `verify`) that make one consumer accept only signed facts: unsigned,
    unknown-key, forged or misattributed records are dead-lettered with the reason and counted (by the consumer,
    once per record: lgnet_facts_refused_total)."""

    def __init__(self, registry: KeyRegistry) -> None:
        self.registry = registry
        self.on_topic = TopicCheck(registry.prefix)
        # id(record) -> (the record, the key that signed it or why not), from `prepare` (the record held there, its id
        # cannot be reused meanwhile)
        self._checked: dict[int, tuple[Any, SigningKey | FactSignatureError]] = {}

    async def prepare(self, records: Sequence[Any]) -> None:
        """Check a fetched batch's signatures at once; `authenticate` then takes each record's result (for that very
        record object only). On the event loop: with one Ed25519 verification per signed batch, what is left per
        record is Python (parsing, hashing small values) that holds the GIL, so a worker thread only added a hand-off
        and GIL contention with the loop (docs/benchmarks.md).

        Records with a version 2 header whose whole signed batch is in the fetch (the usual case) are proven
        together (`prove_whole_batches`); every other record — version 1, a batch split between fetches, anything
        that does not prove — is parsed and checked by the general path, which names the bad ones."""
        if len(self._checked) > 100_000:  # leftovers of batches an infrastructure error interrupted
            self._checked.clear()
        verdicts, checked = await self.verdicts(records), self._checked
        for r in records:
            verdict = verdicts.get(id(r))
            if verdict is not None:
                checked[id(r)] = (r, verdict)

    async def verdicts(self, records: Sequence[Any]) -> dict[int, SigningKey | FactSignatureError]:
        """`prepare`'s decisions, by `id` of record (valid while the caller holds the records): the key that signed
        each, or the FactSignatureError `authenticate` raises for it — for a tool that takes them for a whole fetch at
        once (`lgnet-replay`). A record that cannot be checked at all (no headers) is not in it."""
        # A batch signed with a key not seen yet takes the general path below, which looks the key up.
        proven, others = prove_whole_batches(records, self.registry.keys.get, self.registry.verifier)
        todo: list[Todo] = []
        keys = self.registry.keys
        for r in others:
            signature = parse_signature(r.headers or ())
            key = keys.get(signature.key_id) if signature else None
            if signature and key is None:  # not seen yet: re-read the registry (rarely)
                key = await self.registry.lookup(signature.key_id)
            todo.append((r, key, signature))
        return self._check_all(todo, proven)

    def _check_all(
        self, todo: list[Todo], whole: Sequence[tuple[SigningKey, list[Any]]] = ()
    ) -> dict[int, SigningKey | FactSignatureError]:
        proven = _proven_batches(self.registry.verifier, todo)
        out: dict[int, SigningKey | FactSignatureError] = {}
        topics: dict[str, str | None] = {}  # physical -> logical, once per fetch (a fetch is one partition's)
        for key, batch in whole:  # proven with their batch: what is left is whether the key may write the topic
            found = {r.topic for r in batch}  # one topic, unless records were copied from their signed batch
            for physical_topic in found:
                members = batch if len(found) == 1 else [r for r in batch if r.topic == physical_topic]
                topic = topics[physical_topic] = logical_topic(physical_topic, self.registry.prefix)
                first = members[0]
                try:
                    verdict = check_fact(key, self.registry.verifier, topic, first.value, first.headers, proven=True)
                except FactSignatureError as err:
                    out[id(first)] = err
                    for r in members[1:]:  # refused alike, each with an exception of its own (raised separately)
                        try:
                            out[id(r)] = check_fact(key, self.registry.verifier, topic, r.value, r.headers, proven=True)
                        except FactSignatureError as again:
                            out[id(r)] = again
                    continue
                out.update(zip(map(id, members), repeat(verdict)))  # one verdict for the batch's records
        for r, signer, signature in todo:
            topic = topics.get(r.topic, "")
            if topic == "":
                topic = topics[r.topic] = logical_topic(r.topic, self.registry.prefix)
            try:
                out[id(r)] = check_fact(
                    signer, self.registry.verifier, topic, r.value, r.headers or (), signature, proven=id(r) in proven
                )
            except FactSignatureError as err:
                out[id(r)] = err
        return out

    async def authenticate(self, _conn: Any, record: Any) -> str:
        done = self._checked.pop(id(record), None)
        if done is not None and done[0] is record:
            if isinstance(done[1], FactSignatureError):
                raise done[1]
            return done[1].key_id
        signature = parse_signature(record.headers or ())
        key = await self.registry.lookup(signature.key_id) if signature else None
        topic = logical_topic(record.topic, self.registry.prefix)
        return check_fact(key, self.registry.verifier, topic, record.value, record.headers or (), signature).key_id

    async def verify(self, _conn: Any, record: Any, env: Envelope, sender: str | None) -> None:
        key = self.registry.keys.get(sender or "")
        if key is None:
            raise FactSignatureError("unknown_key", FIELD, f"key {sender!r} is not registered")
        check_claims(key, env)
        self.on_topic(record.topic, env.type)


class KeyRegistry:
    """The registered keys, read from the registry topic; re-read when a fact names a key not seen yet, e.g. a
    deployment that joined after this one started."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str = "",
        security: KafkaSecurity | None = None,
        refresh_s: float = 0.5,
        *,
        kafka: dict[str, Any] | None = None,
    ) -> None:
        """`kafka`: further aiokafka settings (over `security`'s), as a partner's SDK client was given them."""
        self.bootstrap, self.prefix, self.security, self.refresh_s = bootstrap, prefix, security, refresh_s
        self.kafka = kafka or {}
        self.keys: dict[str, SigningKey] = {}
        self.pinned = False  # keys given, never read from the registry topics (`pinned_keys`)
        self.topics_seen = 0  # registry topics the last read found (none: nothing registered, or none readable)
        self.ignored: list[IgnoredKey] = []  # registry records that register nothing, as read so far
        self._verifiers: dict[str, VerifyKey] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._refreshing = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}  # where the last read ended, per registry topic

    @classmethod
    def pinned_keys(cls, keys: Iterable[SigningKey], prefix: str = "") -> KeyRegistry:
        """A registry of the given keys only, as checked out of band: a look-up never reads the registry topics."""
        registry = cls("", prefix)
        registry.add(keys)
        registry.pinned = True
        return registry

    def _ignore(self, found: list[IgnoredKey]) -> None:
        """Kept for `registry_contents` and said once each in the log: an operator finds who wrote it by its place."""
        if not found:
            return
        from lgnet_shared import logs  # here: the partner SDK reads keys too, without the services' runtime

        for i in found:
            logs.get_logger(__name__).warning(
                "signing-key record ignored", topic=i.topic, partition=i.partition, offset=i.offset, reason=i.reason
            )
        self.ignored += found

    def add(self, keys: Iterable[SigningKey]) -> None:
        for key in keys:
            # A key id is bound to its public key by its fingerprint: a record reusing an id with another key is
            # refused by from_json; the first registration of an id stays.
            self.keys.setdefault(key.key_id, key)

    async def load(self) -> None:
        """Read what was registered since the last read, in every deployment's registry topic (one consumer, kept
        between reads; a read lists the cluster's topics, reads the registry's from where the last read ended —
        from its start for one new since, or whose log no longer holds that place — and lets them go). Between reads
        the consumer holds no partition: assigned, aiokafka fetched them in the background all the while, and asked
        for metadata without pause once a registry topic was gone."""
        async with self._lock:
            if self._consumer is not None and not _fetching(self._consumer):
                await self.close()  # its fetch routine died (see below): a new consumer reads on
            if self._consumer is None:
                self._consumer = AIOKafkaConsumer(
                    **{
                        **client_kwargs(self.bootstrap, self.security),
                        **self.kafka,
                        **READ_AND_GO,
                        "enable_auto_commit": False,
                        "auto_offset_reset": "earliest",
                    }
                )
                await self._consumer.start()
            consumer = self._consumer  # `close` may drop it meanwhile (a shutdown during a lookup)
            family = TOPICS[REGISTRY_TOPIC].family_prefix(self.prefix)
            found = sorted(t for t in await consumer.topics() if t.startswith(family))
            partitions = [TopicPartition(t, 0) for t in found]
            self.topics_seen = len(partitions)
            self._positions = {tp: at for tp, at in self._positions.items() if tp in partitions}  # gone: forgotten
            if partitions:
                firsts = await consumer.beginning_offsets(partitions)
                ends = await consumer.end_offsets(partitions)
                for tp in partitions:
                    at = self._positions.get(tp)
                    self._positions[tp] = at if at is not None and firsts[tp] <= at <= ends[tp] else firsts[tp]
                # Only what has something to read is assigned: assigned and let go again without a fetch in between
                # (nothing new), aiokafka's fetch routine woke to no subscription and died, and the consumer never
                # fetched again (every later read found nothing: a key registered since was never found).
                todo = [tp for tp in partitions if self._positions[tp] < ends[tp]]
                if todo:
                    consumer.assign(todo)
                    for tp in todo:  # before any await: no offset reset can come first
                        consumer.seek(tp, self._positions[tp])
                    try:
                        ignored: list[IgnoredKey] = []
                        self.add(await _read_to_end(consumer, todo, ends, self.prefix, ignored=ignored))
                        self._ignore(ignored)
                        self._positions.update({tp: await consumer.position(tp) for tp in todo})
                    finally:
                        try:
                            await asyncio.sleep(0)  # the fetch routine takes the assignment before it goes
                        finally:
                            consumer.unsubscribe()
            self._loaded_at = time.monotonic()

    async def close(self) -> None:
        """Stops the consumer; a consumer that fails to stop cleanly is dropped all the same (at shutdown, the
        service's other resources still get closed)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError as exc:  # raised by its dead fetcher before the client was closed: close it here
                from lgnet_shared import logs  # here: the partner SDK reads keys too, without the services' runtime

                error = f"{type(exc).__name__}: {exc}"
                logs.get_logger(__name__).warning("signing_key_reader_stop_failed", error=error)
                with contextlib.suppress(Exception):
                    await consumer._client.close()

    async def lookup(self, key_id: str) -> SigningKey | None:
        """A key not known yet is looked for in a fresh read of the registry, so a key registered before its first
        fact is always found (a deployment registers before it publishes). Re-reads are at least `refresh_s`
        apart: a flood of facts naming unknown keys slows their consumer, it does not hammer the broker. A key the
        read from the saved places did not find is looked for in a whole re-read: a registry topic deleted and made
        again since the last read (its deployment re-provisioned) may be as long as the old one was, and the saved
        place then looks valid on it (registry topics hold a few records each)."""
        if key_id in self.keys or self.pinned:
            return self.keys.get(key_id)
        async with self._refreshing:  # concurrent partitions missing the same key: one re-read serves them all
            if key_id not in self.keys:
                wait = self._loaded_at + self.refresh_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.load()
            if key_id not in self.keys:
                self._positions = {}
                await self.load()
        return self.keys.get(key_id)

    def verifier(self, key: SigningKey) -> VerifyKey:
        v = self._verifiers.get(key.key_id)
        if v is None:
            v = self._verifiers[key.key_id] = signing.verifying_key(key.raw)
        return v


# A signature header present but unreadable (cut, or not either version's form: no key id can be read from it). Not
# "missing": someone wrote it; it is refused as a signature that does not verify (code "invalid").
MALFORMED = "signature does not verify: its header is cut or malformed (no key id can be read from it)"


class FactSignatureError(Unauthenticated):
    """A fact that is not provably written by a deployment allowed to write it. `code`: one of CODES (the metric's
    `reason` label)."""

    kind = "fact_signature"
    CODES = ("missing", "unknown_key", "invalid", "not_a_writer", "claims", "wrong_topic")

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.code = code


def check_fact(
    key: SigningKey | None,
    verifier: Callable[[SigningKey], VerifyKey],
    topic: str | None,
    value: bytes | None,
    headers: Headers,
    signature: FactSignature | None = None,
    *,
    proven: bool = False,
) -> SigningKey:
    """The key that signed a fact record on logical `topic`, or Unauthenticated naming the reason. Shared by the
    consumers (keys from the registry topic) and lgnet-audit (pinned keys). `signature`: the record's
    `parse_signature`, when the caller parsed it to find the key. `proven`: the record's bytes and proof were
    already checked with its whole signed batch (`_proven_batches`, with this key); the other checks still apply."""
    signature = signature or parse_signature(headers)
    if signature is None and _header_value(headers) is not None:  # there, but not even a key id can be read
        raise FactSignatureError("invalid", FIELD, MALFORMED)
    if signature is None:
        raise FactSignatureError(
            "missing", FIELD, "missing: a canonical fact must be signed by the deployment that produced it"
        )
    key_id = signature.key_id
    if key is None:
        raise FactSignatureError("unknown_key", FIELD, f"signed with key {key_id!r}, which is not registered")
    if not proven:
        try:
            _verify_alone(verifier(key), key.public_key, value, headers, signature)
        except Unauthenticated:
            raise FactSignatureError("invalid", FIELD, f"signature does not verify with key {key_id!r}") from None
    writers = TOPICS[topic].writers if topic in TOPICS else frozenset()
    if key.service not in writers:
        raise FactSignatureError(
            "not_a_writer", FIELD, f"key {key_id!r} belongs to {key.service}, which may not write {topic}"
        )
    return key


class Claims(Protocol):
    """What `check_claims` compares with the signing key: an Envelope's, or `claims_of` a record's."""

    @property
    def signingkey(self) -> str | None: ...
    @property
    def type(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def partitionkey(self) -> str | None: ...


class _Claimed(BaseModel):
    """A structured-mode fact's claims, read by the parser the consumers' Envelope is read by (the same member
    wins when one is given twice), without validating the rest: a record that is no valid CloudEvent is refused by
    the consumers anyway, and auditors read logs whose envelopes older code wrote."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: str
    city: str
    signingkey: str | None = None
    partitionkey: str | None = None  # the Kafka key it was written with: its place (the record's key is not signed)


def claims_of(value: bytes | None, headers: Headers = ()) -> Claims:
    """The claims of a fact record (structured or binary mode), as the consumers read them; a ContractError naming
    the fault when there are none to read."""
    if value is not None and not is_binary_mode(headers):
        try:
            return _Claimed.model_validate_json(value)
        except ValidationError:
            pass  # said as the consumers say it, below
    return from_record(value, headers)


def check_record_claims(
    key: SigningKey, value: bytes | None, headers: Headers = (), topic: str | None = None
) -> Claims:
    """`check_claims` of a record the caller has not decoded (`lgnet-audit verify`: the signatures and claims of
    every fact, no event decoded), found on logical `topic`, returning the claims read; a record whose claims cannot
    be read fails as misattributed too."""
    try:
        claims = claims_of(value, headers)
    except ContractError as err:
        field = f" ({err.field})" if err.field else ""
        raise FactSignatureError("claims", err.field, f"its claims cannot be read{field}: {err.reason}") from None
    check_claims(key, claims, topic)
    return claims


def check_claims(key: SigningKey, env: Claims, topic: str | None = None) -> None:
    """The envelope names the key that signed it, a city deployment signs only its own city's facts, and (given the
    logical `topic` the record was found on) its type is one that topic carries (`check_topic`)."""
    if env.signingkey != key.key_id:
        raise FactSignatureError(
            "claims", EXTENSION, f"names key {env.signingkey!r} but the record is signed with {key.key_id!r}"
        )
    city = key.deployment_city
    if city not in ("national", env.city):
        raise FactSignatureError(
            "claims", "city", f"{env.city!r} is not the city of the signing deployment ({city or key.deployment})"
        )
    if topic is not None:
        check_topic(env.type, topic)
        if len(TOPICS[topic].writers) > 1 and service_of(env.type) != key.service:
            # A topic several services write (a partner's reminders: intake's and housing's): each key vouches
            # for its own service's types only. On a fact topic the writers and the type's topic already say it.
            owner = service_of(env.type)
            raise FactSignatureError("not_a_writer", "type", f"{env.type!r} is {owner}'s: key {key.key_id!r} is not")


def check_topic(event_type: str, topic: str) -> None:
    """A fact's type belongs on the logical topic it was found on (`events.carried_on`: the catalogue's topic of
    each type); with `check_fact`'s writers (the key's service may write the topic), a deployment's key vouches only
    for its own service's facts — a housing key's `contribution_paid` on housing.events is no payment."""
    carried = carried_on(event_type)
    if topic not in carried:
        where = ", ".join(sorted(carried)) or "no topic"
        raise FactSignatureError(
            "wrong_topic", "type", f"{event_type!r} does not belong on {topic}: it is carried by {where}"
        )


_UNSEEN = object()


class TopicCheck:
    """`check_topic` by physical topic, for a consumer's or the replay's every record: one dict lookup per record
    once a (topic, type) pair was judged."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._judged: dict[tuple[str, str], str | None] = {}  # (physical topic, type) -> why it fails, or None

    def __call__(self, physical_topic: str, event_type: str) -> None:
        where = (physical_topic, event_type)
        why = self._judged.get(where, _UNSEEN)
        if why is _UNSEEN:
            why = None
            topic = logical_topic(physical_topic, self.prefix)
            if topic is not None:
                try:
                    check_topic(event_type, topic)
                except FactSignatureError as err:
                    why = err.reason
            if len(self._judged) >= 4096:  # types are whatever a writer put there: bounded
                self._judged.clear()
            self._judged[where] = why
        if why is not None:
            raise FactSignatureError("wrong_topic", "type", str(why))

    async def verify(self, _conn: Any, record: Any, env: Envelope, _sender: str | None) -> None:
        """The consumer's `verify` hook of a deployment that checks no signatures (`fact_signatures=off`)."""
        self(record.topic, env.type)


async def read_registry(bootstrap: str, prefix: str = "", security: KafkaSecurity | None = None) -> list[SigningKey]:
    """Every key on the registry topic, from the beginning to its current end."""
    return (await registry_contents(bootstrap, prefix, security))[0]


async def registry_contents(
    bootstrap: str, prefix: str = "", security: KafkaSecurity | None = None
) -> tuple[list[SigningKey], list[IgnoredKey]]:
    """Every key on the registry topics, and every record there that counts for nothing (`IgnoredKey`)."""
    registry = KeyRegistry(bootstrap, prefix, security)
    try:
        await registry.load()
    finally:
        await registry.close()
    return list(registry.keys.values()), registry.ignored


@dataclass(frozen=True)
class IgnoredKey:
    """A registry record that registers nothing, and why: evidence an auditor raises with the operator (a deployment
    registering a key in another's name, or declaring another city) — it was dropped without a word."""

    topic: str
    partition: int
    offset: int
    reason: str


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    end: dict[TopicPartition, int],
    prefix: str = "",
    timeout_s: float = 10.0,
    ignored: list[IgnoredKey] | None = None,
) -> list[SigningKey]:
    """The keys from the consumer's positions to `end`, for at most `timeout_s` (a topic deleted meanwhile never
    reaches its end: the next read goes on). Malformed records are skipped (a key that cannot be read verifies
    nothing), and so is a key on another deployment's or service's registry topic than its own: a deployment can
    only vouch for its own keys. So is a key whose declared city is not its deployment's (read off the name the
    operator provisioned): a deployment cannot make its key national or another city's. Each skipped record is
    added to `ignored`."""
    keys: list[SigningKey] = []
    deadline = time.monotonic() + timeout_s
    while [tp for tp in partitions if await consumer.position(tp) < end[tp]] and time.monotonic() < deadline:
        batch = await consumer.getmany(*partitions, timeout_ms=1000)
        for tp, records in batch.items():
            writer = registry_writer(tp.topic, prefix)
            for r in records:
                if (why := _ignored_because(r.value, writer)) is None:
                    keys.append(SigningKey.from_json(r.value or b""))
                elif ignored is not None:
                    ignored.append(IgnoredKey(tp.topic, tp.partition, r.offset, why))
    return keys


def _ignored_because(value: bytes | None, writer: str | None) -> str | None:
    """Why a registry record on `writer`'s topic registers nothing; None when it registers its key."""
    try:
        key = SigningKey.from_json(value or b"")
    except (ValueError, KeyError, TypeError):
        return "not a signing key (unreadable)"
    if writer != f"{key.deployment}.{key.service}":
        return (
            f"key {key.key_id} of {key.deployment}.{key.service} on {writer}'s registry: a deployment registers its"
            " own keys only"
        )
    if key.city != key.deployment_city:
        return f"key {key.key_id} declares city {key.city}: its deployment {key.deployment} is {key.deployment_city}'s"
    return None


def _fetching(consumer: AIOKafkaConsumer) -> bool:
    """Whether the consumer's background fetch routine still runs (aiokafka keeps it private; once it has died, on
    any error of its own, the consumer fetches nothing again)."""
    task = getattr(getattr(consumer, "_fetcher", None), "_fetch_task", None)
    return task is None or not task.done()


def registry_topic(deployment: str, service: str, prefix: str = "") -> str:
    """The physical registry topic of one service deployment ('<prefix>lgnet.signing-keys.torino.intake')."""
    return physical(for_writer(REGISTRY_TOPIC, deployment, service), prefix)


def registry_writer(physical_topic: str, prefix: str = "") -> str | None:
    """'<deployment>.<service>' whose registry a physical topic is, None if it is none."""
    head = f"{prefix}lgnet."
    try:
        family, member = family_of(physical_topic.removeprefix(head))
    except KeyError:
        return None
    return member if physical_topic.startswith(head) and family.name == REGISTRY_TOPIC else None


async def publish_key(
    producer: AIOKafkaProducer,
    key: SigningKey,
    prefix: str = "",
    security: KafkaSecurity | None = None,
    *,
    ensure: bool = True,
) -> None:
    """Register `key` in its own deployment's registry topic. `ensure`: create that topic first if missing (the
    service's principal may create its own; `security`: the producer's, None for the KAFKA_* environment) — a
    service that created it with its other topics passes False."""
    topic = registry_topic(key.deployment, key.service, prefix)
    if ensure:
        # The producer's bootstrap servers, from its client's (public) host list.
        bootstrap = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p, _ in producer.client.hosts)
        await ensure_topics(
            bootstrap, prefix, [for_writer(REGISTRY_TOPIC, key.deployment, key.service)], security=security
        )
    await producer.send_and_wait(topic, key.to_json(), key=key.key_id.encode())


def pinned_file(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """What an auditor pins: the keys (as checked out of band)."""
    return {"keys": [asdict(k) for k in sorted(keys, key=lambda k: k.key_id)]}


def read_pinned(doc: dict[str, Any]) -> dict[str, SigningKey]:
    keys = [SigningKey.from_json(json.dumps(k)) for k in doc.get("keys", [])]
    return {k.key_id: k for k in keys}
