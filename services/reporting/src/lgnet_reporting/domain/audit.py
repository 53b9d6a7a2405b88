"""What an auditor checks of the fact log, record by record, with nothing but pinned keys (pure: no I/O).

Per fact topic-partition: every record's producer signature (a pinned key of a service that may write the topic,
signing only what it may claim — its own key id, its deployment's city and the types its topic carries, as the
consumers and the replay require — and not one its deployment's service rotated away from on that partition), that
its key belongs on that partition
(a record copied from another partition keeps a valid signature but not its place), that offsets start at 0 with no
gap, its leaf in the RFC 9162 tree. Then the notary's checkpoints: signed by a pinned notary key, within the log,
with the root of the log's prefix of that size, successive ones consistent, one at least for every partition with
records and over every fact a published report was computed from; the auditor's saved state (from the last audit):
the log still starts with exactly the leaves seen then, and today's checkpoints are consistent with the saved ones.
Every failure names the topic, partition, offset and reason; an audit that read no record fails too.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lgnet_shared import merkle
from lgnet_shared.checkpoints import Checkpoint, CheckpointError, Verifier, open_checkpoint, split_origin
from lgnet_shared.errors import Unauthenticated
from lgnet_shared.fact_signing import (
    SigningKey,
    check_fact,
    check_record_claims,
    parse_signature,
    prove_whole_batches,
)
from lgnet_shared.partitioning import partition_of
from lgnet_shared.signing import verifying_key
from nacl.signing import VerifyKey

from lgnet_reporting.domain.anchoring import announcer_problem

# The canonical fact topics a notary checkpoints and an auditor verifies.
FACT_TOPICS = ("intake.events", "intake.special", "housing.events", "payments.events", "reporting.events")
NOT_PINNED = "which is not in your pinned keys"
# The human table names this many records per reason, then how many more failed for the same reason (one key left
# out of the pinned file fails every record it signed: millions on a real log). The JSON line counts them all.
SHOWN_PER_REASON = 3
# A record whose signature `Audit.record` checks itself (a verdict is the reason it fails, or None). Compared by
# identity: no reason is this very string.
_UNCHECKED = "not checked yet"


@dataclass(frozen=True)
class Failure:
    topic: str
    partition: int
    offset: int | None
    reason: str

    def place(self) -> tuple[str, int, int]:
        return self.topic, self.partition, -1 if self.offset is None else self.offset

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "reason": self.reason}


@dataclass
class SavedOrigin:
    """What the auditor saw last time of one topic-partition: its newest checkpoint and the leaf hashes."""

    checkpoint: Checkpoint
    leaves: list[bytes]


def origin(topic: str, partition: int) -> str:
    """The name a topic-partition's checkpoints, saved state and notary files go by: its origin without a topic
    prefix (a checkpoint's own origin names the prefix too, `checkpoints.origin_of`)."""
    return f"lgnet/{topic}/{partition}"


def parse_origin(text: str) -> tuple[str, int] | None:
    where = split_origin(text)
    return None if where is None or where[0] else where[1:]


@dataclass(frozen=True)
class Report:
    """A record of reporting.events: where it is, and the fact positions the report was computed from (physical
    topic -> partition -> the next offset it covers; empty when the record names none)."""

    partition: int
    offset: int
    positions: dict[str, dict[str, int]]


def _positions(value: bytes | None) -> dict[str, dict[str, int]]:
    """A published report's `positions`, as far as they can be read (its signature is checked apart)."""
    try:
        data = json.loads(value or b"").get("data")
        return {
            str(topic): {str(p): int(upto) for p, upto in parts.items() if str(p).isdigit()}
            for topic, parts in data["positions"].items()
        }
    except (ValueError, TypeError, AttributeError, KeyError):
        return {}


def _announced(value: bytes | None) -> tuple[str, str] | None:
    """The (report, scope) a `report_published` record announces; None for any other record."""
    try:
        doc = json.loads(value or b"")
        data = doc["data"]
        if doc.get("type") != "lgnet.reporting.report_published":
            return None
        return str(data["report"]), str(data["scope"])
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


Jumps = list[tuple[int, int]]  # where a partition's offsets jump (a gap): (leaf index, its record's offset) of each


def offset_at(jumps: Jumps, leaf: int) -> int:
    """The offset of the record at leaf index `leaf` (one past the last: the offset after it), given where the
    partition's offsets jump; on a whole log (no jump) a leaf's index is its offset."""
    i = bisect.bisect_right(jumps, leaf, key=lambda jump: jump[0]) - 1
    return leaf if i < 0 else jumps[i][1] + leaf - jumps[i][0]


@dataclass
class Share:
    """What one worker process found in its share of the partitions (trees packed level by level)."""

    events: int
    signatures: int
    failures: list[Failure]
    reports: list[Report]
    trees: dict[tuple[str, int], list[bytes]]
    jumps: dict[tuple[str, int], Jumps] = field(default_factory=dict)


@dataclass
class Audit:
    keys: dict[str, SigningKey]
    notaries: list[Verifier]
    partitions: dict[str, int]  # logical topic -> partition count
    saved: dict[str, SavedOrigin] = field(default_factory=dict)
    prefix: str = ""  # the topic prefix of the log audited: its checkpoints' origins name it
    # The log start of each fact topic-partition, as the broker says it: above 0, records were deleted at its start
    # (the admin API's delete-records, or a retention shortened) — a leaf's index is no longer its record's offset.
    starts: dict[tuple[str, int], int] = field(default_factory=dict)
    trees: dict[tuple[str, int], merkle.Tree] = field(default_factory=dict)
    checkpoints: dict[str, list[Checkpoint]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    events: int = 0
    signatures: int = 0
    served: int = 0  # of the checkpoints, those the notary served over HTTP (--notary-url): its newest again
    reports: list[Report] = field(default_factory=list)  # the records of reporting.events
    logical: dict[str, str] = field(default_factory=dict)  # physical fact topic (as reports name them) -> logical
    # Partitions whose records stop matching the notary's checkpoints somewhere in a range: (the longest size they
    # match, the shortest they do not) and the failure naming the range (`pinpointed` names the offset instead).
    rewritten: dict[tuple[str, int], tuple[int, int, Failure]] = field(default_factory=dict)
    # Partitions shorter than a checkpoint, whose records after the longest checkpoint they match (the first of the
    # pair) up to their end (the second) no checkpoint read covers: a record dropped there, or only records removed
    # from the end — the notary's checkpoints of the sizes in between tell (`pinpointed`).
    truncated: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    _verifiers: dict[str, VerifyKey] = field(default_factory=dict)
    _missing: dict[tuple[str, int], int] = field(default_factory=dict)  # records missing so far, per partition
    # Per partition, where its offsets jump: a tree size is not an offset after a gap (`offset_of`).
    jumps: dict[tuple[str, int], Jumps] = field(default_factory=dict)
    # Keys of a deployment's service that has more than one pinned (a rotation): key id -> (owner, rank by
    # registration time); and per topic-partition and owner, the highest rank that signed there so far.
    _ranks: dict[str, tuple[str, int]] = field(default_factory=dict)
    _newest_key: dict[tuple[str, int, str], tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owners: dict[str, list[SigningKey]] = {}
        for key in self.keys.values():
            owners.setdefault(f"{key.deployment}.{key.service}", []).append(key)
        for owner, keys in owners.items():
            times = sorted({k.registered_at for k in keys})
            if len(times) > 1:
                self._ranks.update({k.key_id: (owner, times.index(k.registered_at)) for k in keys})

    def fail(self, topic: str, partition: int, offset: int | None, reason: str) -> None:
        self.failures.append(Failure(topic, partition, offset, reason))

    def _verifier(self, key: SigningKey) -> VerifyKey:
        v = self._verifiers.get(key.key_id)
        if v is None:
            v = self._verifiers[key.key_id] = verifying_key(key.raw)
        return v

    def records(self, topic: str, fetched: Sequence[Any]) -> None:
        """The records of one fetch of a fact topic, each partition's in order. Whole signed batches are proven
        together (`prove_whole_batches`: each tree rebuilt once, one signature each, every record's header compared
        with what its place requires); the rest are checked record by record. The verdicts are the same."""
        verdicts: dict[int, str | None] = {}  # id(record) -> why its signature fails, or None
        signers: dict[int, SigningKey] = {}
        for key, batch in prove_whole_batches(fetched, self.keys.get, self._verifier)[0]:
            try:  # what is left to check is whether the key may write the topic: the same for the whole batch
                check_fact(key, self._verifier, topic, batch[0].value, batch[0].headers or (), proven=True)
                reason = None
            except Unauthenticated as err:
                reason = f"producer signature: {err.reason}"
            verdicts.update(dict.fromkeys(map(id, batch), reason))
            signers.update(dict.fromkeys(map(id, batch), key))  # each record's claims are its own (`record`)
        for r in fetched:
            self.record(topic, r, verdicts.get(id(r), _UNCHECKED), signers.get(id(r)))

    def record(self, topic: str, r: Any, verdict: str | None = _UNCHECKED, key: SigningKey | None = None) -> None:
        """One record of a fact topic, in partition order (`verdict`: its signature's, when already checked, with
        `key`, the key that signed it)."""
        self.events += 1
        headers = list(r.headers or ())
        tree = self.trees.get((topic, r.partition))
        if tree is None:
            tree = self.trees[(topic, r.partition)] = merkle.Tree()
        if r.offset != len(tree):  # only once records went missing: nothing more per record on a whole log
            self._after_gap(topic, r.partition, r.offset, len(tree))
        if verdict is _UNCHECKED:
            signature = parse_signature(headers)  # either header version: old logs verify forever
            key = self.keys.get(signature.key_id) if signature else None
            if signature is not None and key is None:  # registered or not, the auditor did not pin it
                verdict = f"producer signature: signed with key {signature.key_id!r}, {NOT_PINNED}"
            else:
                try:
                    check_fact(key, self._verifier, topic, r.value, headers, signature)
                    verdict = None
                except Unauthenticated as err:
                    verdict = f"producer signature: {err.reason}"
        claims = None
        if verdict is None and key is not None:
            try:  # what the key may sign, as the consumers and the replay decide it (`check_claims`)
                claims = check_record_claims(key, r.value, headers, topic)
            except Unauthenticated as err:
                verdict = f"producer signature: {err.reason}"
            if verdict is None and topic == "reporting.events" and (announced := _announced(r.value)):
                why = announcer_problem(key.deployment_city, key.deployment, *announced)  # as the replay decides
                verdict = None if why is None else f"producer signature: {why}"
            if verdict is None and self._ranks:
                verdict = self._rotated(topic, r.partition, key)
        if verdict is None:
            self.signatures += 1
        else:
            self.fail(topic, r.partition, r.offset, verdict)
        # Placed by the partitionkey its producer signed, never by the record's Kafka key, which anyone who may write
        # the topic can set to the partition they copy a fact into: a record with no signed partitionkey (unsigned,
        # its signature failing) has no place to judge, its own failure says why.
        signed = claims.partitionkey.encode() if claims is not None and claims.partitionkey is not None else None
        home = None if signed is None else partition_of(signed, self.partitions.get(topic, 1))
        if home is not None and home != r.partition:
            self.fail(topic, r.partition, r.offset, f"key belongs on partition {home}: copied from elsewhere")
        tree.append(merkle.leaf_hash(merkle.record_leaf(r.offset, r.key, r.value, headers)))
        if topic == "reporting.events":
            self.reports.append(Report(r.partition, r.offset, _positions(r.value)))

    def _rotated(self, topic: str, partition: int, key: SigningKey) -> str | None:
        """Why a record signed with `key` fails: a key of its deployment and service registered later already signed
        on this partition (a rotation: the old key signs nothing after it, one relay publishing at a time)."""
        rank = self._ranks.get(key.key_id)
        if rank is None:
            return None
        where = (topic, partition, rank[0])
        newest = self._newest_key.get(where)
        if newest is None or rank[1] > newest[0]:
            self._newest_key[where] = (rank[1], key.key_id)
            return None
        if rank[1] == newest[0]:
            return None
        return (
            f"producer signature: signed with key {key.key_id!r} after key {newest[1]!r}, registered later for the"
            " same deployment and service, signed on this partition: a rotated key (forged with it?)"
        )

    def _after_gap(self, topic: str, partition: int, offset: int, leaves: int) -> None:
        """A record whose offset is not its leaf's index: a failure where a gap begins, not at every record after it
        (each would have its own reason, "expected offset N", and its own line in the table)."""
        where = (topic, partition)
        expected = leaves + self._missing.get(where, 0)
        if offset != expected:
            self.fail(topic, partition, offset, _gap(expected))
            self.jumps.setdefault(where, []).append((leaves, offset))
        self._missing[where] = offset - leaves

    def offset_of(self, where: tuple[str, int], leaf: int) -> int:
        """The offset of the partition's record at leaf index `leaf` (a tree size: the offset after its records)."""
        return offset_at(self.jumps.get(where, []), leaf)

    def share(self) -> Share:
        """This audit's records as a share of a larger one (in a worker process)."""
        trees = {where: tree.packed() for where, tree in self.trees.items()}
        return Share(self.events, self.signatures, self.failures, self.reports, trees, self.jumps)

    def merge(self, share: Share) -> None:
        """A worker's share: its partitions were read by it alone, so nothing overlaps."""
        self.events += share.events
        self.signatures += share.signatures
        self.failures = sorted([*self.failures, *share.failures], key=Failure.place)
        self.reports += share.reports
        self.trees.update({where: merkle.Tree.unpacked(packed) for where, packed in share.trees.items()})
        self.jumps.update(share.jumps)

    def checkpoint(self, offset: int | None, note: str, source: str = "checkpoints") -> None:
        """One signed note: a record of the checkpoint topic, or one the notary served over HTTP (`source`)."""
        try:
            cp = open_checkpoint(note, self.notaries)
        except CheckpointError as err:
            self.fail(source, 0, offset, f"checkpoint: {err}")
            return
        name, where = cp.origin, split_origin(cp.origin)
        if where is not None:
            prefix, topic, partition = where
            if prefix != self.prefix:
                if prefix:
                    self.fail(source, 0, offset, _other_log(cp.origin, prefix, self.prefix))
                # else: a prefixed log's own checkpoints written before origins named the prefix, or an unprefixed
                # log's — which, nobody can tell: not used (its notary signs them anew, prefixed, at its next round)
                return
            name = origin(topic, partition)
        self.checkpoints.setdefault(name, []).append(cp)
        if source != "checkpoints":
            self.served += 1

    def finish(self) -> None:
        """After the whole log and every checkpoint: check checkpoints and the saved state against the trees."""
        moved = self._deleted_at_the_start()
        self.failures.sort(key=Failure.place)  # the records' own failures in log order, however they were read
        for name, cps in sorted(self.checkpoints.items()):
            where = parse_origin(name)
            if where is None:
                self.fail("checkpoints", 0, None, f"checkpoint of unknown origin {name!r}")
                continue
            if where in moved:  # its leaves are not at their offsets: compared with anything, they only differ
                continue
            self._against_log(where, self.trees.get(where, merkle.Tree()), cps)
        for name, saved in sorted(self.saved.items()):
            where = parse_origin(name)
            if where is not None and where not in moved:
                self._against_saved(where, self.trees.get(where, merkle.Tree()), saved)
        if self.events and not self.checkpoints:  # signatures alone cannot show a record dropped or reordered
            self.fail(
                "checkpoints",
                0,
                None,
                f"no signed checkpoint in the log: none of its {self.events} records is anchored (the notary has not"
                " run yet, or its checkpoints were removed)",
            )
        else:  # nor can they in a partition whose checkpoints are gone while the others' are there
            for (topic, partition), tree in sorted(self.trees.items()):
                name = origin(topic, partition)
                if (
                    len(tree)
                    and name not in self.checkpoints
                    and name not in self.saved
                    and (topic, partition) not in moved
                ):
                    self.fail(
                        topic,
                        partition,
                        0,
                        f"no signed checkpoint of this partition: none of its {len(tree)} records is anchored (the"
                        " notary has not checkpointed it yet, or its checkpoints were removed)",
                    )
        for report in self.reports:
            where = ("reporting.events", report.partition)
            if report.offset >= self.offset_of(where, self._covered(where)):  # a size counts records: to an offset
                self.fail(
                    "reporting.events",
                    report.partition,
                    report.offset,
                    "published report not anchored in any checkpoint",
                )
        self._reports_facts_anchored(moved)
        if not self.events and not self.failures:  # an audit of nothing is no clean audit
            self.fail(
                "log",
                0,
                None,
                "no record in any fact topic: nothing was verified (a new deployment, or the fact topics deleted and"
                " made anew)",
            )

    def _covered(self, where: tuple[str, int]) -> int:
        """How many of a partition's first records a checkpoint covers (one read, served or saved)."""
        saved = self.saved.get(origin(*where))
        sizes = [cp.size for cp in self.checkpoints.get(origin(*where), [])]
        return max([*sizes, saved.checkpoint.size if saved else 0])

    def _reports_facts_anchored(self, moved: set[tuple[str, int]]) -> None:
        """The facts each report was computed from (its `positions`) are under a checkpoint: otherwise records a
        report counted could be changed or dropped, and the checkpoints since removed, with every record left still
        verifying. One failure per fact partition, for the report reaching furthest into it."""
        furthest: dict[tuple[str, int], tuple[int, Report]] = {}
        for report in self.reports:
            for physical, parts in report.positions.items():
                topic = self.logical.get(physical)
                if topic is None:  # another deployment's topic, or not a fact topic: not this audit's
                    continue
                for p, upto in parts.items():
                    where = (topic, int(p))
                    if upto > furthest.get(where, (0, report))[0]:
                        furthest[where] = (upto, report)
        for (topic, partition), (upto, report) in sorted(furthest.items(), key=lambda item: item[0]):
            covered = self._covered((topic, partition))
            end = self.offset_of((topic, partition), covered)  # the offset after them: larger after a gap
            if upto > end and (topic, partition) not in moved:
                self.fail(
                    topic,
                    partition,
                    end,
                    f"records a published report was computed from (reporting.events partition {report.partition}"
                    f" offset {report.offset}: up to offset {upto - 1}) are not all under a checkpoint: the newest"
                    f" covers {covered} (records changed or dropped there and the checkpoints since removed?)",
                )

    def _deleted_at_the_start(self) -> set[tuple[str, int]]:
        """The partitions whose log no longer starts at offset 0, each failed at offset 0 (instead of an offset gap
        at its first record's, and "log truncated" or a root mismatch against every checkpoint)."""
        moved = {where: start for where, start in self.starts.items() if start > 0}
        for (topic, partition), start in sorted(moved.items()):
            gap = Failure(topic, partition, start, _gap(0))
            if gap in self.failures:
                self.failures.remove(gap)
            self.fail(
                topic,
                partition,
                0,
                f"records deleted: offsets 0 to {start - 1} are gone, the partition now starts at offset {start}",
            )
        return set(moved)

    def _against_log(self, where: tuple[str, int], tree: merkle.Tree, cps: list[Checkpoint]) -> None:
        """A partition's checkpoints against its records: one failure for its end (the longest checkpoint beyond
        it), one where the records stop being what the notary signed — from the longest checkpoint they match to
        the shortest one above it they do not —, and one if the notary signed a checkpoint the records do not match
        at or below one they match (two histories under its key)."""
        topic, partition = where
        n = len(tree)
        beyond = max((cp.size for cp in cps if cp.size > n), default=None)
        if beyond is not None:
            end = self.offset_of(where, n)
            self.fail(
                topic,
                partition,
                end,
                f"log truncated: it ends at offset {end}, a signed checkpoint covers {beyond} records",
            )
        matching, differing = {0}, set[int]()
        for cp in cps:
            if cp.size <= n:
                (matching if tree.root(cp.size) == cp.root else differing).add(cp.size)
        top = max(matching)
        if forks := sorted(size for size in differing if size <= top):
            self.fail(
                topic,
                partition,
                None,
                f"the notary signed two histories: its checkpoint of size {forks[0]} disagrees with its checkpoint of"
                f" size {top}, which the log matches",
            )
        if above := [size for size in differing if size > top]:
            end = min(above)
            anchored = f", the first {top} do" if top else ""
            first, last = self.offset_of(where, top), self.offset_of(where, end - 1)  # sizes are leaves, not offsets
            failure = Failure(
                topic,
                partition,
                first,
                f"{REWRITTEN} between offsets {first} and {last}: the first {end} records do not hash to the signed"
                f" checkpoint's root{anchored} (your saved state names the exact offset)",
            )
            self.failures.append(failure)
            self.rewritten[where] = (top, end, failure)
        elif beyond is not None and n > top:
            self.truncated[where] = (top, n)

    def pinpointed(self, where: tuple[str, int], leaf: int) -> None:
        """The exact offset of a rewritten partition's first changed record, its leaf index `leaf` found with
        checkpoints of every size between the range's ends (signed by the notary on request): it replaces the
        range's failure (a truncated partition's has none: it is named besides "log truncated"). The sizes count
        records; the record is named at its offset (another after a gap)."""
        self.truncated.pop(where, None)
        if (named := self.rewritten.pop(where, None)) is not None:
            self.failures.remove(named[2])
        matched = (
            f"the first {leaf} records hash to the notary's checkpoint of size {leaf}, the first {leaf + 1} do not"
            if leaf
            else "the first record does not hash to the notary's checkpoint of size 1"
        )
        offset = self.offset_of(where, leaf)
        self.fail(
            *where, offset, f"{REWRITTEN} at offset {offset}: {matched} (the notary's checkpoints, over --notary-url)"
        )

    def _against_saved(self, where: tuple[str, int], tree: merkle.Tree, saved: SavedOrigin) -> None:
        topic, partition = where
        old = saved.checkpoint
        if tree.root(min(old.size, len(tree))) == old.root and len(tree) >= old.size:
            return self._consistent(where, tree, saved)
        for i, leaf in enumerate(saved.leaves[: len(tree)]):
            if tree.leaves[i] != leaf:
                self.fail(
                    topic,
                    partition,
                    self.offset_of(where, i),
                    "record differs from the one audited last time (changed, dropped, reordered or inserted here)",
                )
                break
        if len(tree) < old.size:
            end = self.offset_of(where, len(tree))
            self.fail(
                topic,
                partition,
                end,
                f"log truncated: it ends at offset {end}, the saved checkpoint covers {old.size} records",
            )
        self._consistent(where, tree, saved)

    def _consistent(self, where: tuple[str, int], tree: merkle.Tree, saved: SavedOrigin) -> None:
        """Today's checkpoints against the saved one: one that covers the saved one extends it (a consistency proof
        through today's log), one smaller than it is a prefix of what was audited (its root, the saved leaves'). A
        checkpoint beyond the log is not judged here: the log is shorter than it, named once ("log truncated").
        One failure per partition for each kind, each checkpoint (read on the topic and served again over
        `--notary-url`) counted once."""
        old = saved.checkpoint
        audited = merkle.Tree(saved.leaves[: old.size]) if len(saved.leaves) >= old.size else None
        if audited is not None and audited.root(old.size) != old.root:
            audited = None  # the saved leaves are not the saved checkpoint's: nothing to compare with
        forks, histories = set[int](), set[int]()
        for size, root in {(cp.size, cp.root) for cp in self.checkpoints.get(origin(*where), [])}:
            if size > len(tree) or size == 0:
                continue
            if size < old.size:
                if audited is not None and audited.root(size) != root:
                    histories.add(size)
                continue
            proof = tree.consistency_proof(old.size, size) if old.size > 0 else []
            if not merkle.verify_consistency(old.size, size, old.root, root, proof):
                forks.add(size)
        saved_root = base64.b64encode(old.root).decode()
        if histories:
            self.fail(
                *where,
                None,
                f"the notary signed two histories: its checkpoint of size {min(histories)}{_more(histories)} disagrees"
                f" with the saved checkpoint of size {old.size} (root {saved_root}), which you audited",
            )
        if forks:
            self.fail(
                *where,
                None,
                f"checkpoint of size {min(forks)}{_more(forks)} forks from the saved checkpoint of"
                f" size {old.size} (root {saved_root})",
            )

    def newest(self) -> dict[str, Checkpoint]:
        return {name: max(cps, key=lambda c: c.size) for name, cps in self.checkpoints.items()}

    def summary(self) -> dict[str, Any]:
        newest = self.newest()
        return {
            "ok": not self.failures,
            "events": self.events,
            "signatures_verified": self.signatures,
            "partitions": len(self.trees),
            "checkpoints": sum(len(c) for c in self.checkpoints.values()),
            "checkpoints_from_notary_url": self.served,
            "events_after_the_newest_checkpoints": sum(
                max(0, len(tree) - (newest[origin(*where)].size if origin(*where) in newest else 0))
                for where, tree in self.trees.items()
            ),
            "reports_anchored": len(self.reports) - sum(1 for f in self.failures if "not anchored" in f.reason),
            "failures": len(self.failures),
            "failed_partitions": self.failed_partitions(),
        }

    def failed_partitions(self) -> list[dict[str, Any]]:
        """Every topic-partition a failure names, with how many (`first_failures` lists the first 20 only)."""
        counts: dict[tuple[str, int], int] = {}
        for f in self.failures:
            counts[(f.topic, f.partition)] = counts.get((f.topic, f.partition), 0) + 1
        return [{"topic": t, "partition": p, "failures": n} for (t, p), n in sorted(counts.items())]


def _other_log(name: str, prefix: str, ours: str) -> str:
    return (
        f"checkpoint of another log: its origin {name!r} is under topic prefix {prefix!r}, not this log's {ours!r} (a"
        " notary of another deployment sharing this one's key signed it)"
    )


REWRITTEN = "record changed, dropped, reordered or inserted"


def _more(sizes: set[int]) -> str:
    """The other sizes of a set of checkpoints named by its smallest."""
    rest = sorted(sizes)[1:]
    return f" (and of size{'s' if len(rest) > 1 else ''} {', '.join(map(str, rest))})" if rest else ""


def _gap(expected: int) -> str:
    return f"offset gap: expected offset {expected} (records deleted?)"


def table(audit: Audit) -> list[str]:
    """The human-readable table: one row per topic-partition, then one line per failure — the first
    SHOWN_PER_REASON of each reason, and after them one line per reason saying how many more records failed so."""
    newest = audit.newest()
    rows = [f"{'topic':<18} {'part':>4} {'events':>9} {'checkpoint':>10}  result"]
    bad = {(f.topic, f.partition) for f in audit.failures}
    # the partitions read, and those that failed with no record left (all deleted, or the topic made anew)
    for topic, partition in sorted({*audit.trees, *((t, p) for t, p in bad if t in FACT_TOPICS)}):
        cp = newest.get(origin(topic, partition))
        result = "FAIL" if (topic, partition) in bad else "ok"
        events = len(audit.trees.get((topic, partition), ()))
        rows.append(f"{topic:<18} {partition:>4} {events:>9} {cp.size if cp else '-':>10}  {result}")
    seen: dict[str, int] = {}
    more: dict[tuple[str, str, int], int] = {}  # (reason, topic, partition) -> records not listed
    for f in audit.failures:
        seen[f.reason] = seen.get(f.reason, 0) + 1
        if seen[f.reason] <= SHOWN_PER_REASON:
            at = f.offset if f.offset is not None else "-"
            rows.append(f"FAIL {f.topic} partition {f.partition} offset {at}: {f.reason}")
        else:
            more[(f.reason, f.topic, f.partition)] = more.get((f.reason, f.topic, f.partition), 0) + 1
    # every partition a reason failed named: one line per partition with records not listed above
    rows += [
        f"… and {n} more records with the same reason in {topic} partition {partition}: {reason}"
        for (reason, topic, partition), n in more.items()
    ]
    return rows
