"""Flags whose values were accepted, ignored or crashed on: each is refused with exit 2 and
one message naming the flag, before anything is solved or written (found by an adversarial
sweep; every case here once exited 0, hung or printed a traceback)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
import typer
from click.testing import Result

from advisor.catalog import Defaults
from advisor.cli_sweep import print_sweep_table, report_sweep
from advisor.sweep import COST_TIERS
from advisor.workloads import Workload
from tests.adversarial.helpers import API_CSV, invoke

FAST = ["--capacity-model", "roofline", "--solver", "highs", "--quiet"]
ROOFLINE = [
    "roofline",
    "--model",
    "llama-3.1-70b",
    "--gpu",
    "H100-SXM",
    "--quant",
    "fp8",
    "--tp",
    "4",
    "--capacity-model",
    "roofline",
]
OFFERS = ["offers", "--model", "llama-3.1-70b", "--prices", "snapshot"]
CAPACITY = [
    "capacity",
    "--users",
    "1000",
    "--sessions-per-user",
    "2",
    "--tokens-per-session",
    "1000",
]
CAP_MODEL = [*CAPACITY, "--model", "llama-3.1-70b", "--gpu", "H100-SXM"]
CAP_MEASURED = [*CAPACITY, "--tokens-per-s-per-gpu", "1000"]
COST = ["cost", "--usd-per-hour", "2", "--tokens-per-s", "1000"]


def assert_refused(res: Result, *fragments: str) -> None:
    """Exit 2, no traceback, and the message names what it must."""
    text = res.stdout + res.stderr
    assert "Traceback" not in text, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, text
    for f in fragments:
        assert f in res.stderr, f"{f!r} not in stderr:\n{res.stderr}"


@pytest.fixture(scope="module")
def demand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demand") / "demand.csv"
    path.write_text(API_CSV, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plan(demand: Path) -> Path:
    """A saved plan of ``demand`` to stress."""
    out = demand.parent / "plan"
    res = invoke("solve", demand, *FAST, "--out", out)
    assert res.exit_code == 0, res.stdout + res.stderr
    return out


# --- 1. roofline's spreads: the workload YAML's bounds ----------------------------------------

SPREADS = {
    "--prompt-cv": "prompt_tokens_cv",
    "--completion-cv": "completion_tokens_cv",
    "--arrival-cv": "arrival_cv",
}


@pytest.mark.parametrize("flag", SPREADS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "100"])
def test_roofline_spread_outside_the_workload_bounds(flag: str, value: str) -> None:
    """nan hung the simulation, inf divided by zero, -1 and 100 were used as given."""
    assert_refused(invoke(*ROOFLINE, flag, value), flag, "finite number in [0, ", f"got {value}")


@pytest.mark.parametrize(("flag", "field"), SPREADS.items())
def test_roofline_spread_bounds_are_the_workloads(flag: str, field: str) -> None:
    """The flag's bounds are the YAML field's: its upper bound passes, just above it fails."""
    from annotated_types import Le

    high = next(m.le for m in Workload.model_fields[field].metadata if isinstance(m, Le))
    simulated = ROOFLINE[: ROOFLINE.index("--capacity-model")]  # spreads are simulated
    assert invoke(*simulated, flag, str(high)).exit_code == 0
    assert_refused(invoke(*ROOFLINE, flag, str(high * 1.01)), flag, f"[0, {high:g}]", field)


@pytest.mark.parametrize(("flag", "value"), [("--prompt-cv", "1"), ("--arrival-cv", "3")])
def test_roofline_spread_needs_the_simulation(flag: str, value: str) -> None:
    """The roofline model has no spreads: --capacity-model roofline --arrival-cv 3 printed
    the very figures it prints without it, exit 0."""
    assert_refused(invoke(*ROOFLINE, flag, value), f"{flag} needs --capacity-model simulated")
    assert invoke(*ROOFLINE, "--arrival-cv", "1", "--prompt-cv", "0").exit_code == 0


# --- 2. stress: --gap and --time-limit as solve and sweep check them --------------------------


@pytest.mark.parametrize("gap", ["5", "1", "-1", "nan", "inf"])
def test_stress_gap(plan: Path, demand: Path, gap: str) -> None:
    res = invoke("stress", plan, "--demand", demand, "--gap", gap)
    assert_refused(res, "--gap is a fraction in [0, 1)", f"got {gap}")


@pytest.mark.parametrize("limit", ["0", "-1", "nan", "inf"])
def test_stress_time_limit(plan: Path, demand: Path, limit: str, tmp_path: Path) -> None:
    out = tmp_path / "stress.csv"
    res = invoke("stress", plan, "--demand", demand, "--time-limit", limit, "--out", out)
    assert_refused(res, "--time-limit must be a finite number of seconds > 0", f"got {limit}")
    assert not out.exists()


def test_time_limit_inf_says_finite(demand: Path) -> None:
    """``--time-limit inf`` is > 0: the message must say what it lacks (finite)."""
    res = invoke("solve", demand, *FAST, "--time-limit", "inf")
    assert_refused(res, "--time-limit must be a finite number", "got inf")


# --- 3. sweep: values that cannot apply, and a sweep where every case fails --------------------


@pytest.mark.parametrize("vary", ["demand=1e20", "demand=0.5,1e20"])
def test_sweep_demand_overflow_refused_up_front(demand: Path, vary: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    res = invoke("sweep", demand, "--vary", vary, "--out", out, "--jobs", "1")
    assert_refused(res, "--vary demand=1e+20", "above the 1e+15 a demand holds")
    assert not out.exists()


def test_sweep_where_every_case_fails_exits_nonzero(tmp_path: Path) -> None:
    """No case solves (the SLO is out of reach and the API not allowed): exit 1 and say so,
    not 'Wrote ... one plan folder per solved value' and exit 0."""
    wl = tmp_path / "w.yaml"
    wl.write_text(
        "workloads:\n  - name: noapi\n    model: llama-3.1-8b\n    prompt_tokens: 1000\n"
        "    completion_tokens: 300\n    ttft_ms: 2000\n    tpot_ms: 50\n    allow_api: false\n",
        encoding="utf-8",
    )
    csv = tmp_path / "d.csv"
    csv.write_text(
        "hour,workload,requests,input_tokens,output_tokens\n2026-01-05T00:00:00Z,noapi,100,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "sweep"
    args = ["sweep", csv, "--workloads", wl, "--vary", "slo=1e-6", "--out", out, "--jobs", "1"]
    res = invoke(*args)
    text = res.stdout + res.stderr
    assert "Traceback" not in text, text
    assert res.exit_code == 1, text
    assert "no value of the sweep solved" in res.stderr
    assert "Wrote" not in res.stdout
    assert not [p for p in out.iterdir() if p.is_dir()]  # no plan folder


def _failed_table() -> pd.DataFrame:
    """A sweep's table where the one case failed: its cost columns hold only None."""
    row: dict[str, object] = {
        "param": "demand",
        "value": 2.0,
        "status": "failed: no",
        "verified": False,
        "total_cost_usd": None,
    }
    row |= {f"cost_{t}_usd": None for t in COST_TIERS}
    return pd.DataFrame([row], dtype=object)


