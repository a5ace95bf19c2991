"""Presenting plans: the terminal summary (rich) and the written report (Markdown + HTML).

Reads saved plans only (``plan.json`` and ``schedule.csv``), so it works on plans written by
earlier runs.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from advisor.buylist import buy_table
from advisor.catalog import Catalog
from advisor.errors import OutputError
from advisor.plan import (
    CAPACITY_BASIS_NOTE,
    COST_PER_TOKEN_NOTE,
    against_policy,
    capacity_basis_rows,
    for_reading,
    reading_edited,
    savings_text,
    serving_text,
    share_text,
)
from advisor.serving import Replica, slo_capacity, workload_slo, workload_traffic
from advisor.serving_plot import load_figure_png


def _api_all_in(workload: Mapping[str, Any]) -> float | None:
    """The API's price for a workload's tokens (prompts included) per M output tokens; plans
    saved before that field existed fall back to the API's output list price."""
    v = workload.get("api_all_in_usd_per_m_output_tokens")
    return workload.get("api_usd_per_m_output_tokens") if v is None else v


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def offer_label(row: Mapping[str, Any]) -> str:
    """A fleet row's GPU and, for an instance offer, its provider, instance type, region."""
    provider = row.get("provider", "generic")
    if provider == "generic" and row.get("instance", row["gpu"]) == row["gpu"]:
        return str(row["gpu"])
    where = f"{provider} {row.get('instance', '')}".strip()
    region = row.get("region")
    return f"{row['gpu']} ({where}{' ' + region if region else ''})"


def _against(cost: float | None, total: float) -> str:
    """The plan against a policy's cost (``against_policy``), or 'n/a'."""
    if cost is None or cost <= 0:
        return "n/a"
    return against_policy(cost, total)


def print_plan_summary(data: Mapping[str, Any], console: Console) -> None:
    """Print the short summary of a plan: fleet, cost by tier, workloads, baselines, solver."""
    gap = data.get("gap")
    console.print(
        f"[bold]Total cost (USD): {data['total_cost_usd']:,.2f}[/] over "
        f"{data['horizon_hours']:.0f} h — "
        + (
            "n/a"
            if data.get("usd_per_m_output_tokens") is None
            else f"{data['usd_per_m_output_tokens']:.3f}"
        )
        + f" USD/M output tokens; verified: {data.get('verified')}; gap "
        f"{'n/a' if gap is None else f'{gap:.3%}'}",
        highlight=False,
    )
    t = Table(title="Fleet")
    for c in ("GPU (provider instance region)", "tier", "instances", "peak GPUs", "GPU-hours"):
        t.add_column(c, justify="left" if c[:3] in ("GPU", "tie") else "right")
    for r in data.get("existing", []):
        t.add_row(
            escape(r["gpu"]),
            f"existing {escape(r['tier'])}",
            "",
            str(r["count"]),
            f"{r['gpu_hours']:,.0f}",
        )
    for r in data["fleet"]:
        t.add_row(
            escape(offer_label(r)),
            escape(r["tier"]),
            f"{r.get('instances', r['peak_gpus']):g}",
            str(r["peak_gpus"]),
            f"{r['gpu_hours']:,.0f}",
        )
    if data["fleet"] or data.get("existing"):
        console.print(t)
    else:
        console.print("No GPUs: every request goes to the API.")
    c = Table(title="Cost by tier (USD)")
    c.add_column("tier")
    c.add_column("Cost (USD)", justify="right")
    for k, v in data["cost_by_tier_usd"].items():
        if v:
            c.add_row(k, _usd(v))
    console.print(c)
    w = Table(title="Workloads")
    for col in ("workload", "cost (USD)", "USD/M output", "API all-in USD/M output", "to API"):
        w.add_column(col, justify="left" if col == "workload" else "right", overflow="fold")
    for name, d in data["workloads"].items():
        api = d.get("api_all_in_usd_per_m_output_tokens")
        w.add_row(
            escape(name),
            _usd(d["cost_usd"]),
            "n/a"
            if d["usd_per_m_output_tokens"] is None
            else f"{d['usd_per_m_output_tokens']:.3f}",
            "-" if api is None else f"{api:.3f}",
            share_text(d["api_share_of_requests"]),
        )
    console.print(w)
    b = Table(title="Against the simple policies")
    b.add_column("policy")
    b.add_column("Cost (USD)", justify="right")
    b.add_column("the plan", justify="right")
    for name, base in data["baselines"].items():
        cb = base["total_cost_usd"]
        b.add_row(name, _usd(cb), _against(cb, data["total_cost_usd"]))
    console.print(b)
    s = data["solver"]
    scen = data.get("scenarios")
    # over scenarios, this is the chosen fleet's schedule on one of them; the scenarios' line
    # gives the whole two-stage solve
    on = f" (the schedule on scenario {scen['plan_scenario']})" if scen else ""
    console.print(
        f"solver {s['name']}{on}: {s['status']} in {s['seconds']:.2f} s; aggregation "
        f"{data['aggregation']['mode']} ({data['aggregation']['points']} points for "
        f"{data['aggregation']['hours']} hours)",
        highlight=False,
    )


