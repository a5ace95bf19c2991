"""Two-stage plans over scenarios: brute force on tiny instances, one scenario = today's solve.

Instances reuse the brute-force test's tiny catalog (one workload, GPU types at TP 1,
reserved_3y and on-demand, the API). Scenario costs of a fixed fleet are enumerated here from
prices and capacities alone, so the expected-cost optimum over fleets is known exactly.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.demand import Demand, write_scenarios_csv
from advisor.milp import POOL_EPSILON
from advisor.options import OptionSet
from advisor.pipeline import option_set, solve_inputs
from advisor.scenarios import ScenarioSet
from advisor.solve import DEFAULT_EXACT_BUDGET_S, SolverSettings, solve_fleet
from advisor.stochastic import (
    Risk,
    ScenarioClock,
    cap_by_subfleets,
    cvar,
    parse_risk,
    risk_bound,
    solve_scenarios,
    stacked_costs,
    weight_counts,
)
from advisor.units import HOURS_PER_MONTH, TOKENS_PER_M
from tests.test_solve_bruteforce import MAX_COUNT, WORKLOAD, instance

EXACT = SolverSettings("highs", time_limit_s=30, gap=0.0)


def fleet_cost(opts: OptionSet, demand: Demand, gpu: str, reserved: int) -> float:
    """One scenario's cost with ``reserved`` GPUs of type ``gpu`` fixed [USD], by enumeration."""
    wl = opts.workloads[WORKLOAD]
    (o,) = opts.options_for(WORKLOAD)
    cap = o.requests_per_hour / (1.0 + wl.headroom)
    od = opts.gpu_usd_per_hour[(gpu, "on_demand")]
    api = opts.api_usd_per_m.get(WORKLOAD)
    H = demand.n_hours
    cost = reserved * opts.gpu_usd_per_hour[(gpu, "reserved_3y")] * H
    for t in range(H):
        d = float(demand.requests[t, 0])
        if d <= 0:
            continue
        api_usd = (demand.input_tokens[t, 0] * api[0] + demand.output_tokens[t, 0] * api[1]) / (
            TOKENS_PER_M
        )
        best = np.inf
        for pool, hourly in itertools.product(range(reserved + 1), range(MAX_COUNT + 1)):
            rest = max(0.0, 1.0 - (pool + hourly) * cap / d)
            best = min(best, hourly * od + rest * api_usd)
        cost += best
    with_fleet = cost + opts.monthly_overhead_usd / HOURS_PER_MONTH * H
    if reserved:
        return with_fleet
    all_api = float(
        (demand.input_tokens[:, 0] * api[0] + demand.output_tokens[:, 0] * api[1]).sum()
        / TOKENS_PER_M
    )
    return min(all_api, with_fleet)


def scenario_instance(pattern, factors, weights, overhead=20.0):
    inputs = instance(("L4",), pattern, overhead, True)
    d = inputs.demand
    demands = tuple(
        Demand.from_requests(
            d.hours,
            {WORKLOAD: np.round(d.requests[:, 0] * f)},
            prompt_tokens={WORKLOAD: inputs.workloads[WORKLOAD].prompt_tokens},
            completion_tokens={WORKLOAD: inputs.workloads[WORKLOAD].completion_tokens},
        )
        for f in factors
    )
    scen = ScenarioSet(tuple(f"s{i}" for i in range(len(factors))), np.array(weights), demands)
    return dataclasses.replace(inputs, demand=scen.mean_demand()), scen


