"""`advisor stress` re-reads the inputs a saved plan records (its catalog folders, price
profile, providers, files), each workload's definition and the demand's first hour from
plan.json. Edited after advisor wrote it, any of these printed a Python traceback
(KeyError 'definition', a pydantic error, 'int' object is not iterable, a date parse error);
now each exits 2 naming the plan.json key."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.pipeline import solve_plan
from advisor.solve import available_solvers

DEMAND = Path(__file__).resolve().parents[1] / "demand" / "low_volume.csv"
SOLVER = "highs" if "highs" in available_solvers() else "cbc"
WL = "llama-3.1-70b-interactive"

runner = CliRunner()


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = solve_plan(DEMAND, solver=SOLVER, time_limit_s=60, gap=1e-3)
    assert list(plan.data["workloads"]) == [WL]
    return plan.save(tmp_path_factory.mktemp("stress") / "plan")


def _definition(d: dict[str, Any]) -> dict[str, Any]:
    return d["workloads"][WL]["definition"]


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no definition", lambda d: d["workloads"][WL].pop("definition"), "has no 'definition'"),
    ("definition text", lambda d: d["workloads"][WL].update(definition="x"), "no 'definition'"),
    ("bad slo", lambda d: _definition(d).update(tpot_ms=-1), f"{WL}.definition.tpot_ms"),
    ("inputs text", lambda d: d.update(inputs="x"), "'inputs' is not an object"),
    ("catalog number", lambda d: d["inputs"].update(catalog_dirs=5), "inputs.catalog_dirs is 5"),
    ("providers number", lambda d: d["inputs"].update(providers=5), "inputs.providers is 5"),
    ("fleet number", lambda d: d["inputs"].update(fleet_file=5), "inputs.fleet_file is 5"),
    ("no demand", lambda d: d.pop("demand"), "demand.start is None"),
    ("bad start", lambda d: d["demand"].update(start="garbage"), "demand.start is 'garbage'"),
]


@pytest.mark.parametrize(
    ("edit", "says"), [(e, s) for _, e, s in EDITS], ids=[n for n, *_ in EDITS]
)
def test_an_edited_recorded_input_is_a_clean_error(
    plan_dir: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], says: str
) -> None:
    forged = tmp_path / "forged"
    shutil.copytree(plan_dir, forged)
    data = json.loads((forged / "plan.json").read_text(encoding="utf-8"))
    edit(data)
    (forged / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    res = runner.invoke(app, ["stress", str(forged), "--demand", str(DEMAND)])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, res.output
    assert says in res.output and "changed after advisor wrote it" in res.output, res.output


def test_the_untouched_plan_stresses(plan_dir: Path) -> None:
    res = runner.invoke(app, ["stress", str(plan_dir), "--demand", str(DEMAND)])
    assert res.exit_code == 0, res.output


def test_an_edited_plan_is_stressed_as_not_verified(plan_dir: Path, tmp_path: Path) -> None:
    """compare and report say a plan.json changed after advisor wrote it is not verified;
    stress priced the edited fleet without a word."""
    forged = tmp_path / "forged"
    shutil.copytree(plan_dir, forged)
    data = json.loads((forged / "plan.json").read_text(encoding="utf-8"))
    data["total_cost_usd"] = 1.0
    (forged / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    res = runner.invoke(app, ["stress", str(forged), "--demand", str(DEMAND)])
    assert res.exit_code == 0, res.output
    assert "was changed after advisor wrote it" in res.stderr, res.output
    res = runner.invoke(app, ["stress", str(forged), "--demand", str(DEMAND), "--json"])
    got = json.loads(res.stdout)
    assert got["plan_verified"] is False and "changed after" in got["plan_edited"]
    res = runner.invoke(app, ["stress", str(plan_dir), "--demand", str(DEMAND), "--json"])
    got = json.loads(res.stdout)
    assert got["plan_verified"] is True and got["plan_edited"] is None


def test_a_history_of_other_workloads_names_the_plans(plan_dir: Path) -> None:
    """stress has no --workloads, yet a --history naming another workload was told to
    'define it in a --workloads file' (the --demand path already said what applies)."""
    other = DEMAND.parent / "mixed_week.csv"
    res = runner.invoke(app, ["stress", str(plan_dir), "--samples", "2", "--history", str(other)])
    assert res.exit_code == 2, res.output
    assert "--workloads" not in res.output, res.output
    assert "may name only the workloads the plan was solved for" in res.output, res.output


FLEET = """\
commitments:
  - gpu: H100-SXM
    count: 2
    tier: owned
    usd_per_hour: 1.0
