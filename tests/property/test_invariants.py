"""Invariants of the solved plan on small generated instances.

Each example is 1–2 llama-3.1-8b workloads over 4–12 hours with random demand, a catalog cut
down to 2–3 GPU types, solved at every hour (``aggregate="exact"``, asked for gap 0) with the
default back-end through ``advisor.pipeline.solve_inputs`` (options → MILP → plan → independent
verification):

(a) the plan covers the demand every hour, per the independent verifier;
(b) the verifier's recomputed cost equals the reported cost;
(c) more demand never lowers the cost;
(d) adding an offer (a GPU type) never raises the cost;
(e) scaling every price by k scales the cost by k;
(f) solving the same input twice gives the same plan (timings aside).

Some of these tiny models are hard to close exactly: CBC stalls at a relative gap of about
1e-5 to 6e-4 on ``HARD`` below (one L4 type, 11 hours, two workloads: the packing of TP1/TP2/TP4
replicas), which HiGHS proves in a second or two. A plan that
stops at its time limit with a gap of at most ``GAP_TOL`` is accepted, and (c)–(e) compare one
plan's cost with the other's proven lower bound, which holds whatever the gaps: for (d),
bound(more offers) ≤ optimum(more offers) ≤ optimum(fewer offers) ≤ cost(fewer offers).

The MILP puts a tiny cost (``POOL_EPSILON`` per GPU-hour) on pool replicas to break ties; it is
not part of the plan's cost, so comparisons between two plans allow that much slack.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from advisor.catalog import TIERS, Catalog, load_catalog
from advisor.demand import Demand
from advisor.milp import POOL_EPSILON
from advisor.pipeline import Inputs, solve_inputs
from advisor.plan import Plan
from advisor.solve import SolverSettings
from advisor.workloads import Workload, load_workloads

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
FEW = 100 if THOROUGH else 10
SOME = 150 if THOROUGH else 15
SETTINGS = SolverSettings(time_limit_s=10, gap=0.0)
WORKLOADS = ("llama-3.1-8b-interactive", "llama-3.1-8b-batch")
GPUS = ("H100-SXM", "A100-80G", "L4", "L40S", "H200")
REL = 1e-6
GAP_TOL = 1e-2

_CATALOG = load_catalog()
_WORKLOADS = load_workloads(_CATALOG)


def restrict(catalog: Catalog, gpus: tuple[str, ...]) -> Catalog:
    """The catalog with only ``gpus`` (and their offers)."""
    return dataclasses.replace(
        catalog,
        gpus={g: catalog.gpus[g] for g in gpus},
        offers={k: o for k, o in catalog.offers.items() if k[0] in gpus},
    )


@dataclasses.dataclass(frozen=True)
class Instance:
    gpus: tuple[str, ...]
    requests: dict[str, tuple[int, ...]]

    def inputs(self, catalog: Catalog | None = None, scale: float = 1.0) -> Inputs:
        names = sorted(self.requests)
        n = len(next(iter(self.requests.values())))
        hours = pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC")
        wls = {w: _WORKLOADS[w] for w in names}
        demand = Demand.from_requests(
            hours,
            {w: np.asarray(self.requests[w], dtype=float) * scale for w in names},
            prompt_tokens={w: wls[w].prompt_tokens for w in names},
            completion_tokens={w: wls[w].completion_tokens for w in names},
        )
        return Inputs(catalog or restrict(_CATALOG, self.gpus), wls, demand)


@st.composite
def instances(draw, min_gpus: int = 2, max_gpus: int = 3) -> Instance:
    gpus = tuple(
        draw(st.lists(st.sampled_from(GPUS), min_size=min_gpus, max_size=max_gpus, unique=True))
    )
    names = draw(st.lists(st.sampled_from(WORKLOADS), min_size=1, max_size=2, unique=True))
    n_hours = draw(st.integers(4, 12))
    requests = {}
    for w in names:
        # a peak, then each hour a fraction of it: mostly self-hosted fleets, some API-only
        peak = draw(st.sampled_from([200_000, 120_000, 50_000, 10_000, 1_000]))
        fractions = st.one_of(st.sampled_from([1.0, 0.7, 0.4, 0.0]), st.floats(0, 1))
        requests[w] = tuple(
            round(peak * f) for f in draw(st.lists(fractions, min_size=n_hours, max_size=n_hours))
        )
    return Instance(gpus, requests)


def solve(inputs: Inputs) -> Plan:
    plan = solve_inputs(inputs, SETTINGS, aggregate="exact")
    check_plan(plan)
    event(f"self-hosted: {plan.cost_by_tier_usd['overhead'] > 0}")
    return plan


def check_plan(plan: Plan) -> None:
    """(a) and (b), on every plan solved here, plus optimality against the simple policies."""
    checks = {c["check"]: c for c in plan.data["verification"]["checks"]}
    assert checks["coverage"]["ok"], checks["coverage"]["detail"]
    assert checks["cost"]["ok"], checks["cost"]["detail"]
    assert plan.verified, plan.data["verification"]
    solver = plan.data["solver"]
    assert solver["status"] == "optimal" or (
        solver["status"] == "time_limited"
        and solver["gap"] is not None
        and solver["gap"] <= GAP_TOL
    ), solver
    assert lower(plan) <= plan.total_cost_usd + 1e-9
    assert math.isfinite(plan.total_cost_usd) and plan.total_cost_usd >= 0
    assert math.isclose(
        sum(plan.cost_by_tier_usd.values()), plan.total_cost_usd, rel_tol=1e-9, abs_tol=1e-9
    )
    # no simple policy (each a feasible fleet) costs less than the proven lower bound
    for name, cost in plan.baselines.items():
        if cost is not None:
            assert lower(plan) <= cost * (1 + REL) + slack(plan), name


def lower(plan: Plan) -> float:
    """The solver's proven lower bound on the plan's cost [USD] (its cost when optimal)."""
    bound = plan.data["solver"]["bound"]
    return plan.total_cost_usd if plan.data["solver"]["status"] == "optimal" else bound


def slack(*plans: Plan) -> float:
    """What the pool tie-breaking cost can move an optimum by [USD]."""
    pool = max(sum(r["count"] for r in p.data["reserved"]) for p in plans)
    hours = max(p.data["horizon_hours"] for p in plans)
    return POOL_EPSILON * hours * pool + 1e-9


@settings(max_examples=SOME)
@given(inst=instances())
def test_plan_covers_demand_and_cost_recomputes(inst: Instance) -> None:
    """(a), (b): checked inside ``solve`` on the verifier's report."""
    plan = solve(inst.inputs())
    served = plan.schedule.groupby("workload")["requests"].sum()
    for w, req in inst.requests.items():
        assert served.get(w, 0.0) >= sum(req) * (1 - REL) - 1e-6


