"""Commands other than ``solve`` on bad arguments: exit 2, one clear message naming the option
and the fix, no traceback, nothing written (each row once raised a Python exception)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app

ROOFLINE = ["roofline", "--model", "llama-3.1-8b", "--gpu", "H100-SXM", "--quant", "fp8"]
CAPACITY = [
    "capacity",
    "--sessions-per-user",
    "1e300",
    "--tokens-per-session",
    "1000",
    "--peak-factor",
    "2",
    "--headroom",
    "0.2",
    "--usd-per-gpu-hour",
    "2",
]

CASES = {
    "forecast-negative-seed": (
        ["forecast", "{history}", "--scenarios", "2", "--seed", "-1", "--out", "{tmp}/f.csv"],
        ["--seed must be a whole number >= 0"],
    ),
    "forecast-horizon-beyond-ten-years": (
        ["forecast", "{history}", "--horizon", "100000000", "--out", "{tmp}/f.csv"],
        ["--horizon must be 1 to 87,600 hours"],
    ),
    "forecast-out-is-a-folder": (
        ["forecast", "{history}", "--out", "{tmp}"],
        ["--out", "is a folder; give a file path"],
    ),
    "roofline-tp-3": (
        [*ROOFLINE, "--tp", "3"],
        ["--tp 3 is not possible on H100-SXM", "1, 2, 4 or 8 GPUs"],
    ),
    "roofline-tp-2-on-a-single-gpu-part": (
        [*ROOFLINE[:3], "--gpu", "GH200-96GB", "--quant", "fp8", "--tp", "2"],
        ["--tp 2 is not possible on GH200-96GB: it serves at --tp 1 only."],
    ),
    "roofline-tpot-0": ([*ROOFLINE, "--tpot-ms", "0"], ["--tpot-ms must be", "> 0; got 0.0"]),
    "roofline-ttft-nan": ([*ROOFLINE, "--ttft-ms", "nan"], ["--ttft-ms must be", "got nan"]),
    "roofline-plot-is-a-folder": (
        [*ROOFLINE, "--tp", "1", "--plot", "{tmp}"],
        ["--plot", "is a folder; give a file path"],
    ),
    "roofline-plot-under-a-file": (
        [*ROOFLINE, "--tp", "1", "--plot", "{history}/x.png"],
        ["is a file, not a folder", "--plot"],
    ),
    "capacity-overflows": (
        [*CAPACITY, "--users", "1e300", "--tokens-per-s-per-gpu", "1000"],
        ["needs more GPUs than can be counted", "check those figures"],
    ),
    "capacity-two-throughputs": (
        [*CAPACITY, "--users", "10", "--tokens-per-s-per-gpu", "100", "--model", "llama-3.1-8b"],
        ["Give --tokens-per-s-per-gpu or --model and --gpu (to derive it), not both"],
    ),
    "cost-not-finite": (
        ["cost", "--usd-per-hour", "1e308", "--tokens-per-s", "1e-308"],
        ["gives no finite cost per million tokens"],
    ),
    "capacity-tp-3": (
        [*CAPACITY, "--users", "10", "--model", "llama-3.1-70b", "--gpu", "H100-SXM", "--tp", "3"],
        ["--tp 3 is not possible on H100-SXM"],
    ),
}


@pytest.mark.parametrize(("args", "fragments"), CASES.values(), ids=CASES.keys())
def test_bad_argument(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    rows = [
        f"2026-01-{5 + h // 24:02d}T{h % 24:02d}:00:00Z,llama-3.1-8b-interactive,{100 + h % 24}"
        for h in range(72)
    ]
    history.write_text("hour,workload,requests\n" + "\n".join(rows) + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.format(history=history, tmp=tmp_path) for a in args]
    res = CliRunner().invoke(app, argv)
    text = " ".join((res.output + res.stderr).split())
    assert res.exit_code == 2, text
    assert "Traceback" not in text
    for f in fragments:
        assert f in text, (f, text)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_roofline_lists_an_option_named_twice_once() -> None:
    """``--gpu H100-SXM --gpu H100-SXM`` (or a repeated --quant or --tp) listed every option
    twice, each marked the cheapest."""
    args = ["--tp", "1", "--tp", "2", "--tp", "1", "--capacity-model", "roofline", "--json"]
    res = CliRunner().invoke(app, [*ROOFLINE, "--gpu", "H100-SXM", "--quant", "fp8", *args])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    options = [(o["gpu"], o["quant"], o["tp"]) for o in got["options"]]
    assert options == [("H100-SXM", "fp8", 1), ("H100-SXM", "fp8", 2)]
    assert sum(o["cheapest"] for o in got["options"]) == 1
