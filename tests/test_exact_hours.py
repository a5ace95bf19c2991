"""Every hour solved exactly given the fleet, in bulk: the same optimum as each hour's MILP."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from advisor.catalog import POOL_TIERS, load_catalog
from advisor.demand import synthetic_demand
from advisor.milp import ModelInput, build_model
from advisor.pipeline import Inputs, option_set
from advisor.solve import SolverSettings
from advisor.solve.backends import run_solver
from advisor.solve.exact_hours import exact_hours, solved_exactly
from advisor.solve.pipeline import solve_problem
from advisor.solve.problem import Problem
from advisor.solve.schedule import hour_spend, hours_cost
from advisor.workloads import load_workloads

THREE = ("llama-3.1-8b-interactive", "llama-3.1-70b-interactive", "mixtral-8x7b-batch")
EXACT = SolverSettings("highs", time_limit_s=60, gap=0.0)


def _problem(names, hours, volumes, fleet, seed=7, caps=None) -> Problem:
    catalog = load_catalog(prices="seeds")
    wls = {k: load_workloads(catalog)[k] for k in names}
    demand = synthetic_demand(wls, hours, mean_requests_per_hour=volumes, seed=seed)
    opts = option_set(Inputs(catalog, wls, demand))
    if caps:
        opts = dataclasses.replace(opts, max_gpus={**opts.max_gpus, **caps})
    existing = {g: np.full(hours, float(n)) for g, n in fleet.items()}
    return Problem(
        opts, demand.workloads, demand.requests, demand.input_tokens, demand.output_tokens,
        existing,
    )  # fmt: skip


def _milp_hour(problem: Problem, h: int) -> float:
    """The hour's optimum by the MILP (the pool's tie-break left in: a few 1e-7 USD)."""
    inp = ModelInput(
        problem.workloads,
        problem.requests[h : h + 1],
        problem.input_tokens[h : h + 1],
        problem.output_tokens[h : h + 1],
        np.ones(1),
        {g: v[h : h + 1] for g, v in problem.existing_gpus.items()},
        fixed_reserved={},
    )
    fm = build_model(problem.opts, inp)
    res = run_solver(fm, EXACT)
    assert res.objective is not None
    return res.objective - fm.constant_usd


def _assert_optimal(problem: Problem, hs, h: int) -> None:
    assert hs is not None
    spend = hour_spend(
        problem.opts, problem.workloads, hs, problem.input_tokens[h], problem.output_tokens[h]
    )
    assert spend == pytest.approx(_milp_hour(problem, h), abs=1e-4)


@pytest.mark.parametrize(
    ("fleet", "volumes"),
    [
        ({}, (60_000, 40_000, 40_000)),
        ({"H100-SXM": 4, "MI300X": 2}, (60_000, 40_000, 40_000)),
        ({"H100-SXM": 2}, (150_000, 90_000, 5_000)),
        ({"MI300X": 6, "A100-80G": 3}, (20_000, 60_000, 80_000)),
    ],
)
def test_each_hour_costs_what_its_milp_proves_optimal(fleet, volumes) -> None:
    problem = _problem(THREE, 24, volumes, fleet)
    assert solved_exactly(problem.opts, problem.workloads)
    got = exact_hours(problem, {})
    assert got is not None and all(h is not None for h in got)
    for h in range(0, 24, 3):
        hs = got[h]
        _assert_optimal(problem, hs, h)
        assert hs is not None
        # whole replicas that cover each workload's demand with its API share
        for i, w in enumerate(problem.workloads):
            wl = problem.opts.workloads[w]
            served = sum(
                n * problem.opts.options[(w, k)].requests_per_hour
                for (ww, k, _s), n in hs.shares.items()
                if ww == w
            )
            need = problem.requests[h, i] * (1 + wl.headroom)
            assert served + hs.api_fraction.get(w, 0.0) * need >= need * (1 - 1e-9)
        used = {}
        for (k, s), n in hs.replicas.items():
            if s == "pool":
                dep = problem.opts.deployments[k]
                used[dep.pool_key] = used.get(dep.pool_key, 0) + n * dep.units
        assert all(n <= fleet.get(g, 0) for g, n in used.items())


def test_an_hour_where_an_offers_cap_binds_is_left_to_the_milp() -> None:
    """At most 8 on-demand MI300X: the relaxation (each lane its own cap) exceeds it in the
    busier hours, which are None; every other hour is still the MILP's optimum."""
    caps = {("MI300X", "on_demand"): 8}
    problem = _problem(THREE, 24, (150_000, 90_000, 40_000), {}, caps=caps)
    got = exact_hours(problem, {})
    assert got is not None
    left = [h for h, hs in enumerate(got) if hs is None]
    assert 0 < len(left) < 24
    for h, hs in enumerate(got):
        if hs is not None:
            _assert_optimal(problem, hs, h)


def test_api_rate_limits_and_a_fleet_that_changes_by_the_hour() -> None:
    """The API may take at most 2M tokens an hour of each model, and the committed H100s
    run 0 to 5 through the day: still each hour's MILP optimum."""
    problem = _problem(THREE, 24, (100_000, 60_000, 40_000), {})
    limits = {problem.opts.workloads[w].model: 2e6 for w in problem.workloads}
    opts = dataclasses.replace(problem.opts, api_max_tokens_per_hour=limits)
    ramp = {"H100-SXM": np.arange(24, dtype=float) % 6}
    problem = dataclasses.replace(problem, opts=opts, existing_gpus=ramp)
    got = exact_hours(problem, {})
    assert got is not None and all(h is not None for h in got)
    shares = [hs.api_fraction for hs in got if hs is not None]
    assert any(shares), "the API is used in some hour"
    for h in range(0, 24, 2):
        hs = got[h]
        _assert_optimal(problem, hs, h)
        assert hs is not None


