"""Run one built model through CBC or HiGHS (through PuLP) and report what the solver said;
warm starts from the LP relaxation rounded up."""

from __future__ import annotations

import enum
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pulp

from advisor.defaults import DEFAULT_SOLVER
from advisor.errors import SolverError
from advisor.milp import POOL, FleetModel, Values, objective_usd, value_of
from advisor.options import OptionSet
from advisor.processes import Interrupted, kill_after

SOLVERS = ("cbc", "highs")


class Status(enum.StrEnum):
    """How a solver run, a stage or a whole solve ended (equal to its string value, which
    is what plan.json holds)."""

    OPTIMAL = "optimal"  # the gap asked for is proven
    FEASIBLE = "feasible"  # a solution, the gap not proven
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NOT_SOLVED = "not_solved"  # stopped without a solution
    TIME_LIMITED = "time_limited"  # a whole solve the time budget cut short, gap not proven
    DONE = "done"  # a heuristic stage that finished its work (no gap of its own)


#: The statuses that come with a solution.
SOLVED = (Status.OPTIMAL, Status.FEASIBLE)
#: A CBC run is killed this long past its time limit (seconds, plus a share of the limit):
#: a start, where there is one, stands as its result.
CBC_GRACE_S = 2.0
CBC_GRACE_SHARE = 0.25


Progress = Callable[[str], None]


@dataclass(frozen=True)
class SolverSettings:
    """How to run the MILP solver."""

    name: str = DEFAULT_SOLVER
    time_limit_s: float | None = None
    gap: float = 1e-3
    threads: int = 1
    seed: int = 7

    def __post_init__(self) -> None:
        if self.name not in SOLVERS:  # refused before any work, not at the first solve
            raise SolverError(f"Unknown solver '{self.name}'. Use --solver cbc or --solver highs.")


@dataclass
class SolverResult:
    """What one solver run reported."""

    name: str
    status: Status
    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None
    time_limited: bool = False
    #: the solution found, one value per variable (empty: none); the model keeps no values
    values: Values = field(default_factory=dict, repr=False)
    #: an LP's duals by constraint name (empty for a MILP or where none were reported)
    duals: dict[str, float] = field(default_factory=dict, repr=False)
    #: why the back-end failed without a result ("" where it did not fail): the text of
    #: the error a solve with no plan ends on
    failure: str = ""

    def value(self, var: pulp.LpVariable | None) -> float:
        """``var``'s value in the solution, 0 where it has none."""
        return value_of(self.values, var)

    def whole(self, columns: Mapping[Any, pulp.LpVariable]) -> dict[Any, int]:
        """The solution's value of each of ``columns`` rounded to a whole number, zeros
        left out (a fleet from the reserved columns ``fm.R``)."""
        out = {key: round(self.value(v)) for key, v in columns.items()}
        return {key: n for key, n in out.items() if n > 0}

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
    try:
        if warm is None and settings.name == "cbc" and opts is not None and fm.n_integer > 0:
            warm = lp_rounding_start(fm, opts)
            if warm is not None and progress is not None:
                progress(
                    f"{phase}: LP bound {warm.lp_objective:,.2f}, rounded start "
                    f"{warm.objective:,.2f}"
                )
        if settings.time_limit_s is not None:
            # the start's LP counts against the limit: the solver gets what is left of it
            used = time.perf_counter() - start
            settings = replace(settings, time_limit_s=max(0.1, settings.time_limit_s - used))
        res = _run_backend(fm, settings, progress, phase, start, warm)
    finally:
        # what PuLP wrote into the model (the start, the solution, the duals) leaves it
        values, duals = take_solution(fm.prob)
    if res.objective is not None and not res.values:
        res.values, res.duals = values, duals
    # the model's objective leaves out a constant (the self-hosting overhead): add it back
    if res.objective is not None:
        res.objective += fm.constant_usd
    if res.bound is not None:
        # a bound on the objective bounds the plans' cost less the pool tie-break's slack,
        # which needs a solution to size (none: no bound)
        slack = fm.epsilon_slack.usd(res.objective)
        res.bound = res.bound + fm.constant_usd - slack if math.isfinite(slack) else None
    if warm is not None:
        better = res.objective is not None and res.objective <= warm.objective + 1e-9
        # the start is a feasible point: a run that found nothing better, or that was cut
        # short and called the model infeasible (CBC's log, read after 0.1 s), leaves it
        if not better:
            res.values, res.duals = dict(warm.values), {}
            res.objective = warm.objective
            res.status = Status.FEASIBLE
        res.bound = warm.lp_objective if res.bound is None else max(res.bound, warm.lp_objective)
        if res.bound > res.objective:
            res.bound = res.objective
    res.gap = relative_gap(res.objective, res.bound)
    return res


