r"""Every hour's optimal schedule given the reserved fleet, in bulk, where the hours'
problem allows it.

Given the fleet, hours share nothing, and each hour is a small integer problem: whole
replicas of each deployment on the pool, on demand or spot, and the API for what they leave.
Where no deployment serves two of the hour's workloads (each model one workload) and no
limit on GPU types applies, the hour's problem splits into one problem per workload, joined
only by the pool's GPUs per type and by the hourly offers' caps. Relaxing the caps across
deployments (each lane keeps its own), it is solved exactly for all hours at once:

* each workload's hourly lanes (on demand, spot) give one Pareto frontier of (capacity, cost)
  over whole replicas (``pareto_frontier``, with the replicas of every point);
* its pool lanes give, per pool key ``g`` and every count ``u`` of pool GPUs, the most
  capacity ``u`` GPUs hold (a small knapsack over whole replicas);
* with ``p`` pool GPUs per key, the workload's least cost in an hour is the cheapest frontier
  point plus the API for what the pool and that point leave (within its rate limit):
  ``f_w(p)``;
* the hour's optimum is ``min Σ_w f_w(p_w)`` over splits ``Σ_w p_w ≤`` the pool's GPUs, a
  dynamic programme over the split.

Where the relaxation's optimum keeps every offer's cap it is the hour's optimum; an hour where
it does not is returned as None (its caller solves it as before). Numbers as the MILP has
them: a replica covers ``capacity`` of ``demand × (1 + headroom)``
(``workloads.capacity_needed``); the API's cost is its share of the hour's tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from advisor.milp import POOL, ModelInput, deployment_sources
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve.frontier import frontier_with_replicas, hourly_replica
from advisor.solve.problem import Problem
from advisor.solve.schedule import HourSchedule, hours_cost
from advisor.workloads import capacity_needed

#: Most (pool states)² × workloads × hours the dynamic programme takes on (beyond: None).
MAX_WORK = 4e8
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


def splits_by_workload(opts: OptionSet, workloads: tuple[str, ...]) -> bool:
    """Whether an hour's problem splits by workload: no model serves two of ``workloads``
    and no limit on GPU types joins them."""
    models = [opts.workloads[w].model for w in workloads]
    return len(set(models)) == len(models) and opts.max_gpu_types is None


def exact_hours(
    problem: Problem, fleet: Mapping[tuple[str, str], int]
) -> list[HourSchedule | None] | None:
    """Each hour's optimal schedule on ``fleet`` (reserved GPUs per (pool key, tier)) beside
    the committed GPUs; None for an hour where an offer's cap binds across deployments, and
    None for all where the problem does not split by workload (module docstring) or its
    pool is too large for the dynamic programme."""
    opts, workloads = problem.opts, problem.workloads
    if not splits_by_workload(opts, workloads):
        return None
    H = problem.n_hours
    capacity = _pool_capacity(problem, fleet)
    lanes = _workload_lanes(problem, fleet)
    if lanes is None:
        return None
    keys = sorted(capacity)
    top = [int(capacity[g].max()) for g in keys]
    n_states = int(np.prod([t + 1 for t in top])) if keys else 1
    if n_states**2 * len(workloads) * H > MAX_WORK:
        return None
    out: list[HourSchedule | None] = []
    for lo in range(0, H, CHUNK_HOURS):
        hours = np.arange(lo, min(H, lo + CHUNK_HOURS))
        out += _solve_chunk(problem, lanes, keys, top, capacity, hours)
    return out


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


def _workload_lanes(problem: Problem, fleet: Mapping[tuple[str, str], int]) -> list[_Lanes] | None:
    """Each workload's lanes (None where a pool replica is not a whole number of GPUs)."""
    opts = problem.opts
    probe = ModelInput(
        problem.workloads,
        problem.requests[:1],
        problem.input_tokens[:1],
        problem.output_tokens[:1],
        np.ones(1),
        {g: np.asarray(v)[:1] for g, v in problem.existing_gpus.items()},
        fixed_reserved=dict(fleet),
    )
    sources = deployment_sources(opts, probe)
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


