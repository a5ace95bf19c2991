"""Sensitivity sweeps: solve the same problem over a range of one parameter.

>>> from advisor.pipeline import load_inputs
>>> from advisor.solve import SolverSettings
>>> from advisor.sweep import sweep
>>> inputs = load_inputs("demand/high_steady.csv")                             # doctest: +SKIP
>>> table = sweep(inputs, "price.spot", [0.5, 1, 2], SolverSettings("highs"),  # doctest: +SKIP
...               out_dir="out/sweep")

Parameters (each value is a multiplier, > 0):

    price.on_demand, price.spot, price.owned   that tier's GPU prices
    price.reserved                             reserved_1y, reserved_3y, capacity_block prices
    price.api                                  hosted-API prices (input and output tokens)
    demand                                     every hour's requests and tokens (growth)
    slo                                        every workload's TPOT and TTFT SLO (< 1 tightens)

Cases are solved in parallel (one process per case, up to ``jobs``). Each solved and verified
plan is saved to ``out_dir/<param>=<value>/``; the table is written to ``out_dir/sweep.csv``
and a figure (cost by tier and fleet mix against the value) to ``out_dir/sweep.png``. A case
without a plan (infeasible, solver failure) is a row with that status, not an error.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from advisor.errors import AdvisorError, InfeasibleError, OutputError
from advisor.files import write_atomically
from advisor.milp import POOL
from advisor.parallel import pool_workers
from advisor.pipeline import Inputs, option_set, solve_inputs
from advisor.plan import Plan
from advisor.solve import SolverSettings

#: Sweepable parameters and the catalog price tiers each one multiplies (None: not a price).
PARAMS: dict[str, tuple[str, ...] | None] = {
    "price.on_demand": ("on_demand",),
    "price.reserved": ("reserved_1y", "reserved_3y", "capacity_block"),
    "price.spot": ("spot",),
    "price.owned": ("owned",),
    "price.api": ("api",),
    "demand": None,
    "slo": None,
}
#: Cost-by-tier keys of a plan, in the order they are stacked in the figure.
COST_TIERS: tuple[str, ...] = (
    "reserved",
    "owned",
    "existing",
    "on_demand",
    "spot",
    "api",
    "overhead",
)
CSV_NAME = "sweep.csv"
PNG_NAME = "sweep.png"


def case_label(param: str, value: float) -> str:
    """The folder name of one case: ``<param>=<value>``."""
    return f"{param}={value:g}"


def other_case_dirs(out_dir: Path, table: pd.DataFrame) -> list[str]:
    """Case folders (``<param>=<value>`` with a plan) in ``out_dir`` that ``table``'s sweep
    did not write: an earlier sweep's, left as they are."""
    ours = {Path(str(p)).name for p in table.get("plan_dir", pd.Series(dtype=object)).dropna()}
    ours |= {case_label(str(r.param), float(r.value)) for r in table.itertuples()}
    return sorted(
        d.name
        for d in out_dir.iterdir()
        if d.is_dir() and "=" in d.name and d.name not in ours and (d / "plan.json").is_file()
    )


def check_sweep(param: str, values: Sequence[float]) -> list[float]:
    """Validate a parameter name and its values; return the values as floats."""
    if param not in PARAMS:
        raise AdvisorError(
            f"Unknown sweep parameter '{param}'. Valid parameters: {', '.join(PARAMS)}."
        )
    vals: list[float] = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise AdvisorError(f"Sweep values must be numbers; got '{v}' for {param}.") from None
        if not (math.isfinite(f) and f > 0):
            raise AdvisorError(
                f"Sweep values are multipliers and must be finite and > 0; got {v} for {param}."
            )
        vals.append(f)
    if not vals:
        raise AdvisorError(f"Give at least one value to sweep {param} over.")
    labels = [case_label(param, v) for v in vals]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise AdvisorError(f"Sweep values repeat: {', '.join(dup)}. Give each value once.")
    return vals


def parse_case(case: str) -> tuple[str, float]:
    """A case as its folder names it (``slo=0.8``): its parameter and value."""
    param, sep, value = case.partition("=")
    if not sep:
        raise AdvisorError(
            f"A sweep case is PARAM=VALUE, as its folder is named (e.g. slo=0.8); got '{case}'."
        )
    return param, check_sweep(param, [value])[0]


def apply_param(inputs: Inputs, param: str, value: float) -> Inputs:
    """Return ``inputs`` with one sweep parameter applied at ``value``."""
    check_sweep(param, [value])
    tiers = PARAMS[param]
    if tiers is not None:
        return replace(inputs, catalog=inputs.catalog.scaled(dict.fromkeys(tiers, value)))
    if param == "demand":
        return replace(inputs, demand=inputs.demand.scaled(value))
    # slo
    return inputs.with_workloads(
        {
            name: w.model_copy(update={"tpot_ms": w.tpot_ms * value, "ttft_ms": w.ttft_ms * value})
            for name, w in inputs.workloads.items()
        }
    )


