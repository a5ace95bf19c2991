"""Measured-capacity rows no GPU can run, extreme but accepted numbers that the solver
back-ends mishandled, and a lower bound far above the plan's cost reported as "within its
numerical tolerance": each was accepted or misreported once."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pulp
import pytest

from advisor.catalog import Catalog, load_catalog
from advisor.errors import DemandError
from advisor.options import MAX_REPLICA_REQUESTS_PER_S, load_measured_capacity
from advisor.pipeline import solve_plan, verify_files
from advisor.plan import Plan, bound_and_gap
from advisor.scenario_report import summary_md
from advisor.solve.backends import SolverResult, SolverSettings, Status, run_solver
from advisor.solve.budget import TimeBudget
from advisor.solve.pipeline import no_plan_error
from tests.adversarial.helpers import assert_clean, invoke, write

CAP_HEADER = "model,gpu,quant,tp,prompt_tokens,completion_tokens,tpot_ms,ttft_ms,requests_per_s\n"
W70 = "llama-3.1-70b-interactive"
#: 24 hours of a low-volume 70B workload (the first day of demand/low_volume.csv)
SMALL_CSV = "hour,workload,requests\n" + "".join(
    f"2026-01-05T{h:02d}:00:00Z,{W70},{5 + h % 4}\n" for h in range(24)
)
WORKLOAD_70B_BF16 = (
    "workloads:\n"
    f"  - {{name: {W70}, model: llama-3.1-70b, prompt_tokens: 1000, completion_tokens: 300, "
    "ttft_ms: 2000, tpot_ms: 50, slo_stat: p99, quantizations: [bf16], allow_spot: false, "
    "allow_api: true, headroom: 0}\n"
)
FAST = ["--capacity-model", "roofline", "--quiet"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _cap(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path / "cap.csv", CAP_HEADER + "".join(r + "\n" for r in rows))


# --- 1. a measured row whose weights no TP group of that size holds ------------------------


def test_capacity_row_whose_weights_do_not_fit_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    path = _cap(tmp_path, "llama-3.1-70b,H100-SXM,bf16,1,1000,300,50,2000,30")
    with pytest.raises(DemandError) as err:
        load_measured_capacity(path, catalog)
    msg = str(err.value)
    for part in ("cap.csv", "line 2", "'tp'", "weights 141.1 GB >", "GB usable", "H100-SXM"):
        assert part in msg, msg
    assert "TP 2" in msg, msg  # the fix: the smallest TP degree that holds the weights


def test_capacity_row_whose_weights_fit_is_accepted(tmp_path: Path, catalog: Catalog) -> None:
    path = _cap(tmp_path, "llama-3.1-70b,H100-SXM,bf16,2,1000,300,50,2000,3")
    (row,) = load_measured_capacity(path, catalog)
    assert (row.tp, row.requests_per_s) == (2, 3.0)


def test_capacity_row_whose_one_request_has_no_room_for_its_kv_cache_is_refused(
    tmp_path: Path, catalog: Catalog
) -> None:
    """70B fp8 on one H100 leaves 12 GB beside the weights: 73,059 tokens of an fp8 KV
    cache, so a request of 101,000 tokens cannot run there (it was accepted once)."""
    path = _cap(
        tmp_path,
        "llama-3.1-70b,H100-SXM,fp8,1,1000,300,50,2000,2",
        "llama-3.1-70b,H100-SXM,fp8,1,100000,1000,50,60000,0.01",
    )
    with pytest.raises(DemandError) as err:
        load_measured_capacity(path, catalog)
    msg = str(err.value)
    for part in ("cap.csv", "line 3", "'prompt_tokens'", "101,000 tokens", "73,059 tokens", "TP 2"):
        assert part in msg, msg
    rows = load_measured_capacity(
        _cap(tmp_path, "llama-3.1-70b,H100-SXM,fp8,2,100000,1000,50,60000,0.01"), catalog
    )
    assert rows[0].tp == 2


def test_capacity_row_past_the_model_context_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    path = _cap(
        tmp_path,
        "llama-3.1-8b,H100-SXM,bf16,1,1000,300,50,2000,5",
        "llama-3.1-8b,H100-SXM,bf16,8,130000,5000,50,20000,0.1",
    )
    with pytest.raises(DemandError) as err:
        load_measured_capacity(path, catalog)
    msg = str(err.value)
    for part in ("cap.csv", "line 3", "'prompt_tokens'", "135,000", "131,072-token context"):
        assert part in msg, msg


def test_solve_refuses_an_impossible_capacity_row(tmp_path: Path) -> None:
    """The session's reproduction: it ran the 70B model in bf16 on one H100 and verified."""
    demand = write(tmp_path / "small.csv", SMALL_CSV)
    wl = write(tmp_path / "w.yaml", WORKLOAD_70B_BF16)
    cap = _cap(tmp_path, "llama-3.1-70b,H100-SXM,bf16,1,1000,300,50,2000,30")
    out = tmp_path / "imp"
    res = invoke(
        "solve", demand, "--capacity", cap, "--workloads", wl, "--tiers", "on_demand,spot",
        "--gpus", "H100-SXM", "--out", out, *FAST,
    )  # fmt: skip
    assert_clean(res, 2, "cap.csv", "line 2", "weights 141.1 GB >")
    assert not out.exists()


