"""Small-cell suppression of the national aggregate. Pure.

Primary: every count cell with 0 < value < threshold is hidden (published as null).
Secondary (suppression by difference): cells are tied by groups `parts -> total` (minors + adults + unknown =
persons; the cities' persons = national persons; months' openings = openings ...). A group with exactly one hidden
cell would let a reader compute it from the others, so another cell of the group is hidden too: the smallest
non-zero visible part (ties broken by path), or the total when no part is left. This repeats until no group has
exactly one hidden cell; it only ever hides more, so it ends. Amount cells are linked to their count cells: an
amount is hidden with its count. A group whose parts are each known exactly to one reader (a city's row of the
national aggregate, which that city's staff read exact in their own report) must not have exactly two hidden cells
either when one of them is such a part: its reader would take the other back.
Against a reader's own cells (method 13): a reader who knows their own exact share of a cell (a city's staff, their
city's report) takes it from the published cell and has the rest's: a cell is hidden too when, for some reader, the
cell less that reader's own is from 1 to threshold - 1 (`Plan.readers`); the groups then close the gaps this opens.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]


@dataclass
class Group:
    parts: list[Path]
    total: Path
    known: bool = False  # each part is known exactly to one reader (a city its own row)


@dataclass
class Plan:
    counts: list[Path] = field(default_factory=list)  # cells primary suppression looks at
    groups: list[Group] = field(default_factory=list)
    links: list[tuple[Path, Path]] = field(default_factory=list)  # (count cell, cell hidden with it)
    # each reader's own exact share of count cells (path -> value): a city's staff, their city's report (method 13)
    readers: dict[str, dict[Path, int]] = field(default_factory=dict)


def get(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set_null(doc: Any, path: Path) -> None:
    get(doc, path[:-1])[path[-1]] = None


def hidden_cells(doc: Any, plan: Plan, threshold: int) -> set[Path]:
    values = {p: get(doc, p) for p in {*plan.counts, *(c for g in plan.groups for c in (*g.parts, g.total))}}
    hidden = {p for p in plan.counts if 0 < values[p] < threshold}
    hidden |= {p for own in plan.readers.values() for p, mine in own.items() if 0 < values[p] - mine < threshold}
    changed = True
    while changed:
        before = len(hidden)
        hidden |= {linked for count, linked in plan.links if count in hidden}
        for g in plan.groups:
            shut = [m for m in (*g.parts, g.total) if m in hidden]
            if len(shut) != 1 and not (g.known and len(shut) == 2 and shut[0] in g.parts):  # parts come first
                continue
            candidates = sorted((values[p], str(p), p) for p in g.parts if p not in hidden and values[p] > 0)
            pick = candidates[0][2] if candidates else g.total if g.total not in hidden else None
            if pick is not None:
                hidden.add(pick)
        changed = len(hidden) != before
    return hidden


def suppress(doc: dict[str, Any], plan: Plan, threshold: int) -> tuple[dict[str, Any], int]:
    """A copy of `doc` with the hidden cells set to null, and how many cells were hidden."""
    out = copy.deepcopy(doc)
    hidden = hidden_cells(doc, plan, threshold)
    for path in sorted(hidden, key=str):
        _set_null(out, path)
    return out, len(hidden)


def table_group(prefix: Path, keys: Sequence[str], total: Path, leaf: str | None = None) -> Group:
    """A group over a {category: count} table (or {category: {leaf: count}})."""
    return Group([(*prefix, k, leaf) if leaf else (*prefix, k) for k in keys], total)
