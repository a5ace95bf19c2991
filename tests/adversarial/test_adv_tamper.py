"""Plan tampering: an edited plan.json or schedule.csv (its checksum made consistent, as an
attacker would) either verifies as the unchanged plan or is rejected, never a traceback.

The verifier checks a plan against the inputs the *user* passes; nothing the plan says about
its own inputs is trusted.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.errors import AdvisorError, PlanError
from advisor.files import sha256, to_json
from advisor.pipeline import expected_from, load_inputs, solve_plan, verify_inputs
from advisor.plan import Plan
from tests.adversarial.helpers import WL, assert_clean, invoke, write

NUMBER_COLUMNS = [
    "tp",
    "replicas",
    "gpus",
    "replica_share",
    "capacity_requests",
    "requests",
    "input_tokens",
    "output_tokens",
]
BAD_VALUES = ["-1", "-1e9", "nan", "inf", "-inf", "", "1e308", "abc", "0.5", "1e-300"]
ROW_KINDS = ["pool", "on_demand", "api"]


@pytest.fixture(scope="module")
def solved(gpu_demand: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One plan with pool, on-demand and API rows, saved; its inputs and expectations."""
    out = tmp_path_factory.mktemp("plan") / "plan"
    plan = solve_plan(gpu_demand, solver="highs", time_limit_s=30)
    assert plan.verified, plan.data["verification"]
    plan.save(out)
    inputs = load_inputs(gpu_demand)
    sources = set(plan.schedule["source"])
    assert {"pool", "on_demand", "api"} <= sources, sources
    return {
        "dir": out,
        "demand": gpu_demand,
        "inputs": inputs,
        "expected": expected_from(inputs),
        "json": (out / "plan.json").read_text(),
        "csv": (out / "schedule.csv").read_text(),
    }


def _forge(tmp: Path, plan_json: dict[str, Any] | str, csv_text: str) -> Path:
    """A plan folder with these contents and a matching checksum (as a forger would)."""
    out = tmp / "forged"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    data = json.loads(plan_json) if isinstance(plan_json, str) else plan_json
    if isinstance(data, dict):
        data["schedule_sha256"] = sha256(csv_text)
    (out / "schedule.csv").write_text(csv_text)
    (out / "plan.json").write_text(
        json.dumps(data, indent=2, allow_nan=True) if not isinstance(data, str) else data
    )
    return out


def _verify(solved: dict[str, Any], folder: Path) -> tuple[bool, list[str]]:
    """(ok, failures) or (False, [the PlanError]) for a plan that cannot be loaded."""
    try:
        plan = Plan.load(folder)
    except PlanError as exc:
        return False, [f"load: {exc}"]
    rep = verify_inputs(plan, solved["inputs"], solved["expected"])
    return rep.ok, rep.failures()


def _edit_cell(csv_text: str, source: str, column: str, value: str) -> str:
    df = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    i = df.index[df["source"] == source][0]
    df.loc[i, column] = value
    return df.to_csv(index=False)


def test_the_untouched_plan_verifies(solved: dict[str, Any], tmp_path: Path) -> None:
    ok, failures = _verify(solved, _forge(tmp_path, solved["json"], solved["csv"]))
    assert ok, failures


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("column", NUMBER_COLUMNS)
@pytest.mark.parametrize("kind", ROW_KINDS)
def test_a_bad_number_in_the_schedule_is_rejected(
    kind: str, column: str, value: str, solved: dict[str, Any], tmp_path: Path
) -> None:
    csv_text = _edit_cell(solved["csv"], kind, column, value)
    ok, _ = _verify(solved, _forge(tmp_path, solved["json"], csv_text))
    assert not ok, f"{kind}.{column}={value!r} verified"