PAIRS = (
    "llama-3.1-8b-interactive",
    "llama-3.1-8b-batch",
    "llama-3.1-70b-interactive",
    "llama-3.1-70b-batch",
    "mixtral-8x7b-batch",
)


def _covered(problem: Problem, hs, h: int) -> None:
    """Each workload's shares and API cover its need; no replica is shared beyond whole."""
    opts = problem.opts
    for i, w in enumerate(problem.workloads):
        served = sum(
            n * opts.options[(w, k)].requests_per_hour
            for (ww, k, _s), n in hs.shares.items()
            if ww == w
        )
        need = problem.requests[h, i] * (1 + opts.workloads[w].headroom)
        assert served + hs.api_fraction.get(w, 0.0) * need >= need * (1 - 1e-9)
    for (k, s), n in hs.replicas.items():
        used = sum(v for (_w, kk, ss), v in hs.shares.items() if (kk, ss) == (k, s))
        assert used <= n + 1e-9


@pytest.mark.parametrize(
    ("fleet", "volumes"),
    [
        ({}, (60_000, 60_000, 40_000, 30_000, 40_000)),
        ({"H100-SXM": 5, "MI300X": 3}, (60_000, 60_000, 40_000, 30_000, 40_000)),
        ({"H100-SXM": 2, "L40S": 3}, (20_000, 90_000, 10_000, 50_000, 5_000)),
    ],
)
def test_two_workloads_of_a_model_share_a_replica_at_their_milp_optimum(fleet, volumes) -> None:
    """Two models serve two workloads each: every hour still costs its MILP optimum, and
    some hour splits a replica between a model's two workloads (at most one per model)."""
    problem = _problem(PAIRS, 24, volumes, fleet)
    assert solved_exactly(problem.opts, problem.workloads)
    got = exact_hours(problem, {})
    assert got is not None and all(h is not None for h in got)
    split = 0
    for h in range(0, 24, 3):
        hs = got[h]
        assert hs is not None
        _assert_optimal(problem, hs, h)
        _covered(problem, hs, h)
        fractional = [v for v in hs.shares.values() if abs(v - round(v)) > 1e-6]
        assert len(fractional) <= 2 * 2  # one split replica per model, two workloads each
        split += bool(fractional)
    assert split > 0, "no hour shared a replica: the test does not test sharing"


def test_three_workloads_of_a_model_or_a_shared_api_limit_are_left_to_the_milp() -> None:
    catalog = load_catalog(prices="seeds")
    shipped = load_workloads(catalog)
    third = shipped["llama-3.1-8b-batch"].model_copy(update={"name": "llama-3.1-8b-third"})
    wls = {
        "llama-3.1-8b-interactive": shipped["llama-3.1-8b-interactive"],
        "llama-3.1-8b-batch": shipped["llama-3.1-8b-batch"],
        "llama-3.1-8b-third": third,
    }
    demand = synthetic_demand(wls, 6, mean_requests_per_hour=(60_000, 60_000, 10_000), seed=3)
    opts = option_set(Inputs(catalog, wls, demand))
    problem = Problem(
        opts, demand.workloads, demand.requests, demand.input_tokens, demand.output_tokens
    )
    assert not solved_exactly(opts, problem.workloads)
    assert exact_hours(problem, {}) is None
    pair = _problem(PAIRS[:2], 6, (60_000, 60_000), {})
    assert solved_exactly(pair.opts, pair.workloads)
    model = pair.opts.workloads[PAIRS[0]].model
    limited = dataclasses.replace(pair.opts, api_max_tokens_per_hour={model: 1e6})
    assert not solved_exactly(limited, pair.workloads)


def test_a_fixed_fleet_is_solved_without_a_solver_run_and_proven_optimal() -> None:
    """Nothing for sale to the pool, the committed GPUs fixed: every hour exact, the plan's
    bound its cost (the recourse of a two-stage plan and of ``advisor stress``)."""
    problem = _problem(THREE, 12, (60_000, 40_000, 40_000), {"H100-SXM": 4, "MI300X": 2})
    opts = problem.opts
    fixed = dataclasses.replace(
        opts,
        gpu_usd_per_hour={k: v for k, v in opts.gpu_usd_per_hour.items() if k[1] not in POOL_TIERS},
        max_gpus={k: v for k, v in opts.max_gpus.items() if k[1] not in POOL_TIERS},
    )
    problem = dataclasses.replace(problem, opts=fixed)
    sol = solve_problem(problem, EXACT)
    assert sol.solver.name == "exact hours" and sol.reserved == {}
    spend = hours_cost(
        fixed, problem.workloads, {}, sol.hours, problem.input_tokens, problem.output_tokens
    )
    assert spend == pytest.approx(sum(_milp_hour(problem, h) for h in range(12)), abs=1e-3)
    assert sol.lower_bound == pytest.approx(sol.solver.objective, rel=2e-6)
    assert sol.lower_bound <= sol.solver.objective
