"""The notary's view of the fact log (pure: no I/O): one RFC 9162 tree per fact topic-partition, grown record by
record from where it stopped, the event ids it has seen, and what it has signed.

A leaf is each record read, in partition order. Its index is the record's offset on a whole log: fact topics are
never compacted and written without transactions, so their offsets run from 0 without gaps. A gap (a transaction's
commit marker, which anyone who may write the topic can leave; records deleted) is a failure `lgnet-audit verify`
names at its place, and the trees stay the auditor's (one leaf per record read, each leaf naming its offset); the
notary keeps where the offsets jump, so a proof asked for an offset is always of that offset's record, and an
offset with no record is answered as such, never with the record after it. Checkpoints are signed for any size up to the
tree's on request (Ed25519 is deterministic: the same size always gives the same note), and published when a
partition grew: at a fixed interval, and at once when a report is published (a record on `reporting.events`).

A partition's offsets only grow (fact topics are never compacted, and retention never deletes them): a record at or
below an offset already notarised, a log that now ends before the records notarised, or a first or last notarised
record that is no longer the first read from the log's start or at its offset means the partition was rewritten
under the notary (the topic deleted and made anew, its records written back). Its tree is then `rewritten`: nothing
more is appended to it and no checkpoint of it is published again (the notary would sign a history that never
existed); it stays as it was, the history the notary saw and signed, and the notary is not ready until an operator
looks (docs/operators.md, "The notary").
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from lgnet_shared import merkle
from lgnet_shared.checkpoints import Checkpoint, NotarySigner, origin_of

from lgnet_reporting.domain.audit import FACT_TOPICS, offset_at

REPORTS = "reporting.events"


class OutOfRange(ValueError):
    """A request about what is not (yet) in a tree: names the field and the reason."""

    def __init__(self, field: str, reason: str, missing: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason
        self.missing = missing  # nothing (yet) to answer with, rather than a request that cannot be right


@dataclass
class Partition:
    """One fact topic-partition: its tree, the offset to read next, its event ids and its newest published
    checkpoint."""

    tree: merkle.Tree = field(default_factory=merkle.Tree)
    next_offset: int = 0
    ids: list[str] = field(default_factory=list)  # event id of each leaf ("" when the record has none)
    published: Checkpoint | None = None
    # Where the offsets jump (a gap): (leaf index, its record's offset) of the first leaf after each. None on a
    # whole log, where a leaf's index is its offset.
    jumps: list[tuple[int, int]] = field(default_factory=list)
    # Why the log under this tree was rewritten (None: it only grew): nothing more is appended or published.
    rewritten: str | None = None
    # The next leaf the sweep reads again (`NotaryRunner.check_log`): through every notarised record, then again.
    swept: int = 0

    def offset_of(self, leaf: int) -> int:
        """The offset of the record at leaf index `leaf`."""
        return offset_at(self.jumps, leaf)

    def leaf_of(self, offset: int) -> int | None:
        """The leaf index of the record at `offset`; None when no record of the tree is there (a gap, or beyond)."""
        ends = [*(leaf for leaf, _ in self.jumps), len(self.tree)]
        for (first, start), end in zip([(0, 0), *self.jumps], ends, strict=True):
            if start <= offset < start + end - first:
                return first + offset - start
        return None

    def append(self, offset: int, leaf: bytes) -> int | None:
        """One record's leaf, in partition order; its leaf index. None when it is not appended: the partition was
        rewritten (this record at or below an offset already notarised, or before)."""
        if self.rewritten is None and len(self.tree) and offset < self.next_offset:
            self.rewritten = (
                f"a record at offset {offset}, at or below offset {self.next_offset - 1} already notarised: the log was"
                " rewritten (the topic deleted and made anew?)"
            )
        if self.rewritten is not None:
            return None
        index = len(self.tree)
        if offset != self.offset_of(index):
            self.jumps.append((index, offset))
        self.tree.append(leaf)
        self.next_offset = offset + 1
        return index


@dataclass
class Notary:
    signer: NotarySigner
    prefix: str = ""  # the topic prefix of the log notarised: its checkpoints' origins name it
    partitions: dict[tuple[str, int], Partition] = field(default_factory=dict)
    _by_id: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    report_seen: bool = False  # a published report arrived since the last checkpoints

    def restore(self, topic: str, number: int, part: Partition) -> None:
        self.partitions[(topic, number)] = part
        for index, event_id in enumerate(part.ids):
            if event_id:
                self._by_id.setdefault(event_id, (topic, number, part.offset_of(index)))

    def add(self, topic: str, r: Any) -> bool:
        """One record of a fact topic, in partition order; False when the partition was (found) rewritten and the
        record is left out."""
        part = self.partitions.setdefault((topic, r.partition), Partition())
        if part.append(r.offset, _leaf(r)) is None:
            return False
        event_id = _event_id(r.value)
        part.ids.append(event_id)
        if event_id:
            self._by_id.setdefault(event_id, (topic, r.partition, r.offset))
        if topic == REPORTS:
            self.report_seen = True
        return True

    def ends(self, topic: str, number: int, end: int) -> str | None:
        """The partition's log end offset as the broker now says it, against what was notarised: why the partition
        was rewritten (a log that ends before the next offset to read), or None."""
        part = self.partitions.get((topic, number))
        if part is None or not len(part.tree) or part.rewritten is not None:
            return None if part is None else part.rewritten
        if end >= part.next_offset:
            return None
        part.rewritten = (
            f"the log ends at offset {end - 1} but records up to offset {part.next_offset - 1} were notarised: records"
            " removed, or the topic deleted and made anew"
        )
        return part.rewritten

    def compare(self, topic: str, number: int, leaf: int, r: Any) -> str | None:
        """The first record read again from where the record of leaf index `leaf` (the first, the last notarised)
        should be first: why the partition was rewritten when it is not that record, else None."""
        part = self.partitions.get((topic, number))
        if part is None or part.rewritten is not None:
            return None if part is None else part.rewritten
        expected = part.offset_of(leaf)
        if r.offset != expected:
            why = (
                f"the record notarised at offset {expected} is not there any more (the first read from there is at"
                f" offset {r.offset}): the log was rewritten"
            )
        elif part.tree.leaves[leaf] != _leaf(r):
            why = f"the record at offset {expected} is not the one notarised there: the log was rewritten"
        else:
            return None
        part.rewritten = why
        return why

    def rewritten(self) -> dict[tuple[str, int], str]:
        """The partitions found rewritten, and why."""
        return {where: part.rewritten for where, part in sorted(self.partitions.items()) if part.rewritten}

    def grown(self) -> list[Checkpoint]:
        """A signed checkpoint of every partition that grew since its last published one."""
        out = []
        for (topic, number), part in sorted(self.partitions.items()):
            size = len(part.tree)
            if part.rewritten is None and size and (part.published is None or part.published.size < size):
                out.append(self.signer.sign(origin_of(topic, number, self.prefix), size, part.tree.root()))
        return out

    def published(self, checkpoints: list[Checkpoint]) -> None:
        by_origin = {origin_of(t, n, self.prefix): part for (t, n), part in self.partitions.items()}
        for cp in checkpoints:
            by_origin[cp.origin].published = cp
        self.report_seen = False

    # What the HTTP API answers.

    def partition(self, topic: str, number: int) -> Partition:
        if topic not in FACT_TOPICS:
            raise OutOfRange("query.topic", f"{topic!r} is not a fact topic (one of {', '.join(FACT_TOPICS)})")
        part = self.partitions.get((topic, number))
        if part is None:
            raise OutOfRange("query.partition", f"no record of {topic} partition {number} has been notarised", True)
        return part

    def checkpoint(self, topic: str, number: int, size: int | None = None, field: str = "query.size") -> Checkpoint:
        """The newest published checkpoint, or one signed for `size` (any size the tree has reached)."""
        part = self.partition(topic, number)
        if size is None:
            if part.published is None:
                raise OutOfRange(field, f"no checkpoint of {topic} partition {number} published yet", True)
            return part.published
        if size < 1:
            raise OutOfRange(field, f"size {size}: a checkpoint covers at least 1 record")
        if size > len(part.tree):
            raise OutOfRange(
                field, f"size {size} is beyond the tree of {topic} partition {number} ({len(part.tree)} records)"
            )
        signed = part.published.size if part.published else 0
        if part.rewritten is not None and size > signed:  # what it read after its last round may be the rewrite's
            raise OutOfRange(
                field,
                f"size {size}: {topic} partition {number} was rewritten under the notary ({part.rewritten}); it signs"
                f" no checkpoint of it beyond its last published one ({signed} records)",
            )
        return self.signer.sign(origin_of(topic, number, self.prefix), size, part.tree.root(size))

    def locate(self, event_id: str) -> tuple[str, int, int]:
        where = self._by_id.get(event_id)
        if where is None:
            raise OutOfRange("query.event_id", f"no notarised fact has the id {event_id!r}", True)
        return where

    def inclusion(self, topic: str, number: int, offset: int, size: int | None) -> dict[str, Any]:
        cp = self.checkpoint(topic, number, size)
        part = self.partitions[(topic, number)]
        leaf = part.leaf_of(offset)
        if leaf is None and 0 <= offset < part.next_offset:
            raise OutOfRange(
                "query.offset",
                f"no record at offset {offset} of {topic} partition {number}: a gap in the log (a transaction's commit"
                " marker, or records deleted), which lgnet-audit verify names",
                True,
            )
        if leaf is None or not 0 <= leaf < cp.size:
            raise OutOfRange("query.offset", f"offset {offset} is not in the checkpoint of {cp.size} records")
        return {
            "topic": topic,
            "partition": number,
            "offset": offset,
            "leaf_index": leaf,
            "event_id": part.ids[leaf] or None,
            "leaf_hash": _b64(part.tree.leaves[leaf]),
            "tree_size": cp.size,
            "proof": [_b64(h) for h in part.tree.inclusion_proof(leaf, cp.size)],
            "checkpoint": cp.note,
        }

    def consistency(self, topic: str, number: int, first: int, second: int | None) -> dict[str, Any]:
        new = self.checkpoint(topic, number, second, "query.second")
        if not 0 < first <= new.size:
            raise OutOfRange("query.first", f"first size {first} must be between 1 and the second ({new.size})")
        old = self.checkpoint(topic, number, first, "query.first")
        tree = self.partitions[(topic, number)].tree
        return {
            "topic": topic,
            "partition": number,
            "first": first,
            "second": new.size,
            "proof": [_b64(h) for h in tree.consistency_proof(first, new.size)],
            "first_checkpoint": old.note,
            "second_checkpoint": new.note,
        }

    def newest(self) -> list[dict[str, Any]]:
        return [
            {"topic": t, "partition": n, "size": p.published.size, "checkpoint": p.published.note}
            for (t, n), p in sorted(self.partitions.items())
            if p.published is not None
        ]


def _leaf(r: Any) -> bytes:
    return merkle.leaf_hash(merkle.record_leaf(r.offset, r.key, r.value, list(r.headers or ())))


def _event_id(value: bytes | None) -> str:
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return ""
    event_id = doc.get("id") if isinstance(doc, dict) else None
    return event_id if isinstance(event_id, str) else ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