def _api_rows_to(solved: dict[str, Any], value: float) -> tuple[dict[str, Any], str]:
    """The issue's forgery: API rows' tokens set to ``value``, every total made consistent."""
    df = pd.read_csv(io.StringIO(solved["csv"]), keep_default_na=False, na_values=[""])
    api = df["source"] == "api"
    data = json.loads(solved["json"])
    prices = solved["inputs"].catalog.apis["llama-3.1-8b"]
    old = (
        df.loc[api, "input_tokens"].sum() * prices.usd_per_m_input_tokens
        + df.loc[api, "output_tokens"].sum() * prices.usd_per_m_output_tokens
    ) / 1e6
    df.loc[api, ["input_tokens", "output_tokens"]] = value
    new = (
        df.loc[api, "input_tokens"].sum() * prices.usd_per_m_input_tokens
        + df.loc[api, "output_tokens"].sum() * prices.usd_per_m_output_tokens
    ) / 1e6
    delta = new - old
    data["cost_by_tier_usd"]["api"] += delta
    data["total_cost_usd"] += delta
    data["cost_by_workload_usd"][WL] += delta
    data["workloads"][WL]["cost_usd"] += delta
    return data, df.to_csv(index=False, float_format="%.12g")


@pytest.mark.parametrize("value", [-1e9, -1.0, 0.0, 1e9])
def test_api_tokens_edited_with_consistent_totals_are_rejected(
    value: float, solved: dict[str, Any], tmp_path: Path
) -> None:
    data, csv_text = _api_rows_to(solved, value)
    folder = _forge(tmp_path, data, csv_text)
    ok, failures = _verify(solved, folder)
    assert not ok
    assert any(f.startswith(("coverage", "schedule_numbers")) for f in failures), failures
    res = invoke("verify", folder, solved["demand"])
    assert_clean(res, 1)
    assert "NOT verified" in res.stdout


@pytest.mark.parametrize("column", ["requests", "input_tokens", "output_tokens"])
def test_an_hour_blanked_is_rejected(column: str, solved: dict[str, Any], tmp_path: Path) -> None:
    df = pd.read_csv(io.StringIO(solved["csv"]), dtype=str, keep_default_na=False)
    hour = df["hour"].iloc[0]
    df.loc[df["hour"] == hour, column] = ""
    ok, failures = _verify(solved, _forge(tmp_path, solved["json"], df.to_csv(index=False)))
    assert not ok and any(f.startswith("schedule_numbers") for f in failures), failures


@pytest.mark.parametrize("drop", ["pool", "on_demand", "api", "first hour"])
def test_rows_removed_are_rejected(drop: str, solved: dict[str, Any], tmp_path: Path) -> None:
    df = pd.read_csv(io.StringIO(solved["csv"]), dtype=str, keep_default_na=False)
    keep = df["hour"] != df["hour"].iloc[0] if drop == "first hour" else df["source"] != drop
    ok, failures = _verify(solved, _forge(tmp_path, solved["json"], df[keep].to_csv(index=False)))
    assert not ok and any(f.startswith("coverage") for f in failures), failures


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("deployment", "llama-3.1-8b|H100-SXM|bf16|tp1x"),
        ("gpu", "B200"),
        ("quant", "int4"),
        ("model", "llama-3.1-70b"),
        ("source", "free"),
        ("source", "spot"),
        ("workload", "llama-3.1-8b-batch"),
        ("hour", "2030-01-01T00:00:00+00:00"),
        ("hour", "yesterday"),
        ("deployment", "api"),
    ],
)
def test_a_renamed_row_is_rejected(
    column: str, value: str, solved: dict[str, Any], tmp_path: Path
) -> None:
    csv_text = _edit_cell(solved["csv"], "pool", column, value)
    ok, _ = _verify(solved, _forge(tmp_path, solved["json"], csv_text))
    assert not ok, f"{column}={value!r} verified"


