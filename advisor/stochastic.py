r"""Two-stage plans over demand scenarios, and stress tests of a saved fleet.

The two-stage problem
---------------------
Scenarios ``s`` with probabilities ``p_s`` cover the same hours. The first stage — reserved
and owned GPUs ``R`` (beside existing commitments) — is decided once; the second — on-demand,
spot, API, and the use of the pool — per scenario and hour. Given ``R`` the scenario × hour
pairs share nothing but the pool, exactly as hours do in one scenario, so the expected-cost
problem

    min_R  Σ_s p_s · cost_s(R)

is the ordinary fleet MILP on the scenarios' hours laid end to end, each hour of scenario
``s`` counted ``p_s`` times. With rational weights ``p_s = n_s / M`` it is that MILP on the
hours with scenario ``s`` repeated ``n_s`` times, whose optimum is ``M`` times the expected
cost (every term, reserved GPUs over ``M·H`` hours included, scales by ``M``). Identical
hours merge exactly, so the copies cost nothing in an exact solve, and the same aggregation,
Lagrangian bound and verification apply: the bound divided by ``M`` bounds the expected cost
of every first-stage decision, which makes the reported gap honest. Weights that are not
multiples of ``1/60`` are rounded to such counts, with a warning.

Every fleet considered is then priced on every scenario by re-solving only the recourse
(the fleet held fixed as committed GPUs, no new reservations): ``cost_s(R)``. Each price is
the cost of a real plan of ``R``: the cheapest of that re-solve (which its time limit can
stop short), the first stage's own schedule for the scenario (``stacked_costs``), the
scenario's own plan where ``R`` is its fleet, and any smaller fleet's plan with the GPUs
``R`` adds left idle (``cap_by_subfleets``).

Risk
----
``expected`` (default) minimizes ``E[cost]``; ``cvar:α:λ`` minimizes ``E[cost] + λ·CVaR_α``
(the mean cost of the worst ``1−α`` of probability); ``minmax`` the worst scenario's cost.
Every objective is taken over candidate fleets — the expected-cost fleet, the
single-forecast fleet (chosen on the weighted mean demand), each scenario's own optimal fleet
(up to ``MAX_CROSS`` scenarios), then a local search moving one GPU at a time while the
objective falls and the time budget prices a round of neighbours — each priced on every
scenario. A move is taken only where it lowers the objective, so the expected-cost plan never
costs more in expectation than the single-forecast plan (VSS ≥ 0).

Bounds (``risk_bound``): a fleet costs at least a scenario's own optimum on that scenario, and
every objective is monotone in every scenario's cost, so it is at least the objective of the
scenarios' own lower bounds — for ``expected`` the wait-and-see bound ``Σ p_s·LB_s``, which
needs only one scenario's hours per solve and so is often the tighter of the two on long
horizons. It is also at least the first stage's MILP bound on the expected cost, times
``(1+λ)`` for ``cvar`` (CVaR ≥ mean) and times 1 for ``minmax`` (the worst ≥ the mean).

Measures (``plan.json`` key ``scenarios``)
-------------------------------------------
VSS (value of the stochastic solution) = E[cost of the single-forecast fleet] − E[cost of the
two-stage fleet]; EVPI (expected value of perfect information) = E[cost of the two-stage
fleet] − Σ p_s · (cost of scenario ``s``'s own optimal plan); regret of a scenario = the
two-stage fleet's cost there minus that scenario's own optimum.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from advisor.catalog import POOL_TIERS, Catalog, load_catalog
from advisor.demand import Demand
from advisor.errors import AdvisorError, InfeasibleError, PlanError
from advisor.fleet import existing_gpus, existing_rows, load_fleet
from advisor.options import OptionSet, load_measured_capacity
from advisor.parallel import pool_workers, run_jobs, usable_cores
from advisor.pipeline import (
    Inputs,
    finish_plan,
    input_digests,
    load_inputs,
    option_set,
    recorded_capacity_model,
    recorded_policy,
    solve_demand,
    solve_inputs,
)
from advisor.plan import EDITED_NOTE, Plan, assemble_plan, for_reading
from advisor.policy import Policy
from advisor.scenarios import ScenarioSet, load_scenarios
from advisor.solve import (
    FleetSolution,
    SolverSettings,
    TimeBudget,
    distinct_hours,
    solve_fleet,
)
from advisor.workloads import Workload

Fleet = dict[tuple[str, str], int]
#: most copies of the scenario list used to represent weights as whole counts
MAX_COPIES = 60
#: scenarios up to which every scenario's own fleet is a candidate priced on all scenarios
MAX_CROSS = 8
#: rounds of the one-GPU local search over fleets
SEARCH_ROUNDS = 6


@dataclass(frozen=True)
class Risk:
    """The objective over scenario costs: ``expected``, ``cvar`` (α, λ) or ``minmax``."""

    kind: str = "expected"
    alpha: float = 0.9
    weight: float = 0.0

    def label(self) -> str:
        if self.kind == "cvar":
            return f"cvar:{self.alpha:g}:{self.weight:g}"
        return self.kind

    def value(self, costs: np.ndarray, weights: np.ndarray) -> float:
        """The objective of scenario costs [USD] with probabilities ``weights``."""
        mean = float(np.dot(weights, costs))
        if self.kind == "minmax":
            return float(np.max(costs))
        if self.kind == "cvar":
            return mean + self.weight * cvar(costs, weights, self.alpha)
        return mean


def risk_bound(
    risk: Risk, weights: np.ndarray, own_bounds_usd: np.ndarray, expected_bound_usd: float | None
) -> float:
    """A lower bound on the risk objective of every first-stage decision [USD].

    ``own_bounds_usd`` bound each scenario's own optimum (its solve with the fleet free):
    every fleet costs at least that on that scenario, and the objective is monotone in every
    scenario's cost, so the objective of those bounds is a bound (for ``expected`` it is the
    wait-and-see bound ``Σ p_s·LB_s``). ``expected_bound_usd`` bounds the expected cost of
    every fleet (the first stage's MILP over all scenarios' hours); the mean is at most
    the worst case and at most ``E + λ·CVaR`` over ``(1+λ)`` (CVaR ≥ mean)."""
    bound = float(risk.value(own_bounds_usd, weights))
    if expected_bound_usd is not None:
        factor = 1.0 + risk.weight if risk.kind == "cvar" else 1.0
        bound = max(bound, factor * expected_bound_usd)
    return bound


def parse_risk(text: str) -> Risk:
    """Parse ``--risk``: ``expected``, ``minmax`` or ``cvar:ALPHA:LAMBDA``."""
    if text in ("expected", "minmax"):
        return Risk(text)
    parts = text.split(":")
    if parts[0] == "cvar" and len(parts) == 3:
        try:
            alpha, lam = float(parts[1]), float(parts[2])
        except ValueError:
            alpha = lam = math.nan
        if 0 <= alpha < 1 and lam >= 0:
            return Risk("cvar", alpha, lam)
    raise AdvisorError(
        f"--risk must be expected, minmax or cvar:ALPHA:LAMBDA with 0 <= ALPHA < 1 and "
        f"LAMBDA >= 0 (e.g. cvar:0.9:0.5); got '{text}'."
    )


def cvar(costs: np.ndarray, weights: np.ndarray, alpha: float) -> float:
    """Conditional value at risk: the mean cost over the worst ``1 − alpha`` of probability.

    A scenario straddling the boundary counts with the part of its weight inside the tail
    (the Rockafellar–Uryasev definition), so CVaR_0 is the mean and CVaR→1 the worst case.
    """
    costs = np.asarray(costs, dtype=float)
    weights = np.asarray(weights, dtype=float)
    tail = 1.0 - alpha
    order = np.argsort(-costs, kind="stable")
    left, total = tail, 0.0
    for i in order:
        take = min(weights[i], left)
        total += take * costs[i]
        left -= take
        if left <= 1e-15:
            break
    return float(total / tail)


def weight_counts(weights: np.ndarray, max_copies: int = MAX_COPIES) -> tuple[np.ndarray, bool]:
    """Whole copies per scenario whose shares equal ``weights``; and whether that is exact.

    The smallest common denominator up to ``max_copies`` is used when one exists; otherwise
    the weights are rounded to counts out of ``max_copies`` (largest remainders, at least
    one copy each).
    """
    w = np.asarray(weights, dtype=float)
    for m in range(1, max_copies + 1):
        n = w * m
        if np.all(np.abs(n - np.rint(n)) < 1e-9) and np.all(np.rint(n) >= 1):
            return np.rint(n).astype(int), True
    m = max(max_copies, len(w))
    n = np.maximum(1, np.floor(w * m)).astype(int)
    rest = w * m - n
    for i in np.argsort(-rest, kind="stable")[: max(0, m - int(n.sum()))]:
        n[i] += 1
    return n, False


def fleet_from_rows(rows: Sequence[Mapping[str, Any]]) -> Fleet:
    """A plan's ``reserved`` rows as ``{(gpu, tier): count}``."""
    return {
        (str(r.get("pool") or r["gpu"]), str(r["tier"])): int(r["count"])
        for r in rows
        if int(r["count"])
    }


