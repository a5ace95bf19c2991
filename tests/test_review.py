"""A plan a procurement review can sign: commitments in the bound and in every baseline, caps
per offer, and the newcomer's case (own demand, a fleet file with a reservation ending
mid-horizon and owned GPUs) rebuilt small."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.buylist import BUY_COLUMNS
from advisor.catalog import load_catalog
from advisor.cli import app
from advisor.errors import DemandError
from advisor.fleet import load_fleet
from advisor.pipeline import load_inputs, solve_inputs, solve_plan, verify_files
from advisor.plan import Plan, against_policy, savings_text
from advisor.policy import Policy
from advisor.solve import SolverSettings, available_solvers
from advisor.units import HOURS_PER_MONTH

ROOT = Path(__file__).resolve().parents[1]
DEMAND = ROOT / "demand"
SOLVERS = [s for s in ("cbc", "highs") if s in available_solvers()]
FAST = SolverSettings(SOLVERS[-1], 120, 1e-3)


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


# --- commitments a reviewer can sign, and the buy list ---------------------------------------


@pytest.fixture(scope="module")
def spiky() -> Plan:
    """A week with a reserved baseline and an on-demand burst (see test_solve.py).

    The checks here are on the plan's form, not its optimality: a 10 s budget is enough.
    """
    return solve_inputs(
        load_inputs(DEMAND / "spiky_diurnal.csv"), dataclasses.replace(FAST, time_limit_s=10)
    )


def test_every_commitment_has_start_term_count_month_and_total_value(spiky: Plan) -> None:
    reserved = spiky.data["reserved"]
    assert reserved
    start = spiky.data["demand"]["start"]
    for r in reserved:
        term = {"reserved_1y": 8760.0, "reserved_3y": 3 * 8760.0}.get(r["tier"], r["term_hours"])
        assert r["start"] == pd.Timestamp(start).tz_convert("UTC").isoformat()
        assert r["term_hours"] == term
        assert pd.Timestamp(r["end"]) - pd.Timestamp(r["start"]) == pd.Timedelta(hours=term)
        assert r["usd_per_month"] == pytest.approx(r["count"] * r["usd_per_hour"] * HOURS_PER_MONTH)
        # the liability over the whole term, not the horizon's share of it
        assert r["commitment_usd"] == pytest.approx(r["count"] * r["usd_per_hour"] * term)
    short = [w for w in spiky.data["warnings"] if "repeats" in w]
    assert len(short) == len(reserved)  # a week is far less than a quarter of any term


def test_buy_csv_has_the_columns_and_the_schedules_totals(spiky: Plan, tmp_path: Path) -> None:
    out = spiky.save(tmp_path / "p")
    assert (out / "buy.csv").is_file()
    buy = pd.read_csv(out / "buy.csv")
    assert list(buy.columns) == list(BUY_COLUMNS)
    assert (buy.loc[buy["tier"].isin(["on_demand", "spot"]), "gpu_hours"] > 0).all()
    sched = spiky.schedule
    per = sched[sched["source"] != "api"].drop_duplicates(["hour", "deployment", "source"])
    hourly = per[per["source"].isin(["on_demand", "spot"])]
    for (g, s, k), grp in hourly.groupby(["gpu", "source", "deployment"]):
        # one row per GPU x tier x deployment
        row = buy[(buy["gpu"] == g) & (buy["tier"] == s) & (buy["deployment"] == k)]
        assert len(row) == 1
        assert row["gpu_hours"].iloc[0] == pytest.approx(grp["gpus"].sum())
        assert row["peak_count"].iloc[0] == grp.groupby("hour")["gpus"].sum().max()
    for r in spiky.data["reserved"]:
        row = buy[(buy["gpu"] == r["gpu"]) & (buy["tier"] == r["tier"])]
        assert row["count"].iloc[0] == r["count"]
        # a committed pool names every deployment that ran on it
        ran = sched[(sched["source"] == "pool") & (sched["gpu"] == r["gpu"])]["deployment"]
        assert set(row["deployment"].iloc[0].split(" + ")) == set(ran)
        assert row["commitment_usd"].iloc[0] == pytest.approx(r["commitment_usd"])
    summary = (out / "summary.md").read_text()
    assert summary.index("## Buy list") < summary.index("## Cost by tier")
    # the verifier checks buy.csv against the schedule
    rep = verify_files(out, DEMAND / "spiky_diurnal.csv")
    assert rep.ok, rep.failures()
    buy.loc[0, "gpu_hours"] += 10
    buy.to_csv(out / "buy.csv", index=False)
    rep = verify_files(out, DEMAND / "spiky_diurnal.csv")
    assert any(f.startswith("buy_list") for f in rep.failures())


def test_workloads_name_their_deployments_and_marginal_cost(spiky: Plan) -> None:
    for w, d in spiky.data["workloads"].items():
        assert d["serving"], w
        for s in d["serving"]:
            assert set(s) >= {"gpu", "quant", "tp", "source", "share_of_requests"}
        m = d["marginal_usd_per_m_output_tokens"]
        assert m is not None and m >= 0
        # one more million never costs more than the API would charge for it
        api = d["api_all_in_usd_per_m_output_tokens"]
        assert api is None or m <= api * (1 + 1e-9)


# --- procurement policies ---------------------------------------------------------------------


def test_tiers_flag_keeps_the_plan_on_the_allowed_tiers(tmp_path: Path) -> None:
    demand = demand_slice("high_steady.csv", 24, 1.0, tmp_path / "d.csv")
    out = tmp_path / "p"
    res = CliRunner().invoke(
        app,
        [
            "solve",
            str(demand),
            "--tiers",
            "on_demand,spot,reserved_1y,api",
            "--solver",
            FAST.name,
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    plan = Plan.load(out)
    assert plan.data["policy"]["tiers"] == ["on_demand", "spot", "reserved_1y", "api"]
    assert {r["tier"] for r in plan.data["reserved"]} <= {"reserved_1y"}
    assert plan.data["reserved"]
    rep = verify_files(out, demand)
    assert rep.ok, rep.failures()
    # the verifier reads the policy from the plan: a 1-year reservation breaks a stricter one
    data = dict(plan.data, policy={"tiers": ["on_demand", "api"]})
    from advisor.verify import check_policy_rules

    assert check_policy_rules(data, plan.schedule, load_catalog())


def test_a_policy_without_the_api_solves_and_verifies(tmp_path: Path) -> None:
    """Regression: every policy without ``api`` failed: the plan echoed each workload as the
    solve used it (``allow_api`` false, no API price) and the verifier compared it with the
    workload file (``allow_api`` true, the catalog's API price), so nothing was written."""
    demand = demand_slice("high_steady.csv", 24, 1.0, tmp_path / "d.csv")
    out = tmp_path / "p"
    args = ["solve", str(demand), "--tiers", "on_demand,spot", "--solver", FAST.name]
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    plan = Plan.load(out)
    assert not (plan.schedule["source"] == "api").any()
    assert all(not w["definition"]["allow_api"] for w in plan.data["workloads"].values())
    rep = verify_files(out, demand)
    assert rep.ok, rep.failures()


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ("[]", ["tiers is an empty list, which allows nothing"]),
        ("[api]\n  vendors: [amd]\n  gpus: [H100-SXM]", ["share no GPU, so the policy allows"]),
        # the policy took the API away: the message blamed the workload's allow_api
        ("[capacity_block]", ["a policy whose tiers leave out api", "GPUs or tiers"]),
        # an interactive workload may not use spot: it read "the caps allow about 0"
        ("[spot]", ["no tier it may use offers its GPU options", "allow_spot: true"]),
    ],
)
def test_a_policy_that_allows_nothing_says_so(
    tmp_path: Path, tiers: str, expected: list[str]
) -> None:
    demand = demand_slice("low_volume.csv", 6, 1.0, tmp_path / "d.csv")
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"policy:\n  tiers: {tiers}\n")
    res = CliRunner().invoke(app, ["solve", str(demand), "--policy", str(policy), "--quiet"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    for part in expected:
        assert part in text, (part, text)


def test_unknown_tier_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["solve", str(DEMAND / "low_volume.csv"), "--tiers", "reserved1y", "--quiet"]
    )
    assert res.exit_code == 2
    assert "reserved_1y" in res.output and "Traceback" not in res.output


def test_vendor_and_gpu_policy_from_a_file(tmp_path: Path) -> None:
    demand = demand_slice("high_steady.csv", 24, 1.0, tmp_path / "d.csv")
    pol = tmp_path / "policy.yaml"
    pol.write_text("policy:\n  vendors: [nvidia]\n  gpus: [H100-SXM, A100-80G, L40S]\n")
    plan = solve_inputs(load_inputs(demand, policy_file=pol), FAST)
    assert plan.verified, plan.data["verification"]
    used = set(plan.schedule.loc[plan.schedule["source"] != "api", "gpu"])
    assert used and used <= {"H100-SXM", "A100-80G", "L40S"}


def test_max_gpu_types_is_a_constraint_and_costs_no_less(tmp_path: Path) -> None:
    """A fleet-type limit of 2 on a case whose unlimited plan runs three GPU types."""

    def types(plan: Plan) -> set[str]:
        s = plan.schedule
        used = set(s.loc[(s["source"] != "api") & (s["replicas"] > 0), "gpu"])
        return used | {r["gpu"] for r in plan.data["reserved"]}

    demand = demand_slice("mixed_week.csv", 12, 1.0, tmp_path / "d.csv")
    free = solve_inputs(load_inputs(demand), FAST)
    assert len(types(free)) > 2
    limited = solve_inputs(load_inputs(demand, policy=Policy(max_gpu_types=2)), FAST)
    assert limited.verified, limited.data["verification"]
    assert limited.data["policy"]["max_gpu_types"] == 2
    assert len(types(limited)) <= 2
    assert limited.total_cost_usd >= free.total_cost_usd * (1 - 1e-6)


def test_an_optimal_exact_solve_does_not_run_the_hourly_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Regression: a proven gap of exactly 0 read as 100% (`gap or 1.0`), so the hourly
    Lagrangian ran (17 s of a 21 s solve) on plans already proven optimal."""
    import advisor.solve.pipeline as solve_pipeline

    calls = []
    real = solve_pipeline.hourly_bound
    monkeypatch.setattr(
        solve_pipeline, "hourly_bound", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    demand = demand_slice("mixed_week.csv", 24, 0.3, tmp_path / "d.csv")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(NEWCOMER_FLEET)
    plan = solve_inputs(load_inputs(demand, fleet_file=fleet), FAST)
    own_gap = plan.data["solver"]["gap"]
    if plan.data["solver"]["status"] == "optimal" and own_gap is not None and own_gap <= 1e-3:
        assert not calls


# --- capacity and roofline choose the operating point -----------------------------------------


def test_capacity_picks_the_cheapest_tp_and_warns_of_a_starved_batch() -> None:
    args = [
        "capacity",
        "--users",
        "100000",
        "--sessions-per-user",
        "5",
        "--tokens-per-session",
        "500",
        "--model",
        "llama-3.1-70b",
        "--gpu",
        "H100-SXM",
        "--quant",
        "fp8",
        "--tpot-ms",
        "50",
        "--input-tokens",
        "4000",
        "--output-tokens",
        "1000",
        "--json",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    chosen = json.loads(res.stdout)
    assert "tp1" not in chosen["throughput"] and not chosen["warnings"]
    res = CliRunner().invoke(app, [*args, "--tp", "1"])
    forced = json.loads(res.stdout)
    assert forced["warnings"] and "memory-starved" in forced["warnings"][0]
    # with a paged KV cache sized at the live context (issue #14) and the 85.52 GB an H100
    # reports, one H100 holds about 60 sequences of 70B fp8 at 1,000 + 300 tokens (no
    # warning) but only 16 at 4,000 + 1,000: TP 1 then needs twice the GPUs (28 against 14
    # at TP 4 with the memory and compute times of a step added)
    assert forced["gpus"] >= 2 * chosen["gpus"]


def test_roofline_marks_the_cheapest_option_and_starved_batches() -> None:
    res = CliRunner().invoke(
        app,
        ["roofline", "--model", "llama-3.1-70b", "--gpu", "H100-SXM", "--quant", "fp8", "--json"],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    (best,) = data["cheapest"]
    rows = {r["tp"]: r for r in data["options"]}
    assert best["tp"] != 1 and rows[best["tp"]]["cheapest"]
    # memory caps TP 1's batch (issue #14's paged KV cache lets it reach ~33 sequences)
    assert rows[1]["batch"] == rows[1]["max_batch_memory"] < rows[best["tp"]]["batch"]


# --- small things a first-time user hit -------------------------------------------------------


def test_help_shows_units_in_brackets() -> None:
    res = CliRunner().invoke(app, ["solve", "--help"], terminal_width=200)
    assert "[s]" in res.output
    res = CliRunner().invoke(app, ["roofline", "--help"], terminal_width=200)
    assert "[ms]" in res.output and "[tokens]" in res.output


def test_solve_without_out_says_nothing_was_written(tmp_path: Path) -> None:
    demand = demand_slice("low_volume.csv", 6, 1.0, tmp_path / "d.csv")
    res = CliRunner().invoke(app, ["solve", str(demand), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "Nothing written" in res.output and "--out" in res.output


def test_a_dearer_plan_reads_costs_more_not_saves_minus() -> None:
    data = {"savings_vs_best_baseline_usd": -4388.0, "savings_vs_best_baseline_fraction": -0.1}
    text = savings_text({**data, "best_baseline": "reserved_peak"})
    assert "costs $4,388.00 more" in text and "-" not in text.replace("reserved_peak", "")


def test_a_plan_equal_to_a_policy_up_to_float_noise_costs_the_same() -> None:
    # a plan and all_api that both serve everything on the commitments and the API differed
    # by 1e-12 USD, and the plan read 'costs 0.0% more' and 'costs $0.00 more (0.0%)'
    total = 4879.373814241754
    data = {"savings_vs_best_baseline_usd": -1e-12, "savings_vs_best_baseline_fraction": -2e-16}
    text = savings_text({**data, "best_baseline": "all_api"})
    assert text == "The plan costs the same as the best simple policy (all_api)."
    assert against_policy(total - 1e-12, total) == "costs the same"
    assert against_policy(100.0, 90.0) == "saves 10.0%"
    assert against_policy(100.0, 110.0) == "costs 10.0% more"


def test_fleet_times_without_offset_are_utc_as_in_demand_files(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: H100-SXM\n    count: 1\n    tier: owned\n"
        "    usd_per_hour: 1.0\n    end: 2026-01-08T00:00:00\n"
    )
    (c,) = load_fleet(fleet, load_catalog())
    assert c.end == pd.Timestamp("2026-01-08T00:00:00Z")


@pytest.mark.parametrize(
    ("field", "match"),
    [("end: 12", "12 is a number; give a time"), ("end: 2026-01-05T12:30:00Z", "not a whole hour")],
)
def test_fleet_times_are_times_on_the_hour(tmp_path: Path, field: str, match: str) -> None:
    """Regression: end: 12 became 1970-01-01T00:00:12Z and 12:30 was billed as 13 hours."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: H100-SXM\n    count: 1\n    tier: owned\n"
        f"    usd_per_hour: 1.0\n    {field}\n"
    )
    with pytest.raises(DemandError, match=match):
        load_fleet(fleet, load_catalog())


