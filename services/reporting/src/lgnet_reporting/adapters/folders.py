"""Folders the auditors' tools write into (`lgnet-audit verify --state`, `lgnet-replay --out`), checked before the
log is read: a run that fails there has read the whole log for nothing, and leaves no folder it made."""

from __future__ import annotations

import tempfile
from pathlib import Path


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def can_write_in(folder: Path) -> None:
    """Raises OSError unless a file can be made in `folder` (or, when it does not exist yet, in the folder it would be
    made in); nothing is left behind."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise NotADirectoryError(20, "not a folder", str(existing))
    with tempfile.TemporaryFile(dir=existing):
        pass


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be a folder this process makes or writes files in; None when it can."""
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    try:
        can_write_in(path)
    except OSError as exc:
        return f"cannot be made or written ({exc.strerror or exc})"
    return None
