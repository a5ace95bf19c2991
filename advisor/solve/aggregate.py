"""Time aggregation: merge identical hours exactly (with weights), or cluster them into
representative hours (deterministic k-means, each workload's peak hour a cluster of its own)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: With at most this many distinct hours, solve the hourly problem exactly.
AUTO_EXACT_LIMIT = 400


#: Representative hours used by ``aggregate="auto"`` beyond that.
AUTO_CLUSTERS = 160


@dataclass
class Aggregation:
    """How real hours map to model time points."""

    mode: str  # exact | clustered
    labels: np.ndarray  # (H,) time point of each real hour
    weights: np.ndarray  # (T,) hours per time point
    upper: np.ndarray  # (T, W) requests
    lower: np.ndarray  # (T, W)
    upper_in: np.ndarray
    upper_out: np.ndarray
    lower_in: np.ndarray
    lower_out: np.ndarray
    #: cluster-mean requests, and tokens at each cluster's lowest tokens-per-request ratio
    mean: np.ndarray
    mean_in: np.ndarray
    mean_out: np.ndarray
    #: distinct hours (same demand and existing fleet)
    n_distinct: int = 0

    @property
    def n_points(self) -> int:
        return int(self.weights.shape[0])

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "points": self.n_points, "hours": int(self.labels.shape[0])}


def aggregate_hours(
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing: np.ndarray | None,
    mode: str | int = "auto",
) -> Aggregation:
    """Merge identical hours; cluster into representative hours when asked or when large.

    ``mode``: ``"exact"`` merges identical hours only; an integer clusters into that many
    points; ``"auto"`` is exact up to ``AUTO_EXACT_LIMIT`` distinct hours, else clusters.
    """
    keys = _hour_keys(requests, input_tokens, output_tokens, existing)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_distinct = uniq.shape[0]
    if mode == "exact" or (mode == "auto" and n_distinct <= AUTO_EXACT_LIMIT):
        agg = _exact(requests, input_tokens, output_tokens, inverse, n_distinct)
    else:
        n_clusters = AUTO_CLUSTERS if mode == "auto" else int(mode)
        if n_clusters >= n_distinct:
            agg = _exact(requests, input_tokens, output_tokens, inverse, n_distinct)
        else:
            labels = _cluster(requests, existing, n_clusters)
            agg = _from_labels(requests, input_tokens, output_tokens, labels, "clustered")
    return replace(agg, n_distinct=n_distinct)


def distinct_hours(
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing: np.ndarray | None = None,
) -> int:
    """How many hours differ in demand or existing fleet: the hours an exact solve holds, and
    what the default time budget is chosen by (``budget.default_budget_s``)."""
    keys = _hour_keys(requests, input_tokens, output_tokens, existing)
    return int(np.unique(keys, axis=0).shape[0])


def _hour_keys(requests, input_tokens, output_tokens, existing) -> np.ndarray:
    """One row per hour: its demand and existing fleet (identical rows merge exactly)."""
    parts = [requests, input_tokens, output_tokens] + ([existing] if existing is not None else [])
    return np.concatenate(parts, axis=1)


def _exact(req, inp, out, inverse, n) -> Aggregation:
    # Order points by first occurrence so the model reads in time order.
    first = np.full(n, req.shape[0], dtype=int)
    np.minimum.at(first, inverse, np.arange(req.shape[0]))
    order = np.argsort(first, kind="stable")
    remap = np.empty(n, dtype=int)
    remap[order] = np.arange(n)
    labels = remap[inverse]
    return _from_labels(req, inp, out, labels, "exact")


def _from_labels(req, inp, out, labels, mode) -> Aggregation:
    n = int(labels.max()) + 1
    W = req.shape[1]
    weights = np.bincount(labels, minlength=n).astype(float)
    up = np.zeros((n, W))
    lo = np.full((n, W), np.inf)
    up_i, up_o = np.zeros((n, W)), np.zeros((n, W))
    lo_i, lo_o = np.full((n, W), np.inf), np.full((n, W), np.inf)
    np.maximum.at(up, labels, req)
    np.minimum.at(lo, labels, req)
    np.maximum.at(up_i, labels, inp)
    np.maximum.at(up_o, labels, out)
    np.minimum.at(lo_i, labels, inp)
    np.minimum.at(lo_o, labels, out)
    mean = np.zeros((n, W))
    np.add.at(mean, labels, req)
    mean /= weights[:, None]
    ratios = []
    for tokens in (inp, out):
        r = np.full((n, W), np.inf)
        ok = req > 0
        per = np.divide(tokens, req, out=np.zeros_like(tokens, dtype=float), where=ok)
        np.minimum.at(r, labels, np.where(ok, per, np.inf))
        ratios.append(np.where(np.isfinite(r), r, 0.0) * mean)
    return Aggregation(mode, labels, weights, up, lo, up_i, up_o, lo_i, lo_o, mean, *ratios)


def _cluster(requests: np.ndarray, existing: np.ndarray | None, k: int) -> np.ndarray:
    """Deterministic clustering of hours by demand shape (and existing-fleet signature).

    Each workload's peak hour is its own cluster; the rest are split by k-means on demand
    scaled per workload, seeded at quantiles of total demand, 20 Lloyd iterations.
    """
    H, W = requests.shape
    scale = requests.max(axis=0)
    scale[scale <= 0] = 1.0
    feats = requests / scale
    labels = np.full(H, -1, dtype=int)
    singles = sorted({int(np.argmax(requests[:, j])) for j in range(W)})
    for i, h in enumerate(singles):
        labels[h] = i
    rest = np.flatnonzero(labels < 0)
    groups: list[np.ndarray] = [rest]
    if existing is not None and existing.size:
        sig, inv = np.unique(existing[rest], axis=0, return_inverse=True)
        groups = [rest[inv.reshape(-1) == i] for i in range(sig.shape[0])]
    next_label = len(singles)
    budget = max(k - len(singles), len(groups))
    for grp in groups:
        if grp.size == 0:
            continue
        kk = max(1, min(grp.size, round(budget * grp.size / max(rest.size, 1))))
        sub = _kmeans(feats[grp], kk)
        labels[grp] = sub + next_label
        next_label += int(sub.max()) + 1
    # compact labels
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(-1)


def _kmeans(x: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    n = x.shape[0]
    if k >= n:
        return np.arange(n)
    total = x.sum(axis=1)
    order = np.argsort(total, kind="stable")
    centers = x[order[np.linspace(0, n - 1, k).round().astype(int)]].copy()
    labels = np.zeros(n, dtype=int)
    x_sq = (x**2).sum(axis=1)
    for it in range(iters):
        # squared distances without the (n, k, W) intermediate
        d = x_sq[:, None] - 2.0 * (x @ centers.T) + (centers**2).sum(axis=1)[None, :]
        new = d.argmin(axis=1)
        if it > 0 and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, x)
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(-1)


def medoids(agg: Aggregation, requests: np.ndarray) -> np.ndarray:
    """Per point of ``agg``, the real hour nearest its cluster's mean demand (each
    workload's demand scaled by its peak)."""
    scale = np.max(requests, axis=0)
    scale[scale <= 0] = 1.0
    z = requests / scale
    mean = agg.mean / scale
    out = np.empty(agg.n_points, dtype=int)
    for t in range(agg.n_points):
        members = np.flatnonzero(agg.labels == t)
        out[t] = members[np.argmin(((z[members] - mean[t]) ** 2).sum(axis=1))]
    return out


def existing_at_points(
    agg: Aggregation, ex: np.ndarray | None, names: list[str]
) -> dict[str, np.ndarray]:
    """The existing fleet of each point (identical within a point by construction)."""
    if ex is None:
        return {}
    rep = np.zeros((agg.n_points, len(names)))
    rep[agg.labels] = ex
    return {g: rep[:, j] for j, g in enumerate(names)}