def test_a_commitment_outside_the_horizon_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """Regression: a commitment over before the horizon was kept with 0 hours, no word, and
    made every plan and baseline pay the team overhead of a self-hosted fleet."""
    demand = demand_slice("low_volume.csv", 6, 1.0, tmp_path / "d.csv")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: H100-SXM\n    count: 2\n    tier: owned\n"
        "    usd_per_hour: 1.5\n    end: 2025-01-01T00:00:00Z\n"
    )
    plain = solve_plan(demand, solver=FAST.name, time_limit_s=30)
    held = solve_plan(demand, fleet_file=fleet, solver=FAST.name, time_limit_s=30)
    assert held.verified, held.data["verification"]
    assert held.data["existing"] == [] and held.total_cost_usd == pytest.approx(
        plain.total_cost_usd
    )
    warned = held.data["warnings"]
    assert any("commitments[#1]" in w and "no hour in the horizon" in w for w in warned)


def test_an_on_demand_override_warns_about_derived_tiers(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "offers.yaml").write_text(
        "offers:\n  - {gpu: A100-80G, tier: on_demand, usd_per_hour: 1.8}\n"
    )
    warnings = load_catalog([cat]).warnings
    assert any("A100-80G/on_demand" in w and "reserved_1y" in w for w in warnings)
    assert not any("A100-80G/on_demand" in w for w in load_catalog().warnings)


