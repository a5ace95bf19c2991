r"""Every hour's optimal schedule given the reserved fleet, in bulk, where the hours'
problem allows it.

Given the fleet, hours share nothing, and each hour is a small integer problem: whole
replicas of each deployment on the pool, on demand or spot, and the API for what they leave.
Where no model serves more than two of the hour's workloads and no limit on GPU types
applies, the hour's problem splits into one problem per model, joined only by the pool's
GPUs per type and by the hourly offers' caps. Relaxing the caps across deployments (each
lane keeps its own), it is solved exactly for all hours at once:

* each workload's hourly lanes (on demand, spot) give one Pareto frontier of (capacity, cost)
  over whole replicas (``pareto_frontier``, with the replicas of every point);
* its pool lanes give, per pool key ``g`` and every count ``u`` of pool GPUs, the most
  capacity ``u`` GPUs hold (a small knapsack over whole replicas);
* with ``p`` pool GPUs per key, a model with one workload costs the cheapest frontier point
  plus the API for what the pool and that point leave (within its rate limit): ``f_m(p)``;
  a model with two workloads, which may split one replica between them, costs what
  ``pair_hours`` finds over the splits of ``p`` and that replica's share;
* the hour's optimum is ``min Σ_m f_m(p_m)`` over splits ``Σ_m p_m ≤`` the pool's GPUs, a
  dynamic programme over the split.

Where the relaxation's optimum keeps every offer's cap it is the hour's optimum; an hour where
it does not is returned as None (its caller solves it as before). Numbers as the MILP has
them: a replica covers ``capacity`` of ``demand × (1 + headroom)``
(``workloads.capacity_needed``); the API's cost is its share of the hour's tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from advisor.milp import POOL, ModelInput, deployment_sources
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve.frontier import Cover, frontier_with_replicas, hourly_replica, undominated
from advisor.solve.pair_hours import (
    MAX_PAIR_WORK,
    PairSide,
    PairTable,
    SharedLane,
    pair_table,
    pair_work,
)
from advisor.solve.problem import Problem
from advisor.solve.schedule import HourSchedule, hours_cost
from advisor.workloads import capacity_needed

#: Most (pool states)² × models × hours the dynamic programme takes on (beyond: None;
#: measured: 110 states, 5 models, 8,760 hours, 5.3e8, in about 25 s with the pairs' tables).
MAX_WORK = 4e9
#: Hours evaluated together (memory: frontier points × hours).
CHUNK_HOURS = 512
#: A shortfall below this share of an hour's need counts as covered (the MILP's tolerance).
COVER_TOL = 1e-9


@dataclass
class _Lanes:
    """One workload's lanes: hourly ((k, s), GPUs per replica, USD per replica-hour, capacity
    per replica, most replicas) and pool (k, pool key, GPUs per replica, capacity)."""

    hourly: list[tuple[tuple[str, str], int, float, float, float]]
    pool: list[tuple[str, str, int, float]]


def exact_groups(opts: OptionSet, workloads: tuple[str, ...]) -> list[tuple[int, ...]] | None:
    """The columns of ``workloads`` each model serves, where every hour can be solved exactly:
    no model serves more than two of them, no limit on GPU types joins them, and no API
    rate limit is shared by two workloads of a model. Else None."""
    if opts.max_gpu_types is not None:
        return None
    by_model: dict[str, list[int]] = {}
    for j, w in enumerate(workloads):
        by_model.setdefault(opts.workloads[w].model, []).append(j)
    for model, cols in by_model.items():
        if len(cols) > 2 or (len(cols) == 2 and model in opts.api_max_tokens_per_hour):
            return None
    return [tuple(cols) for cols in by_model.values()]


def solved_exactly(opts: OptionSet, workloads: tuple[str, ...]) -> bool:
    """Whether ``exact_hours`` takes on these workloads (``exact_groups``)."""
    return exact_groups(opts, workloads) is not None


def exact_hours(
    problem: Problem, fleet: Mapping[tuple[str, str], int], deadline: float | None = None
) -> list[HourSchedule | None] | None:
    """Each hour's optimal schedule on ``fleet`` (reserved GPUs per (pool key, tier)) beside
    the committed GPUs; None for an hour where an offer's cap binds across deployments or
    that ``deadline`` (``time.perf_counter()``) left unsolved, and None for all where the
    workloads do not group as ``exact_groups`` needs or the pool is too large for the
    dynamic programme (``MAX_WORK``)."""
    setup = _setup(problem, fleet)
    if setup is None:
        return None
    H = problem.n_hours
    chunk = _chunk_hours(problem, setup)
    out: list[HourSchedule | None] = []
    for lo in range(0, H, chunk):
        hours = np.arange(lo, min(H, lo + chunk))
        if deadline is not None and time.perf_counter() > deadline:
            out += [None] * hours.size
            continue
        out += _solve_chunk(problem, setup, hours)
    return out


@dataclass
class _Setup:
    """What every chunk of hours shares: the models' workload columns, each workload's
    lanes, the pool keys and their most GPUs, the pool GPUs per key and hour, every pool
    state (``grid``) and, for each, the states within it (fewest GPUs first), and each
    pair's shared lanes."""

    groups: list[tuple[int, ...]]
    lanes: list[_Lanes]
    keys: list[str]
    top: list[int]
    capacity: dict[str, np.ndarray]
    grid: np.ndarray
    within: list[list[int]]
    shared: dict[tuple[int, ...], list[SharedLane]]


