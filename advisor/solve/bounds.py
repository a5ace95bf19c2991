"""Lower bounds on the full hourly problem (cluster means with replicas relaxed, the MILP at
cluster minima, the hourly Lagrangian) and the cost of the all-API alternative."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from advisor.milp import (
    FleetModel,
    ModelInput,
    build_model,
)
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve.aggregate import Aggregation
from advisor.solve.backends import (
    SOLVED,
    Progress,
    SolverResult,
    SolverSettings,
    Status,
    relative_gap,
    run_solver,
)
from advisor.solve.lagrange import LagrangeResult, lagrangian_bound
from advisor.solve.problem import Problem


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


def lower_solve(
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
        {key: round(lp.value(v)) for key, v in mfm.R.items()} if lp.status in SOLVED else None
    )
    best = lp
    gap = relative_gap(upper_objective, lp.bound)
    if run_min and (gap is None or gap > settings.gap):
        limit = min(max(settings.time_limit_s * 0.4, 1.0) if settings.time_limit_s else 30.0, 30.0)
        res = min_bound(opts, workloads, agg, points_existing, settings, progress, say, limit)
        if res.bound is not None and (best.bound is None or res.bound > best.bound):
            best = res
    return best, mean_fleet


def min_bound(
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
    return res


def pool_prices(fm: FleetModel, res: SolverResult, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per-hour prices of pool GPUs from the duals of ``fm``'s pool rows in ``res`` (its LP
    relaxation solved) [USD/GPU-hour]."""
    out: dict[str, np.ndarray] = {}
    for g in sorted({g for g, _ in fm.R} | set(fm.inp.existing_gpus)):
        arr = np.zeros(fm.inp.n_points)
        for t in range(fm.inp.n_points):
            c = fm.pool_rows.get((g, t))
            pi = None if c is None else res.duals.get(c.name)
            if pi is not None and math.isfinite(pi):
                arr[t] = max(0.0, -pi) / weights[t]
        out[g] = arr
    return out


def hourly_bound(
    problem: Problem,
    agg: Aggregation,
    lp_inp: ModelInput,
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    target_usd: float | None,
    time_limit_s: float,
    constant_usd: float,
    start: Mapping[str, np.ndarray] | None = None,
) -> tuple[LagrangeResult, SolverResult]:
    """The Lagrangian bound on the full hourly problem (``advisor.solve.lagrange``), its prices
    constant per point of ``agg`` and started from ``start`` (an earlier run's best prices)
    or else the LP duals of ``lp_inp``'s pool rows; reported as a bound-only solver result
    (overhead included)."""
    opts = problem.opts
    workloads = problem.workloads
    requests = problem.requests
    input_tokens = problem.input_tokens
    output_tokens = problem.output_tokens
    existing_gpus = problem.existing_gpus
    t0 = time.perf_counter()
    if start is not None:
        lam0 = dict(start)
    else:
        lp = build_model(opts, lp_inp, relax=True)
        lp_res = run_solver(lp, settings, None, "bound (LP prices)")
        lam0 = pool_prices(lp, lp_res, agg.weights) if lp_res.status == Status.OPTIMAL else {}
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
        # the LP that gave the starting prices counts against the limit
        time_limit_s=max(0.1, time_limit_s - (time.perf_counter() - t0)),
        # the cutting-plane master is an LP solved on the back-end in use, so each
        # back-end's results stay its own
        cutting_planes=settings.name,
        progress=progress,
    )
    usd = lag.bound + constant_usd
    say(f"bound (hourly Lagrangian): {usd:,.2f} after {lag.iterations} iterations")
    res = SolverResult(
        "lagrangian",
        Status.FEASIBLE,
        time.perf_counter() - t0,
        None,
        usd if math.isfinite(usd) else None,
        None,
        time_limited=lag.time_limited,
    )
    return lag, res
