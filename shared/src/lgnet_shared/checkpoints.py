"""Signed checkpoints of the fact log in the C2SP formats: `tlog-checkpoint` (origin, tree size, base64 root hash,
one per line) as the body of a `signed-note` (a blank line, then `— <key name> <base64(key hash || signature)>` lines).

Ed25519 key hash: the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key); a verifier key is written
`<name>+<hex key hash>+<base64(0x01 || public key)>`, which is what an auditor pins. One checkpoint per fact
topic-partition; the origin names it, with the topic prefix of the log when it has one, as its topics' names do:
`lgnet/intake.events/2` unprefixed (every deployment's origin until December 2026), `staging.lgnet/intake.events/2`
under `LGNET_TOPIC_PREFIX=staging.` — two logs notarised with one key no longer have interchangeable checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from lgnet_shared.signing import public_bytes

ALG_ED25519 = b"\x01"
_NAME = re.compile(r"^[^\s+]+$")


def origin_of(topic: str, partition: int, prefix: str = "") -> str:
    return f"{prefix}lgnet/{topic}/{partition}"


def split_origin(text: str) -> tuple[str, str, int] | None:
    """(topic prefix, logical topic, partition) of an origin `origin_of` writes, None for any other text (a topic
    prefix has no '/': Kafka's topic characters are `A-Z a-z 0-9 . _ -`)."""
    parts = text.split("/")
    if len(parts) != 3 or not parts[0].endswith("lgnet") or not parts[2].isdigit():
        return None
    return parts[0][: -len("lgnet")], parts[1], int(parts[2])


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    return f"{name}+{key_hash(name, public).hex()}+{base64.b64encode(ALG_ED25519 + public).decode()}"


@dataclass(frozen=True)
class Verifier:
    name: str
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        try:
            name, hash_hex, key_b64 = vkey.strip().split("+", 2)  # base64 may contain "+" too
            raw = base64.b64decode(key_b64, validate=True)
        except ValueError:
            raise ValueError("verifier key must be <name>+<hex key hash>+<base64 key>") from None
        if raw[:1] != ALG_ED25519 or len(raw) != 33:
            raise ValueError("verifier key is not an Ed25519 key")
        if key_hash(name, raw[1:]).hex() != hash_hex:
            raise ValueError("verifier key hash does not match its name and key")
        return cls(name, raw[1:])

    def __str__(self) -> str:
        return verifier_key(self.name, self.public)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str = ""  # the signed note it was read from (or written as)

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


class CheckpointError(ValueError):
    pass


class NotarySigner:
    def __init__(self, name: str, seed: bytes) -> None:
        if not _NAME.match(name):
            raise ValueError("a key name has no spaces and no '+'")
        self.name, self._private = name, Ed25519PrivateKey.from_private_bytes(seed)
        self.verifier = Verifier(name, public_bytes(self._private))

    def sign(self, origin: str, size: int, root: bytes) -> Checkpoint:
        body = Checkpoint(origin, size, root).body()
        sig = self._private.sign(body.encode())
        line = f"— {self.name} {base64.b64encode(key_hash(self.name, self.verifier.public) + sig).decode()}\n"
        return Checkpoint(origin, size, root, body + "\n" + line)


def open_checkpoint(note: str, verifiers: list[Verifier]) -> Checkpoint:
    """The checkpoint of a signed note, if a pinned verifier signed it; CheckpointError naming the reason otherwise."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise CheckpointError("not a signed note: no blank line between text and signatures")
    body += "\n"
    lines = body.split("\n")
    if len(lines) < 4:
        raise CheckpointError("not a checkpoint: origin, size and root hash lines expected")
    try:
        size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise CheckpointError("not a checkpoint: size or root hash unreadable") from None
    if size < 0 or len(root) != 32:
        raise CheckpointError("not a checkpoint: bad size or root hash length")
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "—":
            continue
        for v in verifiers:
            if parts[1] != v.name:
                continue
            try:
                raw = base64.b64decode(parts[2], validate=True)
                if raw[:4] != key_hash(v.name, v.public):
                    continue
                VerifyKey(v.public).verify(body.encode(), raw[4:])
            except (ValueError, BadSignatureError):
                raise CheckpointError(f"signature of {v.name} does not verify") from None
            return Checkpoint(lines[0], size, root, note)
    raise CheckpointError("signed by no pinned notary key")