def test_sweep_table_of_failed_cases_warns_nothing() -> None:
    """``fillna`` on the all-None cost columns raised pandas' FutureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        print_sweep_table(_failed_table(), "demand")


def test_sweep_report_of_failed_cases_exits_1(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit) as exc:
        report_sweep(_failed_table(), "demand", [2.0], tmp_path, json_out=True)
    assert exc.value.exit_code == 1


# --- 4. offers: the lengths and SLOs roofline checks, and only with --model --------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--input-tokens", "0"),
        ("--input-tokens", "nan"),
        ("--output-tokens", "-1"),
        ("--tpot-ms", "0"),
        ("--ttft-ms", "inf"),
    ],
)
def test_offers_lengths_and_slos(flag: str, value: str) -> None:
    assert_refused(invoke(*OFFERS, flag, value), f"{flag} must be a number", f"got {value}")
    assert_refused(invoke("offers", flag, value), f"{flag} must be a number", f"got {value}")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--tpot-ms", "50"], "--tpot-ms only applies with --model"),
        (["--input-tokens", "10", "--ttft-ms", "100"], "--input-tokens and --ttft-ms only apply"),
    ],
)
def test_offers_model_flags_without_model(args: list[str], named: str) -> None:
    assert_refused(invoke("offers", *args), named, "Add --model NAME")


def test_offers_model_flags_with_model_still_work() -> None:
    res = invoke(*OFFERS, "--tpot-ms", "50", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr


# --- 5. capacity: the same checks; the measured figure takes no roofline flags ------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--input-tokens", "0"), ("--output-tokens", "nan"), ("--tpot-ms", "-1"), ("--ttft-ms", "0")],
)
def test_capacity_lengths_and_slos(flag: str, value: str) -> None:
    assert_refused(invoke(*CAP_MODEL, flag, value), f"{flag} must be a number", f"got {value}")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--tp", "4"], "--tp does not apply"),
        (["--quant", "fp8"], "--quant does not apply"),
        (["--tpot-ms", "50"], "--tpot-ms does not apply"),
        (["--tp", "4", "--quant", "fp8", "--tpot-ms", "50"], "--quant, --tp and --tpot-ms do not"),
        (["--input-tokens", "500"], "--input-tokens does not apply"),
    ],
)
def test_capacity_measured_throughput_takes_no_roofline_flags(args: list[str], named: str) -> None:
    res = invoke(*CAP_MEASURED, *args)
    assert_refused(res, "--tokens-per-s-per-gpu is a measured throughput", named)


def test_capacity_measured_throughput_alone_still_works() -> None:
    res = invoke(*CAP_MEASURED, "--json")
    assert res.exit_code == 0, res.stdout + res.stderr


# --- 6. cost: --overhead as the catalog's overhead_multiplier -----------------------------------


@pytest.mark.parametrize("overhead", ["0.5", "0", "-1", "nan", "inf"])
def test_cost_overhead_below_the_catalogs_bound(overhead: str) -> None:
    from annotated_types import Ge

    meta = Defaults.model_fields["overhead_multiplier"].metadata
    low = next(m.ge for m in meta if isinstance(m, Ge))
    res = invoke(*COST, "--overhead", overhead)
    assert_refused(res, "--overhead must be a finite number", f"≥ {low:g}", "overhead_multiplier")


def test_cost_overhead_at_the_bound() -> None:
    res = invoke(*COST, "--overhead", "1", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr


# --- 7. solve and sweep: parallelism flags checked whether or not they are used ----------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--workers", "0"], "--workers must be ≥ 1"),
        (["--workers", "-1"], "--workers must be ≥ 1"),
        (["--cluster", "foo"], "--cluster must be 'dask'"),
    ],
)
def test_solve_scenario_flags_without_scenarios(
    demand: Path, args: list[str], named: str, tmp_path: Path
) -> None:
    out = tmp_path / "plan"
    assert_refused(invoke("solve", demand, *FAST, *args, "--out", out), named)
    assert not out.exists()


def test_solve_valid_workers_without_scenarios_is_fine(demand: Path) -> None:
    """A valid value that this input does not use (no scenarios) is accepted."""
    res = invoke("solve", demand, *FAST, "--workers", "2")
    assert res.exit_code == 0, res.stdout + res.stderr


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_sweep_jobs(demand: Path, jobs: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    res = invoke("sweep", demand, "--vary", "price.spot=1", "--out", out, "--jobs", jobs)
    assert_refused(res, "--jobs must be ≥ 1", f"got {jobs}")
    assert not out.exists()


def test_nan_is_not_a_gap(demand: Path) -> None:
    """``not 0 <= nan < 1`` holds: nan is refused like any gap outside [0, 1)."""
    assert not (0 <= math.nan < 1)
    assert_refused(invoke("solve", demand, *FAST, "--gap", "nan"), "--gap is a fraction")


# --- stress: the sampling flags with --demand ---------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--growth", "2"], "--growth 2 only applies"),
        (["--seed", "7"], "--seed 7 only applies"),
        (["--history", "DEMAND"], "only applies to futures drawn with --samples"),
    ],
)
def test_stress_sampling_flags_with_demand(
    plan: Path, demand: Path, flags: list[str], named: str
) -> None:
    """--growth and --seed shape only the futures --samples draws: with --demand they were
    ignored (a stress at --growth 2 reported the ungrown cost, exit 0)."""
    flags = [str(demand) if f == "DEMAND" else f for f in flags]
    assert_refused(invoke("stress", plan, "--demand", demand, *flags), named)
    assert invoke("stress", plan, "--demand", demand, "--growth", "1").exit_code == 0