def test_a_duplicated_row_is_rejected(solved: dict[str, Any], tmp_path: Path) -> None:
    lines = solved["csv"].splitlines(keepends=True)
    ok, _ = _verify(solved, _forge(tmp_path, solved["json"], "".join([*lines, lines[1]])))
    assert not ok


# --- plan.json ---------------------------------------------------------------------------------

#: Fields of plan.json the verifier recomputes: each change must be rejected.
CHECKED_EDITS: list[tuple[str, Any]] = [
    ("total_cost_usd", lambda v: v * 1.01),
    ("total_cost_usd", lambda v: -v),
    ("horizon_hours", lambda v: v + 1),
    ("cost_by_tier_usd/api", lambda v: v + 1),
    ("cost_by_tier_usd/overhead", lambda v: 0.0),
    ("cost_by_workload_usd/" + WL, lambda v: v - 1),
    ("usd_per_m_output_tokens", lambda v: v / 2),
    ("usd_per_m_tokens", lambda v: v * 2),
    ("tokens/input", lambda v: v * 1.01 + 1),
    ("tokens/output", lambda v: 0.0),
    ("reserved/0/count", lambda v: v + 1),
    ("reserved/0/usd_per_hour", lambda v: v / 2),
    ("reserved/0/cost_usd", lambda v: v / 2),
    ("reserved/0/gpu", lambda v: "B200"),
    ("reserved/0/tier", lambda v: "on_demand"),
    ("reserved_utilization", lambda v: 0.123),
    ("lower_bound_usd", lambda v: v * 10 + 1e6),
    ("gap", lambda v: 0.5),
    ("baselines/all_api/total_cost_usd", lambda v: v / 10),
    ("baselines/reserved_peak/total_cost_usd", lambda v: v * 10),
    ("best_baseline", lambda v: "all_api" if v != "all_api" else "reserved_peak"),
    ("savings_vs_best_baseline_usd", lambda v: v * 3 + 1),
    (f"workloads/{WL}/requests", lambda v: v * 2),
    (f"workloads/{WL}/cost_usd", lambda v: v + 5),
    (f"workloads/{WL}/usd_per_m_output_tokens", lambda v: 0.0),
    (f"workloads/{WL}/api_share_of_requests", lambda v: 1.0),
    (f"workloads/{WL}/slo/tpot_ms", lambda v: v * 10),
    (f"workloads/{WL}/slo/headroom", lambda v: 0.0),
    (f"workloads/{WL}/definition/tpot_ms", lambda v: v * 10),
    (f"workloads/{WL}/definition/allow_spot", lambda v: not v),
    (f"workloads/{WL}/model", lambda v: "llama-3.1-70b"),
    ("demand/hours", lambda v: v + 1),
    ("demand/start", lambda v: "2020-01-01T00:00:00+00:00"),
    ("input_sha256/catalog", lambda v: "0" * 64),
    ("input_sha256/demand", lambda v: "f" * 64),
    ("input_sha256", lambda v: None),
    ("existing", lambda v: [{"gpu": "H100-SXM", "cost_usd": 1.0}]),
    ("total_cost_usd", lambda v: float("nan")),
    ("total_cost_usd", lambda v: "12"),
    ("total_cost_usd", lambda v: True),
    ("reserved", lambda v: "none"),
    ("reserved/0/count", lambda v: -1),
    ("reserved/0/count", lambda v: 1.5),
    ("reserved/0/count", lambda v: True),
    ("reserved/0/count", lambda v: 10**30),
    ("cost_by_tier_usd", lambda v: {}),
    ("cost_by_tier_usd/spot", lambda v: float("inf")),
    ("workloads", lambda v: {}),
    ("baselines", lambda v: {}),
]


def _get_parent(data: Any, path: str) -> tuple[Any, Any]:
    keys = [int(k) if k.isdigit() else k for k in path.strip().split("/")]
    node = data
    for k in keys[:-1]:
        node = node[k]
    return node, keys[-1]