def _run_backend(
    fm: FleetModel,
    settings: SolverSettings,
    progress: Progress | None,
    phase: str,
    start: float,
    warm: StartSolution | None,
) -> SolverResult:
    """One run of the back-end named in ``settings`` from ``warm`` (if any)."""
    if settings.name != "cbc":
        return _run_highs(fm, settings, start, warm)
    if warm is not None:
        warm.apply()  # CBC takes its start from the variables' values
    try:
        return run_cbc(fm, settings, progress, phase, start, warm is not None)
    except SolverError:
        if warm is None:
            raise
        # CBC exited abnormally (seen once in a full test run on a loaded machine, a
        # 3 s limit on the shipped mixed_week example): the feasible start stands
        if progress is not None:
            progress(f"{phase}: CBC exited abnormally; keeping the rounded start")
        return SolverResult("cbc", Status.NOT_SOLVED, time.perf_counter() - start, None, None, None)


def take_solution(prob: pulp.LpProblem) -> tuple[Values, dict[str, float]]:
    """The values and duals PuLP wrote into ``prob``'s variables and rows, taken out: the
    model is left holding none (a model is a formulation; results travel in
    ``SolverResult``)."""
    values: Values = {}
    for v in prob.variables():
        if v.varValue is not None:
            values[v] = float(v.varValue)
        v.varValue = None
    duals: dict[str, float] = {}
    for name, c in prob.constraints.items():
        if c.pi is not None:
            duals[name] = float(c.pi)
        c.pi = None
        c.slack = None
    return values, duals


@dataclass
class StartSolution:
    """A feasible integer solution from rounding the LP relaxation up."""

    lp_objective: float  # a valid lower bound [USD], the model's constant included
    objective: float  # the start's cost [USD]
    values: dict[pulp.LpVariable, float]

    def apply(self) -> None:
        """Write the start into its model's variables, where PuLP's CBC reads a start from
        (``run_solver`` takes it out again)."""
        for var, v in self.values.items():
            var.setInitialValue(v)


def lp_rounding_start(fm: FleetModel, opts: OptionSet) -> StartSolution | None:
    """Solve the LP relaxation and round it up into a feasible integer solution.

    Replicas are rounded up (shares and API fractions keep their LP values, so coverage
    holds) and each GPU type's reserved pool is raised to its largest hourly pool use, on its
    cheapest pool tier. Returns None where no start is found (an availability cap in the way,
    or the LP not solved). The LP optimum is also a valid lower bound.
    """
    # the LP relaxation solved as such (CBC's initialSolve), the model's integer
    # variables left integer rather than flipped to continuous and back
    fm.prob.solve(pulp.PULP_CBC_CMD(msg=False, mip=False))
    solved = fm.prob.status == pulp.LpStatusOptimal
    lp, _ = take_solution(fm.prob)
    if not solved:
        return None
    lp_obj = objective_usd(fm.prob, lp) + fm.constant_usd
    # the LP solution can sit a hair outside a bound (-1e-12); a start must be within them
    start = {v: _within_bounds(v, value_of(lp, v)) for v in fm.prob.variables()}
    pool_use: dict[tuple[str, int], float] = {}
    hourly_use: dict[tuple[str, str, int], float] = {}
    for (k, s, t), var in fm.x.items():
        n = float(math.ceil(value_of(lp, var) - 1e-7))
        start[var] = n
        dep = opts.deployments[k]
        if s == POOL:
            pool_use[(dep.pool_key, t)] = pool_use.get((dep.pool_key, t), 0.0) + n * dep.units
        else:
            hourly_use[(dep.pool_key, s, t)] = (
                hourly_use.get((dep.pool_key, s, t), 0.0) + n * dep.units
            )
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
    return StartSolution(lp_obj - fm.epsilon_slack.usd(cost), float(cost), start)