@pytest.mark.parametrize(
    ("pattern", "factors", "weights"),
    [
        ((1.0, 2.0, 0.6), (0.5, 1.0, 1.5), (0.3, 0.4, 0.3)),
        ((0.9, 0.9, 0.9), (0.3, 1.8), (0.5, 0.5)),
    ],
)
def test_two_stage_plan_matches_brute_force(pattern, factors, weights) -> None:
    inputs, scen = scenario_instance(pattern, factors, weights)
    opts = option_set(inputs)
    by_fleet = {
        r: np.array([fleet_cost(opts, d, "L4", r) for d in scen.demands])
        for r in range(MAX_COUNT + 1)
    }
    expected = {r: float(np.dot(scen.weights, c)) for r, c in by_fleet.items()}
    best = min(expected.values())
    sp = solve_scenarios(inputs, scen, EXACT, aggregate="exact", workers=1)
    s = sp.summary
    slack = POOL_EPSILON * 3 * MAX_COUNT
    assert s["expected_cost_usd"] == pytest.approx(best, rel=1e-6, abs=slack)
    r = sum(f["count"] for f in s["fleet"])
    assert np.allclose(list(s["cost_by_scenario_usd"].values()), by_fleet[r], rtol=1e-6)
    # the single-forecast fleet, priced on every scenario, and the measures built on it
    r1 = sum(f["count"] for f in s["single_forecast_fleet"])
    assert s["single_forecast_expected_cost_usd"] == pytest.approx(expected[r1], rel=1e-6)
    assert s["vss_usd"] >= -1e-9
    own = [min(by_fleet[k][i] for k in by_fleet) for i in range(scen.n)]
    assert s["evpi_usd"] == pytest.approx(best - np.dot(scen.weights, own), rel=1e-5, abs=slack)
    assert s["bound_usd"] <= s["expected_cost_usd"] + 1e-9 and s["gap"] < 1e-4
    assert sp.plan.verified
    assert sp.plan.data["scenarios"]["plan_scenario"] == scen.names[int(np.argmax(weights))]


def test_a_fleet_is_priced_no_higher_than_a_fleet_it_contains_plus_its_idle_gpus() -> None:
    """A recourse solve cut short by its time limit priced 6 owned H100s $25k above 5 on
    one scenario of the scenario benchmark, where the sixth, idle, costs $15.2k: the smaller
    fleet's plan with the extra GPU idle is a plan of the larger one."""
    inputs, _ = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.0), (0.5, 0.5))
    opts = option_set(inputs)
    key = ("L4", "reserved_3y")
    idle_usd = opts.gpu_usd_per_hour[key] * 3  # one GPU over the 3 hours
    fleets = {
        "one": {key: 1},
        "two": {key: 2},
        "three": {key: 3},
        "api": {},
    }
    priced = {
        "one": np.array([100.0, 200.0]),
        "two": np.array([1e6, 150.0]),
        "three": np.array([1e9, 1e9]),
        "api": np.array([5e6, 50.0]),
    }
    capped = cap_by_subfleets(priced, fleets, opts, 3)
    assert capped["api"].tolist() == [5e6, 50.0]
    assert capped["one"].tolist() == [100.0, 50.0 + idle_usd]
    assert np.allclose(capped["two"], [100.0 + idle_usd, 50.0 + 2 * idle_usd])
    # through the chain: "three" contains "two", which the cap already lowered
    assert np.allclose(capped["three"], [100.0 + 2 * idle_usd, 50.0 + 3 * idle_usd])
    assert priced["two"].tolist() == [1e6, 150.0]  # the input is left as it was


def test_the_first_stage_schedule_prices_its_fleet_on_every_scenario() -> None:
    """The first stage solves the scenarios' hours laid end to end; each scenario's stretch
    of its schedule is a plan of its fleet there, at the enumerated cost."""
    inputs, scen = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.0, 1.5), (0.25, 0.5, 0.25))
    opts = option_set(inputs)
    counts, exact = weight_counts(scen.weights)
    assert exact
    copies = [d for d, n in zip(scen.demands, counts, strict=True) for _ in range(int(n))]
    sol = solve_fleet(
        opts,
        scen.demands[0].workloads,
        *(
            np.vstack([getattr(d, a) for d in copies])
            for a in ("requests", "input_tokens", "output_tokens")
        ),
        EXACT,
        aggregate="exact",
    )
    reserved = sum(sol.reserved.values())
    costs = stacked_costs(inputs, opts, scen, counts, sol)
    enumerated = [fleet_cost(opts, d, "L4", reserved) for d in scen.demands]
    assert np.allclose(costs, enumerated, rtol=1e-6)
    # a schedule that is not the stacked one prices nothing
    short = dataclasses.replace(sol, hours=sol.hours[:3])
    assert np.isinf(stacked_costs(inputs, opts, scen, counts, short)).all()


