"""Solve the fleet problem: run CBC or HiGHS, aggregate time, recover every hour, bound the gap.

Pipeline (``solve_fleet``):

1. **Aggregate.** Hours are exchangeable except through the reserved pool. Identical hours
   (same demand and existing fleet) are merged exactly, with weights; with at most
   ``AUTO_EXACT_LIMIT`` distinct hours the MILP is solved on them and its own gap is the
   plan's gap. Beyond that, hours are clustered into representative hours (each workload's
   peak hour a cluster of its own) and steps 2-4 follow.
2. **Choose the reserved fleet.** Candidate fleets come from the cluster-maximum model and
   the cluster-mean model (hourly replicas relaxed), those fleets scaled up by a quarter and
   a half (the relaxed models value the pool too little) and, where it is small, the integer
   model of the clusters (time-limited). Each fleet's cost is estimated on one real hour per
   cluster (the hour nearest the cluster's mean, weighted by the cluster's hours; whole
   replicas solved given the fleet), then a local search moves one GPU at a time (one more,
   one fewer, one to another tier, one swapped for another type) while that lowers the
   estimate.
3. **Recover every real hour.** Given a fleet the hours are independent: whole replicas are
   solved per representative hour (at its cluster's maximum) in small chunks (one hour at a
   time where workloads share replicas), started from the rounded fractional schedule, and
   each real hour keeps its point's replicas, trimmed to its own demand. Every distinct hour
   is its own point where the time allows; else, with HiGHS (in-process, so small solves are
   cheap), every real hour is re-solved on its representative's lanes
   (``_refine_hours``), and with CBC finer representative hours are used.
4. **Bound.** ``advisor.lagrange``: the pool rows priced per cluster, one exact integer
   problem per hour and model; and the cluster-mean model with hourly replicas relaxed
   (Jensen). The larger is a valid lower bound on the full hourly problem, and ``gap = (plan
   cost − bound) / plan cost`` is what the plan reports; the aggregate model's own gap never
   is.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pulp

from advisor.errors import InfeasibleError, SolverError
from advisor.lagrange import LagrangeResult, lagrangian_bound
from advisor.milp import (
    POOL,
    FleetModel,
    ModelInput,
    build_model,
    deployment_sources,
    lp_name,
    value,
)
from advisor.options import OptionSet, api_usd_per_hour

#: With at most this many distinct hours, solve the hourly problem exactly.
AUTO_EXACT_LIMIT = 400
#: Representative hours used by ``aggregate="auto"`` beyond that.
AUTO_CLUSTERS = 160
SOLVERS = ("cbc", "highs")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SolverSettings:
    """How to run the MILP solver."""

    name: str = "cbc"
    time_limit_s: float | None = None
    gap: float = 1e-3
    threads: int = 1
    seed: int = 7


@dataclass
class SolverResult:
    """What one solver run reported."""

    name: str
    status: str  # optimal | feasible | infeasible | unbounded | not_solved
    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None
    time_limited: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "time_limited": self.time_limited,
        }


def available_solvers() -> list[str]:
    """Solver back-ends usable here."""
    out = []
    if pulp.PULP_CBC_CMD().available():
        out.append("cbc")
    if pulp.HiGHS().available():
        out.append("highs")
    return out


def _check_solver(name: str) -> None:
    if name not in SOLVERS:
        raise SolverError(f"Unknown solver '{name}'. Use --solver cbc or --solver highs.")
    if name not in available_solvers():
        if name == "highs":
            raise SolverError(
                "The HiGHS back-end is not installed. Install it with "
                "`pip install highspy` (or `pip install 'advisor[highs]'`), or use --solver cbc."
            )
        raise SolverError(
            "The CBC solver binary was not found. PuLP ships CBC for common platforms; "
            "reinstall PuLP (`pip install --force-reinstall pulp`) or install coinor-cbc "
            "(`apt-get install coinor-cbc`), or use --solver highs."
        )


_CBC_PROGRESS = re.compile(
    r"Cbc0010I After (\d+) nodes, \d+ on tree, ([-\d.e+]+) best solution, "
    r"best possible ([-\d.e+]+) \(([\d.]+) seconds\)"
)


def run_solver(
    fm: FleetModel,
    settings: SolverSettings,
    progress: Progress | None = None,
    phase: str = "",
    opts: OptionSet | None = None,
    warm: StartSolution | None = None,
) -> SolverResult:
    """Solve a built model; never raises on a non-optimal status (the caller decides).

    With ``opts`` and CBC, the LP relaxation rounded up gives CBC a feasible start (CBC
    otherwise can spend minutes without an incumbent on these models), its optimum a valid
    bound, and a fallback plan should CBC stop without anything better. A ``warm`` start
    given by the caller takes its place (and is the fallback with HiGHS too).
    """
    _check_solver(settings.name)
    start = time.perf_counter()
    if warm is not None:
        if settings.name == "cbc":
            warm.apply()
    elif settings.name == "cbc" and opts is not None and fm.n_integer > 0:
        warm = lp_rounding_start(fm, opts)
        if warm is not None:
            warm.apply()
            if progress is not None:
                progress(
                    f"{phase}: LP bound {warm.lp_objective:,.2f}, rounded start "
                    f"{warm.objective:,.2f}"
                )
    if settings.name == "cbc":
        res = _run_cbc(fm, settings, progress, phase, start, warm is not None)
    else:
        res = _run_highs(fm, settings, start)
    # the model's objective leaves out a constant (the self-hosting overhead): add it back
    if res.objective is not None:
        res.objective += fm.constant_usd
    if res.bound is not None:
        res.bound += fm.constant_usd
    if warm is not None:
        better = res.objective is not None and res.objective <= warm.objective + 1e-9
        if not better and res.status in ("optimal", "feasible", "not_solved"):
            for var, v in warm.values.items():
                var.varValue = v
            res.objective = warm.objective
            res.status = "feasible"
        res.bound = warm.lp_objective if res.bound is None else max(res.bound, warm.lp_objective)
        if res.bound > res.objective:
            res.bound = res.objective
    res.gap = _gap(res.objective, res.bound)
    return res


@dataclass
class StartSolution:
    """A feasible integer solution from rounding the LP relaxation up."""

    lp_objective: float  # a valid lower bound [USD], the model's constant included
    objective: float  # the start's cost [USD]
    values: dict[pulp.LpVariable, float]

    def apply(self) -> None:
        for var, v in self.values.items():
            var.setInitialValue(v)


def lp_rounding_start(fm: FleetModel, opts: OptionSet) -> StartSolution | None:
    """Solve the LP relaxation and round it up into a feasible integer solution.

    Replicas are rounded up (shares and API fractions keep their LP values, so coverage
    holds) and each GPU type's reserved pool is raised to its largest hourly pool use, on its
    cheapest pool tier. Returns None where no start is found (an availability cap in the way,
    or the LP not solved). The LP optimum is also a valid lower bound.
    """
    ints = [v for v in fm.prob.variables() if v.cat == pulp.LpInteger]
    for v in ints:
        v.cat = pulp.LpContinuous
    try:
        fm.prob.solve(pulp.PULP_CBC_CMD(msg=False))
    finally:
        for v in ints:
            v.cat = pulp.LpInteger
    if fm.prob.status != pulp.LpStatusOptimal:
        return None
    lp_obj = float(pulp.value(fm.prob.objective) or 0.0) + fm.constant_usd
    # the LP solution can sit a hair outside a bound (-1e-12); a start must be within them
    start = {v: _within_bounds(v, value(v)) for v in fm.prob.variables()}
    pool_use: dict[tuple[str, int], float] = {}
    hourly_use: dict[tuple[str, str, int], float] = {}
    for (k, s, t), var in fm.x.items():
        n = float(math.ceil(value(var) - 1e-7))
        start[var] = n
        dep = opts.deployments[k]
        if s == POOL:
            pool_use[(dep.gpu, t)] = pool_use.get((dep.gpu, t), 0.0) + n * dep.tp
        else:
            hourly_use[(dep.gpu, s, t)] = hourly_use.get((dep.gpu, s, t), 0.0) + n * dep.tp
    if any(u > opts.max_gpus.get((g, s), math.inf) for (g, s, _), u in hourly_use.items()):
        return None
    need: dict[str, float] = {}
    for (g, t), used in pool_use.items():
        ex = fm.inp.existing_gpus.get(g)
        need[g] = max(need.get(g, 0.0), used - (float(ex[t]) if ex is not None else 0.0))
    for g in {g for g, _ in fm.R}:
        vars_g = {tier: v for (gg, tier), v in fm.R.items() if gg == g}
        n = float(max(0.0, math.ceil(need.get(g, 0.0) - 1e-9)))
        fixed = {t: v for t, v in vars_g.items() if v.lowBound == v.upBound}
        if fixed:
            for v in fixed.values():
                start[v] = float(v.lowBound or 0.0)
            if sum(start[v] for v in fixed.values()) < n:
                return None
            continue
        for v in vars_g.values():
            start[v] = 0.0
        tier = min(vars_g, key=lambda t: opts.gpu_usd_per_hour[(g, t)])
        if n > opts.max_gpus.get((g, tier), math.inf):
            return None
        start[vars_g[tier]] = n
    if any(g not in {gg for gg, _ in fm.R} and n > 1e-9 for g, n in need.items()):
        return None
    cost = sum(c * start[v] for v, c in fm.prob.objective.items()) + fm.constant_usd
    return StartSolution(lp_obj, float(cost), start)


def _within_bounds(var: pulp.LpVariable, v: float) -> float:
    if var.lowBound is not None:
        v = max(v, float(var.lowBound))
    if var.upBound is not None:
        v = min(v, float(var.upBound))
    return v


def _run_cbc(
    fm: FleetModel,
    settings: SolverSettings,
    progress: Progress | None,
    phase: str,
    start: float,
    warm: bool = False,
) -> SolverResult:
    tmp = tempfile.mkdtemp(prefix="advisor-cbc-")
    log_path = os.path.join(tmp, "cbc.log")
    solver = pulp.PULP_CBC_CMD(
        msg=False,
        timeLimit=settings.time_limit_s,
        gapRel=settings.gap,
        threads=settings.threads,
        logPath=log_path,
        options=[f"randomCbcSeed {settings.seed}", f"randomSeed {settings.seed}"],
        keepFiles=False,
        warmStart=warm,
    )
    stop = threading.Event()
    watcher = None
    if progress is not None:
        watcher = threading.Thread(
            target=_watch_cbc, args=(log_path, stop, progress, phase), daemon=True
        )
        watcher.start()
    try:
        fm.prob.solve(solver)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"CBC failed: {exc}. Try --solver highs.") from None
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=1)
    seconds = time.perf_counter() - start
    log = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
    shutil.rmtree(tmp, ignore_errors=True)
    return _cbc_result(fm, log, seconds)


def _watch_cbc(log_path: str, stop: threading.Event, progress: Progress, phase: str) -> None:
    last = ""
    while not stop.wait(2.0):
        try:
            text = Path(log_path).read_text(errors="replace")
        except OSError:
            continue
        found = _CBC_PROGRESS.findall(text)
        if found and found[-1] != last:
            last = found[-1]
            nodes, best, bound, secs = last
            progress(
                f"{phase}: {float(secs):.0f} s, {nodes} nodes, incumbent {float(best):,.0f}, "
                f"bound {float(bound):,.0f}"
            )


def _num(pattern: str, text: str) -> float | None:
    m = re.findall(pattern, text)
    if not m:
        return None
    try:
        return float(m[-1])
    except ValueError:
        return None


def _cbc_result(fm: FleetModel, log: str, seconds: float) -> SolverResult:
    status = pulp.LpStatus[fm.prob.status]
    sol = fm.prob.sol_status
    objective = pulp.value(fm.prob.objective) if sol in (1, 2) else None
    time_limited = "Stopped on time" in log or "stopped on time" in log.lower()
    if "infeasible" in log.lower() and sol not in (1, 2):
        return SolverResult("cbc", "infeasible", seconds, None, None, None)
    if sol == pulp.LpSolutionOptimal and not time_limited:
        bound = _num(r"Lower bound:\s+([-\d.e+]+)", log)
        if bound is None:
            bound = objective
        return SolverResult("cbc", "optimal", seconds, objective, bound, _gap(objective, bound))
    if sol in (pulp.LpSolutionIntegerFeasible, pulp.LpSolutionOptimal):
        bound = _num(r"Lower bound:\s+([-\d.e+]+)", log)
        if bound is None:
            found = _CBC_PROGRESS.findall(log)
            bound = float(found[-1][2]) if found else None
        return SolverResult(
            "cbc", "feasible", seconds, objective, bound, _gap(objective, bound), time_limited
        )
    if status == "Infeasible":
        return SolverResult("cbc", "infeasible", seconds, None, None, None)
    if status == "Unbounded":
        return SolverResult("cbc", "unbounded", seconds, None, None, None)
    return SolverResult("cbc", "not_solved", seconds, None, None, None, time_limited)


def _run_highs(fm: FleetModel, settings: SolverSettings, start: float) -> SolverResult:
    solver = pulp.HiGHS(
        msg=False,
        timeLimit=settings.time_limit_s,
        gapRel=settings.gap,
        threads=settings.threads,
        random_seed=settings.seed,
    )
    try:
        fm.prob.solve(solver)
    except Exception as exc:  # highspy raises plain exceptions
        raise SolverError(f"HiGHS failed: {exc}. Try --solver cbc.") from None
    seconds = time.perf_counter() - start
    h = fm.prob.solverModel
    info = h.getInfo()
    model_status = h.modelStatusToString(h.getModelStatus())
    sol = fm.prob.sol_status
    objective = pulp.value(fm.prob.objective) if sol in (1, 2) else None
    bound = None
    if fm.n_integer > 0:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    elif objective is not None:
        bound = objective
    limited = "limit" in model_status.lower()
    if sol in (1, 2) and objective is not None:
        status = "optimal" if (sol == 1 and not limited) else "feasible"
        return SolverResult(
            "highs", status, seconds, objective, bound, _gap(objective, bound), limited
        )
    if "infeasible" in model_status.lower():
        return SolverResult("highs", "infeasible", seconds, None, None, None)
    if "unbounded" in model_status.lower():
        return SolverResult("highs", "unbounded", seconds, None, None, None)
    return SolverResult("highs", "not_solved", seconds, None, None, None, limited)


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    if abs(objective) < 1e-9:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))


# --- time aggregation -----------------------------------------------------------------------


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
    key = np.concatenate(
        [requests, input_tokens, output_tokens] + ([existing] if existing is not None else []),
        axis=1,
    )
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
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


# --- the schedule -----------------------------------------------------------------------


@dataclass
class HourSchedule:
    """One hour's decisions: integer replicas, per-workload shares, API fraction."""

    replicas: dict[tuple[str, str], int] = field(default_factory=dict)  # (k, source)
    shares: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (w, k, source)
    api_fraction: dict[str, float] = field(default_factory=dict)