@pytest.mark.parametrize(
    ("path", "edit"), CHECKED_EDITS, ids=[f"{p}#{i}" for i, (p, _) in enumerate(CHECKED_EDITS)]
)
def test_an_edited_plan_field_is_rejected(
    path: str, edit: Any, solved: dict[str, Any], tmp_path: Path
) -> None:
    data = json.loads(solved["json"])
    parent, key = _get_parent(data, path)
    parent[key] = edit(parent[key])
    ok, _ = _verify(solved, _forge(tmp_path, data, solved["csv"]))
    assert not ok, f"{path} edited and verified"


def test_verify_uses_the_users_inputs_not_the_plans(solved: dict[str, Any], tmp_path: Path):
    """The plan names a catalog folder and a capacity file: verify does not read them."""
    data = json.loads(solved["json"])
    data["inputs"]["catalog_dirs"] = [str(tmp_path / "evil")]
    data["inputs"]["capacity_file"] = str(tmp_path / "missing.csv")
    folder = _forge(tmp_path, data, solved["csv"])
    res = invoke("verify", folder, solved["demand"])
    assert_clean(res, 0)
    assert "verified" in res.stdout


def test_verify_names_the_input_that_differs(solved: dict[str, Any], tmp_path: Path) -> None:
    cat = write(
        tmp_path / "cat" / "offers.yaml",
        "offers:\n  - gpu: H100-SXM\n    tier: on_demand\n    usd_per_hour: 3.99\n"
        "    source: a quote\n    as_of: 2026-01-01\n",
    )
    res = invoke("verify", solved["dir"], solved["demand"], "--catalog", cat.parent)
    assert_clean(res, 1)
    assert "FAIL inputs: the catalog" in res.stdout and "--catalog" in res.stdout
    other = write(tmp_path / "other.csv", solved["demand"].read_text().replace("700000", "700001"))
    res = invoke("verify", solved["dir"], other)
    assert_clean(res, 1)
    assert "FAIL inputs: the demand CSV differs" in res.stdout


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "{",
        "[]",
        "null",
        '{"total_cost_usd": 1}',
        "[" * 100_000 + "]" * 100_000,
        '{"total_cost_usd": NaN}',
    ],
)
def test_a_broken_plan_json_is_a_clean_error(
    payload: str, solved: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    write(folder / "plan.json", payload)
    write(folder / "schedule.csv", solved["csv"])
    res = invoke("verify", folder, solved["demand"])
    text = res.stdout + res.stderr
    assert "Traceback" not in text
    assert res.exit_code in (1, 2), text


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "hour\n",
        "a,b\n1,2\n",
        b"\xff\xfe\x00",
        "hour,workload\n" + "x," * 50 + "\n",
    ],
)
def test_a_broken_schedule_is_a_clean_error(
    payload: str | bytes, solved: dict[str, Any], tmp_path: Path
) -> None:
    raw = payload if isinstance(payload, bytes) else payload.encode()
    data = json.loads(solved["json"])
    data["schedule_sha256"] = sha256(raw)
    folder = tmp_path / "p"
    write(folder / "plan.json", to_json(data))
    write(folder / "schedule.csv", raw)
    res = invoke("verify", folder, solved["demand"])
    text = res.stdout + res.stderr
    assert "Traceback" not in text
    assert res.exit_code in (1, 2), text


# --- random mutations ------------------------------------------------------------------------