def _within_bounds(var: pulp.LpVariable, v: float) -> float:
    if var.lowBound is not None:
        v = max(v, float(var.lowBound))
    if var.upBound is not None:
        v = min(v, float(var.upBound))
    return v


def run_cbc(
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
    solver.tmpDir = tmp  # CBC's command line names its files there: the guard finds it by it
    stop, killed = threading.Event(), threading.Event()
    threads = []
    if progress is not None:
        threads.append(threading.Thread(target=_watch_cbc, args=(log_path, stop, progress, phase)))
    if settings.time_limit_s is not None:
        # CBC was seen running 10 s past a 1 s limit: past its limit and a grace it is killed
        wait_s = settings.time_limit_s * (1.0 + CBC_GRACE_SHARE) + CBC_GRACE_S
        threads.append(threading.Thread(target=kill_after, args=(tmp, wait_s, stop, killed)))
    for t in threads:
        t.daemon = True
        t.start()
    try:
        fm.prob.solve(solver)
    except pulp.PulpSolverError as exc:
        if not killed.is_set():
            raise SolverError(f"CBC failed: {exc}. Try --solver highs.") from None
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=1)
    seconds = time.perf_counter() - start
    log = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
    shutil.rmtree(tmp, ignore_errors=True)
    if killed.is_set():
        return SolverResult("cbc", Status.NOT_SOLVED, seconds, None, None, None, True)
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
        return SolverResult("cbc", Status.INFEASIBLE, seconds, None, None, None)
    if sol == pulp.LpSolutionOptimal and not time_limited:
        bound = _num(r"Lower bound:\s+([-\d.e+]+)", log)
        if bound is None:
            bound = objective
        return SolverResult(
            "cbc", Status.OPTIMAL, seconds, objective, bound, relative_gap(objective, bound)
        )
    if sol in (pulp.LpSolutionIntegerFeasible, pulp.LpSolutionOptimal):
        bound = _num(r"Lower bound:\s+([-\d.e+]+)", log)
        if bound is None:
            found = _CBC_PROGRESS.findall(log)
            bound = float(found[-1][2]) if found else None
        return SolverResult(
            "cbc",
            Status.FEASIBLE,
            seconds,
            objective,
            bound,
            relative_gap(objective, bound),
            time_limited,
        )
    if status == "Infeasible":
        return SolverResult("cbc", Status.INFEASIBLE, seconds, None, None, None)
    if status == "Unbounded":
        return SolverResult("cbc", Status.UNBOUNDED, seconds, None, None, None)
    return SolverResult("cbc", Status.NOT_SOLVED, seconds, None, None, None, time_limited)


_highs_banner_shown = False


def silence_highs_banner() -> None:
    """Make the process's first HiGHS instance with the standard output on the null device.

    HiGHS prints its banner ("Running HiGHS ...") when the first instance in a process is
    made, on file descriptor 1, below Python's ``sys.stdout`` (so ``redirect_stdout`` does
    not catch it, and a notebook kernel shows it): ``advisor solve --json`` then wrote text
    before the JSON. Call this before any HiGHS instance is made; later instances print
    nothing with their output off.
    """
    global _highs_banner_shown
    if _highs_banner_shown:
        return
    _highs_banner_shown = True
    try:
        import highspy
    except ImportError:
        return
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no descriptor 1 to protect
        highspy.Highs()
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


