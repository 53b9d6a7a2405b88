"""The version 2 signature header of facts (binary, written since December 2026): the same guarantees as version 1
(test_fact_batch_signatures.py) — each record verified on its own, a changed byte, a borrowed place or proof,
another key, a cut or padded header each refused by name — and a consumer's whole-batch check reaching exactly the
verdicts of checking each record alone. An auditor's own tool, written from the byte layout in docs/operators.md
alone, verifies a record; version 1 and version 2 records verify side by side."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
from datetime import date
from types import SimpleNamespace

import pytest
from lgnet_shared import signing
from lgnet_shared.codec import to_envelope
from lgnet_shared.errors import Unauthenticated
from lgnet_shared.events.intake import EmploymentRecorded, EmploymentStatus
from lgnet_shared.fact_signing import (
    BATCH,
    BATCH_CONTEXT,
    FactAuthenticator,
    FactSignatureError,
    FactSigner,
    KeyRegistry,
    SigningKey,
    check_fact,
    parse_signature,
)
from nacl.signing import VerifyKey

SIGNER = FactSigner(os.urandom(32), "torino", "intake", "torino")
V1 = FactSigner(os.urandom(32), "torino", "intake", "torino", header_version=1)

Headers = list[tuple[str, bytes]]


def verifier(key: SigningKey) -> VerifyKey:
    return signing.verifying_key(key.raw)


def facts(n: int) -> list[tuple[bytes, Headers]]:
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


def check(value: bytes, headers: Headers, key: SigningKey = SIGNER.key) -> SigningKey:
    return check_fact(key, verifier, "intake.events", value, headers)


def auditors_own_check(public_key: bytes, value: bytes, header: bytes) -> bool:
    """docs/operators.md "Fact signatures", version 2, implemented from the layout alone (no LgNet code): the leaf
    of the record's value, through its proof (RFC 9162 2.1.3.2), to the root whose signature must verify."""
    assert header[0] == 2
    n = header[1]
    key_id, sig = header[2 : 2 + n].decode("ascii"), header[2 + n : 66 + n]
    index, size = (int(v) for v in struct.unpack(">HH", header[66 + n : 70 + n]))
    proof = header[70 + n :]
    assert key_id.startswith("torino.intake.") and len(proof) % 32 == 0
    node = hashlib.sha256(b"\x00" + value).digest()
    fn, sn = index, size - 1
    for i in range(0, len(proof), 32):
        p = proof[i : i + 32]
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + p + node).digest()
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + p).digest()
        fn, sn = fn >> 1, sn >> 1
    try:
        VerifyKey(public_key).verify(BATCH_CONTEXT + node, sig)
    except Exception:
        return False
    return sn == 0