# --- 2. extreme numbers --------------------------------------------------------------------


def test_capacity_rate_above_a_replica_limit_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    path = _cap(tmp_path, "llama-3.1-70b,H100-SXM,bf16,4,1000,300,50,2000,1e12")
    with pytest.raises(DemandError) as err:
        load_measured_capacity(path, catalog)
    msg = str(err.value)
    for part in (
        "cap.csv",
        "line 2",
        "'requests_per_s'",
        "1e12",
        f"{MAX_REPLICA_REQUESTS_PER_S:g}",
    ):
        assert part in msg, msg


def test_capacity_rate_at_the_replica_limit_is_accepted(tmp_path: Path, catalog: Catalog) -> None:
    path = _cap(
        tmp_path, f"llama-3.1-8b,H100-SXM,bf16,1,100,1,50,2000,{MAX_REPLICA_REQUESTS_PER_S:g}"
    )
    (row,) = load_measured_capacity(path, catalog)
    assert row.requests_per_s == MAX_REPLICA_REQUESTS_PER_S


def test_solve_refuses_a_capacity_rate_of_1e12(tmp_path: Path) -> None:
    """It reached HiGHS and failed there: "HiGHS failed: list index out of range"."""
    demand = write(tmp_path / "small.csv", SMALL_CSV)
    wl = write(tmp_path / "w.yaml", WORKLOAD_70B_BF16)
    cap = _cap(tmp_path, "llama-3.1-70b,H100-SXM,bf16,4,1000,300,50,2000,1e12")
    res = invoke(
        "solve", demand, "--capacity", cap, "--workloads", wl, "--tiers", "on_demand,spot",
        "--gpus", "H100-SXM", *FAST,
    )  # fmt: skip
    assert_clean(res, 2, "cap.csv", "'requests_per_s'")


def _cover_model(*coefs: float) -> SimpleNamespace:
    """A model shaped like the fleet MILP's cover rows: per row, two whole-replica lanes
    (on-demand prices) whose coefficients are one replica's capacity over the hour's demand."""
    prob = pulp.LpProblem("cover", pulp.LpMinimize)
    cost = []
    for t, c in enumerate(coefs):
        a = pulp.LpVariable(f"x_0_on_demand_{t}", lowBound=0, cat=pulp.LpInteger)
        b = pulp.LpVariable(f"x_1_on_demand_{t}", lowBound=0, cat=pulp.LpInteger)
        cost += [16.36 * a, 21.52 * b]
        prob += pulp.LpConstraint(c * a + 2 * c * b, pulp.LpConstraintGE, f"cover_0_w_{t}", 1.0)
    prob += pulp.lpSum(cost)
    no_slack = SimpleNamespace(usd=lambda objective: 0.0)  # no pool tie-break here
    return SimpleNamespace(
        prob=prob, n_integer=2 * len(coefs), constant_usd=0.0, epsilon_slack=no_slack
    )


def _highs(fm: SimpleNamespace) -> SolverResult:
    return run_solver(fm, SolverSettings("highs", time_limit_s=10.0))  # type: ignore[arg-type]


def test_highs_refusing_a_row_is_an_honest_failure() -> None:
    """A cover coefficient above 1e15 (requests_per_s 1e12 against 5 requests an hour): HiGHS
    refused the row, PuLP ignored that and read a row HiGHS did not hold: "HiGHS failed:
    list index out of range"."""
    res = _highs(_cover_model(1.0, 1.4e15, 0.5))
    assert res.status == Status.NOT_SOLVED
    assert "cover_0_w_1" in res.failure and "1.4e+15" in res.failure, res.failure
    assert "above 1e+15" in res.failure and "--solver cbc" in res.failure


def test_highs_solve_error_is_an_honest_failure() -> None:
    """Coefficients near 1e15 (a replica serving 3.6e14 times the hour's demand) end HiGHS on
    "Solve error"; it was reported as no plan within the time budget."""
    res = _highs(_cover_model(3.6e14))
    assert res.status == Status.NOT_SOLVED
    assert "Solve error" in res.failure and "not a proof" in res.failure, res.failure
    err = no_plan_error(res, TimeBudget(15.0, given=False))
    assert "time budget" not in str(err) and "Solve error" in str(err)