class _InterruptibleHiGHS(pulp.HiGHS):  # type: ignore[misc,name-defined]
    """PuLP's HiGHS with the solve on a thread of its own, so that a signal reaches Python
    while HiGHS runs (a solve on the main thread holds it in C until it returns: SIGINT and
    SIGTERM waited for the whole time limit). On any exception in the waiting thread
    (``KeyboardInterrupt``, ``processes.Interrupted``) HiGHS is asked to stop through its
    interrupt callbacks, its thread is joined, and the exception goes on."""

    #: variable values handed to HiGHS as its starting solution (``StartSolution.values``)
    start: Mapping[pulp.LpVariable, float] | None = None

    def callSolver(self, lp: pulp.LpProblem) -> None:
        h = lp.solverModel
        if self.start:
            given = [(v.index, self.start[v]) for v in lp.variables() if v in self.start]
            index = np.array([i for i, _ in given], dtype=np.int32)
            h.setSolution(len(given), index, np.array([x for _, x in given], dtype=float))
        stop = threading.Event()

        def interrupt(event: Any) -> None:
            if stop.is_set():
                event.interrupt()

        # the MIP's and the interior point's checks only: a Python call at every simplex
        # iteration cost 5% on a week's exact solve, these cost nothing measurable
        h.cbMipInterrupt += interrupt
        h.cbIpmInterrupt += interrupt
        thread = h.startSolve()
        try:
            while not h.wait(HIGHS_POLL_S)[0]:
                pass
        except BaseException:
            stop.set()
            thread.join()
            raise

    def buildSolverModel(self, lp: pulp.LpProblem) -> None:
        super().buildSolverModel(lp)
        check_highs_holds(lp, lp.solverModel, HIGHS_SMALL_MATRIX_VALUE)

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:
        # PuLP reads HiGHS's solution arrays whatever its status: after a solve error they
        # are empty or short ("list index out of range"), or hold values of no solution
        if not lp.solverModel.getSolution().value_valid:
            return pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound
        return super().findSolutionValues(lp)


#: Seconds between the waiting thread's checks for signals while HiGHS runs.
HIGHS_POLL_S = 0.05

#: The smallest matrix coefficient HiGHS keeps in-process (its ``small_matrix_value``; the
#: least it accepts). Its default, 1e-9, dropped the cover coefficients of an hour near the
#: demand limit (1e15 requests: one replica serves ~1e-11 of it), and the model became
#: infeasible. A model handed to a child process is read there at the default.
HIGHS_SMALL_MATRIX_VALUE = 1e-12
HIGHS_DEFAULT_SMALL_MATRIX_VALUE = 1e-9
#: HiGHS refuses a row holding a coefficient above this (its ``large_matrix_value``).
HIGHS_LARGE_MATRIX_VALUE = 1e15
#: A dropped coefficient that moves its row by less than this is harmless [row units]
#: (HiGHS's primal feasibility tolerance is 1e-7).
HIGHS_DROP_HARMLESS = 1e-9
#: HiGHS's model statuses that say it failed rather than proved or found anything.
HIGHS_FAILURES = ("kLoadError", "kModelError", "kPresolveError", "kSolveError", "kPostsolveError")


class HighsModelError(SolverError):
    """HiGHS does not hold the model PuLP built (a row refused, a coefficient dropped)."""


def check_highs_holds(lp: pulp.LpProblem, h: Any, small: float) -> None:
    """Raise :class:`HighsModelError` where HiGHS (``h``, just built from ``lp``) refused a
    row (a coefficient above ``HIGHS_LARGE_MATRIX_VALUE``) or dropped a coefficient below
    ``small`` that can move its row. PuLP ignores both statuses, and HiGHS then solved
    another model: fewer rows gave "list index out of range", dropped cover coefficients an
    infeasible model. Costs a count per row where nothing was dropped."""
    rows = lp.constraints
    if h.getNumRow() == len(rows) and h.getNumNz() == sum(len(c) for c in rows.values()):
        return
    for name, row in rows.items():
        for var, coef in row.items():
            if abs(coef) > HIGHS_LARGE_MATRIX_VALUE:
                raise HighsModelError(_scale_message(name, coef, "above", HIGHS_LARGE_MATRIX_VALUE))
            if 0 < abs(coef) < small and abs(coef) * _largest_abs(var) > HIGHS_DROP_HARMLESS:
                raise HighsModelError(_scale_message(name, coef, "below", small))


def _largest_abs(var: pulp.LpVariable) -> float:
    """The largest magnitude ``var`` may take (inf where unbounded)."""
    if var.lowBound is None or var.upBound is None:
        return math.inf
    return max(abs(float(var.lowBound)), abs(float(var.upBound)))


