"""Facts signed in batches (#16, for throughput): one Ed25519 signature over the RFC 9162 root of up to 64 records,
each record carrying its index and inclusion proof. Each record is still checked on its own: a changed byte, a
proof or header taken from a neighbour, another key — each is refused; a partner's inbound check never accepts
the batch form.

These records carry the version 1 (text) header, written until December 2026: old logs must verify forever. The
version 2 (binary) header, written since, is held to the same cases in test_fact_signature_header_v2.py."""

from __future__ import annotations

import asyncio
import os
from datetime import date
from types import SimpleNamespace

import pytest
from lgnet_shared import signing
from lgnet_shared.codec import to_envelope
from lgnet_shared.errors import Unauthenticated
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fact_signing import (
    BATCH,
    FactAuthenticator,
    FactSignatureError,
    FactSigner,
    KeyRegistry,
    SigningKey,
    check_fact,
)
from nacl.signing import VerifyKey

SIGNER = FactSigner(os.urandom(32), "torino", "intake", "torino", header_version=1)


def verifier(key: SigningKey) -> VerifyKey:
    return signing.verifying_key(key.raw)


def facts(n: int) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    out = []
    for i in range(n):
        env = to_envelope(
            EmploymentRecorded(person_id=f"p{i}", status=EmploymentStatus.TRAINING, as_of=date(2026, 3, 1)),
            source="/lgnet/intake",
            city="torino",
        )
        value, headers = env.to_structured()
        out.append((value, list(headers)))
    return out


def check(value: bytes, headers: list[tuple[str, bytes]], key: SigningKey = SIGNER.key) -> SigningKey:
    return check_fact(key, verifier, "intake.events", value, headers)


@pytest.mark.parametrize("n", [1, 2, 5, BATCH, BATCH + 1, 3 * BATCH + 7])
def test_every_record_of_a_signed_batch_verifies_on_its_own(n: int) -> None:
    records = facts(n)
    signed = SIGNER.sign_batch(records)
    assert len(signed) == n
    for (_, headers), (value, signature) in zip(records, signed, strict=True):
        assert b'"signingkey":"torino.intake.' in value
        assert check(value, [*headers, signature]) == SIGNER.key
    forms = {sig.decode().split(";")[0] for _, (_, sig) in signed}
    assert forms == ({"ed25519"} if n == 1 else {"ed25519-merkle"} | ({"ed25519"} if n % BATCH == 1 else set()))


def test_a_changed_record_a_borrowed_proof_or_another_key_is_refused() -> None:
    records = facts(10)
    signed = SIGNER.sign_batch(records)
    (value, signature), headers = signed[3], records[3][1]
    with pytest.raises(FactSignatureError, match="does not verify"):
        check(value.replace(b"training", b"employed"), [*headers, signature])
    with pytest.raises(FactSignatureError, match="does not verify"):
        check(value, [*headers, signed[4][1]])  # the neighbour's index and proof
    other = FactSigner(os.urandom(32), "torino", "intake", "torino")
    with pytest.raises(FactSignatureError, match="does not verify"):
        check(value, [*headers, signature], other.key)
    name, text = signature
    parts = text.decode().split(";")
    for broken in (
        [*parts[:3], "11", *parts[4:]],  # an index outside the batch
        [*parts[:5], parts[5][:-4]],  # a cut proof
        # a changed signature (its first character: the last ones partly encode padding bits, so a change there
        # may decode to the same bytes, about one run in 256)
        [*parts[:2], ("B" if parts[2][0] == "A" else "A") + parts[2][1:], *parts[3:]],
    ):
        with pytest.raises(FactSignatureError, match="does not verify"):
            check(value, [*headers, (name, ";".join(broken).encode())])


def test_a_partner_signature_check_never_accepts_the_batch_form() -> None:
    records = facts(3)
    value, signature = SIGNER.sign_batch(records)[0]
    with pytest.raises(Unauthenticated):
        signing.verify(bytes(SIGNER.key.raw), value, [*records[0][1], signature])


def prepared(records: list[tuple[bytes, list[tuple[str, bytes]]]], signatures: list[tuple[str, bytes]]) -> list[object]:
    """What a consumer's `prepare` concludes about a fetch holding these records, one verdict per record: the key,
    or the refusal's code."""
    registry = KeyRegistry("unused:9092")
    registry.add([SIGNER.key])
    auth = FactAuthenticator(registry)
    fetched = [
        SimpleNamespace(topic="lgnet.intake.events", partition=0, offset=i, value=v, headers=[*h, s], key=b"k")
        for i, ((v, h), s) in enumerate(zip(records, signatures, strict=True))
    ]
    asyncio.run(auth.prepare(fetched))
    out: list[object] = []
    for r in fetched:
        verdict = auth._checked[id(r)][1]
        out.append(verdict.code if isinstance(verdict, FactSignatureError) else verdict)
    return out


def test_a_whole_batch_checked_at_once_is_held_to_the_same_rules_as_each_record() -> None:
    """A consumer rebuilds a whole fetched batch's tree in one pass (fewer hashes): the verdicts are exactly those of
    checking each record on its own — a changed record or a proof swapped between neighbours is refused, by name,
    and the others of its batch still pass."""
    records = facts(BATCH + 10)  # a whole batch of 64 and one of 10
    signed = SIGNER.sign_batch(records)
    values = [v for v, _ in signed]
    signatures = [s for _, s in signed]
    originals = [(v, h) for v, (_, h) in zip(values, records, strict=True)]
    assert prepared(originals, signatures) == [SIGNER.key] * (BATCH + 10)
    changed = list(originals)
    changed[5] = (values[5].replace(b"training", b"employed"), records[5][1])
    assert prepared(changed, signatures) == [*[SIGNER.key] * 5, "invalid", *[SIGNER.key] * (BATCH + 4)]
    swapped = list(signatures)
    swapped[2], swapped[3] = signatures[3], signatures[2]
    verdicts = prepared(originals, swapped)
    assert verdicts[2:4] == ["invalid", "invalid"] and verdicts.count(SIGNER.key) == BATCH + 8
    # One record's proof replaced by another batch's: its batch is not whole any more, each is checked alone.
    other = SIGNER.sign_batch(facts(BATCH))
    borrowed = [*signatures[:7], other[7][1], *signatures[8:]]
    assert prepared(originals, borrowed)[7] == "invalid"
    assert prepared(originals, borrowed).count(SIGNER.key) == BATCH + 9
    # A fetch holding part of a batch checks each record's own proof.
    assert prepared(originals[:30], signatures[:30]) == [SIGNER.key] * 30
