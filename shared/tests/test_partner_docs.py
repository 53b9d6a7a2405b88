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


def a_ca_pem() -> str:
    """A self-signed CA certificate (the bundle's `kafka.ca_pem` stands for the cluster's)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LgNet test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM).decode()


def test_the_sdk_example_runs_as_written_from_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's SDK example is a program a partner can run with its bundle and its seed: every name defined, intake's
    key fetched, the record signed under the bundle's key id, sealed to intake's key, and sent to the bundle's topic
    prefix (a sandbox bundle's records must not reach the real intake). Kafka and intake are stood in for here."""
    import json
    import os

    import httpx
    from lgnet_shared import sdk

    section = PARTNERS_MD.read_text(encoding="utf-8").split("## With the Python SDK", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    seed = bytes(range(32))
    intake_private, intake_public = pii.hpke_keypair()
    bundle = {
        "partner": "coop-aurora",
        "city": "torino",
        "kafka": {
            "bootstrap_servers": "kafka.example:9092",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "username": "partner.coop-aurora",
            "password": "secret",
            "ca_pem": a_ca_pem(),
            "topic_prefix": "sandbox.",
        },
        "signing": {"key_id": "coop-aurora-2026"},
        "services": {"intake": {"url": "https://intake.example", "token": "lgn_x"}},
    }
    (tmp_path / "coop-aurora.json").write_text(json.dumps(bundle))
    (tmp_path / "signing-seed.hex").write_text(seed.hex() + "\n")
    asked: list[str] = []

    def intake(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url} {request.headers['authorization']}")
        return httpx.Response(200, json={"key_id": "ik-1", "public_key": intake_public, "suite": "..."})

    real_http_client = sdk.http_client
    monkeypatch.setattr(
        sdk,
        "http_client",
        lambda url, token, **kw: real_http_client(url, token, inner=httpx.MockTransport(intake), **kw),
    )
    sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    class Producer:
        async def send_and_wait(
            self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]
        ) -> None:
            sent.append((topic, value, headers))

        async def stop(self) -> None:
            return None

    async def start(self: sdk.PartnerClient) -> None:
        assert self._kafka["sasl_plain_username"] == "partner.coop-aurora"
        self._producer = Producer()

    async def no_answers(self: sdk.PartnerClient, **kw: object):  # type: ignore[no-untyped-def]
        assert str(kw["group_id"]).startswith("sandbox.partner.coop-aurora.")
        return
        yield

    monkeypatch.setattr(sdk.PartnerClient, "start", start)
    monkeypatch.setattr(sdk.PartnerClient, "rejections", no_answers)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # run twice, as a reader does: each run registers a person of its own
        exec(compile(code.group(1), "docs/partners.md", "exec"), {"__name__": "__main__"})

    assert asked == ["https://intake.example/inbound-key Bearer lgn_x"] * 2
    [(topic, value, headers), (_, again, again_headers)] = sent
    # A fixed id made the second run (or a second partner copying it) a conflict: every run takes a new one
    ids = [decode(from_record(v, h, b"coop-aurora")).model_dump()["person_id"] for v, h in ((value, headers),
           (again, again_headers))]  # fmt: skip
    assert ids[0] != ids[1], ids
    assert topic == "sandbox.lgnet.partner.inbound.torino"
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert signing.key_id_of(headers) == "coop-aurora-2026"
    signing.verify(signing.public_bytes(key), value, headers)
    env = from_record(value, headers, b"coop-aurora")
    assert isinstance(event := decode(env), inbound.PersonRegistrationSubmitted) and event.identity.all is not None
    assert json.loads(pii.open_from(intake_private, event.identity.all, "all"))["given_name"] == "Amina"
    assert os.path.exists(tmp_path / "lgnet-ca.pem")


def test_the_rules_for_verifying_answers_in_your_own_client_are_the_sdks() -> None:
    """The section a client without the SDK is written from (the reference clients are) says which services write each
    answer topic, which types it carries, the reasons and the key record's members: the topic registry's writers, the
    catalogue's topics, `FactSignatureError.CODES` and `SigningKey`, which the SDK checks with."""
    import json
    from dataclasses import fields

    from lgnet_shared.events.base import carried_on, event_types
    from lgnet_shared.fact_signing import FactSignatureError, SigningKey
    from lgnet_shared.topics import TOPICS

    section = PARTNERS_MD.read_text(encoding="utf-8").split("#### Verifying answers in your own client", 1)[1]
    section = section.split("\n## ", 1)[0]
    writers = re.search(
        r"rejections topic is written by `(\w+)` only, your reminders topic by `(\w+)` and `(\w+)`", section
    )
    types = re.search(r"rejections `([\w.]+)`; reminders `([\w.]+)` and `([\w.]+)`", section)
    assert writers is not None and types is not None
    rejections, reminders = "partner.rejections.{partner}", "partner.reminders.{partner}"
    assert {writers[1]} == TOPICS[rejections].writers
    assert {writers[2], writers[3]} == TOPICS[reminders].writers
    assert {t for t in event_types() if rejections in carried_on(t)} == {types[1]}
    assert {t for t in event_types() if reminders in carried_on(t)} == {types[2], types[3]}
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == set(FactSignatureError.CODES)
    assert set(json.loads(block("signing-key-record"))) == {f.name for f in fields(SigningKey)}