@pytest.mark.parametrize("n", [1, 2, 5, BATCH, BATCH + 1, 3 * BATCH + 7])
def test_every_record_of_a_signed_batch_verifies_on_its_own_and_by_the_documented_layout(n: int) -> None:
    records = facts(n)
    signed = SIGNER.sign_batch(records)
    assert len(signed) == n
    for (_, headers), (value, (name, header)) in zip(records, signed, strict=True):
        assert name == "lgnet-signature" and header[0] == 2
        assert check(value, [*headers, (name, header)]) == SIGNER.key
        assert auditors_own_check(SIGNER.key.raw, value, header)
    parsed = [parse_signature([s]) for _, s in signed]
    assert {(p.position, p.size) for p in parsed if p} == {
        (i % BATCH, min(BATCH, n - i // BATCH * BATCH)) for i in range(n)
    }
    # A third smaller than version 1's: 2 + key id + 64 + 4 + 32 per proof hash, no base64.
    full = [len(h) for _, (_, h) in signed[:BATCH]]
    assert max(full) == 2 + len(SIGNER.key.key_id) + 64 + 4 + 32 * (min(n, BATCH) - 1).bit_length()


def test_a_lone_fact_is_a_batch_of_one() -> None:
    ((value, headers),) = facts(1)
    value, (name, header) = SIGNER.sign(value, headers)
    s = parse_signature([(name, header)])
    assert s is not None and (s.position, s.size, s.proof, s.version) == (0, 1, b"", 2)
    assert check(value, [*headers, (name, header)]) == SIGNER.key
    assert auditors_own_check(SIGNER.key.raw, value, header)


def place(header: bytes) -> int:
    """Where the index starts in a version 2 header."""
    return 66 + header[1]


def test_a_changed_record_a_borrowed_place_or_proof_another_key_or_a_broken_header_is_refused() -> None:
    records = facts(10)
    signed = SIGNER.sign_batch(records)
    (value, (name, header)), headers = signed[3], records[3][1]
    at = place(header)

    def refused(v: bytes, h: bytes, key: SigningKey = SIGNER.key) -> None:
        with pytest.raises(FactSignatureError, match="does not verify") as caught:
            check(v, [*headers, (name, h)], key)
        assert caught.value.code == "invalid" and caught.value.field == "headers.lgnet-signature"

    refused(value.replace(b"training", b"employed"), header)
    refused(value, signed[4][1][1])  # the neighbour's index and proof
    refused(value, header[:at] + signed[4][1][1][at:])  # the neighbour's proof with its own index
    refused(value, header, FactSigner(os.urandom(32), "torino", "intake", "torino").key)
    flipped_sig = header[: at - 64] + bytes([header[at - 64] ^ 1]) + header[at - 63 :]
    for broken in (
        header[:at] + struct.pack(">HH", 11, 10) + header[at + 4 :],  # an index outside the batch
        # a batch size its proof cannot fit (as in RFC 9162, a size giving this leaf the same tree shape leads to
        # the same signed root: the record is in that tree all the same)
        header[:at] + struct.pack(">HH", 3, 4) + header[at + 4 :],
        header[:-4],  # a cut proof
        header[:-32],  # a proof one hash short
        header + b"\x00" * 32,  # a proof one hash long
        flipped_sig,
        header[: at + 2],  # cut inside the place
    ):
        refused(value, broken)
    assert parse_signature([(name, header[:1])]) is None  # not even a key id can be read
    assert parse_signature([(name, b"\x02\xff" + header[2:20])]) is None
    refused(value, header[:1])  # but the header is there: cut or malformed, not "missing"
    refused(value, b"\x02\xff" + header[2:20])
    with pytest.raises(FactSignatureError) as caught:
        check(value, [*headers])
    assert caught.value.code == "missing"


def test_a_partner_signature_check_never_accepts_a_fact_header() -> None:
    records = facts(3)
    value, signature = SIGNER.sign_batch(records)[0]
    with pytest.raises(Unauthenticated):
        signing.verify(bytes(SIGNER.key.raw), value, [*records[0][1], signature])
    assert signing.key_id_of([signature]) is None


def prepared(fetched: list[SimpleNamespace]) -> list[object]:
    """A consumer's verdict on each record of one fetch: the key, or the refusal's code."""
    registry = KeyRegistry("unused:9092")
    registry.add([SIGNER.key, V1.key])
    auth = FactAuthenticator(registry)
    asyncio.run(auth.prepare(fetched))
    out: list[object] = []
    for r in fetched:
        verdict = auth._checked[id(r)][1]
        out.append(verdict.code if isinstance(verdict, FactSignatureError) else verdict.key_id)
    return out


def fetch(records: list[tuple[bytes, Headers]], signatures: list[tuple[str, bytes]]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(topic="lgnet.intake.events", partition=0, offset=i, value=v, headers=[*h, s], key=b"k")
        for i, ((v, h), s) in enumerate(zip(records, signatures, strict=True))
    ]


def alone(fetched: list[SimpleNamespace]) -> list[object]:
    """The verdicts of checking each record on its own (as lgnet-audit does)."""
    out: list[object] = []
    for r in fetched:
        try:
            out.append(check(r.value, r.headers).key_id)
        except FactSignatureError as err:
            out.append(err.code)
    return out


def test_a_whole_batch_checked_at_once_reaches_the_verdicts_of_each_record_alone() -> None:
    records = facts(BATCH + 10)  # a whole batch of 64 and one of 10
    signed = SIGNER.sign_batch(records)
    values, signatures = [v for v, _ in signed], [s for _, s in signed]
    originals = [(v, h) for v, (_, h) in zip(values, records, strict=True)]
    me = SIGNER.key.key_id
    cases = {"whole": fetch(originals, signatures)}
    changed = list(originals)
    changed[5] = (values[5].replace(b"training", b"employed"), records[5][1])
    cases["changed"] = fetch(changed, signatures)
    swapped = list(signatures)
    swapped[2], swapped[3] = signatures[3], signatures[2]
    cases["swapped"] = fetch(originals, swapped)
    duplicated = list(signatures)
    duplicated[8] = signatures[9]  # two records claim place 9: the batch is not whole
    cases["duplicated"] = fetch(originals, duplicated)
    padded = list(signatures)
    padded[40] = (padded[40][0], padded[40][1] + b"\x00")
    cases["padded"] = fetch(originals, padded)
    other = SIGNER.sign_batch(facts(BATCH))
    cases["borrowed"] = fetch(originals, [*signatures[:7], other[7][1], *signatures[8:]])
    cases["part"] = fetch(originals[:30], signatures[:30])
    cases["reversed"] = fetch(originals[::-1], signatures[::-1])
    expected_refusals = {"whole": [], "changed": [5], "swapped": [2, 3], "duplicated": [8], "padded": [40]}
    expected_refusals |= {"borrowed": [7], "part": [], "reversed": []}
    for name, fetched in cases.items():
        verdicts = prepared(fetched)
        assert verdicts == alone(fetched), name
        assert [i for i, v in enumerate(verdicts) if v != me] == expected_refusals[name], name
        assert all(v in (me, "invalid") for v in verdicts), name


def test_old_and_new_headers_verify_side_by_side() -> None:
    """Auditors replay logs written before version 2: both versions, in one fetch, each verified."""
    old, new = facts(BATCH + 3), facts(BATCH + 3)
    old_signed, new_signed = V1.sign_batch(old), SIGNER.sign_batch(new)
    fetched = fetch(
        [(v, h) for (v, _), (_, h) in zip(old_signed, old, strict=True)]
        + [(v, h) for (v, _), (_, h) in zip(new_signed, new, strict=True)],
        [s for _, s in old_signed] + [s for _, s in new_signed],
    )
    assert {s[1][:1] for _, s in old_signed} == {b"e"} and {s[1][:1] for _, s in new_signed} == {b"\x02"}
    assert prepared(fetched) == [V1.key.key_id] * len(old) + [SIGNER.key.key_id] * len(new)
    assert [check(r.value, r.headers, V1.key if i < len(old) else SIGNER.key) for i, r in enumerate(fetched)]


def test_a_fetchs_verdicts_at_once_are_each_records_alone_interleaved_batches_and_a_batch_on_two_topics() -> None:
    """`FactAuthenticator.verdicts` (what `prepare` keeps, and what lgnet-replay takes for a whole fetch) gives one
    verdict per proven batch and topic: the records of two batches interleaved, and a batch whose records were copied
    half onto a topic its key may not write, get exactly the verdicts of checking each record alone on its own topic
    — each refusal an exception of its own."""
    a, b, c = SIGNER.sign_batch(facts(BATCH)), SIGNER.sign_batch(facts(10)), SIGNER.sign_batch(facts(20))
    fetched = []
    for i in range(BATCH):  # a's and b's records one after the other, then c's on two topics
        fetched.append(a[i])
        if i < len(b):
            fetched.append(b[i])
    fetched += c
    records = [
        SimpleNamespace(
            topic="lgnet.housing.events" if i >= len(fetched) - 10 and i % 2 else "lgnet.intake.events",
            partition=0,
            offset=i,
            value=v,
            headers=[s],
            key=b"k",
        )
        for i, (v, s) in enumerate(fetched)
    ]
    registry = KeyRegistry("unused:9092")
    registry.add([SIGNER.key])
    auth = FactAuthenticator(registry)
    verdicts = asyncio.run(auth.verdicts(records))
    expected: list[object] = []
    for r in records:
        try:
            expected.append(check_fact(SIGNER.key, verifier, r.topic.removeprefix("lgnet."), r.value, r.headers).key_id)
        except FactSignatureError as err:
            expected.append(err.code)
    got = [v.code if isinstance(v, FactSignatureError) else v.key_id for v in (verdicts[id(r)] for r in records)]
    assert got == expected
    assert got.count("not_a_writer") == 5 and got.count(SIGNER.key.key_id) == len(records) - 5
    refusals = [verdicts[id(r)] for r in records if isinstance(verdicts[id(r)], FactSignatureError)]
    assert len({id(e) for e in refusals}) == len(refusals)
    auth_ = FactAuthenticator(registry)  # the consumer's path keeps the same verdicts, each for its own record
    asyncio.run(auth_.prepare(records))
    assert all(auth_._checked[id(r)][0] is r for r in records)
    kept = [auth_._checked[id(r)][1] for r in records]
    assert [v.code if isinstance(v, FactSignatureError) else v.key_id for v in kept] == expected
