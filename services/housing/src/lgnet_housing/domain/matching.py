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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from lgnet_shared.events.housing import SupportLevel
from numpy.typing import NDArray

from lgnet_housing.domain import priority as prio
from lgnet_housing.domain import rules as r
from lgnet_housing.domain import solver
from lgnet_housing.domain.model import Household, Opportunity

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


def _makers(
    hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date
) -> dict[str, Callable[[], Array]]:
    """rule -> a function giving the (households x opportunities) boolean matrix of the pairs that pass it (built
    from a column of households and a row of opportunities, so each costs one broadcast operation)."""
    cities = {c: i for i, c in enumerate(sorted({h.city for h in hs} | {o.city for o in os}))}
    size = _col([h.size for h in hs], np.int64)[:, None]
    minors = _col([h.minors(today) for h in hs], np.int64)[:, None]
    shape = (len(hs), len(os))

    def hflag(pred: Callable[[Household], bool]) -> Array:
        return _col([bool(pred(h)) for h in hs], np.bool_)[:, None]

    def oflag(pred: Callable[[Opportunity], bool]) -> Array:
        return _col([bool(pred(o)) for o in os], np.bool_)[None, :]

    def restricted(name: str, ok: Array) -> Array:
        return ~oflag(lambda o: name in o.restrictions) | ok

    horizon = today.toordinal() + rules.availability_horizon_days
    return {
        "city": lambda: (
            _col([cities[h.city] for h in hs], np.int64)[:, None]
            == _col([cities[o.city] for o in os], np.int64)[None, :]
        ),
        "availability": lambda: np.broadcast_to(
            oflag(
                lambda o: (
                    o.available_from.toordinal() <= horizon and (o.available_until is None or o.available_until > today)
                )
            ),
            shape,
        ),
        "capacity": lambda: size <= _col([o.capacity for o in os], np.int64)[None, :],
        "bedrooms": lambda: size <= _col([r.bedroom_limit(o, rules) for o in os], np.int64)[None, :],
        "no_minors": lambda: restricted("no_minors", minors == 0),
        "women_only": lambda: restricted("women_only", hflag(lambda h: h.all_women)),
        "men_only": lambda: restricted("men_only", hflag(lambda h: h.all_men)),
        "families_only": lambda: restricted("families_only", hflag(lambda h: h.is_family(today))),
        "singles_only": lambda: restricted("singles_only", size == 1),
        "accessibility": lambda: ~hflag(lambda h: h.accessibility_needs) | oflag(lambda o: o.accessible),
        "specialist_support": lambda: (
            ~hflag(lambda h: h.specialist_support) | oflag(lambda o: o.support_level == SupportLevel.SPECIALIST_TEAM)
        ),
        "affordability": lambda: (
            _col([o.monthly_rent_cents for o in os], np.int64)[None, :]
            <= _col([r.affordable_rent_cents(h, rules) for h in hs], np.int64)[:, None]
        ),
    }


def rule_masks(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> dict[str, Array]:
    """rule -> (households x opportunities) boolean matrix of the pairs that pass it."""
    makers = _makers(hs, os, rules, today)
    return {name: np.broadcast_to(makers[name](), (len(hs), len(os))) for name in rules.hard_rules}


def compatibility(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> Array:
    """The pairs that pass every hard rule (one matrix, ANDed in place)."""
    ok = np.ones((len(hs), len(os)), dtype=np.bool_)
    for name, make in _makers(hs, os, rules, today).items():
        if name in rules.hard_rules:
            np.logical_and(ok, make(), out=ok)
    return ok


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
    ok = compatibility(hs, os, rules, today)
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
    failing: dict[str, Array] = {}
    if left:
        sub = [hs[i] for i in left]
        for name, make in _makers(sub, os, rules, today).items():
            if name in rules.hard_rules:
                failing[name] = len(os) - np.broadcast_to(make(), (len(sub), len(os))).sum(axis=1)
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