def fleet_text(fleet: Mapping[tuple[str, str], int]) -> str:
    """``"2 H100-SXM reserved_1y, 1 A100-80G reserved_3y"`` (or ``"none"``)."""
    return ", ".join(f"{n} {g} {t}" for (g, t), n in sorted(fleet.items()) if n > 0) or "none"


def _fixed_options(opts: OptionSet) -> OptionSet:
    """The options with no pool tier on offer: the reserved fleet is held fixed."""
    prices = {k: v for k, v in opts.gpu_usd_per_hour.items() if k[1] not in POOL_TIERS}
    caps = {k: v for k, v in opts.max_gpus.items() if k[1] not in POOL_TIERS}
    return replace(opts, gpu_usd_per_hour=prices, max_gpus=caps)


def fleet_cost_usd(opts: OptionSet, fleet: Mapping[tuple[str, str], int], hours: int) -> float:
    """What the reserved fleet costs over ``hours`` [USD]."""
    return float(sum(n * opts.gpu_usd_per_hour[k] * hours for k, n in fleet.items()))


def solve_recourse(
    inputs: Inputs,
    opts: OptionSet,
    demand: Demand,
    fleet: Mapping[tuple[str, str], int],
    settings: SolverSettings,
    aggregate: str | int = "auto",
) -> FleetSolution:
    """Solve only the hourly recourse of ``demand`` on a fixed reserved ``fleet``.

    The fleet joins the pool as committed GPUs and no new reservation is on offer; the
    returned solution carries the fleet as its reserved GPUs and a bound that includes it.
    """
    missing = [k for k in fleet if k not in opts.gpu_usd_per_hour]
    if missing:
        g, t = missing[0]
        raise AdvisorError(
            f"The fleet reserves {g} on {t}, which the catalog does not offer; use the "
            "catalog the plan was solved with (--catalog)."
        )
    ex = existing_gpus(inputs.commitments, demand.hours)
    for (g, _), n in fleet.items():
        ex[g] = ex.get(g, np.zeros(demand.n_hours)) + n
    sol = solve_demand(
        _fixed_options(opts), demand, settings, dict(sorted(ex.items())), aggregate=aggregate
    )
    lower = sol.lower_bound
    if lower is not None:
        lower += fleet_cost_usd(opts, fleet, demand.n_hours)
    return replace(sol, reserved=dict(fleet), lower_bound=lower, api_only=False)


def solution_cost_usd(inputs: Inputs, opts: OptionSet, sol: FleetSolution, demand: Demand) -> float:
    """The cost of a solution on ``demand``, from the plan's own accounting [USD]."""
    ex_rows = existing_rows(inputs.commitments, demand.hours)
    plan = assemble_plan(
        sol,
        opts,
        demand.hours,
        demand.workloads,
        demand.requests,
        demand.input_tokens,
        demand.output_tokens,
        {},
        {},
        existing=ex_rows,
        existing_usd=float(sum(r["cost_usd"] for r in ex_rows)),
    )
    return plan.total_cost_usd


def recourse_job(
    inputs: Inputs,
    opts: OptionSet,
    demand: Demand,
    fleet: Mapping[tuple[str, str], int],
    settings: SolverSettings,
    aggregate: str | int,
) -> dict[str, Any]:
    """Price a fleet on one future (run in a worker): cost, bound, what bound it, or why not."""
    t0 = time.perf_counter()
    try:
        sol = solve_recourse(inputs, opts, demand, fleet, settings, aggregate)
    except InfeasibleError as exc:
        return {"cost_usd": math.inf, "bound_usd": None, "error": str(exc), "seconds": 0.0}
    return {
        "cost_usd": solution_cost_usd(inputs, opts, sol, demand),
        "bound_usd": sol.lower_bound,
        "error": None,
        "seconds": time.perf_counter() - t0,
        **binding_hours(opts, sol, demand),
    }


