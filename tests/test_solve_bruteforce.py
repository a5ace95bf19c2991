"""The solver's plan against a brute-force search over every fleet of a tiny instance.

One workload, three hours, one or two GPU types (tensor parallelism 1, one quantization, so
one deployment per GPU type), tiers reserved_3y and on_demand, and the API. Demand is at most
three replicas' worth of the smallest GPU, so no optimal fleet runs more than three replicas
of any lane: enumerating 0..4 reserved GPUs per type and 0..4 replicas per lane and hour, with
the API taking whatever the replicas leave, covers every fleet that can be optimal. The cost
is computed here from the prices and capacities alone (the MILP, the plan and the verifier
are not used), and the solver's plan must cost the brute-force minimum.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from advisor.catalog import Catalog, load_catalog
from advisor.demand import Demand
from advisor.milp import POOL_EPSILON
from advisor.options import OptionSet
from advisor.pipeline import Inputs, option_set, solve_inputs
from advisor.solve import SolverSettings, available_solvers
from advisor.units import HOURS_PER_MONTH, TOKENS_PER_M
from advisor.workloads import load_workloads

WORKLOAD = "llama-3.1-8b-interactive"
TIERS = ("reserved_3y", "on_demand")
MAX_COUNT = 4  # enumerate 0..4 reserved GPUs per type and replicas per lane and hour
N_HOURS = 3

_CATALOG = load_catalog()
_WL = load_workloads(_CATALOG)[WORKLOAD].model_copy(update={"quantizations": ["fp8"]})


def tiny_catalog(gpus: tuple[str, ...], monthly_overhead_usd: float) -> Catalog:
    """``gpus`` at TP 1 only, their reserved_3y and on_demand offers, the given overhead."""
    return dataclasses.replace(
        _CATALOG,
        gpus={g: _CATALOG.gpus[g].model_copy(update={"max_tp": 1}) for g in gpus},
        offers={k: o for k, o in _CATALOG.offers.items() if k[0] in gpus and k[1] in TIERS},
        defaults=_CATALOG.defaults.model_copy(
            update={"self_host_monthly_overhead_usd": monthly_overhead_usd}
        ),
    )


def brute_force(opts: OptionSet, demand: Demand) -> float:
    """The cheapest fleet [USD], by enumeration; costs from prices and capacities only."""
    w = WORKLOAD
    wl = opts.workloads[w]
    options = opts.options_for(w)
    assert all(o.deployment.tp == 1 for o in options)
    gpus = sorted({o.deployment.gpu for o in options})
    # lanes: (capacity [requests/hour], hourly price or None for pool, GPU type)
    lanes = []
    for o in options:
        g = o.deployment.gpu
        cap = o.requests_per_hour / (1.0 + wl.headroom)
        if (g, "reserved_3y") in opts.gpu_usd_per_hour:
            lanes.append((cap, None, g))
        if (g, "on_demand") in opts.gpu_usd_per_hour:
            lanes.append((cap, opts.gpu_usd_per_hour[(g, "on_demand")], g))
    counts = np.array(list(itertools.product(range(MAX_COUNT + 1), repeat=len(lanes))), float)
    caps = np.array([c for c, _, _ in lanes])
    hourly_price = np.array([0.0 if p is None else p for _, p, _ in lanes])
    pool_use = {
        g: counts[:, [i for i, (_, p, gg) in enumerate(lanes) if p is None and gg == g]].sum(axis=1)
        for g in gpus
    }
    api = opts.api_usd_per_m.get(w)
    H = demand.n_hours
    best_fleet = np.inf
    for reserved in itertools.product(range(MAX_COUNT + 1), repeat=len(gpus)):
        fits = np.ones(len(counts), bool)
        cost = 0.0
        for g, r in zip(gpus, reserved, strict=True):
            fits &= pool_use[g] <= r
            if r:
                cost += r * opts.gpu_usd_per_hour[(g, "reserved_3y")] * H
        for t in range(H):
            d = float(demand.requests[t, 0])
            if d <= 0:
                continue
            api_fraction = np.maximum(0.0, 1.0 - counts @ caps / d)
            hour_cost = counts @ hourly_price
            if api is None:
                hour_cost = np.where(api_fraction > 1e-12, np.inf, hour_cost)
            else:
                api_usd = (
                    demand.input_tokens[t, 0] * api[0] + demand.output_tokens[t, 0] * api[1]
                ) / TOKENS_PER_M
                hour_cost = hour_cost + api_fraction * api_usd
            cost += float(np.min(np.where(fits, hour_cost, np.inf)))
        best_fleet = min(best_fleet, cost)
    # any GPU (reserved or hourly) carries the fixed self-hosting overhead; all-API does not
    best_fleet += opts.monthly_overhead_usd / HOURS_PER_MONTH * H
    if api is None:
        return best_fleet
    all_api = float(
        ((demand.input_tokens[:, 0] * api[0] + demand.output_tokens[:, 0] * api[1]).sum())
        / TOKENS_PER_M
    )
    return min(all_api, best_fleet)


GPU_SETS = {"L4": ("L4",), "L4+L40S": ("L4", "L40S"), "L40S+H100": ("L40S", "H100-SXM")}
#: demand per hour, in replicas' worth of the smallest GPU (at most 3)
PATTERNS = {
    "mixed": (0.3, 2.6, 1.0),
    "peak-idle": (2.9, 2.9, 0.0),
    "trickle": (0.05, 0.1, 0.02),
    "steady": (1.0, 1.0, 1.0),
    "uneven": (0.55, 1.45, 2.2),
}
OVERHEADS = (0.0, 20.0, 500.0)


def instance(gpus: tuple[str, ...], pattern: tuple[float, ...], overhead: float, api: bool):
    catalog = tiny_catalog(gpus, overhead)
    wl = _WL.model_copy(update={"allow_api": api})
    probe = Inputs(
        catalog,
        {WORKLOAD: wl},
        Demand.from_requests(
            pd.date_range("2026-01-05", periods=N_HOURS, freq="h", tz="UTC"),
            {WORKLOAD: np.ones(N_HOURS)},
            prompt_tokens={WORKLOAD: wl.prompt_tokens},
            completion_tokens={WORKLOAD: wl.completion_tokens},
        ),
    )
    smallest = min(o.requests_per_hour for o in option_set(probe).options.values())
    unit = smallest / (1.0 + wl.headroom)
    requests = np.round(np.array(pattern) * unit)
    assert requests.max() <= 3 * unit  # the enumeration bound's premise
    demand = Demand.from_requests(
        probe.demand.hours,
        {WORKLOAD: requests},
        prompt_tokens={WORKLOAD: wl.prompt_tokens},
        completion_tokens={WORKLOAD: wl.completion_tokens},
    )
    return dataclasses.replace(probe, demand=demand)


CASES = [
    pytest.param(gs, pat, over, True, id=f"{gname}-{pname}-overhead{over:g}")
    for gname, gs in GPU_SETS.items()
    for pname, pat in PATTERNS.items()
    for over in OVERHEADS
    if not (over == 500.0 and pname in ("trickle", "uneven"))
] + [
    pytest.param(gs, PATTERNS["mixed"], 20.0, False, id=f"{gname}-mixed-no-api")
    for gname, gs in GPU_SETS.items()
]


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize(("gpus", "pattern", "overhead", "api"), CASES)
def test_solver_matches_brute_force(
    solver: str, gpus: tuple[str, ...], pattern: tuple[float, ...], overhead: float, api: bool
) -> None:
    if solver not in available_solvers():
        pytest.skip(f"{solver} is not installed")
    inputs = instance(gpus, pattern, overhead, api)
    expected = brute_force(option_set(inputs), inputs.demand)
    plan = solve_inputs(inputs, SolverSettings(solver, time_limit_s=30, gap=0.0), aggregate="exact")
    assert plan.verified, plan.data["verification"]
    # the MILP's tie-break cost on pool replicas (not part of the plan's cost) can move the
    # optimum by at most POOL_EPSILON per pool GPU-hour
    slack = POOL_EPSILON * N_HOURS * MAX_COUNT * len(gpus)
    assert plan.total_cost_usd == pytest.approx(expected, rel=1e-6, abs=slack)
    assert plan.total_cost_usd >= expected * (1 - 1e-9) - 1e-9  # never below the true minimum


def test_enumeration_bound_is_not_binding() -> None:
    """The brute force's premise: the cheapest fleet never needs the top of the range."""
    inputs = instance(("L4",), (2.9, 2.9, 2.9), 0.0, False)
    opts = option_set(inputs)
    # with the API disallowed the demand must be met by replicas: three per hour suffice
    assert np.isfinite(brute_force(opts, inputs.demand))