# --- the written report (Markdown + self-contained HTML with figures) -------------------------

#: Schedule sources in stacking order, with their display names and colours.
SOURCE_ORDER = ("pool", "on_demand", "spot", "api")
SOURCE_LABELS = {"pool": "reserved pool", "on_demand": "on-demand", "spot": "spot", "api": "API"}
SOURCE_COLORS = {"pool": "#1b7837", "on_demand": "#2166ac", "spot": "#f4a582", "api": "#b2abd2"}
TIER_ORDER = ("reserved", "owned", "existing", "on_demand", "spot", "api", "overhead")
TIER_COLORS = {
    "reserved": "#1b7837",
    "owned": "#5aae61",
    "existing": "#a6dba0",
    "on_demand": "#2166ac",
    "spot": "#f4a582",
    "api": "#b2abd2",
    "overhead": "#999999",
}
FIGURE_FILES = {
    "capacity": "report_capacity.png",
    "cost_by_tier": "report_cost_by_tier.png",
    "usd_per_m": "report_usd_per_m.png",
    "pool_utilization": "report_pool_utilization.png",
    "savings": "report_savings.png",
}
#: figures only some plans have (a two-stage plan's scenario costs)
OPTIONAL_FIGURE_FILES = {"scenarios": "report_scenarios.png"}


#: Deployments drawn under load in the report: those serving the most requests.
MAX_LOAD_FIGURES = 6
LOAD_FIGURE = "load_"
#: the note naming the deployments the report does not draw, and how to draw each
LOAD_NOTE = "undrawn_loads"


def _figure_file(key: str) -> str:
    if key.startswith(LOAD_FIGURE):
        return f"report_{key}.png"
    return FIGURE_FILES.get(key) or OPTIONAL_FIGURE_FILES[key]


_DPI = 110
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class _Figure:
    key: str
    title: str
    caption: str
    png: bytes | None = None
    note: str | None = None
    items: tuple[str, ...] = ()


def _horizon_hours(plan: Any) -> pd.DatetimeIndex:
    """Every hour of the plan's horizon (UTC), from plan.json's demand span or the schedule."""
    dem = plan.data.get("demand") or {}
    if dem.get("start") and dem.get("end"):
        return pd.date_range(
            pd.Timestamp(dem["start"]).tz_convert("UTC"),
            pd.Timestamp(dem["end"]).tz_convert("UTC"),
            freq="h",
        )
    if len(plan.schedule):
        return pd.DatetimeIndex(sorted(plan.schedule["hour"].unique()))
    return pd.DatetimeIndex([], tz="UTC")


def _new_figure(width: float = 10.0, height: float = 4.8) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, facecolor="white")
    return buf.getvalue()


