"""verify against edits of the figures a reader takes from a plan folder beyond the schedule:
the saving, the fleet summary, the buy list (plan.json's and buy.csv), the files the folder's
manifest lists, the price profile the plan names, the warnings its inputs imply, the bound's
consistency, the reserved rows' terms and a two-stage plan's scenario figures. Each edit
verified before (exit 0); each must fail the check that names it.

One plan and one two-stage plan are solved per module (a few hours of one workload: a pool,
hourly replicas and the API), then copied and edited per test.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from advisor.catalog import load_catalog
from advisor.demand import write_demand_csv
from advisor.files import sha256
from advisor.pipeline import input_digests, load_inputs, solve_plan, verify_files
from advisor.policy import Policy
from advisor.scenario_report import summary_md
from advisor.scenarios import load_scenarios
from advisor.verify import VerifyReport
from advisor.workloads import load_workloads
from tests.adversarial.helpers import FAST, GPU_CSV, HEADER, HOURS, WL, invoke, write

Edit = Callable[[dict[str, Any]], None]
#: a second workload, beside ``WL``
OTHER = "mixtral-8x7b-batch"


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved plan with a pool (a 3-year commitment on 4 hours: a short-horizon warning),
    hourly replicas and API rows."""
    tmp = tmp_path_factory.mktemp("plan")
    demand = write(tmp / "gpu.csv", GPU_CSV)
    out, data = _solve_and_save(tmp, demand)
    assert data["reserved"] and data["buy"], data["reserved"]
    return {"dir": out, "demand": demand}


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved two-stage plan over two scenarios, and its scenario's own demand file."""
    tmp = tmp_path_factory.mktemp("scenarios")
    rows = "".join(
        f"{name},{weight},{h},{WL},{int(n * factor)},,\n"
        for name, weight, factor in (("low", 0.4, 0.5), ("high", 0.6, 1.5))
        for h, n in zip(HOURS, (20000, 20000, 20000, 700000), strict=True)
    )
    path = write(tmp / "sc.csv", "scenario,scenario_weight," + HEADER + rows)
    out = tmp / "plan"
    res = invoke("solve", path, *FAST, "--workers", "1", "--out", out)
    assert res.exit_code == 0, res.output
    catalog = load_catalog([])
    scen = load_scenarios(path, load_workloads(catalog, []))
    top = int(np.argmax(scen.weights))
    one = write_demand_csv(scen.demands[top], tmp / "top.csv")
    return {"dir": out, "demand": one, "scenarios": path}


@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved plan of two workloads, each with GPU rows, sharing its costs."""
    tmp = tmp_path_factory.mktemp("two")
    rows = "".join(
        f"{h},{w},{n},,\n"
        for h, n in zip(HOURS, (20000, 20000, 20000, 700000), strict=True)
        for w in (WL, OTHER)
    )
    demand = write(tmp / "two.csv", HEADER + rows)
    out, _data = _solve_and_save(tmp, demand)
    return {"dir": out, "demand": demand}


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved plan beside an existing commitment that ends inside the horizon."""
    tmp = tmp_path_factory.mktemp("fleet")
    demand = write(tmp / "gpu.csv", GPU_CSV)
    fleet = write(
        tmp / "fleet.yaml",
        "commitments:\n  - {gpu: H100-SXM, count: 1, tier: reserved_1y, usd_per_hour: 2.0,\n"
        f"     end: '{HOURS[2]}', note: contract 7}}\n",
    )
    out, data = _solve_and_save(tmp, demand, fleet_file=fleet)
    assert data["existing"], data["existing"]
    return {"dir": out, "demand": demand, "fleet": fleet}