def plan_row(plan: Plan) -> dict[str, Any]:
    """The sweep-table columns describing one plan (costs, fleet mix, gap, verification)."""
    d = plan.data
    row: dict[str, Any] = {"total_cost_usd": plan.total_cost_usd}
    by_tier = plan.cost_by_tier_usd
    for tier in COST_TIERS:
        row[f"cost_{tier}_usd"] = float(by_tier.get(tier, 0.0))
    row["usd_per_m_output_tokens"] = d.get("usd_per_m_output_tokens")
    reserved = d.get("reserved", [])
    # GPUs (a reserved row's count is instances), summed over the offers of a GPU and tier
    row["reserved_gpus"] = 0
    for r in reserved:
        gpus = int(r["count"]) * int(r.get("gpus_per_instance", 1))
        row["reserved_gpus"] += gpus
        key = f"reserved.{r['gpu']}.{r['tier']}"
        row[key] = row.get(key, 0) + gpus
    sched = plan.schedule
    for src in ("on_demand", "spot"):
        row[f"peak_{src}_gpus"] = _peak_gpus(sched, src)
    total_req = float(sched["requests"].sum()) if len(sched) else 0.0
    api_req = float(sched.loc[sched["source"] == "api", "requests"].sum()) if len(sched) else 0.0
    row["api_share"] = api_req / total_req if total_req > 0 else 0.0
    row["pool_share"] = (
        float(sched.loc[sched["source"] == POOL, "requests"].sum()) / total_req
        if total_req > 0
        else 0.0
    )
    row["gap"] = d.get("gap")
    row["verified"] = plan.verified
    return row


def _peak_gpus(schedule: pd.DataFrame, source: str) -> int:
    if not len(schedule):
        return 0
    s = schedule[schedule["source"] == source].drop_duplicates(["hour", "deployment", "source"])
    if not len(s):
        return 0
    return int(s.groupby("hour")["gpus"].sum().max())


# --- workers -----------------------------------------------------------------------------------


def _quiet_worker() -> None:
    """Send a worker's stdout (solver banners) to /dev/null so it cannot mix with ours."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stdout.flush()
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the worker


def _capacities_first(inputs: Inputs) -> None:
    """Compute the options' capacities once, here (in worker processes of their own), so the
    cases find them cached instead of each simulating them on its own time budget."""
    with contextlib.suppress(AdvisorError):  # each case reports it
        option_set(inputs)


def _solve_case(
    inputs: Inputs,
    param: str,
    value: float,
    settings: SolverSettings,
    aggregate: str | int,
    case_dir: str | None,
) -> dict[str, Any]:
    """Solve one case (in a worker process); save its plan; return its table row."""
    row: dict[str, Any] = {"param": param, "value": value}
    try:
        plan = solve_inputs(apply_param(inputs, param, value), settings, aggregate=aggregate)
    except InfeasibleError as exc:
        return {**row, "status": f"infeasible: {exc}", "verified": False}
    except AdvisorError as exc:
        return {**row, "status": f"failed: {exc}", "verified": False}
    row.update(plan_row(plan))
    row["warnings"] = "; ".join(plan.data.get("warnings", []))
    if not plan.verified:
        failures = [
            f"{c['check']}: {c['detail']}"
            for c in plan.data["verification"]["checks"]
            if not c["ok"]
        ]
        row["status"] = "unverified: " + "; ".join(failures)
        return row
    row["status"] = str(plan.data["solver"]["status"])
    if case_dir is not None:
        plan.with_sweep_case(param, value, case_label(param, value)).save(case_dir)
        row["plan_dir"] = case_dir
    return row


# --- the sweep -------------------------------------------------------------------------------


def sweep(
    inputs: Inputs,
    param: str,
    values: Sequence[float],
    settings: SolverSettings,
    *,
    out_dir: Path | str | None = None,
    jobs: int | None = None,
    aggregate: str | int = "auto",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Solve ``inputs`` once per value of ``param``, in parallel; return one row per value.

    Columns: param, value, status, verified, total_cost_usd, cost_<tier>_usd, reserved_gpus
    and reserved.<gpu>.<tier>, peak_on_demand_gpus, peak_spot_gpus, api_share, pool_share,
    gap, usd_per_m_output_tokens, warnings, plan_dir. ``status`` is the solver status
    (optimal / feasible) for a verified plan, else ``infeasible: …``, ``failed: …`` or
    ``unverified: …`` (such plans are not saved). With ``out_dir``, writes each plan to
    ``out_dir/<param>=<value>/`` and ``sweep.csv`` and ``sweep.png`` into ``out_dir``.
    """
    vals = check_sweep(param, values)
    n_jobs = pool_workers(jobs, len(vals))
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise OutputError(f"--out '{out}' is a file; give a folder path.")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot write to '{out}': {exc.strerror}.") from None
    if param != "slo":  # the SLOs change the capacities; prices and demand do not
        _capacities_first(inputs)
    rows: list[dict[str, Any]] = []
    # fork where there is one: workers need not re-import this program's main module, so a
    # script without a __main__ guard, stdin or a notebook all work; spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_quiet_worker) as pool:
        futures = {
            pool.submit(
                _solve_case,
                inputs,
                param,
                v,
                settings,
                aggregate,
                None if out is None else str(out / case_label(param, v)),
            ): v
            for v in vals
        }
        for fut in as_completed(futures):
            row = fut.result()
            rows.append(row)
            if progress is not None:
                cost = row.get("total_cost_usd")
                progress(
                    f"{case_label(param, futures[fut])}: {row['status']}"
                    + ("" if cost is None else f", ${cost:,.2f}")
                )
    table = _table(rows)
    if out is not None:
        write_csv_atomically(table, out / CSV_NAME)
        write_figure_atomically(table, param, out / PNG_NAME)
    return table


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows).sort_values("value", kind="stable").reset_index(drop=True)
    first = ["param", "value", "status", "verified", "total_cost_usd"]
    costs = [f"cost_{t}_usd" for t in COST_TIERS]
    reserved = sorted(c for c in df.columns if c.startswith("reserved."))
    rest = [
        "reserved_gpus",
        *reserved,
        "peak_on_demand_gpus",
        "peak_spot_gpus",
        "api_share",
        "pool_share",
        "gap",
        "usd_per_m_output_tokens",
        "warnings",
        "plan_dir",
    ]
    for c in [*first, *costs, *rest]:
        if c not in df.columns:
            df[c] = None
    for c in reserved:
        df[c] = df[c].fillna(0).astype(int)
    df["verified"] = df["verified"].astype(bool)
    return df[[*first, *costs, *rest]]