def test_catalog_files_cite_references_by_name_not_by_a_machine_path() -> None:
    for f in sorted((ROOT / "catalogs").iterdir()):
        if f.suffix in (".yaml", ".md"):
            assert "/work/" not in f.read_text(encoding="utf-8"), f.name


def test_a_long_horizons_capacity_chart_is_drawn_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hourly lines over months are a solid block: the chart switches to daily means and the
    demand's daily range."""
    import advisor.report as report

    hours = pd.date_range("2026-01-01", periods=report.ENVELOPE_HOURS + 24, freq="h", tz="UTC")
    sched = pd.DataFrame(
        {"hour": hours, "source": "pool", "requests": 100.0 + 50.0 * (hours.hour > 8)}
    )
    calls = []
    real = report.fig_capacity_daily
    monkeypatch.setattr(report, "fig_capacity_daily", lambda *a: calls.append(1) or real(*a))
    doc = {"horizon_hours": 2.0, "total_cost_usd": 0.0, "cost_by_tier_usd": {}}
    png = report.fig_capacity(Plan.of(doc, sched), hours)
    assert calls and png[:4] == b"\x89PNG"
    assert report.ENVELOPE_HOURS < 8760


def test_min_rental_hours_holds_every_start_and_the_verifier_checks_it(tmp_path: Path) -> None:
    """The nightly batch runs on spot for five hours: with a minimum rental of 8 h every
    start is held 8 h, the plan is verified, and the unconstrained plan breaks that rule."""
    from advisor.verify import check_policy_rules

    demand = demand_slice("business_hours_batch.csv", 48, 1.0, tmp_path / "d.csv")
    free = solve_inputs(load_inputs(demand), FAST)
    data = dict(free.data, policy={"min_rental_hours": 8})
    assert any(
        "started in the last 8 h" in p
        for p in check_policy_rules(data, free.schedule, load_catalog())
    )
    held = solve_inputs(load_inputs(demand, policy=Policy(min_rental_hours=8)), FAST)
    assert held.verified, held.data["verification"]
    assert held.total_cost_usd >= free.total_cost_usd * (1 - 1e-9)
    assert any("runs at least 8 h" in w for w in held.data["warnings"])