@dataclass
class FleetSolution:
    """The solved fleet: reserved GPUs, a schedule for every real hour, solver reports."""

    reserved: dict[tuple[str, str], int]
    hours: list[HourSchedule]
    solver: SolverResult
    bound_solver: SolverResult | None
    lower_bound: float | None
    aggregation: dict[str, Any]
    build_seconds: float
    warnings: list[str] = field(default_factory=list)
    api_only: bool = False


def _read_points(fm: FleetModel, opts: OptionSet) -> list[HourSchedule]:
    T = fm.inp.n_points
    out = [HourSchedule() for _ in range(T)]
    for (k, s, t), var in fm.x.items():
        v = value(var)
        if v > 1e-6:
            out[t].replicas[(k, s)] = math.ceil(round(v, 6))
    for (k, s), users in fm.eligible.items():
        for t in range(T):
            if len(users) == 1:
                v = value(fm.x[(k, s, t)])
                if v > 1e-6:
                    out[t].shares[(users[0], k, s)] = round(v, 9)
            else:
                for w in users:
                    v = value(fm.y[(w, k, s, t)])
                    if v > 1e-9:
                        out[t].shares[(w, k, s)] = v
    for (w, t), var in fm.f.items():
        v = value(var)
        if v > 1e-9:
            out[t].api_fraction[w] = min(1.0, v)
    return out


