"""Partners' record signatures: what the gatekeeper accepts and refuses (unit tests, no I/O)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lgnet_shared import signing
from lgnet_shared.errors import Unauthenticated

VALUE = b'{"specversion": "1.0"}'
HEADERS = [("ce_type", b"lgnet.partner.person_registration_submitted"), ("content-type", b"application/json")]


def signed(key: Ed25519PrivateKey) -> list[tuple[str, bytes]]:
    return [*HEADERS, signing.sign(key, "coop-key", VALUE, HEADERS)]


def test_a_signature_made_with_cryptography_verifies_with_raw_or_loaded_key() -> None:
    key = Ed25519PrivateKey.generate()
    headers = signed(key)
    signing.verify(signing.public_bytes(key), VALUE, headers)
    signing.verify(signing.verifying_key(signing.public_bytes(key)), VALUE, headers)
    assert signing.key_id_of(headers) == "coop-key"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v, h: (v + b" ", h),  # value changed after signing
        lambda v, h: (v, [("ce_type", b"lgnet.partner.case_closure_submitted"), *h[1:]]),  # a ce_ header changed
        lambda v, h: (v, [*h[:-1], (signing.HEADER, b"ed25519;coop-key;AAAA")]),  # signature replaced
    ],
)
def test_tampered_records_are_refused(tamper: object) -> None:
    key = Ed25519PrivateKey.generate()
    value, headers = tamper(VALUE, signed(key))  # type: ignore[operator]
    with pytest.raises(Unauthenticated) as err:
        signing.verify(signing.public_bytes(key), value, headers)
    assert err.value.field == f"headers.{signing.HEADER}"


def test_another_partners_key_does_not_verify() -> None:
    headers = signed(Ed25519PrivateKey.generate())
    with pytest.raises(Unauthenticated, match="does not verify"):
        signing.verify(signing.public_bytes(Ed25519PrivateKey.generate()), VALUE, headers)


def test_a_missing_or_malformed_header_is_named() -> None:
    key = signing.public_bytes(Ed25519PrivateKey.generate())
    for headers in (HEADERS, [*HEADERS, (signing.HEADER, b"rsa;k;sig")]):
        with pytest.raises(Unauthenticated, match="missing or malformed"):
            signing.verify(key, VALUE, headers)