def _setup(problem: Problem, fleet: Mapping[tuple[str, str], int]) -> _Setup | None:
    """The chunks' shared data, or None where the hours cannot be solved exactly."""
    groups = exact_groups(problem.opts, problem.workloads)
    if groups is None:
        return None
    capacity = _pool_capacity(problem, fleet)
    lanes = _workload_lanes(problem, fleet)
    if lanes is None:
        return None
    keys = sorted(capacity)
    top = [int(capacity[g].max()) for g in keys]
    n_states = int(np.prod([t + 1 for t in top])) if keys else 1
    if n_states**2 * len(groups) * problem.n_hours > MAX_WORK:
        return None
    grid = _grid(top)
    inside = np.all(grid[:, None, :] <= grid[None, :, :], axis=2)  # inside[s, p]
    order = np.lexsort((np.arange(n_states), grid.sum(axis=1)))  # fewest GPUs first
    within = [[int(s) for s in order if inside[s, p]] for p in range(n_states)]
    shared = {g: _shared_lanes(problem, fleet, (g[0], g[1]), keys) for g in groups if len(g) == 2}
    return _Setup(groups, lanes, keys, top, capacity, grid, within, shared)


def exact_schedule(
    problem: Problem,
    fleet: Mapping[tuple[str, str], int],
    weights: np.ndarray | None = None,
) -> tuple[float, list[HourSchedule]] | None:
    """Every hour's optimal schedule on ``fleet`` and their cost before overhead [USD] (the
    fleet's included; with ``weights``, each hour stands for that many), or None unless
    ``exact_hours`` solved every hour."""
    got = exact_hours(problem, fleet)
    if got is None or any(h is None for h in got):
        return None
    hours = [h for h in got if h is not None]
    reserved = {key: n for key, n in fleet.items() if n > 0}
    tokens = (problem.input_tokens, problem.output_tokens)
    return hours_cost(problem.opts, problem.workloads, reserved, hours, *tokens, weights), hours


def _pool_capacity(problem: Problem, fleet: Mapping[tuple[str, str], int]) -> dict[str, np.ndarray]:
    """Pool GPUs per key and hour: the fleet plus the committed (whole GPUs)."""
    H = problem.n_hours
    cap: dict[str, np.ndarray] = {
        g: np.floor(np.asarray(v, dtype=float) + 1e-9) for g, v in problem.existing_gpus.items()
    }
    for (g, _), n in fleet.items():
        if n > 0:
            cap[g] = cap.get(g, np.zeros(H)) + n
    return {g: v.astype(int) for g, v in cap.items()}


def _sources(problem: Problem, fleet: Mapping[tuple[str, str], int]) -> dict[str, list[str]]:
    """The sources (pool, on demand, spot) each deployment may draw on with ``fleet``."""
    probe = ModelInput(
        problem.workloads,
        problem.requests[:1],
        problem.input_tokens[:1],
        problem.output_tokens[:1],
        np.ones(1),
        {g: np.asarray(v)[:1] for g, v in problem.existing_gpus.items()},
        fixed_reserved=dict(fleet),
    )
    return deployment_sources(problem.opts, probe)


