"""docs/partners.md's worked example is checked against the code that runs: the documented signatures are what
`lgnet_shared.signing` makes, the documented sealed values open with intake's HPKE code and are what an
independent RFC 9180 implementation (below, written from the RFC) makes from the documented ephemeral keys,
and the documented records are accepted by the gatekeeper's own decoding. The page cannot drift from the code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lgnet_shared import pii, signing
from lgnet_shared.codec import decode
from lgnet_shared.envelope import from_record
from lgnet_shared.events import Sealed
from lgnet_shared.events import partner as inbound

# --- HPKE base mode, single shot, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, written from RFC 9180
# alone, with a caller-chosen ephemeral key: independent of the implementation intake runs.

KEM_ID, KDF_ID, AEAD_ID = 0x0020, 0x0001, 0x0001
KEM_SUITE = b"KEM" + KEM_ID.to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")


def extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:length]


def labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal(recipient: bytes, ephemeral: bytes, info: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """enc || ciphertext+tag, as RFC 9180's single-shot Seal in base mode (sequence number 0)."""
    sk_e = X25519PrivateKey.from_private_bytes(ephemeral)
    enc = raw(sk_e.public_key())
    dh = sk_e.exchange(X25519PublicKey.from_public_bytes(recipient))
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared = labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + recipient, 32)
    psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash  # mode_base
    secret = labeled_extract(HPKE_SUITE, shared, b"secret", b"")
    key = labeled_expand(HPKE_SUITE, secret, b"key", context, 16)
    nonce = labeled_expand(HPKE_SUITE, secret, b"base_nonce", context, 12)
    return enc + AESGCM(key).encrypt(nonce, plaintext, aad)


PARTNERS_MD = Path(__file__).resolve().parents[2] / "docs" / "partners.md"


def block(tag: str) -> str:
    found = re.search(rf"```[a-z]+ {re.escape(tag)}\n(.*?)\n```", PARTNERS_MD.read_text(), re.S)
    assert found, f"docs/partners.md has no block tagged {tag}"
    return found[1]


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    pairs = (line.split(" = ", 1) for line in block("worked-example").splitlines())
    return {k.strip(): v.strip() for k, v in pairs}


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_the_signing_key_and_signatures_are_what_the_code_makes(example: dict[str, str]) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(example["signing seed (Ed25519 private key, hex)"]))
    assert base64.b64encode(signing.public_bytes(key)).decode() == example["signing public key (base64)"]
    key_id = example["signing key id"]
    structured = block("worked-example-structured").encode()
    assert signing.sign(key, key_id, structured, [])[1].decode() == example["structured lgnet-signature"]
    value = block("worked-example-binary-value").encode()
    headers = [
        (line.split("=", 1)[0], line.split("=", 1)[1].encode()) for line in block("worked-example-binary-lines").split()
    ]
    assert signing.signed_bytes(value, headers) == value + b"\n" + block("worked-example-binary-lines").encode()
    signature = (signing.HEADER, example["binary lgnet-signature"].encode())
    assert signing.sign(key, key_id, value, headers) == signature
    signing.verify(signing.public_bytes(key), value, [*headers, signature])  # and intake accepts it


@pytest.mark.parametrize("field", ["given_name", "birth_date", "all"])
def test_the_sealed_values_are_rfc9180_and_open_with_intakes_code(example: dict[str, str], field: str) -> None:
    private = bytes.fromhex(example["intake test private key (X25519, hex)"])
    recipient = raw(X25519PrivateKey.from_private_bytes(private).public_key())
    assert base64.urlsafe_b64encode(recipient).rstrip(b"=").decode() == example["intake test public key (base64url)"]
    kid = example["kid"]
    assert kid == pii.HPKE_PREFIX + example["intake key id"]
    info = example[f"{field} info"]
    assert info == f"lgnet:{kid}:{field}"
    plaintext = example[f"{field} plaintext"]
    ephemeral = bytes.fromhex(example[f"{field} ephemeral private key (hex)"])
    ct = example[f"{field} ct"]
    assert seal(recipient, ephemeral, info.encode(), plaintext.encode()) == unb64(ct)  # RFC 9180: info, empty aad
    if f"{field} enc (hex)" in example:
        assert unb64(ct)[:32].hex() == example[f"{field} enc (hex)"]
    opened = pii.open_from(X25519PrivateKey.from_private_bytes(private), Sealed(kid=kid, n="", ct=ct), field)
    assert opened == plaintext
    # what the code seals opens with the independent reading too: same suite, same info, same layout
    mine = pii.seal_for(example["intake test public key (base64url)"], example["intake key id"], field, plaintext)
    assert pii.open_from(X25519PrivateKey.from_private_bytes(private), mine, field) == plaintext


def test_the_documented_records_are_read_by_the_gatekeepers_decoding() -> None:
    structured = from_record(block("worked-example-structured").encode(), [], b"coop-aurora")
    registration = decode(structured, strict=True)
    assert isinstance(registration, inbound.PersonRegistrationSubmitted)
    assert (structured.partner, structured.partitionkey) == ("coop-aurora", "coop-aurora")
    headers = [
        (line.split("=", 1)[0], line.split("=", 1)[1].encode()) for line in block("worked-example-binary-lines").split()
    ]
    binary = from_record(block("worked-example-binary-value").encode(), headers, b"coop-aurora")
    assert isinstance(decode(binary, strict=True), inbound.ConsentReported)
    assert binary.partitionkey == "coop-aurora"  # the record key stands in for ce_partitionkey
