"""The exact maximum-weight assignment as a min-cost flow on a compressed network (OR-Tools' cost-scaling
`SimpleMinCostFlow`, integer costs).

A city has tens of millions of compatible pairs, but few kinds of household: households with the same size and
the same row of compatible opportunities (a "class") differ only in priority and languages, and a pair's weight
is priority x fit, where fit depends on the household's size, the opportunity's capacity and whether they share a
language. So instead of one arc per pair the network routes each household through "route" nodes
(class, capacity, language or none):

    household --(cost -weight)--> route (class, capacity, language) --> opportunity --> sink
    household --(cost 0)--> sink                                     (stays unmatched)

A route (c, k, lang) reaches the class's compatible opportunities of capacity k that list `lang` (route "none":
all of them); a household reaches the routes of its class for its own languages and "none", with the weight of
that fit. Every path is therefore a compatible pair at its exact weight or below (the "none" route to an
opportunity that shares a language), and the best flow never takes a path below the pair's weight when the
better one is free, so the flow optimum is the assignment optimum. The network has ~100 times fewer arcs than
the pair graph (10,000 x 5,000: ~0.5 million instead of ~12 million).

Weights are rounded to 1e-6, so integer costs of weight x 1e6 are exact. Ties: each household's cost also
carries a rank bonus t (better rank, bigger t) scaled below one unit of weight, so among the optimal assignments
the solver prefers the one serving better-ranked households (maximises the sum of t) without changing the
optimum. OR-Tools needs cost x nodes to fit in 64 bits; when the full bonus (one step per rank) does not fit,
ranks are grouped into as many buckets as fit, and households that are interchangeable (same class, priority and
languages) are then re-ordered so the better-ranked ones hold the places their group won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow

from lgnet_housing.domain.priority import pair_weights
from lgnet_housing.domain.rules import FitWeights

Array = NDArray[Any]
SCALE = 1_000_000  # weights are rounded to 6 decimals
COST_LIMIT = 2**61  # |cost| x (nodes + 1) must stay below this (OR-Tools scales costs by the node count)


@dataclass(frozen=True)
class Network:
    """The inputs, households in rank order (row 0 ranks first)."""

    ok: Array  # (households x opportunities) bool: compatible pairs
    size: Array  # (households,) int
    capacity: Array  # (opportunities,) int
    speaks: Array  # (households x (1 + languages)) bool; column 0 ("no shared language") is all True
    lists: Array  # (opportunities x (1 + languages)) bool; column 0 is all True
    priority: Array  # (households,) float
    fit: FitWeights


def _runs(counts: Array) -> Array:
    """0..c-1 for each c in counts, concatenated."""
    out: Array = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return out


def rank_buckets(households: int, top: int, pairs: int, limit: int) -> int:
    """How many rank steps the bonus can have: the largest cost, top x k + buckets - 1, is at most
    buckets x (top x pairs + 1), which must stay within the limit."""
    return max(1, min(households, limit // (top * pairs + 1)))


def solve(net: Network) -> list[tuple[int, int]]:
    """Maximum-weight assignment: (household row, opportunity column) pairs."""
    n, m = net.ok.shape
    packed = np.packbits(net.ok, axis=1)
    key = np.ascontiguousarray(np.concatenate([net.size.astype(np.uint8)[:, None], packed], axis=1))
    _, rep, cls = np.unique(key.view(np.dtype((np.void, key.shape[1]))).ravel(), return_index=True, return_inverse=True)
    cls = cls.ravel()
    # Routes: (class, capacity, language) for every compatible (class, opportunity) and each language listed.
    kk, jj = np.nonzero(net.ok[rep])
    lk, ll = np.nonzero(net.lists[jj])  # pair index, language column (0 = none)
    kk, jj = kk[lk], jj[lk]
    span_c, span_l = int(net.capacity.max()) + 1, net.lists.shape[1]
    route_key = (kk * span_c + net.capacity[jj]) * span_l + ll
    routes, route_of = np.unique(route_key, return_inverse=True)
    route_cls, route_cap, route_lang = routes // (span_c * span_l), (routes // span_l) % span_c, routes % span_l
    # Household -> route arcs: every route of the household's class in a language it speaks (or "none").
    starts = np.searchsorted(route_cls, np.arange(len(rep) + 1))
    per = starts[cls + 1] - starts[cls]
    ah = np.repeat(np.arange(n), per)
    ar = np.repeat(starts[cls], per) + _runs(per)
    keep = net.speaks[ah, route_lang[ar]]
    ah, ar = ah[keep], ar[keep]
    if not len(ah):
        return []
    weights = pair_weights(net.priority[ah], net.size[ah], route_cap[ar], route_lang[ar] > 0, net.fit)
    units = np.rint(weights * SCALE).astype(np.int64)
    active = np.unique(ah)
    nodes = n + len(routes) + m + 1
    sink = nodes - 1
    limit = COST_LIMIT // (nodes + 1)
    top = int(units.max())
    if top > limit:
        raise ValueError(f"weights up to {top / SCALE} are too large for an exact integer solve")
    pairs = min(len(active), len(np.unique(jj)))  # at most this many households matched
    buckets = rank_buckets(n, top, pairs, limit)
    k = (buckets - 1) * pairs + 1  # the bonus summed over the pairs stays below k, one unit of weight
    bonus = ((n - 1 - ah) * buckets) // n
    flow = SimpleMinCostFlow()
    tails = np.concatenate([ah, n + route_of, n + len(routes) + np.arange(m), active])
    heads = np.concatenate([n + ar, n + len(routes) + jj, np.full(m, sink), np.full(len(active), sink)])
    costs = np.concatenate([-(units * k + bonus), np.zeros(len(jj) + m + len(active), dtype=np.int64)])
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), np.ones(len(tails), dtype=np.int64), costs
    )
    supplies = np.zeros(nodes, dtype=np.int64)
    supplies[active] = 1
    supplies[sink] = -len(active)
    flow.set_nodes_supplies(np.arange(nodes), supplies)
    status = flow.solve()
    if status != SimpleMinCostFlow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    # Pair, route by route, the households that entered it with the opportunities that left it.
    used = flow.flows(np.arange(len(ah))) > 0
    hin, rin = ah[used], ar[used]
    order = np.lexsort((hin, rin))
    out = flow.flows(len(ah) + np.arange(len(jj))) > 0
    jout, rout = jj[out], route_of.ravel()[out]
    mate = np.full(n, -1, dtype=np.int64)
    mate[hin[order]] = jout[np.lexsort((jout, rout))]
    mate = _best_ranked_first(mate, cls, net.speaks, net.priority)
    rows = np.nonzero(mate >= 0)[0]
    return [(int(i), int(mate[i])) for i in rows]


def _best_ranked_first(mate: Array, cls: Array, speaks: Array, priority: Array) -> Array:
    """Households with the same class, priority and languages are interchangeable: within each such group the
    places won go to its best-ranked members (rows are in rank order), in the same order as before."""
    key = np.concatenate(
        [cls[:, None], priority.astype(np.float64).view(np.int64)[:, None], speaks.astype(np.int64)], axis=1
    )
    _, group = np.unique(key, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.lexsort((np.arange(len(mate)), group))  # by group, then rank
    g = group[order]
    won = np.bincount(group, weights=mate >= 0).astype(np.int64)
    first = np.searchsorted(g, g)  # each group's first position in `order`
    holders = order[(np.arange(len(order)) - first) < won[g]]
    places = mate[order][mate[order] >= 0]
    out = np.full_like(mate, -1)
    out[holders] = places
    return out
