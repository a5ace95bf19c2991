"""A minimum rental per on-demand/spot start (the policy's ``min_rental_hours``), solved as
part of the MILP.

The rule ties consecutive hours together (``start``/``hold`` rows, ``advisor.milp``), so the
models over merged or representative hours cannot carry it. Once the fleet is solved
without it (its bound stays valid: the rule only removes plans), this stage solves the
hourly schedule again over the real hours in time order, with the rule as constraints:

* up to ``JOINT_HOURS_MAX`` hours, one MILP over every hour with the reserved fleet free
  again, started from the solved plan held to the rule; its bound is a bound of the problem
  with the rule, and the larger of the two bounds is the plan's;
* beyond that, the reserved fleet stays as solved and the hours are solved in windows of
  ``WINDOW_HOURS`` in time order, each window's first hours bound by the starts of the one
  before (a rolling horizon: each window exact given the fleet and what came before).

Where a solve finds nothing in its time, its hours keep the solved schedule held forward
(``hold_forward``: each start kept exactly ``m`` hours, the least that meets the rule).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from advisor.costmath import self_hosting_overhead_usd
from advisor.milp import POOL, FleetModel, ModelInput, Values, build_model, rental_carry
from advisor.solve.backends import (
    SOLVED,
    SolverResult,
    SolverSettings,
    StartSolution,
    Status,
    run_solver,
)
from advisor.solve.bounds import api_only_cost
from advisor.solve.budget import StageReport, TimeBudget
from advisor.solve.problem import Problem
from advisor.solve.schedule import (
    FleetSolution,
    HourSchedule,
    all_api_hours,
    hours_cost,
    plan_start,
    read_points,
)

#: Horizons up to this many hours re-solve the fleet with the rule in one MILP.
JOINT_HOURS_MAX = 336
#: Hours per window where the fleet stays fixed.
WINDOW_HOURS = 168
#: Seconds a window's solve gets at least (else it keeps the held schedule).
MIN_WINDOW_S = 1.0


def hold_forward(
    units: np.ndarray, min_hours: int, before: float = 0.0, carry: np.ndarray | None = None
) -> np.ndarray:
    """A lane's units ``(H,)`` raised so that every start runs ``min_hours`` hours: hour by
    hour, at least the units started in the last ``min_hours - 1`` hours (``before``: the
    units in the hour before the first; ``carry``: per first hour, units started before it
    that must still run). Each start is kept exactly ``min_hours`` hours, so no schedule
    that meets the rule and serves the demand runs fewer units in any hour."""
    n = np.asarray(units, dtype=float)
    held = np.zeros_like(n)
    starts = np.zeros_like(n)
    prev = before
    for t in range(len(n)):
        running = starts[max(0, t - min_hours + 1) : t].sum()
        if carry is not None and t < len(carry):
            running += carry[t]
        held[t] = max(n[t], running)
        starts[t] = max(0.0, held[t] - prev)
        prev = held[t]
    return held


def hold_schedule(
    problem: Problem,
    hours: list[HourSchedule],
    history: Mapping[tuple[str, str], np.ndarray] | None = None,
) -> list[HourSchedule]:
    """``hours`` (consecutive) with every hourly lane held forward (``hold_forward``) after
    ``history`` (each lane's units in the hours before, oldest first). A replica held past
    its workloads' demand is given to one workload that may use its lane with a zero share,
    so the schedule shows it and the verifier prices it."""
    opts, m = problem.opts, problem.opts.min_rental_hours
    history = history or {}
    out = [replace(h, replicas=dict(h.replicas), shares=dict(h.shares)) for h in hours]
    lanes = sorted({ks for h in hours for ks in h.replicas if ks[1] != POOL} | set(history))
    for k, s in lanes:
        series = np.array([h.replicas.get((k, s), 0) for h in hours], dtype=float)
        before, carry = rental_carry(history.get((k, s), np.zeros(0)), m)
        held = hold_forward(series, m, before, carry)
        users = [
            w
            for (w, kk) in opts.options
            if kk == k and (s != "spot" or opts.workloads[w].allow_spot)
        ]
        for t in np.flatnonzero(held > series):
            out[t].replicas[(k, s)] = round(held[t])
            if users and not any((w, k, s) in out[t].shares for w in users):
                out[t].shares[(users[0], k, s)] = 0.0
    return out


def lane_history(
    hours: list[HourSchedule], end: int, min_hours: int
) -> dict[tuple[str, str], np.ndarray]:
    """Each hourly lane's units in the ``min_hours`` hours before ``end``, oldest first."""
    span = hours[max(0, end - min_hours) : end]
    lanes = {ks for h in span for ks in h.replicas if ks[1] != POOL}
    return {ks: np.array([h.replicas.get(ks, 0) for h in span], dtype=float) for ks in lanes}


def _start_from(
    fm: FleetModel, reserved: Mapping[tuple[str, str], int], hours: list[HourSchedule]
) -> StartSolution | None:
    """A held schedule as the solver's start, the starts ``v`` derived from it."""
    return plan_start(fm, reserved, hours, derive=set_starts)


def set_starts(fm: FleetModel, values: Values) -> None:
    """The start columns ``v`` of ``values`` at ``max(0, Δx)`` for its ``x`` values."""
    m = fm.inp.min_rental_hours
    for (k, s, t), v in fm.v.items():
        if t > 0:
            prev = values.get(fm.x[(k, s, t - 1)], 0.0)
        else:
            prev, _ = rental_carry(fm.inp.rental_history.get((k, s), np.zeros(0)), m)
        values[v] = max(0.0, values.get(fm.x[(k, s, t)], 0.0) - prev)


def _inp(problem: Problem, a: int, b: int, **kw: object) -> ModelInput:
    """The real hours ``[a, b)`` as model points, in time order, with the rule."""
    return ModelInput(
        problem.workloads,
        problem.requests[a:b],
        problem.input_tokens[a:b],
        problem.output_tokens[a:b],
        np.ones(b - a),
        {g: np.asarray(v)[a:b] for g, v in problem.existing_gpus.items()},
        min_rental_hours=problem.opts.min_rental_hours,
        **kw,  # type: ignore[arg-type]
    )


def _solve(
    fm: FleetModel, start: StartSolution | None, settings: SolverSettings, limit_s: float
) -> SolverResult:
    """Run ``fm`` from ``start`` within ``limit_s``."""
    return run_solver(fm, replace(settings, time_limit_s=max(limit_s, 0.1)), warm=start)


def _joint(
    problem: Problem,
    reserved: Mapping[tuple[str, str], int],
    held: list[HourSchedule],
    settings: SolverSettings,
    limit_s: float,
) -> tuple[dict[tuple[str, str], int], list[HourSchedule], float | None, bool]:
    """Every hour in one MILP with the rule, the reserved fleet free: (fleet, hours, bound
    of the problem with the rule, stopped by its limit)."""
    fm = build_model(problem.opts, _inp(problem, 0, problem.n_hours))
    start = _start_from(fm, reserved, held)
    res = _solve(fm, start, settings, limit_s)
    if res.status not in SOLVED:
        return dict(reserved), held, None, True
    return res.whole(fm.R), read_points(fm, problem.opts, res), res.bound, res.time_limited


def _windows(
    problem: Problem,
    reserved: Mapping[tuple[str, str], int],
    hours: list[HourSchedule],
    settings: SolverSettings,
    budget: TimeBudget,
) -> tuple[list[HourSchedule], int]:
    """The hours in windows of ``WINDOW_HOURS`` in time order, the fleet fixed, each window
    after the ones before it: (hours, windows left held for want of time or a solution)."""
    m = problem.opts.min_rental_hours
    out: list[HourSchedule] = []
    edges = [*range(0, problem.n_hours, WINDOW_HOURS), problem.n_hours]
    held_only = 0
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        history = lane_history(out, a, m)
        held = hold_schedule(problem, hours[a:b], history)
        limit = budget.left() / (len(edges) - 1 - i)
        if limit < MIN_WINDOW_S:
            out += held
            held_only += 1
            continue
        inp = _inp(problem, a, b, fixed_reserved=dict(reserved), rental_history=history)
        fm = build_model(problem.opts, inp)
        res = _solve(fm, _start_from(fm, reserved, held), settings, limit)
        solved = res.status in SOLVED
        out += read_points(fm, problem.opts, res) if solved else held
        held_only += not solved
    return out, held_only


def enforce_min_rental(
    problem: Problem, sol: FleetSolution, settings: SolverSettings, budget: TimeBudget
) -> FleetSolution:
    """``sol`` with every on-demand/spot start running ``opts.min_rental_hours`` hours, the
    hours solved again with the rule (module docstring); unchanged without the rule."""
    opts, m = problem.opts, problem.opts.min_rental_hours
    if m <= 1 or sol.api_only or not sol.hours:
        return sol
    t0 = time.perf_counter()
    reserved, bound = dict(sol.reserved), None
    held = hold_schedule(problem, sol.hours)
    if problem.n_hours <= JOINT_HOURS_MAX:
        reserved, hours, bound, cut = _joint(problem, reserved, held, settings, budget.left())
        stage = "minimum rental (every hour, fleet re-solved)"
    else:
        hours, n_held = _windows(problem, reserved, sol.hours, settings, budget)
        cut = n_held > 0
        stage = f"minimum rental ({WINDOW_HOURS} h windows, fleet fixed; {n_held} held)"
    overhead = self_hosting_overhead_usd(
        opts.monthly_overhead_usd, problem.n_hours, self_hosts=True, has_commitments=False
    )
    tokens = (problem.input_tokens, problem.output_tokens)
    before = hours_cost(opts, problem.workloads, sol.reserved, sol.hours, *tokens) + overhead
    cost = hours_cost(opts, problem.workloads, reserved, hours, *tokens) + overhead
    lower = sol.lower_bound
    if bound is not None:
        lower = bound if lower is None else max(lower, bound)
    api = None
    if not problem.existing_gpus:
        api = api_only_cost(opts, problem.workloads, problem.requests, *tokens)
    if api is not None and api < cost:
        reserved, hours, cost = {}, all_api_hours(problem.workloads, problem.requests), api
    if api is not None and lower is not None:
        lower = min(lower, api)
    report = StageReport(
        stage, Status.DONE, time.perf_counter() - t0, cost, bound, time_limited=cut
    )
    return replace(
        sol,
        reserved=reserved,
        hours=hours,
        lower_bound=lower,
        api_only=not reserved and all(not h.replicas for h in hours),
        stages=[*sol.stages, report],
        time_limited=sol.time_limited or cut,
        seconds=sol.seconds + report.seconds,
        warnings=[
            *sol.warnings,
            f"Every on-demand/spot start runs at least {m} h (policy min_rental_hours): "
            f"the hours were solved again with that rule, ${cost:,.2f} against "
            f"${before:,.2f} for the plan without it.",
        ],
    )
