"""What a review of a two-stage plan reads: the scenario table, its summary and its figure.

``save_scenario_plan`` writes the plan folder (``plan.json`` with the key ``scenarios``,
``schedule.csv``, ``summary.md``) plus ``scenarios.csv`` (one row per scenario) and
``scenarios.png`` (the cost distribution of the two-stage and the single-forecast fleets).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advisor.plan import plan_summary_md

SCENARIOS_CSV = "scenarios.csv"
SCENARIOS_PNG = "scenarios.png"


def scenario_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per scenario: weight, both fleets' costs, the scenario's own optimum, regret."""
    return [
        {
            "scenario": name,
            "weight": w,
            "two_stage_usd": summary["cost_by_scenario_usd"][name],
            "single_forecast_usd": summary["single_forecast_cost_by_scenario_usd"][name],
            "own_optimum_usd": summary["own_optimum_by_scenario_usd"][name],
            "regret_usd": summary["regret_by_scenario_usd"][name],
        }
        for name, w in zip(summary["names"], summary["weights"], strict=True)
    ]


def _fleet(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{r['count']} {r['gpu']} {r['tier']}" for r in rows) or "none"


def scenarios_md(summary: Mapping[str, Any]) -> str:
    """The scenario section of ``summary.md``."""
    gap = summary.get("gap")
    lines = [
        "## Scenarios (two-stage plan)",
        "",
        f"{len(summary['names'])} scenarios ({summary['method']}); objective "
        f"`{summary['risk']}`; schedule and costs above are for scenario "
        f"`{summary['plan_scenario']}`.",
        "",
        f"- Reserve (decided once for all scenarios): **{_fleet(summary['fleet'])}**; the "
        f"single-forecast plan (fleet chosen on the weighted mean demand) reserves "
        f"{_fleet(summary['single_forecast_fleet'])}.",
        f"- Expected cost ${summary['expected_cost_usd']:,.2f} (single forecast "
        f"${summary['single_forecast_expected_cost_usd']:,.2f}); worst scenario "
        f"${summary['worst_cost_usd']:,.2f} (single forecast "
        f"${summary['single_forecast_worst_cost_usd']:,.2f}); CVaR at "
        f"{summary['cvar_alpha']:g} ${summary['cvar_usd']:,.2f}.",
        f"- Value of the stochastic solution (VSS) ${summary['vss_usd']:,.2f}; expected value "
        f"of perfect information (EVPI) ${summary['evpi_usd']:,.2f}.",
        f"- Objective ${summary['objective_usd']:,.2f}, lower bound "
        + ("n/a" if summary.get("bound_usd") is None else f"${summary['bound_usd']:,.2f}")
        + (", gap n/a." if gap is None else f", gap {gap:.2%}."),
        "",
        "| scenario | weight | two-stage (USD) | single forecast (USD) | own optimum (USD) "
        "| regret (USD) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in scenario_rows(summary):
        lines.append(
            f"| {r['scenario']} | {r['weight']:.3f} | {r['two_stage_usd']:,.2f} | "
            f"{r['single_forecast_usd']:,.2f} | {r['own_optimum_usd']:,.2f} | "
            f"{r['regret_usd']:,.2f} |"
        )
    return "\n".join(lines) + "\n"


def scenario_figure_png(summary: Mapping[str, Any]) -> bytes:
    """Cost distribution over scenarios of the two-stage and the single-forecast fleets."""
    from matplotlib.figure import Figure

    rows = scenario_rows(summary)
    two = np.array([r["two_stage_usd"] for r in rows])
    one = np.array([r["single_forecast_usd"] for r in rows])
    w = np.array([r["weight"] for r in rows])
    fig = Figure(figsize=(9.0, 4.6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for costs, label, color in (
        (one, "single-forecast fleet", "#b2182b"),
        (two, "two-stage fleet", "#2166ac"),
    ):
        order = np.argsort(costs, kind="stable")
        x = np.repeat(costs[order], 2)
        y = np.concatenate([[0.0], np.repeat(np.cumsum(w[order]), 2)[:-1]])
        ax.plot(x, y, color=color, label=f"{label} (mean ${np.dot(w, costs):,.0f})")
        ax.axvline(float(np.dot(w, costs)), color=color, linestyle=":", linewidth=1)
    ax.set_xlabel("Cost over the horizon (USD)")
    ax.set_ylabel("Probability cost ≤ x")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Cost distribution over demand scenarios")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def summary_md(data: Mapping[str, Any]) -> str:
    """A plan folder's ``summary.md``: the plan's summary, and a two-stage plan's scenarios."""
    scenarios = data.get("scenarios")
    text = plan_summary_md(data)
    return text + "\n" + scenarios_md(scenarios) if scenarios is not None else text


def save_scenario_plan(plan: Any, out_dir: Path | str) -> dict[str, Path]:
    """Save the plan folder with the scenario summary, ``scenarios.csv`` and the figure."""
    out = Path(out_dir)
    summary = plan.data["scenarios"]
    table = pd.DataFrame(scenario_rows(summary))
    plan.save(
        out,
        summary_md=summary_md(plan.data),
        # in the same step as the plan, so a later plan there removes them with its own
        extra={
            SCENARIOS_CSV: table.to_csv(index=False, float_format="%.12g"),
            SCENARIOS_PNG: scenario_figure_png(summary),
        },
    )
    return {
        "plan": out / "plan.json",
        "csv": out / SCENARIOS_CSV,
        "figure": out / SCENARIOS_PNG,
    }
