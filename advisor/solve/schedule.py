"""One hour's decisions (``HourSchedule``), the solved fleet (``FleetSolution``): read out of a
solved model, trimmed to an hour's own demand, costed."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.milp import POOL, FleetModel, Values, objective_usd, satisfies
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve.backends import SolverResult, StartSolution
from advisor.solve.budget import StageReport
from advisor.workloads import demand_covered


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
    #: notes that hold only where the plan is not proven within its gap (a stage the time
    #: budget cut short): the plan states them unless its whole solve ends optimal
    unproven_notes: list[str] = field(default_factory=list)
    api_only: bool = False
    #: wall time of the whole solve [s], from the inputs to the plan's schedule and bound
    seconds: float = 0.0
    #: what each stage did, in order
    stages: list[StageReport] = field(default_factory=list)
    #: the time budget (--time-limit, or the default) cut a stage short
    time_limited: bool = False
    #: the relative gap asked for (--gap): the plan is optimal only within it
    gap_tolerance: float = 0.0


def all_api_hours(workloads: tuple[str, ...], requests: np.ndarray) -> list[HourSchedule]:
    """Every hour's demand (``requests``: ``(H, W)``) sent to the API."""
    return [
        HourSchedule(api_fraction={w: 1.0 for i, w in enumerate(workloads) if r[i] > 0})
        for r in requests
    ]


def read_points(fm: FleetModel, opts: OptionSet, res: SolverResult) -> list[HourSchedule]:
    """The schedule of each point of ``fm`` in the solution ``res``."""
    T = fm.inp.n_points
    out = [HourSchedule() for _ in range(T)]
    for (k, s, t), var in fm.x.items():
        v = res.value(var)
        if v > 1e-6:
            out[t].replicas[(k, s)] = math.ceil(round(v, 6))
    for (k, s), users in fm.eligible.items():
        for t in range(T):
            if len(users) == 1:
                v = res.value(fm.x[(k, s, t)])
                if v > 1e-6:
                    out[t].shares[(users[0], k, s)] = round(v, 9)
            else:
                for w in users:
                    v = res.value(fm.y[(w, k, s, t)])
                    if v > 1e-9:
                        out[t].shares[(w, k, s)] = fm.share_value((w, k, s, t), v)
    for (w, t), var in fm.f.items():
        v = res.value(var)
        if v > 1e-9:
            out[t].api_fraction[w] = min(1.0, v)
    return out


def plan_start(
    fm: FleetModel,
    reserved: Mapping[tuple[str, str], int],
    hours: list[HourSchedule],
    lp_objective: float = 0.0,
    derive: Callable[[FleetModel, Values], None] | None = None,
) -> StartSolution | None:
    """A plan (the reserved fleet, one schedule per point of ``fm``) as the solver's start:
    every variable set from it (``derive`` sets any the plan does not name), checked row by
    row. None where the plan is not a feasible point of ``fm``. ``lp_objective``: a valid
    lower bound known for the model, kept with the start."""
    values: Values = {var: 0.0 for var in fm.prob.variables()}
    for key, var in fm.R.items():
        values[var] = float(reserved.get(key, 0))
    if any(
        n > 0 and (k, s, t) not in fm.x
        for t, h in enumerate(hours)
        for (k, s), n in h.replicas.items()
    ):
        return None
    for (k, s, t), var in fm.x.items():
        values[var] = float(hours[t].replicas.get((k, s), 0))
    for (w, k, s, t), var in fm.y.items():
        values[var] = fm.y_value((w, k, s, t), float(hours[t].shares.get((w, k, s), 0.0)))
    for (w, t), var in fm.f.items():
        values[var] = float(hours[t].api_fraction.get(w, 0.0))
    if derive is not None:
        derive(fm, values)
    if not satisfies(fm.prob, values, 1e-6):
        return None
    cost = objective_usd(fm.prob, values) + fm.constant_usd
    return StartSolution(lp_objective, cost, values)


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
    api = _give_back_surplus(shares, opts, workloads, requests)
    replicas = _replicas_from_shares(shares)
    if pool_gpus is not None:
        _repair_pool(shares, replicas, api, opts, workloads, requests, pool_gpus)
    by_lane: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for key in shares:
        by_lane.setdefault((key[1], key[2]), []).append(key)
    hour = _HourDemand(workloads, requests, input_tokens, output_tokens)
    for lane in sorted(replicas):
        if lane[1] != POOL:
            _swap_last_for_api(shares, replicas, api, opts, hour, lane, by_lane)
    # pool replicas keep their count only where used
    return HourSchedule(
        replicas={key: n for key, n in replicas.items() if n > 0}, shares=shares, api_fraction=api
    )


