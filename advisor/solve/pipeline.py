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
3. **Recover every real hour.** Given a fleet the hours are independent. Where no model
   serves more than two workloads, every hour is solved exactly at once (``exact_hours``;
   the fleet search's estimates too, and a fixed fleet needs no solver run at all); an hour
   it leaves (an offer's cap binding across deployments, or its share of the time spent),
   and every hour of other problems, as
   follows: whole replicas are solved per representative hour (at its cluster's maximum) in
   small chunks (one hour at a time where workloads share replicas), started from the
   rounded fractional schedule, and each real hour keeps its point's replicas, trimmed to
   its own demand. Every distinct hour is its own point where the time allows; else, with
   HiGHS (in-process, so small solves are cheap), every real hour is re-solved on its
   representative's lanes (``refine_hours``), and with CBC finer representative hours are
   used.
4. **Bound.** ``advisor.solve.lagrange``: the pool rows priced per cluster, one exact integer
   problem per hour and model; and the cluster-mean model with hourly replicas relaxed
   (Jensen). The larger is a valid lower bound on the full hourly problem, and ``gap = (plan
   cost − bound) / plan cost`` is what the plan reports; the aggregate model's own gap never
   is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from advisor.costmath import self_hosting_overhead_usd
from advisor.errors import InfeasibleError, SolverError
from advisor.milp import (
    FleetModel,
    ModelInput,
    build_model,
)
from advisor.options import OptionSet
from advisor.solve.aggregate import Aggregation, aggregate_hours, existing_at_points, medoids
from advisor.solve.backends import (
    SOLVED,
    Progress,
    SolverResult,
    SolverSettings,
    Status,
    relative_gap,
    run_solver,
)
from advisor.solve.bounds import api_only_cost, hourly_bound, lower_solve, min_bound
from advisor.solve.budget import MIN_SOLVE_SHARE, StageLog, StageReport, TimeBudget, timed
from advisor.solve.diagnose import diagnose_infeasible, explain, find_infeasibilities
from advisor.solve.exact_hours import exact_hours, exact_schedule, solved_exactly
from advisor.solve.fleet_search import (
    CANDIDATE_SCALES,
    EVAL_S,
    INTEGER_POINTS_MAX,
    INTEGER_POINTS_S,
    SEARCH_SHARE,
    Fleet,
    fleet_text,
    neighbours,
    repeated,
    usage_fleets,
)
from advisor.solve.lagrange import LagrangeResult
from advisor.solve.problem import Problem
from advisor.solve.recover import Recovered, recover_hours, refine_hours, solve_points
from advisor.solve.rental import enforce_min_rental
from advisor.solve.schedule import (
    FleetSolution,
    HourSchedule,
    all_api_hours,
    hours_cost,
    plan_start,
    read_points,
)

R = TypeVar("R")  # a bound's report

#: Seconds a solve keeps back from its budget for what follows it (baselines, plan assembly,
#: verification), per hour and workload: measured 7.0-11.2 s at 8,760 h x 10 workloads,
#: 2.2-2.4 s at 8,760 h x 3, 1.3 s at 8,760 h x 1, 2.0-2.4 s at 2,160 h x 10 (AMD EPYC,
#: 2 cores; benchmarks/run.py's total_s - solve_s)...
FINISH_S_PER_HOUR_WORKLOAD = 1e-4
#: ...and seconds whatever the size: the last stage's step past its limit (at 2,160 h x 3
#: workloads, 30 s, the stages ended 0.45 s past the 1.15 s kept back, the plan at 30.1 s)
#: and the finish of a small plan.
FINISH_S = 1.0


def finish_s(problem: Problem) -> float:
    """Seconds a solve keeps back from its budget for the plan's finish."""
    return FINISH_S + FINISH_S_PER_HOUR_WORKLOAD * problem.n_hours * len(problem.workloads)


#: Share of the recovery's room planned for, at the fleet estimates' pace per point.
FINE_MARGIN = 0.85
#: Share of a clustered solve's budget the fleet search may run to where its estimates are
#: exact (``solved_exactly``; measured at 168 h x 10 workloads: the search still found
#: cheaper fleets when it stopped at half the budget, and the rest went unused).
EXACT_SEARCH_SHARE = 0.75
#: The fleet search keeps this many times the time the exact recovery of every real hour
#: takes at its estimates' pace (measured at 8,760 h x 10 workloads, CBC, 120 s: the search
#: ran to 75% of the budget, the exact pass then covered part of the year in its share, and
#: the rest, recovered from the points, cost $562k where the estimate read $381k).
RECOVERY_MARGIN = 1.5
#: Share of the recovery's room the exact hours may take; the hours they leave are
#: recovered from the representative hours in the rest.
EXACT_HOURS_SHARE = 0.8


#: Seconds for the Lagrangian bound (it stops earlier once it stalls), or ``LAGRANGE_SHARE``
#: of a clustered solve's budget if less; it runs before the fleet search.
LAGRANGE_S = 35.0
LAGRANGE_SHARE = 0.2


#: Share of --time-limit an exact (hourly) solve with CBC keeps for the Lagrangian bound,
#: used only where the MILP stops short of its gap (at most ``LAGRANGE_S``).
EXACT_BOUND_SHARE = 0.15


#: Seconds for the MILP at the clusters' minimum demand, tried after the Lagrangian.
MIN_MILP_S = 10.0


#: Share of the budget the MILP over every hour gets under ``aggregate="auto"``; where it
#: stops short of its gap, the decomposition (``DECOMPOSE_CLUSTERS``) gets the rest.
HYBRID_MILP_SHARE = 0.3
#: Hourly models with more integer columns than this go to the decomposition directly under
#: ``aggregate="auto"`` (and are not run again from its plan).
MILP_MAX_INTEGERS = 12_000
#: Seconds the MILP over every hour needs at least to be run again from the decomposition's
#: plan (``polish``).
POLISH_MIN_S = 2.0
#: Share of the budget kept for the hours re-solved with a minimum rental (policy).
RENTAL_SHARE = 0.4
#: Representative hours that choose the fleet when the decomposition follows the MILP
#: (every distinct hour is still recovered on its own where the time allows).
DECOMPOSE_CLUSTERS = 24
#: A plan notes the time its options took (before the solver) from this share of the budget.
PREP_NOTE_SHARE = 0.25


def larger_bound(
    lower: float | None, report: R, bound: float | None, candidate: R
) -> tuple[float | None, R]:
    """The larger of two lower bounds [USD], each with the report it came from (None: no
    bound): ``bound`` and ``candidate`` replace ``lower`` and ``report`` where larger."""
    if bound is not None and (lower is None or bound > lower):
        return bound, candidate
    return lower, report


def _short_of(gap: float | None, target: float) -> bool:
    """Whether a gap is unknown or above the target (a proven 0.0 gap is not: `gap or 1.0`
    read it as 100% and ran the hourly bound on plans already proven optimal)."""
    return gap is None or gap > target


@dataclass(frozen=True)
class ClusterRun:
    """What the clustered stages share: the problem, its representative hours (``agg``),
    the fleet model at the clusters' maxima and its input, the committed GPUs per point, the
    solver settings, where progress goes, the log each stage reports to, and the fleet
    model's solve (``first``)."""

    problem: Problem
    agg: Aggregation
    fm: FleetModel
    upper_inp: ModelInput
    points_existing: Mapping[str, np.ndarray]
    settings: SolverSettings
    progress: Progress | None
    stages: StageLog
    first: SolverResult

    @property
    def say(self) -> Progress:
        """Where a stage's messages go (nowhere without ``progress``)."""
        return self.progress or (lambda _m: None)

    def means(self) -> ModelInput:
        """The cluster-mean model's input (the Lagrangian's starting prices come from it)."""
        a = self.agg
        return ModelInput(
            self.problem.workloads, a.mean, a.mean_in, a.mean_out, a.weights, self.points_existing
        )


@dataclass
class Proposals:
    """The fleets a search starts from, the bound found on the way (and its report), how far
    the integer model of the clusters ran past its limit [s], the phases the budget cut."""

    candidates: list[Fleet]
    lower: float | None
    bound_res: SolverResult
    overrun_s: float
    cut: list[str]
    #: the Lagrangian's best prices, where a later run of it may start
    prices: dict[str, np.ndarray] | None = None
    #: how long the integer model of the clusters took to return [s] (inf: not run)
    integer_s: float = math.inf


@dataclass
class ClusteredPlan:
    """A clustered solve's result: the reserved fleet, every real hour's schedule, the bound
    and its report, how the schedule was recovered (``recovery_points`` it was trimmed from,
    ``hours_resolved`` on their own), and the phases the budget cut short."""

    fleet: Fleet
    hours: list[HourSchedule]
    bound_res: SolverResult
    lower: float | None
    recovery: dict[str, int]
    cut: list[str]


def solve_clustered(
    run: ClusterRun,
    time_budget: TimeBudget,
    extra_candidates: tuple[Fleet, ...] = (),
    polish_follows: bool = False,
) -> ClusteredPlan:
    """Large horizons: choose the reserved fleet on the clusters, recover every real hour,
    bound the full hourly problem; appends a report per stage to ``run.stages``. Its shares
    are of what ``time_budget`` has left when it starts; with ``polish_follows`` it leaves
    the MILP that runs after it (``polish``) its time.

    The hourly Lagrangian runs before the fleet search and, where its cutting-plane phase
    ran, the pool GPUs its hourly subproblems use at its best prices propose a fleet, tried
    first (``usage_fleets``). Measured with HiGHS (benchmarks/run.py,
    seeds prices, benchmarks/RESULTS_2026-11-30_s9_*.md): 24 h x 10 workloads, 30 s, $1,226
    without, $1,150 with; 168 h, $8,743 and $8,249; 720 h x 10, 120 s, $37,070 and $36,003;
    8,760 h x 10, $454,966 and $438,422; one to three workloads the same or better. With
    the ascent alone the prices mislead (168 h x 10, 30 s, $12,284 with the fleet, $10,726
    without): the cutting planes run on either back-end (``master``)."""
    t0 = time.perf_counter()
    budget = max(time_budget.left(), 1e-3)
    problem, agg, fm, stages = run.problem, run.agg, run.fm, run.stages

    def elapsed() -> float:
        return time.perf_counter() - t0

    # 1. candidate fleets (and the bounds found on the way)
    found = propose_fleets(run, extra_candidates, budget)
    lower, bound_res, cut = found.lower, found.bound_res, found.cut
    # 2. each candidate's cost estimated on one real hour per cluster, then a local search;
    #    it ends at its share past the bound's, whatever the bound overran (with exact
    #    estimates, and a recovery that takes seconds, it may run longer)
    t_search = time.perf_counter()
    search_until = (SEARCH_SHARE + LAGRANGE_SHARE) * budget
    if solved_exactly(problem.opts, problem.workloads) and not polish_follows:
        search_until = max(search_until, EXACT_SEARCH_SHARE * budget)
    finish = finish_s(problem)
    best, best_cost, timing, stopped = search_fleet(
        problem,
        agg,
        found.candidates,
        run.settings,
        run.say,
        Deadline(t0 + search_until, t0 + budget - finish, problem.n_hours),
    )
    cut += ["the fleet search"] if stopped else []  # phases the budget cut short
    stages.add(
        StageReport(
            "fleet search (estimated on one hour per cluster)",
            Status.DONE,
            time.perf_counter() - t_search,
            objective=best_cost + fm.constant_usd,
            time_limited=stopped,
        )
    )
    # 3. the chosen fleet's schedule for every real hour
    t_recover = time.perf_counter()
    room = max(1.0, budget - finish - elapsed())
    pace = max(float(np.mean(timing)), 1e-6) if timing else math.inf
    best_cost, best_hours, points, resolved, recovery_cut = recover_schedule(run, best, room, pace)
    cut += recovery_cut
    stages.add(
        StageReport(
            f"schedule recovery ({points} points, {resolved} hours re-solved)",
            Status.DONE,
            time.perf_counter() - t_recover,
            objective=best_cost + fm.constant_usd,
            time_limited=points < agg.n_distinct and resolved < agg.n_distinct,
        )
    )

    # 4. the bounds on what is left, where the plan is not proven yet
    lower, bound_res = closing_bounds(
        run, found, best_cost, budget - finish - elapsed(), (lower, bound_res)
    )
    recovery = {"recovery_points": points, "hours_resolved": resolved}
    fleet = {k: n for k, n in best.items() if n > 0}
    return ClusteredPlan(fleet, best_hours, bound_res, lower, recovery, cut)


def closing_bounds(
    run: ClusterRun,
    found: Proposals,
    plan_cost: float,
    left_s: float,
    best: tuple[float | None, SolverResult],
) -> tuple[float | None, SolverResult]:
    """Where the plan (``plan_cost``, before overhead) is not proven by the bounds so far
    (``best``), the Lagrangian again from its best prices on what is left (``left_s``;
    measured at 720 h x 3 workloads, HiGHS, 30 s: its first share stopped it at a 1.49% gap
    with 7 s unused), two thirds of it where a short MILP at the clusters' minima follows
    (reserved GPUs whole: it can bound better with few of them; its limit is what is left
    less how far the integer model of the clusters ran past its own, ``found.overrun_s``, and
    it is not run where that limit is shorter than that model took to return,
    ``found.integer_s``: measured at 8,760 h x 3 workloads with HiGHS, 30 s, the integer
    model returned in 4.3 s on a 3 s limit, and the minima's MILP ran 6.4 s on a limit of
    about 2.4 s, the plan ending at 32.5 s). Returns the better bound and its report."""
    lower, bound_res = best
    t0 = time.perf_counter()
    plan_usd = plan_cost + run.fm.constant_usd
    unproven = _short_of(relative_gap(plan_usd, lower), run.settings.gap)
    if unproven and found.prices is not None and left_s >= 2.0:
        share = 2 / 3 if math.isfinite(found.overrun_s) else 0.8
        _, lower, bound_res, _ = lagrangian_stage(
            run, plan_cost, left_s * share, (lower, bound_res), found.prices
        )
    left_s -= time.perf_counter() - t0
    limit = left_s - found.overrun_s
    limit = limit if limit >= found.integer_s else 0.0  # it would run past the budget
    return minima_bound_stage(run, plan_usd, limit, (lower, bound_res))


def propose_fleets(
    run: ClusterRun, extra_candidates: tuple[Fleet, ...], budget: float
) -> Proposals:
    """The fleets the search starts from: the cluster-max model's (relaxed replicas, solved
    already), the cluster-mean model's (whose optimum is also a valid bound), the integer
    model of the representative hours within a short limit where it is small (whole
    replicas change the best fleet), the Lagrangian's usage fleets first (the bound runs
    here), and larger versions of the first two."""
    problem, fm, settings, progress, stages = (
        run.problem, run.fm, run.settings, run.progress, run.stages
    )  # fmt: skip
    opts = problem.opts
    bound_res, mean_fleet = lower_solve(
        opts, problem.workloads, run.agg, run.points_existing, settings, progress, run.say,
        run_min=False,
    )  # fmt: skip
    lower = bound_res.bound
    stages.add(StageReport.of("bound (cluster means, replicas relaxed)", bound_res))
    candidates: list[Fleet] = [{key: round(run.first.value(v)) for key, v in fm.R.items()}]
    if mean_fleet is not None:
        candidates.append(mean_fleet)
    candidates += [f for f in extra_candidates if f not in candidates]
    # the integer model of the representative hours only where no whole-hour fleet is
    # given (an hourly MILP's incumbent is the better candidate), and only where small: past
    # that, HiGHS was measured running far past its limit in the root (64 s for 10 s at 10
    # workloads), and so would the MILP at the clusters' minima below
    overrun = math.inf  # how far a solve of a model this size runs past its limit
    integer_s = math.inf  # and how long it takes to return
    if not extra_candidates and len(fm.R) + len(fm.x) <= INTEGER_POINTS_MAX:
        ifm = build_model(opts, run.upper_inp)
        int_limit = min(INTEGER_POINTS_S, 0.1 * budget)
        ires = run_solver(
            ifm, replace(settings, time_limit_s=int_limit), progress, "integer points", opts
        )
        stages.add(StageReport.of("fleet candidate (integer model of the clusters)", ires))
        if ires.status in SOLVED:
            candidates.append({key: round(ires.value(v)) for key, v in ifm.R.items()})
        overrun, integer_s = max(0.0, ires.seconds - int_limit), ires.seconds
    lag, lower, bound_res, lag_cut = lagrangian_stage(
        run, None, min(LAGRANGE_S, LAGRANGE_SHARE * budget), (lower, bound_res)
    )
    if lag.hourly_usage is not None and lag.cutting_planes:
        proposed = usage_fleets(opts, lag.pool_gpus, lag.hourly_usage, problem.existing_gpus)
        candidates = [f for f in proposed if f not in candidates] + candidates
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
    return Proposals(candidates, lower, bound_res, overrun, lag_cut, lag.prices, integer_s)


@dataclass
class Deadline:
    """When the fleet search stops (``time.perf_counter()``): at ``limit``, or earlier where
    the recovery of ``hours`` real hours, exact at the pace of the cheapest fleet's estimate
    (``paced``, seconds per hour; with the last estimate's pace, that of the largest
    candidate stopped the search at 8,760 h x 10 workloads before its first move), with a
    margin of ``RECOVERY_MARGIN``, must end by ``recover_by``."""

    limit: float
    recover_by: float = math.inf
    hours: int = 0

    def __post_init__(self) -> None:
        self.at = self.limit

    def paced(self, s_per_hour: float) -> None:
        keep = RECOVERY_MARGIN * s_per_hour * self.hours
        self.at = min(self.limit, self.recover_by - keep)

    def passed(self) -> bool:
        return time.perf_counter() >= self.at


def search_fleet(
    problem: Problem,
    agg: Aggregation,
    candidates: list[Fleet],
    settings: SolverSettings,
    say: Progress,
    until: float | Deadline,
) -> tuple[Fleet, float, list[float], bool]:
    """The cheapest fleet by estimate: each candidate's cost estimated on one real hour per
    cluster (the hour nearest its mean, weighted by the cluster's hours), each hour's whole
    replicas solved given the fleet (exactly, all at once, where ``exact_hours`` can; else
    by the MILP per point); then a local search one GPU at a time from the cheapest (with
    exact estimates, over every GPU type and again from each other candidate), until
    ``until`` (``time.perf_counter()``, or a ``Deadline`` that also keeps the time the
    exact recovery of every real hour will take at the estimates' pace). (The cluster
    maxima with their schedules trimmed per hour overstate an hour's cost the more the
    smaller the pool, and so chose too large a fleet: measured at 8,760 h x 10 workloads,
    12 MI300X and 2 H100 at $251k where 9 and 2 cost $240k, both by exact hourly solves on
    every 20th hour; the estimate here read $251k and $239k.) Returns (fleet, its estimated
    cost before overhead, seconds per point of each estimate, whether the clock stopped the
    search)."""
    opts, workloads = problem.opts, problem.workloads
    med_problem, med_inp = _medoid_problem(problem, agg)
    estimated: dict[frozenset, float] = {}
    timing: list[float] = []  # seconds per point solved
    clock = until if isinstance(until, Deadline) else Deadline(until)
    lowest = [math.inf]  # the cheapest exact estimate so far

    def cost_of(fleet: Fleet) -> float:
        key = frozenset((k, n) for k, n in fleet.items() if n > 0)
        if key not in estimated:
            t = time.perf_counter()
            exact = exact_schedule(med_problem, fleet, agg.weights)
            if exact is not None and exact[0] < lowest[0]:
                # the cheapest fleet so far is the one to recover: its pace rules
                lowest[0] = exact[0]
                clock.paced((time.perf_counter() - t) / max(1, agg.n_points))
            estimated[key] = (
                exact[0]
                if exact is not None
                else _points_estimate(opts, med_inp, fleet, settings, say, clock.at, timing)
            )
        return estimated[key]

    starts = sorted(candidates, key=cost_of)
    best, best_cost = starts[0], cost_of(starts[0])
    say(f"fleet candidates: best ${best_cost:,.2f} before overhead (estimated)")
    gpus = sorted({g for f in candidates for (g, _), n in f.items() if n > 0})
    cheap = solved_exactly(opts, workloads)  # the estimates are exact, so cheap
    if cheap:
        # every GPU type the options can pool, not only the candidates' (measured at
        # 8,760 h x 3 workloads with CBC: its candidates held H100s only, and the search
        # never tried the MI300X that HiGHS's plan holds)
        gpus = sorted(
            {opts.deployments[k].pool_key for (_, k) in opts.options}
            & {g for (g, t) in opts.gpu_usd_per_hour if t in opts.pool_tiers(g)}
        )
    # from the cheapest candidate, then (with cheap estimates) from each of the others while
    # the time lasts: the one-GPU moves stop at a local minimum
    for i, start in enumerate(starts if cheap else starts[:1]):
        if not math.isfinite(cost_of(start)):
            continue
        found, found_cost, stopped = _descend(start, cost_of, opts, gpus, say, clock)
        if found_cost < best_cost - 1e-6:
            best, best_cost = found, found_cost
        if stopped:
            # cut short if the first descent was; the others are extra
            return best, best_cost, timing, i == 0
    return best, best_cost, timing, False


def _medoid_problem(problem: Problem, agg: Aggregation) -> tuple[Problem, ModelInput]:
    """The real hour nearest each cluster's mean, as a problem and as the MILP's input
    (weighted by the clusters' hours)."""
    med = medoids(agg, problem.requests)
    p = replace(
        problem,
        requests=problem.requests[med],
        input_tokens=problem.input_tokens[med],
        output_tokens=problem.output_tokens[med],
        existing_gpus={g: np.asarray(v)[med] for g, v in problem.existing_gpus.items()},
    )
    inp = ModelInput(
        p.workloads, p.requests, p.input_tokens, p.output_tokens, agg.weights, p.existing_gpus
    )
    return p, inp


def _descend(
    start: Fleet,
    cost_of: Callable[[Fleet], float],
    opts: OptionSet,
    gpus: list[str],
    say: Progress,
    clock: Deadline,
) -> tuple[Fleet, float, bool]:
    """One GPU at a time from ``start`` while the estimate falls (``neighbours``; the last
    improving move tried again first), until ``clock``. Returns the fleet, its estimate and
    whether the clock stopped it."""
    best, best_cost = start, cost_of(start)
    before: Fleet | None = None  # the fleet before the last improving move
    improved = True
    while improved:
        if clock.passed():
            return best, best_cost, True
        improved = False
        again = None if before is None else repeated(best, before, opts)
        for nb in ([again] if again else []) + neighbours(best, opts, gpus):
            if clock.passed():
                return best, best_cost, True
            c = cost_of(nb)
            if c < best_cost - 1e-6:
                before, best, best_cost, improved = best, nb, c, True
                say(f"fleet search: ${best_cost:,.2f} (estimated) with {fleet_text(best)}")
                break
    return best, best_cost, False


def _points_estimate(
    opts: OptionSet,
    med_inp: ModelInput,
    fleet: Fleet,
    settings: SolverSettings,
    say: Progress,
    until: float,
    timing: list[float],
) -> float:
    """A fleet's cost before overhead [USD] on the representative hours ``med_inp`` (each
    weighted by its cluster's hours), whole replicas solved given the fleet within
    ``EVAL_S`` (past ``until``, rounded schedules); the seconds per point of a whole solve
    are appended to ``timing``."""
    t_rec = time.perf_counter()
    deadline = min(t_rec + EVAL_S, until)
    got = solve_points(opts, med_inp, fleet, settings, say, deadline)
    if time.perf_counter() <= deadline:
        # the pace of whole solves only: rounded points would make it look faster
        # (measured at 168 h x 10 workloads: 168 points planned, a third rounded)
        timing.append((time.perf_counter() - t_rec) / med_inp.n_points)
    if got is None:
        return math.inf
    return hours_cost(
        opts,
        med_inp.workloads,
        fleet,
        got,
        med_inp.input_tokens,
        med_inp.output_tokens,
        med_inp.weights,
    )


def lagrangian_stage(
    run: ClusterRun,
    plan_cost: float | None,
    limit_s: float,
    best: tuple[float | None, SolverResult],
    start: Mapping[str, np.ndarray] | None = None,
) -> tuple[LagrangeResult, float | None, SolverResult, list[str]]:
    """The hourly Lagrangian bound (pool rows priced per cluster, whole replicas every hour)
    within ``limit_s`` (at most ``LAGRANGE_S``), from the prices ``start`` where given,
    stopping early once it reaches ``plan_cost`` (before overhead) where given. Returns its
    result, the better of its bound and ``best`` (the bound so far and its report) with that
    report, and ["the bound"] where the budget's share (not its own cap) stopped it; adds
    its report to ``stages``."""
    lower, bound_res = best
    limit = max(0.5, min(LAGRANGE_S, limit_s))
    lag, lag_res = hourly_bound(
        run.problem, run.agg, run.means(), run.settings, run.progress, run.say, plan_cost,
        limit, run.fm.constant_usd, start,
    )  # fmt: skip
    name = "bound (hourly Lagrangian" + (", continued)" if start is not None else ")")
    run.stages.add(StageReport.of(name, lag_res))
    lower, bound_res = larger_bound(lower, bound_res, lag_res.bound, lag_res)
    # stopped on the clock, and that clock was the budget's share (at its own cap of
    # LAGRANGE_S a larger budget would not have given it more)
    cut = ["the bound"] if lag.time_limited and limit < LAGRANGE_S else []
    return lag, lower, bound_res, cut


def minima_bound_stage(
    run: ClusterRun,
    plan_usd: float,
    limit_s: float,
    best: tuple[float | None, SolverResult],
) -> tuple[float | None, SolverResult]:
    """Where the plan (``plan_usd``, overhead included) is not yet proven by the bound so far
    (``best``: the bound and its report), the MILP at the clusters' minima (reserved GPUs
    whole; it can bound better with few of them) within ``limit_s`` (at most ``MIN_MILP_S``;
    not run under a second). Returns the better bound and its report; adds the stage's report
    to ``stages``."""
    lower, bound_res = best
    limit = min(MIN_MILP_S, limit_s)
    if not _short_of(relative_gap(plan_usd, lower), run.settings.gap) or limit < 1.0:
        return lower, bound_res
    p = run.problem
    res = min_bound(
        p.opts, p.workloads, run.agg, run.points_existing, run.settings, run.progress, run.say,
        limit,
    )  # fmt: skip
    run.stages.add(StageReport.of("bound (MILP at cluster minima)", res))
    return larger_bound(lower, bound_res, res.bound, res)


def recover_schedule(
    run: ClusterRun, fleet: Fleet, room_s: float, pace_s: float
) -> tuple[float, list[HourSchedule], int, int, list[str]]:
    """The schedule of every real hour on ``fleet`` within ``room_s``: every hour solved
    exactly where ``exact_hours`` can; the others from the representative hours
    (``recover_from_points``). Returns (cost before overhead [USD], hours, points, hours
    re-solved, the phases the time cut short)."""
    problem, agg, say = run.problem, run.agg, run.say
    t0 = time.perf_counter()
    # the hours left unsolved at its share of the room are recovered from the points
    exact = exact_hours(problem, fleet, t0 + EXACT_HOURS_SHARE * room_s)
    room_s = max(1.0, room_s - (time.perf_counter() - t0))
    args = (problem.opts, problem.workloads, fleet)
    tokens = (problem.input_tokens, problem.output_tokens)
    if exact is not None and all(h is not None for h in exact):
        hours = [h for h in exact if h is not None]
        cost = hours_cost(*args, hours, *tokens)
        say(f"schedule with every hour solved exactly: ${cost:,.2f} before overhead")
        return cost, hours, agg.n_distinct, agg.n_distinct, []
    got = recover_from_points(problem, agg, run.upper_inp, fleet, run.settings, say, room_s, pace_s)
    if exact is None:
        return got
    cost, hours, points, resolved, cut = got
    # the hours solved exactly (all but those where an offer's cap binds across
    # deployments, or the time left) are optimal: they replace the recovered ones
    hours = [e if e is not None else h for e, h in zip(exact, hours, strict=True)]
    cost = hours_cost(*args, hours, *tokens)
    say(f"schedule with the hours solved exactly: ${cost:,.2f} before overhead")
    return cost, hours, points, resolved, cut


def recover_from_points(
    problem: Problem,
    agg: Aggregation,
    upper_inp: ModelInput,
    fleet: Fleet,
    settings: SolverSettings,
    say: Progress,
    room_s: float,
    pace_s: float,
) -> tuple[float, list[HourSchedule], int, int, list[str]]:
    """The schedule of every real hour on ``fleet`` within ``room_s``: from every distinct
    hour as a point of its own where the time allows (at ``pace_s`` a point, with a margin);
    else from finer representative hours (at their maxima, trimmed per hour), or, with
    HiGHS, from the clusters' and then every real hour re-solved on its representative's
    lanes. Returns (cost before overhead [USD], hours, points, hours re-solved, the phases
    the time cut short)."""
    opts, workloads = problem.opts, problem.workloads
    requests, input_tokens, output_tokens = (
        problem.requests,
        problem.input_tokens,
        problem.output_tokens,
    )
    ex, ex_names = problem.existing_matrix(), problem.existing_names
    points, resolved, cut = agg.n_points, 0, []
    # as many points as the room holds at the estimates' mean pace, with a margin (the
    # maxima are slower to solve than the hours near the means): points left at the
    # deadline keep rounded schedules, and the bound's share stays untouched
    n_fine = int(FINE_MARGIN * room_s / pace_s) if math.isfinite(pace_s) else 0
    got: Recovered | None = None
    rep_labels = agg.labels
    deadline = time.perf_counter() + room_s
    if n_fine > agg.n_points and (n_fine >= agg.n_distinct or settings.name != "highs"):
        fine = aggregate_hours(requests, input_tokens, output_tokens, ex, n_fine)
        fine_inp = ModelInput(
            workloads,
            fine.upper,
            fine.upper_in,
            fine.upper_out,
            fine.weights,
            existing_at_points(fine, ex, ex_names),
        )
        got = recover_hours(problem, fine.labels, fine_inp, fleet, settings, say, deadline)
        if got is not None:
            points, rep_labels = fine.n_points, fine.labels
            say(f"schedule from {fine.n_points} points: ${got[0]:,.2f} before overhead")
    if got is None:
        got = recover_hours(problem, agg.labels, upper_inp, fleet, settings, say, deadline)
        if got is not None:
            say(f"schedule from {agg.n_points} points: ${got[0]:,.2f} before overhead")
    if got is None:
        raise SolverError(
            "No hour-by-hour schedule could be recovered from the representative hours. "
            "Try --aggregate exact or a larger --time-limit."
        )
    cost, hours, rep_points = got
    if points < agg.n_distinct and settings.name == "highs":
        # HiGHS runs in-process (CBC pays a process start per solve): every real hour gets
        # a small integer solve of its own on its representative's lanes
        reserved = {key: n for key, n in fleet.items() if n > 0}
        hours, resolved = refine_hours(
            problem, rep_points, rep_labels, reserved, hours, settings, deadline
        )
        cost = hours_cost(opts, workloads, reserved, hours, input_tokens, output_tokens)
        say(
            f"schedule with {resolved} of {agg.n_distinct} hours re-solved: "
            f"${cost:,.2f} before overhead"
        )
        if resolved < agg.n_distinct:
            cut.append(f"the schedule recovery ({resolved} of {agg.n_distinct} hours re-solved)")
    elif points < agg.n_distinct:
        cut.append(f"the schedule recovery ({points} of {agg.n_distinct} hours)")
    return cost, hours, points, resolved, cut


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
    started_at: float | None = None,
) -> FleetSolution:
    """Find the minimum-cost fleet for the hourly demand arrays (``(H, W)`` each):
    ``solve_problem`` on them."""
    problem = Problem(
        opts, workloads, requests, input_tokens, output_tokens, dict(existing_gpus or {})
    )
    return solve_problem(
        problem, settings, aggregate=aggregate, progress=progress, started_at=started_at
    )


def solve_problem(
    problem: Problem,
    settings: SolverSettings = SolverSettings(),
    *,
    aggregate: str | int = "auto",
    progress: Progress | None = None,
    started_at: float | None = None,
) -> FleetSolution:
    """Find the minimum-cost fleet for ``problem`` within the time budget
    (``settings.time_limit_s``, else ``budget.default_budget_s``), counted from
    ``started_at`` (``time.perf_counter()``: where the whole solve began, before its options
    were built) or from now; the solver keeps at least ``MIN_SOLVE_SHARE`` of it."""
    t_start = time.perf_counter() if started_at is None else started_at
    prep_s = time.perf_counter() - t_start
    problem = without_idle_commitments(problem)
    causes = find_infeasibilities(problem.opts, problem.workloads, problem.requests)
    if causes:
        raise InfeasibleError(explain(problem.opts, causes))
    ex = problem.existing_matrix()
    agg = aggregate_hours(
        problem.requests, problem.input_tokens, problem.output_tokens, ex, aggregate
    )
    fixed = solve_fixed_fleet(problem, agg, settings, t_start, progress)
    if fixed is not None:
        return fixed
    whole = TimeBudget.for_solve(settings.time_limit_s, agg.n_distinct, start=t_start)
    floored = whole.leave_at_least(MIN_SOLVE_SHARE)
    # a minimum rental re-solves the hours with the rule at the end: it keeps its share
    budget = whole.first(1.0 - RENTAL_SHARE) if problem.opts.min_rental_hours > 1 else whole
    progress = timed(progress, budget)
    fm, upper_inp, points_existing, build_s = _build(problem, agg, ex, progress, budget)
    clustered = agg.mode == "clustered"
    # with "auto", an hourly MILP that stops short of its gap hands over to the decomposition
    hybrid = not clustered and aggregate == "auto"
    stages = StageLog(budget, progress)
    res, limit = first_solve(problem, fm, settings, budget, stages, progress, clustered, hybrid)
    run = ClusterRun(problem, agg, fm, upper_inp, points_existing, settings, progress, stages, res)
    api_only = None
    if not problem.existing_gpus:  # committed GPUs already carry the overhead
        api_only = api_only_cost(
            problem.opts,
            problem.workloads,
            problem.requests,
            problem.input_tokens,
            problem.output_tokens,
        )
    found = _Found(res, agg.describe(), build_s, t_start, settings.gap)
    if prep_s >= max(1.0, PREP_NOTE_SHARE * whole.total_s):
        found.warnings.append(_preparation_note(prep_s, whole, floored))
    if api_only is not None and _all_api_first(res, api_only, hybrid, settings):
        return _all_api_plan(run, res, api_only, found)
    _improve(run, res, limit, budget, found, hybrid)
    if not found.solved:
        raise no_plan_error(res, budget)
    sol = found.solution(problem, run.fm, api_only, budget, run.stages, run.say)
    return enforce_min_rental(problem, sol, settings, whole)


def without_idle_commitments(problem: Problem) -> Problem:
    """``problem`` without the committed pools that hold no GPU in any hour (a commitment
    wholly outside the horizon). Such a pool is no commitment of this plan: the plan pays
    neither its spend nor the self-hosting overhead for it (``existing_rows`` leaves it out),
    so the solve must not either. Kept, it took the fixed-fleet path, which charged the
    overhead: a "bound" of $166.73 against an all-API plan of $0.06."""
    held = {g: v for g, v in problem.existing_gpus.items() if np.any(np.asarray(v) > 0)}
    if len(held) == len(problem.existing_gpus):
        return problem
    return replace(problem, existing_gpus=held)


def _build(
    problem: Problem,
    agg: Aggregation,
    ex: np.ndarray | None,
    progress: Progress | None,
    budget: TimeBudget,
) -> tuple[FleetModel, ModelInput, dict[str, np.ndarray], float]:
    """The fleet model at the points' maxima, its input, the committed GPUs per point and
    the build's seconds."""
    say = progress or (lambda _m: None)
    say(
        f"aggregate: {agg.mode}, {agg.n_points} model points for {problem.requests.shape[0]} "
        f"hours; time budget {budget.describe()}"
    )
    points_existing = existing_at_points(agg, ex, problem.existing_names)
    t0 = time.perf_counter()
    upper_inp = ModelInput(
        problem.workloads, agg.upper, agg.upper_in, agg.upper_out, agg.weights, points_existing
    )
    # representative hours stand for many real hours: their replica counts are rounded per
    # real hour in recovery, so the model keeps only the reserved fleet integer
    fm = build_model(problem.opts, upper_inp, relax_replicas=agg.mode == "clustered")
    build_s = time.perf_counter() - t0
    say(
        f"build: {fm.n_variables:,} variables ({fm.n_integer:,} integer), "
        f"{fm.n_constraints:,} constraints in {build_s:.1f} s"
    )
    return fm, upper_inp, points_existing, build_s


def _all_api_plan(
    run: ClusterRun, res: SolverResult, api_only: float, found: _Found
) -> FleetSolution:
    """The all-API plan, cheaper than the first solve's fleet, with the best bound known."""
    run.say(f"all-API plan (${api_only:,.2f}) is cheaper than any self-hosted fleet")
    bound = api_only if res.bound is None else min(api_only, res.bound)
    if run.agg.mode == "clustered":
        p = run.problem
        lb_res = lower_solve(
            p.opts,
            p.workloads,
            run.agg,
            run.points_existing,
            run.settings,
            run.progress,
            run.say,
            res.objective,
        )[0]
        run.stages.add(StageReport.of("bound (clusters)", lb_res))
        bound = api_only if lb_res.bound is None else min(api_only, lb_res.bound)
    found.lower = bound
    return found.all_api(run.problem, run.stages)


def _improve(
    run: ClusterRun,
    res: SolverResult,
    limit: float,
    budget: TimeBudget,
    found: _Found,
    hybrid: bool,
) -> None:
    """After the first solve: read its plan, then decompose (hybrid), bound (hourly MILP
    short of its gap) or run the clustered stages; ``found`` holds the result."""
    clustered = run.agg.mode == "clustered"
    fm, p = run.fm, run.problem
    if res.time_limited and not clustered:
        found.unproven_notes.append(
            f"The MILP over every hour stopped at its time limit ({limit:.3g} s of the time "
            f"budget, {budget.describe()}); the plan is the best found, with the gap reported."
        )
    if res.status in SOLVED:
        found.read(fm, p.opts, run.agg, p.requests.shape[0])
    proven = not _short_of(relative_gap(res.objective, res.bound), run.settings.gap)
    if hybrid and not proven:
        _decompose_and_polish(
            p, run.agg, fm, limit, run.settings, run.progress, run.say, budget, run.stages, found
        )
    elif not clustered:
        if res.objective is not None and not proven:
            # the MILP stopped short of its gap: the hourly Lagrangian may bound better
            _, lag_res = hourly_bound(
                p,
                run.agg,
                run.upper_inp,
                run.settings,
                run.progress,
                run.say,
                res.objective - fm.constant_usd,
                max(0.5, budget.left()),
                fm.constant_usd,
            )
            run.stages.add(StageReport.of("bound (hourly Lagrangian)", lag_res))
            found.bounded_by(lag_res.bound, lag_res)
    else:
        # the bound first: its cutting planes' prices propose a fleet
        got = solve_clustered(run, budget)
        found.reserved, found.hours, found.cut = got.fleet, got.hours, got.cut
        found.bound_res, found.lower = got.bound_res, got.lower
        found.agg_info = {**found.agg_info, **got.recovery}


def solve_fixed_fleet(
    problem: Problem,
    agg: Aggregation,
    settings: SolverSettings,
    t_start: float,
    progress: Progress | None,
) -> FleetSolution | None:
    """Where the pool is fixed (committed GPUs only, nothing for sale to it, no minimum
    rental) and every hour is solved exactly (``exact_hours``, within half the budget): that
    plan, proven optimal, with no solver run. None otherwise (or where an hour is not solved
    exactly)."""
    opts = problem.opts
    for_sale = any(opts.pool_tiers(d.pool_key) for d in opts.deployments.values())
    if not problem.existing_gpus or for_sale or opts.min_rental_hours > 1:
        return None
    t0 = time.perf_counter()
    # at most half the budget: what it leaves goes to the pipeline
    whole = TimeBudget.for_solve(settings.time_limit_s, agg.n_distinct, start=t_start)
    exact = exact_hours(problem, {}, t_start + 0.5 * whole.total_s)
    if exact is None or any(h is None for h in exact):
        return None
    hours = [h for h in exact if h is not None]
    overhead = self_hosting_overhead_usd(
        opts.monthly_overhead_usd, problem.n_hours, self_hosts=True, has_commitments=True
    )
    usd = overhead + hours_cost(
        opts, problem.workloads, {}, hours, problem.input_tokens, problem.output_tokens
    )
    # each hour's optimum within the cover rows' tolerance: a millionth below is proven
    lower = usd - 1e-6 * abs(usd)
    seconds = time.perf_counter() - t0
    res = SolverResult("exact hours", Status.OPTIMAL, seconds, usd, lower, 0.0)
    if progress is not None:
        progress(f"fixed fleet: every hour solved exactly in {seconds:.1f} s, ${usd:,.2f}")
    return FleetSolution(
        reserved={},
        hours=hours,
        solver=res,
        bound_solver=None,
        lower_bound=lower,
        aggregation=agg.describe(),
        build_seconds=0.0,
        seconds=time.perf_counter() - t_start,
        stages=[StageReport.of("every hour exact (fixed fleet)", res)],
        gap_tolerance=settings.gap,
    )


def _preparation_note(prep_s: float, whole: TimeBudget, floored: bool) -> str:
    """The warning of a solve whose options took a noticeable share of its time budget."""
    rest = (
        f"{MIN_SOLVE_SHARE:.0%} of it was kept to find the plan, so the whole solve ran past it"
        if floored
        else f"{max(0.0, whole.total_s - prep_s):.1f} s were left to find the plan"
    )
    return (
        f"Preparing the options (each deployment's capacity under load) took {prep_s:.1f} s "
        f"of the time budget ({whole.describe()}); {rest}. The capacities are cached: the "
        "next solve with these workloads and catalog skips this."
    )


def no_plan_error(res: SolverResult, budget: TimeBudget) -> SolverError:
    """The error of a solve that found no plan: why the back-end failed where it says
    (a numerical failure is not the time budget's fault), else the time budget."""
    if res.failure:
        return SolverError(f"The solver found no plan: {res.failure}")
    return SolverError(
        f"The solver found no plan ({res.status}) within the time budget "
        f"({budget.describe()}). Raise --time-limit, loosen --gap, or try --solver highs."
    )


def first_solve(
    problem: Problem,
    fm: FleetModel,
    settings: SolverSettings,
    budget: TimeBudget,
    stages: StageLog,
    progress: Progress | None,
    clustered: bool,
    hybrid: bool,
) -> tuple[SolverResult, float]:
    """The first model's solve — the fleet model at the cluster maxima, or the MILP over
    every hour — and the time limit it was given; a plan the solver proved impossible, or
    none found where no decomposition follows, is an error."""
    opts, say = problem.opts, progress or (lambda _m: None)
    if clustered:
        limit = 0.6 * budget.left()
    elif hybrid:
        limit = HYBRID_MILP_SHARE * budget.left()
    elif settings.name == "cbc":
        # a MILP stopped by the limit leaves the hourly bound a share of it (CBC only: its
        # own bound is the weak one where hours share replicas; HiGHS's is measured tighter
        # than the Lagrangian there, so it keeps the whole limit)
        limit = budget.left() - min(LAGRANGE_S, EXACT_BOUND_SHARE * budget.total_s)
    else:
        limit = budget.left()
    if hybrid and fm.n_integer > MILP_MAX_INTEGERS:
        # measured at 168 h x 10 workloads (25,385 integer columns): neither back-end's
        # incumbent came near the decomposition's plan, and HiGHS ran 26 s past a 9 s limit
        say(f"MILP over every hour left out ({fm.n_integer:,} integer columns): decomposition")
        res = SolverResult(settings.name, Status.NOT_SOLVED, 0.0, None, None, None)
        limit = 0.0
    else:
        limit = max(limit, 0.1)
        res = run_solver(fm, replace(settings, time_limit_s=limit), progress, "solve", opts)
        first = (
            "fleet model (cluster maxima, replicas relaxed)" if clustered else "MILP (every hour)"
        )
        stages.add(StageReport.of(first, res))
    if res.status == Status.INFEASIBLE:
        raise InfeasibleError(diagnose_infeasible(opts, problem.workloads, problem.requests))
    if res.status not in SOLVED and not hybrid:
        raise no_plan_error(res, budget)
    return res, limit


def _all_api_first(
    res: SolverResult, api_only: float | None, hybrid: bool, settings: SolverSettings
) -> bool:
    """All-API wins outright where no self-hosted plan can beat it (the bound) or the
    MILP's plan is final; an unproven hourly MILP first hands over to the decomposition
    (under "auto"), and the all-API plan is compared with the plan found at the end."""
    final_first = not hybrid or not _short_of(relative_gap(res.objective, res.bound), settings.gap)
    return (
        api_only is not None
        and res.objective is not None
        and api_only <= res.objective
        and (final_first or (res.bound is not None and api_only <= res.bound))
    )


@dataclass
class _Found:
    """What ``solve_problem``'s stages have found so far: the best plan, the best bound and
    its report, what the time budget cut short."""

    res: SolverResult
    agg_info: dict[str, Any]
    build_s: float
    t_start: float
    gap_tolerance: float
    reserved: dict[tuple[str, str], int] = field(default_factory=dict)
    hours: list[HourSchedule] = field(default_factory=list)
    solved: bool = False
    bound_res: SolverResult | None = None
    warnings: list[str] = field(default_factory=list)
    unproven_notes: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    lower: float | None = field(init=False)  # [USD]
    time_limited: bool = field(init=False)

    def __post_init__(self) -> None:
        self.lower = self.res.bound
        self.time_limited = self.res.time_limited

    def read(self, fm: FleetModel, opts: OptionSet, agg: Aggregation, n_hours: int) -> None:
        """The first model's plan, its points' schedules laid on the real hours."""
        points = read_points(fm, opts, self.res)
        self.reserved = self.res.whole(fm.R)
        self.hours = [points[int(agg.labels[h])] for h in range(n_hours)]
        self.solved = True

    def bounded_by(self, bound: float | None, report: SolverResult) -> None:
        """A stage's bound: kept if it is the larger."""
        self.time_limited = self.time_limited or report.time_limited
        self.lower, self.bound_res = larger_bound(self.lower, self.bound_res, bound, report)

    def all_api(self, problem: Problem, stages: StageLog) -> FleetSolution:
        """Every hour to the API, at the bound found."""
        hours = all_api_hours(problem.workloads, problem.requests)
        return self._solution({}, hours, True, self.lower, None, self.res.time_limited, stages)

    def _solution(
        self,
        reserved: dict[tuple[str, str], int],
        hours: list[HourSchedule],
        api_only: bool,
        lower: float | None,
        bound_res: SolverResult | None,
        time_limited: bool,
        stages: StageLog,
    ) -> FleetSolution:
        return FleetSolution(
            reserved=reserved,
            hours=hours,
            api_only=api_only,
            solver=self.res,
            bound_solver=bound_res,
            lower_bound=lower,
            aggregation=self.agg_info,
            build_seconds=self.build_s,
            warnings=self.warnings,
            unproven_notes=self.unproven_notes,
            seconds=time.perf_counter() - self.t_start,
            stages=stages.reports,
            time_limited=time_limited,
            gap_tolerance=self.gap_tolerance,
        )

    def solution(
        self,
        problem: Problem,
        fm: FleetModel,
        api_only: float | None,
        budget: TimeBudget,
        stages: StageLog,
        say: Progress,
    ) -> FleetSolution:
        """The solution: the plan found, or all-API where that is cheaper."""
        if self.cut:
            self.time_limited = True
            self.unproven_notes.append(
                f"The time budget ({budget.describe()}) cut {', '.join(self.cut)} short; the "
                f"plan is the best found, with its gap."
            )
        lower = self.lower
        if lower is not None and api_only is not None:
            lower = min(lower, api_only)
        reserved, hours, all_api = self.reserved, self.hours, False
        if api_only is not None:
            usd = hours_cost(
                problem.opts,
                problem.workloads,
                reserved,
                hours,
                problem.input_tokens,
                problem.output_tokens,
            )
            if api_only < usd + fm.constant_usd:
                say(f"all-API plan (${api_only:,.2f}) is cheaper than the fleet found")
                reserved, hours = {}, all_api_hours(problem.workloads, problem.requests)
                all_api = True
        return self._solution(
            reserved, hours, all_api, lower, self.bound_res, self.time_limited, stages
        )


def _decompose_and_polish(
    problem: Problem,
    agg: Aggregation,
    fm: FleetModel,
    limit: float,
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    budget: TimeBudget,
    stages: StageLog,
    found: _Found,
) -> None:
    """An hourly MILP short of its gap: the decomposition, its plan kept where cheaper,
    then the MILP again from the best plan (``polish``)."""
    res = found.res
    got = decompose(
        problem,
        settings,
        progress,
        say,
        budget,
        stages,
        found.reserved if found.solved else None,
        polish_follows=fm.n_integer <= MILP_MAX_INTEGERS,
    )
    if got is None:
        return
    d_reserved, d_hours, d_usd, d_bound_res, d_lower, d_info, found.cut = got
    found.lower, found.bound_res = larger_bound(found.lower, found.bound_res, d_lower, d_bound_res)
    if res.objective is None or d_usd < res.objective - 1e-6:
        found.reserved, found.hours = d_reserved, d_hours
        found.agg_info = {**found.agg_info, **d_info}
        say(f"decomposition's plan kept: ${d_usd:,.2f}")
    found.solved = True
    overrun = max(0.0, res.seconds - limit)
    polished = polish(
        problem,
        agg,
        fm,
        found.reserved,
        found.hours,
        found.lower,
        settings,
        progress,
        budget,
        overrun,
    )
    if polished is not None:
        p_res, p_reserved, p_hours = polished
        stages.add(StageReport.of("MILP (every hour, from the plan so far)", p_res))
        found.bounded_by(p_res.bound, p_res)
        if p_reserved is not None:
            found.reserved, found.hours = p_reserved, p_hours
            say(f"the MILP improved the plan: ${p_res.objective:,.2f}")


def polish(
    problem: Problem,
    agg: Aggregation,
    fm: FleetModel,
    reserved: Fleet,
    hours: list[HourSchedule],
    lower: float | None,
    settings: SolverSettings,
    progress: Progress | None,
    budget: TimeBudget,
    overrun_s: float,
) -> tuple[SolverResult, Fleet | None, list[HourSchedule]] | None:
    """The MILP over every distinct hour (``fm``, on the exact ``agg``) again, started from
    the plan found so far, on what the budget has left (less what its first run ran past
    its limit, ``overrun_s``, and the time kept to finish). Returns its report and, where it
    found a cheaper plan, that plan's fleet and hours (else None and no hours); None where
    too little time is left or the plan is not a point of the model."""
    finish = finish_s(problem)
    limit = budget.left() - overrun_s - finish
    if limit < POLISH_MIN_S or fm.n_integer > MILP_MAX_INTEGERS:
        return None
    first: dict[int, int] = {}
    for h, t in enumerate(agg.labels):
        first.setdefault(int(t), h)
    points = [hours[first[t]] for t in range(agg.n_points)]
    warm = plan_start(fm, reserved, points, -math.inf if lower is None else lower)
    if warm is None:
        return None
    start_usd = warm.objective
    res = run_solver(fm, replace(settings, time_limit_s=limit), progress, "polish", None, warm)
    if not math.isfinite(res.bound or 0.0):
        res.bound = None
        res.gap = None
    if res.status not in SOLVED or res.objective is None or res.objective >= start_usd - 1e-6:
        return res, None, []
    solved = read_points(fm, problem.opts, res)
    return (
        res,
        res.whole(fm.R),
        [solved[int(agg.labels[h])] for h in range(problem.requests.shape[0])],
    )


def decompose(
    problem: Problem,
    settings: SolverSettings,
    progress: Progress | None,
    say: Progress,
    budget: TimeBudget,
    stages: StageLog,
    milp_fleet: Fleet | None,
    polish_follows: bool = False,
) -> tuple[Fleet, list[HourSchedule], float, SolverResult, float | None, dict, list[str]] | None:
    """The clustered pipeline (``DECOMPOSE_CLUSTERS`` representative hours choose the fleet,
    every real hour recovered, the bound) on what the budget has left, after an hourly MILP
    that stopped short of its gap; with no more distinct hours than that, each is a point of
    its own. Returns (fleet, hours, plan cost [USD, overhead included], bound report, bound,
    aggregation detail, phases cut short), or None where the fleet model is not solved. The
    MILP's incumbent fleet (``milp_fleet``) is one of the search's candidates; with
    ``polish_follows`` the MILP runs again afterwards and keeps its time."""
    opts = problem.opts
    workloads = problem.workloads
    requests = problem.requests
    input_tokens = problem.input_tokens
    output_tokens = problem.output_tokens
    existing_gpus = problem.existing_gpus
    ex = problem.existing_matrix()
    # with no more distinct hours than that, each is a point of its own (exact)
    agg = aggregate_hours(requests, input_tokens, output_tokens, ex, DECOMPOSE_CLUSTERS)
    ex_names = sorted(existing_gpus)
    points_existing = existing_at_points(agg, ex, ex_names)
    upper_inp = ModelInput(
        workloads, agg.upper, agg.upper_in, agg.upper_out, agg.weights, points_existing
    )
    fm = build_model(opts, upper_inp, relax_replicas=True)
    res = run_solver(fm, replace(settings, time_limit_s=max(budget.left(), 0.1)), None, "clusters")
    stages.add(StageReport.of("fleet model (cluster maxima, replicas relaxed)", res))
    if res.status not in SOLVED:
        return None
    run = ClusterRun(problem, agg, fm, upper_inp, points_existing, settings, progress, stages, res)
    extra = () if milp_fleet is None else (milp_fleet,)
    got = solve_clustered(run, budget, extra, polish_follows)
    usd = (
        hours_cost(opts, workloads, got.fleet, got.hours, input_tokens, output_tokens)
        + fm.constant_usd
    )
    info = {"decomposition_points": agg.n_points, **got.recovery}
    return got.fleet, got.hours, usd, got.bound_res, got.lower, info, got.cut