def _scale_message(row: str, coef: float, side: str, limit: float) -> str:
    """Why HiGHS cannot take a coefficient ``side`` ("above"/"below") its ``limit``."""
    what = "refuses rows with coefficients" if side == "above" else "drops coefficients"
    why = ""
    if row.startswith("cover_"):
        # a cover row's coefficient is one replica's capacity over the hour's demand
        why = (
            f" (one replica there serves {coef:.1e} times the hour's demand)"
            if side == "above"
            else f" (the hour's demand there is {1 / coef:.1e} times what one replica serves)"
        )
    return (
        f"HiGHS cannot solve this model: row '{row}' has a coefficient of {coef:.1e}{why}, "
        f"and HiGHS {what} {side} {limit:.0e}. Check the units of the demand and of any "
        "--capacity file, or try --solver cbc."
    )


def _coefficient_span(lp: pulp.LpProblem) -> tuple[float, float]:
    """The smallest and largest nonzero coefficient magnitude of ``lp``'s rows."""
    mags = [abs(c) for row in lp.constraints.values() for c in row.values() if c]
    return (min(mags), max(mags)) if mags else (0.0, 0.0)


def _highs_failure(lp: pulp.LpProblem, model_status: str) -> str:
    """The error of a HiGHS run that stopped on a failure status (a solve error)."""
    lo, hi = _coefficient_span(lp)
    return (
        f"HiGHS stopped with '{model_status}' (a numerical failure, not a proof that no plan "
        f"exists) on a model whose coefficients span {lo:.1e} to {hi:.1e}; a cover row's "
        "coefficient is one replica's capacity over an hour's demand, so a span this wide "
        "means a replica serves far more, or far less, than an hour's demand. Check the units "
        "of the demand and of any --capacity file, or try --solver cbc."
    )


#: Integer columns past which a time-limited HiGHS solve runs in a child process that is
#: killed at its deadline (``advisor.solve.highs_child``): in-process, HiGHS's root cut loop
#: on such models ignores the limit and every callback.
HIGHS_CHILD_INTEGERS = 12_000
#: Seconds a HiGHS child gets past its time limit before it is killed.
HIGHS_CHILD_GRACE_S = 2.0


def _run_highs(
    fm: FleetModel, settings: SolverSettings, start: float, warm: StartSolution | None = None
) -> SolverResult:
    if settings.time_limit_s is not None and fm.n_integer > HIGHS_CHILD_INTEGERS:
        try:
            return _run_highs_child(fm, settings, start, warm)
        except HighsModelError as exc:
            return _failed_highs(str(exc), time.perf_counter() - start)
    silence_highs_banner()
    solver = _InterruptibleHiGHS(
        msg=False,
        timeLimit=settings.time_limit_s,
        gapRel=settings.gap,
        threads=settings.threads,
        random_seed=settings.seed,
        small_matrix_value=HIGHS_SMALL_MATRIX_VALUE,
    )
    solver.start = None if warm is None else warm.values
    try:
        fm.prob.solve(solver)
    except Interrupted:
        raise
    except HighsModelError as exc:
        return _failed_highs(str(exc), time.perf_counter() - start)
    except Exception as exc:  # highspy raises plain exceptions
        raise SolverError(f"HiGHS failed: {exc}. Try --solver cbc.") from None
    seconds = time.perf_counter() - start
    h = fm.prob.solverModel
    info = h.getInfo()
    model_status = h.modelStatusToString(h.getModelStatus())
    if h.getModelStatus().name in HIGHS_FAILURES:
        return _failed_highs(_highs_failure(fm.prob, model_status), seconds)
    sol = fm.prob.sol_status
    objective = pulp.value(fm.prob.objective) if sol in (1, 2) else None
    bound = None
    if fm.n_integer > 0:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    elif objective is not None:
        bound = objective
    limited = "limit" in model_status.lower()
    if sol in (1, 2) and objective is not None:
        status = Status.OPTIMAL if (sol == 1 and not limited) else Status.FEASIBLE
        return SolverResult(
            "highs", status, seconds, objective, bound, relative_gap(objective, bound), limited
        )
    if "infeasible" in model_status.lower():
        return SolverResult("highs", Status.INFEASIBLE, seconds, None, None, None)
    if "unbounded" in model_status.lower():
        return SolverResult("highs", Status.UNBOUNDED, seconds, None, None, None)
    return SolverResult("highs", Status.NOT_SOLVED, seconds, None, None, None, limited)


