"""A solve's time: one budget for the whole solve, a report per stage, the whole solve's status."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.defaults import MAX_TIME_LIMIT_S, TIME_LIMIT_RANGE
from advisor.errors import SolverError
from advisor.solve.aggregate import AUTO_EXACT_LIMIT
from advisor.solve.backends import SolverResult, Status

#: Relative slack on the gap tolerance for calling a plan optimal: a solver that proves its
#: gap leaves its bound a rounding error below the plan's cost recomputed from the schedule.
GAP_SLACK = 1e-6
#: Time budget of a solve without --time-limit [s] where the distinct hours fit the exact
#: model: the shipped one-week examples solve within 20 s end to end with it.
DEFAULT_EXACT_BUDGET_S = 15.0
#: ...and beyond that (clustered). Stages end when their work is done, so small problems
#: take much less: the bound first (``LAGRANGE_S``, at most a fifth), the fleet search to
#: half of it (three quarters where every hour is solved exactly, keeping the recovery's
#: time), the schedule recovery the rest less the finish's (``pipeline.finish_s``).
DEFAULT_BUDGET_S = 240.0
#: The least share of the time budget the solver keeps where preparing the options (each
#: deployment's capacity under load: seconds to a minute the first time, then cached) took
#: more than the rest.
MIN_SOLVE_SHARE = 0.5


@dataclass
class StageReport:
    """One stage of a solve: what ran, how it ended, its wall time [s]."""

    stage: str
    status: Status
    seconds: float
    objective: float | None = None  # [USD]
    bound: float | None = None  # [USD]
    #: stopped by its time limit, not by reaching its gap or finishing its work
    time_limited: bool = False

    @classmethod
    def of(cls, stage: str, res: SolverResult) -> StageReport:
        """The report of a stage that was one solver run."""
        return cls(stage, res.status, res.seconds, res.objective, res.bound, res.time_limited)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "objective": None if self.objective is None else float(self.objective),
            "bound": None if self.bound is None else float(self.bound),
            "time_limited": self.time_limited,
        }


def whole_status(gap: float | None, tolerance: float, time_limited: bool) -> Status:
    """The status of a whole solve from the plan's gap against its bound.

    ``optimal`` only where that gap is proven within ``tolerance`` (the ``--gap`` asked
    for); otherwise ``time_limited`` where the time budget cut a stage short, else
    ``feasible`` (the stages finished but left a larger gap).
    """
    if gap is not None and gap <= tolerance + GAP_SLACK:
        return Status.OPTIMAL
    return Status.TIME_LIMITED if time_limited else Status.FEASIBLE


class TimeBudget:
    """The whole solve's wall-clock budget [s], counted from ``start``
    (``time.perf_counter()``); stages ask it what is left and take their share of that.

    Raises ``SolverError`` unless the total is a finite number of seconds > 0 and at most
    ``MAX_TIME_LIMIT_S`` (30 days: past ``threading.TIMEOUT_MAX`` the watchdog cannot wait).
    """

    def __init__(self, total_s: float, *, given: bool, start: float | None = None) -> None:
        ok = isinstance(total_s, int | float) and math.isfinite(total_s)
        if not (ok and 0 < total_s <= MAX_TIME_LIMIT_S):
            raise SolverError(
                f"The time limit must be a finite number of seconds {TIME_LIMIT_RANGE}; "
                f"got {total_s!r}."
            )
        self.total_s = float(total_s)
        #: set by the caller (--time-limit), not the default
        self.given = given
        self.start = time.perf_counter() if start is None else start
        #: the budget the warnings name (the whole one, for a ``first`` share of it)
        self.named_s = self.total_s

    @classmethod
    def for_solve(
        cls, time_limit_s: float | None, n_distinct_hours: int, start: float | None = None
    ) -> TimeBudget:
        """``time_limit_s`` where given, else the default for a problem of this size."""
        if time_limit_s is not None:
            return cls(time_limit_s, given=True, start=start)
        return cls(default_budget_s(n_distinct_hours), given=False, start=start)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def leave_at_least(self, share: float) -> bool:
        """Where less than ``share`` of the budget is left (the work before the solver took
        the rest), start its clock later so that ``share`` of it is left; True where it
        did."""
        floor = share * self.total_s
        if self.left() >= floor:
            return False
        self.start = time.perf_counter() - (self.total_s - floor)
        return True

    def first(self, share: float) -> TimeBudget:
        """The first ``share`` of this budget (same start): for the stages before one that
        keeps the rest."""
        part = TimeBudget(self.total_s * share, given=self.given, start=self.start)
        part.named_s = self.named_s
        return part

    def left(self) -> float:
        """Seconds left of the budget (never below 0)."""
        return max(0.0, self.total_s - self.elapsed())

    def describe(self) -> str:
        """The budget as the warnings name it."""
        if self.given:
            return f"{self.named_s:g} s"
        return f"{self.named_s:g} s, the default; raise it with --time-limit"


def default_budget_s(n_distinct_hours: int) -> float:
    """The time budget of a solve without --time-limit [s]: ``DEFAULT_EXACT_BUDGET_S`` where
    the distinct hours fit the exact model (``AUTO_EXACT_LIMIT``), else ``DEFAULT_BUDGET_S``."""
    if n_distinct_hours <= AUTO_EXACT_LIMIT:
        return DEFAULT_EXACT_BUDGET_S
    return DEFAULT_BUDGET_S


class StageLog:
    """The stages of one solve in order; each one added is also said on ``progress`` with
    the solve's elapsed time, its status and time, and the plan and bound it reached."""

    def __init__(self, budget: TimeBudget, progress: Callable[[str], None] | None) -> None:
        self.budget = budget
        self.progress = progress
        self.reports: list[StageReport] = []

    def add(self, report: StageReport) -> None:
        self.reports.append(report)
        if self.progress is None:
            return
        parts = [f"{report.stage}: {report.status} in {report.seconds:.1f} s"]
        if report.objective is not None:
            parts.append(f"plan ${report.objective:,.2f}")
        if report.bound is not None:
            parts.append(f"bound ${report.bound:,.2f}")
        if report.time_limited:
            parts.append("stopped by its time limit")
        self.progress(", ".join(parts))


def timed(
    progress: Callable[[str], None] | None, budget: TimeBudget
) -> Callable[[str], None] | None:
    """``progress`` with each line prefixed by the solve's elapsed time."""
    if progress is None:
        return None
    return lambda msg: progress(f"[{budget.elapsed():6.1f} s] {msg}")