def _no_data(fig: Any, ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def fig_capacity(plan: Any, hours: pd.DatetimeIndex) -> bytes:
    import matplotlib.dates as mdates

    fig = _new_figure(11, 5)
    ax = fig.add_subplot()
    ax.set_title("Requests served by tier against demand (UTC)")
    ax.set_xlabel("Hour (UTC)")
    ax.set_ylabel("requests/hour")
    if not len(plan.schedule) or not len(hours):
        _no_data(fig, ax, "No demand in this plan.")
        return _png(fig)
    cap = plan.capacity_by_source().reindex(hours, fill_value=0.0)
    if len(hours) > ENVELOPE_HOURS:
        return fig_capacity_daily(fig, ax, cap)
    x = hours.tz_convert("UTC").tz_localize(None).to_pydatetime()
    sources = [s for s in SOURCE_ORDER if s in cap.columns and cap[s].to_numpy().any()]
    sources += [s for s in cap.columns if s not in SOURCE_ORDER and cap[s].to_numpy().any()]
    if sources:
        ax.stackplot(
            x,
            *[cap[s].to_numpy(dtype=float) for s in sources],
            labels=[SOURCE_LABELS.get(s, s) for s in sources],
            colors=[SOURCE_COLORS.get(s, "#cccccc") for s in sources],
            alpha=0.9,
            step=None,
        )
    demand = cap.sum(axis=1).to_numpy(dtype=float)
    ax.plot(x, demand, color="black", linewidth=1.3, label="demand")
    ax.set_ylim(bottom=0)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter(_thousands())
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", ncols=5, fontsize=9, framealpha=0.9)
    return _png(fig)


#: Horizons longer than this [hours] are drawn per day: hourly lines would be a solid block.
ENVELOPE_HOURS = 24 * 45


def fig_capacity_daily(fig: Any, ax: Any, cap: pd.DataFrame) -> bytes:
    """A long horizon per day: each tier's mean requests/hour stacked, and the demand's daily
    range (lowest to highest hour) shaded around its daily mean."""
    import matplotlib.dates as mdates

    cap = cap.copy()
    cap.index = pd.DatetimeIndex(cap.index).tz_convert("UTC").tz_localize(None)
    day_mean = cap.resample("D").mean()
    demand = cap.sum(axis=1).resample("D")
    x = day_mean.index.to_pydatetime()
    sources = [s for s in SOURCE_ORDER if s in day_mean.columns and day_mean[s].to_numpy().any()]
    sources += [s for s in day_mean.columns if s not in SOURCE_ORDER and day_mean[s].any()]
    if sources:
        ax.stackplot(
            x,
            *[day_mean[s].to_numpy(dtype=float) for s in sources],
            labels=[SOURCE_LABELS.get(s, s) + " (daily mean)" for s in sources],
            colors=[SOURCE_COLORS.get(s, "#cccccc") for s in sources],
            alpha=0.9,
        )
    ax.fill_between(
        x,
        demand.min().to_numpy(dtype=float),
        demand.max().to_numpy(dtype=float),
        color="black",
        alpha=0.15,
        step=None,
        label="demand, daily range",
    )
    ax.plot(
        x,
        demand.mean().to_numpy(dtype=float),
        color="black",
        linewidth=1.2,
        label="demand, daily mean",
    )
    ax.set_title("Requests served by tier against demand, per day (UTC)")
    ax.set_xlabel("Day (UTC)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter(_thousands())
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", ncols=3, fontsize=9, framealpha=0.9)
    return _png(fig)


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def _fig_cost_by_tier(data: Mapping[str, Any]) -> bytes:
    fig = _new_figure(9, 4.8)
    ax = fig.add_subplot()
    tiers = _tiers(data)
    ax.set_title(
        f"Cost by tier over {data['horizon_hours']:,.0f} h (total ${data['total_cost_usd']:,.0f})"
    )
    ax.set_xlabel("Tier")
    ax.set_ylabel("Cost (USD)")
    if not tiers:
        _no_data(fig, ax, "Nothing to pay: no demand.")
        return _png(fig)
    vals = [data["cost_by_tier_usd"][t] for t in tiers]
    bars = ax.bar(
        [t.replace("_", "-") for t in tiers],
        vals,
        color=[TIER_COLORS.get(t, "#cccccc") for t in tiers],
        edgecolor="black",
        linewidth=0.5,
    )
    ax.bar_label(bars, labels=[f"${v:,.0f}" for v in vals], padding=3, fontsize=9)
    ax.set_ylim(0, max(vals) * 1.15 if max(vals) > 0 else 1)
    ax.yaxis.set_major_formatter(_thousands())
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def _tiers(data: Mapping[str, Any]) -> list[str]:
    by = data["cost_by_tier_usd"]
    order = [t for t in TIER_ORDER if t in by] + [t for t in by if t not in TIER_ORDER]
    return [t for t in order if by[t]]


def _fig_usd_per_m(data: Mapping[str, Any]) -> bytes:
    names = list(data["workloads"])
    fig = _new_figure(10, max(3.2, 1.6 + 0.9 * len(names)))
    ax = fig.add_subplot()
    ax.set_title("Cost per million output tokens: this plan against the API, by workload")
    ax.set_xlabel("USD per M output tokens")
    if not names:
        _no_data(fig, ax, "No workloads.")
        return _png(fig)
    y = np.arange(len(names))
    h = 0.38
    plan_v = [data["workloads"][w].get("usd_per_m_output_tokens") for w in names]
    api_v = [_api_all_in(data["workloads"][w]) for w in names]
    pb = ax.barh(y - h / 2, [v or 0.0 for v in plan_v], h, label="this plan", color="#1b7837")
    ab = ax.barh(
        y + h / 2, [v or 0.0 for v in api_v], h, label="API, prompts included", color="#b2abd2"
    )
    ax.bar_label(pb, labels=["n/a" if v is None else f"${v:.3f}" for v in plan_v], padding=3)
    ax.bar_label(ab, labels=["no API" if v is None else f"${v:.3f}" for v in api_v], padding=3)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    top = max([v for v in plan_v + api_v if v is not None and v > 0] or [1.0])
    ax.set_xlim(0, top * 1.2)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return _png(fig)


def pool_utilization_by_hour_of_week(plan: Any) -> pd.Series | None:
    """Mean over weeks of the reserved pool's load / pool GPUs, by hour of week (0 = Monday
    00:00 UTC); ``None`` when the plan has no reserved, owned or existing GPUs."""
    data = plan.data
    hours = _horizon_hours(plan)
    if not len(hours):
        return None
    capacity = np.zeros(len(hours))
    capacity += sum(
        int(r["count"]) * int(r.get("gpus_per_instance", 1)) for r in data.get("reserved", [])
    )
    for e in data.get("existing", []):
        on = np.ones(len(hours), dtype=bool)
        if e.get("start"):
            on &= hours >= pd.Timestamp(e["start"])
        if e.get("end"):
            on &= hours < pd.Timestamp(e["end"])
        capacity += int(e["count"]) * on
    if not capacity.any():
        return None
    sched = plan.schedule
    load = pd.Series(0.0, index=hours)
    if len(sched):
        pool = sched[sched["source"] == "pool"]
        if len(pool):
            per_hour = (pool["replica_share"] * pool["tp"]).groupby(pool["hour"]).sum()
            load = per_hour.reindex(hours, fill_value=0.0).astype(float)
    util = pd.Series(
        np.where(capacity > 0, load.to_numpy() / np.where(capacity > 0, capacity, 1), np.nan),
        index=hours,
    )
    how = hours.day_of_week * 24 + hours.hour
    return util.groupby(how).mean().reindex(range(168))


def _fig_pool_utilization(plan: Any, util: pd.Series) -> bytes:
    fig = _new_figure(11, 4.6)
    ax = fig.add_subplot()
    ax.set_title("Reserved-pool utilization by hour of week (mean over weeks, UTC)")
    ax.set_xlabel("Hour of week (UTC)")
    ax.set_ylabel("Utilization (% of pool GPUs)")
    vals = util.to_numpy(dtype=float) * 100
    ax.bar(np.arange(168), np.nan_to_num(vals), width=1.0, color="#1b7837", alpha=0.85)
    overall = plan.data.get("reserved_utilization")
    if overall is not None:
        ax.axhline(
            overall * 100,
            color="black",
            linestyle="--",
            linewidth=1.2,
            label=f"whole horizon: {overall:.0%}",
        )
        ax.legend(loc="lower right", fontsize=9)
    ax.set_xticks(np.arange(0, 168, 24), [f"{d} 00:00" for d in _DAYS])
    ax.set_xticks(np.arange(0, 168, 6), minor=True)
    ax.set_xlim(-0.5, 167.5)
    ax.set_ylim(0, 105)
    ax.grid(True, axis="y", alpha=0.3)
    for d in range(1, 7):
        ax.axvline(d * 24 - 0.5, color="grey", linewidth=0.6, alpha=0.6)
    return _png(fig)


def savings_bar_labels(data: Mapping[str, Any]) -> list[str]:
    """The savings figure's bar labels: the plan's cost, then each policy's against it; a
    policy with no cost is not applicable (its note, in the table beside, says why)."""
    total = data["total_cost_usd"]
    labels = [f"${total:,.0f}"]
    for b in data.get("baselines", {}).values():
        c = b.get("total_cost_usd")
        if c is None:
            labels.append("not applicable (see its note)")
        elif c > 0:
            labels.append(f"${c:,.0f} — plan {_against(c, total)}")
        else:
            labels.append(f"${c:,.0f}")
    return labels


def _fig_savings(data: Mapping[str, Any]) -> bytes:
    base = {k: v.get("total_cost_usd") for k, v in data.get("baselines", {}).items()}
    names = ["this plan", *base]
    costs = [data["total_cost_usd"], *base.values()]
    fig = _new_figure(10, max(3.2, 1.6 + 0.6 * len(names)))
    ax = fig.add_subplot()
    ax.set_title("This plan against the simple policies (total cost over the horizon)")
    ax.set_xlabel("Cost (USD)")
    y = np.arange(len(names))
    colors = ["#1b7837"] + ["#bababa"] * len(base)
    bars = ax.barh(y, [c or 0.0 for c in costs], color=colors, edgecolor="black", linewidth=0.5)
    ax.bar_label(bars, labels=savings_bar_labels(data), padding=4, fontsize=9)
    total = data["total_cost_usd"]
    ax.set_yticks(y, [n.replace("_", " ") for n in names])
    ax.invert_yaxis()
    top = max([c for c in costs if c is not None] or [1.0])
    ax.set_xlim(0, top * 1.45 if top > 0 else 1)
    ax.axvline(total, color="#1b7837", linestyle="--", linewidth=1)
    ax.xaxis.set_major_formatter(_thousands())
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _load_figures(
    plan: Any, catalog: Catalog | None, progress: Callable[[str], None] | None = None
) -> list[_Figure]:
    """TTFT and TPOT against request rate for each deployment × workload that serves the
    most requests (at most ``MAX_LOAD_FIGURES``), with the SLO and the capacity the plan
    sized it at: the plan's capacity function on ``catalog``; each one said on
    ``progress`` before it is simulated (seconds to a minute each the first time)."""
    sched = plan.schedule
    if catalog is None or sched is None or not len(sched):
        return []
    served = sched[(sched["source"] != "api") & (sched["requests"] > 0)]
    pairs = (
        served.groupby(["deployment", "workload"])["requests"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    top = pairs.iloc[:MAX_LOAD_FIGURES]
    method = plan.data.get("capacity_model", "simulated")
    figs = []
    not_drawn = [
        _undrawn(plan, served, dep, w, f"beyond the first {MAX_LOAD_FIGURES}")
        for dep, w in pairs.index[MAX_LOAD_FIGURES:]
    ]
    for i, (dep, w) in enumerate(top.index, 1):
        row = served[(served["deployment"] == dep) & (served["workload"] == w)].iloc[0]
        d = plan.data["workloads"][w]["definition"]
        gpu = catalog.gpu_in_pool(str(row["gpu"]), row.get("pool") or str(row["gpu"]))
        replica = Replica(
            catalog.model(d["model"]), gpu, catalog.quant(str(row["quant"])),
            catalog.efficiency_for(gpu), int(row["tp"]),
        )  # fmt: skip
        traffic, slo = workload_traffic(d), workload_slo(d)
        if progress is not None:
            progress(f"load figure {i} of {len(top)}: {w} on {dep} (simulated; then cached)")
        cap = slo_capacity(replica, traffic, slo, method)
        if not cap.feasible:
            not_drawn.append(_undrawn(plan, served, dep, w, "no rate meets its SLO here"))
            continue
        title = f"{w} on {row['quant']} TP{int(row['tp'])} {row['gpu']}"
        figs.append(
            _Figure(
                f"{LOAD_FIGURE}{i}",
                title,
                f"One replica of {dep} serving {w}: TTFT and TPOT (p50, p99) against the "
                f"arrival rate ({method} capacity model), the SLO ({slo.stat}) in red and the "
                f"capacity the plan sizes replicas at ({cap.requests_per_s:.2f} requests/s, "
                f"before headroom) in green.",
                load_figure_png(replica, traffic, slo, cap, title=title),
            )
        )
    if not_drawn:
        note = (
            "Not drawn here (the command after each draws it; add the plan's --catalog if it "
            "was solved with one):"
        )
        figs.append(_Figure(LOAD_NOTE, "Deployments not drawn", "", None, note, tuple(not_drawn)))
    return figs


def _undrawn(plan: Any, served: pd.DataFrame, dep: str, w: str, why: str) -> str:
    """One deployment × workload the report does not draw, why, and the command that does."""
    rows = served[(served["deployment"] == dep) & (served["workload"] == w)]
    row = rows.iloc[0]
    d = plan.data["workloads"][w]["definition"]
    args = [
        f"--model {d['model']}", f"--gpu {row['gpu']}", f"--quant {row['quant']}",
        f"--tp {int(row['tp'])}", f"--input-tokens {d['prompt_tokens']:g}",
        f"--output-tokens {d['completion_tokens']:g}", f"--tpot-ms {d['tpot_ms']:g}",
        f"--ttft-ms {d['ttft_ms']:g}", f"--slo-stat {d.get('slo_stat') or 'mean'}",
        f"--capacity-model {plan.data.get('capacity_model', 'simulated')}",
    ]  # fmt: skip
    for key, flag in (
        ("prompt_tokens_cv", "--prompt-cv"),
        ("completion_tokens_cv", "--completion-cv"),
        ("arrival_cv", "--arrival-cv"),
    ):
        if d.get(key) is not None:
            args.append(f"{flag} {d[key]:g}")
    shape = (
        " (its length histogram and prefix-cache share are not options of roofline)"
        if d.get("length_buckets") or d.get("prefix_cache_hit")
        else ""
    )
    return (
        f"{w} on {dep} ({rows['requests'].sum():,.0f} requests; {why}): "
        f"`advisor roofline {' '.join(args)} --plot FILE.png`{shape}"
    )


def _build_figures(
    plan: Any, catalog: Catalog | None = None, progress: Callable[[str], None] | None = None
) -> list[_Figure]:
    data = plan.data
    hours = _horizon_hours(plan)
    figs = [
        _Figure(
            "capacity",
            "Capacity by tier against demand",
            "Requests per hour served by the reserved pool, on-demand and spot GPUs and the "
            "API, stacked; the black line is the demand.",
            fig_capacity(plan, hours),
        ),
        _Figure(
            "cost_by_tier",
            "Cost by tier",
            "Total cost over the horizon by tier (USD).",
            _fig_cost_by_tier(data),
        ),
        _Figure(
            "usd_per_m",
            "Cost per million output tokens by workload",
            "What each workload costs per million output tokens in this plan (its share of "
            "the fleet, the API and the overhead) against what the API would charge for the same "
            "tokens, prompts included, per million output tokens.",
            _fig_usd_per_m(data),
        ),
    ]
    util = pool_utilization_by_hour_of_week(plan)
    if util is None:
        figs.append(
            _Figure(
                "pool_utilization",
                "Reserved-pool utilization by hour of week",
                "",
                None,
                "No reserved pool: this plan commits to no reserved, owned or existing GPUs, "
                "so there is no utilization to show.",
            )
        )
    else:
        figs.append(
            _Figure(
                "pool_utilization",
                "Reserved-pool utilization by hour of week",
                "The pool's load in GPUs (each pool replica's TP GPUs × the share of its "
                "capacity the demand uses) divided by the pool's reserved, owned and existing "
                "GPUs, averaged over the weeks of the horizon, by hour of week (UTC); the "
                "dashed line is the whole horizon's utilization. A replica kept running below "
                "its capacity counts for what it serves, not for the GPUs it holds.",
                _fig_pool_utilization(plan, util),
            )
        )
    if data.get("baselines"):
        figs.append(
            _Figure(
                "savings",
                "Savings against the simple policies",
                "Total cost of this plan and of each simple policy over the same demand, with "
                "the plan's saving against each.",
                _fig_savings(data),
            )
        )
    if data.get("scenarios"):
        from advisor.scenario_report import scenario_figure_png

        figs.append(
            _Figure(
                "scenarios",
                "Cost distribution over demand scenarios",
                "Probability that the horizon's cost is at most x, for the two-stage fleet and "
                "the single-forecast fleet (chosen on the weighted mean demand), each priced "
                "on every scenario; dotted lines are the expected costs.",
                scenario_figure_png(data["scenarios"]),
            )
        )
    return figs + _load_figures(plan, catalog, progress)


def _scenario_blocks(summary: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The two-stage plan's scenario section: measures and the per-scenario table."""
    from advisor.scenario_report import scenario_rows

    gap = summary.get("gap")
    fleet = ", ".join(f"{r['count']} {r['gpu']} {r['tier']}" for r in summary["fleet"])
    single = ", ".join(
        f"{r['count']} {r['gpu']} {r['tier']}" for r in summary["single_forecast_fleet"]
    )
    rows = [
        [
            str(r["scenario"]),
            f"{r['weight']:.3f}",
            f"{r['two_stage_usd']:,.2f}",
            f"{r['single_forecast_usd']:,.2f}",
            f"{r['own_optimum_usd']:,.2f}",
            f"{r['regret_usd']:,.2f}",
        ]
        for r in scenario_rows(summary)
    ]
    return [
        ("h2", "Scenarios (two-stage plan)"),
        (
            "p",
            f"{len(summary['names'])} scenarios, objective {summary['risk']}; the schedule "
            f"above is scenario {summary['plan_scenario']}. Reserve {fleet or 'none'} "
            f"(single forecast: {single or 'none'}). Expected cost "
            f"${summary['expected_cost_usd']:,.2f} (single forecast "
            f"${summary['single_forecast_expected_cost_usd']:,.2f}), worst "
            f"${summary['worst_cost_usd']:,.2f}, CVaR@{summary['cvar_alpha']:g} "
            f"${summary['cvar_usd']:,.2f}; VSS ${summary['vss_usd']:,.2f}, EVPI "
            f"${summary['evpi_usd']:,.2f}; gap " + ("n/a" if gap is None else f"{gap:.2%}") + ".",
        ),
        (
            "table",
            [
                "Scenario",
                "Weight",
                "Two-stage (USD)",
                "Single forecast (USD)",
                "Own optimum (USD)",
                "Regret (USD)",
            ],
            rows,
        ),
    ]


def _report_blocks(data: Mapping[str, Any], figs: list[_Figure]) -> list[tuple[Any, ...]]:
    """The report as blocks (heading, paragraph, list, table, figure) rendered to MD and HTML."""
    byk = {f.key: f for f in figs}

    def fig(key: str) -> list[tuple[Any, ...]]:
        f = byk.get(key)
        return [] if f is None else [("fig", f)]

    blocks = _summary_blocks(data)
    blocks += [("h2", "Capacity by tier against demand"), *fig("capacity")]
    blocks += [("h2", "Cost by tier"), *fig("cost_by_tier"), _tier_table(data)]
    blocks += _fleet_blocks(data)
    blocks += [("h2", "Workloads"), *fig("usd_per_m"), *_workload_blocks(data)]
    loads = [f for f in figs if f.key.startswith(LOAD_FIGURE)]
    note = byk.get(LOAD_NOTE)
    if loads or note is not None:
        blocks.append(("h2", "Deployments under load"))
        blocks += [("fig", f) for f in loads]
        if note is not None:
            blocks += [("p", note.note), ("ul", list(note.items))]
    blocks.append(("h2", "Reserved-pool utilization by hour of week"))
    f = byk.get("pool_utilization")
    if f is not None and f.png is None:
        blocks.append(("p", f.note or "No reserved pool."))
    else:
        blocks += fig("pool_utilization")
    if data.get("baselines"):
        blocks += [("h2", "Savings against the simple policies"), *fig("savings")]
        blocks.append(_baseline_table(data))
    if data.get("scenarios"):
        blocks += _scenario_blocks(data["scenarios"])
        blocks += fig("scenarios")
    return blocks + _solver_blocks(data)


def _summary_blocks(data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Title, the one-paragraph summary, savings, the buy list and the warnings."""
    gap = data.get("gap")
    dem = data.get("demand") or {}
    s = data.get("solver") or {}
    per_m = data.get("usd_per_m_output_tokens")
    summary = (
        f"Demand {dem.get('source', '?')}: {data['horizon_hours']:,.0f} hours "
        f"({_when(dem.get('start'))} to {_when(dem.get('end'))}), {len(data['workloads'])} "
        f"workload(s). Total cost ${data['total_cost_usd']:,.2f}"
        + ("" if per_m is None else f" (${per_m:.3f} per million output tokens)")
        + f". Solver {s.get('name', '?')}: {s.get('status', '?')}, gap "
        + ("n/a" if gap is None else f"{gap:.3%}")
        + f". Verified: {data.get('verified')}."
    )
    blocks: list[tuple[Any, ...]] = [("h1", "Fleet plan report"), ("p", summary)]
    best = data.get("best_baseline")
    if best and data.get("savings_vs_best_baseline_usd") is not None:
        blocks.append(("p", savings_text(data)))
    if data.get("buy"):
        head, body = buy_table(data["buy"])
        blocks += [
            ("h2", "Buy list"),
            ("table", head, body),
            ("p", "Also in buy.csv; commitments run for their whole term from their start."),
        ]
    if data.get("warnings"):
        blocks += [("h2", "Warnings"), ("ul", list(data["warnings"]))]
    return blocks


def _tier_table(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """Cost and share per tier."""
    total = data["total_cost_usd"]
    rows = [
        [
            t,
            f"{data['cost_by_tier_usd'][t]:,.2f}",
            f"{data['cost_by_tier_usd'][t] / total:.1%}" if total else "n/a",
        ]
        for t in _tiers(data)
    ]
    return ("table", ["Tier", "Cost (USD)", "Share"], rows)


def _fleet_blocks(data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The GPUs per offer and tier (existing commitments first), and the pool's use."""
    blocks: list[tuple[Any, ...]] = [("h2", "Fleet")]
    rows = [
        [r["gpu"], f"existing {r['tier']}", str(r["count"]), "", f"{r['gpu_hours']:,.0f}"]
        for r in data.get("existing", [])
    ]
    rows += [
        [
            offer_label(r),
            r["tier"],
            str(r["peak_gpus"]),
            f"{r['mean_gpus']:.2f}",
            f"{r['gpu_hours']:,.0f}",
        ]
        for r in data.get("fleet", [])
        if r["gpu_hours"] or r["peak_gpus"]
    ]
    if rows:
        head = ["GPU (provider instance region)", "Tier", "Peak GPUs", "Mean GPUs", "GPU-hours"]
        blocks.append(("table", head, rows))
    else:
        blocks.append(("p", "No GPUs: every request goes to the API."))
    util = data.get("reserved_utilization")
    if util is not None:
        blocks.append(("p", f"Reserved-pool utilization over the horizon: {util:.1%}."))
    return blocks


def _workload_blocks(data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Per workload: where it is served, its cost and its cost per million output tokens."""
    wrows = []
    for name, d in data["workloads"].items():
        v, api = d.get("usd_per_m_output_tokens"), _api_all_in(d)
        marg = d.get("marginal_usd_per_m_output_tokens")
        wrows.append(
            [
                name,
                serving_text(d.get("serving", [])),
                f"{d['requests']:,.0f}",
                f"{d['cost_usd']:,.2f}",
                "n/a" if v is None else f"{v:.3f}",
                "n/a" if marg is None else f"{marg:.3f}",
                "-" if api is None else f"{api:.3f}",
                f"{d['api_share_of_requests']:.1%}",
            ]
        )
    head = [
        "Workload",
        "Served on",
        "Requests",
        "Cost (USD)",
        "USD/M output (allocated)",
        "USD/M output (marginal)",
        "API all-in USD/M output",
        "To API",
    ]
    blocks: list[tuple[Any, ...]] = [("table", head, wrows), ("p", COST_PER_TOKEN_NOTE)]
    basis = capacity_basis_rows(data)
    if basis:
        head = ["Workload", "Deployment", "Requests/s per replica", "Measured error"]
        blocks += [("h2", "Capacity basis"), ("table", head, basis), ("p", CAPACITY_BASIS_NOTE)]
    return blocks


def _baseline_table(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """Each simple policy's cost and what the plan saves against it."""
    brows = []
    for name, b in data["baselines"].items():
        c = b.get("total_cost_usd")
        save = _against(c, data["total_cost_usd"])
        brows.append([name, "n/a" if c is None else f"{c:,.2f}", save, str(b.get("note", ""))])
    return ("table", ["Policy", "Cost (USD)", "The plan", "What it does"], brows)


def _solver_blocks(data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """How the whole solve ended: status, time, bound, gap, aggregation."""
    gap, s = data.get("gap"), data.get("solver") or {}
    agg = data.get("aggregation") or {}
    return [
        ("h2", "Solver"),
        (
            "p",
            f"{s.get('name', '?')}: {s.get('status', '?')} in {s.get('seconds', 0):.2f} s; "
            f"lower bound ${data.get('lower_bound_usd') or 0:,.2f}; gap "
            + ("n/a" if gap is None else f"{gap:.3%}")
            + f"; aggregation {agg.get('mode', '?')} ({agg.get('points', '?')} points for "
            f"{agg.get('hours', '?')} hours).",
        ),
    ]


def _when(iso: str | None) -> str:
    if not iso:
        return "?"
    return pd.Timestamp(iso).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


_NUMERIC = re.compile(r"^[-+]?\$?[-+]?[\d,]*\.?\d+%?$")


def _numeric_columns(head: list[str], rows: list[list[str]]) -> list[bool]:
    """Columns whose cells are all numbers (or n/a, -, empty) are right-aligned."""
    out = []
    for j in range(len(head)):
        cells = [str(r[j]) for r in rows]
        nums = [c for c in cells if c not in ("", "-", "n/a")]
        out.append(bool(nums) and all(_NUMERIC.match(c) for c in nums))
    return out


def _md(blocks: list[tuple[Any, ...]]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out += [f"# {b[1]}", ""]
        elif kind == "h2":
            out += [f"## {b[1]}", ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {x}" for x in b[1]] + [""]
        elif kind == "table":
            head, rows = b[1], b[2]
            esc = [[str(c).replace("|", "\\|") for c in r] for r in [head, *rows]]
            out.append("| " + " | ".join(esc[0]) + " |")
            right = _numeric_columns(head, rows)
            out.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
            out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
            out.append("")
        elif kind == "fig":
            f: _Figure = b[1]
            out += [f"![{f.title}]({_figure_file(f.key)})", "", f"*{f.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       background: #f6f6f3; color: #222; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.8em; margin-top: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.95em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #eef2ee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: 0.9em; margin-top: 4px; }
""".strip()


def _html(blocks: list[tuple[Any, ...]], title: str) -> str:
    from html import escape

    body: list[str] = []
    NUM = ' class="num"'
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{escape(b[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{escape(b[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in b[1]) + "</ul>")
        elif kind == "table":
            head, rows = b[1], b[2]
            right = _numeric_columns(head, rows)
            h = "".join(f"<th>{escape(str(c))}</th>" for c in head)
            r = "".join(
                "<tr>"
                + "".join(
                    f"<td{NUM if right[i] else ''}>{escape(str(c))}</td>" for i, c in enumerate(row)
                )
                + "</tr>"
                for row in rows
            )
            body.append(f"<table><thead><tr>{h}</tr></thead><tbody>{r}</tbody></table>")
        elif kind == "fig":
            f: _Figure = b[1]
            assert f.png is not None
            uri = "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")
            body.append(
                f'<figure><img src="{uri}" alt="{escape(f.title)}">'
                f"<figcaption>{escape(f.caption)}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def _check_not_another_plans(plan: Any, out_dir: Path) -> None:
    """A report goes beside its own plan or in a folder of no plan: in another plan's folder
    it would replace that plan's report with one of a plan the folder does not hold."""
    other = out_dir / "plan.json"
    if plan.path is None or not other.is_file():
        return
    own = plan.path / "plan.json"
    if other.resolve() == own.resolve() or other.read_bytes() == own.read_bytes():
        return
    raise OutputError(
        f"--out '{out_dir}' holds another plan ({other}): a report there would sit beside a "
        "plan it does not describe. Leave --out out to write it beside its own plan, or give "
        "a folder that holds no plan."
    )


def write_report(
    plan: Any,
    out_dir: Path | str,
    catalog: Catalog | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` (figures embedded) and the figure PNGs; with the
    ``catalog`` the plan was solved on, a load figure per deployment it uses most.

    Returns the written paths: ``markdown``, ``html`` and one per figure key. The files go in
    as one step (``advisor.files.PlanFolder``): report files advisor wrote earlier that this
    report does not have (a figure with no data) are removed, the user's files are kept.
    """
    import matplotlib

    matplotlib.use("Agg")

    from advisor.files import PlanFolder, sha256, to_json

    plan = for_reading(plan)
    _check_not_another_plans(plan, Path(out_dir))
    folder = PlanFolder(out_dir)  # checks the path before any drawing
    with reading_edited(plan):
        figs = _build_figures(plan, catalog, progress)
        blocks = _report_blocks(plan.data, figs)
    files: dict[str, str | bytes] = {_figure_file(f.key): f.png for f in figs if f.png is not None}
    files["report.md"] = _md(blocks)
    files["report.html"] = _html(blocks, "Fleet plan report")
    with folder:
        folder.commit(
            files,
            plan_id=sha256(to_json(plan.data)),
            replaces_all=False,
            drop=(
                *FIGURE_FILES.values(),
                *OPTIONAL_FIGURE_FILES.values(),
                *(_figure_file(f"{LOAD_FIGURE}{i}") for i in range(1, MAX_LOAD_FIGURES + 1)),
                "report.md",
                "report.html",
            ),
        )
        out = folder.out
    written = {f.key: out / _figure_file(f.key) for f in figs if f.png is not None}
    return {"markdown": out / "report.md", "html": out / "report.html", **written}
