r"""Two workloads of one model in an hour, given the pool GPUs they may use: the least cost
and the schedule that attains it, for every pool state and hour at once.

The two workloads may share replicas (a replica's hour split between them). An optimal split
shares at most one replica: were two replicas shared, moving their hours between the
workloads in the ratio of their capacities frees one of them without losing coverage (the
argument of ``lagrange.pair_evaluate``). So with the pool split into ``p₁ + p₂ (+ the
shared replica's GPUs) ≤ p``, an hour costs either

* ``F₁(d₁ − U₁[p₁]) + F₂(d₂ − U₂[p₂])`` — each workload on its own pool replicas (``U_w[p]``:
  the most capacity ``p`` pool GPUs hold for it), its own hourly replicas and the API
  (``F_w``, a ``frontier.Cover``) — or
* for a lane ``ℓ`` both can use (an hourly source, price ``c_ℓ``, or the pool), capacities
  ``a`` and ``b`` per replica: ``c_ℓ + min_θ F₁(d₁ − U₁[p₁] − θ·a) + F₂(d₂ − U₂[p₂] − (1−θ)·b)``.

Between two consecutive shares ``θ`` at which either argument meets a frontier point, both
``F`` are concave in ``θ`` (a constant or the API's line, whichever is less), so the minimum
is at one of those shares or at ``θ ∈ {0, 1}``: all are tried. Only the pool states that
hold more capacity than every state below them are split (``efficient``); a pool state's
cost is the least over the splits it contains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.solve.frontier import Cover, split_shares

#: Most (pool splits × hours × tried shares) one pair takes on in a chunk of hours (the
#: hours per chunk are cut to fit: it bounds the memory, not the work).
MAX_PAIR_WORK = 1e8


@dataclass(frozen=True)
class SharedLane:
    """A lane whose replica both workloads may use: (deployment, source), capacity per
    replica for each workload, price per replica-hour [USD] (0 on the pool), and the pool
    GPUs per key one replica takes (zeros: an hourly source)."""

    key: tuple[str, str]
    caps: tuple[float, float]
    usd: float
    pool_gpus: np.ndarray


@dataclass
class PairSide:
    """One workload of the pair in a chunk of hours: capacity needed (h,), its cover by
    hourly replicas and the API (``U`` of the cover: replicas per hourly lane), and the pool
    capacity it holds in each pool state (S,)."""

    need: np.ndarray
    cover: Cover
    pool_units: np.ndarray


@dataclass
class PairTable:
    """The pair's least cost in each pool state and hour (S, h), and how: the shared lane
    (-1: none), each workload's pool state and the first workload's share ``θ`` of the
    shared replica."""

    cost: np.ndarray
    lane: np.ndarray
    state1: np.ndarray
    state2: np.ndarray
    theta: np.ndarray


def efficient(grid: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The pool states (rows of ``grid``: GPUs per key) that hold more capacity (``units``)
    than every other state with no more GPUs of any key."""
    le = np.all(grid[:, None, :] <= grid[None, :, :], axis=2)  # le[t, s]: t within s
    np.fill_diagonal(le, False)
    beaten = np.any(le & (units[:, None] >= units[None, :] - 1e-9), axis=0)
    return np.flatnonzero(~beaten)


def useful(grid: np.ndarray, units: np.ndarray, need: float) -> np.ndarray:
    """The ``efficient`` states no state within which already holds ``need`` (a state
    beyond one that covers a workload's largest need in every hour only adds idle GPUs)."""
    eff = efficient(grid, units)
    g, u = grid[eff], units[eff]
    within = np.all(g[:, None, :] <= g[None, :, :], axis=2)  # within[t, s]: t within s
    np.fill_diagonal(within, False)
    covered = np.any(within & (u[:, None] >= need - 1e-9), axis=0)
    return eff[~covered]


def pair_work(grid: np.ndarray, sides: tuple[PairSide, PairSide], n_lanes: int, h: int) -> float:
    """An estimate of ``pair_table``'s work: splits × hours × (lanes + 1) × shares tried."""
    e1, e2 = (useful(grid, s.pool_units, float(s.need.max(initial=0.0))).size for s in sides)
    density = sum(s.cover.K.size for s in sides)
    return float(e1 * e2 * h * (n_lanes + 1) * min(density, 64))


def pair_table(
    grid: np.ndarray,
    top: np.ndarray,
    sides: tuple[PairSide, PairSide],
    lanes: list[SharedLane],
) -> PairTable:
    """The pair's table over the pool states ``grid`` (S, keys), each key at most ``top``."""
    s1, s2 = sides
    h = s1.need.size
    dims = tuple(int(t) + 1 for t in top)
    a_idx, b_idx = _splits(grid, top, sides)
    alone = _whole(s1, a_idx, 0.0) + _whole(s2, b_idx, 0.0)  # (n, h)
    at = _flat(grid[a_idx] + grid[b_idx], dims)
    best = _Best(len(grid), h)
    best.offer(alone, at, -1, a_idx, b_idx, np.zeros((a_idx.size, h)))
    alone = best.spread(dims).cost  # without a shared replica
    for li, ln in enumerate(lanes):
        used = grid[a_idx] + grid[b_idx] + ln.pool_gpus[None, :]
        ok = np.all(used <= top[None, :], axis=1)
        if not ok.any():
            continue
        ai, bi, to = a_idx[ok], b_idx[ok], _flat(used[ok], dims)
        value, theta = _shared(s1, s2, ai, bi, ln.caps, alone[to] - ln.usd)
        best.offer(value + ln.usd, to, li, ai, bi, theta)
    return best.spread(dims)