def _failed_highs(failure: str, seconds: float) -> SolverResult:
    """A HiGHS run that failed without a result, and why (``SolverResult.failure``)."""
    return SolverResult("highs", Status.NOT_SOLVED, seconds, None, None, None, failure=failure)


def _run_highs_child(
    fm: FleetModel, settings: SolverSettings, start: float, warm: StartSolution | None
) -> SolverResult:
    """HiGHS on ``fm`` in a child process, killed ``HIGHS_CHILD_GRACE_S`` past the time
    limit (or at once on a signal); its last improving solution stands."""
    from advisor.solve import highs_child

    tmp = Path(tempfile.mkdtemp(prefix="advisor-highs-"))
    try:
        lp = fm.prob
        silence_highs_banner()
        builder = pulp.HiGHS(msg=False)
        builder.createAndConfigureSolver(lp)
        builder.buildSolverModel(lp)  # sets every variable's column index
        # the child reads the model file at HiGHS's default smallest coefficient
        check_highs_holds(lp, lp.solverModel, HIGHS_DEFAULT_SMALL_MATRIX_VALUE)
        lp.solverModel.writeModel(str(tmp / "model.mps"))
        columns = lp.variables()
        if warm is not None:
            values = np.zeros(len(columns))
            for v in columns:
                values[v.index] = warm.values.get(v, 0.0)
            highs_child.save(tmp / highs_child.START, values, warm.objective, -math.inf, "start")
        used = time.perf_counter() - start
        options = {
            "time_limit": max(0.1, float(settings.time_limit_s or 0.0) - used),
            "mip_rel_gap": settings.gap,
            "threads": settings.threads,
            "random_seed": settings.seed,
        }
        (tmp / "options.json").write_text(json.dumps(options))
        killed = _wait_child(
            [sys.executable, "-m", "advisor.solve.highs_child", str(tmp / "model.mps"),
             str(tmp), str(tmp / "options.json")],
            start + float(settings.time_limit_s or 0.0) + HIGHS_CHILD_GRACE_S,
        )  # fmt: skip
        got = None if killed else highs_child.load(tmp / highs_child.RESULT)
        if got is None or got["values"].size == 0:
            got = highs_child.load(tmp / highs_child.INCUMBENT) or got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _child_result(fm, got, killed, time.perf_counter() - start)


def _wait_child(cmd: list[str], deadline: float) -> bool:
    """Run ``cmd`` until it exits or ``deadline`` (``time.perf_counter()``); True where it
    was killed there. A signal (an exception here) kills it too, and goes on."""
    # the child imports advisor the way this process did, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while proc.poll() is None:
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                return True
            time.sleep(HIGHS_POLL_S)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _child_result(
    fm: FleetModel, got: dict[str, Any] | None, killed: bool, seconds: float
) -> SolverResult:
    """A HiGHS child's solution (``highs_child.load``), one value per variable of ``fm``."""
    status = "" if got is None else got["status"].lower()
    if got is None or got["values"].size == 0:
        if status.endswith(" error"):  # HiGHS's failure statuses ("Solve error", ...)
            return _failed_highs(_highs_failure(fm.prob, got["status"]), seconds)
        if "infeasible" in status:
            return SolverResult("highs", Status.INFEASIBLE, seconds, None, None, None)
        if "unbounded" in status:
            return SolverResult("highs", Status.UNBOUNDED, seconds, None, None, None)
        return SolverResult("highs", Status.NOT_SOLVED, seconds, None, None, None, True)
    values = {v: float(got["values"][v.index]) for v in fm.prob.variables()}
    objective = objective_usd(fm.prob, values)
    bound = got["bound"] if math.isfinite(got["bound"]) else None
    limited = killed or "limit" in status or status == "incumbent"
    done = status == "optimal" and not limited
    return SolverResult(
        "highs",
        Status.OPTIMAL if done else Status.FEASIBLE,
        seconds,
        objective,
        bound,
        relative_gap(objective, bound),
        limited,
        values,
    )


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    if abs(objective) < 1e-9:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))
