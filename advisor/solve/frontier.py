"""Pareto frontiers of (capacity, cost) over whole replicas of a few lanes: the hourly
subproblems of the Lagrangian bound (``lagrange``) and of the exact hours (``exact_hours``),
and the cost of covering what is left with a frontier and the API (``Cover``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from advisor.options import OptionSet

#: A lane: capacity per replica, cost per replica, pool GPU index (-1: none), pool GPUs per
#: replica, most replicas.
Lane = tuple[float, float, int, int, float]
T = TypeVar("T")


def hourly_replica(opts: OptionSet, deployment: str, source: str) -> tuple[float, float]:
    """A replica of ``deployment`` rented on an hourly ``source`` (on demand, spot): its
    price [USD per hour] and the most replicas its offer's cap allows (inf: no cap)."""
    dep = opts.deployments[deployment]
    cap = opts.max_gpus.get((dep.pool_key, source), math.inf)
    copies = math.floor(cap / dep.units) if math.isfinite(cap) else math.inf
    return opts.gpu_usd_per_hour[(dep.pool_key, source)] * dep.units, copies


def undominated_lanes(lanes: list[Lane]) -> list[Lane]:
    """The lanes no other lane beats: at least the capacity per replica, at most the cost,
    and no cap on its replicas. (A capped lane that beats another on all three can still
    leave demand the other would serve: with caps on both, dropping either would not be a
    relaxation of serving both.)"""
    out = []
    for i, a in enumerate(lanes):
        dominated = False
        for j, b in enumerate(lanes):
            if i == j or not math.isinf(b[4]):
                continue
            no_worse = b[0] >= a[0] and b[1] <= a[1]
            if no_worse and (b[0] > a[0] or b[1] < a[1] or not math.isinf(a[4]) or j < i):
                dominated = True
                break
        if not dominated:
            out.append(a)
    return out


def undominated(
    items: Sequence[T], no_worse: Callable[[T, T], bool], same: Callable[[T, T], bool]
) -> list[T]:
    """The items no other beats: ``no_worse(b, a)`` (``b`` does ``a``'s job for no more) and,
    where ``same(b, a)``, ``b`` comes first (of equal items the earliest stays)."""
    return [
        a
        for i, a in enumerate(items)
        if not any(
            j != i and no_worse(b, a) and (j < i or not same(b, a)) for j, b in enumerate(items)
        )
    ]


#: A lane both workloads of a pair may use: capacity per replica for each, cost per replica,
#: pool GPU index (-1: none), pool GPUs per replica.
SplitLane = tuple[float, float, float, int, int]


def undominated_splits(shared: list[SplitLane]) -> list[SplitLane]:
    """The shared lanes no other beats: at least the capacity for each workload at no more
    cost (ties: the earlier stays). The split replica of a beaten lane can be the other's at
    no more cost and no less cover, so a pair's hourly optimum is the same without it."""
    return undominated(
        shared,
        lambda b, a: b[0] >= a[0] and b[1] >= a[1] and b[2] <= a[2],
        lambda b, a: b[:3] == a[:3],
    )