def trim_hour(
    sched: HourSchedule,
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    pool_gpus: Mapping[str, float] | None = None,
) -> HourSchedule:
    """Fit a schedule sized for a higher demand to one hour's own demand.

    Keeps every replica the schedule had (so the reserved pool is respected) but gives back
    what this hour does not need: surplus API share first, then hourly replicas from the most
    expensive per unit of capacity; a last, partly used hourly replica is swapped for the API
    where that is cheaper.
    """
    shares = dict(sched.shares)
    api: dict[str, float] = {}
    widx = {w: i for i, w in enumerate(workloads)}
    by_workload: dict[str, list[tuple[str, str, str]]] = {}
    for key in shares:
        by_workload.setdefault(key[0], []).append(key)
    for i, w in enumerate(workloads):
        d = float(requests[i])
        wl = opts.workloads[w]
        lanes = by_workload.get(w, [])
        if d <= 0:
            for key in lanes:
                del shares[key]
            continue
        cover = {
            key: shares[key] * opts.options[(w, key[1])].requests_per_hour / (1 + wl.headroom)
            for key in lanes
        }
        surplus = sum(cover.values()) - d

        # drop surplus from the most expensive lanes (pool last: it is already paid for)
        def lane_cost(key: tuple[str, str, str]) -> float:
            w, k, s = key
            if s == POOL:
                return -1.0
            dep = opts.deployments[k]
            cap = opts.options[(w, k)].requests_per_hour
            return opts.gpu_usd_per_hour[(dep.gpu, s)] * dep.tp / cap

        for key in sorted(lanes, key=lane_cost, reverse=True):
            if surplus <= 1e-9:
                break
            cut = min(cover[key], surplus)
            frac = cut / cover[key] if cover[key] > 0 else 1.0
            shares[key] *= 1.0 - frac
            surplus -= cut
            if shares[key] <= 1e-12:
                del shares[key]
        if surplus < -1e-9:
            api[w] = min(1.0, -surplus / d)
    replicas = _replicas_from_shares(shares)
    if pool_gpus is not None:
        _repair_pool(shares, replicas, api, opts, workloads, requests, pool_gpus)
    # swap a last, partly used hourly replica for the API where cheaper
    by_lane: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for key in shares:
        by_lane.setdefault((key[1], key[2]), []).append(key)
    for (k, s), n in sorted(replicas.items()):
        if s == POOL:
            continue
        users = [key for key in by_lane.get((k, s), []) if key in shares]
        used = sum(shares[key] for key in users)
        spare = n - used
        if spare <= 1e-9 or n == 0:
            continue
        last = 1.0 - spare  # replica-equivalents on the last replica
        if not all(key[0] in opts.api_usd_per_m for key in users):
            continue
        dep = opts.deployments[k]
        replica_cost = opts.gpu_usd_per_hour[(dep.gpu, s)] * dep.tp
        moved: dict[str, float] = {}
        api_cost = 0.0
        remaining = last
        for key in sorted(users, key=lambda key: shares[key]):
            take = min(shares[key], remaining)
            if take <= 0:
                continue
            w = key[0]
            i = widx[w]
            wl = opts.workloads[w]
            req = take * opts.options[(w, k)].requests_per_hour / (1 + wl.headroom)
            frac = req / requests[i]
            api_cost += (
                float(api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[i], output_tokens[i]))
                * frac
            )
            moved[w] = moved.get(w, 0.0) + frac
            remaining -= take
        if api_cost < replica_cost and remaining <= 1e-9:
            left = last
            for key in sorted(users, key=lambda key: shares[key]):
                take = min(shares[key], left)
                shares[key] -= take
                left -= take
                if shares[key] <= 1e-12:
                    del shares[key]
            for w, frac in moved.items():
                api[w] = min(1.0, api.get(w, 0.0) + frac)
            replicas[(k, s)] = n - 1
            if replicas[(k, s)] == 0:
                del replicas[(k, s)]
    # pool replicas keep their count only where used
    return HourSchedule(
        replicas={key: n for key, n in replicas.items() if n > 0}, shares=shares, api_fraction=api
    )


def _repair_pool(
    shares: dict[tuple[str, str, str], float],
    replicas: dict[tuple[str, str], int],
    api: dict[str, float],
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    pool_gpus: Mapping[str, float],
) -> None:
    """Fit rounded-up pool replicas back into the reserved GPUs.

    Schedules from a model with fractional replicas round each pool lane up, which can ask
    for more GPUs than are reserved. Take the pool replica that is least used, and move the
    work on it to an on-demand replica of the same deployment (or to the API where the GPU
    has no on-demand offer), until the pool fits.
    """
    gpus = sorted({opts.deployments[k].gpu for (k, s) in replicas if s == POOL})
    for g in gpus:
        lanes = [k for (k, s) in replicas if s == POOL and opts.deployments[k].gpu == g]

        def used() -> float:
            return sum(replicas.get((k, POOL), 0) * opts.deployments[k].tp for k in lanes)  # noqa: B023

        while used() > pool_gpus.get(g, 0.0) + 1e-9:
            live = [k for k in lanes if replicas.get((k, POOL), 0) > 0]
            if not live:
                break

            def last_use(k: str) -> float:
                tot = sum(v for (w, kk, s), v in shares.items() if kk == k and s == POOL)
                return tot - (replicas[(k, POOL)] - 1)

            k = min(live, key=lambda k: (last_use(k), k))
            n = replicas[(k, POOL)]
            users = sorted(key for key in shares if key[1] == k and key[2] == POOL)
            tot = sum(shares[key] for key in users)
            excess = max(0.0, tot - (n - 1))
            has_od = (g, "on_demand") in opts.gpu_usd_per_hour
            for key in users:
                w = key[0]
                part = shares[key] * excess / tot if tot > 0 else 0.0
                if part <= 0:
                    continue
                if not has_od and w not in opts.api_usd_per_m:
                    return  # nowhere to move it: the verifier will refuse the plan
                shares[key] -= part
                if shares[key] <= 1e-12:
                    del shares[key]
                if has_od:
                    od = (w, k, "on_demand")
                    shares[od] = shares.get(od, 0.0) + part
                else:
                    i = workloads.index(w)
                    wl = opts.workloads[w]
                    req = part * opts.options[(w, k)].requests_per_hour / (1 + wl.headroom)
                    api[w] = min(1.0, api.get(w, 0.0) + req / requests[i])
            replicas[(k, POOL)] = n - 1
            if has_od:
                od_total = sum(
                    v for (w, kk, s), v in shares.items() if kk == k and s == "on_demand"
                )
                replicas[(k, "on_demand")] = math.ceil(od_total - 1e-6)
    for key in [key for key, n in replicas.items() if n <= 0]:
        del replicas[key]


def _replicas_from_shares(
    shares: Mapping[tuple[str, str, str], float],
) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], float] = {}
    for (_, k, s), v in shares.items():
        total[(k, s)] = total.get((k, s), 0.0) + v
    return {key: math.ceil(v - 1e-6) for key, v in total.items() if v > 1e-9}


# --- infeasibility ----------------------------------------------------------------------


