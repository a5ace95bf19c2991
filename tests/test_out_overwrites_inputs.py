"""An output path that is one of the command's own inputs, or a file of a saved plan, is
refused before any work: `advisor stress --out`, `advisor forecast --out` and `advisor
validate --error-table` used to write over the plan.json, schedule, futures or benchmark file
they had just read, leaving a plan that no longer loads or an input that is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.pipeline import solve_plan
from advisor.solve import available_solvers

ROOT = Path(__file__).resolve().parents[1]
DEMAND = ROOT / "demand" / "low_volume.csv"
SOLVER = "highs" if "highs" in available_solvers() else "cbc"

runner = CliRunner()


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan")
    plan = solve_plan(DEMAND, solver=SOLVER, time_limit_s=60, gap=1e-3)
    return plan.save(root / "plan")


def _refused(args: list[str], target: Path, says: str) -> None:
    before = target.read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert says in res.output and "elsewhere" in res.output, res.output
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("plan.json", "is the plan's plan.json"),
        ("schedule.csv", "is the plan's schedule"),
        ("buy.csv", "is a file of the plan"),
        ("summary.md", "is a file of the plan"),
    ],
)
def test_stress_does_not_write_over_the_plan(
    plan_dir: Path, tmp_path: Path, name: str, says: str
) -> None:
    futures = shutil.copy(DEMAND, tmp_path / "futures.csv")
    target = plan_dir / name
    _refused(
        ["stress", str(plan_dir), "--demand", str(futures), "--out", str(target)], target, says
    )


def test_stress_does_not_write_over_its_futures(plan_dir: Path, tmp_path: Path) -> None:
    futures = Path(shutil.copy(DEMAND, tmp_path / "futures.csv"))
    args = ["stress", str(plan_dir / "plan.json"), "--demand", str(futures), "--out", str(futures)]
    _refused(args, futures, "is the --demand file")


def test_stress_writes_beside_the_plan(plan_dir: Path, tmp_path: Path) -> None:
    """A new file in the plan's folder is fine: only the plan's own files are refused."""
    futures = shutil.copy(DEMAND, tmp_path / "futures.csv")
    out = tmp_path / "stress.csv"
    res = runner.invoke(app, ["stress", str(plan_dir), "--demand", str(futures), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("scenario,")


def test_forecast_does_not_write_over_a_plan(plan_dir: Path, tmp_path: Path) -> None:
    history = shutil.copy(ROOT / "demand" / "spiky_diurnal.csv", tmp_path / "history.csv")
    target = plan_dir / "schedule.csv"
    _refused(["forecast", str(history), "--out", str(target)], target, "is a file of the plan")


def test_validate_does_not_write_its_table_over_the_runs(tmp_path: Path) -> None:
    runs = Path(shutil.copy(ROOT / "catalogs" / "published_benchmarks.csv", tmp_path / "r.csv"))
    args = ["validate", "--benchmarks", str(runs), "--capacity-model", "roofline"]
    _refused([*args, "--error-table", str(runs)], runs, "is the benchmark file")