def test_minmax_worst_case_is_no_worse_than_the_single_forecast() -> None:
    inputs, scen = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.0, 1.6), (0.3, 0.4, 0.3))
    s = solve_scenarios(inputs, scen, EXACT, risk=parse_risk("minmax"), workers=1).summary
    assert s["worst_cost_usd"] <= s["single_forecast_worst_cost_usd"] + 1e-9
    assert s["objective_usd"] == pytest.approx(s["worst_cost_usd"])
    assert s["bound_usd"] <= s["objective_usd"] + 1e-9


def test_one_scenario_equals_todays_solve() -> None:
    inputs, scen = scenario_instance((1.0, 2.0, 0.6), (1.0,), (1.0,))
    today = solve_inputs(dataclasses.replace(inputs, demand=scen.demands[0]), EXACT)
    sp = solve_scenarios(inputs, scen, EXACT)
    assert sp.plan.total_cost_usd == today.total_cost_usd
    assert sp.plan.data["reserved"] == today.data["reserved"]
    s = sp.summary
    assert s["expected_cost_usd"] == today.total_cost_usd
    assert s["vss_usd"] == 0 and s["evpi_usd"] == 0
    # one scenario: the whole solve is the plan's own
    assert s["seconds"] == sp.plan.data["solver"]["seconds"]


def test_cvar_and_risk_parsing() -> None:
    c, w = np.array([10.0, 20.0, 40.0]), np.array([0.5, 0.3, 0.2])
    assert cvar(c, w, 0.0) == pytest.approx(np.dot(c, w))
    assert cvar(c, w, 0.8) == pytest.approx(40.0)
    assert cvar(c, w, 0.7) == pytest.approx((0.2 * 40 + 0.1 * 20) / 0.3)
    assert parse_risk("cvar:0.9:0.5") == Risk("cvar", 0.9, 0.5)
    assert Risk("cvar", 0.8, 1.0).value(c, w) == pytest.approx(np.dot(c, w) + 40.0)
    for bad in ("cvar:1:1", "cvar:0.5", "worst", "cvar:a:b"):
        with pytest.raises(Exception, match="--risk"):
            parse_risk(bad)


def test_weight_counts() -> None:
    n, exact = weight_counts(np.array([0.3, 0.4, 0.3]))
    assert n.tolist() == [3, 4, 3] and exact
    n, exact = weight_counts(np.array([1 / 3, 2 / 3]))
    assert n.tolist() == [1, 2] and exact
    n, exact = weight_counts(np.array([0.001, 0.999]))
    assert not exact and n.min() >= 1


def test_cli_solve_with_scenarios_writes_the_summary(saved_two_stage) -> None:
    _, out, doc = saved_two_stage
    s = doc["scenarios"]
    for key in (
        "names",
        "weights",
        "cost_by_scenario_usd",
        "expected_cost_usd",
        "cvar_usd",
        "vss_usd",
        "evpi_usd",
    ):
        assert key in s
    assert s["names"] == ["s0", "s1"] and s["vss_usd"] >= 0
    assert (out / "scenarios.csv").is_file() and (out / "scenarios.png").is_file()
    assert "Scenarios (two-stage plan)" in (out / "summary.md").read_text()
    saved = json.loads((out / "plan.json").read_text())
    assert saved["scenarios"]["expected_cost_usd"] == pytest.approx(s["expected_cost_usd"])
    res = CliRunner().invoke(app, ["report", str(out / "plan.json")])
    assert res.exit_code == 0, res.output
    assert "Scenarios (two-stage plan)" in (out / "report.md").read_text()


