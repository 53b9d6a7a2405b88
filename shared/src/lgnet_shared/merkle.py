"""Merkle trees of the fact log as RFC 9162 (Certificate Transparency v2, section 2.1) defines them: the hash of a
leaf is SHA-256(0x00 || data), of an interior node SHA-256(0x01 || left || right), and a tree of n leaves splits at
the largest power of two smaller than n. Inclusion and consistency proofs are generated and verified as in
sections 2.1.3 and 2.1.4. Pure functions, no I/O; checked against the RFC 6962 test vectors (same hashing).

A leaf is one Kafka record of a fact topic-partition (`record_leaf`): its offset, key, value and headers, length-
prefixed, so a changed byte anywhere in what a consumer reads, or a record moved to another offset, changes the tree.
No PyPI library covers RFC 9162 trees and C2SP notes together in a maintained form (see docs/reporting.md), hence
this small module.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def record_leaf(offset: int, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> bytes:
    """The leaf data of one record: offset (8 bytes), key, value, then each header (name, value), each length-prefixed
    (4 bytes, big-endian; 0xFFFFFFFF for a null key or value)."""
    parts = [struct.pack(">Q", offset), _field(key), _field(value)]
    headers = list(headers)
    parts.append(struct.pack(">I", len(headers)))
    for name, v in headers:
        parts += [_field(name.encode()), _field(v)]
    return b"".join(parts)


def _field(data: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if data is None else struct.pack(">I", len(data)) + data


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Root hash of a tree whose leaf hashes are `leaves` (MTH of RFC 9162)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Bottom-up pairing gives the same tree as the recursive split: the left subtree of every split is perfect.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class Tree:
    """An append-only tree of leaf hashes that gives the root of any prefix cheaply: it keeps, per size, nothing but
    the compact range (the roots of the perfect subtrees), like a CT log's frontier."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self._frontier: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing

    def __len__(self) -> int:
        return len(self.leaves)

    def append(self, leaf: bytes) -> None:
        self.leaves.append(leaf)
        height, h = 0, leaf
        while self._frontier and self._frontier[-1][0] == height:
            _, left = self._frontier.pop()
            h, height = node_hash(left, h), height + 1
        self._frontier.append((height, h))

    def root(self, size: int | None = None) -> bytes:
        if size is not None and size != len(self.leaves):
            return root_of(self.leaves[:size])
        if not self._frontier:
            return EMPTY_ROOT
        h = self._frontier[-1][1]
        for _, left in reversed(self._frontier[:-1]):
            h = node_hash(left, h)
        return h


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1: the audit path of leaf `index` in the tree of `leaves`."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root_of(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root_of(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: proves the tree of the first m leaves is a prefix of the tree of all."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"no consistency proof from size {m} to {len(leaves)}")
    return _subproof(leaves, m, True)


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), root_of(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), root_of(leaves[:k])]


def verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if m > n or m == 0:
        return False
    if m == n:
        return not proof and old_root == new_root
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