def test_a_plan_that_misstates_its_commitments_fails_verification(tmp_path: Path) -> None:
    """Regression: the verifier's commitments check compared the plan's list with itself
    and its cost check read the commitments' spend from the plan (the fleet file's rows were
    shadowed by the plan's), so a plan.json that named 3 GPUs, another GPU or another tier
    for a commitment verified; a halved cost was caught only by the totals and baselines.
    Both checks now use the fleet file's rows."""
    from advisor.pipeline import verify_inputs

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: L4\n    count: 1\n    tier: owned\n    usd_per_hour: 0.5\n"
    )
    demand = demand_slice("low_volume.csv", 24, 1.0, tmp_path / "d.csv")
    inputs = load_inputs(demand, fleet_file=fleet)
    plan = solve_inputs(inputs, SolverSettings(SOLVERS[-1], 60, 1e-3))
    assert plan.verified and verify_inputs(plan, inputs).ok
    data = json.loads(json.dumps(plan.data))
    cut = data["existing"][0]["cost_usd"] / 2
    data["existing"][0]["cost_usd"] -= cut
    data["existing"][0]["usd_per_hour"] /= 2
    data["cost_by_tier_usd"]["existing"] -= cut
    data["total_cost_usd"] -= cut
    report = verify_inputs(Plan.of(data, plan.schedule), inputs)
    failed = {c["check"] for c in report.checks if not c["ok"]}
    assert {"existing", "cost"} <= failed, report.failures()
    # a commitment misstated with its cost left alone verified outright
    for field, wrong in (("count", 3), ("gpu", "H100-SXM"), ("tier", "reserved_1y")):
        data = json.loads(json.dumps(plan.data))
        data["existing"][0][field] = wrong
        report = verify_inputs(Plan.of(data, plan.schedule), inputs)
        assert not report.ok and "existing" in {c["check"] for c in report.checks if not c["ok"]}