def test_the_two_stage_solve_reports_its_whole_time(saved_two_stage, tmp_path) -> None:
    """The plan's ``solver`` is the chosen fleet's schedule on one scenario; the scenarios'
    ``seconds`` is the whole two-stage solve, which the command prints beside its gap."""
    path, out, doc = saved_two_stage
    assert doc["scenarios"]["seconds"] > doc["solver"]["seconds"]
    assert "the whole two-stage solve took" in (out / "summary.md").read_text()
    res = CliRunner().invoke(
        app, ["solve", str(path), "--solver", "highs", "--workers", "1", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "the two-stage solve took" in res.output
    assert "(the schedule on scenario" in res.output


def test_the_default_budget_follows_the_distinct_hours_not_the_weights(monkeypatch) -> None:
    """Weights 0.1/0.9 stack ten copies of 48 hours (480 > 400) where 0.5/0.5 stack two; the
    copies merge exactly, so both have the same few distinct hours and the one-demand default
    budget for them (15 s). The weights' copies gave the first 240 s (a 336-hour two-scenario
    week at 0.3/0.7 on the seeds' prices ran 161 s where its help promised 15)."""
    budgets: list[float] = []
    start = ScenarioClock.start.__func__

    def spy(cls, *args):
        clock = start(cls, *args)
        budgets.append(clock.budget.total_s)
        return clock

    monkeypatch.setattr(ScenarioClock, "start", classmethod(spy))
    inputs, _ = scenario_instance((1.0, 2.0, 0.6), (1.0,), (1.0,))
    hours = pd.date_range("2026-01-05", periods=48, freq="h", tz="UTC")
    wl = inputs.workloads[WORKLOAD]
    base = np.resize(inputs.demand.requests[:, 0], len(hours))
    demands = tuple(
        Demand.from_requests(
            hours,
            {WORKLOAD: np.round(base * f)},
            prompt_tokens={WORKLOAD: wl.prompt_tokens},
            completion_tokens={WORKLOAD: wl.completion_tokens},
        )
        for f in (0.5, 1.5)
    )
    for weights in ((0.1, 0.9), (0.5, 0.5)):
        scen = ScenarioSet(("low", "high"), np.array(weights), demands)
        sp = solve_scenarios(
            dataclasses.replace(inputs, demand=scen.mean_demand()),
            scen,
            SolverSettings("highs"),
            workers=1,
        )
        assert sp.plan.verified
    assert budgets == [DEFAULT_EXACT_BUDGET_S, DEFAULT_EXACT_BUDGET_S]


def test_a_later_plan_in_the_folder_removes_the_scenario_files(saved_two_stage, tmp_path):
    """Regression: scenarios.csv and scenarios.png were written beside the plan, not with it,
    so a one-forecast plan saved there later left them, describing another plan."""
    import shutil

    from advisor.demand import write_demand_csv
    from advisor.scenarios import load_scenarios

    path, out, _ = saved_two_stage
    folder = tmp_path / "plan"
    shutil.copytree(out, folder)
    assert (folder / "scenarios.csv").is_file() and (folder / "scenarios.png").is_file()
    inputs, _ = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.5), (0.5, 0.5))
    one = write_demand_csv(load_scenarios(path, inputs.workloads).demands[0], tmp_path / "1.csv")
    args = ["solve", str(one), "--solver", "highs", "--quiet", "--out", str(folder)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert not (folder / "scenarios.csv").exists() and not (folder / "scenarios.png").exists()


def test_verify_on_a_scenario_file_names_the_plans_scenario(saved_two_stage) -> None:
    """verify checks a plan against one demand; on the scenario file it said only that the
    command does not read scenarios, not which demand the plan's schedule is of."""
    path, out, doc = saved_two_stage
    res = CliRunner().invoke(app, ["verify", str(out), str(path)])
    assert res.exit_code == 2, res.output
    name = doc["scenarios"]["plan_scenario"]
    assert f"this plan's schedule is of its scenario '{name}'" in " ".join(res.output.split())


def test_stress_on_an_unknown_workload_does_not_point_to_a_missing_flag(
    saved_two_stage, tmp_path
) -> None:
    """stress has no --workloads: its error said to define the workload in a --workloads
    file."""
    _, out, doc = saved_two_stage
    futures = tmp_path / "f.csv"
    futures.write_text(f"hour,workload,requests\n{doc['demand']['start']},nope,5\n")
    res = CliRunner().invoke(app, ["stress", str(out), "--demand", str(futures)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "--workloads" not in text and "the workloads the plan was solved for" in text


def test_a_scenario_folder_from_before_the_manifest_held_its_files_is_solved_again(
    saved_two_stage, tmp_path
) -> None:
    """Before 2026-12-01 scenarios.csv/png were written outside the folder's manifest; a
    scenario solve into such a folder replaces them (it would refuse them as the user's)."""
    import shutil

    from advisor.files import MANIFEST, META_DIR

    path, out, _ = saved_two_stage
    folder = tmp_path / "plan"
    shutil.copytree(out, folder)
    manifest = folder / META_DIR / MANIFEST
    data = json.loads(manifest.read_text())
    for name in ("scenarios.csv", "scenarios.png"):
        data["files"].pop(name)
    manifest.write_text(json.dumps(data))
    (folder / "scenarios.csv").write_text("scenario\nold\n")  # an older plan's table
    args = ["solve", str(path), "--solver", "highs", "--workers", "1", "--quiet"]
    res = CliRunner().invoke(app, [*args, "--out", str(folder)])
    assert res.exit_code == 0, res.output
    assert "old" not in (folder / "scenarios.csv").read_text()


@pytest.fixture(scope="module")
def saved_two_stage(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stress")
    _, scen = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.5), (0.5, 0.5))
    path = write_scenarios_csv(scen.demands, scen.names, scen.weights, tmp / "d.csv")
    out = tmp / "plan"
    res = CliRunner().invoke(
        app,
        [
            "solve",
            str(path),
            "--solver",
            "highs",
            "--aggregate",
            "exact",
            "--quiet",
            "--workers",
            "1",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    return path, out, json.loads(res.output)


def test_stress_reprices_the_saved_fleet_on_every_future(saved_two_stage, tmp_path) -> None:
    path, plan_dir, doc = saved_two_stage
    args = ["stress", str(plan_dir), "--demand", str(path), "--solver", "highs", "--json"]
    res = CliRunner().invoke(app, [*args, "--workers", "1", "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert got["served"] == got["futures"] == 2 and got["slo_violating_hours"] == 0
    assert got["workers"] == 1
    # the same fleet and recourse as the two-stage plan's own pricing of its scenarios
    by = {f["scenario"]: f["cost_usd"] for f in got["by_future"]}
    for name, cost in doc["scenarios"]["cost_by_scenario_usd"].items():
        assert by[name] == pytest.approx(cost, rel=1e-9)
    assert got["expected_cost_usd"] == pytest.approx(doc["scenarios"]["expected_cost_usd"])
    assert (tmp_path / "s.csv").is_file()
    # a local Dask cluster gives the same results
    res = CliRunner().invoke(app, [*args, "--workers", "2", "--cluster", "dask"])
    assert res.exit_code == 0, res.output
    assert [f["cost_usd"] for f in json.loads(res.output)["by_future"]] == [
        f["cost_usd"] for f in got["by_future"]
    ]


def test_stress_exits_1_where_a_future_cannot_be_served_with_json_too(
    saved_two_stage, monkeypatch
) -> None:
    """`advisor stress --json` exited 0 where futures could not be served (the text output
    exits 1): a script reading the exit status took the plan for robust."""
    import advisor.stochastic as st

    path, plan_dir, _ = saved_two_stage
    real = st.stress_plan

    def one_unserved(*a, **kw):  # type: ignore[no-untyped-def]
        got = real(*a, **kw)
        return {**got, "unserved_futures": [got["by_future"][0]["scenario"]]}

    monkeypatch.setattr(st, "stress_plan", one_unserved)
    args = ["stress", str(plan_dir), "--demand", str(path), "--solver", "highs"]
    for extra in ([], ["--json"]):
        res = CliRunner().invoke(app, [*args, "--workers", "1", *extra])
        assert res.exit_code == 1, res.output
    assert json.loads(res.output)["unserved_futures"]


def test_stress_on_futures_shorter_than_the_plan_says_so(saved_two_stage, tmp_path) -> None:
    """Futures of fewer hours than the plan were priced beside the plan's whole-horizon cost
    with no word ($477 for 24 h against $3,180 for 168 h read as a saving)."""
    path, plan_dir, doc = saved_two_stage
    lines = path.read_text().splitlines()
    hours = sorted({ln.split(",")[2] for ln in lines[1:]})  # scenario, weight, hour, ...
    short = tmp_path / "short.csv"
    short.write_text(
        "\n".join([lines[0], *[ln for ln in lines[1:] if ln.split(",")[2] != hours[-1]]])
    )
    args = ["stress", str(plan_dir), "--demand", str(short), "--solver", "highs", "--workers", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    n = len(hours) - 1
    assert f"the futures cover {n} h and the plan {len(hours)} h" in res.stderr
    got = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert (got["future_hours"], got["plan_hours"]) == (n, doc["horizon_hours"])


def test_stress_needs_one_source_of_futures(saved_two_stage) -> None:
    _, plan_dir, _ = saved_two_stage
    res = CliRunner().invoke(app, ["stress", str(plan_dir)])
    assert res.exit_code == 2 and "--demand" in res.output


def test_scenario_solves_take_the_policy_and_capacity_model_flags(saved_two_stage) -> None:
    """The scenario path dropped --tiers, --policy and --capacity-model without a word: a
    plan "without reserved tiers" reserved GPUs and recorded no policy."""
    path, _, _ = saved_two_stage
    args = ["solve", str(path), "--solver", "highs", "--aggregate", "exact", "--quiet"]
    args += ["--workers", "1", "--json", "--tiers", "on_demand,spot,api"]
    res = CliRunner().invoke(app, [*args, "--capacity-model", "roofline"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["policy"]["tiers"] == ["on_demand", "spot", "api"]
    assert doc["reserved"] == [] and doc["capacity_model"] == "roofline"
    res = CliRunner().invoke(app, [*args, "--min-rental-hours", "4"])
    assert res.exit_code == 2 and "not available with scenarios" in res.output


def test_a_two_stage_solve_shares_one_time_limit_among_its_solves(monkeypatch) -> None:
    """Every solve of a two-stage run got the whole --time-limit (the first stage, each
    scenario's own solve, each fleet on each scenario, the plan): with many scenarios the
    run took many times its limit. On a clock where every solve runs to its limit (the worst
    case), the run now ends within the limit."""
    import time

    import advisor.stochastic as st

    now = [0.0]
    real = st.solve_fleet

    def to_its_limit(*args, **kwargs):
        settings = args[5] if len(args) > 5 else kwargs["settings"]
        got = real(*args, **kwargs)
        now[0] += settings.time_limit_s
        return got

    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    import advisor.pipeline as pl

    # the first stage is solved here, every other solve through pipeline.solve_demand
    monkeypatch.setattr(st, "solve_fleet", to_its_limit)
    monkeypatch.setattr(pl, "solve_fleet", to_its_limit)
    inputs, scen = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.0, 1.5, 2.0), (0.25,) * 4)
    limit = 60.0
    solve_scenarios(inputs, scen, SolverSettings("highs", limit, 1e-3), workers=1)
    assert 0 < now[0] <= limit * (1 + 1e-9)


def test_the_wait_and_see_bound_bounds_the_expected_cost(monkeypatch) -> None:
    """The expected cost's bound was only the first stage's MILP bound over every scenario's
    hours, the largest and slowest model of the run: where that proved little (a year of
    twenty scenarios: 2.7%), the gap stayed wide although every scenario's own solve had
    proven a tight bound. Each scenario's own optimum bounds what any fleet costs there, so
    ``Σ p_s·LB_s`` bounds the expected cost too. Here the first stage proves nothing."""
    import advisor.stochastic as st

    real = st.solve_fleet
    calls = []

    def first_stage_proves_nothing(*args, **kwargs):
        got = real(*args, **kwargs)
        calls.append(1)
        return dataclasses.replace(got, lower_bound=None) if len(calls) == 1 else got

    monkeypatch.setattr(st, "solve_fleet", first_stage_proves_nothing)
    inputs, scen = scenario_instance((1.0, 2.0, 0.6), (0.5, 1.0, 1.5), (0.3, 0.4, 0.3))
    s = solve_scenarios(inputs, scen, EXACT, aggregate="exact", workers=1).summary
    own = np.array(list(s["own_optimum_by_scenario_usd"].values()))
    assert s["first_stage_bound_usd"] is None
    assert s["wait_and_see_bound_usd"] == pytest.approx(float(np.dot(scen.weights, own)), rel=1e-6)
    assert s["bound_usd"] == pytest.approx(s["wait_and_see_bound_usd"])
    assert s["bound_usd"] <= s["expected_cost_usd"] + 1e-9
    assert s["gap"] == pytest.approx(s["evpi_usd"] / s["expected_cost_usd"], abs=1e-6)


def test_risk_bound_takes_the_larger_of_its_two_bounds() -> None:
    w = np.array([0.5, 0.5])
    own = np.array([10.0, 30.0])
    assert risk_bound(Risk(), w, own, None) == 20.0
    assert risk_bound(Risk(), w, own, 25.0) == 25.0
    assert risk_bound(Risk("minmax"), w, own, 25.0) == 30.0
    assert risk_bound(Risk("minmax"), w, own, 35.0) == 35.0
    # mean + 0.5·CVaR_0.5 of the own bounds: 20 + 0.5·30; of the first stage: 1.5·25
    assert risk_bound(Risk("cvar", 0.5, 0.5), w, own, 25.0) == 37.5
    assert risk_bound(Risk("cvar", 0.5, 0.5), w, own, 20.0) == 35.0


def test_stress_keeps_the_plan_s_policy_and_capacity_model(tmp_path) -> None:
    """Stressed on its own demand, a plan must cost what it costs. A plan solved on-demand
    only (`--tiers on_demand`) with the fast capacity model was repriced with spot and the
    simulated capacities: 24 hours of mixed_week, $550.74 against its own $586.54 (the week:
    $3,903.32 against $4,009.79)."""
    from pathlib import Path

    rows = Path("demand/mixed_week.csv").read_text().splitlines()
    day = [rows[0]] + [r for r in rows[1:] if r.startswith("2026-01-05")]
    demand = tmp_path / "day.csv"
    demand.write_text("\n".join(day) + "\n")
    out = tmp_path / "plan"
    solve = ["solve", str(demand), "--tiers", "on_demand", "--capacity-model", "roofline"]
    res = CliRunner().invoke(app, [*solve, "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    own = json.loads((out / "plan.json").read_text())["total_cost_usd"]
    res = CliRunner().invoke(app, ["stress", str(out), "--demand", str(demand), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["expected_cost_usd"] == pytest.approx(own, rel=1e-6)