# --- files -------------------------------------------------------------------------------------


def write_csv_atomically(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as CSV to ``path`` in one step (``advisor.files.write_atomically``)."""
    write_atomically(path, table.to_csv(index=False, float_format="%.10g"))


def write_figure_atomically(table: pd.DataFrame, param: str, path: Path) -> None:
    """Draw the sweep figure and write it as PNG to ``path`` in one step."""
    fig = sweep_figure(table, param)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_atomically(path, buf.getvalue())


_TIER_COLORS = {
    "reserved": "#1f77b4",
    "owned": "#17becf",
    "existing": "#7f7f7f",
    "on_demand": "#ff7f0e",
    "spot": "#2ca02c",
    "api": "#d62728",
    "overhead": "#bcbd22",
}


def sweep_figure(table: pd.DataFrame, param: str) -> Figure:
    """Two panels against the parameter value: stacked cost by tier; fleet mix and API share."""
    x = [f"{v:g}" for v in table["value"]]
    pos = list(range(len(table)))
    fig = Figure(figsize=(10, 7.5))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    bottom = [0.0] * len(table)
    for tier in COST_TIERS:
        col = f"cost_{tier}_usd"
        vals = [float(v) if pd.notna(v) else 0.0 for v in table[col]]
        if not any(v > 0 for v in vals):
            continue
        ax1.bar(pos, vals, 0.6, bottom=bottom, label=tier, color=_TIER_COLORS[tier])
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for i, (status, total) in enumerate(zip(table["status"], table["total_cost_usd"], strict=True)):
        if pd.notna(total):
            ax1.annotate(
                f"${total:,.0f}",
                (i, total),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        else:
            ax1.annotate(
                str(status).split(":")[0], (i, 0), ha="center", va="bottom", fontsize=8, color="red"
            )
    ax1.set_ylabel("total cost over horizon [USD]")
    ax1.set_title(f"Sweep of {param}: cost by tier")
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="tier")
    top = max(bottom) if bottom else 0.0
    ax1.set_ylim(0, top * 1.1 if top > 0 else 1)
    ax1.grid(axis="y", alpha=0.3)

    for col, label, style in (
        ("reserved_gpus", "reserved / owned GPUs", "o-"),
        ("peak_on_demand_gpus", "peak on-demand GPUs", "s-"),
        ("peak_spot_gpus", "peak spot GPUs", "^-"),
    ):
        ax2.plot(pos, pd.to_numeric(table[col], errors="coerce"), style, label=label)
    ax2.set_ylabel("GPUs")
    ax2.set_ylim(bottom=0, top=max(1.0, ax2.get_ylim()[1]))
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.grid(alpha=0.3)
    ax3 = ax2.twinx()
    share = pd.to_numeric(table["api_share"], errors="coerce") * 100
    ax3.plot(pos, share, "d--", color="#d62728", label="API share")
    ax3.set_ylabel("API share of requests [%]")
    share_max = float(share.max()) if share.notna().any() else 0.0
    ax3.set_ylim(0, min(105.0, max(5.0, share_max * 1.2)))
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(
        h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=8, title="fleet"
    )
    ax2.set_title("Fleet mix")
    ax2.set_xticks(pos, x)
    ax2.set_xlabel(f"{param} (multiplier)")
    fig.tight_layout()
    return fig


__all__ = [
    "COST_TIERS",
    "PARAMS",
    "apply_param",
    "case_label",
    "check_sweep",
    "plan_row",
    "sweep",
    "sweep_figure",
]
