"""Sensitivity sweeps: library (advisor.sweep) and CLI (advisor sweep)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import advisor.cli_sweep  # noqa: F401  registers `advisor sweep` on the app
from advisor.cli import app
from advisor.errors import AdvisorError
from advisor.files import leftovers, visible
from advisor.pipeline import load_inputs
from advisor.solve import SolverSettings, available_solvers
from advisor.sweep import apply_param, check_sweep, sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SOLVER = "highs" if "highs" in available_solvers() else "cbc"
SETTINGS = SolverSettings(SOLVER, time_limit_s=60, gap=1e-4)
# 12 hours of a morning ramp; large enough that self-hosting (pool + on-demand) beats the API
REQUESTS = [2, 1.5, 1, 0.8, 1, 3, 6, 9, 12, 10, 7, 4]


def _demand(path: Path, scale: float = 100_000.0) -> Path:
    hours = pd.date_range("2026-01-05", periods=len(REQUESTS), freq="h", tz="UTC")
    req = [round(r * scale) for r in REQUESTS]
    pd.DataFrame(
        {
            "hour": [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in hours],
            "workload": "llama-3.1-8b-interactive",
            "requests": req,
            "input_tokens": [r * 1000 for r in req],
            "output_tokens": [r * 300 for r in req],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def demand_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demand(tmp_path_factory.mktemp("sweep") / "demand.csv")


@pytest.fixture(scope="module")
def inputs(demand_csv: Path):  # type: ignore[no-untyped-def]
    return load_inputs(demand_csv)


@pytest.mark.parametrize("param", ["price.on_demand", "demand"])
def test_sweep_writes_table_figure_and_plans(inputs, tmp_path: Path, param: str) -> None:
    out = tmp_path / "out"
    table = sweep(inputs, param, [2.0, 1.0], SETTINGS, out_dir=out, jobs=2)
    assert list(table["value"]) == [1.0, 2.0]  # sorted by value
    assert table["verified"].all() and (table["status"] == "optimal").all()
    for col in ("total_cost_usd", "cost_on_demand_usd", "reserved_gpus", "api_share", "gap"):
        assert col in table.columns
    costs = list(table["total_cost_usd"])
    assert costs[1] > costs[0] * (1 + 1e-6), f"cost should rise with {param}: {costs}"
    # files: CSV round-trips, PNG is a real PNG, one saved plan per value
    csv = pd.read_csv(out / "sweep.csv")
    assert list(csv["value"]) == [1.0, 2.0]
    assert csv["total_cost_usd"].tolist() == pytest.approx(costs)
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "sweep.png").stat().st_size > 10_000
    dirs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert dirs == [f"{param}=1", f"{param}=2"]
    for d in dirs:
        assert visible(out / d) == ["buy.csv", "plan.json", "schedule.csv", "summary.md"]
        assert not leftovers(out / d)
    saved = json.loads((out / f"{param}=2" / "plan.json").read_text())
    assert saved["total_cost_usd"] == pytest.approx(costs[1])
    assert not leftovers(out), "temp files left behind"


def test_apply_param_scales_the_right_thing(inputs) -> None:
    od = apply_param(inputs, "price.on_demand", 2.0)
    res = apply_param(inputs, "price.reserved", 0.5)
    for (g, tier), o in inputs.catalog.offers.items():
        k_od = 2.0 if tier == "on_demand" else 1.0
        k_res = 0.5 if tier in ("reserved_1y", "reserved_3y") else 1.0
        assert od.catalog.offers[(g, tier)].effective_usd_per_hour == pytest.approx(
            o.effective_usd_per_hour * k_od
        )
        assert res.catalog.offers[(g, tier)].effective_usd_per_hour == pytest.approx(
            o.effective_usd_per_hour * k_res
        )
    slo = apply_param(inputs, "slo", 0.5)
    for name, w in inputs.workloads.items():
        assert slo.workloads[name].tpot_ms == pytest.approx(w.tpot_ms * 0.5)
        assert slo.workloads[name].ttft_ms == pytest.approx(w.ttft_ms * 0.5)
    dem = apply_param(inputs, "demand", 3.0)
    assert dem.demand.requests.sum() == pytest.approx(inputs.demand.requests.sum() * 3)
    api = apply_param(inputs, "price.api", 2.0)
    for m, a in inputs.catalog.apis.items():
        assert api.catalog.apis[m].usd_per_m_output_tokens == pytest.approx(
            2 * a.usd_per_m_output_tokens
        )


@pytest.mark.parametrize(
    ("param", "values", "match"),
    [
        ("price.gold", [1.0], "Valid parameters: price.on_demand"),
        ("demand", [0.0], "> 0"),
        ("slo", [-1.0], "> 0"),
        ("demand", [float("inf")], "finite"),
        ("demand", [], "at least one value"),
        ("demand", [1.0, 1.0], "repeat"),
    ],
)
def test_bad_parameters_are_clear_errors(param: str, values: list[float], match: str) -> None:
    with pytest.raises(AdvisorError, match=match):
        check_sweep(param, values)


def test_infeasible_cases_are_rows_not_failures(tmp_path: Path) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text(
        "workloads:\n"
        "  - name: llama-3.1-8b-interactive\n"
        "    model: llama-3.1-8b\n"
        "    prompt_tokens: 1000\n"
        "    completion_tokens: 300\n"
        "    ttft_ms: 2000\n"
        "    tpot_ms: 50\n"
        "    allow_api: false\n"
    )
    inp = load_inputs(_demand(tmp_path / "d.csv", scale=1000), workloads_files=[wl])
    out = tmp_path / "out"
    table = sweep(inp, "slo", [0.01, 0.02], SETTINGS, out_dir=out, jobs=2)
    assert table["status"].str.startswith("infeasible: ").all(), table["status"].tolist()
    assert "tpot_ms" in table["status"][0]
    assert not table["verified"].any()
    assert table["total_cost_usd"].isna().all()
    assert (out / "sweep.csv").is_file()
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in out.iterdir() if p.is_dir()]


# --- CLI -------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_sweep_json(demand_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["sweep", str(demand_csv), "--vary", "price.spot=0.5,1", "--out", str(out)]
    args += ["--solver", SOLVER, "--jobs", "2", "--gap", "1e-3", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["param"] == "price.spot" and data["values"] == [0.5, 1.0]
    assert [c["value"] for c in data["cases"]] == [0.5, 1.0]
    assert all(c["verified"] for c in data["cases"])
    assert (out / "sweep.csv").is_file() and (out / "sweep.png").is_file()
    assert (out / "price.spot=0.5" / "plan.json").is_file()
    assert data["other_plan_dirs"] == []
    # a second sweep into the folder names the first one's case folders it leaves there
    again = ["sweep", str(demand_csv), "--vary", "price.spot=2", "--out", str(out)]
    res = runner.invoke(app, [*again, "--solver", SOLVER, "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "did not write" in res.stderr and "price.spot=0.5, price.spot=1." in res.stderr
    assert (out / "price.spot=0.5" / "plan.json").is_file()  # left as they are


@pytest.mark.parametrize(
    "vary",
    ["demand", "demand=", "=1,2", "demand=1,x", "demand=1,,2", "price.gold=1", "demand=0,1"],
)
def test_cli_bad_vary_exits_2(demand_csv: Path, tmp_path: Path, vary: str) -> None:
    res = runner.invoke(app, ["sweep", str(demand_csv), "--vary", vary, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.iterdir()), "nothing is written for a bad --vary"


def test_cli_a_second_vary_is_refused_not_dropped(demand_csv: Path, tmp_path: Path) -> None:
    """Regression: with two --vary only the last ran; the first was dropped without a word."""
    args = ["sweep", str(demand_csv), "--vary", "demand=1,2", "--vary", "slo=1"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "--vary is given 2 times" in res.output
    assert not list(tmp_path.iterdir())


def test_cli_missing_vary_exits_2(demand_csv: Path) -> None:
    res = runner.invoke(app, ["sweep", str(demand_csv)])
    assert res.exit_code == 2


def test_a_demand_factor_beyond_what_a_demand_holds_fails_its_case(inputs) -> None:  # type: ignore[no-untyped-def]
    """Regression: demand=1e20 was accepted and solved 1e20 times the demand."""
    from advisor.errors import DemandError

    with pytest.raises(DemandError, match="above the 1e\\+15 a demand holds"):
        apply_param(inputs, "demand", 1e20)


@pytest.mark.parametrize("case", ["slo=0.8", "demand=1.5", "price.spot=2"])
def test_a_saved_case_verifies_with_its_change_named(
    demand_csv: Path, tmp_path: Path, case: str
) -> None:
    """Each case folder is a plan of the inputs with one change; `advisor verify CASE DEMAND
    --sweep PARAM=VALUE` re-reads the user's files, applies that change and checks the plan.
    Before, no flag could name the change: every price, SLO and demand case failed its
    inputs check (the README said a demand case re-checked; it did not)."""
    out = tmp_path / "out"
    param, value = case.split("=")
    got = CliRunner().invoke(app, ["sweep", str(demand_csv), "--vary", case, "--out", str(out)])
    assert got.exit_code == 0, got.output
    plan_json = out / case / "plan.json"
    recorded = json.loads(plan_json.read_text())["sweep_case"]
    assert recorded == {"param": param, "value": float(value), "case": case}
    ok = CliRunner().invoke(app, ["verify", str(plan_json), str(demand_csv), "--sweep", case])
    assert ok.exit_code == 0, ok.output
    bare = CliRunner().invoke(app, ["verify", str(plan_json), str(demand_csv)])
    assert bare.exit_code == 1
    assert f"pass --sweep {case}" in bare.output, bare.output
    other = "slo=0.5" if param != "slo" else "slo=0.9"
    wrong = CliRunner().invoke(app, ["verify", str(plan_json), str(demand_csv), "--sweep", other])
    assert wrong.exit_code == 1, wrong.output


def test_verify_refuses_a_sweep_case_it_cannot_read(demand_csv: Path, tmp_path: Path) -> None:
    got = CliRunner().invoke(
        app, ["verify", str(tmp_path / "p.json"), str(demand_csv), "--sweep", "nothing=1"]
    )
    assert got.exit_code == 2
    assert "Unknown sweep parameter 'nothing'" in got.output


def test_a_price_case_is_stressed_at_its_prices(demand_csv: Path, tmp_path: Path) -> None:
    """Stressed on its own demand, a price case costs what it cost (within the solver's gap);
    before, stress re-read the catalog at its prices and repriced the case at the base ones."""
    out = tmp_path / "out"
    got = CliRunner().invoke(
        app, ["sweep", str(demand_csv), "--vary", "price.on_demand=3", "--out", str(out)]
    )
    assert got.exit_code == 0, got.output
    case = out / "price.on_demand=3"
    own = json.loads((case / "plan.json").read_text())["total_cost_usd"]
    res = CliRunner().invoke(app, ["stress", str(case), "--demand", str(demand_csv), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["expected_cost_usd"] == pytest.approx(own, rel=2e-3)


CAPPED_8X = """\
offers:
  - {provider: acme, instance: 8xH100, gpu: H100-SXM, gpus_per_instance: 8, interconnect: nvlink,
     tier: reserved_1y, usd_per_hour: 2.00, term_months: 12, max_instances: 1,
     source: "quote #42", as_of: 2026-11-20}
"""


def test_the_sweep_row_counts_reserved_gpus_of_every_pool(tmp_path: Path) -> None:
    """15 generic H100s and one 8-GPU acme instance reserved for a year (6 h of high_steady
    x3, seeds): the sweep row read reserved_gpus 16 (instances) and
    reserved.H100-SXM.reserved_1y 1 (the instance's row overwrote the 15 GPUs'); 23 GPUs."""
    from advisor.pipeline import solve_plan
    from advisor.policy import Policy
    from advisor.sweep import plan_row

    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "offers.yaml").write_text(CAPPED_8X, encoding="utf-8")
    d = pd.read_csv(Path(__file__).resolve().parents[1] / "demand" / "high_steady.csv")
    d = d[d["hour"].isin(sorted(d["hour"].unique())[:6])].copy()
    for c in ("requests", "input_tokens", "output_tokens"):
        d[c] = d[c] * 3
    d.to_csv(tmp_path / "d.csv", index=False)
    plan = solve_plan(
        tmp_path / "d.csv",
        catalog_dirs=[tmp_path / "cat"],
        prices="seeds",
        policy=Policy(tiers=("on_demand", "reserved_1y"), gpus=("H100-SXM",)),
        solver=SOLVER,
        time_limit_s=60,
    )
    held = sorted((r["instance"], r["gpus_per_instance"]) for r in plan.data["reserved"])
    assert held == [("8xH100", 8), ("H100-SXM", 1)]
    gpus = sum(r["count"] * r["gpus_per_instance"] for r in plan.data["reserved"])
    row = plan_row(plan)
    assert row["reserved_gpus"] == gpus
    assert row["reserved.H100-SXM.reserved_1y"] == gpus
