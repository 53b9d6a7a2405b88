"""Priority of a waiting household and fit of a pair: the weight the assignment maximises is
priority x fit (docs/housing.md, "Priority and fit").

priority = 1 + vulnerability + situation + waiting + urgency + minors, each term from `PriorityWeights`:
- vulnerability: points per recorded vulnerability (capped);
- situation: points for the housing situation (homeless, facing eviction, ...);
- waiting: points per 30 days since the case asked for housing (capped);
- urgency: full points when the eviction date is today or past, growing linearly over the horizon before it;
- minors: points per minor (capped).
fit = 1 - unused_capacity x (empty places / capacity) + shared_language (host speaks a household language).

Ties are broken deterministically by `rank_key`: higher priority, earlier eviction, longer wait, then id.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lgnet_housing.domain.model import Household, Opportunity
from lgnet_housing.domain.rules import CityRules, FitWeights

FAR_FUTURE = date(9999, 12, 31)


def urgency_share(eviction_date: date | None, today: date, horizon_days: int) -> float:
    if eviction_date is None:
        return 0.0
    days_left = (eviction_date - today).days
    if days_left <= 0:
        return 1.0
    return max(0.0, (horizon_days - days_left) / horizon_days)


def breakdown(h: Household, rules: CityRules, today: date) -> dict[str, float]:
    w = rules.priority
    waiting_months = min(max((today - h.waiting_since).days, 0) / 30, w.waiting_cap_months)
    parts = {
        "base": 1.0,
        "vulnerability": w.vulnerability * min(len(h.vulnerabilities), w.vulnerability_cap),
        "situation": w.situation.get(h.housing_situation or "", 0.0),
        "waiting": w.waiting_per_month * waiting_months,
        "urgency": w.urgency * urgency_share(h.eviction_date, today, w.urgency_horizon_days),
        "minors": w.minors * min(h.minors(today), w.minors_cap),
    }
    return {k: round(v, 6) for k, v in parts.items()}


def priority(h: Household, rules: CityRules, today: date) -> float:
    return round(sum(breakdown(h, rules, today).values()), 6)


def fit_breakdown(h: Household, o: Opportunity, rules: CityRules) -> dict[str, float]:
    return _fit_parts(h.size, o.capacity, bool(h.languages & o.languages), rules.fit)


def _fit_parts(size: int, capacity: int, shared: bool, w: FitWeights) -> dict[str, float]:
    unused = max(capacity - size, 0) / capacity
    return {
        "fit_unused_capacity": round(-w.unused_capacity * unused, 6),
        "fit_language": w.shared_language if shared else 0.0,
    }


def _fit(size: int, capacity: int, shared: bool, w: FitWeights) -> float:
    return round(1.0 + sum(_fit_parts(size, capacity, shared, w).values()), 6)


def fit(h: Household, o: Opportunity, rules: CityRules) -> float:
    return _fit(h.size, o.capacity, bool(h.languages & o.languages), rules.fit)


def pair_weights(
    p: NDArray[Any], size: NDArray[Any], capacity: NDArray[Any], shared: NDArray[Any], w: FitWeights
) -> NDArray[Any]:
    """`score`'s weight, priority x fit, for many pairs (priorities p) at once, to the last bit: the few distinct
    fits by the scalar formula, and Python's correctly rounded `round` (numpy's differs on halfway cases)."""
    size, capacity = size.astype(np.int64), capacity.astype(np.int64)
    span = int(capacity.max(initial=0)) + 1
    combos, which = np.unique((size * span + capacity) * 2 + shared.astype(np.int64), return_inverse=True)
    fits = [_fit(int(k // 2 // span), int(k // 2 % span), bool(k % 2), w) for k in combos]
    product = p.astype(np.float64) * np.asarray(fits, dtype=np.float64)[which]  # the same IEEE product as p * f
    distinct, back = np.unique(product, return_inverse=True)
    return np.array([round(x, 6) for x in distinct.tolist()], dtype=np.float64)[back]


def score(h: Household, o: Opportunity, rules: CityRules, today: date) -> tuple[float, dict[str, float]]:
    """The pair's weight and everything it is made of (the proposal's `score_breakdown`)."""
    parts = breakdown(h, rules, today)
    p, f = round(sum(parts.values()), 6), fit(h, o, rules)
    return round(p * f, 6), {**parts, "priority": p, **fit_breakdown(h, o, rules), "fit": f}


def rank_key(h: Household, rules: CityRules, today: date) -> tuple[float, date, date, str]:
    """Sort key: first = served first when weights tie."""
    return (-priority(h, rules, today), h.eviction_date or FAR_FUTURE, h.waiting_since, h.household_id)
