"""Presenting plans: the terminal summary (rich).

Reads plan data (``plan.json`` content) only, so it works on plans saved by earlier runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def print_plan_summary(data: Mapping[str, Any], console: Console) -> None:
    """Print the short summary of a plan: fleet, cost by tier, workloads, baselines, solver."""
    gap = data.get("gap")
    console.print(
        f"[bold]Total cost (USD): {data['total_cost_usd']:,.2f}[/] over "
        f"{data['horizon_hours']:.0f} h — {data['usd_per_m_output_tokens']:.3f} USD/M output "
        f"tokens; verified: {data.get('verified')}; gap "
        f"{'n/a' if gap is None else f'{gap:.3%}'}",
        highlight=False,
    )
    t = Table(title="Fleet")
    for c in ("GPU", "tier", "peak GPUs", "mean GPUs", "GPU-hours"):
        t.add_column(c, justify="left" if c in ("GPU", "tier") else "right")
    for r in data.get("existing", []):
        t.add_row(r["gpu"], f"existing {r['tier']}", str(r["count"]), "", f"{r['gpu_hours']:,.0f}")
    for r in data["fleet"]:
        t.add_row(
            r["gpu"],
            r["tier"],
            str(r["peak_gpus"]),
            f"{r['mean_gpus']:.1f}",
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
            name,
            _usd(d["cost_usd"]),
            "n/a"
            if d["usd_per_m_output_tokens"] is None
            else f"{d['usd_per_m_output_tokens']:.3f}",
            "-" if api is None else f"{api:.3f}",
            f"{d['api_share_of_requests']:.0%}",
        )
    console.print(w)
    b = Table(title="Against the simple policies")
    b.add_column("policy")
    b.add_column("Cost (USD)", justify="right")
    b.add_column("plan saves", justify="right")
    for name, base in data["baselines"].items():
        cb = base["total_cost_usd"]
        save = "n/a" if cb is None or cb <= 0 else f"{(cb - data['total_cost_usd']) / cb:.1%}"
        b.add_row(name, _usd(cb), save)
    console.print(b)
    s = data["solver"]
    console.print(
        f"solver {s['name']}: {s['status']} in {s['seconds']:.2f} s; aggregation "
        f"{data['aggregation']['mode']} ({data['aggregation']['points']} points for "
        f"{data['aggregation']['hours']} hours)",
        highlight=False,
    )
