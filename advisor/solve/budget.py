"""What a solve did with its time: one report per stage, and the status of the whole solve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advisor.solve.backends import SolverResult

#: Relative slack on the gap tolerance for calling a plan optimal: a solver that proves its
#: gap leaves its bound a rounding error below the plan's cost recomputed from the schedule.
GAP_SLACK = 1e-6


@dataclass
class StageReport:
    """One stage of a solve: what ran, how it ended, its wall time [s]."""

    stage: str
    status: str  # optimal | feasible | infeasible | unbounded | not_solved | done
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


def whole_status(gap: float | None, tolerance: float, time_limited: bool) -> str:
    """The status of a whole solve from the plan's gap against its bound.

    ``optimal`` only where that gap is proven within ``tolerance`` (the ``--gap`` asked
    for); otherwise ``time_limited`` where the time budget cut a stage short, else
    ``feasible`` (the stages finished but left a larger gap).
    """
    if gap is not None and gap <= tolerance + GAP_SLACK:
        return "optimal"
    return "time_limited" if time_limited else "feasible"
