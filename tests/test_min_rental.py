"""A minimum rental per on-demand/spot start (policy ``min_rental_hours``) as MILP rows, the
hold that starts the solver and the windows of long horizons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import advisor.solve.rental as rental
from advisor.milp import build_model, rental_carry, row_holds
from advisor.pipeline import load_inputs, option_set, solve_inputs, verify_inputs
from advisor.plan import Plan
from advisor.policy import Policy, rental_shortfalls
from advisor.solve import SolverSettings, available_solvers
from tests.test_milp_rows import first_hours
from tests.test_review import DEMAND, demand_slice

SOLVERS = available_solvers()
FAST = SolverSettings(SOLVERS[-1], 60, 1e-3)


def shortfalls(units: np.ndarray, m: int) -> list[str]:
    hours = pd.date_range("2026-01-05", periods=len(units), freq="h", tz="UTC")
    sched = pd.DataFrame(
        {"hour": hours, "deployment": "k", "source": "spot", "replicas": units, "gpu": "g"}
    )
    return rental_shortfalls(sched, hours, m)


def test_hold_forward_keeps_each_start_exactly_m_hours() -> None:
    held = rental.hold_forward(np.array([0, 2, 0, 0, 1, 0, 0, 0]), 3)
    assert held.tolist() == [0, 2, 2, 2, 1, 0, 0, 0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30), st.integers(2, 6))
def test_hold_forward_meets_the_rule_and_never_exceeds_the_trailing_maximum(
    units: list[int], m: int
) -> None:
    n = np.array(units, dtype=float)
    held = rental.hold_forward(n, m)
    trailing = np.array([n[max(0, t - m + 1) : t + 1].max() for t in range(len(n))])
    assert (held >= n).all() and (held <= trailing).all()
    assert shortfalls(held, m) == []


def test_rental_carry_holds_the_starts_of_the_window_before() -> None:
    before, carry = rental_carry(np.array([0.0, 3.0, 3.0]), 3)
    assert before == 3.0 and carry.tolist() == [3.0, 0.0]
    before, carry = rental_carry(np.zeros(0), 4)
    assert before == 0.0 and carry.tolist() == [0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def batch_48h(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demand_slice("business_hours_batch.csv", 48, 1.0, tmp_path_factory.mktemp("d") / "d.csv")


def test_the_milp_rows_reject_a_start_shorter_than_the_minimum(batch_48h: Path) -> None:
    """Built with ``min_rental_hours`` the model has start/hold rows: a one-hour spike on a
    rented lane is infeasible for it, the same spike held is feasible."""
    inputs = load_inputs(batch_48h, policy=Policy(min_rental_hours=4))
    opts = option_set(inputs)
    fm = build_model(opts, first_hours(inputs.demand, 8, min_rental_hours=4))
    assert fm.v and any(n.startswith("hold_") for n in fm.prob.constraints)
    lane = next((k, s) for (k, s, _t) in fm.v)

    def feasible_rows(units: list[int]) -> bool:
        values = {var: 0.0 for var in fm.prob.variables()}
        for t, n in enumerate(units):
            values[fm.x[(*lane, t)]] = float(n)
        rental.set_starts(fm, values)
        rows = [
            c for name, c in fm.prob.constraints.items() if name.split("_")[0] in ("start", "hold")
        ]
        return all(row_holds(c, values, 1e-9) for c in rows)

    assert not feasible_rows([0, 1, 0, 0, 0, 0, 0, 0])
    assert feasible_rows([0, 1, 1, 1, 1, 0, 0, 0])


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_plan_with_a_minimum_rental_is_solved_with_the_rule_and_verified(
    batch_48h: Path, solver: str
) -> None:
    held = solve_inputs(
        load_inputs(batch_48h, policy=Policy(min_rental_hours=8)), SolverSettings(solver, 20, 1e-3)
    )
    assert held.verified, held.data["verification"]
    stages = [s["stage"] for s in held.data["solver"]["stages"]]
    assert any(s.startswith("minimum rental (every hour") for s in stages)
    gap = held.data["solver"]["gap"]
    assert gap is not None and gap <= 0.05


def test_long_horizons_solve_the_rule_in_windows_after_the_ones_before(
    batch_48h: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``JOINT_HOURS_MAX`` the hours are solved in windows, each bound by the starts of
    the one before: the plan meets the rule across the window edges and is verified."""
    monkeypatch.setattr(rental, "JOINT_HOURS_MAX", 0)
    monkeypatch.setattr(rental, "WINDOW_HOURS", 12)
    plan = solve_inputs(load_inputs(batch_48h, policy=Policy(min_rental_hours=6)), FAST)
    assert plan.verified, plan.data["verification"]
    assert any("h windows" in s["stage"] for s in plan.data["solver"]["stages"])


def test_an_unproven_milp_worse_than_the_api_hands_over_to_the_decomposition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Snapshot prices, a week of three workloads, two GPU types and a 4 h minimum rental:
    the hourly MILP's share ran out on an incumbent dearer than all-API, and the solve
    returned the all-API plan ($4,421, a 36% gap, dearer than renting on demand) without
    trying the decomposition. An unproven MILP now hands over, and all-API is compared with
    the plan found at the end."""
    import advisor.solve.pipeline as pipeline

    monkeypatch.setattr(pipeline, "HYBRID_MILP_SHARE", 0.02)
    policy = Policy(
        tiers=["on_demand", "spot", "reserved_1y", "api"], max_gpu_types=2, min_rental_hours=4
    )
    inputs = load_inputs(DEMAND / "mixed_week.csv", prices="snapshot", policy=policy)
    plan = solve_inputs(inputs, SolverSettings("cbc", 20, 1e-3))
    assert plan.verified, plan.data["verification"]
    assert plan.data["reserved"] or len(plan.schedule[plan.schedule["source"] != "api"])
    for name, b in plan.data["baselines"].items():
        assert plan.total_cost_usd <= b["total_cost_usd"] * (1 + 1e-9), name


def test_a_minimum_rental_longer_than_the_horizon_is_a_warning(batch_48h: Path) -> None:
    """min_rental_hours 1000 on 48 hours makes every start run to the horizon's end: the plan
    said nothing of it. Verify requires the warning of a plan."""
    inputs = load_inputs(batch_48h, policy=Policy(min_rental_hours=1000))
    plan = solve_inputs(inputs, FAST)
    assert plan.verified, plan.data["verification"]
    said = [w for w in plan.data["warnings"] if "min_rental_hours 1000" in w]
    assert said and "longer than the 48-hour horizon" in said[0]
    dropped = plan.data | {"warnings": [w for w in plan.data["warnings"] if w not in said]}
    rep = verify_inputs(Plan.of(dropped, plan.schedule), inputs)
    assert "warnings" in {c["check"] for c in rep.checks if not c["ok"]}