def test_highs_keeps_coefficients_of_demand_near_the_limit() -> None:
    """1e15 requests an hour: one replica serves ~1e-11 of it. HiGHS dropped coefficients
    below 1e-9 and called the model infeasible ("the caps' fault")."""
    res = _highs(_cover_model(8.9e-11))
    assert res.status == Status.OPTIMAL
    # the cheaper lane per request covers it: 2 × 8.9e-11 of the hour per replica
    assert res.objective == pytest.approx(21.52 * math.ceil(1 / (2 * 8.9e-11)), rel=1e-6)


def test_highs_dropping_a_coefficient_is_an_honest_failure() -> None:
    res = _highs(_cover_model(1e-13))
    assert res.status == Status.NOT_SOLVED
    assert "below 1e-12" in res.failure and "1.0e+13 times" in res.failure, res.failure


def test_demand_at_the_limit_solves_with_highs(tmp_path: Path) -> None:
    """1e15 requests in one hour: HiGHS dropped the cover row's coefficients (below its
    1e-9 small-matrix threshold) and the plan was called infeasible "because of the caps"."""
    demand = write(tmp_path / "d.csv", f"hour,workload,requests\n2026-01-05T00:00:00Z,{W70},1e15\n")
    out = tmp_path / "big"
    res = invoke(
        "solve", demand, "--tiers", "on_demand,spot", "--solver", "highs", "--out", out, *FAST
    )
    assert_clean(res, 0)
    data = json.loads((out / "plan.json").read_text())
    assert data["verified"] is True


# --- 3. a commitment with no hour in the horizon --------------------------------------------


def test_idle_commitment_leaves_a_valid_bound(tmp_path: Path) -> None:
    """The self-hosting overhead of a commitment with no hour in the horizon was in the bound
    ($166.73) but not in the all-API plan ($0.06), and the bound was "within tolerance"."""
    demand = write(tmp_path / "small.csv", SMALL_CSV)
    fleet = write(
        tmp_path / "f.yaml",
        "commitments:\n  - {gpu: H100-SXM, count: 2, tier: reserved_1y, usd_per_hour: 2.9, "
        "end: 2020-01-01T00:00:00Z}\n",
    )
    out = tmp_path / "pf"
    res = invoke("solve", demand, "--fleet", fleet, "--out", out, *FAST)
    assert_clean(res, 0)
    data = json.loads((out / "plan.json").read_text())
    total = data["total_cost_usd"]
    assert data["lower_bound_usd"] <= total
    assert data["gap"] == pytest.approx(0.0, abs=1e-3)
    assert data["solver"]["bound"] <= total
    assert not any("numerical tolerance" in w for w in data["warnings"]), data["warnings"]


def test_bound_far_above_a_cost_reached_is_not_called_a_tolerance() -> None:
    warnings: list[str] = []
    lower, gap = bound_and_gap(166.73, 0.0, 0.06, {"all_api": 0.06}, warnings)
    assert lower is None and gap is None
    (w,) = warnings
    assert "not a valid lower bound" in w and "within its numerical tolerance" not in w, w


def test_bound_within_tolerance_is_reported_as_the_cost() -> None:
    warnings: list[str] = []
    lower, gap = bound_and_gap(100.0 * (1 + 1e-7), 0.0, 100.0, {}, warnings)
    assert lower == 100.0 and gap == 0.0
    assert warnings == []


# --- 4. an hour whose demand is a sliver of one replica's capacity --------------------------

TINY_WL = (
    "workloads:\n  - {name: tiny, model: llama-3.1-8b, prompt_tokens: 1000, "
    "completion_tokens: 200, ttft_ms: 2000, tpot_ms: 50, slo_stat: p99, allow_spot: false, "
    "allow_api: false, headroom: 0}\n"
)


def _sliver_solve(tmp_path: Path, solver: str, cells: list[tuple[str, float]], wl: str) -> Plan:
    """Solve ``cells`` (workload, requests), one hour per workload's turn, no API."""
    n = len({w for w, _ in cells})
    rows = "".join(f"2026-01-05T0{i // n}:00:00Z,{w},{r}\n" for i, (w, r) in enumerate(cells))
    demand = write(tmp_path / f"sliver_{solver}_{len(rows)}.csv", "hour,workload,requests\n" + rows)
    return solve_plan(
        demand,
        workloads_files=[write(tmp_path / "sliver.yaml", wl)],
        solver=solver,
        capacity_model="roofline",
        time_limit_s=30,
        prices="snapshot",
    )


