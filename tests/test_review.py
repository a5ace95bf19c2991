"""A plan a procurement review can sign: commitments in the bound and in every baseline, caps
per offer, and the newcomer's case (own demand, a fleet file with a reservation ending
mid-horizon and owned GPUs) rebuilt small."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from advisor.catalog import load_catalog
from advisor.pipeline import load_inputs, solve_inputs
from advisor.solve import SolverSettings, available_solvers
from advisor.units import HOURS_PER_MONTH

ROOT = Path(__file__).resolve().parents[1]
DEMAND = ROOT / "demand"
SOLVERS = [s for s in ("cbc", "highs") if s in available_solvers()]


def demand_slice(src: str, hours: int, scale: float, path: Path) -> Path:
    """The first ``hours`` hours of a shipped demand file, every figure times ``scale``."""
    d = pd.read_csv(DEMAND / src)
    keep = sorted(d["hour"].unique())[:hours]
    d = d[d["hour"].isin(keep)].copy()
    for c in ("requests", "input_tokens", "output_tokens"):
        d[c] = (d[c] * scale).round().astype(int)
    d.to_csv(path, index=False)
    return path


NEWCOMER_FLEET = """\
commitments:
  - gpu: H100-SXM
    count: 8
    tier: reserved_1y
    usd_per_hour: 2.9
    end: 2026-01-05T12:00:00Z
    note: ends mid-horizon
  - gpu: A100-80G
    count: 4
    tier: owned
    usd_per_hour: 1.0
"""


@pytest.mark.parametrize("solver", SOLVERS)
def test_newcomers_case_commitments_in_the_bound_and_every_baseline(
    solver: str, tmp_path: Path
) -> None:
    """Three workloads, 8 reserved H100 ending mid-horizon and 4 owned A100: the bound counts
    the committed spend (the gap read 65% where the plan was optimal), every baseline pays it
    and the overhead, and no warning blames the solver."""
    demand = demand_slice("mixed_week.csv", 24, 0.3, tmp_path / "d.csv")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(NEWCOMER_FLEET)
    plan = solve_inputs(load_inputs(demand, fleet_file=fleet), SolverSettings(solver, 120, 1e-3))
    assert plan.verified, plan.data["verification"]
    assert plan.data["gap"] <= 0.01
    assert plan.data["lower_bound_usd"] >= plan.cost_by_tier_usd["existing"]
    for name, cost in plan.baselines.items():
        assert cost is None or plan.total_cost_usd <= cost * (1 + 1e-9), name
    assert not [w for w in plan.data["warnings"] if "solver" in w or "--aggregate" in w]


def test_all_api_pays_the_commitments_and_their_overhead(tmp_path: Path) -> None:
    """With commitments, all-API still pays them and the overhead of running them: the plan
    (which must pay both) is never dearer than all-API, and both follow one overhead rule."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: L4\n    count: 1\n    tier: owned\n    usd_per_hour: 0.5\n"
    )
    demand = demand_slice("low_volume.csv", 24, 1.0, tmp_path / "d.csv")
    plan = solve_inputs(load_inputs(demand, fleet_file=fleet), SolverSettings("cbc", 60, 1e-3))
    assert plan.verified, plan.data["verification"]
    overhead = load_catalog().defaults.self_host_monthly_overhead_usd / HOURS_PER_MONTH * 24
    assert plan.cost_by_tier_usd["overhead"] == pytest.approx(overhead)
    assert plan.cost_by_tier_usd["existing"] == pytest.approx(0.5 * 24)
    all_api = plan.baselines["all_api"]
    api = plan.cost_by_tier_usd["api"]
    assert all_api == pytest.approx(api + 0.5 * 24 + overhead, rel=1e-6)
    assert plan.total_cost_usd <= all_api * (1 + 1e-9)
    assert plan.data["savings_vs_best_baseline_usd"] >= -1e-6


def test_a_cap_of_zero_on_owned_and_3_year_offers_gives_a_verified_plan_without_them(
    tmp_path: Path,
) -> None:
    """`max_gpus: 0` on every owned and reserved_3y offer: the verifier compares each offer's
    GPUs with its own cap (it compared the GPU's total over every pool tier and failed), and
    baselines keep the caps too (reserved_peak priced 3-year GPUs the catalog forbids)."""
    cat = tmp_path / "cat"
    cat.mkdir()
    lines = ["offers:"]
    for g, t in sorted(load_catalog().offers):
        if t in ("owned", "reserved_3y"):
            lines += [f"  - gpu: {g}", f"    tier: {t}", "    max_gpus: 0"]
    (cat / "offers.yaml").write_text("\n".join(lines) + "\n")
    demand = demand_slice("high_steady.csv", 24, 1.0, tmp_path / "d.csv")
    plan = solve_inputs(
        load_inputs(demand, catalog_dirs=[cat]), SolverSettings(SOLVERS[-1], 120, 1e-3)
    )
    assert plan.verified, plan.data["verification"]
    tiers = {r["tier"] for r in plan.data["reserved"]}
    assert tiers and not tiers & {"owned", "reserved_3y"}
    for name, cost in plan.baselines.items():
        assert cost is None or plan.total_cost_usd <= cost * (1 + 1e-9), name