def test_the_minima_milp_runs_only_where_it_can_return_in_time(monkeypatch) -> None:
    """The MILP at the clusters' minima gets what is left less how far the integer model of
    the clusters ran past its limit, and does not run where that is shorter than the integer
    model took to return (8,760 h x 3 workloads, HiGHS, 30 s: it ran 6.4 s on about 2.4 s and
    the plan ended at 32.5 s)."""
    from types import SimpleNamespace

    import advisor.solve.pipeline as solve_pipeline

    limits: list[float] = []

    def minima(run, plan_usd, limit_s, best):
        limits.append(limit_s)
        return best

    monkeypatch.setattr(solve_pipeline, "minima_bound_stage", minima)
    run = SimpleNamespace(fm=SimpleNamespace(constant_usd=0.0), settings=SimpleNamespace(gap=1e-3))
    found = solve_pipeline.Proposals([], 100.0, None, 1.3, [], None, 4.3)  # no prices: no rerun
    solve_pipeline.closing_bounds(run, found, 200.0, 3.7, (100.0, None))
    solve_pipeline.closing_bounds(run, found, 200.0, 7.0, (100.0, None))
    assert limits[0] == 0.0
    assert limits[1] == pytest.approx(5.7, abs=0.05)


CONTRACT_8X = """\
offers:
  - {provider: acme, instance: 8xH100, gpu: H100-SXM, gpus_per_instance: 8, interconnect: nvlink,
     tier: reserved_1y, usd_per_hour: 2.00, term_months: 12, source: "quote #42",
     as_of: 2026-11-20}
"""