def _solve_and_save(tmp: Path, demand: Path, **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    """``demand`` solved (HiGHS, verified) and saved in ``tmp / 'plan'``; the folder and
    the plan's data."""
    plan = solve_plan(demand, solver="highs", time_limit_s=30, **kwargs)
    assert plan.verified, plan.data["verification"]
    out = tmp / "plan"
    plan.save(out)
    return out, plan.data


def _copy(src: Path, tmp: Path, edit: Edit | None = None) -> Path:
    """The plan folder copied (manifest included), its plan.json edited by ``edit`` and its
    summary.md written again from the edited plan.json (as a forger would, so that the check
    the edit is for is the one that fails)."""
    out = tmp / "edited"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out)
    if edit is not None:
        data = json.loads((out / "plan.json").read_text())
        edit(data)
        (out / "plan.json").write_text(json.dumps(data, indent=2))
        try:
            text = summary_md(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            return out  # an edit summary.md cannot show
        (out / "summary.md").write_text(text, encoding="utf-8")
    return out


def _failed(rep: VerifyReport) -> set[str]:
    return {c["check"] for c in rep.checks if not c["ok"]}


def _verify(solved: dict[str, Path], tmp: Path, edit: Edit | None = None) -> VerifyReport:
    return verify_files(_copy(solved["dir"], tmp, edit), solved["demand"])


def test_the_untouched_plan_verifies_with_every_new_check(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    rep = _verify(solved, tmp_path)
    assert rep.ok, rep.failures()
    names = {c["check"] for c in rep.checks}
    assert {"fleet", "plan_buy_list", "warnings", "stated_inputs", "plan_files"} <= names


def test_an_edited_saving_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    """compare showed "Saving 99.00%" for a plan verify called verified."""
    rep = _verify(solved, tmp_path, lambda d: d.update(savings_vs_best_baseline_fraction=0.99))
    assert "baselines" in _failed(rep), rep.checks


def test_an_edited_fleet_summary_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    rep = _verify(solved, tmp_path, lambda d: d["fleet"][0].update(peak_gpus=0))
    assert "fleet" in _failed(rep), rep.checks


def test_plan_jsons_buy_list_is_checked_beside_buy_csv(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """buy.csv replaced plan.json's copy before the check: plan.json's went unchecked."""
    rep = _verify(solved, tmp_path, lambda d: d["buy"][0].update(count=0))
    assert _failed(rep) == {"plan_buy_list"}, rep.checks


def test_a_buy_rows_commitment_and_peak_are_recomputed(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """check_buy_rows compared counts and GPU-hours only: the liability signed was free."""

    def edit(d: dict[str, Any]) -> None:
        d["buy"][0]["commitment_usd"] = 1.0
        d["buy"][0]["peak_count"] = 99

    rep = _verify(solved, tmp_path, edit)
    assert "plan_buy_list" in _failed(rep), rep.checks
    folder = _copy(solved["dir"], tmp_path)
    text = (folder / "buy.csv").read_text().splitlines()
    head = text[0].split(",")
    cells = text[1].split(",")
    cells[head.index("usd_per_month")] = "1"
    (folder / "buy.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    assert _failed(verify_files(folder, solved["demand"])) == {"buy_list"}


def test_a_reserved_rows_term_is_recomputed(solved: dict[str, Path], tmp_path: Path) -> None:
    rep = _verify(solved, tmp_path, lambda d: d["reserved"][0].update(commitment_usd=1.0))
    assert "totals" in _failed(rep), rep.checks


def test_a_folder_without_its_buy_csv_fails_naming_it(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """verify said 'ok buy_list: buy list = schedule totals' on a folder without buy.csv."""
    folder = _copy(solved["dir"], tmp_path)
    (folder / "buy.csv").unlink()
    rep = verify_files(folder, solved["demand"])
    assert "plan_files" in _failed(rep), rep.checks
    res = invoke("verify", folder, solved["demand"])
    assert res.exit_code == 1, res.output
    assert "FAIL plan_files: buy.csv missing" in res.output


def test_the_capacity_model_given_to_verify_is_the_one_checked(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """verify recomputed capacity with whatever model plan.json named: a plan whose record
    said 'roofline' (the fast upper bound) was checked against the roofline, and no flag
    could ask for the simulated model the planner meant."""
    ok = invoke("verify", solved["dir"], solved["demand"])
    assert ok.exit_code == 0, ok.output
    assert "the model plan.json records" in ok.output
    res = invoke("verify", solved["dir"], solved["demand"], "--capacity-model", "roofline")
    assert res.exit_code == 1, res.output
    assert "FAIL capacity_model" in res.output
    assert "solve again with --capacity-model roofline" in res.output
    folder = _copy(solved["dir"], tmp_path, lambda d: d.update(capacity_model="roofline"))
    rep = verify_files(folder, solved["demand"], capacity_model="simulated")
    assert "capacity_model" in _failed(rep), rep.checks
    same = invoke("verify", solved["dir"], solved["demand"], "--capacity-model", "simulated")
    assert same.exit_code == 0, same.output


def test_a_plan_naming_another_price_profile_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    """The tests solve on the seeds; a plan that says snapshot was verified on the seeds."""
    rep = _verify(solved, tmp_path, lambda d: d["inputs"].update(prices="snapshot"))
    assert "stated_inputs" in _failed(rep), rep.checks
    rep = _verify(solved, tmp_path, lambda d: d.pop("inputs"))
    assert "stated_inputs" in _failed(rep), rep.checks


def test_dropped_warnings_fail(solved: dict[str, Path], tmp_path: Path) -> None:
    """The 3-year commitment on 4 hours of demand implies a short-horizon warning."""
    rep = _verify(solved, tmp_path, lambda d: d.update(warnings=[]))
    assert "warnings" in _failed(rep), rep.checks
    assert (
        "a commitment of 3 year(s)"
        in next(c for c in rep.checks if c["check"] == "warnings")["detail"]
    )


def test_a_bound_raised_to_the_cost_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    """lower_bound_usd = total with gap 0 was consistent with itself, not with the solver's
    own figures."""

    def edit(d: dict[str, Any]) -> None:
        d["lower_bound_usd"], d["gap"] = d["total_cost_usd"], 0.0

    rep = _verify(solved, tmp_path, edit)
    assert "totals" in _failed(rep), rep.checks


def test_optimal_with_a_gap_beyond_the_tolerance_fails(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    def edit(d: dict[str, Any]) -> None:
        lower = d["total_cost_usd"] / 2
        d["lower_bound_usd"] = d["solver"]["bound"] = lower
        d["gap"] = d["solver"]["gap"] = 0.5
        d["solver"]["status"] = "optimal"

    rep = _verify(solved, tmp_path, edit)
    assert "totals" in _failed(rep), rep.checks
    assert "solver.status 'optimal'" in str(rep.checks)


SCENARIO_EDITS: dict[str, Edit] = {
    "worst": lambda s: s.update(worst_cost_usd=10.0),
    "cvar": lambda s: s.update(cvar_usd=10.0),
    "cost": lambda s: s["cost_by_scenario_usd"].update(low=100.0),
    "expected": lambda s: s.update(expected_cost_usd=10.0),
    "vss": lambda s: s.update(vss_usd=123.0),
    "evpi": lambda s: s.update(evpi_usd=123.0),
    "weights": lambda s: s.update(weights=[0.6, 0.4]),
    "regret": lambda s: s["regret_by_scenario_usd"].update(high=55.0),
    "objective": lambda s: s.update(objective_usd=1.0),
    "plan_scenario": lambda s: s.update(plan_scenario="low"),
}


def test_the_untouched_two_stage_plan_verifies(two_stage: dict[str, Path], tmp_path: Path) -> None:
    rep = _verify(two_stage, tmp_path)
    assert rep.ok, rep.failures()
    assert "scenarios" in {c["check"] for c in rep.checks}
    folder = _copy(two_stage["dir"], tmp_path)
    rep = verify_files(folder, two_stage["demand"], scenarios_file=two_stage["scenarios"])
    assert rep.ok, rep.failures()


@pytest.mark.parametrize("name", sorted(SCENARIO_EDITS))
def test_an_edited_scenario_figure_fails(
    two_stage: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """report printed "worst $10.00, CVaR@0.9 $10.00" for a plan verify called verified."""
    rep = _verify(two_stage, tmp_path, lambda d: SCENARIO_EDITS[name](d["scenarios"]))
    assert "scenarios" in _failed(rep), rep.checks


def test_an_edited_scenarios_csv_fails(two_stage: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(two_stage["dir"], tmp_path)
    lines = (folder / "scenarios.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = "1.0"  # two_stage_usd of the first scenario
    (folder / "scenarios.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]))
    assert "scenarios" in _failed(verify_files(folder, two_stage["demand"]))


def test_scenarios_are_checked_against_the_scenario_file(
    two_stage: dict[str, Path], tmp_path: Path
) -> None:
    """Given the scenario file, the plan's way of reading it (and its weights) must be the
    file's."""
    folder = _copy(two_stage["dir"], tmp_path, lambda d: d["scenarios"].update(method="p50"))
    rep = verify_files(folder, two_stage["demand"], scenarios_file=two_stage["scenarios"])
    assert "scenarios" in _failed(rep), rep.checks


def test_the_demand_must_be_the_scenario_files_plan_scenario(
    two_stage: dict[str, Path], tmp_path: Path
) -> None:
    catalog = load_catalog([])
    scen = load_scenarios(two_stage["scenarios"], load_workloads(catalog, []))
    other = write_demand_csv(scen.demands[int(np.argmin(scen.weights))], tmp_path / "low.csv")
    folder = _copy(two_stage["dir"], tmp_path)
    rep = verify_files(folder, other, scenarios_file=two_stage["scenarios"])
    assert "scenario_demand" in _failed(rep), rep.checks


def test_verify_takes_the_scenario_file_as_scenarios(
    two_stage: dict[str, Path], tmp_path: Path
) -> None:
    """`advisor verify PLAN DEMAND --scenarios FILE`: the scenario checks from the command
    line; the scenario file as DEMAND is still refused, saying to pass it as --scenarios."""
    folder = _copy(two_stage["dir"], tmp_path)
    res = invoke("verify", folder, two_stage["demand"], "--scenarios", two_stage["scenarios"])
    assert res.exit_code == 0, res.output
    assert "ok scenario_demand" in res.output
    res = invoke("verify", folder, two_stage["scenarios"])
    assert res.exit_code == 2 and "--scenarios" in res.output
    report = _copy(two_stage["dir"], tmp_path / "r")
    assert invoke("report", report).exit_code == 0
    (report / "report.md").unlink()  # the report's files are not the plan's
    assert invoke("verify", report, two_stage["demand"]).exit_code == 0


def test_a_missing_scenario_file_names_the_option(two_stage: dict[str, Path]) -> None:
    """It said "Demand file ... does not exist", naming no option."""
    res = invoke("verify", two_stage["dir"], two_stage["demand"], "--scenarios", "/no/such.csv")
    assert res.exit_code == 2 and "--scenarios '/no/such.csv' is not a file" in res.output


DEPLOYMENT_EDITS: dict[str, Edit] = {
    "capacity": lambda d: d["workloads"][WL]["deployments"][0].update(
        requests_per_hour_per_replica=d["workloads"][WL]["deployments"][0][
            "requests_per_hour_per_replica"
        ]
        * 10
    ),
    "latency": lambda d: d["workloads"][WL]["deployments"][0].update(tpot_ms=1.0),
    "margin": lambda d: d["workloads"][WL]["deployments"][0].update(tpot_margin=0.9),
    "cited error": lambda d: d["workloads"][WL]["deployments"][0]["capacity_check"].update(
        summary="perfect"
    ),
    "source": lambda d: d["workloads"][WL]["deployments"][0].update(capacity_source="measured"),
    "dropped": lambda d: d["workloads"][WL].update(deployments=[]),
    "serving dropped": lambda d: d["workloads"][WL].update(serving=[]),
    "share": lambda d: d["workloads"][WL]["serving"][0].update(share_of_requests=1.0),
}


@pytest.mark.parametrize("name", sorted(DEPLOYMENT_EDITS))
def test_edited_deployment_figures_fail(solved: dict[str, Path], tmp_path: Path, name: str) -> None:
    """A tenfold capacity per replica, a 1 ms TPOT and a 'perfect' cited error verified,
    and report showed them as the plan's capacity basis."""
    rep = _verify(solved, tmp_path, DEPLOYMENT_EDITS[name])
    assert _failed(rep) == {"deployments"}, rep.checks


def test_a_plan_on_measured_capacity_verifies_its_deployments(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """A deployment sized by the user's measurement is recomputed from that file."""
    data = json.loads((solved["dir"] / "plan.json").read_text())
    dep = data["workloads"][WL]["deployments"][0]
    model, gpu, quant, tp = dep["deployment"].split("|")
    if gpu not in load_catalog([]).gpus:  # an instance pool: its GPU type
        gpu = next(s["gpu"] for s in data["workloads"][WL]["serving"] if s["gpu"])
    w = load_workloads(load_catalog([]), [])[WL]
    rate = dep["requests_per_hour_per_replica"] / 3600 * 1.5
    cap = write(
        tmp_path / "cap.csv",
        "model,gpu,quant,tp,prompt_tokens,completion_tokens,tpot_ms,ttft_ms,requests_per_s\n"
        f"{model},{gpu},{quant},{tp.removeprefix('tp')},{w.prompt_tokens},"
        f"{w.completion_tokens},{w.tpot_ms},{w.ttft_ms},{rate}\n",
    )
    plan = solve_plan(solved["demand"], capacity_file=cap, solver="highs", time_limit_s=30)
    assert plan.verified, plan.data["verification"]
    sources = {e["capacity_source"] for e in plan.data["workloads"][WL]["deployments"]}
    assert "measured" in sources, plan.data["workloads"][WL]["deployments"]
    out = tmp_path / "measured"
    plan.save(out)
    rep = verify_files(out, solved["demand"], capacity_file=cap)
    assert rep.ok, rep.failures()
    assert "deployments" in {c["check"] for c in rep.checks}


def test_an_unreadable_policy_fails_a_named_check(solved: dict[str, Path], tmp_path: Path) -> None:
    """verify raised pydantic's ValidationError (a traceback) on plan.json's policy
    {'tiers': 5}."""
    rep = _verify(solved, tmp_path, lambda d: d.update(policy={"tiers": 5}))
    assert "policy_source" in _failed(rep), rep.checks
    res = invoke("verify", _copy(solved["dir"], tmp_path / "cli"), solved["demand"])
    assert res.exit_code == 0, res.output  # the untouched copy, through the CLI
    folder = _copy(solved["dir"], tmp_path / "bad", lambda d: d.update(policy={"tiers": 5}))
    res = invoke("verify", folder, solved["demand"])
    assert res.exit_code == 1 and "FAIL policy_source" in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


def test_the_policy_given_is_the_rule_checked(solved: dict[str, Path], tmp_path: Path) -> None:
    """verify took the policy from the plan it checked: a plan whose recorded policy was
    widened kept to it. Given here, the user's policy is the rule, and the plan must record
    it."""
    folder = _copy(solved["dir"], tmp_path)
    mine = Policy(tiers=["on_demand"])
    rep = verify_files(folder, solved["demand"], policy=mine)
    assert {"policy_source", "policy"} <= _failed(rep), rep.checks
    res = invoke("verify", folder, solved["demand"], "--tiers", "on_demand")
    assert res.exit_code == 1 and "FAIL policy_source" in res.output, res.output
    mine = Policy(tiers=["on_demand", "reserved_1y", "reserved_3y", "spot", "owned", "api"])
    edited = _copy(
        solved["dir"], tmp_path / "widened", lambda d: d.update(policy=mine.model_dump())
    )
    rep = verify_files(edited, solved["demand"], policy=Policy(tiers=["spot", "api"]))
    assert {"policy_source", "policy"} <= _failed(rep), rep.checks
    rep = verify_files(edited, solved["demand"], policy=Policy(tiers=list(reversed(mine.tiers))))
    assert rep.ok, rep.failures()  # the same rules, listed in another order


RUN_RECORD_EDITS: dict[str, Edit] = {
    "solver": lambda d: d["settings"].update(solver="gurobi"),
    "time limit": lambda d: d["settings"].update(time_limit_s=-1),
    "gap tolerance": lambda d: d["settings"].update(gap=5),
    "threads": lambda d: d["settings"].update(threads=0),
    "time points": lambda d: d["aggregation"].update(points=-4),
    "options": lambda d: d["options"].update(kept=-3),
}


@pytest.mark.parametrize("name", sorted(RUN_RECORD_EDITS))
def test_an_impossible_run_record_fails(solved: dict[str, Path], tmp_path: Path, name: str) -> None:
    """A solve by 'gurobi' with a gap tolerance of 5 (which let any gap be called optimal)
    and -4 time points verified."""
    rep = _verify(solved, tmp_path, RUN_RECORD_EDITS[name])
    assert _failed(rep) == {"totals"}, rep.checks


def test_an_edited_marginal_cost_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    """plan.json's marginal $/M output tokens (what one more million would cost on this
    fleet) verified at 0."""
    edit: Edit = lambda d: d["workloads"][WL].update(marginal_usd_per_m_output_tokens=0.0)  # noqa: E731
    rep = _verify(solved, tmp_path, edit)
    assert _failed(rep) == {"marginal"}, rep.checks
    assert "marginal" in {c["check"] for c in _verify(solved, tmp_path / "same").checks}


def test_a_plan_written_before_the_deployment_figures_still_verifies(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """A figure a plan does not state misleads no one: a plan from before it verifies."""

    def edit(d: dict[str, Any]) -> None:
        for key in ("deployments", "serving", "marginal_usd_per_m_output_tokens"):
            d["workloads"][WL].pop(key)

    rep = _verify(solved, tmp_path, edit)
    assert rep.ok, rep.failures()


def _edit_schedule(folder: Path, edit: Callable[[pd.DataFrame], None]) -> Path:
    """``folder``'s schedule.csv edited by ``edit``, its checksum in plan.json recomputed (as a
    forger would)."""
    path = folder / "schedule.csv"
    sched = pd.read_csv(io.StringIO(path.read_text()), dtype=str, keep_default_na=False)
    edit(sched)
    text = sched.to_csv(index=False)
    path.write_text(text)
    data = json.loads((folder / "plan.json").read_text())
    data["schedule_sha256"] = sha256(text)
    (folder / "plan.json").write_text(json.dumps(data, indent=2))
    return folder


@pytest.mark.parametrize("provider", ["", "nowhere", "together"])
def test_every_api_row_names_the_provider_its_workload_is_priced_at(
    solved: dict[str, Path], tmp_path: Path, provider: str
) -> None:
    """Only the first API row's provider was checked: later rows naming no provider, or one
    without an offer, were priced at $0 (their tokens free), and one outside the providers
    the workload may buy from at that provider's price."""

    def edit(sched: pd.DataFrame) -> None:
        api = sched.index[sched["source"] == "api"]
        assert len(api) > 1, "the fixture has API rows in more than one hour"
        sched.loc[api[1:], "provider"] = provider

    folder = _edit_schedule(_copy(solved["dir"], tmp_path), edit)
    rep = verify_files(folder, solved["demand"])
    assert "rules" in _failed(rep), rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "rules")
    assert f"API rows name {provider!r}" in detail, detail


def test_each_workloads_allocated_cost_is_recomputed(
    two_workloads: dict[str, Path], tmp_path: Path
) -> None:
    """Half of one workload's cost moved onto the other (their sum, each $/M and the total
    kept) verified: only the sum of cost_by_workload_usd was checked, not the allocation."""

    def edit(d: dict[str, Any]) -> None:
        by_w = d["cost_by_workload_usd"]
        moved = by_w[WL] / 2
        by_w[WL] -= moved
        by_w[OTHER] += moved
        for w in (WL, OTHER):
            entry = d["workloads"][w]
            entry["cost_usd"] = by_w[w]
            entry["usd_per_m_output_tokens"] = by_w[w] / entry["output_tokens"] * 1e6

    rep = verify_files(_copy(two_workloads["dir"], tmp_path, edit), two_workloads["demand"])
    assert _failed(rep) == {"totals"}, rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "totals")
    assert f"cost_by_workload_usd[{WL}]" in detail, detail
    assert verify_files(_copy(two_workloads["dir"], tmp_path / "same"), two_workloads["demand"]).ok


def test_the_api_provider_a_workload_names_is_the_one_it_is_priced_at(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """plan.json's api_provider (the API a reader is told the overflow goes to) verified as
    any name: only the prices beside it were checked."""
    edit: Edit = lambda d: d["workloads"][WL].update(api_provider="together")  # noqa: E731
    rep = _verify(solved, tmp_path, edit)
    assert _failed(rep) == {"echoes"}, rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "echoes")
    assert "api_provider" in detail, detail


EXISTING_EDITS: dict[str, Edit] = {
    "end": lambda d: d["existing"][0].update(end="2027-01-05T00:00:00+00:00"),
    "start": lambda d: d["existing"][0].update(start="2025-01-05T00:00:00+00:00"),
    "note": lambda d: d["existing"][0].update(note="free GPUs"),
    "utilization": lambda d: d["existing"][0].update(
        pool_utilization=1.0 - d["existing"][0]["pool_utilization"] / 2
    ),
    "under used": lambda d: d["existing"][0].update(under_used=not d["existing"][0]["under_used"]),
}


@pytest.mark.parametrize("name", sorted(EXISTING_EDITS))
def test_every_field_of_an_existing_commitment_is_checked(
    committed: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """A commitment's end moved a year on, its pool utilization raised and its under-used flag
    flipped verified: only its GPU, tier, count, active hours and spend were compared."""
    folder = _copy(committed["dir"], tmp_path, EXISTING_EDITS[name])
    rep = verify_files(folder, committed["demand"], fleet_file=committed["fleet"])
    assert _failed(rep) == {"existing"}, rep.checks
    same = verify_files(_copy(committed["dir"], tmp_path / "same"), committed["demand"],
                        fleet_file=committed["fleet"])  # fmt: skip
    assert same.ok, same.failures()


def _rewrite(folder: Path, name: str, text: str) -> Path:
    """``folder/name`` rewritten, the folder's manifest recording its new checksum (as a forger
    would)."""
    (folder / name).write_text(text, encoding="utf-8")
    manifest = folder / ".advisor" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][name]["sha256"] = sha256((folder / name).read_bytes())
    manifest.write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("plan", ["solved", "two_stage"])
def test_summary_md_says_what_plan_json_says(
    plan: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """summary.md (what a reader opens first) with its total cut to a tenth verified: only its
    presence was checked."""
    saved = request.getfixturevalue(plan)
    folder = _copy(saved["dir"], tmp_path)
    text = (folder / "summary.md").read_text(encoding="utf-8")
    total = json.loads((folder / "plan.json").read_text())["total_cost_usd"]
    shown = f"**Total cost: ${total:,.2f}**"
    assert shown in text, text
    _rewrite(folder, "summary.md", text.replace(shown, f"**Total cost: ${total / 10:,.2f}**"))
    rep = verify_files(folder, saved["demand"])
    assert _failed(rep) == {"summary"}, rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "summary")
    assert "Total cost" in detail, detail
    assert verify_files(_copy(saved["dir"], tmp_path / "same"), saved["demand"]).ok


def test_a_tier_the_cost_does_not_have_fails(solved: dict[str, Path], tmp_path: Path) -> None:
    """cost_by_tier_usd with a 'credits' line of -$1,000 (the total kept) verified, and
    summary.md's cost table showed it: only the tiers the cost has were compared."""
    rep = _verify(solved, tmp_path, lambda d: d["cost_by_tier_usd"].update(credits=-1000.0))
    assert _failed(rep) == {"cost"}, rep.checks
    assert "credits" in next(c["detail"] for c in rep.checks if c["check"] == "cost")


def test_the_api_rate_limit_holds_every_hour(solved: dict[str, Path], tmp_path: Path) -> None:
    """A catalog whose API offer states a rate limit: a plan sending ten times the limit's
    tokens to the API in an hour (its cost, total and shares all consistent) verified, the
    limit was a constraint of the solve only."""
    folder = _copy(solved["dir"], tmp_path)
    sched = pd.read_csv(folder / "schedule.csv")
    api = sched[sched["source"] == "api"]
    model = str(api["model"].iloc[0])
    provider = str(api["provider"].iloc[0])
    offer = load_catalog([]).api_offers[(model, provider)]
    # the limit: a tenth of the tokens the API takes in its busiest hour
    peak = float((api["input_tokens"] + api["output_tokens"]).max())
    catalog = write(
        tmp_path / "cat" / "apis.yaml",
        f"apis:\n  - {{model: {model}, provider: {provider},\n"
        f"     usd_per_m_input_tokens: {offer.usd_per_m_input_tokens},\n"
        f"     usd_per_m_output_tokens: {offer.usd_per_m_output_tokens},\n"
        f"     max_tokens_per_minute: {peak / 600}, source: test, as_of: 2026-11-01}}\n",
    ).parent
    data = json.loads((folder / "plan.json").read_text())
    inputs = load_inputs(solved["demand"], catalog_dirs=[catalog])
    data["input_sha256"]["catalog"] = input_digests(inputs)["catalog"]
    (folder / "plan.json").write_text(json.dumps(data, indent=2))
    rep = verify_files(folder, solved["demand"], catalog_dirs=[catalog])
    # the simple policies keep the limit too: those that send this hour to the API no
    # longer apply, so the plan's baseline figures are not those of these inputs either
    assert _failed(rep) == {"rules", "baselines"}, rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "rules")
    assert "rate limit" in detail, detail


def test_a_deployment_its_gpu_cannot_compute_is_named(
    solved: dict[str, Path], tmp_path: Path
) -> None:
    """A row moved to a quantization its GPU has no peak for (fp4 on an H100) failed as
    'plan_format: KeyError: fp4', the roofline's lookup, not a line naming the row."""
    catalog = load_catalog([])
    rows: list[int] = []

    def edit(sched: pd.DataFrame) -> None:
        i = sched.index[sched["source"] != "api"][0]
        rows.append(int(i) + 2)  # the CSV line (after the header) verify names
        gpu = catalog.gpus[sched.loc[i, "gpu"]]
        quant = next(q for q in sorted(catalog.quantizations)
                     if not catalog.supports(gpu, catalog.quant(q)))  # fmt: skip
        old = sched.loc[i, "quant"]
        sched.loc[i, "deployment"] = sched.loc[i, "deployment"].replace(f"|{old}|", f"|{quant}|")
        sched.loc[i, "quant"] = quant

    rep = verify_files(_edit_schedule(_copy(solved["dir"], tmp_path), edit), solved["demand"])
    assert _failed(rep) == {"schedule_numbers"}, rep.checks
    detail = next(c["detail"] for c in rep.checks if c["check"] == "schedule_numbers")
    assert f"row {rows[0]}:" in detail and "no peak" in detail, detail


def test_a_buy_list_has_exactly_its_columns(solved: dict[str, Path], tmp_path: Path) -> None:
    """buy.csv with a 'discount' column of 50% (what a procurement review signs) verified:
    only missing columns were named, though the list has exactly its columns."""
    folder = _with_column(solved["dir"], tmp_path, "buy.csv", discount="0.5")
    rep = verify_files(folder, solved["demand"])
    assert _failed(rep) == {"buy_list"}, rep.checks
    assert "discount" in _detail(rep, "buy_list")
    edit: Edit = lambda d: d["buy"][0].update(discount=0.5)  # noqa: E731
    rep = _verify(solved, tmp_path / "json", edit)
    assert _failed(rep) == {"plan_buy_list"}, rep.checks


def test_a_schedule_has_exactly_its_columns(solved: dict[str, Path], tmp_path: Path) -> None:
    """schedule.csv with an 'slo_met' column saying 'yes' on every row verified: only its
    missing columns were named."""

    def edit(sched: pd.DataFrame) -> None:
        sched["slo_met"] = "yes"

    rep = verify_files(_edit_schedule(_copy(solved["dir"], tmp_path), edit), solved["demand"])
    assert _failed(rep) == {"schedule_numbers"}, rep.checks
    assert "slo_met" in next(c["detail"] for c in rep.checks if c["check"] == "schedule_numbers")


def test_scenarios_csv_has_exactly_its_columns(two_stage: dict[str, Path], tmp_path: Path) -> None:
    """scenarios.csv with a 'p_over_budget' column of 0 on every scenario verified: only the
    columns that repeat plan.json's figures were compared."""
    folder = _with_column(two_stage["dir"], tmp_path, "scenarios.csv", p_over_budget="0")
    rep = verify_files(folder, two_stage["demand"])
    assert _failed(rep) == {"scenarios"}, rep.checks
    assert "p_over_budget" in _detail(rep, "scenarios")


def _with_column(src: Path, tmp: Path, name: str, **column: str) -> Path:
    """The plan folder ``src`` copied, its table ``name`` given one more column (as a
    forger would write it, checksum recomputed)."""
    folder = _copy(src, tmp)
    table = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    _rewrite(folder, name, table.assign(**column).to_csv(index=False))
    return folder


def _detail(rep: VerifyReport, check: str) -> str:
    """The detail of ``rep``'s check ``check``."""
    return next(c["detail"] for c in rep.checks if c["check"] == check)