def _solve_chunk(
    problem: Problem,
    lanes: list[_Lanes],
    keys: list[str],
    top: list[int],
    capacity: Mapping[str, np.ndarray],
    hours: np.ndarray,
) -> list[HourSchedule | None]:
    """The hours ``hours``: each workload's cost per pool state, the split of the pool
    (dynamic programme over workloads), then each hour's schedule."""
    dims = tuple(t + 1 for t in top)
    states = list(np.ndindex(*dims))
    h = hours.size
    work = _prepare(problem, lanes, keys, top, hours)
    best = np.zeros((*dims, h))  # least cost of the workloads so far with at most s GPUs
    choices = []
    points = []
    for wk in work:
        cost, point = _costs(wk)
        points.append(point)
        new = np.full((*dims, h), np.inf)
        choice = np.zeros((*dims, h), dtype=np.int32)
        for pi, p in enumerate(states):
            src = tuple(slice(0, d - q) for d, q in zip(dims, p, strict=True))
            dst = tuple(slice(q, None) for q in p)
            cand = best[src] + cost[pi]
            better = cand < new[dst] - 1e-9
            new[dst] = np.where(better, cand, new[dst])
            choice[dst] = np.where(better, pi, choice[dst])
        best = new
        choices.append(choice)
    cols = np.arange(h)
    at = tuple(np.minimum(capacity[g][hours], t) for g, t in zip(keys, top, strict=True))
    bad = ~np.isfinite(best[(*at, cols)])
    # walk back: each workload's pool state in each hour
    state = np.array(at, dtype=np.int64).reshape(len(keys), h)
    grid = np.array(states, dtype=np.int64).reshape(len(states), len(keys))
    split = [np.zeros(h, dtype=np.int64) for _ in work]
    for j in range(len(work) - 1, -1, -1):
        p = choices[j][(*state, cols)] if keys else np.zeros(h, dtype=np.int64)
        split[j] = p
        state = state - grid[p].T
    # the states within each state, fewest pool GPUs first (``_hour`` takes the first that
    # holds enough)
    within = [
        sorted(
            (s for s in range(len(states)) if np.all(grid[s] <= grid[p])),
            key=lambda s: (int(grid[s].sum()), s),
        )
        for p in range(len(states))
    ]
    return [
        None if bad[i] else _hour(problem.opts, work, points, split, within, i) for i in range(h)
    ]


def _hour(
    opts: OptionSet,
    work: list[_Workload],
    points: list[np.ndarray],
    split: list[np.ndarray],
    within: list[list[int]],
    i: int,
) -> HourSchedule | None:
    """Hour ``i``'s schedule from each workload's pool state and frontier point, with no
    more pool replicas than the hour needs; None where an offer's cap is exceeded."""
    hs = HourSchedule()
    for wk, point, p in zip(work, points, split, strict=True):
        need = float(wk.need[i])
        if need <= 0:
            continue
        j = int(point[p[i], i])
        rest = max(0.0, need - float(wk.K[j]))
        held = float(wk.pool_units[p[i]])
        short = max(0.0, rest - held)
        tol = COVER_TOL * max(need, 1.0)
        # the fewest pool GPUs within the state that still hold what the pool covers
        q = next(s for s in within[p[i]] if wk.pool_units[s] >= min(held, rest) - tol)
        used = [((k, POOL), n) for k, n in wk.pool_made[q].items()]
        used += [(wk.lanes.hourly[li][0], int(n + 0.5)) for li, n in enumerate(wk.N[j]) if n > 0]
        for (k, s), n in used:
            # one workload per deployment: it uses every replica of its lanes
            hs.replicas[(k, s)] = hs.replicas.get((k, s), 0) + n
            hs.shares[(wk.name, k, s)] = float(hs.replicas[(k, s)])
        if short > tol:
            hs.api_fraction[wk.name] = min(1.0, short / need)
    return hs if _within_caps(opts, hs) else None


def _within_caps(opts: OptionSet, hs: HourSchedule) -> bool:
    """Whether the hour's hourly replicas keep every offer's cap."""
    used: dict[tuple[str, str], float] = {}
    for (k, s), n in hs.replicas.items():
        if s != POOL:
            dep = opts.deployments[k]
            used[(dep.pool_key, s)] = used.get((dep.pool_key, s), 0.0) + n * dep.units
    return all(n <= opts.max_gpus.get(key, math.inf) + 1e-9 for key, n in used.items())