def binding_hours(opts: OptionSet, sol: FleetSolution, demand: Demand) -> dict[str, Any]:
    """Hours where an availability cap or an API rate limit is reached, and API-served hours."""
    caps: dict[str, int] = {}
    api_hours = 0
    rate: dict[str, int] = {}
    for h, sched in enumerate(sol.hours):
        used: dict[tuple[str, str], float] = {}
        for (k, s), n in getattr(sched, "replicas", {}).items():
            dep = opts.deployments.get(k)
            if dep is None or s not in ("on_demand", "spot"):
                continue
            key = (dep.pool_key, s)
            used[key] = used.get(key, 0.0) + n * dep.units
        for key, n in used.items():
            cap = opts.max_gpus.get(key)
            if cap is not None and n >= cap - 1e-9:
                label = f"{key[0]} {key[1]}"
                caps[label] = caps.get(label, 0) + 1
        fractions = getattr(sched, "api_fraction", {}) or {}
        if any(f > 1e-9 for f in fractions.values()):
            api_hours += 1
        tokens: dict[str, float] = {}
        for w, f in fractions.items():
            j = demand.workloads.index(w)
            model = opts.workloads[w].model
            t = f * (demand.input_tokens[h, j] + demand.output_tokens[h, j])
            tokens[model] = tokens.get(model, 0.0) + t
        for model, t in tokens.items():
            limit = opts.api_max_tokens_per_hour.get(model)
            if limit is not None and t >= limit * (1 - 1e-6):
                rate[model] = rate.get(model, 0) + 1
    return {"cap_hours": caps, "rate_limit_hours": rate, "api_hours": api_hours}


# --- the two-stage plan ----------------------------------------------------------------------


def load_scenario_inputs(demand_path: Path | str, **options: Any) -> tuple[Inputs, ScenarioSet]:
    """``pipeline.load_inputs`` (its keyword ``options``) for a demand file with scenarios:
    the inputs' demand is the scenarios' weighted mean. A minimum rental (policy) is refused:
    the two-stage model stacks the scenarios' hours, which are not one timeline."""
    got: list[ScenarioSet] = []

    def read(path: Path, workloads: Mapping[str, Any]) -> Demand:
        got.append(load_scenarios(path, workloads))
        return got[0].mean_demand()

    inputs = load_inputs(demand_path, read_demand=read, **options)
    if (inputs.policy.min_rental_hours or 1) > 1:
        raise AdvisorError(
            f"{demand_path}: a minimum rental (min_rental_hours) is not available with "
            "scenarios: the two-stage model stacks the scenarios' hours, which are not one "
            "timeline. Drop it, or solve one scenario's demand on its own with it."
        )
    return inputs, got[0]


#: Shares of a two-stage solve's time budget: the first stage (every scenario's hours in one
#: model), then the scenarios' own solves; pricing the candidate fleets on every scenario gets
#: what is left but ``FINAL_SHARE``, which the chosen fleet's plan keeps.
FIRST_STAGE_SHARE = 0.4
OWN_SHARE = 0.2
FINAL_SHARE = 0.1
#: The least time one solve of a two-stage run is given [s], whatever is left.
MIN_JOB_S = 2.0


@dataclass(frozen=True)
class ScenarioClock:
    """One wall-clock budget for a whole two-stage solve (``--time-limit``, else the default
    for the scenarios' distinct hours), handed out in shares: each of its many solves (the
    first stage, each scenario's own, each fleet priced on each scenario, the plan) gets its
    share as its time limit, the jobs of a phase dividing theirs over the parallel workers."""

    budget: TimeBudget
    workers: int

    @classmethod
    def start(
        cls, time_limit_s: float | None, n_distinct_hours: int, workers: int | None
    ) -> ScenarioClock:
        n = max(1, int(workers or usable_cores()))
        return cls(TimeBudget.for_solve(time_limit_s, n_distinct_hours), n)

    def share(self, settings: SolverSettings, fraction: float) -> SolverSettings:
        """One solve's settings for ``fraction`` of the whole budget."""
        limit = min(self.budget.left(), fraction * self.budget.total_s)
        return replace(settings, time_limit_s=max(MIN_JOB_S, limit))

    def per_job(
        self, settings: SolverSettings, fraction: float | None, n_jobs: int
    ) -> SolverSettings:
        """Each of ``n_jobs`` parallel solves' settings for ``fraction`` of the budget (None:
        what is left but ``FINAL_SHARE``)."""
        room = self.budget.left() - FINAL_SHARE * self.budget.total_s
        if fraction is not None:
            room = min(room, fraction * self.budget.total_s)
        each = room * min(self.workers, n_jobs) / max(n_jobs, 1)
        return replace(settings, time_limit_s=max(MIN_JOB_S, each))

    def jobs_affordable(self, pace_s: float = MIN_JOB_S) -> int:
        """How many solves of ``pace_s`` (at least ``MIN_JOB_S``) what is left (but
        ``FINAL_SHARE``) pays for."""
        room = self.budget.left() - FINAL_SHARE * self.budget.total_s
        return max(0, int(room * self.workers / max(MIN_JOB_S, pace_s)))

    def spent(self) -> bool:
        """Whether only the final share (or less) is left."""
        return self.budget.left() <= FINAL_SHARE * self.budget.total_s

    def rest(self, settings: SolverSettings) -> SolverSettings:
        """The last solve's settings: what is left of the budget."""
        return replace(settings, time_limit_s=max(MIN_JOB_S, self.budget.left()))


@dataclass
class ScenarioPlan:
    """The two-stage plan: a verified plan of its fleet on one scenario, and the comparison.

    ``plan`` is the chosen fleet's plan on the scenario named in ``plan.data["scenarios"]
    ["plan_scenario"]`` (the most probable; the first of equals), carrying the ``scenarios``
    summary; ``costs`` is one row per scenario (weight, cost of the two-stage and the
    single-forecast fleets, that scenario's own optimum, regret).
    """

    plan: Plan
    summary: dict[str, Any]
    costs: list[dict[str, Any]] = field(default_factory=list)


def _scenario_inputs(inputs: Inputs, demand: Demand) -> Inputs:
    return replace(inputs, demand=demand)