def diagnose_infeasible(opts: OptionSet, workloads: tuple[str, ...], requests: np.ndarray) -> str:
    """Explain why no plan exists: which workload, which hours, which limit, what would fix it."""
    lines = []
    for i, w in enumerate(workloads):
        wl = opts.workloads[w]
        own = opts.options_for(w)
        has_api = w in opts.api_usd_per_m
        if not own and not has_api:
            rej = [r for r in opts.rejected if r.workload == w]
            reasons = sorted({r.reason for r in rej})[:3]
            why = "; ".join(reasons) if reasons else "no GPU option was evaluated"
            api_why = (
                "the workload does not allow an API (allow_api: false)"
                if not wl.allow_api
                else f"the catalog has no API offer for {wl.model}"
            )
            lines.append(
                f"workload '{w}' (all {int((requests[:, i] > 0).sum())} hours with demand): "
                f"no GPU option meets TPOT ≤ {wl.tpot_ms:g} ms and TTFT ≤ {wl.ttft_ms:g} ms "
                f"within memory ({why}), and {api_why}. Fix: relax tpot_ms/ttft_ms, allow "
                f"more quantizations or GPUs, or set allow_api: true."
            )
            continue
        if has_api and w not in opts.api_usd_per_m:
            continue
        if not has_api:
            # capacity limited by availability caps?
            cap = 0.0
            for o in own:
                dep = o.deployment
                limits = []
                for tier in [*opts.pool_tiers(dep.gpu), *opts.hourly_tiers(dep.gpu)]:
                    if tier == "spot" and not wl.allow_spot:
                        continue
                    limits.append(opts.max_gpus.get((dep.gpu, tier), math.inf))
                gpus = sum(limits)  # inf where a tier has no cap
                replicas = math.floor(gpus / dep.tp) if math.isfinite(gpus) else math.inf
                cap = max(cap, replicas * o.requests_per_hour / (1 + wl.headroom))
            short = np.flatnonzero(requests[:, i] > cap)
            if short.size:
                lines.append(
                    f"workload '{w}': in {short.size} hours (first: hour index {short[0]}) demand "
                    f"{requests[short[0], i]:,.0f} requests/h exceeds the most the availability "
                    f"caps (max_gpus) allow, about {cap:,.0f} requests/h, and the API is not "
                    f"allowed. Fix: raise max_gpus in the catalog offers, or allow_api: true."
                )
    if not lines:
        lines.append(
            "the combination of availability caps, API rate limits and SLOs admits no plan. "
            "Fix: raise max_gpus or max_tokens_per_minute in the catalog, or allow the API."
        )
    return "No feasible plan: " + " ".join(lines)


# --- the all-API alternative and the lower bound ----------------------------------------


def api_only_cost(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> float | None:
    """Cost of sending everything to the APIs, or None where that is not allowed."""
    total = 0.0
    per_model: dict[str, np.ndarray] = {}
    for i, w in enumerate(workloads):
        if w not in opts.api_usd_per_m:
            return None
        total += float(
            np.sum(api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[:, i], output_tokens[:, i]))
        )
        m = opts.workloads[w].model
        per_model[m] = per_model.get(m, 0.0) + input_tokens[:, i] + output_tokens[:, i]
    for m, tokens in per_model.items():
        limit = opts.api_max_tokens_per_hour.get(m)
        if limit is not None and np.any(tokens > limit):
            return None
    return total


def _lower_solve(
    opts: OptionSet,
    workloads: tuple[str, ...],
    agg: Aggregation,
    points_existing: Mapping[str, np.ndarray],
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    upper_objective: float | None = None,
    run_min: bool = True,
) -> tuple[SolverResult, dict[tuple[str, str], int] | None]:
    """A valid lower bound on the full hourly problem from the clusters, two ways; also the
    reserved fleet the model at cluster means chooses (a candidate for the plan).

    1. Each cluster's *mean* demand (API priced at the cluster's lowest price per request)
       with hourly replicas relaxed to continuous and the reserved fleet integer: for a fixed
       fleet the hourly cost is then an LP, convex in the demand, so by Jensen's inequality
       this bounds the full problem with relaxed replicas, hence the full problem.
    2. The MILP at each cluster's *minimum* demand (cost never falls as demand rises); run
       only when the first bound leaves more than 1% to the upper model's cost. Its solver
       bound counts even when it stops at its time limit.
    """
    mean_inp = ModelInput(
        workloads, agg.mean, agg.mean_in, agg.mean_out, agg.weights, points_existing
    )
    mfm = build_model(opts, mean_inp, relax_replicas=True)
    lp = run_solver(mfm, settings, None, "bound (means)")
    mean_fleet = (
        {key: round(value(v)) for key, v in mfm.R.items()}
        if lp.status in ("optimal", "feasible")
        else None
    )
    say(
        f"bound (cluster means, replicas relaxed): {lp.status}, {lp.bound or 0:,.2f} "
        f"in {lp.seconds:.1f} s"
    )
    best = lp
    gap = _gap(upper_objective, lp.bound)
    if run_min and (gap is None or gap > settings.gap):
        limit = min(max(settings.time_limit_s * 0.4, 1.0) if settings.time_limit_s else 30.0, 30.0)
        res = _min_bound(opts, workloads, agg, points_existing, settings, progress, say, limit)
        if res.bound is not None and (best.bound is None or res.bound > best.bound):
            best = res
    return best, mean_fleet


def _min_bound(
    opts: OptionSet,
    workloads: tuple[str, ...],
    agg: Aggregation,
    points_existing: Mapping[str, np.ndarray],
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    limit: float,
) -> SolverResult:
    """The MILP at each cluster's minimum demand: cost never falls as demand rises, so its
    solver bound (even at a time limit) bounds the full problem, reserved GPUs integer."""
    lower_inp = ModelInput(
        workloads, agg.lower, agg.lower_in, agg.lower_out, agg.weights, points_existing
    )
    res = run_solver(
        build_model(opts, lower_inp),
        replace(settings, time_limit_s=limit),
        progress,
        "bound (MILP at cluster minima)",
        opts,
    )
    say(f"bound (MILP at cluster minima): {res.status}, {res.bound or 0:,.2f}")
    return res


# --- the pipeline -----------------------------------------------------------------------