def test_pool_utilization_counts_gpu_hours_of_instances_and_commitments(tmp_path: Path) -> None:
    """One 8-GPU instance reserved beside 4 committed H100s (6 hours of high_steady, seeds):
    the pool's GPUs were 12 of 24 committed GPU-hours and 37 of 48 on the instance, 68.1%,
    but reserved_utilization read 55.4%: the instance counted as 1 unit an hour, its
    replicas as 1/8 of a unit per GPU, beside the commitments' GPU-hours."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "offers.yaml").write_text(CONTRACT_8X)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: H100-SXM\n    count: 4\n    tier: owned\n    usd_per_hour: 1.0\n"
    )
    demand = demand_slice("high_steady.csv", 6, 1.0, tmp_path / "d.csv")
    inputs = load_inputs(demand, catalog_dirs=[tmp_path / "cat"], prices="seeds", fleet_file=fleet)
    plan = solve_inputs(inputs, SolverSettings(SOLVERS[-1], 60, 1e-3))
    assert plan.verified, plan.data["verification"]
    (res,) = plan.data["reserved"]
    assert (res["instance"], res["gpus_per_instance"], res["count"]) == ("8xH100", 8, 1)
    pool = plan.schedule[plan.schedule["source"] == "pool"]
    used = float((pool["replica_share"] * pool["tp"]).sum())
    paid = 8 * plan.data["horizon_hours"] + plan.data["existing"][0]["gpu_hours"]
    assert plan.data["reserved_utilization"] == pytest.approx(used / paid)


def test_the_pool_is_shared_among_workloads_by_gpu_hours(tmp_path: Path) -> None:
    """The committed and reserved spend is split among workloads by their pool GPU-hours (the
    README, plan.json's docstring). Beside 4 committed H100s on one 8-GPU instance (6 hours
    of mixed_week x4, seeds, no overhead, only pool tiers) the 70B chat ran 38 of the pool's
    68 GPU-hours and was charged $14.11 of $36.00 where its share is $20.12: a replica-hour
    on the instance counted 1/8 of one on a committed GPU."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "offers.yaml").write_text(CONTRACT_8X)
    (tmp_path / "cat" / "defaults.yaml").write_text(
        "defaults: {self_host_monthly_overhead_usd: 0, source: t, as_of: 2026-11-01}\n"
    )
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - gpu: H100-SXM\n    count: 4\n    tier: owned\n    usd_per_hour: 1.0\n"
    )
    demand = demand_slice("mixed_week.csv", 6, 4.0, tmp_path / "d.csv")
    inputs = load_inputs(
        demand,
        catalog_dirs=[tmp_path / "cat"],
        prices="seeds",
        fleet_file=fleet,
        policy=Policy(tiers=("reserved_1y", "owned")),
    )
    plan = solve_inputs(inputs, SolverSettings(SOLVERS[-1], 60, 1e-3))
    assert plan.verified, plan.data["verification"]
    assert {r["gpus_per_instance"] for r in plan.data["reserved"]} == {8}
    pool = plan.schedule[plan.schedule["source"] == "pool"]
    assert set(pool["gpus_per_unit"]) == {1, 8}  # both kinds of pool serve
    gpu_hours = (pool["replica_share"] * pool["tp"]).groupby(pool["workload"]).sum()
    for w, usd in plan.data["cost_by_workload_usd"].items():
        assert usd == pytest.approx(plan.total_cost_usd * gpu_hours[w] / gpu_hours.sum()), w


