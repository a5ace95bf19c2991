"""Pareto frontiers of (capacity, cost) over whole replicas of a few lanes: the hourly
subproblems of the Lagrangian bound (``lagrange``) and of the exact hours (``exact_hours``)."""

from __future__ import annotations

import math

import numpy as np

from advisor.options import OptionSet

#: A lane: capacity per replica, cost per replica, pool GPU index (-1: none), pool GPUs per
#: replica, most replicas.
Lane = tuple[float, float, int, int, float]


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
    for li, (units, cost, g, tp, max_copies) in enumerate(lanes):
        n_max = min(math.ceil(k_max / units - 1e-12), max_copies)
        if n_max <= 0:
            continue
        add_u = np.zeros(n_gpus)
        if g >= 0:
            add_u[g] = tp
        add_n = np.zeros(N.shape[1])
        if track:
            add_n[li] = 1
        # copies in chunks of 1, 2, 4, … (any count up to n_max is a sum of distinct
        # chunks), each chunk added to the frontier so far and the result pruned
        left, m = int(n_max), 1
        while left > 0:
            m = min(m, left)
            open_ = k_max * (1 - 1e-12) > K
            K, C, U, N = _prune(
                np.concatenate([K, K[open_] + m * units]),
                np.concatenate([C, C[open_] + m * cost]),
                np.vstack([U, U[open_] + m * add_u]),
                np.vstack([N, N[open_] + m * add_n]),
                k_max,
            )
            left -= m
            m *= 2
    return K, C, U, N


def _prune(K: np.ndarray, C: np.ndarray, U: np.ndarray, N: np.ndarray, k_max: float):
    K = np.minimum(K, k_max)
    order = np.lexsort((C, -K))  # units descending, then cost ascending
    K, C, U, N = K[order], C[order], U[order], N[order]
    prev_min = np.minimum.accumulate(np.concatenate([[np.inf], C[:-1]]))
    keep = prev_min - 1e-12 > C
    return K[keep], C[keep], U[keep], N[keep]
