"""The Lagrangian bound on the hourly problem: never above the true optimum, never weaker
than the LP relaxation it starts from, and tighter than it where whole replicas matter."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.catalog import load_catalog
from advisor.demand import synthetic_demand
from advisor.lagrange import lagrangian_bound
from advisor.milp import POOL_EPSILON, ModelInput, build_model
from advisor.pipeline import Inputs, option_set, solve_inputs
from advisor.solve import SolverSettings, _pool_prices, api_only_cost, run_solver
from advisor.workloads import load_workloads
from tests.test_solve_bruteforce import CASES, MAX_COUNT, N_HOURS, brute_force, instance

HIGHS = SolverSettings("highs", time_limit_s=60, gap=0.0)


def hourly_bound(inputs: Inputs) -> tuple[float, float, float]:
    """(Lagrangian bound, LP relaxation bound, all-API cost or inf), overhead included, with
    one price per hour started from the LP's duals."""
    opts = option_set(inputs)
    d = inputs.demand
    H = d.n_hours
    inp = ModelInput(d.workloads, d.requests, d.input_tokens, d.output_tokens, np.ones(H))
    lp = build_model(opts, inp, relax=True)
    res = run_solver(lp, SolverSettings("cbc"))
    assert res.status == "optimal"
    lag = lagrangian_bound(
        opts,
        d.workloads,
        d.requests,
        d.input_tokens,
        d.output_tokens,
        np.arange(H),
        _pool_prices(lp, np.ones(H)),
        time_limit_s=20,
    )
    assert res.objective is not None
    return lag.bound + lp.constant_usd, res.objective, lag.history[0] + lp.constant_usd


@pytest.mark.parametrize(("gpus", "pattern", "overhead", "api"), CASES)
def test_bound_never_exceeds_the_brute_force_optimum(
    gpus: tuple[str, ...], pattern: tuple[float, ...], overhead: float, api: bool
) -> None:
    inputs = instance(gpus, pattern, overhead, api)
    expected = brute_force(option_set(inputs), inputs.demand)
    bound, lp, start = hourly_bound(inputs)
    d = inputs.demand
    all_api = api_only_cost(
        option_set(inputs), d.workloads, d.requests, d.input_tokens, d.output_tokens
    )
    # the plan's bound is the smaller of the self-hosted bound and the all-API cost
    assert min(bound, np.inf if all_api is None else all_api) <= expected * (1 + 1e-9) + 1e-6
    # at the LP's prices, whole replicas only raise each hour's cost (the LP also carries the
    # tie-break cost on pool replicas, which the bound leaves out)
    slack = POOL_EPSILON * N_HOURS * MAX_COUNT * len(gpus)
    assert start >= lp * (1 - 1e-9) - slack
    assert bound >= start - 1e-9


def test_shared_replicas_bound_is_valid_and_beats_the_lp() -> None:
    """Two workloads of one model share replicas (the subproblem is relaxed there) and a
    third model stands alone; the bound stays below the proven optimum of the full MILP."""
    cat = load_catalog()
    shipped = load_workloads(cat)
    names = ["llama-3.1-70b-interactive", "llama-3.1-70b-batch", "llama-3.1-8b-interactive"]
    wl = {n: shipped[n].model_copy(update={"gpus": ["MI300X", "H100-SXM"]}) for n in names}
    d = synthetic_demand(
        wl, 24, mean_requests_per_hour=[30_000, 20_000, 50_000], noise=0.05, seed=11
    )
    inputs = Inputs(cat, wl, d)
    plan = solve_inputs(inputs, HIGHS, aggregate="exact")
    assert plan.data["solver"]["status"] == "optimal"
    bound, lp, _ = hourly_bound(inputs)
    assert bound <= plan.total_cost_usd * (1 + 1e-9)
    assert bound > lp  # whole replicas every hour: a tighter bound than the LP relaxation