def pareto_frontier(
    lanes: list[Lane], k_max: float, n_gpus: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto frontier of (units ≥, cost ≤) over whole replicas of ``lanes``, units counted
    up to ``k_max``. Returns units, cost and pool GPUs used per type of every frontier
    point."""
    K, C, U, _ = _frontier(lanes, k_max, n_gpus, False)
    return K, C, U


def frontier_with_replicas(
    lanes: list[Lane], k_max: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pareto_frontier`` of lanes without pool GPUs, with the replicas of each lane at
    every point: units (P,), cost (P,), replicas (P, len(lanes))."""
    K, C, _, N = _frontier(lanes, k_max, 0, True)
    return K, C, N


def _frontier(
    lanes: list[Lane], k_max: float, n_gpus: int, track: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    K = np.zeros(1)
    C = np.zeros(1)
    U = np.zeros((1, n_gpus))
    N = np.zeros((1, len(lanes) if track else 0))
    cut = k_max * (1 - 1e-12)
    for li, (units, cost, g, tp, max_copies) in enumerate(lanes):
        n_max = min(math.ceil(k_max / units - 1e-12), max_copies)
        if n_max <= 0:
            continue
        # copies in chunks of 1, 2, 4, … (any count up to n_max is a sum of distinct
        # chunks), each chunk added to the frontier so far and the result pruned
        left, m = int(n_max), 1
        while left > 0:
            m = min(m, left)
            open_ = cut > K
            grown_u = U[open_]
            if g >= 0:  # only the lane's pool GPU column grows (the others add zero)
                grown_u[:, g] += m * tp
            if track:
                grown_n = N[open_]
                grown_n[:, li] += m
                N = np.concatenate([N, grown_n])
            keep = _pareto(
                np.concatenate([K, K[open_] + m * units]),
                np.concatenate([C, C[open_] + m * cost]),
                k_max,
            )
            K, C = keep.K, keep.C
            U = np.concatenate([U, grown_u])[keep.rows]
            N = N[keep.rows] if track else N
            left -= m
            m *= 2
    return K, C, U, N if track else np.zeros((K.size, 0))


@dataclass(frozen=True)
class _Kept:
    """The points of a candidate set no other beats: their units, cost and rows in it."""

    K: np.ndarray
    C: np.ndarray
    rows: np.ndarray


def _pareto(K: np.ndarray, C: np.ndarray, k_max: float) -> _Kept:
    """Units counted up to ``k_max``; sorted by units descending, then cost ascending, a
    point stays where it is cheaper than every point before it."""
    K = np.minimum(K, k_max)
    order = np.lexsort((C, -K))
    c = C[order]
    prev_min = np.minimum.accumulate(np.concatenate([[np.inf], c[:-1]]))
    keep = prev_min - 1e-12 > c
    rows = order[keep]
    return _Kept(K[rows], c[keep], rows)


class Cover:
    """Cheapest frontier point plus the API for the rest, as a function of the capacity still
    needed: ``F(r) = min_j C_j + a·(r − K_j)⁺`` over a frontier ``(K_j, C_j)`` (ascending in
    both once sorted), with ``a`` the API price per unit of capacity in each hour row (inf: no
    API). ``F`` never falls as ``r`` grows; ``U`` holds a per-point quantity carried along
    (pool GPUs per type, or replicas per lane), in the sorted order."""

    def __init__(self, K: np.ndarray, C: np.ndarray, U: np.ndarray, unit: np.ndarray) -> None:
        order = np.argsort(K, kind="stable")
        self.K, self.C, self.U = K[order], C[order], U[order]
        n = unit.shape[0]
        self.unit = unit
        with np.errstate(invalid="ignore"):
            v = self.C[None, :] - unit[:, None] * self.K[None, :]  # (n, P)
        v = np.where(np.isfinite(unit)[:, None], v, np.inf)
        self.prefix = np.minimum.accumulate(v, axis=1)
        at = np.where(v <= self.prefix, np.arange(self.K.size)[None, :], 0)
        self.prefix_at = np.maximum.accumulate(at, axis=1)
        self.rows = np.arange(n)[:, None]

    @classmethod
    def of_lanes(cls, lanes: list[Lane], k_max: float, n_gpus: int, unit: np.ndarray) -> Cover:
        """The cover of whole replicas of ``lanes`` (undominated ones), pool GPUs carried."""
        K, C, U = pareto_frontier(undominated_lanes(lanes), k_max, n_gpus)
        return cls(K, C, U, unit)

    def __call__(
        self, r: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``F`` at ``r`` (n, M), row ``i`` priced as hour row ``rows[i]`` (default ``i``),
        and the frontier point that attains it (the API takes ``r − K`` of the point, where
        positive)."""
        r = np.maximum(r, 0.0)
        P = self.K.size
        i = np.searchsorted(self.K, r * (1 - 1e-12), side="left")
        whole = np.where(i < P, self.C[np.minimum(i, P - 1)], np.inf)
        at = self.rows if rows is None else np.asarray(rows)[:, None]  # (n, 1)
        # row-major position of (row, point before i) in prefix / prefix_at
        flat = at * P + np.maximum(i - 1, 0)
        with np.errstate(invalid="ignore"):
            api = self.unit[at] * r + self.prefix.ravel()[flat]
        api[(i == 0) | np.isnan(api)] = np.inf
        use_api = api < whole
        return np.where(use_api, api, whole), np.where(use_api, self.prefix_at.ravel()[flat], i)


def crossings(K: np.ndarray, d: np.ndarray, p: float) -> np.ndarray:
    """Per row, the shares ``θ ∈ [0, 1]`` at which ``d − θ·p`` meets a point of the sorted
    frontier ``K`` (n, M), padded with 0 (a value tried anyway)."""
    lo = np.searchsorted(K, d - p, side="left")
    hi = np.searchsorted(K, d, side="right")
    m = int(np.max(hi - lo, initial=0))
    if m == 0:
        return np.zeros((d.size, 0))
    idx = lo[:, None] + np.arange(m)[None, :]
    ok = idx < hi[:, None]
    k = K[np.minimum(idx, K.size - 1)]
    th = (d[:, None] - k) / p
    return np.where(ok, np.clip(th, 0.0, 1.0), 0.0)


def split_shares(
    K1: np.ndarray, d1: np.ndarray, p: float, K2: np.ndarray, d2: np.ndarray, q: float
) -> np.ndarray:
    """The shares ``θ`` of one replica split between two workloads worth trying, per row:
    0, 1, and those at which ``d1 − θ·p`` meets a point of ``K1`` or ``d2 − (1−θ)·q`` one of
    ``K2`` (between them both costs are concave in ``θ``, so the least is at one of these)."""
    n = d1.size
    return np.concatenate(
        [np.zeros((n, 1)), np.ones((n, 1)), crossings(K1, d1, p), 1.0 - crossings(K2, d2, q)],
        axis=1,
    )
