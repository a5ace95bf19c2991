"""The seeds' arithmetic through the command line, with the exact JSON keys scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize(
    ("usd", "tps", "util", "over", "want"),
    [
        (3.0, 1000, 1.0, 1.0, 0.8333),
        (2.0, 1000, 1.0, 1.0, 0.5556),
        (2.0, 1000, 0.5, 1.0, 1.1111),
        (4.5, 5000, 0.8, 1.0, 0.3125),
        (4.5, 5000, 0.2, 1.0, 1.25),
        (2.5, 50, 1.0, 1.0, 13.8889),  # seed 1's "$0.14" is 100× low at 50 tokens/s
        (2.0, 5000, 1.0, 1.0, 0.1111),  # seed 2 practice 1: 8B on one H100
        (16.0, 800, 1.0, 1.0, 5.5556),  # seed 2 practice 2: 405B on 8× H100
    ],
)
def test_cost(usd: float, tps: float, util: float, over: float, want: float) -> None:
    d = run_json(
        "cost",
        "--usd-per-hour",
        str(usd),
        "--tokens-per-s",
        str(tps),
        "--utilization",
        str(util),
        "--overhead",
        str(over),
    )
    assert d["usd_per_m_tokens"] == pytest.approx(want, abs=1e-4)


def test_breakeven_is_billions_not_millions() -> None:
    d = run_json(
        "breakeven",
        "--api-usd-per-m",
        "0.80",
        "--self-usd-per-m",
        "0.35",
        "--monthly-overhead-usd",
        "5000",
    )
    assert d["breakeven_m_tokens_per_month"] == pytest.approx(11111.11, abs=0.01)


def test_breakeven_never() -> None:
    d = run_json(
        "breakeven",
        "--api-usd-per-m",
        "0.3",
        "--self-usd-per-m",
        "0.5",
        "--monthly-overhead-usd",
        "1",
    )
    assert d["breakeven_m_tokens_per_month"] is None and d["never"] is True


def test_capacity_rubric() -> None:
    d = run_json(
        "capacity",
        "--users",
        "1000000",
        "--sessions-per-user",
        "10",
        "--tokens-per-session",
        "500",
        "--peak-factor",
        "3",
        "--tokens-per-s-per-gpu",
        "1000",
        "--headroom",
        "0.3",
        "--usd-per-gpu-hour",
        "2",
    )
    assert d["avg_tokens_per_s"] == pytest.approx(57870.4, abs=0.1)
    assert d["peak_tokens_per_s"] == pytest.approx(173611.1, abs=0.1)
    assert d["gpus"] == 226
    assert d["usd_per_month"] == pytest.approx(325440)
    assert d["usd_per_m_tokens"] == pytest.approx(2.16, abs=0.01)


def test_capacity_from_the_roofline() -> None:
    d = run_json(
        "capacity",
        "--users",
        "1000",
        "--sessions-per-user",
        "10",
        "--tokens-per-session",
        "500",
        "--model",
        "llama-3.1-70b",
        "--gpu",
        "H100-SXM",
        "--quant",
        "fp8",
    )
    assert d["tokens_per_s_per_gpu"] > 100 and "roofline" in d["throughput"]


def test_roofline_70b_bf16_needs_two_h100() -> None:
    d = run_json(
        "roofline",
        "--model",
        "llama-3.1-70b",
        "--gpu",
        "H100-SXM",
        "--quant",
        "bf16",
        "--prices",
        "seeds",
    )
    by_tp = {o["tp"]: o for o in d["options"]}
    assert by_tp[1]["fits"] is False and by_tp[2]["fits"] is True
    for o in d["options"]:
        for key in (
            "gpu",
            "quant",
            "tp",
            "fits",
            "max_batch",
            "decode_tokens_per_s",
            "prefill_tokens_per_s",
            "ttft_ms",
            "tpot_ms",
            "output_tokens_per_s",
            "usd_per_m_output_tokens",
        ):
            assert key in o
    assert set(by_tp[2]["usd_per_m_output_tokens"]) >= {"on_demand", "reserved_1y", "spot"}


def test_roofline_table_prints() -> None:
    res = runner.invoke(app, ["roofline", "--model", "llama-3.1-8b", "--gpu", "L4"])
    assert res.exit_code == 0 and "L4" in res.stdout


def test_validate_json(tmp_path) -> None:
    # the shipped table without the 1,454 rows imported from the DLI course data, with the
    # fast capacity model for the MLPerf online rows (the simulated capacities and the DLI
    # rows are checked on samples in tests/test_validate.py)
    from advisor.validate import load_serving_runs

    runs = load_serving_runs()
    path = tmp_path / "runs.csv"
    runs[~runs["source"].str.startswith("wbing520/")].to_csv(path, index=False)
    d = run_json("validate", "--benchmarks", str(path), "--capacity-model", "roofline")
    assert d["median_abs_error"] <= 0.25 and len(d["rows"]) > 0
    assert d["capacity_model"] == "roofline"
    cal = d["summary"]["calibration"]
    assert cal["static_batch_latency"]["n"] > 0 and cal["closed_loop_tpot"]["n"] > 0


def test_validate_prints_both_tables(tmp_path) -> None:
    """The text output: the offline/online table per family and MLPerf scenario, then the
    table at a known load (static batches, closed loops), each cell median / p90 (n)."""
    from advisor.validate import load_serving_runs

    runs = load_serving_runs()
    pick = [
        runs[runs["scenario"] == "offline"].iloc[:1],
        runs[runs["scenario"] == "static-batch"].iloc[:2],
        runs[runs["scenario"] == "closed-loop"].iloc[:2],
    ]
    path = tmp_path / "runs.csv"
    pd.concat(pick).to_csv(path, index=False)
    res = runner.invoke(app, ["validate", "--benchmarks", str(path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())  # the paragraphs, whatever the console's width
    assert "Serving model (simulated) vs measured runs" in text
    assert "At a known load (static batches, closed-loop clients)" in text
    assert "5 of 5 rows used" in text
    # header cells may wrap; the cells of the two static and two closed-loop rows read (2)
    assert "offline" in res.stdout and "closed-loop" in res.stdout
    assert res.stdout.count("(2)") >= 6
    # no online run: no table of the online runs at their measured load
    assert "Online runs at their measured load" not in text


def test_validate_prints_the_online_runs_at_their_measured_load(tmp_path) -> None:
    """With online runs, a table of them at their measured load (requests in flight) sits
    between the two: its TPOT and throughput cells per family and scenario."""
    from advisor.validate import load_serving_runs

    runs = load_serving_runs()
    path = tmp_path / "runs.csv"
    runs[runs["scenario"].str.lower() == "interactive"].iloc[:3].to_csv(path, index=False)
    res = runner.invoke(app, ["validate", "--benchmarks", str(path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "Online runs at their measured load (requests in flight)" in text
    assert text.index("vs measured runs") < text.index("their measured load")
    assert text.index("their measured load") < text.index("At a known load")
    assert res.stdout.count("(3)") >= 6


NO_FOLDER = str(Path(__file__) / "catalog")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["roofline", "--model", "llama-70b"], "Did you mean"),
        (["roofline", "--model", "llama-3.1-70b", "--gpu", "H100"], "Unknown GPU"),
        (
            ["roofline", "--model", "llama-3.1-8b", "--gpu", "A100-80G", "--quant", "fp8"],
            "cannot run fp8",
        ),
        (["cost", "--usd-per-hour", "-1", "--tokens-per-s", "10"], "usd-per-hour"),
        (
            ["cost", "--usd-per-hour", "1", "--tokens-per-s", "10", "--utilization", "2"],
            "utilization",
        ),
        # a path under a file, which no machine can hold ("/nonexistent" can exist)
        (["roofline", "--model", "llama-3.1-8b", "--catalog", NO_FOLDER], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_error(args: list[str], needle: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert needle in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("module", ["advisor", "advisor.cli"])
def test_python_dash_m_knows_every_command(module: str) -> None:
    """`python -m advisor.cli stress` said "No such command": the command modules register
    on the app of the imported `advisor.cli`, not on `__main__`'s."""
    import subprocess
    import sys

    for cmd in ("stress", "forecast", "offers", "sweep"):
        proc = subprocess.run(
            [sys.executable, "-m", module, cmd, "--help"], capture_output=True, text=True
        )
        assert proc.returncode == 0, (cmd, proc.stderr)