def _splits(
    grid: np.ndarray, top: np.ndarray, sides: tuple[PairSide, PairSide]
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of useful states (one per workload) that the pool can hold together."""
    e1, e2 = (useful(grid, s.pool_units, float(s.need.max(initial=0.0))) for s in sides)
    a, b = np.meshgrid(e1, e2, indexing="ij")
    a, b = a.ravel(), b.ravel()
    ok = np.all(grid[a] + grid[b] <= top[None, :], axis=1)
    return a[ok], b[ok]


def _flat(states: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
    if not dims:
        return np.zeros(states.shape[0], dtype=np.int64)
    return np.ravel_multi_index(tuple(states.T), dims)


def _shared(
    s1: PairSide,
    s2: PairSide,
    ai: np.ndarray,
    bi: np.ndarray,
    caps: tuple[float, float],
    ceiling: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each split (rows) and hour: the least cost of both workloads with one replica of
    capacities ``caps`` shared between them, and the first workload's share of it; inf
    where even the whole replica for each (a bound below any share) costs no less than
    ``ceiling`` (n, h)."""
    a, b = caps
    n, h = ai.size, s1.need.size
    value = np.full(n * h, np.inf)
    share = np.zeros(n * h)
    x1 = (s1.need[None, :] - s1.pool_units[ai, None]).ravel()  # (n·h,)
    x2 = (s2.need[None, :] - s2.pool_units[bi, None]).ravel()
    hours = np.tile(np.arange(h), n)
    low = (_whole(s1, ai, a) + _whole(s2, bi, b)).ravel()
    keep = np.flatnonzero(low < ceiling.ravel() - 1e-9)
    if keep.size:
        value[keep], share[keep] = _best_share(s1, s2, x1[keep], x2[keep], hours[keep], caps)
    return value.reshape(n, h), share.reshape(n, h)


def _whole(side: PairSide, states: np.ndarray, cap: float) -> np.ndarray:
    """A workload's cost (n, h) in pool state ``states`` (n,) with a whole replica of
    capacity ``cap`` more: each distinct state costed once."""
    uniq, back = np.unique(states, return_inverse=True)
    cost, _ = side.cover((side.need[None, :] - side.pool_units[uniq, None] - cap).T)
    return cost.T[back]


def _best_share(
    s1: PairSide,
    s2: PairSide,
    x1: np.ndarray,
    x2: np.ndarray,
    hours: np.ndarray,
    caps: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The least cost over the first workload's share ``θ`` of the shared replica, for needs
    beyond the pool ``x1``, ``x2`` in ``hours``, and the ``θ`` that attains it."""
    a, b = caps
    m = x1.size
    theta = split_shares(s1.cover.K, x1, a, s2.cover.K, x2, b)
    g1, _ = s1.cover(x1[:, None] - theta * a, hours)
    g2, _ = s2.cover(x2[:, None] - (1.0 - theta) * b, hours)
    total = g1 + g2
    j = np.argmin(total, axis=1)
    rows = np.arange(m)
    return total[rows, j], theta[rows, j]


class _Best:
    """The least value offered for each pool state and hour, and where it came from."""

    def __init__(self, n_states: int, h: int) -> None:
        self.cost = np.full((n_states, h), np.inf)
        self.lane = np.full((n_states, h), -1, dtype=np.int64)
        self.state1 = np.zeros((n_states, h), dtype=np.int64)
        self.state2 = np.zeros((n_states, h), dtype=np.int64)
        self.theta = np.zeros((n_states, h))

    def offer(
        self,
        value: np.ndarray,  # (n, h)
        at: np.ndarray,  # (n,) the pool state each row uses
        lane: int,
        a_idx: np.ndarray,
        b_idx: np.ndarray,
        theta: np.ndarray,  # (n, h)
    ) -> None:
        n = at.size
        if n == 0:
            return
        order = np.argsort(at, kind="stable")
        v, at_s = value[order], at[order]
        starts = np.flatnonzero(np.r_[True, at_s[1:] != at_s[:-1]])
        low = np.minimum.reduceat(v, starts, axis=0)  # (groups, h): least per pool state
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
        rowid = np.where(v <= low[group], np.arange(n)[:, None], n)
        first = np.minimum.reduceat(rowid, starts, axis=0)  # the sorted row that attains it
        targets = at_s[starts]
        gi, ci = np.nonzero(low < self.cost[targets] - 1e-9)
        r = order[first[gi, ci]]
        st = targets[gi]
        self.cost[st, ci] = low[gi, ci]
        self.lane[st, ci] = lane
        self.state1[st, ci] = a_idx[r]
        self.state2[st, ci] = b_idx[r]
        self.theta[st, ci] = theta[r, ci]

    def spread(self, dims: tuple[int, ...]) -> PairTable:
        """Each state at the best of the states within it (more pool GPUs never cost more)."""
        h = self.cost.shape[1]
        arrays = [self.cost, self.lane, self.state1, self.state2, self.theta]
        shaped = [x.copy().reshape(*dims, h) for x in arrays]
        for axis, d in enumerate(dims):
            for i in range(1, d):
                cur = tuple([slice(None)] * axis + [i])
                prev = tuple([slice(None)] * axis + [i - 1])
                better = shaped[0][prev] < shaped[0][cur] - 1e-9
                for x in shaped:
                    x[cur] = np.where(better, x[prev], x[cur])
        flat = [x.reshape(-1, h) for x in shaped]
        return PairTable(*flat)
