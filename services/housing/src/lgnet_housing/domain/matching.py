"""The city-wide assignment: households x opportunities, maximum total priority-weighted fit, one household
per opportunity, compatible pairs only (every hard rule passed).

The pair-by-pair rules of `domain/rules.py` explain each proposal; the property tests hold the array rules
here to the same answers, and the assignment to the brute-force optimum.

The hard rules are evaluated on whole arrays (numpy); the assignment is solved exactly by `domain/solver.py`, a
min-cost flow (OR-Tools) on a network that groups households with the same compatible opportunities, with
integer costs (weights are rounded to 1e-6) and a rank bonus below one unit of weight that breaks ties towards
the household that ranks first (priority.rank_key) without changing the optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from lgnet_shared.events.housing import SupportLevel
from numpy.typing import NDArray

from lgnet_housing.domain import priority as prio
from lgnet_housing.domain import rules as r
from lgnet_housing.domain import solver
from lgnet_housing.domain.model import RESTRICTIONS, Household, Opportunity

Array = NDArray[Any]  # numpy's element types add nothing here; shapes are in the comments


@dataclass(frozen=True)
class Proposal:
    household_id: str
    opportunity_id: str
    weight: float


@dataclass(frozen=True)
class Unmatched:
    """Why a household got nothing in this run, in numbers over the open opportunities considered."""

    household_id: str
    opportunities: int  # open opportunities considered
    compatible: int  # pairs that pass every hard rule
    declined_before: int  # compatible but declined earlier by one side
    failing: dict[str, int] = field(default_factory=dict)  # rule -> opportunities failing it


@dataclass(frozen=True)
class Assignment:
    proposals: list[Proposal]
    unmatched: list[Unmatched]
    total_weight: float


def _col(values: Sequence[object], dtype: type) -> Array:
    return np.array(values, dtype=dtype)


@dataclass(frozen=True)
class _Sides:
    """What the hard rules read: one column per household fact, one row per opportunity fact."""

    h: dict[str, Array]  # name -> (households,)
    o: dict[str, Array]  # name -> (opportunities,)


def _sides(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> _Sides:
    cities = {c: i for i, c in enumerate(sorted({h.city for h in hs} | {o.city for o in os}))}
    horizon = today.toordinal() + rules.availability_horizon_days
    h = {
        "city": _col([cities[h.city] for h in hs], np.int64),
        "size": _col([h.size for h in hs], np.int64),
        "minors": _col([h.minors(today) for h in hs], np.int64),
        "all_women": _col([h.all_women for h in hs], np.bool_),
        "all_men": _col([h.all_men for h in hs], np.bool_),
        "family": _col([h.is_family(today) for h in hs], np.bool_),
        "accessibility": _col([h.accessibility_needs for h in hs], np.bool_),
        "specialist": _col([h.specialist_support for h in hs], np.bool_),
        "affordable": _col([r.affordable_rent_cents(h, rules) for h in hs], np.int64),
    }
    o = {
        "city": _col([cities[o.city] for o in os], np.int64),
        "available": _col(
            [
                o.available_from.toordinal() <= horizon and (o.available_until is None or o.available_until > today)
                for o in os
            ],
            np.bool_,
        ),
        "capacity": _col([o.capacity for o in os], np.int64),
        "bedrooms": _col([r.bedroom_limit(o, rules) for o in os], np.int64),
        "accessible": _col([o.accessible for o in os], np.bool_),
        "specialist": _col([o.support_level == SupportLevel.SPECIALIST_TEAM for o in os], np.bool_),
        "rent": _col([o.monthly_rent_cents for o in os], np.int64),
    } | {name: _col([name in o.restrictions for o in os], np.bool_) for name in RESTRICTIONS}
    return _Sides(h, o)


def _rule(name: str, h: dict[str, Array], o: dict[str, Array]) -> Array:
    """The (households x opportunities) boolean matrix (or a broadcastable part of it) of the pairs passing `name`:
    a household column against an opportunity row, so each costs one broadcast operation."""
    col = {k: v[:, None] for k, v in h.items()}
    row = {k: v[None, :] for k, v in o.items()}
    mask: Array
    match name:
        case "city":
            mask = col["city"] == row["city"]
        case "availability":
            mask = row["available"]
        case "capacity":
            mask = col["size"] <= row["capacity"]
        case "bedrooms":
            mask = col["size"] <= row["bedrooms"]
        case "no_minors":
            mask = ~row["no_minors"] | (col["minors"] == 0)
        case "women_only":
            mask = ~row["women_only"] | col["all_women"]
        case "men_only":
            mask = ~row["men_only"] | col["all_men"]
        case "families_only":
            mask = ~row["families_only"] | col["family"]
        case "singles_only":
            mask = ~row["singles_only"] | (col["size"] == 1)
        case "accessibility":
            mask = ~col["accessibility"] | row["accessible"]
        case "specialist_support":
            mask = ~col["specialist"] | row["specialist"]
        case "affordability":
            mask = row["rent"] <= col["affordable"]
        case _:
            raise ValueError(f"unknown rule {name}")
    return mask


def rule_masks(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> dict[str, Array]:
    """rule -> (households x opportunities) boolean matrix of the pairs that pass it."""
    sides = _sides(hs, os, rules, today)
    return {name: np.broadcast_to(_rule(name, sides.h, sides.o), (len(hs), len(os))) for name in rules.hard_rules}


def _distinct(side: dict[str, Array]) -> tuple[dict[str, Array], Array, Array]:
    """The distinct fact rows of one side: (their facts, each item's row among them, how many items per row)."""
    table = np.stack([v.astype(np.int64) for v in side.values()], axis=1)
    rows, which, counts = np.unique(table, axis=0, return_inverse=True, return_counts=True)
    return {k: rows[:, c].astype(v.dtype) for c, (k, v) in enumerate(side.items())}, which.ravel(), counts


@dataclass(frozen=True)
class _Profiles:
    """The rules on distinct households x distinct opportunities (a city has far fewer kinds than items)."""

    shape: tuple[int, int]  # distinct households x distinct opportunities
    masks: dict[str, Array]  # rule -> that shape
    h_of: Array  # household -> its distinct row
    o_of: Array  # opportunity -> its distinct column
    o_count: Array  # distinct column -> how many opportunities


def _profiles(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> _Profiles:
    sides = _sides(hs, os, rules, today)
    h, h_of, _ = _distinct(sides.h)
    o, o_of, o_count = _distinct(sides.o)
    shape = (len(next(iter(h.values()))), len(o_count))
    masks = {name: np.broadcast_to(_rule(name, h, o), shape) for name in rules.hard_rules}
    return _Profiles(shape, masks, h_of, o_of, o_count)


def _compatible(prof: _Profiles) -> Array:
    ok = np.ones(prof.shape, dtype=np.bool_)
    for mask in prof.masks.values():
        np.logical_and(ok, mask, out=ok)
    out: Array = ok[prof.h_of][:, prof.o_of]
    return out


def _failing(prof: _Profiles) -> dict[str, Array]:
    return {name: ((~mask) @ prof.o_count)[prof.h_of] for name, mask in prof.masks.items()}


def compatibility(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> Array:
    """The pairs that pass every hard rule: ANDed on the distinct kinds, then spread to every pair."""
    return _compatible(_profiles(hs, os, rules, today))


def failing_counts(
    hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date
) -> dict[str, Array]:
    """rule -> (households,) how many of the opportunities each household fails it with."""
    return _failing(_profiles(hs, os, rules, today))


def _language_bits(langs: Sequence[frozenset[str]], index: dict[str, int]) -> Array:
    """Each side's languages as bit sets (64 languages per word)."""
    words = max(1, -(-len(index) // 64))
    bits = np.zeros((len(langs), words), dtype=np.uint64)
    for i, ls in enumerate(langs):
        for lang in ls:
            k = index[lang]
            bits[i, k // 64] |= np.uint64(1 << (k % 64))
    return bits


def edge_weights(
    hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date, hi: Array, oj: Array
) -> Array:
    """priority x fit for the pairs (hi[k], oj[k]), as domain/priority.py computes it for one pair."""
    p = _col([prio.priority(h, rules, today) for h in hs], np.float64)[hi]
    size = _col([h.size for h in hs], np.float64)[hi]
    cap = _col([o.capacity for o in os], np.float64)[oj]
    index = {lang: k for k, lang in enumerate(sorted({lang for o in os for lang in o.languages}))}
    hbits = _language_bits([h.languages & index.keys() for h in hs], index)
    obits = _language_bits([o.languages for o in os], index)
    shared = (hbits[hi] & obits[oj]).any(axis=1)
    # numpy's rounding, which may differ from `score` by 1e-6 on halfway cases: fine for the baseline (the solver
    # uses priority.pair_weights, exact to the last bit).
    unused = np.round(-rules.fit.unused_capacity * (np.maximum(cap - size, 0) / cap), 6)
    fit = np.round(1.0 + unused + rules.fit.shared_language * shared, 6)
    out: Array = np.round(p * fit, 6)
    return out


def network(
    hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, priority: Sequence[float], ok: Array
) -> solver.Network:
    """The solver's input: households in rank order (with their priorities), their compatible pairs and what
    their weights are made of."""
    index = {lang: k + 1 for k, lang in enumerate(sorted({lang for o in os for lang in o.languages}))}
    speaks = np.zeros((len(hs), len(index) + 1), dtype=np.bool_)
    lists = np.zeros((len(os), len(index) + 1), dtype=np.bool_)
    speaks[:, 0] = lists[:, 0] = True  # column 0: the route for "no shared language"
    for i, h in enumerate(hs):
        speaks[i, [index[lang] for lang in h.languages if lang in index]] = True
    for j, o in enumerate(os):
        lists[j, [index[lang] for lang in o.languages]] = True
    return solver.Network(
        ok=ok,
        size=_col([h.size for h in hs], np.int64),
        capacity=_col([o.capacity for o in os], np.int64),
        speaks=speaks,
        lists=lists,
        priority=_col(priority, np.float64),
        fit=rules.fit,
    )


def assign(
    households: Sequence[Household],
    opportunities: Sequence[Opportunity],
    rules: r.CityRules,
    today: date,
    excluded: frozenset[tuple[str, str]] = frozenset(),
) -> Assignment:
    """The optimal proposals for these households and opportunities; `excluded` pairs (household_id,
    opportunity_id) were declined before and are never proposed again."""
    ranked = sorted(((prio.rank_key(h, rules, today), h) for h in households), key=lambda kh: kh[0])
    hs = [h for _, h in ranked]
    priority = [-key[0] for key, _ in ranked]  # rank_key starts with -priority: computed once
    os = sorted(opportunities, key=lambda o: o.opportunity_id)
    if not hs:
        return Assignment([], [], 0.0)
    if not os:
        return Assignment([], [Unmatched(h.household_id, 0, 0, 0) for h in hs], 0.0)
    prof = _profiles(hs, os, rules, today)
    ok = _compatible(prof)
    compatible_counts = ok.sum(axis=1)
    declined = np.zeros(len(hs), dtype=np.int64)
    if excluded:
        hi_of = {h.household_id: i for i, h in enumerate(hs)}
        oj_of = {o.opportunity_id: j for j, o in enumerate(os)}
        for hid, oid in excluded:
            i, j = hi_of.get(hid), oj_of.get(oid)
            if i is not None and j is not None and ok[i, j]:
                ok[i, j] = False
                declined[i] += 1
    pairs = solver.solve(network(hs, os, rules, priority, ok))
    del ok
    # The weight as the proposal's explanation states it (same formula, scalar rounding).
    proposals = [
        Proposal(hs[i].household_id, os[j].opportunity_id, prio.score(hs[i], os[j], rules, today)[0]) for i, j in pairs
    ]
    matched = {p.household_id for p in proposals}
    left = [i for i, h in enumerate(hs) if h.household_id not in matched]
    failing = {name: counts[left] for name, counts in _failing(prof).items()}
    unmatched = [
        Unmatched(
            hs[i].household_id,
            opportunities=len(os),
            compatible=int(compatible_counts[i]),
            declined_before=int(declined[i]),
            failing={name: int(f[k]) for name, f in failing.items() if f[k]},
        )
        for k, i in enumerate(left)
    ]
    return Assignment(proposals, unmatched, round(sum(p.weight for p in proposals), 6))


def greedy_first_come(
    households: Sequence[Household], opportunities: Sequence[Opportunity], rules: r.CityRules, today: date
) -> Assignment:
    """Baseline (benchmark): households in order of arrival each take the free compatible opportunity that
    weighs most for them. What a desk does by hand; not what the service proposes."""
    hs = sorted(households, key=lambda h: (h.waiting_since, h.household_id))
    os = sorted(opportunities, key=lambda o: o.opportunity_id)
    if not hs or not os:
        return Assignment([], [], 0.0)
    hi, oj = np.nonzero(compatibility(hs, os, rules, today))
    w = edge_weights(hs, os, rules, today, hi, oj)
    starts = np.searchsorted(hi, np.arange(len(hs) + 1))
    free = np.ones(len(os), dtype=np.bool_)
    proposals = []
    for i, h in enumerate(hs):
        cols, ws = oj[starts[i] : starts[i + 1]], w[starts[i] : starts[i + 1]]
        avail = free[cols]
        if avail.any():
            k = int(np.argmax(np.where(avail, ws, -1.0)))
            free[cols[k]] = False
            proposals.append(Proposal(h.household_id, os[cols[k]].opportunity_id, float(ws[k])))
    return Assignment(proposals, [], round(sum(p.weight for p in proposals), 6))