def _workload_lanes(problem: Problem, fleet: Mapping[tuple[str, str], int]) -> list[_Lanes] | None:
    """Each workload's lanes (None where a pool replica is not a whole number of GPUs)."""
    opts = problem.opts
    sources = _sources(problem, fleet)
    out = []
    for w in problem.workloads:
        hourly, pool = [], []
        for (ww, k), o in sorted(opts.options.items()):
            if ww != w:
                continue
            dep = opts.deployments[k]
            for s in sources.get(k, []):
                if s == "spot" and not opts.workloads[w].allow_spot:
                    continue
                if s == POOL:
                    if dep.units != int(dep.units):
                        return None
                    pool.append((k, dep.pool_key, int(dep.units), o.requests_per_hour))
                    continue
                usd, copies = hourly_replica(opts, k, s)
                hourly.append(((k, s), dep.units, usd, o.requests_per_hour, copies))
        out.append(_Lanes(hourly, pool))
    return out


def _shared_lanes(
    problem: Problem, fleet: Mapping[tuple[str, str], int], pair: tuple[int, int], keys: list[str]
) -> list[SharedLane]:
    """The lanes whose replica both workloads of ``pair`` (columns) may use, less those
    another lane beats: no dearer, no fewer capacity for either, no more pool GPUs of any
    key."""
    opts = problem.opts
    w1, w2 = (problem.workloads[j] for j in pair)
    spot = opts.workloads[w1].allow_spot and opts.workloads[w2].allow_spot
    out: list[SharedLane] = []
    for k, sources in sorted(_sources(problem, fleet).items()):
        if (w1, k) not in opts.options or (w2, k) not in opts.options:
            continue
        dep = opts.deployments[k]
        caps = (opts.options[(w1, k)].requests_per_hour, opts.options[(w2, k)].requests_per_hour)
        for s in sources:
            gpus = np.zeros(len(keys), dtype=np.int64)
            if s == POOL:
                if dep.pool_key not in keys:
                    continue
                gpus[keys.index(dep.pool_key)] = int(dep.units)
                out.append(SharedLane((k, s), caps, 0.0, gpus))
            elif s != "spot" or spot:
                usd, copies = hourly_replica(opts, k, s)
                if copies >= 1:
                    out.append(SharedLane((k, s), caps, usd, gpus))
    return undominated(out, _no_worse, _same)


def _no_worse(b: SharedLane, a: SharedLane) -> bool:
    """Whether lane ``b`` does ``a``'s job for no more."""
    return (
        b.usd <= a.usd
        and b.caps[0] >= a.caps[0]
        and b.caps[1] >= a.caps[1]
        and bool(np.all(b.pool_gpus <= a.pool_gpus))
    )


def _same(b: SharedLane, a: SharedLane) -> bool:
    """Whether lanes ``b`` and ``a`` are equal in price, capacities and pool GPUs."""
    return b.usd == a.usd and b.caps == a.caps and np.array_equal(b.pool_gpus, a.pool_gpus)


def pool_table(
    lanes: list[tuple[str, str, int, float]], key: str, top: int
) -> tuple[np.ndarray, list[dict[str, int]]]:
    """The most capacity ``u`` pool GPUs of ``key`` hold, for ``u = 0 … top``, over whole
    replicas of ``lanes`` (deployment, pool key, GPUs per replica, capacity per replica),
    and the replicas per deployment that hold it."""
    best = np.zeros(top + 1)
    made: list[dict[str, int]] = [{} for _ in range(top + 1)]
    mine = [(k, g_units, cap) for (k, g, g_units, cap) in lanes if g == key and g_units >= 1]
    for u in range(1, top + 1):
        best[u], made[u] = best[u - 1], made[u - 1]
        for k, g_units, cap in mine:
            if g_units <= u and best[u - g_units] + cap > best[u] + 1e-9:
                best[u] = best[u - g_units] + cap
                made[u] = {**made[u - g_units], k: made[u - g_units].get(k, 0) + 1}
    return best, made


@dataclass
class _Workload:
    """One workload's hourly frontier, pool tables, and per-hour need, API price and limit."""

    name: str
    lanes: _Lanes
    K: np.ndarray  # (P,) frontier capacity
    C: np.ndarray  # (P,) frontier cost [USD]
    N: np.ndarray  # (P, L) replicas per hourly lane
    pool_units: np.ndarray  # (S,) pool capacity held in each pool state
    pool_made: list[dict[str, int]]  # replicas per deployment in each pool state
    need: np.ndarray  # (H,) capacity needed
    api_usd: np.ndarray  # (H,) the hour's demand at the API [USD] (inf: no API)
    api_share: np.ndarray  # (H,) most of the demand the API may take


