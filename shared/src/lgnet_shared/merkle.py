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
    (4 bytes, big-endian; 0xFFFFFFFF for a null key or value). Written out flat: the auditor and the notary make one
    per event."""
    headers = headers if isinstance(headers, list | tuple) else list(headers)
    parts = [
        _OFFSET(offset),
        _NULL if key is None else _LENGTH(len(key)),
        key or b"",
        _NULL if value is None else _LENGTH(len(value)),
        value or b"",
        _LENGTH(len(headers)),
    ]
    for name, v in headers:
        n = name.encode()
        parts += (_LENGTH(len(n)), n, _NULL if v is None else _LENGTH(len(v)), v or b"")
    return b"".join(parts)


_OFFSET, _LENGTH, _NULL = struct.Struct(">Q").pack, struct.Struct(">I").pack, b"\xff\xff\xff\xff"


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
    """An append-only tree of leaf hashes that keeps every node of its perfect subtrees (level h holds the roots of
    the aligned runs of 2**h leaves, about 2n hashes in all), so the root of any prefix and any inclusion or
    consistency proof take O(log² n) hash lookups instead of rehashing the leaves: the notary serves proofs from a
    tree of millions of events, and the auditor checks many checkpoint sizes of one tree."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.extend(leaves)

    @property
    def leaves(self) -> list[bytes]:
        return self.levels[0]

    def __len__(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        levels, h = self.levels, 0
        levels[0].append(leaf)
        while not len(levels[h]) & 1:  # a run of 2**(h+1) leaves is complete: its root goes one level up
            if len(levels) == h + 1:
                levels.append([])
            levels[h + 1].append(node_hash(levels[h][-2], levels[h][-1]))
            h += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Many leaves at once, level by level (a million in about a second: the auditor's trees are built so)."""
        levels = self.levels
        levels[0].extend(leaves)
        h = 0
        while len(levels[h]) >= 2:
            if len(levels) == h + 1:
                levels.append([])
            lower, upper = levels[h], levels[h + 1]
            sha = hashlib.sha256
            upper.extend(
                [sha(b"\x01" + lower[i] + lower[i + 1]).digest() for i in range(2 * len(upper), len(lower) - 1, 2)]
            )
            h += 1

    def packed(self) -> list[bytes]:
        """Every level as one byte string (cheap to move between processes)."""
        return [b"".join(level) for level in self.levels]

    @classmethod
    def unpacked(cls, packed: Sequence[bytes]) -> Tree:
        tree = cls()
        tree.levels = [[level[i : i + 32] for i in range(0, len(level), 32)] for level in packed] or [[]]
        return tree

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all by default)."""
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ValueError(f"size {size} is beyond the tree of {len(self)}")
        return self._range(0, size)

    def _range(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]); the recursion only meets aligned perfect runs on the left, found in `levels`."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if not n & (n - 1) and not lo % n:
            h = n.bit_length() - 1
            return self.levels[h][lo >> h]
        k = _split(n)
        return node_hash(self._range(lo, lo + k), self._range(lo + k, hi))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 2.1.3.1."""
        size = len(self) if size is None else size
        if not 0 <= index < size <= len(self):
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        out: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                out.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                out.append(self._range(lo, lo + k))
                lo += k
        return out[::-1]

    def consistency_proof(self, m: int, size: int | None = None) -> list[bytes]:
        """PROOF(m, D[size]) of RFC 9162 2.1.4.1: the tree of the first m leaves is a prefix of the tree of size."""
        size = len(self) if size is None else size
        if not 0 < m <= size <= len(self):
            raise ValueError(f"no consistency proof from size {m} to {size}")
        out: list[bytes] = []
        lo, hi, complete = 0, size, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                out.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                out.append(self._range(lo, lo + k))
                m, lo, complete = m - k, lo + k, False
        if not complete:
            out.append(self._range(lo, hi))
        return out[::-1]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1: the audit path of leaf `index` in the tree of `leaves`."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    return Tree(leaves).inclusion_proof(index)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    return root_from_inclusion(leaf, index, size, proof) == root


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2 without the final comparison), None if the proof
    does not fit a tree of `size`."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def consistency_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: proves the tree of the first m leaves is a prefix of the tree of all."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"no consistency proof from size {m} to {len(leaves)}")
    return Tree(leaves).consistency_proof(m)


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


def levels_of(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree of `leaves`, bottom-up (level 0: the leaves; the last: [root]), pairing left to right
    and carrying an odd last node up unchanged — the same tree as RFC 9162's split (see `root_of`). For the small
    trees of a signed batch of facts: each node hashed once, every inclusion proof then read off (`path_in`)."""
    if not leaves:
        return [[EMPTY_ROOT]]
    sha = hashlib.sha256
    levels = [list(leaves)]
    level = levels[0]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


def path_in(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 2.1.3.1 read off `levels_of`'s levels: the sibling at each level where there is
    one (a carried last node has none), deepest first."""
    out = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        index >>= 1
    return out


def paths_of(levels: Sequence[Sequence[bytes]]) -> list[bytes]:
    """Every leaf's `path_in`, its hashes concatenated, for all leaves at once: a node's path is its sibling followed
    by its parent's path, so each shared upper part is built once (a signed batch's proofs, on both sides)."""
    above = [b""]  # the root's path
    for level in reversed(levels[:-1]):
        n = len(level)
        above = [level[j ^ 1] + above[j >> 1] if j ^ 1 < n else above[j >> 1] for j in range(n)]
    return above
