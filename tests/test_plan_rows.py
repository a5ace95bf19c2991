"""plan.json's fleet rows (reserved, existing, fleet, buy) and its horizon are checked when a
plan is loaded: `advisor compare`, `report` and `stress` index these rows directly, and a row
edited after advisor wrote it (a count that is text, null, fractional or negative, a missing
tier) printed a Python traceback, or was stressed as given (-6 reserved GPUs, 2.7 read as
2). Now each exits 2 with one line naming the row and key."""

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

ROOT = Path(__file__).resolve().parents[1]
SOLVER = "highs" if "highs" in available_solvers() else "cbc"

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first two days of the spiky diurnal example: a plan with a reserved pool."""
    root = tmp_path_factory.mktemp("rows")
    lines = (ROOT / "demand" / "spiky_diurnal.csv").read_text(encoding="utf-8").splitlines()
    demand = root / "spiky_48h.csv"
    demand.write_text("\n".join(lines[:49]) + "\n", encoding="utf-8")
    plan = solve_plan(demand, solver=SOLVER, time_limit_s=60, gap=1e-3)
    assert plan.data["reserved"] and plan.data["fleet"] and plan.data["buy"]
    return {"plan": plan.save(root / "plan"), "demand": demand}


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        d[key.split("/")[0]][0][key.split("/")[1]] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        del d[key.split("/")[0]][0][key.split("/")[1]]

    return edit


def _top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.update({key: value})


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("count text", _set("reserved/count", "six"), "reserved[0].count 'six' is not a number"),
    ("count null", _set("reserved/count", None), "reserved[0].count None is not a number"),
    ("count fraction", _set("reserved/count", 2.7), "reserved[0].count 2.7 is not a whole"),
    ("count negative", _set("reserved/count", -6), "reserved[0].count -6 is not a finite"),
    ("count bool", _set("reserved/count", True), "reserved[0].count True is not a number"),
    ("no tier", _drop("reserved/tier"), "reserved[0] has no 'tier'"),
    ("pool number", _set("reserved/pool", 5), "reserved[0].pool 5 is not text"),
    ("fleet peak", _set("fleet/peak_gpus", "x"), "fleet[0].peak_gpus 'x' is not a number"),
    ("fleet tier", _drop("fleet/tier"), "fleet[0] has no 'tier'"),
    ("buy count", _set("buy/count", "x"), "buy[0].count 'x' is not a number"),
    ("existing", _top("existing", [{"gpu": "H100-SXM"}]), "existing[0] has no 'tier'"),
    ("horizon 0", _top("horizon_hours", 0), "horizon_hours"),
    ("horizon negative", _top("horizon_hours", -5), "horizon_hours"),
]


@pytest.mark.parametrize(
    ("edit", "says"), [(e, s) for _, e, s in EDITS], ids=[n for n, *_ in EDITS]
)
@pytest.mark.parametrize("command", ["compare", "report", "stress"])
def test_an_edited_row_is_a_clean_error(
    saved: dict[str, Path],
    tmp_path: Path,
    command: str,
    edit: Callable[[dict[str, Any]], None],
    says: str,
) -> None:
    args = _forged_args(saved, tmp_path, edit, command)
    res = runner.invoke(app, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, res.output
    assert "not a plan advisor wrote" in res.output and says in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_the_untouched_plan_still_reads(saved: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["compare", str(saved["plan"]), str(saved["plan"])])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["stress", str(saved["plan"]), "--demand", str(saved["demand"])])
    assert res.exit_code == 0, res.output


DEEP_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("demand text", _top("demand", "x")),
    (
        "deployments text",
        lambda d: d["workloads"][next(iter(d["workloads"]))].update(deployments="x"),
    ),
    (
        "deployment number",
        lambda d: d["workloads"][next(iter(d["workloads"]))].update(deployments=[1]),
    ),
    ("solver seconds", _top("solver", {"seconds": "x"})),
    ("baseline text", _top("baselines", {"x": {"total_cost_usd": "y"}})),
]


@pytest.mark.parametrize("edit", [e for _, e in DEEP_EDITS], ids=[n for n, _ in DEEP_EDITS])
@pytest.mark.parametrize("command", ["compare", "report"])
def test_an_edited_value_deep_in_the_plan_is_a_clean_error(
    saved: dict[str, Path], tmp_path: Path, command: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    """A value of the wrong shape deep in an edited plan.json (the demand as text, a
    deployment that is a number) printed AttributeError or ValueError tracebacks: the
    plan now reads as edited and unreadable, exit 2; a readable edit still reads."""
    args = _forged_args(saved, tmp_path, edit, command)
    res = runner.invoke(app, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 2), res.output
    if res.exit_code == 2:
        assert "was changed after advisor wrote it and cannot be read" in res.output
        assert not (tmp_path / "r").exists()


def _forged_args(
    saved: dict[str, Path], tmp_path: Path, edit: Callable[[dict[str, Any]], None], command: str
) -> list[str]:
    """A copy of the saved plan with ``edit`` made to its plan.json, and ``command``'s
    arguments reading it."""
    forged = tmp_path / "forged"
    shutil.copytree(saved["plan"], forged)
    data = json.loads((forged / "plan.json").read_text(encoding="utf-8"))
    edit(data)
    (forged / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    return {
        "compare": ["compare", str(saved["plan"]), str(forged)],
        "report": ["report", str(forged), "--out", str(tmp_path / "r")],
        "stress": ["stress", str(forged), "--demand", str(saved["demand"])],
    }[command]


def test_a_small_share_of_requests_is_not_written_as_none() -> None:
    """spiky_diurnal with 14 committed GPUs (seeds) sent 0.3% of its 10,071,508 requests to
    the API ($33.20), and the summary's "served on" read "API 0%" (the CLI's "to API" too),
    as if the API served none; a share that rounds to 0% or 100% without being it reads
    "<1%" or ">99%"."""
    from advisor.plan import serving_text, share_text

    assert share_text(0.003169) == "<1%" and share_text(0.0) == "0%"
    assert share_text(0.9968) == ">99%" and share_text(1.0) == "100%"
    assert share_text(0.42) == "42%"
    serving = [
        {"source": "pool", "gpu": "MI300X", "quant": "fp8", "tp": 4, "share_of_requests": 0.9968},
        {"source": "api", "share_of_requests": 0.0032},
    ]
    assert serving_text(serving) == "MI300X fp8 TP4 pool >99%, API <1%"
