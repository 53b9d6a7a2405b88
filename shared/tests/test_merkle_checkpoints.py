"""RFC 9162 trees and proofs against the RFC 6962 test vectors (same hashing), and C2SP signed checkpoints."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lgnet_shared import merkle
from lgnet_shared.checkpoints import CheckpointError, NotarySigner, Verifier, open_checkpoint

# certificate-transparency's merkle tree test data: leaf inputs and the roots of the first n leaves.
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def test_roots_match_the_test_vectors_incrementally_and_at_once() -> None:
    tree = merkle.Tree()
    assert tree.root().hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for n, leaf in enumerate(HASHES, start=1):
        tree.append(leaf)
        assert tree.root().hex() == ROOTS[n - 1] == merkle.root_of(HASHES[:n]).hex()
        assert tree.root(n - 1) == merkle.root_of(HASHES[: n - 1])


def test_known_audit_path_from_the_vectors() -> None:
    # leaf 0 of 8: the siblings up the tree
    proof = merkle.inclusion_proof(HASHES, 0)
    assert [p.hex() for p in proof] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@given(st.integers(1, 70), st.data())
def test_inclusion_proofs_verify_and_fail_for_another_leaf(n: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    root = merkle.root_of(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(leaves, i)
    assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), i, n, proof, root)


@given(st.integers(1, 70), st.data())
def test_consistency_proofs_verify_and_a_fork_does_not(n: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    m = data.draw(st.integers(1, n))
    proof = merkle.consistency_proof(leaves, m)
    assert merkle.verify_consistency(m, n, merkle.root_of(leaves[:m]), merkle.root_of(leaves), proof)
    forked = [*leaves[: m - 1], merkle.leaf_hash(b"rewritten")]
    assert not merkle.verify_consistency(m, n, merkle.root_of(forked), merkle.root_of(leaves), proof)


@given(st.integers(1, 80), st.data())
def test_a_grown_tree_proves_any_of_its_prefixes(n: int, data: st.DataObject) -> None:
    """The notary answers for any size up to its tree's: roots, inclusion and consistency proofs of a prefix."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = merkle.Tree(leaves)
    size = data.draw(st.integers(1, n))
    i, m = data.draw(st.integers(0, size - 1)), data.draw(st.integers(1, size))
    root = merkle.root_of(leaves[:size])
    assert tree.root(size) == root
    assert merkle.verify_inclusion(leaves[i], i, size, tree.inclusion_proof(i, size), root)
    assert merkle.verify_consistency(m, size, merkle.root_of(leaves[:m]), root, tree.consistency_proof(m, size))
    with pytest.raises(ValueError, match="beyond"):
        tree.root(n + 1)


def test_checkpoints_are_c2sp_signed_notes_verified_with_the_pinned_key() -> None:
    notary = NotarySigner("lgnet-notary.national", os.urandom(32))
    cp = notary.sign("lgnet/lgnet.intake.events/0", 8, bytes.fromhex(ROOTS[7]))
    lines = cp.note.split("\n")
    assert lines[:4] == ["lgnet/lgnet.intake.events/0", "8", base64.b64encode(bytes.fromhex(ROOTS[7])).decode(), ""]
    assert lines[4].startswith("— lgnet-notary.national ")
    pinned = Verifier.parse(str(notary.verifier))
    assert open_checkpoint(cp.note, [pinned]).size == 8
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(cp.note.replace("\n8\n", "\n9\n"), [pinned])
    with pytest.raises(CheckpointError, match="no pinned"):
        open_checkpoint(cp.note, [NotarySigner("lgnet-notary.national", os.urandom(32)).verifier])


def test_verifier_keys_round_trip_whatever_their_base64_contains() -> None:
    for _ in range(64):  # some keys' base64 has "+" in it, the C2SP field separator
        notary = NotarySigner("lgnet-notary.national", os.urandom(32))
        assert Verifier.parse(str(notary.verifier)) == notary.verifier


def _leaf_as_documented(offset: int, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> bytes:
    """docs/reporting.md's leaf, spelled out: offset (8 bytes), key, value, the header count, each header's name and
    value; every field length-prefixed (4 bytes big-endian, 0xFFFFFFFF for null)."""

    def field(b: bytes | None) -> bytes:
        return b"\xff\xff\xff\xff" if b is None else len(b).to_bytes(4, "big") + b

    out = offset.to_bytes(8, "big") + field(key) + field(value) + len(headers).to_bytes(4, "big")
    for name, v in headers:
        out += field(name.encode()) + field(v)
    return out


@given(
    st.integers(0, 2**63 - 1),
    st.none() | st.binary(max_size=40),
    st.none() | st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=12), st.none() | st.binary(max_size=30)), max_size=5),
)
def test_a_records_leaf_is_the_documented_layout(
    offset: int, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    assert merkle.record_leaf(offset, key, value, headers) == _leaf_as_documented(offset, key, value, headers)
    assert merkle.record_leaf(offset, key, value, iter(headers)) == _leaf_as_documented(offset, key, value, headers)
    assert merkle.record_leaf(offset, key, value, tuple(headers)) == _leaf_as_documented(offset, key, value, headers)


def test_a_leaf_by_hand() -> None:
    assert merkle.record_leaf(3, None, b"", [("a", b"x")]) == bytes.fromhex(
        "0000000000000003 ffffffff 00000000 00000001 00000001 61 00000001 78"
    )