def _prepare(
    problem: Problem, lanes: list[_Lanes], keys: list[str], top: list[int], hours: np.ndarray
) -> list[_Workload]:
    opts = problem.opts
    states = list(np.ndindex(*[t + 1 for t in top]))
    out = []
    for j, (w, ln) in enumerate(zip(problem.workloads, lanes, strict=True)):
        wl = opts.workloads[w]
        need = capacity_needed(problem.requests[hours, j].astype(float), wl.headroom)
        k_max = float(need.max(initial=0.0))
        hourly = [(cap, usd, -1, 0, copies) for (_, _, usd, cap, copies) in ln.hourly]
        K, C, N = (
            frontier_with_replicas(hourly, k_max)
            if k_max > 0
            else (np.zeros(1), np.zeros(1), np.zeros((1, len(hourly))))
        )
        tables = [pool_table(ln.pool, g, t) for g, t in zip(keys, top, strict=True)]
        units = np.array([sum(tables[i][0][s[i]] for i in range(len(keys))) for s in states])
        made = []
        for s in states:
            m: dict[str, int] = {}
            for i in range(len(keys)):
                for k, n in tables[i][1][s[i]].items():
                    m[k] = m.get(k, 0) + n
            made.append(m)
        tin, tout = problem.input_tokens[hours, j], problem.output_tokens[hours, j]
        api = np.full(hours.size, np.inf)
        share = np.ones(hours.size)
        if w in opts.api_usd_per_m:
            api = np.asarray(api_usd_per_hour(opts.api_usd_per_m[w], tin, tout), dtype=float)
            limit = opts.api_max_tokens_per_hour.get(wl.model)
            if limit is not None:
                tokens = tin + tout
                share = np.where(
                    tokens > 0, np.minimum(1.0, limit / np.maximum(tokens, 1e-300)), 1.0
                )
        out.append(_Workload(w, ln, K, C, N, units, made, need, api, share))
    return out


def _costs(wk: _Workload) -> tuple[np.ndarray, np.ndarray]:
    """The workload's least cost in each pool state and hour (S, h), and the frontier point
    that gives it."""
    S, h = wk.pool_units.size, wk.need.size
    cost = np.full((S, h), np.inf)
    point = np.zeros((S, h), dtype=np.int64)
    per_unit = np.where(wk.need > 0, wk.api_usd / np.maximum(wk.need, 1e-300), 0.0)
    tol = COVER_TOL * np.maximum(wk.need, 1.0)
    for v in np.unique(wk.pool_units):
        short = np.maximum(wk.need[None, :] - v - wk.K[:, None], 0.0)  # (P, h)
        api_ok = short <= wk.api_share[None, :] * wk.need[None, :] + tol
        with np.errstate(invalid="ignore"):  # 0 × inf where there is no API: not taken
            api = np.where(short > tol, short * per_unit[None, :], 0.0)
        total = np.where(api_ok & np.isfinite(api), wk.C[:, None] + api, np.inf)
        j = np.argmin(total, axis=0)
        rows = wk.pool_units == v
        cost[rows] = total[j, np.arange(h)]
        point[rows] = j
    cost[:, wk.need <= 0] = 0.0
    point[:, wk.need <= 0] = 0
    return cost, point