"""


def test_a_fleet_file_changed_or_gone_since_the_solve_is_refused(tmp_path: Path) -> None:
    """stress re-reads the fleet file plan.json names: with its 2 owned H100s made 20 after
    the solve, the plan's own demand was priced at $4,526.67 against the plan's $1,502.67
    without a word; with the file gone it was told to 'Check the --fleet path', a flag
    stress does not have. Both now exit 2 naming the file and plan.json's record of it."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    plan = solve_plan(DEMAND, fleet_file=fleet, solver=SOLVER, time_limit_s=60, gap=1e-3)
    saved = plan.save(tmp_path / "plan")
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 0, res.output
    fleet.write_text(FLEET.replace("count: 2", "count: 20"), encoding="utf-8")
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 2, res.output
    assert str(fleet) in res.output and "inputs.fleet_file" in res.output, res.output
    assert "changed since the plan was solved" in res.output, res.output
    fleet.unlink()
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 2, res.output
    assert "--fleet" not in res.output and "inputs.fleet_file" in res.output, res.output


def test_the_existing_commitments_are_named_beside_the_saved_fleet(tmp_path: Path) -> None:
    """A plan that reserves nothing beside 2 owned H100s printed "1 of 1 futures served by
    the saved fleet (none)", though the futures' costs pay and use the commitments."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    plan = solve_plan(DEMAND, fleet_file=fleet, solver=SOLVER, time_limit_s=60, gap=1e-3)
    assert plan.data["reserved"] == []
    saved = plan.save(tmp_path / "plan")
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 0, res.output
    assert "saved fleet (none) " not in res.output, res.output
    assert "existing commitments: 2 H100-SXM owned" in res.output, res.output
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND), "--json"])
    got = json.loads(res.stdout)
    assert got["existing"] == [
        {"gpu": "H100-SXM", "tier": "owned", "count": 2, "start": None, "end": None}
    ]


def test_a_catalog_folder_changed_since_the_solve_is_refused(tmp_path: Path) -> None:
    """stress re-reads the catalog folders plan.json names and checked only the fleet and
    capacity files against the plan's record: with the API's price in the plan's own
    --catalog folder raised tenfold after the solve, the plan's own demand was priced at the
    new price without a word. It now exits 2 naming the catalog, unless --catalog is given
    to price on other folders on purpose."""
    cat = tmp_path / "cat"
    cat.mkdir()
    api = (
        "apis:\n  - {model: llama-3.1-70b, provider: mine, usd_per_m_input_tokens: PRICE,\n"
        "     usd_per_m_output_tokens: PRICE, source: contract, as_of: 2026-11-01}\n"
    )
    (cat / "apis.yaml").write_text(api.replace("PRICE", "0.1"), encoding="utf-8")
    plan = solve_plan(DEMAND, catalog_dirs=[cat], solver=SOLVER, time_limit_s=60, gap=1e-3)
    saved = plan.save(tmp_path / "plan")
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 0, res.output
    (cat / "apis.yaml").write_text(api.replace("PRICE", "1.0"), encoding="utf-8")
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND)])
    assert res.exit_code == 2, res.output
    assert "inputs.catalog_dirs" in res.output, res.output
    assert "changed since the plan was solved" in res.output, res.output
    res = runner.invoke(app, ["stress", str(saved), "--demand", str(DEMAND), "--catalog", str(cat)])
    assert res.exit_code == 0, res.output