def test_the_short_horizon_warning_names_an_instance_and_its_gpus(tmp_path: Path) -> None:
    """One 8-GPU acme instance reserved for a year on 6 hours of demand was warned about as
    "1 H100-SXM reserved_1y is a commitment of 1 year(s) ($17,520 ...)", which reads as one
    GPU at $2/GPU-hour; the warning names the instance and its 8 GPUs."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "offers.yaml").write_text(CONTRACT_8X)
    demand = demand_slice("high_steady.csv", 6, 1.0, tmp_path / "d.csv")
    inputs = load_inputs(demand, catalog_dirs=[tmp_path / "cat"], prices="seeds")
    plan = solve_inputs(inputs, SolverSettings(SOLVERS[-1], 60, 1e-3))
    assert plan.verified, plan.data["verification"]
    (warning,) = [w for w in plan.data["warnings"] if "is a commitment of" in w]
    assert warning.startswith(
        "1 acme 8xH100 instance (8 H100-SXM GPUs) reserved_1y is a commitment of 1 year(s) ($17,520"
    ), warning


def test_verify_says_whether_the_plan_was_solved_with_a_fleet_file(tmp_path: Path) -> None:
    """A plan solved without a fleet file, verified with one, was told "pass the --fleet file
    it was solved with" (it had none); one solved with a file, verified without, was not
    told which. The check now names the file, or says there was none."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - {gpu: H100-SXM, count: 2, tier: owned, usd_per_hour: 1.0}\n"
    )
    demand = demand_slice("low_volume.csv", 6, 1.0, tmp_path / "d.csv")
    for name, solved_with, given, says in (
        ("none", None, fleet, "it was solved without one: leave --fleet out"),
        ("file", fleet, None, f"pass the --fleet file it was solved with: {fleet}"),
    ):
        inputs = load_inputs(demand, fleet_file=solved_with)
        saved = solve_inputs(inputs, SolverSettings(SOLVERS[-1], 60, 1e-3)).save(tmp_path / name)
        report = verify_files(saved, demand, fleet_file=given)
        (check,) = [c for c in report.checks if c["check"] == "inputs"]
        assert not check["ok"] and says in check["detail"], check