def _stacked(scen: ScenarioSet, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    parts = [d for d, n in zip(scen.demands, counts, strict=True) for _ in range(int(n))]
    return tuple(
        np.vstack([getattr(d, a) for d in parts])
        for a in ("requests", "input_tokens", "output_tokens")
    )


def _distinct_hours(scen: ScenarioSet, existing: Mapping[str, np.ndarray]) -> int:
    """The distinct hours of the scenarios (each once: the weights' copies merge exactly),
    which choose the default time budget as they do for one demand."""
    ex = [np.tile(existing[g], scen.n) for g in sorted(existing)]
    return distinct_hours(
        *_stacked(scen, np.ones(scen.n, dtype=int)), np.stack(ex, axis=1) if ex else None
    )


def solve_scenarios(
    inputs: Inputs,
    scen: ScenarioSet,
    settings: SolverSettings = SolverSettings(),
    *,
    risk: Risk = Risk(),
    aggregate: str | int = "auto",
    workers: int | None = None,
    cluster: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScenarioPlan:
    """Solve the two-stage plan over ``scen`` (method in the module docstring)."""
    say = progress or (lambda _m: None)
    if scen.n == 1:
        return _one_scenario(inputs, scen, settings, risk, aggregate, progress)
    t0 = time.perf_counter()
    mean = scen.mean_demand()
    opts = option_set(_scenario_inputs(inputs, mean))
    d0 = scen.demands[0]
    ex_usd = float(sum(r["cost_usd"] for r in existing_rows(inputs.commitments, d0.hours)))

    # 1. the expected-cost MILP over all scenario hours
    counts, exact = weight_counts(scen.weights)
    warnings = [] if exact else [_ROUNDED_WEIGHTS.format(m=int(counts.sum()))]
    m = int(counts.sum())
    say(f"two-stage: {scen.n} scenarios x {d0.n_hours} h as {m * d0.n_hours} weighted hours")
    ex = existing_gpus(inputs.commitments, d0.hours)
    clock = ScenarioClock.start(settings.time_limit_s, _distinct_hours(scen, ex), workers)
    stacked = solve_fleet(
        opts,
        mean.workloads,
        *_stacked(scen, counts),
        clock.share(settings, FIRST_STAGE_SHARE),
        existing_gpus={g: np.tile(a, m) for g, a in ex.items()},
        aggregate=aggregate,
    )
    expected_bound = None if stacked.lower_bound is None else stacked.lower_bound / m + ex_usd
    two_stage_fleet = dict(stacked.reserved)
    say(f"two-stage fleet: {fleet_text(two_stage_fleet)}")

    # 2. the single-forecast fleet and each scenario's own optimum (wait and see)
    own_settings = clock.per_job(settings, OWN_SHARE, scen.n + 1)
    jobs = [(opts, d, own_settings, aggregate, inputs) for d in (mean, *scen.demands)]
    t_own = time.perf_counter()
    single, *own = run_jobs(_own_job, jobs, workers=workers, cluster=cluster)
    # what one solve of a scenario took here, start-up and plan included
    pace_s = (time.perf_counter() - t_own) * min(clock.workers, len(jobs)) / len(jobs)
    say(f"single-forecast fleet: {fleet_text(single['fleet'])}")

    # 3. every candidate fleet priced on every scenario; the best for the risk chosen
    pricer = _Pricer(inputs, opts, scen, settings, clock, aggregate, workers, cluster)
    # plans in hand: the first stage's schedule on each scenario, each scenario's own plan
    pricer.know(two_stage_fleet, stacked_costs(inputs, opts, scen, counts, stacked))
    for i, o in enumerate(own):
        pricer.know(o["fleet"], np.where(np.arange(scen.n) == i, o["cost_usd"], np.inf))
    candidates = _candidates(two_stage_fleet, single["fleet"], own, clock, pace_s, scen.n)
    chosen = _choose(candidates, pricer, risk, scen.weights, opts, say, clock.spent)
    if not np.all(np.isfinite(pricer.costs(chosen))):
        raise InfeasibleError(
            "No candidate fleet serves every scenario: a scenario needs more than the "
            "availability caps and API limits allow. Run `advisor stress` on a scenario's own "
            "plan to see which."
        )

    # 4. the chosen fleet's verified plan on the most probable scenario
    top = int(np.argmax(scen.weights))
    plan = _plan_on(inputs, opts, scen.demands[top], chosen, clock.rest(settings), aggregate)

    summary, costs = _summary(
        scen, risk, top, chosen, single["fleet"], own, pricer.priced, expected_bound
    )
    summary.update(
        candidates_priced=len(pricer.priced),
        weights_exact_in_milp=exact,
        first_stage_solver=stacked.solver.as_dict(),
        warnings=warnings,
        # the whole two-stage solve, every stage and the chosen plan's own solve included
        seconds=time.perf_counter() - t0,
    )
    return ScenarioPlan(plan.with_scenarios(summary, warnings), summary, costs)


#: The warning of a first stage whose scenario weights were rounded to whole copies.
_ROUNDED_WEIGHTS = (
    "Scenario weights were rounded to multiples of 1/{m} for the first-stage solve; every "
    "cost is still priced with the given weights."
)


def _plan_on(
    inputs: Inputs,
    opts: OptionSet,
    demand: Demand,
    fleet: Fleet,
    settings: SolverSettings,
    aggregate: str | int,
) -> Plan:
    """``fleet``'s verified plan on one scenario's ``demand``."""
    own = _scenario_inputs(inputs, demand)
    sol = solve_recourse(own, opts, demand, fleet, settings, aggregate)
    return finish_plan(own, opts, sol, settings, aggregate=aggregate)


class _Pricer:
    """Prices fleets on every scenario (each fleet's recourse re-solved per scenario, in
    parallel, within the clock); ``priced`` maps a fleet's key to its cost per scenario."""

    def __init__(
        self,
        inputs: Inputs,
        opts: OptionSet,
        scen: ScenarioSet,
        settings: SolverSettings,
        clock: ScenarioClock,
        aggregate: str | int,
        workers: int | None,
        cluster: str | None,
    ) -> None:
        self.inputs, self.opts, self.scen, self.settings = inputs, opts, scen, settings
        self.clock, self.aggregate, self.workers, self.cluster = clock, aggregate, workers, cluster
        self.priced: dict[tuple, np.ndarray] = {}
        self.fleets: dict[tuple, Fleet] = {}
        #: seconds a fleet's price on one scenario took, on the last call (each worker's)
        self.pace_s = MIN_JOB_S
        #: costs per scenario of plans already in hand (inf: none), by fleet
        self.known: dict[tuple, np.ndarray] = {}

    def know(self, fleet: Fleet, costs: np.ndarray) -> None:
        """Costs per scenario [USD] of plans of ``fleet`` solved elsewhere (``inf`` where
        there is none): each price of it found later is at most these."""
        k = _key(fleet)
        self.known[k] = np.minimum(self.known.get(k, np.inf), costs)

    def __call__(self, fleets: list[Fleet]) -> None:
        todo = [f for f in fleets if _key(f) not in self.priced]
        if not todo:
            return
        n = self.scen.n
        each = self.clock.per_job(self.settings, None, len(todo) * n)
        t0 = time.perf_counter()
        results = run_jobs(
            recourse_job,
            [
                (self.inputs, self.opts, d, f, each, self.aggregate)
                for f in todo
                for d in self.scen.demands
            ],
            workers=self.workers,
            cluster=self.cluster,
        )
        jobs = len(todo) * n
        self.pace_s = (time.perf_counter() - t0) * min(self.clock.workers, jobs) / jobs
        for i, f in enumerate(todo):
            k = _key(f)
            solved = np.array([r["cost_usd"] for r in results[i * n : (i + 1) * n]])
            self.priced[k] = np.minimum(solved, self.known.get(k, np.inf))
            self.fleets[k] = f
        self.priced = cap_by_subfleets(
            self.priced, self.fleets, self.opts, self.scen.demands[0].n_hours
        )

    def costs(self, fleet: Fleet) -> np.ndarray:
        return self.priced[_key(fleet)]

    def affordable(self, n_fleets: int) -> bool:
        """Whether what the clock has left (but its final share) prices ``n_fleets`` more
        fleets at the last call's pace."""
        return self.clock.jobs_affordable(self.pace_s) >= n_fleets * self.scen.n


def cap_by_subfleets(
    priced: Mapping[tuple, np.ndarray],
    fleets: Mapping[tuple, Fleet],
    opts: OptionSet,
    hours: int,
) -> dict[tuple, np.ndarray]:
    """Each fleet's cost per scenario [USD] at most that of any fleet it contains plus what
    the GPUs it adds cost over ``hours``: the smaller fleet's plan, with the added GPUs left
    idle, is a plan of the larger one. (Recourse solves stopped by their time limit can price
    a larger fleet above that.) ``priced`` and ``fleets`` are keyed alike."""
    out = {k: np.array(v, dtype=float) for k, v in priced.items()}
    # smaller fleets first: a cap passed on through a chain of fleets is then already applied
    order = sorted(out, key=lambda k: (sum(fleets[k].values()), k))
    for big in order:
        for small in order:
            a, b = fleets[small], fleets[big]
            if small == big or any(n > b.get(g, 0) for g, n in a.items()):
                continue
            added = {g: n - a.get(g, 0) for g, n in b.items() if n > a.get(g, 0)}
            out[big] = np.minimum(out[big], out[small] + fleet_cost_usd(opts, added, hours))
    return out


def stacked_costs(
    inputs: Inputs, opts: OptionSet, scen: ScenarioSet, counts: np.ndarray, sol: FleetSolution
) -> np.ndarray:
    """Each scenario's cost [USD] under the first stage's own schedule (``sol``, over the
    scenarios' hours laid end to end, scenario ``s`` ``counts[s]`` times): the schedule of its
    first copy is a plan of the first-stage fleet on that scenario. ``inf`` for a scenario with
    no copy (its weight rounded to 0)."""
    n_hours = scen.demands[0].n_hours
    out = np.full(scen.n, math.inf)
    if len(sol.hours) != int(counts.sum()) * n_hours:
        return out
    offset = 0
    for i, (demand, n) in enumerate(zip(scen.demands, counts, strict=True)):
        if n > 0:
            part = replace(sol, hours=sol.hours[offset : offset + n_hours])
            out[i] = solution_cost_usd(inputs, opts, part, demand)
        offset += int(n) * n_hours
    return out


def _candidates(
    two_stage: Fleet,
    single: Fleet,
    own: list[dict[str, Any]],
    clock: ScenarioClock,
    pace_s: float,
    n_scenarios: int,
) -> list[Fleet]:
    """The fleets to price: the first stage's, the single-forecast one, and each scenario's
    own (up to ``MAX_CROSS`` scenarios) as many as the budget prices at the pace of the
    scenarios' own solves (a year's solve costs seconds beyond its limit: start-up, plan)."""
    candidates: list[Fleet] = []
    for f in [two_stage, single]:
        if f not in candidates:
            candidates.append(f)
    extra = clock.jobs_affordable(pace_s) // n_scenarios - len(candidates)
    for f in [o["fleet"] for o in own] if n_scenarios <= MAX_CROSS else []:
        if f not in candidates and extra > 0:
            candidates.append(f)
            extra -= 1
    return candidates


def _choose(
    candidates: list[Fleet],
    pricer: _Pricer,
    risk: Risk,
    w: np.ndarray,
    opts: OptionSet,
    say: Callable[[str], None],
    out_of_time: Callable[[], bool],
) -> Fleet:
    """Price the candidates and pick the best for ``risk``, then its local search while
    the clock prices a round of neighbours; a move is taken only where it lowers the
    objective, so the expected-cost plan never costs more in expectation than the
    single-forecast fleet (VSS ≥ 0)."""
    pricer(candidates)
    best = min(candidates, key=lambda f: (risk.value(pricer.costs(f), w), _key(f)))
    return _local_search(best, risk, w, opts, pricer, say, out_of_time)


def _summary(
    scen: ScenarioSet,
    risk: Risk,
    top: int,
    chosen: Fleet,
    single_fleet: Fleet,
    own: list[dict[str, Any]],
    priced: Mapping[tuple, np.ndarray],
    expected_bound: float | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``scenarios`` section of the plan, and one row per scenario."""
    w = scen.weights
    two, one = priced[_key(chosen)], priced[_key(single_fleet)]
    # a scenario's own optimum is at most the cheapest plan seen for it: its own solve may
    # stop at a time limit above a fleet priced here
    ws_cost = np.minimum(
        np.array([o["cost_usd"] for o in own]), np.min(np.stack(list(priced.values())), axis=0)
    )
    # a scenario whose own solve proved nothing is bounded by 0 (no cost is negative)
    ws_bound = np.array([o["bound_usd"] if o["bound_usd"] is not None else 0.0 for o in own])
    ws_proven = any(o["bound_usd"] is not None for o in own)
    objective = float(risk.value(two, w))
    bound = None
    if ws_proven or expected_bound is not None:
        # the solver's objective carries a tiny cost per pool replica-hour (a tie-breaker
        # the plan's accounting leaves out), so a bound may exceed the cost by that much
        bound = min(risk_bound(risk, w, ws_bound, expected_bound), objective)
    gap = None
    if bound is not None:
        gap = max(0.0, (objective - bound) / objective) if objective > 0 else 0.0
    e_two, e_one = float(np.dot(w, two)), float(np.dot(w, one))
    alpha = risk.alpha if risk.kind == "cvar" else 0.9
    costs = [
        {
            "scenario": name,
            "weight": float(p),
            "two_stage_usd": float(c2),
            "single_forecast_usd": float(c1),
            "own_optimum_usd": float(cw),
            "regret_usd": float(c2 - cw),
        }
        for name, p, c2, c1, cw in zip(scen.names, w, two, one, ws_cost, strict=True)
    ]

    def by_scenario(values: np.ndarray) -> dict[str, float]:
        return dict(zip(scen.names, map(float, values), strict=True))

    summary = {
        "names": list(scen.names),
        "weights": [float(p) for p in w],
        "method": scen.method,
        "risk": risk.label(),
        "plan_scenario": scen.names[top],
        "fleet": _fleet_rows(chosen),
        "single_forecast_fleet": _fleet_rows(single_fleet),
        "cost_by_scenario_usd": by_scenario(two),
        "single_forecast_cost_by_scenario_usd": by_scenario(one),
        "own_optimum_by_scenario_usd": by_scenario(ws_cost),
        "regret_by_scenario_usd": {r["scenario"]: r["regret_usd"] for r in costs},
        "expected_cost_usd": e_two,
        "worst_cost_usd": float(np.max(two)),
        "cvar_alpha": alpha,
        "cvar_usd": float(cvar(two, w, alpha)),
        "single_forecast_expected_cost_usd": e_one,
        "single_forecast_worst_cost_usd": float(np.max(one)),
        "single_forecast_cvar_usd": float(cvar(one, w, alpha)),
        "vss_usd": e_one - e_two,
        "evpi_usd": e_two - float(np.dot(w, ws_cost)),
        "objective_usd": objective,
        "bound_usd": bound,
        "gap": gap,
        "first_stage_bound_usd": expected_bound,
        "wait_and_see_bound_usd": float(np.dot(w, ws_bound)) if ws_proven else None,
    }
    return summary, costs


def _fleet_rows(fleet: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
    """A fleet as ``{"gpu", "tier", "count"}`` rows, sorted."""
    return [{"gpu": g, "tier": t, "count": n} for (g, t), n in sorted(fleet.items())]


def _one_scenario(
    inputs: Inputs,
    scen: ScenarioSet,
    settings: SolverSettings,
    risk: Risk,
    aggregate: str | int,
    progress: Callable[[str], None] | None,
) -> ScenarioPlan:
    """One scenario: today's solve, its plan unchanged, and the scenario measures of it."""
    plan = solve_inputs(
        _scenario_inputs(inputs, scen.demands[0]), settings, aggregate=aggregate, progress=progress
    )
    name = scen.names[0]
    cost = plan.total_cost_usd
    fleet = [
        {"gpu": r["gpu"], "tier": r["tier"], "count": r["count"]} for r in plan.data["reserved"]
    ]
    summary = {
        "names": [name],
        "weights": [1.0],
        "method": scen.method,
        "risk": risk.label(),
        "plan_scenario": name,
        "fleet": fleet,
        "single_forecast_fleet": fleet,
        "cost_by_scenario_usd": {name: cost},
        "single_forecast_cost_by_scenario_usd": {name: cost},
        "own_optimum_by_scenario_usd": {name: cost},
        "regret_by_scenario_usd": {name: 0.0},
        "expected_cost_usd": cost,
        "worst_cost_usd": cost,
        "cvar_alpha": risk.alpha if risk.kind == "cvar" else 0.9,
        "cvar_usd": cost,
        "single_forecast_expected_cost_usd": cost,
        "single_forecast_worst_cost_usd": cost,
        "single_forecast_cvar_usd": cost,
        "vss_usd": 0.0,
        "evpi_usd": 0.0,
        "objective_usd": cost if risk.kind != "cvar" else cost * (1 + risk.weight),
        "bound_usd": plan.data.get("lower_bound_usd"),
        "gap": plan.data.get("gap"),
        "candidates_priced": 1,
        "weights_exact_in_milp": True,
        "first_stage_solver": plan.data.get("solver"),
        "warnings": [],
        "seconds": (plan.data.get("solver") or {}).get("seconds"),
    }
    if summary["bound_usd"] is not None and risk.kind == "cvar":
        summary["bound_usd"] *= 1 + risk.weight
    plan = plan.with_scenarios(summary, [])
    row = {
        "scenario": name,
        "weight": 1.0,
        "two_stage_usd": cost,
        "single_forecast_usd": cost,
        "own_optimum_usd": cost,
        "regret_usd": 0.0,
    }
    return ScenarioPlan(plan, summary, [row])


def _key(fleet: Mapping[tuple[str, str], int]) -> tuple:
    return tuple(sorted((k, n) for k, n in fleet.items() if n > 0))


def _own_job(
    opts: OptionSet,
    demand: Demand,
    settings: SolverSettings,
    aggregate: str | int,
    inputs: Inputs,
) -> dict[str, Any]:
    """One scenario solved on its own (run in a worker): its fleet, cost and bound."""
    ex = existing_gpus(inputs.commitments, demand.hours)
    ex_usd = float(sum(r["cost_usd"] for r in existing_rows(inputs.commitments, demand.hours)))
    sol = solve_demand(opts, demand, settings, ex, aggregate=aggregate)
    return {
        "fleet": dict(sol.reserved),
        "cost_usd": solution_cost_usd(inputs, opts, sol, demand),
        "bound_usd": None if sol.lower_bound is None else sol.lower_bound + ex_usd,
    }


def _neighbours(fleet: Fleet, opts: OptionSet) -> list[Fleet]:
    """One unit fewer or more of each pool and tier held, or one on each pool's cheapest tier."""
    out: list[Fleet] = []
    for key in sorted(fleet):
        for d in (-1, 1):
            f = dict(fleet)
            f[key] = f[key] + d
            if f[key] <= 0:
                del f[key]
            out.append(f)
    held = {g for g, _ in fleet}
    for g in sorted({dep.pool_key for dep in opts.deployments.values()} - held):
        tiers = opts.pool_tiers(g)
        if tiers:
            t = min(tiers, key=lambda t: opts.gpu_usd_per_hour[(g, t)])
            out.append({**fleet, (g, t): 1})
    return out


def _local_search(
    start: Fleet,
    risk: Risk,
    w: np.ndarray,
    opts: OptionSet,
    pricer: _Pricer,
    say: Callable[[str], None],
    out_of_time: Callable[[], bool] = lambda: False,
) -> Fleet:
    best = start
    for _ in range(SEARCH_ROUNDS):
        near = _neighbours(best, opts)
        todo = [f for f in near if _key(f) not in pricer.priced]
        if out_of_time() or not pricer.affordable(len(todo)):
            say("risk search: stopped by the time budget")
            break
        pricer(near)
        cand = min([*near, best], key=lambda f: (risk.value(pricer.costs(f), w), _key(f)))
        if _key(cand) == _key(best):
            break
        best = cand
        say(f"risk search: {fleet_text(best)} at ${risk.value(pricer.costs(best), w):,.2f}")
    return best


# --- stress tests of a saved plan ------------------------------------------------------------


def plan_inputs(
    plan: Plan,
    *,
    catalog_dirs: Sequence[Path | str] | None = None,
    prices: str | None = None,
) -> Inputs:
    """Re-read the inputs a saved plan names (catalog, price profile, workloads, capacity,
    commitments, providers, procurement policy, capacity model); the demand is the plan's
    placeholder until replaced."""
    files = _recorded_inputs(plan)
    cdirs = [
        Path(p)
        for p in (catalog_dirs if catalog_dirs is not None else files.get("catalog_dirs", []))
    ]
    catalog = load_catalog(cdirs, prices=prices or files.get("prices") or "seeds")
    if not plan.data.get("workloads"):
        raise AdvisorError("The plan lists no workloads; stress a plan written by advisor solve.")
    workloads = {w: _recorded_workload(plan, w, d) for w, d in plan.data["workloads"].items()}
    for key in _RECORDED_FILES:
        if files.get(key) and not Path(files[key]).is_file():
            raise PlanError(_recorded_file_note(plan, key, "does not exist"))
    measured = (
        load_measured_capacity(files["capacity_file"], catalog)
        if files.get("capacity_file")
        else []
    )
    commitments = load_fleet(files["fleet_file"], catalog) if files.get("fleet_file") else []
    hours = pd.date_range(_recorded_start(plan), periods=1, freq="h")
    placeholder = Demand.from_requests(
        hours,
        {w: [0.0] for w in sorted(workloads)},
        prompt_tokens={w: workloads[w].prompt_tokens for w in workloads},
        completion_tokens={w: workloads[w].completion_tokens for w in workloads},
    )
    inputs = Inputs(
        catalog,
        workloads,
        placeholder,
        measured,
        commitments,
        dict(files),
        files.get("providers"),
        policy=_recorded_policy(plan, catalog),
        capacity_model=recorded_capacity_model(plan),
    )
    _check_recorded_files(plan, inputs)
    priced = _with_sweep_prices(inputs, plan.data.get("sweep_case") or {})
    if catalog_dirs is None and prices is None:
        _check_recorded_catalog(plan, priced)
    return priced


#: the input files stress re-reads from the paths plan.json records, by the key of
#: ``input_sha256`` that records their content
_RECORDED_FILES = {"fleet_file": "fleet", "capacity_file": "capacity"}


def _recorded_file_note(plan: Plan, key: str, what: str) -> str:
    where = plan.path / "plan.json" if plan.path is not None else "plan.json"
    return (
        f"{plan.data['inputs'][key]} (inputs.{key} of {where}) {what}: stress prices the plan "
        "with the inputs it was solved for. Put the file back as it was, or solve again."
    )


def _check_recorded_files(plan: Plan, inputs: Inputs) -> None:
    """The commitments and measured capacities re-read from the files plan.json names are the
    ones it was solved with (their digests in ``input_sha256``), else a ``PlanError`` naming
    the file: a file changed after the solve would be priced as if the plan held it."""
    recorded = plan.data.get("input_sha256")
    if not isinstance(recorded, Mapping):
        return
    now = input_digests(inputs)
    for key, part in _RECORDED_FILES.items():
        if inputs.files.get(key) and recorded.get(part) != now[part]:
            raise PlanError(_recorded_file_note(plan, key, "changed since the plan was solved"))


def _check_recorded_catalog(plan: Plan, inputs: Inputs) -> None:
    """The catalog re-read from the folders and price profile plan.json names (a sweep's
    price case made again) is the one the plan was solved on (``input_sha256.catalog``), else
    a ``PlanError``: a folder edited since, or another advisor's shipped prices, would price
    the plan on other offers without a word."""
    recorded = plan.data.get("input_sha256")
    if not isinstance(recorded, Mapping) or "catalog" not in recorded:
        return
    if recorded["catalog"] != input_digests(inputs)["catalog"]:
        where = plan.path / "plan.json" if plan.path is not None else "plan.json"
        folders = ", ".join(map(str, plan.data["inputs"].get("catalog_dirs") or [])) or "none"
        raise PlanError(
            f"The catalog (inputs.catalog_dirs of {where}: {folders}; the shipped one with "
            f"the {plan.data['inputs'].get('prices')!r} prices) changed since the plan was "
            "solved: stress prices the plan with the inputs it was solved for. Put the folders "
            "back as they were or solve again; to price it on other offers on purpose, pass "
            "--catalog."
        )


def _with_sweep_prices(inputs: Inputs, case: Mapping[str, Any]) -> Inputs:
    """A sweep's price case was solved on the catalog's prices scaled: the same change (an
    SLO case's workloads are the plan's own, already scaled; a demand case's is the futures')."""
    param = str(case.get("param", ""))
    if not param.startswith("price."):
        return inputs
    from advisor.sweep import apply_param, check_sweep

    return apply_param(inputs, param, check_sweep(param, [case.get("value")])[0])


def _recorded_policy(plan: Plan, catalog: Catalog) -> Policy:
    """The procurement policy the plan was solved under (none for a plan without one), read
    as ``advisor verify`` reads it."""
    policy, unreadable = recorded_policy(plan.data.get("policy"), catalog)
    if unreadable is not None:
        where = plan.path / "plan.json" if plan.path is not None else "plan.json"
        raise PlanError(f"{where}: its policy cannot be read ({unreadable}). Solve again.")
    return policy or Policy()


#: the keys of plan.json's ``inputs`` that name files or choices, and what each holds
RECORDED_INPUTS = {
    "catalog_dirs": "a list of folder paths",
    "workloads_files": "a list of file paths",
    "providers": "a list of provider names, or null",
    "prices": "a price profile name, or null",
    "capacity_file": "a file path, or null",
    "fleet_file": "a file path, or null",
    "policy_file": "a file path, or null",
}


def _edited(plan: Plan, what: str) -> PlanError:
    where = plan.path / "plan.json" if plan.path is not None else "plan.json"
    return PlanError(
        f"{where}: {what}; the file was changed after advisor wrote it. Solve again to write "
        "a fresh plan."
    )


def _recorded_inputs(plan: Plan) -> dict[str, Any]:
    """plan.json's ``inputs`` (the files and choices the plan was solved with), each key of
    :data:`RECORDED_INPUTS` of its type, else a ``PlanError`` naming it."""
    files = plan.data.get("inputs", {})
    if not isinstance(files, Mapping):
        raise _edited(plan, "'inputs' is not an object")
    for key, holds in RECORDED_INPUTS.items():
        v = files.get(key)
        many = holds.startswith("a list")
        ok = (
            (isinstance(v, list) and all(isinstance(x, str) for x in v))
            if many
            else isinstance(v, str)
        )
        if v is not None and not ok:
            raise _edited(plan, f"inputs.{key} is {v!r}, not {holds}")
    return dict(files)


def _recorded_workload(plan: Plan, name: str, entry: Any) -> Workload:
    """Workload ``name`` as plan.json defines it (its ``definition``)."""
    d = entry.get("definition") if isinstance(entry, Mapping) else None
    if not isinstance(d, Mapping):
        raise _edited(plan, f"workloads.{name} has no 'definition' object")
    try:
        return Workload.model_validate(d)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(x) for x in first["loc"]) or "(entry)"
        raise _edited(plan, f"workloads.{name}.definition.{key}: {first['msg']}") from None


def _recorded_start(plan: Plan) -> pd.Timestamp:
    """The first hour of the plan's demand (``demand.start``)."""
    demand = plan.data.get("demand")
    start = demand.get("start") if isinstance(demand, Mapping) else None
    try:
        if isinstance(start, str):
            return pd.Timestamp(start)
    except ValueError:
        pass
    raise _edited(plan, f"demand.start is {start!r}, not a time")


def _future_row(name: str, weight: float, r: Mapping[str, Any]) -> dict[str, Any]:
    """One future's line of a stress test from its recourse job's result."""
    return {
        "scenario": name,
        "weight": float(weight),
        "cost_usd": None if not math.isfinite(r["cost_usd"]) else float(r["cost_usd"]),
        "api_hours": r.get("api_hours"),
        "cap_hours": r.get("cap_hours") or {},
        "rate_limit_hours": r.get("rate_limit_hours") or {},
        "error": r.get("error"),
    }


def _hours_by_key(rows: Sequence[Mapping[str, Any]], field_name: str) -> dict[str, int]:
    """The hours of ``field_name`` (a mapping per row) summed over the rows, per key."""
    out: dict[str, int] = {}
    for r in rows:
        for k, v in r[field_name].items():
            out[k] = out.get(k, 0) + v
    return out


def stress_plan(
    plan: Plan,
    inputs: Inputs,
    futures: ScenarioSet,
    settings: SolverSettings = SolverSettings(),
    *,
    aggregate: str | int = "auto",
    workers: int | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Price a saved plan's reserved fleet on every future by re-solving only its recourse.

    Returns the cost distribution (probability-weighted mean, quantiles, worst), each
    future's cost and what bound it: hours an availability cap or an API rate limit was
    reached, hours with API spill-over, and futures no recourse can serve (their reason).
    Every hour of a served future meets its SLOs: whatever the pool cannot carry goes to
    on-demand, spot or the API, at their price.
    """
    plan = for_reading(plan)
    edited = next((w for w in plan.doc.warnings if EDITED_NOTE in w), None)
    plan_wl = sorted(plan.data.get("workloads", {}))
    if list(futures.demands[0].workloads) != plan_wl:
        raise AdvisorError(
            f"The futures' workloads {list(futures.demands[0].workloads)} differ from the "
            f"plan's {plan_wl}; stress a plan with futures of the workloads it serves."
        )
    fleet = fleet_from_rows(plan.data.get("reserved", []))
    inputs = replace(inputs, demand=futures.mean_demand())
    opts = option_set(inputs)
    t0 = time.perf_counter()
    rows = run_jobs(
        recourse_job,
        [(inputs, opts, d, fleet, settings, aggregate) for d in futures.demands],
        workers=workers,
        cluster=cluster,
    )
    seconds = time.perf_counter() - t0
    w = futures.weights
    costs = np.array([r["cost_usd"] for r in rows])
    served = np.isfinite(costs)
    futures_out = [
        _future_row(name, p, r) for name, p, r in zip(futures.names, w, rows, strict=True)
    ]
    caps = _hours_by_key(futures_out, "cap_hours")
    rate = _hours_by_key(futures_out, "rate_limit_hours")
    ok = costs[served]
    pw = w[served] / w[served].sum() if served.any() else w[served]

    def quantile(q: float) -> float | None:
        if not served.any():
            return None
        order = np.argsort(ok, kind="stable")
        cum = np.cumsum(pw[order])
        return float(ok[order][min(len(ok) - 1, int(np.searchsorted(cum, q - 1e-12)))])

    return {
        "plan_cost_usd": plan.total_cost_usd,
        # a plan.json changed after advisor wrote it is stressed as it reads, but unverified
        "plan_verified": plan.verified,
        "plan_edited": edited,
        # the costs are of the futures' hours; the plan's cost is of its own horizon
        "plan_hours": int(plan.data.get("horizon_hours") or 0),
        "future_hours": futures.demands[0].n_hours,
        "fleet": [{"pool": g, "tier": t, "count": n} for (g, t), n in sorted(fleet.items())],
        # the commitments the recourse pools with the fleet (and every future pays)
        "existing": [
            {
                "gpu": c.gpu,
                "tier": c.tier,
                "count": c.count,
                "start": None if c.start is None else c.start.isoformat(),
                "end": None if c.end is None else c.end.isoformat(),
            }
            for c in inputs.commitments
        ],
        "futures": len(rows),
        "served": int(served.sum()),
        "expected_cost_usd": float(np.dot(pw, ok)) if served.any() else None,
        "p10_cost_usd": quantile(0.1),
        "p50_cost_usd": quantile(0.5),
        "p90_cost_usd": quantile(0.9),
        "worst_cost_usd": float(ok.max()) if served.any() else None,
        "cvar_0.9_usd": cvar(ok, pw, 0.9) if served.any() else None,
        # a served future meets its SLOs every hour (the recourse buys what the pool lacks);
        # a future no recourse can serve is listed instead
        "slo_violating_hours": 0 if served.all() else None,
        "unserved_futures": [f["scenario"] for f in futures_out if f["error"]],
        "cap_hours": caps,
        "rate_limit_hours": rate,
        "futures_with_api": int(sum(1 for f in futures_out if f["api_hours"])),
        "seconds": seconds,
        # the local pool's processes; a Dask cluster's own count otherwise
        "workers": pool_workers(workers, len(rows)) if cluster is None else workers,
        "cluster": cluster,
        "by_future": futures_out,
    }