@settings(max_examples=FEW)
@given(inst=instances(), factor=st.sampled_from([1.5]))
def test_more_demand_never_costs_less(inst: Instance, factor: float) -> None:
    """(c)"""
    base = solve(inst.inputs())
    more = solve(inst.inputs(scale=factor))
    assert more.total_cost_usd >= lower(base) * (1 - REL) - slack(base, more)


# CBC stops at its time limit on the L4-only side (CI, 2026-11-30: a gap of about 1e-5)
HARD = Instance(
    gpus=("L40S", "L4"),
    requests={
        "llama-3.1-8b-batch": (84_000, 120_000, 64_917, 39_192, 120_000, 84_000, *[120_000] * 5),
        "llama-3.1-8b-interactive": (*[1000] * 7, 700, 578, 400, 0),
    },
)


@settings(max_examples=FEW)
@given(inst=instances(min_gpus=2, max_gpus=3), extra=st.sampled_from(GPUS))
@example(inst=HARD, extra="L40S")
def test_adding_an_offer_never_costs_more(inst: Instance, extra: str) -> None:
    """(d): the same instance with one more GPU type's offers."""
    small = tuple(g for g in inst.gpus if g != extra)
    if len(small) == len(inst.gpus):
        small = inst.gpus[:-1]
        extra = inst.gpus[-1]
    fewer = solve(inst.inputs(restrict(_CATALOG, small)))
    more = solve(inst.inputs(restrict(_CATALOG, (*small, extra))))
    assert lower(more) <= fewer.total_cost_usd * (1 + REL) + slack(fewer, more)


@settings(max_examples=FEW)
@given(inst=instances(), k=st.sampled_from([0.5, 2.0, 3.7]))
def test_scaling_every_price_scales_the_cost(inst: Instance, k: float) -> None:
    """(e)"""
    catalog = restrict(_CATALOG, inst.gpus)
    base = solve(inst.inputs(catalog))
    scaled_catalog = catalog.scaled({t: k for t in TIERS} | {"api": k, "overhead": k})
    scaled = solve(inst.inputs(scaled_catalog))
    tol = k * slack(base, scaled)
    if "optimal" == base.data["solver"]["status"] == scaled.data["solver"]["status"]:
        assert scaled.total_cost_usd == pytest.approx(k * base.total_cost_usd, rel=REL, abs=tol)
    assert scaled.total_cost_usd >= k * lower(base) * (1 - REL) - tol
    assert lower(scaled) <= k * base.total_cost_usd * (1 + REL) + tol


#: What a plan reports of its bound where the hourly Lagrangian ran: its ascent hands over to
#: the cutting planes at a share of its time limit, so its value depends on the machine's pace
#: (CI, 2026-11-30: the same plan twice, the Lagrangian stage's bound different)
CLOCKED = ("solver", "bound_solver", "gap", "lower_bound_usd")


def _without_timings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: _without_timings(v) for k, v in obj.items() if k not in ("seconds", "build_seconds")
        }
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _lagrangian_ran(plan: Plan) -> bool:
    return any(s["stage"].startswith("bound (hourly") for s in plan.data["solver"]["stages"])


@settings(max_examples=FEW)
@given(inst=instances())
def test_solving_twice_gives_the_same_plan(inst: Instance) -> None:
    """(f)"""
    first = solve(inst.inputs())
    second = solve(inst.inputs())
    if first.data["solver"]["time_limited"] or second.data["solver"]["time_limited"]:
        # a solve its clock cut short is the best found in the time: deterministic only
        # where the MILP proves its gap (README); both plans were verified by ``solve``
        event("cut by the time limit: not compared")
        return
    a, b = _without_timings(first.data), _without_timings(second.data)
    if _lagrangian_ran(first) or _lagrangian_ran(second):
        event("the hourly Lagrangian ran: its bound is left out of the comparison")
        for k in CLOCKED:
            a.pop(k), b.pop(k)
        assert first.data["solver"]["objective"] == second.data["solver"]["objective"]
    assert a == b
    pd.testing.assert_frame_equal(first.schedule, second.schedule)


def test_workloads_are_the_shipped_ones() -> None:
    """The generator's workloads exist and are what the docstring says."""
    for w in WORKLOADS:
        assert isinstance(_WORKLOADS[w], Workload)
        assert _WORKLOADS[w].model == "llama-3.1-8b"
    assert set(GPUS) <= set(_CATALOG.gpus)
