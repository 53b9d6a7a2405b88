"""The notary's state on local disk, so a restart continues from where it stopped instead of re-reading the log:
per fact topic-partition an append-only file of leaf hashes (32 bytes each) and one of event ids (one line per
leaf), and `state.json` with each partition's size, next offset, newest published checkpoint and where its offsets
jump (a gap in the log; none on a whole log: a state saved before this field reads as such), and, for a partition
found rewritten under the notary, why (`rewritten`: it stays refused after a restart).

Order of writes: the appended files are flushed to disk (fsync) before `state.json` is replaced (write, fsync,
rename), and a checkpoint is published only after that; on load, anything appended beyond the sizes in
`state.json` (a crash between the two) is cut off and read again from Kafka. A local folder rather than a table:
the notary has no database of its own (it runs beside reporting, not in its schema), and its state is a pure cache
of the log — deleting the folder only makes the next start re-read from offset 0.

`state.json` also names the notary key the folder was built with (`signed_by`: its verifier key, public, what
auditors pin — never the seed): the folder is the notary's memory, as a schema is a service's, and a notary started
on it with another key (another LGNET_MASTER_KEY it derives from, another LGNET_NOTARY_KEY) is refused before it
signs anything (`OtherKey`), as a service started with another master key than its schema's is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lgnet_shared import merkle
from lgnet_shared.checkpoints import CheckpointError, Verifier, open_checkpoint, origin_of

from lgnet_reporting.domain.audit import origin, parse_origin
from lgnet_reporting.domain.notary import Notary, Partition

STATE = "state.json"
SIGNED_BY = "signed_by"  # not an origin: `load` passes over it among the partitions


class OtherKey(Exception):
    """The state folder was built by a notary with another key: `recorded` is that key's verifier key (None: a folder
    saved before it was recorded, whose checkpoints this key did not sign)."""

    def __init__(self, folder: Path, recorded: str | None) -> None:
        super().__init__(folder, recorded)
        self.folder, self.recorded = folder, recorded


class NotaryStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._written: dict[str, int] = {}  # origin -> leaves already on disk

    def _files(self, name: str) -> tuple[Path, Path]:
        base = name.replace("/", "_")  # lgnet_intake.events_2: with_suffix would eat ".events_2"
        return self.folder / f"{base}.leaves", self.folder / f"{base}.ids"

    def load(self, notary: Notary) -> dict[str, int]:
        """Restore `notary` from the folder (checkpoints re-verified with its own key); origin -> size restored."""
        path = self.folder / STATE
        if not path.exists():
            return {}
        own = str(notary.signer.verifier)
        saved = json.loads(path.read_text())
        recorded = saved.get(SIGNED_BY)
        if recorded is not None and recorded != own:
            raise OtherKey(self.folder, str(recorded))
        verifier = [Verifier.parse(own)]
        restored: dict[str, int] = {}
        for name, entry in saved.items():
            where = parse_origin(name)
            if where is None:
                continue
            size = int(entry["size"])
            leaves_file, ids_file = self._files(name)
            raw = _cut(leaves_file, size * 32)
            ids = ids_file.read_text().split("\n")[:size] if ids_file.exists() else []
            if len(raw) != size * 32 or len(ids) != size:
                raise ValueError(f"{name}: state says {size} records, the files hold fewer; delete {self.folder}")
            _rewrite(ids_file, "".join(i + "\n" for i in ids))
            note = entry.get("published")
            try:
                published = open_checkpoint(note, verifier) if note else None
            except CheckpointError:
                if recorded is None:  # a folder from before `signed_by`: its checkpoints name the key it was built with
                    raise OtherKey(self.folder, None) from None
                raise
            if published is not None and published.origin != origin_of(*where, notary.prefix):
                published = None  # signed before origins named the topic prefix: signed anew at the next round
            part = Partition(
                tree=merkle.Tree(raw[i : i + 32] for i in range(0, len(raw), 32)),
                next_offset=int(entry["next_offset"]),
                ids=ids,
                published=published,
                jumps=[(int(leaf), int(offset)) for leaf, offset in entry.get("jumps", []) if int(leaf) < size],
                rewritten=entry.get("rewritten"),
            )
            notary.restore(*where, part)
            self._written[name] = size
            restored[name] = size
        return restored

    def save(self, notary: Notary) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {SIGNED_BY: str(notary.signer.verifier)}
        for (topic, number), part in sorted(notary.partitions.items()):
            name = origin(topic, number)
            done, size = self._written.get(name, 0), len(part.tree)
            if size > done:
                leaves_file, ids_file = self._files(name)
                _append(leaves_file, b"".join(part.tree.leaves[done:size]))
                _append(ids_file, "".join(i + "\n" for i in part.ids[done:size]).encode())
                self._written[name] = size
            state[name] = {
                "size": size,
                "next_offset": part.next_offset,
                "jumps": [list(jump) for jump in part.jumps],
                "published": part.published.note if part.published else None,
            }
            if part.rewritten:  # kept across restarts: a partition found rewritten stays refused
                state[name]["rewritten"] = part.rewritten
        _rewrite(self.folder / STATE, json.dumps(state, indent=1, sort_keys=True))


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _cut(path: Path, length: int) -> bytes:
    """The first `length` bytes of the file, which is cut to them (a crash may have appended more)."""
    if not path.exists():
        return b""
    with path.open("r+b") as f:
        data = f.read(length)
        f.truncate(len(data))
    return data