def _chunk_hours(problem: Problem, setup: _Setup) -> int:
    """Hours solved together: ``CHUNK_HOURS``, fewer where the pairs' tables would take more
    than ``MAX_PAIR_WORK`` in a chunk (the callers' deadlines bound the whole)."""
    if not setup.shared:
        return CHUNK_HOURS
    hours = np.arange(problem.n_hours)
    work = _prepare(problem, setup.lanes, setup.keys, setup.top, hours)
    per_hour = 0.0
    for pair, lanes in setup.shared.items():
        sides = (_side(work[pair[0]]), _side(work[pair[1]]))
        per_hour += pair_work(setup.grid, sides, len(lanes), 1)
    return int(min(CHUNK_HOURS, max(1, MAX_PAIR_WORK // max(per_hour, 1.0))))


def _grid(top: list[int]) -> np.ndarray:
    """Every pool state (GPUs per key, each key at most its ``top``), one row each."""
    states = list(np.ndindex(*[t + 1 for t in top]))
    return np.array(states, dtype=np.int64).reshape(len(states), len(top))


def _side(wk: _Workload) -> PairSide:
    """A workload as one side of a pair: its need, its cover, its pool capacity per state."""
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.where(wk.need > 0, wk.api_usd / np.maximum(wk.need, 1e-300), 0.0)
    return PairSide(wk.need, Cover(wk.K, wk.C, wk.N, unit), wk.pool_units)


@dataclass
class _Single:
    """A model with one workload: its least cost per pool state and hour, and the frontier
    point that gives it."""

    wk: _Workload
    cost: np.ndarray
    point: np.ndarray

    def place(self, hs: HourSchedule, s: int, i: int, within: list[list[int]]) -> None:
        """The workload's replicas and API share in hour ``i`` with pool state ``s``."""
        wk = self.wk
        if wk.need[i] > 0:
            j = int(self.point[s, i])
            _place(hs, wk, s, i, within, float(wk.K[j]), wk.N[j], float(wk.need[i]))


@dataclass
class _Pair:
    """A model with two workloads: their table (``pair_hours``) and, once the pool's split
    is known (``settle``), each hour's shared lane, its share, and each workload's pool
    state and frontier point."""

    wk: tuple[_Workload, _Workload]
    sides: tuple[PairSide, PairSide]
    lanes: list[SharedLane]
    table: PairTable
    settled: dict[str, np.ndarray] | None = None

    @property
    def cost(self) -> np.ndarray:
        return self.table.cost

    def settle(self, state: np.ndarray) -> None:
        """Each hour's choices at the pair's pool state ``state`` (h,), in bulk."""
        t, cols = self.table, np.arange(state.size)
        lane, theta = t.lane[state, cols], t.theta[state, cols]
        caps = np.array([ln.caps for ln in self.lanes] + [(0.0, 0.0)])  # row -1: none
        out = {"lane": lane, "theta": theta}
        for c, (side, key) in enumerate(zip(self.sides, ("state1", "state2"), strict=True)):
            q = getattr(t, key)[state, cols]
            got = (theta if c == 0 else 1.0 - theta) * caps[lane, c]
            x = (side.need - side.pool_units[q]) - got
            out[f"q{c}"], out[f"got{c}"] = q, got
            out[f"j{c}"] = side.cover(x[:, None])[1][:, 0]
        self.settled = out

    def place(self, hs: HourSchedule, s: int, i: int, within: list[list[int]]) -> None:
        """Both workloads' replicas, the shared one and the API shares in hour ``i``."""
        got = self.settled
        assert got is not None, "settle() first"
        li, theta = int(got["lane"][i]), float(got["theta"][i])
        for c, (side, wk) in enumerate(zip(self.sides, self.wk, strict=True)):
            if wk.need[i] > 0:
                j, q = int(got[f"j{c}"][i]), int(got[f"q{c}"][i])
                rest = float(wk.need[i]) - float(got[f"got{c}"][i])
                _place(hs, wk, q, i, within, float(side.cover.K[j]), side.cover.U[j], rest)
        if li >= 0:
            key = self.lanes[li].key
            hs.replicas[key] = hs.replicas.get(key, 0) + 1
            for wk, share in zip(self.wk, (theta, 1.0 - theta), strict=True):
                if share > 0:
                    sk = (wk.name, *key)
                    hs.shares[sk] = hs.shares.get(sk, 0.0) + share


def _place(
    hs: HourSchedule,
    wk: _Workload,
    s: int,
    i: int,
    within: list[list[int]],
    k_point: float,
    n_point: np.ndarray,
    rest: float,
) -> None:
    """A workload's own replicas in hour ``i``: those of a frontier point (capacity
    ``k_point``, replicas per hourly lane ``n_point``), the fewest pool GPUs within state
    ``s`` that still hold what the pool covers, and the API for what is left of ``rest``
    (the capacity it needs beyond any shared replica)."""
    need = float(wk.need[i])
    tol = COVER_TOL * max(need, 1.0)
    after = max(0.0, rest - k_point)
    held = float(wk.pool_units[s])
    short = max(0.0, after - held)
    q = next(t for t in within[s] if wk.pool_units[t] >= min(held, after) - tol)
    used = [((k, POOL), n) for k, n in wk.pool_made[q].items()]
    used += [(wk.lanes.hourly[li][0], int(n + 0.5)) for li, n in enumerate(n_point) if n > 0]
    for (k, src), n in used:
        hs.replicas[(k, src)] = hs.replicas.get((k, src), 0) + n
        sk = (wk.name, k, src)
        hs.shares[sk] = hs.shares.get(sk, 0.0) + float(n)
    if short > tol:
        hs.api_fraction[wk.name] = min(1.0, short / need)


def _items(setup: _Setup, work: list[_Workload]) -> list[_Single | _Pair]:
    """Each model's part of the hours: a workload alone, or a pair with its table."""
    out: list[_Single | _Pair] = []
    top = np.array(setup.top, dtype=np.int64)
    for g in setup.groups:
        if len(g) == 1:
            out.append(_Single(work[g[0]], *_costs(work[g[0]])))
            continue
        wk = (work[g[0]], work[g[1]])
        sides = (_side(wk[0]), _side(wk[1]))
        lanes = setup.shared[g]
        out.append(_Pair(wk, sides, lanes, pair_table(setup.grid, top, sides, lanes)))
    return out


def _solve_chunk(problem: Problem, setup: _Setup, hours: np.ndarray) -> list[HourSchedule | None]:
    """The hours ``hours``: each model's cost per pool state, the split of the pool
    (dynamic programme over models), then each hour's schedule."""
    keys, top, grid = setup.keys, setup.top, setup.grid
    dims = tuple(t + 1 for t in top)
    h = hours.size
    items = _items(setup, _prepare(problem, setup.lanes, keys, top, hours))
    best = np.zeros((*dims, h))  # least cost of the models so far with at most s GPUs
    choices = []
    for item in items:
        new = np.full((*dims, h), np.inf)
        choice = np.zeros((*dims, h), dtype=np.int32)
        for pi in range(grid.shape[0]):
            p = grid[pi]
            src = tuple(slice(0, d - q) for d, q in zip(dims, p, strict=True))
            dst = tuple(slice(q, None) for q in p)
            cand = best[src] + item.cost[pi]
            better = cand < new[dst] - 1e-9
            new[dst] = np.where(better, cand, new[dst])
            choice[dst] = np.where(better, pi, choice[dst])
        best = new
        choices.append(choice)
    cols = np.arange(h)
    at = tuple(np.minimum(setup.capacity[g][hours], t) for g, t in zip(keys, top, strict=True))
    bad = ~np.isfinite(best[(*at, cols)])
    # walk back: each model's pool state in each hour
    state = np.array(at, dtype=np.int64).reshape(len(keys), h)
    split = [np.zeros(h, dtype=np.int64) for _ in items]
    for j in range(len(items) - 1, -1, -1):
        p = choices[j][(*state, cols)] if keys else np.zeros(h, dtype=np.int64)
        split[j] = p
        state = state - grid[p].T
    for item, p in zip(items, split, strict=True):
        if isinstance(item, _Pair):
            item.settle(p)
    opts, within = problem.opts, setup.within
    return [None if bad[i] else _hour(opts, items, split, within, i) for i in range(h)]


def _hour(
    opts: OptionSet,
    items: list[_Single | _Pair],
    split: list[np.ndarray],
    within: list[list[int]],
    i: int,
) -> HourSchedule | None:
    """Hour ``i``'s schedule from each model's pool state, with no more pool replicas than
    the hour needs; None where an offer's cap is exceeded."""
    hs = HourSchedule()
    for item, p in zip(items, split, strict=True):
        item.place(hs, int(p[i]), i, within)
    return hs if _within_caps(opts, hs) else None


def _within_caps(opts: OptionSet, hs: HourSchedule) -> bool:
    """Whether the hour's hourly replicas keep every offer's cap."""
    used: dict[tuple[str, str], float] = {}
    for (k, s), n in hs.replicas.items():
        if s != POOL:
            dep = opts.deployments[k]
            used[(dep.pool_key, s)] = used.get((dep.pool_key, s), 0.0) + n * dep.units
    return all(n <= opts.max_gpus.get(key, math.inf) + 1e-9 for key, n in used.items())