def _tiny_plan(tmp_path: Path, solver: str, requests: tuple[float, ...]) -> Plan:
    return _sliver_solve(tmp_path, solver, [("tiny", r) for r in requests], TINY_WL)


def test_a_sliver_of_demand_is_covered_by_a_whole_replica(tmp_path: Path) -> None:
    """An hour of 1e-6 requests (a millionth of a replica, no API): its cover coefficient was
    1e9, CBC met it with a replica count of 1e-9 (integral within tolerance), and its bound
    ($26.24, the plan it kept) sat above the reserved_peak policy ($21.79); HiGHS found the
    $21.79 plan. The on-demand policy rounded the sliver to no replica and served nothing in
    that hour, for nothing."""
    sliver = _tiny_plan(tmp_path, "cbc", (0.001, 1e-6, 5.0))
    highs = _tiny_plan(tmp_path, "highs", (0.001, 1e-6, 5.0))
    assert sliver.verified and highs.verified
    assert sliver.total_cost_usd == pytest.approx(highs.total_cost_usd, rel=1e-6)
    assert sliver.data["gap"] is not None and sliver.data["gap"] <= 1e-3
    assert not any("Please report" in w for w in sliver.data["warnings"]), sliver.data["warnings"]
    # one replica every hour either way: the policy costs what it costs on 5 requests an hour
    full = _tiny_plan(tmp_path, "highs", (5.0, 5.0, 5.0))
    hourly = "on_demand_hourly"
    assert sliver.data["baselines"][hourly]["total_cost_usd"] == pytest.approx(
        full.data["baselines"][hourly]["total_cost_usd"]
    )


SHARED_WL = TINY_WL + TINY_WL.split("\n", 1)[1].replace("name: tiny", "name: other")


def _shared_plan(tmp_path: Path, solver: str, sliver: float) -> Plan:
    cells = [("tiny", sliver), ("other", sliver), ("tiny", 5.0), ("other", 5.0)]
    return _sliver_solve(tmp_path, solver, cells, SHARED_WL)


@pytest.mark.parametrize("sliver", [1e-6, 1e-3])
def test_a_sliver_of_demand_on_a_shared_lane_is_served(tmp_path: Path, sliver: float) -> None:
    """Two workloads of one model share a lane; an hour of a sliver of demand each, no API.
    Their shares of the lane (1e-10 replicas) let the lane's whole replicas sit at 1e-7: CBC
    and HiGHS wrote plans that served nothing there (verification refused them), and HiGHS
    called a plan 12 times the optimum optimal. The sliver's share now counts its demand."""
    plans = [_shared_plan(tmp_path, s, sliver) for s in ("cbc", "highs")]
    normal = _shared_plan(tmp_path, "cbc", 5.0)
    for plan in plans:
        assert plan.verified
        assert plan.data["gap"] is not None and plan.data["gap"] <= 1e-3
        # one replica in the sliver hour, as in an hour of 5 requests
        assert plan.total_cost_usd == pytest.approx(normal.total_cost_usd, rel=1e-6)


# --- 5. a capacity file that sizes nothing ---------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ((), "has no rows"),
        # the demand's 70B workload has 1000/300 tokens: a 2000-token measurement is another
        (("llama-3.1-70b,H100-SXM,fp8,2,2000,300,50,2000,3.0",), "1 of the 1 rows"),
        # the demand's workload on a GPU the catalog describes but no offer sells
        (("llama-3.1-70b,GH200-96GB,fp8,1,1000,300,50,2000,1.0",), "which no offer sells"),
    ],
    ids=["header only", "no workload", "unsold GPU"],
)
def test_a_capacity_file_that_sizes_nothing_is_named(
    tmp_path: Path, rows: tuple[str, ...], expected: str
) -> None:
    """A header-only file, or rows matching no workload, solved with exit 0 and no word: the
    user read the plan as sized by their measurement."""
    demand = write(tmp_path / "small.csv", SMALL_CSV)
    cap = _cap(tmp_path, *rows)
    plan = solve_plan(demand, capacity_file=cap, capacity_model="roofline", time_limit_s=30)
    assert plan.verified, plan.data["verification"]
    (note,) = [w for w in plan.data["warnings"] if "cap.csv" in w]
    assert expected in note and ("size nothing" in note or "model's" in note), note
    out = tmp_path / "plan"
    plan.save(out)
    data = json.loads((out / "plan.json").read_text())
    data["warnings"] = [w for w in data["warnings"] if "cap.csv" not in w]
    (out / "plan.json").write_text(json.dumps(data))
    (out / "summary.md").write_text(summary_md(data), encoding="utf-8")  # said the same
    rep = verify_files(out, demand, capacity_file=cap)
    assert {c["check"] for c in rep.checks if not c["ok"]} == {"warnings"}, rep.checks
