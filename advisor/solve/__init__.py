"""Solve the fleet problem: run CBC or HiGHS, aggregate time, recover every hour, bound the gap.

The stages, one module each (``pipeline`` wires them; its docstring describes the method):

- ``backends``: run one built model through CBC or HiGHS; settings, results, warm starts.
- ``aggregate``: merge identical hours; cluster hours into representative hours.
- ``schedule``: one hour's decisions, the solved fleet, trimming and costing schedules.
- ``diagnose``: why no plan exists.
- ``budget``: what each stage did with its time; the whole solve's status.
- ``bounds`` and ``lagrange``: lower bounds on the full hourly problem; the all-API cost.
- ``recover``: whole replicas for every hour given a reserved fleet.
- ``fleet_search``: the local search over reserved fleets.
- ``problem``: ``Problem``, what one solve reads.
- ``pipeline``: ``solve_problem`` (and ``solve_fleet`` on arrays), the entry point.
"""

from advisor.solve.aggregate import (
    AUTO_CLUSTERS,
    AUTO_EXACT_LIMIT,
    Aggregation,
    aggregate_hours,
    distinct_hours,
)
from advisor.solve.backends import (
    DEFAULT_SOLVER,
    SOLVERS,
    Progress,
    SolverResult,
    SolverSettings,
    Status,
    available_solvers,
    run_solver,
)
from advisor.solve.bounds import api_only_cost
from advisor.solve.budget import (
    DEFAULT_BUDGET_S,
    DEFAULT_EXACT_BUDGET_S,
    StageReport,
    TimeBudget,
    default_budget_s,
    whole_status,
)
from advisor.solve.diagnose import Cause, Infeasibility, diagnose_infeasible, find_infeasibilities
from advisor.solve.pipeline import solve_fleet, solve_problem
from advisor.solve.problem import Problem
from advisor.solve.schedule import FleetSolution, HourSchedule, trim_hour

__all__ = [
    "AUTO_CLUSTERS",
    "AUTO_EXACT_LIMIT",
    "DEFAULT_BUDGET_S",
    "DEFAULT_EXACT_BUDGET_S",
    "DEFAULT_SOLVER",
    "SOLVERS",
    "Aggregation",
    "Cause",
    "FleetSolution",
    "HourSchedule",
    "Infeasibility",
    "Problem",
    "Progress",
    "SolverResult",
    "SolverSettings",
    "StageReport",
    "Status",
    "TimeBudget",
    "aggregate_hours",
    "api_only_cost",
    "available_solvers",
    "default_budget_s",
    "diagnose_infeasible",
    "distinct_hours",
    "find_infeasibilities",
    "run_solver",
    "solve_fleet",
    "solve_problem",
    "trim_hour",
    "whole_status",
]