def _hours_cost(
    opts: OptionSet,
    workloads: tuple[str, ...],
    reserved: Mapping[tuple[str, str], int],
    hours: list[HourSchedule],
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """Cost of a recovered schedule (the overhead left out: it is the same for all); with
    ``weights``, each schedule stands for that many hours."""
    w = np.ones(len(hours)) if weights is None else weights
    cost = sum(n * opts.gpu_usd_per_hour[key] for key, n in reserved.items()) * float(w.sum())
    for h, hs in enumerate(hours):
        cost += w[h] * _hour_spend(opts, workloads, hs, input_tokens[h], output_tokens[h])
    return float(cost)


def _hour_spend(
    opts: OptionSet,
    workloads: tuple[str, ...],
    hs: HourSchedule,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> float:
    """One hour's spend outside the pool: hourly replicas and the API (its tokens ``(W,)``)."""
    cost = 0.0
    for (k, s), n in hs.replicas.items():
        if s != POOL:
            dep = opts.deployments[k]
            cost += n * dep.tp * opts.gpu_usd_per_hour[(dep.gpu, s)]
    for w, f in hs.api_fraction.items():
        i = workloads.index(w)
        a = api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[i], output_tokens[i])
        cost += f * float(a)
    return cost


#: Representative hours per fixed-fleet integer solve in recovery (the points are
#: independent given the fleet, so small solves beat one large one).
CHUNK_POINTS = 40
#: Seconds per chunk's integer solve.
CHUNK_S = 5.0
#: Points per fractional solve that starts the one-point-at-a-time integer solves.
LP_BLOCK = 160
#: Seconds per one-point integer solve.
POINT_S = 1.0
#: Seconds (at most) to cost one candidate fleet on the representative hours; points left
#: when it runs out keep their rounded fractional schedule.
EVAL_S = 30.0
#: Seconds per real hour a clustered solve keeps back from its budget for what follows it
#: (baselines, plan assembly, verification: 1.3 s measured at 8,760 h x 10 workloads).
FINISH_S_PER_HOUR = 5e-4
#: Seconds for the integer model of the representative hours (a candidate fleet).
INTEGER_POINTS_S = 10.0
#: ...tried only up to this many integer variables (and so the MILP at the clusters'
#: minima, of the same size): HiGHS runs far past its limit in the root of larger ones.
INTEGER_POINTS_MAX = 10_000
#: Share of the budget after which the fleet search stops.
SEARCH_SHARE = 0.3
#: Share of the recovery's room planned for, at the fleet estimates' pace per point.
FINE_MARGIN = 0.85
#: Scales of the relaxed models' fleets that also start the fleet search.
CANDIDATE_SCALES = (1.25, 1.5)
#: Seconds for the Lagrangian bound (it stops earlier once it stalls); the schedule
#: recovery leaves it this much of the budget, or a fifth of the budget if less.
LAGRANGE_S = 35.0
#: Share of --time-limit an exact (hourly) solve with CBC keeps for the Lagrangian bound,
#: used only where the MILP stops short of its gap (at most ``LAGRANGE_S``).
EXACT_BOUND_SHARE = 0.15
#: Seconds for the MILP at the clusters' minimum demand, tried after the Lagrangian.
MIN_MILP_S = 10.0
#: Time budget of a clustered solve without --time-limit [s]. Phases end when their work
#: is done, so small problems take much less: the fleet search stops at 30% of it, the
#: schedule recovery leaves the bound its share (``LAGRANGE_S``, at most a fifth) and the
#: finish its (``FINISH_S_PER_HOUR``), the bound gets what is left (at least 0.5 s).
DEFAULT_BUDGET_S = 240.0

Fleet = dict[tuple[str, str], int]
#: A fleet's recovered schedule: (cost before overhead, every real hour, the
#: representative hours' schedules it was trimmed from)
Recovered = tuple[float, list[HourSchedule], list[HourSchedule]]


def _solve_points(
    opts: OptionSet,
    inp: ModelInput,
    fleet: Mapping[tuple[str, str], int],
    settings: SolverSettings,
    say: Progress,
    deadline: float = math.inf,
) -> list[HourSchedule] | None:
    """Whole replicas for every point of ``inp`` given the reserved ``fleet``; past
    ``deadline`` (``time.perf_counter()``), rounded fractional schedules only.

    The points are independent given the fleet, so they are solved in chunks, one after
    another. Where workloads share replicas each point is much harder (measured at 10
    workloads: 40 points one by one in 14 s with CBC and 2 s with HiGHS, all 40 at once not
    solved in 5 s): points are then solved one at a time, each started from the rounded
    fractional schedule (``_rounded``). A chunk with no integer solution in time keeps the
    rounded schedule.
    """
    shared = bool(build_model(opts, _points(inp, fleet, slice(0, 1)), relax_replicas=True).y)
    chunk = 1 if shared else CHUNK_POINTS
    block = LP_BLOCK if shared else chunk
    limit = min(settings.time_limit_s or CHUNK_S, CHUNK_S if chunk > 1 else POINT_S)
    out: list[HourSchedule] = []
    for lo in range(0, inp.n_points, block):
        part = _points(inp, fleet, slice(lo, min(inp.n_points, lo + block)))
        late = time.perf_counter() > deadline
        rounded = _rounded(opts, part, fleet, settings) if shared or late else None
        for c in range(0, part.n_points, chunk):
            idx = slice(c, min(part.n_points, c + chunk))
            if time.perf_counter() <= deadline:
                sub = _points(part, fleet, idx)
                fm = build_model(opts, sub)
                warm = _start_from(fm, rounded[idx], -math.inf) if rounded else None
                res = run_solver(
                    fm, replace(settings, time_limit_s=limit), None, "replicas", opts, warm
                )
                if res.status in ("optimal", "feasible"):
                    out.extend(_read_points(fm, opts))
                    continue
            if rounded is None:
                rounded = _rounded(opts, part, fleet, settings)
                if rounded is None:
                    return None
            out.extend(rounded[idx])
    return out


def _points(inp: ModelInput, fleet: Mapping[tuple[str, str], int], idx: slice) -> ModelInput:
    """Points ``idx`` of ``inp`` with the reserved fleet fixed."""
    return ModelInput(
        inp.workloads,
        inp.requests[idx],
        inp.input_tokens[idx],
        inp.output_tokens[idx],
        inp.weights[idx],
        {g: v[idx] for g, v in inp.existing_gpus.items()},
        fixed_reserved=dict(fleet),
    )


def _rounded(
    opts: OptionSet,
    inp: ModelInput,
    fleet: Mapping[tuple[str, str], int],
    settings: SolverSettings,
) -> list[HourSchedule] | None:
    """A schedule that fits the fleet at every point without an integer solve: the
    fractional schedule, its pool replicas made whole (each rounded down, the GPUs left to
    the largest remainders), the hourly lanes and the API re-solved around them, then each
    point rounded up and trimmed (``trim_hour``)."""
    relaxed = build_model(opts, inp, relax_replicas=True)
    res = run_solver(relaxed, settings, None, "replicas (fractional)")
    if res.status not in ("optimal", "feasible"):
        return None
    pools = [_pool_gpus(fleet, inp.existing_gpus, t) for t in range(inp.n_points)]
    if _round_pool(relaxed, opts, pools):
        res = run_solver(relaxed, settings, None, "replicas (pool fixed)")
        if res.status not in ("optimal", "feasible"):
            return None
    return [
        trim_hour(
            p,
            opts,
            inp.workloads,
            inp.requests[t],
            inp.input_tokens[t],
            inp.output_tokens[t],
            pools[t],
        )
        for t, p in enumerate(_read_points(relaxed, opts))
    ]


def _pool_gpus(
    fleet: Mapping[tuple[str, str], int], existing_gpus: Mapping[str, np.ndarray], t: int
) -> dict[str, float]:
    """Pool GPUs per type at point (or hour) ``t``: the reserved fleet plus the existing."""
    pool: dict[str, float] = {g: float(v[t]) for g, v in existing_gpus.items()}
    for (g, _), n in fleet.items():
        pool[g] = pool.get(g, 0.0) + n
    return pool


def _round_pool(fm: FleetModel, opts: OptionSet, pools: list[dict[str, float]]) -> bool:
    """Bound every pool replica variable of a solved fractional model to a whole number that
    fits the pool: each rounded down, then the GPUs left go to the largest remainders.
    Returns whether any bound was set."""
    by_point: dict[tuple[str, int], list[tuple[str, pulp.LpVariable]]] = {}
    for (k, s, t), var in fm.x.items():
        if s == POOL:
            by_point.setdefault((opts.deployments[k].gpu, t), []).append((k, var))
    changed = False
    for (g, t), lanes in sorted(by_point.items()):
        counts = {k: math.floor(value(v) + 1e-6) for k, v in lanes}
        left = pools[t].get(g, 0.0) - sum(n * opts.deployments[k].tp for k, n in counts.items())
        rema = sorted(lanes, key=lambda kv: (-(value(kv[1]) - counts[kv[0]]), kv[0]))
        for k, v in rema:
            tp = opts.deployments[k].tp
            if value(v) - counts[k] > 1e-6 and tp <= left + 1e-9:
                counts[k] += 1
                left -= tp
        for k, v in lanes:
            v.upBound = counts[k]
            changed = True
    return changed


def _start_from(
    fm: FleetModel, schedules: list[HourSchedule], lp_objective: float
) -> StartSolution | None:
    """The model's variables set to ``schedules`` (one per point), or None where a schedule
    uses a lane the model does not have."""
    values: dict[pulp.LpVariable, float] = {}
    for var in fm.R.values():
        values[var] = float(var.lowBound or 0.0)
    for var in fm.x.values():
        values[var] = 0.0
    for var in fm.y.values():
        values[var] = 0.0
    for var in fm.f.values():
        values[var] = 0.0
    for t, sched in enumerate(schedules):
        for (k, s), n in sched.replicas.items():
            var = fm.x.get((k, s, t))
            if var is None:
                return None
            values[var] = float(n)
        for (w, k, s), v in sched.shares.items():
            if (w, k, s, t) in fm.y:
                values[fm.y[(w, k, s, t)]] = v
            elif (k, s, t) not in fm.x:
                return None
        for w, v in sched.api_fraction.items():
            if (w, t) not in fm.f:
                return None
            values[fm.f[(w, t)]] = v
    cost = sum(c * values.get(v, 0.0) for v, c in fm.prob.objective.items()) + fm.constant_usd
    return StartSolution(lp_objective, float(cost), values)


def _recover_hours(
    opts: OptionSet,
    workloads: tuple[str, ...],
    labels: np.ndarray,
    points_inp: ModelInput,
    fleet: Mapping[tuple[str, str], int],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing_gpus: Mapping[str, np.ndarray],
    settings: SolverSettings,
    say: Progress,
    deadline: float = math.inf,
) -> Recovered | None:
    """Whole replicas per representative hour (at its maximum demand) for a fixed reserved
    fleet, then each real hour trimmed to its own demand; returns (cost, hours, the
    representative hours' schedules)."""
    points = _solve_points(opts, points_inp, fleet, settings, say, deadline)
    if points is None:
        return None
    reserved = {key: n for key, n in fleet.items() if n > 0}
    hours = []
    for h in range(requests.shape[0]):
        pool = _pool_gpus(reserved, existing_gpus, h)
        p = points[int(labels[h])]
        hours.append(
            trim_hour(p, opts, workloads, requests[h], input_tokens[h], output_tokens[h], pool)
        )
    cost = _hours_cost(opts, workloads, reserved, hours, input_tokens, output_tokens)
    return cost, hours, points


def _refine_hours(
    opts: OptionSet,
    workloads: tuple[str, ...],
    points: list[HourSchedule],
    labels: np.ndarray,
    fleet: Mapping[tuple[str, str], int],
    hours: list[HourSchedule],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing_gpus: Mapping[str, np.ndarray],
    settings: SolverSettings,
    deadline: float,
) -> tuple[list[HourSchedule], int]:
    """Every real hour re-solved as its own small integer problem given the fleet, on the
    lanes its representative hour's schedule points to: that schedule's deployments on any
    source, and every pool lane. A schedule trimmed from the representative
    (``trim_hour``) wastes what the representative's higher demand needed; this keeps its
    choice of deployments but sizes them for the hour. Each hour keeps the cheaper of the
    two; hours are taken by their trimmed spend outside the pool, largest first, until
    ``deadline``. Returns the hours and how many distinct hours were re-solved.

    Measured at 720 h x 10 workloads (HiGHS, a fixed fleet): trimmed $5,114 of hourly GPUs
    and API, re-solved on restricted lanes $4,755 in 12 ms an hour, every hour's own
    unrestricted integer solve $4,601 in 26 ms an hour.
    """
    H = requests.shape[0]
    reserved = {key: n for key, n in fleet.items() if n > 0}
    all_inp = ModelInput(
        workloads, requests, input_tokens, output_tokens, np.ones(H), existing_gpus
    )
    probe = _points(all_inp, reserved, slice(0, 1))
    lanes = {(k, s) for k, srcs in deployment_sources(opts, probe).items() for s in srcs}
    restricted: dict[int, OptionSet] = {}

    def spend(h: int, sched: HourSchedule) -> float:
        return _hour_spend(opts, workloads, sched, input_tokens[h], output_tokens[h])

    out = list(hours)
    trimmed = np.array([spend(h, out[h]) for h in range(H)])
    ex_names = sorted(existing_gpus)
    done: dict[bytes, HourSchedule | None] = {}
    point_limit = min(settings.time_limit_s or POINT_S, POINT_S)
    for h in np.argsort(-trimmed, kind="stable"):
        if time.perf_counter() > deadline:
            break
        h = int(h)
        label = int(labels[h])
        key = b"".join(
            [requests[h].tobytes(), input_tokens[h].tobytes(), output_tokens[h].tobytes()]
            + [np.asarray(existing_gpus[g][h]).tobytes() for g in ex_names]
            + [np.int64(label).tobytes()]
        )
        if key not in done:
            if label not in restricted:
                deps = {k for (k, _) in points[label].replicas}
                keep = {(k, s) for (k, s) in lanes if k in deps or s == POOL}
                restricted[label] = replace(
                    opts, dominated_lanes=set(opts.dominated_lanes) | (lanes - keep)
                )
            ropts = restricted[label]
            fm = build_model(ropts, _points(all_inp, reserved, slice(h, h + 1)))
            res = run_solver(fm, replace(settings, time_limit_s=point_limit), None, "hour", ropts)
            ok = res.status in ("optimal", "feasible")
            done[key] = _read_points(fm, ropts)[0] if ok else None
        got = done[key]
        if got is not None and spend(h, got) < trimmed[h] - 1e-9:
            out[h] = got
    return out, len(done)


def _neighbours(fleet: Fleet, opts: OptionSet, gpus: list[str]) -> list[Fleet]:
    """Fleets one GPU away: one more or one fewer on a pool tier, or one moved between
    tiers of the same GPU type; then one swapped for a GPU of another type (on that type's
    cheapest pool tier with room)."""
    out: list[Fleet] = []
    swaps: list[Fleet] = []
    for g in gpus:
        tiers = opts.pool_tiers(g)
        for t in tiers:
            n = fleet.get((g, t), 0)
            if n > 0:
                out.append({**fleet, (g, t): n - 1})
            if n + 1 <= opts.max_gpus.get((g, t), math.inf):
                out.append({**fleet, (g, t): n + 1})
            for t2 in tiers:
                if (
                    t2 != t
                    and n > 0
                    and fleet.get((g, t2), 0) + 1 <= opts.max_gpus.get((g, t2), math.inf)
                ):
                    out.append({**fleet, (g, t): n - 1, (g, t2): fleet.get((g, t2), 0) + 1})
            for g2 in gpus:
                room = [
                    t2
                    for t2 in opts.pool_tiers(g2)
                    if fleet.get((g2, t2), 0) + 1 <= opts.max_gpus.get((g2, t2), math.inf)
                ]
                if g2 == g or n == 0 or not room:
                    continue
                t2 = min(room, key=lambda t2: opts.gpu_usd_per_hour[(g2, t2)])
                swaps.append({**fleet, (g, t): n - 1, (g2, t2): fleet.get((g2, t2), 0) + 1})
    return [{k: v for k, v in f.items() if v > 0} for f in out + swaps]


def _pool_prices(fm: FleetModel, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per-hour prices of pool GPUs from the duals of a solved LP's pool rows [USD/GPU-hour]."""
    out: dict[str, np.ndarray] = {}
    for g in sorted({g for g, _ in fm.R} | set(fm.inp.existing_gpus)):
        arr = np.zeros(fm.inp.n_points)
        for t in range(fm.inp.n_points):
            c = fm.prob.constraints.get(f"pool_{lp_name(g)}_{t}")
            if c is not None and c.pi is not None and math.isfinite(c.pi):
                arr[t] = max(0.0, -float(c.pi)) / weights[t]
        out[g] = arr
    return out


def _medoids(agg: Aggregation, requests: np.ndarray) -> np.ndarray:
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


def _existing_at_points(
    agg: Aggregation, ex: np.ndarray | None, names: list[str]
) -> dict[str, np.ndarray]:
    """The existing fleet of each point (identical within a point by construction)."""
    if ex is None:
        return {}
    rep = np.zeros((agg.n_points, len(names)))
    rep[agg.labels] = ex
    return {g: rep[:, j] for j, g in enumerate(names)}


def _solve_clustered(
    opts: OptionSet,
    workloads: tuple[str, ...],
    agg: Aggregation,
    fm: FleetModel,
    upper_inp: ModelInput,
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing_gpus: Mapping[str, np.ndarray],
    ex: np.ndarray | None,
    points_existing: Mapping[str, np.ndarray],
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    t0: float,
) -> tuple[Fleet, list[HourSchedule], SolverResult, float | None, dict[str, int], list[str]]:
    """Large horizons: choose the reserved fleet on the clusters, recover every real hour,
    bound the full hourly problem. Returns (fleet, hours, bound report, bound, how the
    schedule was recovered: ``recovery_points`` it was trimmed from and ``hours_resolved``
    on their own, the phases the budget cut short)."""
    ex_names = sorted(existing_gpus)
    budget = settings.time_limit_s or DEFAULT_BUDGET_S

    def elapsed() -> float:
        return time.perf_counter() - t0

    # 1. candidate fleets: the cluster-max model (relaxed replicas, solved already), the
    #    cluster-mean model (whose optimum is also a valid bound), the integer model of the
    #    representative hours within a short limit where it is small (whole replicas change
    #    the best fleet)
    bound_res, mean_fleet = _lower_solve(
        opts, workloads, agg, points_existing, settings, progress, say, run_min=False
    )
    lower = bound_res.bound
    candidates: list[Fleet] = [{key: round(value(v)) for key, v in fm.R.items()}]
    if mean_fleet is not None:
        candidates.append(mean_fleet)
    # the integer model of the representative hours only where it is small: past that,
    # HiGHS was measured running far past its limit in the root (64 s for 10 s at 10
    # workloads), and so would the MILP at the clusters' minima below
    overrun = math.inf  # how far a solve of a model this size runs past its limit
    if len(fm.R) + len(fm.x) <= INTEGER_POINTS_MAX:
        ifm = build_model(opts, upper_inp)
        int_limit = min(INTEGER_POINTS_S, 0.1 * budget)
        ires = run_solver(
            ifm, replace(settings, time_limit_s=int_limit), progress, "integer points", opts
        )
        if ires.status in ("optimal", "feasible"):
            candidates.append({key: round(value(v)) for key, v in ifm.R.items()})
        overrun = max(0.0, ires.seconds - int_limit)
    search_until = SEARCH_SHARE * budget
    # the relaxed models value the pool too little (fractional hourly replicas waste
    # nothing), so larger versions of their fleets start the search too: measured at 2,160
    # and 8,760 h x 10 workloads, they all proposed 7-8 MI300X where 9-12 cost less
    for scale in CANDIDATE_SCALES:
        for c in list(candidates[:2]):
            big = {
                key: int(min(math.floor(n * scale + 0.5), opts.max_gpus.get(key, math.inf)))
                for key, n in c.items()
            }
            if big not in candidates:
                candidates.append(big)

    # 2. each candidate's cost estimated on one real hour per cluster (the hour nearest its
    #    mean, weighted by the cluster's hours), each hour's whole replicas solved given the
    #    fleet; then a local search one GPU at a time from the cheapest. (The cluster maxima
    #    with their schedules trimmed per hour overstate an hour's cost the more the smaller
    #    the pool, and so chose too large a fleet: measured at 8,760 h x 10 workloads, 12
    #    MI300X and 2 H100 at $251k where 9 and 2 cost $240k, both by exact hourly solves on
    #    every 20th hour; the estimate here read $251k and $239k.)
    med = _medoids(agg, requests)
    med_inp = ModelInput(
        workloads,
        requests[med],
        input_tokens[med],
        output_tokens[med],
        agg.weights,
        {g: np.asarray(v)[med] for g, v in existing_gpus.items()},
    )
    estimated: dict[frozenset, float] = {}
    timing: list[float] = []  # seconds per point solved

    def cost_of(fleet: Fleet) -> float:
        key = frozenset((k, n) for k, n in fleet.items() if n > 0)
        if key not in estimated:
            t_rec = time.perf_counter()
            # past the search's share of the budget, points keep rounded schedules (fast)
            deadline = min(t_rec + EVAL_S, t0 + search_until)
            got = _solve_points(opts, med_inp, fleet, settings, say, deadline)
            timing.append((time.perf_counter() - t_rec) / agg.n_points)
            estimated[key] = (
                math.inf
                if got is None
                else _hours_cost(
                    opts,
                    workloads,
                    fleet,
                    got,
                    med_inp.input_tokens,
                    med_inp.output_tokens,
                    agg.weights,
                )
            )
        return estimated[key]

    best = min(candidates, key=cost_of)
    best_cost = cost_of(best)
    say(f"fleet candidates: best ${best_cost:,.2f} before overhead (estimated)")
    gpus = sorted({g for f in candidates for (g, _), n in f.items() if n > 0})
    cut: list[str] = []  # phases the time budget cut short
    improved = math.isfinite(best_cost)
    while improved:
        if elapsed() >= search_until:
            cut.append("the fleet search")
            break
        improved = False
        for nb in _neighbours(best, opts, gpus):
            if elapsed() >= search_until:
                improved = True  # neighbours left untried
                break
            c = cost_of(nb)
            if c < best_cost - 1e-6:
                best, best_cost, improved = nb, c, True
                say(f"fleet search: ${best_cost:,.2f} (estimated) with {_fleet_text(best)}")
                break

    # 3. the chosen fleet's schedule for every real hour: from every distinct hour as a
    #    point of its own where the time allows; else from finer representative hours (at
    #    their maxima, trimmed per hour), or, with HiGHS, from the clusters' and then every
    #    real hour re-solved on its representative's lanes
    def recover(labels: np.ndarray, points_inp: ModelInput, deadline: float) -> Recovered | None:
        return _recover_hours(
            opts,
            workloads,
            labels,
            points_inp,
            best,
            requests,
            input_tokens,
            output_tokens,
            existing_gpus,
            settings,
            say,
            deadline,
        )

    points = agg.n_points
    resolved = 0
    finish = FINISH_S_PER_HOUR * requests.shape[0]
    room = max(1.0, budget - min(LAGRANGE_S, 0.2 * budget) - finish - elapsed())
    # as many points as the room holds at the estimates' mean pace, with a margin (the
    # maxima are slower to solve than the hours near the means): points left at the
    # deadline keep rounded schedules, and the bound's share stays untouched
    pace = max(float(np.mean(timing)), 1e-6) if timing else math.inf
    n_fine = int(FINE_MARGIN * room / pace) if math.isfinite(pace) else 0
    got: Recovered | None = None
    rep_labels = agg.labels
    deadline = time.perf_counter() + room
    if n_fine > agg.n_points and (n_fine >= agg.n_distinct or settings.name != "highs"):
        fine = aggregate_hours(requests, input_tokens, output_tokens, ex, n_fine)
        fine_inp = ModelInput(
            workloads,
            fine.upper,
            fine.upper_in,
            fine.upper_out,
            fine.weights,
            _existing_at_points(fine, ex, ex_names),
        )
        got = recover(fine.labels, fine_inp, deadline)
        if got is not None:
            points, rep_labels = fine.n_points, fine.labels
            say(f"schedule from {fine.n_points} points: ${got[0]:,.2f} before overhead")
    if got is None:
        got = recover(agg.labels, upper_inp, deadline)
        if got is not None:
            say(f"schedule from {agg.n_points} points: ${got[0]:,.2f} before overhead")
    if got is None:
        raise SolverError(
            "No hour-by-hour schedule could be recovered from the representative hours. "
            "Try --aggregate exact or a larger --time-limit."
        )
    best_cost, best_hours, best_points = got
    if points < agg.n_distinct and settings.name == "highs":
        # HiGHS runs in-process (CBC pays a process start per solve): every real hour gets
        # a small integer solve of its own on its representative's lanes
        reserved = {key: n for key, n in best.items() if n > 0}
        best_hours, resolved = _refine_hours(
            opts,
            workloads,
            best_points,
            rep_labels,
            reserved,
            best_hours,
            requests,
            input_tokens,
            output_tokens,
            existing_gpus,
            settings,
            deadline,
        )
        best_cost = _hours_cost(opts, workloads, reserved, best_hours, input_tokens, output_tokens)
        say(
            f"schedule with {resolved} of {agg.n_distinct} hours re-solved: "
            f"${best_cost:,.2f} before overhead"
        )
        if resolved < agg.n_distinct:
            cut.append(f"the schedule recovery ({resolved} of {agg.n_distinct} hours re-solved)")
    elif points < agg.n_distinct:
        cut.append(f"the schedule recovery ({points} of {agg.n_distinct} hours)")

    # 4. the bound: Lagrangian relaxation of the pool rows with whole replicas every hour
    lam_limit = max(0.5, min(LAGRANGE_S, budget - finish - elapsed()))
    lag, lag_res = _hourly_bound(
        opts,
        workloads,
        agg,
        ModelInput(workloads, agg.mean, agg.mean_in, agg.mean_out, agg.weights, points_existing),
        requests,
        input_tokens,
        output_tokens,
        existing_gpus,
        settings,
        progress,
        say,
        best_cost,
        lam_limit,
        fm.constant_usd,
    )
    if lag_res.bound is not None and (lower is None or lag_res.bound > lower):
        lower, bound_res = lag_res.bound, lag_res
    if lag.time_limited:
        cut.append("the bound")
    # the Lagrangian relaxes the reserved GPUs' integrality; with few of them the MILP at
    # the clusters' minimum demand (reserved GPUs whole) can bound better: a short try
    plan_usd = best_cost + fm.constant_usd
    min_limit = min(MIN_MILP_S, budget - finish - elapsed() - overrun)
    if (_gap(plan_usd, lower) or 1.0) > settings.gap and min_limit >= 1.0:
        res = _min_bound(opts, workloads, agg, points_existing, settings, progress, say, min_limit)
        if res.bound is not None and (lower is None or res.bound > lower):
            lower, bound_res = res.bound, res
    recovery = {"recovery_points": points, "hours_resolved": resolved}
    return {k: n for k, n in best.items() if n > 0}, best_hours, bound_res, lower, recovery, cut


def _hourly_bound(
    opts: OptionSet,
    workloads: tuple[str, ...],
    agg: Aggregation,
    lp_inp: ModelInput,
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    existing_gpus: Mapping[str, np.ndarray],
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    target_usd: float | None,
    time_limit_s: float,
    constant_usd: float,
) -> tuple[LagrangeResult, SolverResult]:
    """The Lagrangian bound on the full hourly problem (``advisor.lagrange``), its prices
    constant per point of ``agg`` and started from the LP duals of ``lp_inp``'s pool rows;
    reported as a bound-only solver result (overhead included)."""
    t0 = time.perf_counter()
    lp = build_model(opts, lp_inp, relax=True)
    lp_res = run_solver(lp, settings, None, "bound (LP prices)")
    lam0 = _pool_prices(lp, agg.weights) if lp_res.status == "optimal" else {}
    lag = lagrangian_bound(
        opts,
        workloads,
        requests,
        input_tokens,
        output_tokens,
        agg.labels,
        lam0,
        existing_gpus=existing_gpus,
        target_usd=target_usd,
        time_limit_s=time_limit_s,
        # the cutting-plane master is an LP solved with HiGHS: only on that back-end, so
        # each back-end's results stay its own
        cutting_planes=settings.name == "highs",
        progress=progress,
    )
    usd = lag.bound + constant_usd
    say(f"bound (hourly Lagrangian): {usd:,.2f} after {lag.iterations} iterations")
    res = SolverResult(
        "lagrangian",
        "feasible",
        time.perf_counter() - t0,
        None,
        usd if math.isfinite(usd) else None,
        None,
        time_limited=lag.time_limited,
    )
    return lag, res


def _fleet_text(fleet: Mapping[tuple[str, str], int]) -> str:
    return ", ".join(f"{n} {g} {t}" for (g, t), n in sorted(fleet.items()) if n > 0) or "none"


def solve_fleet(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    settings: SolverSettings = SolverSettings(),
    *,
    existing_gpus: Mapping[str, np.ndarray] | None = None,
    aggregate: str | int = "auto",
    progress: Progress | None = None,
) -> FleetSolution:
    """Find the minimum-cost fleet for the hourly demand arrays (``(H, W)`` each)."""
    say = progress or (lambda _m: None)
    diag = diagnose_infeasible(opts, workloads, requests)
    if "no GPU option" in diag or "availability caps (max_gpus)" in diag:
        raise InfeasibleError(diag)
    existing_gpus = dict(existing_gpus or {})
    ex_names = sorted(existing_gpus)
    ex = np.stack([existing_gpus[g] for g in ex_names], axis=1) if ex_names else None
    agg = aggregate_hours(requests, input_tokens, output_tokens, ex, aggregate)
    say(f"aggregate: {agg.mode}, {agg.n_points} model points for {requests.shape[0]} hours")

    points_existing = _existing_at_points(agg, ex, ex_names)

    t0 = time.perf_counter()
    upper_inp = ModelInput(
        workloads, agg.upper, agg.upper_in, agg.upper_out, agg.weights, points_existing
    )
    clustered = agg.mode == "clustered"
    # representative hours stand for many real hours: their replica counts are rounded per
    # real hour in recovery, so the model keeps only the reserved fleet integer
    fm = build_model(opts, upper_inp, relax_replicas=clustered)
    build_s = time.perf_counter() - t0
    say(
        f"build: {fm.n_variables:,} variables ({fm.n_integer:,} integer), "
        f"{fm.n_constraints:,} constraints in {build_s:.1f} s"
    )
    share = settings
    if clustered and settings.time_limit_s:
        share = replace(settings, time_limit_s=settings.time_limit_s * 0.6)
    elif settings.time_limit_s and settings.name == "cbc":
        # a MILP stopped by the limit leaves the hourly bound a share of it (CBC only: its
        # own bound is the weak one where hours share replicas; HiGHS's is measured tighter
        # than the Lagrangian there, so it keeps the whole limit)
        reserve = min(LAGRANGE_S, EXACT_BOUND_SHARE * settings.time_limit_s)
        share = replace(settings, time_limit_s=settings.time_limit_s - reserve)
    res = run_solver(fm, share, progress, "solve", opts)
    say(f"solve: {res.status} in {res.seconds:.1f} s")
    if res.status == "infeasible":
        raise InfeasibleError(diagnose_infeasible(opts, workloads, requests))
    if res.status not in ("optimal", "feasible"):
        raise SolverError(
            f"The solver found no plan ({res.status}) within "
            f"{settings.time_limit_s or 'no'} s. Raise --time-limit, loosen --gap, or try "
            f"--solver highs."
        )
    api_only = api_only_cost(opts, workloads, requests, input_tokens, output_tokens)
    if existing_gpus:
        api_only = None  # committed GPUs already carry the overhead
    if api_only is not None and res.objective is not None and api_only <= res.objective:
        say(f"all-API plan (${api_only:,.2f}) is cheaper than any self-hosted fleet")
        hours = [
            HourSchedule(
                api_fraction={w: 1.0 for i, w in enumerate(workloads) if requests[h, i] > 0}
            )
            for h in range(requests.shape[0])
        ]
        bound = api_only if res.bound is None else min(api_only, res.bound)
        if clustered:
            lb = _lower_solve(
                opts, workloads, agg, points_existing, settings, progress, say, res.objective
            )[0].bound
            bound = api_only if lb is None else min(api_only, lb)
        return FleetSolution(
            reserved={},
            hours=hours,
            solver=res,
            bound_solver=None,
            lower_bound=bound,
            aggregation=agg.describe(),
            build_seconds=build_s,
            api_only=True,
        )
    warnings = []
    if res.time_limited:
        warnings.append(
            f"The solver stopped at the time limit ({settings.time_limit_s} s); the plan is the "
            f"best found, with the gap reported."
        )
    points = _read_points(fm, opts)
    reserved = {key: round(value(var)) for key, var in fm.R.items() if round(value(var)) > 0}
    bound_res = None
    lower = res.bound
    agg_info = agg.describe()
    if not clustered:
        # exact aggregation: identical hours share one model point
        hours = [points[int(agg.labels[h])] for h in range(requests.shape[0])]
        if res.objective is not None and (_gap(res.objective, res.bound) or 1.0) > settings.gap:
            # the MILP stopped short of its gap: the hourly Lagrangian may bound better
            left = LAGRANGE_S
            if settings.time_limit_s:
                left = settings.time_limit_s - (time.perf_counter() - t0)
            _, lag_res = _hourly_bound(
                opts,
                workloads,
                agg,
                upper_inp,
                requests,
                input_tokens,
                output_tokens,
                existing_gpus,
                settings,
                progress,
                say,
                res.objective - fm.constant_usd,
                max(0.5, left),
                fm.constant_usd,
            )
            if lag_res.bound is not None and (lower is None or lag_res.bound > lower):
                lower, bound_res = lag_res.bound, lag_res
    else:
        got = _solve_clustered(
            opts,
            workloads,
            agg,
            fm,
            upper_inp,
            requests,
            input_tokens,
            output_tokens,
            existing_gpus,
            ex,
            points_existing,
            settings,
            progress,
            say,
            t0,
        )
        reserved, hours, bound_res, lower, recovery, cut = got
        agg_info = {**agg_info, **recovery}
        if cut:
            given = settings.time_limit_s
            warnings.append(
                f"The time budget ({given or DEFAULT_BUDGET_S:g} s"
                + ("" if given else ", the default; raise it with --time-limit")
                + f") cut {', '.join(cut)} short; the plan is the best found, with its gap."
            )
    if lower is not None and api_only is not None:
        lower = min(lower, api_only)
    return FleetSolution(
        reserved=reserved,
        hours=hours,
        solver=res,
        bound_solver=bound_res,
        lower_bound=lower,
        aggregation=agg_info,
        build_seconds=build_s,
        warnings=warnings,
    )