_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
)
#: Fields the verifier does not check: what the solver reports about itself and how it ran.
UNCHECKED = (
    "advisor_version",
    "inputs",
    "settings",
    "options",
    "solver",
    "bound_solver",
    "aggregation",
    "warnings",
    "verified",
    "verification",
    "fleet",
    "baselines/",  # the notes beside each baseline's cost
    "savings_vs_best_baseline_fraction",
    "demand/source",
    "workloads/*/deployments",
    "existing",
    # summaries added beside this suite and not yet recomputed by the verifier: how each
    # workload is served, its marginal $/M, the policy and buy list
    "workloads/*/serving",
    "workloads/*/marginal_usd_per_m_output_tokens",
    "policy",
    "buy",
    # and each reserved row's commitment terms (start, end, term, monthly and total spend)
    "reserved/*/start",
    "reserved/*/end",
    "reserved/*/term_hours",
    "reserved/*/usd_per_month",
    "reserved/*/commitment_usd",
)


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        found = [p for k, v in node.items() for p in _leaves(v, f"{prefix}{k}/")]
        return found or [prefix.rstrip("/")]
    if isinstance(node, list):
        found = [p for i, v in enumerate(node) for p in _leaves(v, f"{prefix}{i}/")]
        return found or [prefix.rstrip("/")]
    return [prefix.rstrip("/")]


def _unchecked(path: str) -> bool:
    parts = path.split("/")
    for u in UNCHECKED:
        want = u.rstrip("/").split("/")
        prefix = parts[: len(want)]
        matches = len(prefix) == len(want) and all(
            w in ("*", p) for w, p in zip(want, prefix, strict=True)
        )
        if matches and (not u.endswith("/") or parts[-1] == "note"):
            return True
    return False


MUTATIONS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


#: plain values a forger (or a slip) might put anywhere in plan.json
PLAN_VALUES: list[Any] = [
    float("nan"),
    float("inf"),
    -1.0,
    0.0,
    1e308,
    -(10**30),
    10**30,
    "",
    "x",
    None,
    True,
    False,
    [],
    {},
    3,
    0.5,
]


def test_random_plan_json_mutations(solved: dict[str, Any], tmp_path: Path) -> None:
    """150 edits of plan.json leaves (a seeded sample of every leaf x every value above)."""
    plan = json.loads(solved["json"])
    leaves = [p for p in _leaves(plan) if p and p != "schedule_sha256"]
    rng = random.Random(17)
    cases = rng.sample([(p, v) for p in leaves for v in range(len(PLAN_VALUES))], 150)
    wrong = []
    for path, vi in cases:
        value = PLAN_VALUES[vi]
        mutated = copy.deepcopy(plan)
        parent, key = _get_parent(mutated, path)
        if parent[key] == value and type(parent[key]) is type(value):
            continue
        parent[key] = value
        try:
            ok, _ = _verify(solved, _forge(tmp_path, mutated, solved["csv"]))
        except AdvisorError:
            continue
        if ok and not (_unchecked(path) or _same_number(plan, path, value)):
            wrong.append((path, value))
    assert not wrong, wrong


def _same_number(plan: dict[str, Any], path: str, value: Any) -> bool:
    parent, key = _get_parent(plan, path)
    old = parent[key]
    return (
        isinstance(old, int | float)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and math.isclose(old, value, rel_tol=1e-6, abs_tol=1e-9)
    )


@MUTATIONS
@given(data=st.data())
def test_random_schedule_mutations(solved: dict[str, Any], tmp_path: Path, data) -> None:
    df = pd.read_csv(io.StringIO(solved["csv"]), dtype=str, keep_default_na=False)
    i = data.draw(st.integers(0, len(df) - 1))
    col = data.draw(st.sampled_from(list(df.columns)))
    value = data.draw(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(-(10**20), 10**20).map(str),
            st.text(max_size=6),
            st.sampled_from(df[col].tolist()),
        )
    )
    df.loc[i, col] = value
    csv_text = df.to_csv(index=False)
    folder = _forge(tmp_path, solved["json"], csv_text)
    try:
        ok, _ = _verify(solved, folder)
    except AdvisorError:
        return
    if ok:  # then it is the same plan: every parsed value unchanged
        before = Plan.load(solved["dir"]).schedule
        after = Plan.load(folder).schedule
        pd.testing.assert_frame_equal(before, after, check_dtype=False, rtol=1e-6)
