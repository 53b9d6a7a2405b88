"""The city-wide assignment: households x opportunities, maximum total priority-weighted fit, one household
per opportunity, compatible pairs only (every hard rule passed).

The hard rules are evaluated on whole arrays (numpy) so that 10,000 x 5,000 pairs take well under a second; the
pair-by-pair rules of `domain/rules.py` explain each proposal and are held to the same answers by the property
tests. The solver is `scipy.optimize.linear_sum_assignment` (rectangular, maximise): incompatible pairs weigh 0
and every compatible pair weighs > 0, so an optimal assignment that drops its zero pairs is a maximum-weight
matching. A tiny rank-based bonus (< 1e-6 in total, below the scores' resolution) breaks ties towards the
household that ranks first (priority.rank_key) without changing the optimum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from lgnet_shared.events.housing import SupportLevel
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from lgnet_housing.domain import priority as prio
from lgnet_housing.domain import rules as r
from lgnet_housing.domain.model import Household, Opportunity

TIE_BREAK_TOTAL = 4e-7
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


def rule_masks(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> dict[str, Array]:
    """rule -> (households x opportunities) boolean matrix of the pairs that pass it."""
    cities = {c: i for i, c in enumerate(sorted({h.city for h in hs} | {o.city for o in os}))}
    size = _col([h.size for h in hs], np.int64)[:, None]
    minors = _col([h.minors(today) for h in hs], np.int64)[:, None]

    def hflag(pred: Callable[[Household], bool]) -> Array:
        return _col([bool(pred(h)) for h in hs], np.bool_)[:, None]

    def oflag(pred: Callable[[Opportunity], bool]) -> Array:
        return _col([bool(pred(o)) for o in os], np.bool_)[None, :]

    def restricted(name: str, ok: Array) -> Array:
        return ~oflag(lambda o: name in o.restrictions) | ok

    cap = _col([o.capacity for o in os], np.int64)[None, :]
    horizon = today.toordinal() + rules.availability_horizon_days
    available = oflag(
        lambda o: o.available_from.toordinal() <= horizon and (o.available_until is None or o.available_until > today)
    )
    shape = (len(hs), len(os))
    makers: dict[str, Callable[[], Array]] = {
        "city": lambda: (
            _col([cities[h.city] for h in hs], np.int64)[:, None]
            == _col([cities[o.city] for o in os], np.int64)[None, :]
        ),
        "availability": lambda: np.broadcast_to(available, shape),
        "capacity": lambda: size <= cap,
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
    return {name: np.broadcast_to(makers[name](), shape) for name in rules.hard_rules}


def weights(hs: Sequence[Household], os: Sequence[Opportunity], rules: r.CityRules, today: date) -> Array:
    """priority x fit for every pair, as domain/priority.py computes it for one."""
    p = _col([prio.priority(h, rules, today) for h in hs], np.float64)[:, None]
    size = _col([h.size for h in hs], np.float64)[:, None]
    cap = _col([o.capacity for o in os], np.float64)[None, :]
    unused = np.round(-rules.fit.unused_capacity * (np.maximum(cap - size, 0) / cap), 6)
    shared = np.zeros((len(hs), len(os)), dtype=np.bool_)
    for lang in sorted({lang for o in os for lang in o.languages}):
        has = _col([lang in h.languages for h in hs], np.bool_)
        if has.any():
            shared |= has[:, None] & _col([lang in o.languages for o in os], np.bool_)[None, :]
    fit = np.round(1.0 + unused + rules.fit.shared_language * shared, 6)
    out: Array = np.round(p * fit, 6)
    return out


def assign(
    households: Sequence[Household],
    opportunities: Sequence[Opportunity],
    rules: r.CityRules,
    today: date,
    excluded: frozenset[tuple[str, str]] = frozenset(),
) -> Assignment:
    """The optimal proposals for these households and opportunities; `excluded` pairs (household_id,
    opportunity_id) were declined before and are never proposed again."""
    hs = sorted(households, key=lambda h: prio.rank_key(h, rules, today))
    os = sorted(opportunities, key=lambda o: o.opportunity_id)
    if not hs:
        return Assignment([], [], 0.0)
    if not os:
        return Assignment([], [Unmatched(h.household_id, 0, 0, 0) for h in hs], 0.0)
    masks = rule_masks(hs, os, rules, today)
    ok = np.ones((len(hs), len(os)), dtype=np.bool_)
    for m in masks.values():
        ok &= m
    compatible_counts = ok.sum(axis=1)
    declined = np.zeros_like(ok)
    if excluded:
        hi = {h.household_id: i for i, h in enumerate(hs)}
        oi = {o.opportunity_id: j for j, o in enumerate(os)}
        for hid, oid in excluded:
            if hid in hi and oid in oi:
                declined[hi[hid], oi[oid]] = True
        declined &= ok
        ok &= ~declined
    w = np.where(ok, weights(hs, os, rules, today), 0.0)

    proposals: list[Proposal] = []
    rows_used = np.flatnonzero(ok.any(axis=1))
    cols_used = np.flatnonzero(ok.any(axis=0))
    if len(rows_used) and len(cols_used):
        sub = w[np.ix_(rows_used, cols_used)]
        n = len(hs)
        tie = TIE_BREAK_TOTAL * (n - rows_used.astype(np.float64)) / (n * min(len(rows_used), len(cols_used)))
        rr, cc = linear_sum_assignment(np.where(sub > 0, sub + tie[:, None], 0.0), maximize=True)
        for i, j in zip(rows_used[rr], cols_used[cc], strict=True):
            if ok[i, j]:  # the weight as the proposal's explanation states it (same formula, scalar rounding)
                weight = prio.score(hs[i], os[j], rules, today)[0]
                proposals.append(Proposal(hs[i].household_id, os[j].opportunity_id, weight))
    matched = {p.household_id for p in proposals}
    unmatched = [
        Unmatched(
            h.household_id,
            opportunities=len(os),
            compatible=int(compatible_counts[i]),
            declined_before=int(declined[i].sum()),
            failing={name: int(len(os) - m[i].sum()) for name, m in masks.items() if not m[i].all()},
        )
        for i, h in enumerate(hs)
        if h.household_id not in matched
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
    ok = np.ones((len(hs), len(os)), dtype=np.bool_)
    for m in rule_masks(hs, os, rules, today).values():
        ok &= m
    w = np.where(ok, weights(hs, os, rules, today), -1.0)
    free = np.ones(len(os), dtype=np.bool_)
    proposals = []
    for i, h in enumerate(hs):
        row = np.where(free, w[i], -1.0)
        j = int(row.argmax())
        if row[j] > 0:
            free[j] = False
            proposals.append(Proposal(h.household_id, os[j].opportunity_id, float(w[i, j])))
    return Assignment(proposals, [], round(sum(p.weight for p in proposals), 6))