@dataclass(frozen=True)
class _HourDemand:
    """One hour's requests and mean tokens per request, one entry per workload."""

    workloads: tuple[str, ...]
    requests: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray


def _lane_cost(opts: OptionSet, key: tuple[str, str, str]) -> float:
    """USD per request/hour of capacity of a share's lane (pool -1: already paid for)."""
    w, k, s = key
    if s == POOL:
        return -1.0
    dep = opts.deployments[k]
    cap = opts.options[(w, k)].requests_per_hour
    return opts.gpu_usd_per_hour[(dep.pool_key, s)] * dep.units / cap


def _give_back_surplus(
    shares: dict[tuple[str, str, str], float],
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
) -> dict[str, float]:
    """Cut each workload's shares (in place) to its demand, dearest lanes first; returns the
    API fraction each workload needs for what the shares no longer cover."""
    api: dict[str, float] = {}
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
            key: demand_covered(
                shares[key] * opts.options[(w, key[1])].requests_per_hour, wl.headroom
            )
            for key in lanes
        }
        surplus = sum(cover.values()) - d
        for key in sorted(lanes, key=lambda key: _lane_cost(opts, key), reverse=True):
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
    return api


def _swap_last_for_api(
    shares: dict[tuple[str, str, str], float],
    replicas: dict[tuple[str, str], int],
    api: dict[str, float],
    opts: OptionSet,
    hour: _HourDemand,
    lane: tuple[str, str],
    by_lane: Mapping[tuple[str, str], list[tuple[str, str, str]]],
) -> None:
    """Where a lane's last hourly replica is partly used and the API serves its share for
    less, drop the replica and send that share to the API (all in place)."""
    k, s = lane
    n = replicas[lane]
    users = [key for key in by_lane.get(lane, []) if key in shares]
    spare = n - sum(shares[key] for key in users)
    if spare <= 1e-9 or n == 0:
        return
    last = 1.0 - spare  # replica-equivalents on the last replica
    if not all(key[0] in opts.api_usd_per_m for key in users):
        return
    dep = opts.deployments[k]
    replica_cost = opts.gpu_usd_per_hour[(dep.pool_key, s)] * dep.units
    moved: dict[str, float] = {}
    api_cost = 0.0
    remaining = last
    for key in sorted(users, key=lambda key: shares[key]):
        take = min(shares[key], remaining)
        if take <= 0:
            continue
        w = key[0]
        i = hour.workloads.index(w)
        wl = opts.workloads[w]
        req = demand_covered(take * opts.options[(w, k)].requests_per_hour, wl.headroom)
        frac = req / hour.requests[i]
        usd = api_usd_per_hour(opts.api_usd_per_m[w], hour.input_tokens[i], hour.output_tokens[i])
        api_cost += float(usd) * frac
        moved[w] = moved.get(w, 0.0) + frac
        remaining -= take
    if api_cost >= replica_cost or remaining > 1e-9:
        return
    left = last
    for key in sorted(users, key=lambda key: shares[key]):
        take = min(shares[key], left)
        shares[key] -= take
        left -= take
        if shares[key] <= 1e-12:
            del shares[key]
    for w, frac in moved.items():
        api[w] = min(1.0, api.get(w, 0.0) + frac)
    replicas[lane] = n - 1
    if replicas[lane] == 0:
        del replicas[lane]


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
    gpus = sorted({opts.deployments[k].pool_key for (k, s) in replicas if s == POOL})
    for g in gpus:
        lanes = [k for (k, s) in replicas if s == POOL and opts.deployments[k].pool_key == g]

        def used() -> float:
            return sum(replicas.get((k, POOL), 0) * opts.deployments[k].units for k in lanes)  # noqa: B023

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
                    req = demand_covered(part * opts.options[(w, k)].requests_per_hour, wl.headroom)
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


def hours_cost(
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
        cost += w[h] * hour_spend(opts, workloads, hs, input_tokens[h], output_tokens[h])
    return float(cost)


def hour_spend(
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
            cost += n * dep.units * opts.gpu_usd_per_hour[(dep.pool_key, s)]
    for w, f in hs.api_fraction.items():
        i = workloads.index(w)
        a = api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[i], output_tokens[i])
        cost += f * float(a)
    return cost


def pool_gpus(
    fleet: Mapping[tuple[str, str], int], existing_gpus: Mapping[str, np.ndarray], t: int
) -> dict[str, float]:
    """Pool GPUs per type at point (or hour) ``t``: the reserved fleet plus the existing."""
    pool: dict[str, float] = {g: float(v[t]) for g, v in existing_gpus.items()}
    for (g, _), n in fleet.items():
        pool[g] = pool.get(g, 0.0) + n
    return pool
