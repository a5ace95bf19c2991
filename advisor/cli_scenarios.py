"""``advisor forecast`` and ``advisor stress``, and ``advisor solve`` on scenario files.

Forecasts: ``advisor.forecast``; two-stage plans and stress tests: ``advisor.stochastic``.

Registered on the main ``app`` when ``advisor.cli`` imports this module.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from advisor.cli_base import (
    TIME_LIMIT_RANGE,
    CatalogOpt,
    GapOpt,
    JsonOpt,
    SolverOpt,
    WorkloadsOpt,
    app,
    check_solver_limits,
    check_verified,
    check_workers,
    emit_json,
    err,
    handle_errors,
    out,
)
from advisor.defaults import DEFAULT_SOLVER
from advisor.errors import AdvisorError, DemandError
from advisor.files import check_out_file, write_atomically

if TYPE_CHECKING:
    from advisor.forecast import Forecast
    from advisor.pipeline import Inputs
    from advisor.plan import Plan
    from advisor.scenarios import ScenarioSet


#: The longest forecast (ten years of hours) and the most sampled paths ``forecast`` writes.
MAX_FORECAST_HOURS = 87_600
MAX_FORECAST_SCENARIOS = 1_000


def check_seed(seed: int) -> None:
    """A random seed is a whole number >= 0 (numpy's generators take no other)."""
    if seed < 0:
        raise AdvisorError(f"--seed must be a whole number >= 0; got {seed}.")


@app.command()
@handle_errors
def forecast(
    history: Annotated[Path, typer.Argument(help="Hourly demand history (a demand CSV).")],
    horizon: Annotated[int, typer.Option(help="Hours to forecast after the history.")] = 168,
    growth: Annotated[
        str,
        typer.Option(
            help="Demand multiplier reached at the horizon's end (1.4), or a range drawn per "
            "scenario (1.1:1.8)."
        ),
    ] = "1",
    scenarios: Annotated[
        int, typer.Option(help="Scenario paths to draw (0: the point forecast only).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the scenario paths.")] = 0,
    out_path: Annotated[Path, typer.Option("--out", help="Demand CSV to write.")] = Path(
        "demand_forecast.csv"
    ),
    workloads: WorkloadsOpt = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit daily and weekly seasonality and trend to history; write a forecast demand CSV."""
    from advisor.catalog import load_catalog
    from advisor.demand import load_demand
    from advisor.forecast import forecast_demand, parse_growth
    from advisor.workloads import load_workloads

    if not 1 <= horizon <= MAX_FORECAST_HOURS:
        raise AdvisorError(
            f"--horizon must be 1 to {MAX_FORECAST_HOURS:,} hours (ten years); got {horizon}."
        )
    if not 0 <= scenarios <= MAX_FORECAST_SCENARIOS:
        raise AdvisorError(f"--scenarios must be 0 to {MAX_FORECAST_SCENARIOS}; got {scenarios}.")
    check_seed(seed)
    check_out_file(out_path, "--out", {"history file": history})
    low_high = parse_growth(growth)
    if scenarios == 0 and low_high[0] != low_high[1]:
        mid = sum(low_high) / 2
        raise AdvisorError(
            f"--growth {growth} is a range drawn once per scenario path, and --scenarios is 0 "
            f"(the point forecast, one growth): give --scenarios N, or one multiplier such as "
            f"--growth {mid:g}."
        )
    cdirs = list(catalog or [])
    cat = load_catalog(cdirs)
    defs = load_workloads(cat, list(workloads or []), catalog_dirs=cdirs)
    past = load_demand(history, defs)
    if not json_out:
        err.print(
            f"[dim]fitting {len(past.workloads)} workload(s) on {past.n_hours} hours[/]",
            highlight=False,
        )
    fc = forecast_demand(past, defs, horizon, growth=low_high, scenarios=scenarios, seed=seed)
    _write_forecast(fc, scenarios, out_path)
    _report_forecast(fc, out_path, horizon, scenarios, low_high, json_out)


def _write_forecast(fc: Forecast, scenarios: int, out_path: Path) -> None:
    """The forecast's demand CSV: its ``scenarios`` sampled paths, equally weighted, or
    its point forecast when there are none."""
    from advisor.demand import write_demand_csv, write_scenarios_csv

    if scenarios:
        names = [f"s{k + 1:0{len(str(scenarios))}d}" for k in range(scenarios)]
        write_scenarios_csv(fc.paths, names, [1.0 / scenarios] * scenarios, out_path)
    else:
        write_demand_csv(fc.point, out_path)


def _report_forecast(
    fc: Forecast,
    out_path: Path,
    horizon: int,
    scenarios: int,
    growth: tuple[float, float],
    json_out: bool,
) -> None:
    """Print a written forecast's backtests and where it went (a JSON object with
    ``json_out``)."""
    backtest = [
        {
            "workload": b.workload,
            "holdout_hours": b.holdout_hours,
            "mape": b.mape,
            "seasonal_naive_mape": b.naive_mape,
        }
        for b in fc.backtest
    ]
    if json_out:
        emit_json(
            {
                "out": str(out_path),
                "horizon_hours": horizon,
                "scenarios": scenarios,
                "growth": list(growth),
                "seasons_hours": list(fc.seasons),
                "backtest": backtest,
            }
        )
        return
    for b in backtest:
        out.print(
            f"backtest {escape(b['workload'])}: last {b['holdout_hours']} h held out, MAPE "
            f"{b['mape']:.1%} (seasonal naive {b['seasonal_naive_mape']:.1%})",
            highlight=False,
        )
    if not backtest:
        out.print("no backtest: the history is under 72 hours", highlight=False)
    what = f"{scenarios} scenarios" if scenarios else "the point forecast"
    out.print(
        f"Wrote {what} for {horizon} h (seasons {', '.join(map(str, fc.seasons))} h) to "
        f"{out_path}.",
        highlight=False,
    )


def _print_scenarios(summary: dict) -> None:
    from rich.table import Table

    from advisor.scenario_report import scenario_rows

    table = Table(title=f"Scenarios ({summary['risk']})", title_justify="left")
    for col in ("scenario", "weight", "two-stage", "single forecast", "own optimum", "regret"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in scenario_rows(summary):
        table.add_row(
            escape(r["scenario"]),
            f"{r['weight']:.3f}",
            f"${r['two_stage_usd']:,.2f}",
            f"${r['single_forecast_usd']:,.2f}",
            f"${r['own_optimum_usd']:,.2f}",
            f"${r['regret_usd']:,.2f}",
        )
    out.print(table)
    gap = summary.get("gap")
    out.print(
        f"expected ${summary['expected_cost_usd']:,.2f} (single forecast "
        f"${summary['single_forecast_expected_cost_usd']:,.2f}), worst "
        f"${summary['worst_cost_usd']:,.2f} (single forecast "
        f"${summary['single_forecast_worst_cost_usd']:,.2f}), CVaR@{summary['cvar_alpha']:g} "
        f"${summary['cvar_usd']:,.2f}; VSS ${summary['vss_usd']:,.2f}, EVPI "
        f"${summary['evpi_usd']:,.2f}; gap "
        + ("n/a" if gap is None else f"{gap:.2%}")
        + _seconds_text(summary.get("seconds")),
        highlight=False,
    )


def _seconds_text(seconds: float | None) -> str:
    """The whole two-stage solve's time, where the plan records it."""
    return "" if seconds is None else f"; the two-stage solve took {seconds:.2f} s"


def solve_scenarios_cli(
    demand: Path,
    *,
    workloads: list[Path],
    catalog: list[Path],
    capacity_file: Path | None,
    fleet: Path | None,
    prices: str | None,
    providers: list[str] | None,
    max_price_age_days: float,
    policy_file: Path | None,
    policy: Any,
    capacity_model: str,
    out_dir: Path | None,
    settings: tuple,
    aggregate: str | int,
    risk: str,
    workers: int | None,
    cluster: str | None,
    progress,
    json_out: bool,
) -> None:
    """``advisor solve`` on a demand file with scenarios: the two-stage plan (``solve`` has
    checked ``--workers`` and ``--cluster``)."""
    from advisor.report import print_plan_summary
    from advisor.scenario_report import save_scenario_plan
    from advisor.solve import SolverSettings
    from advisor.stochastic import load_scenario_inputs, parse_risk, solve_scenarios

    parsed = parse_risk(risk)
    inputs, scen = load_scenario_inputs(
        demand,
        workloads_files=workloads,
        catalog_dirs=catalog,
        capacity_file=capacity_file,
        fleet_file=fleet,
        prices=prices,
        providers=providers,
        max_price_age_days=max_price_age_days,
        policy_file=policy_file,
        policy=policy,
    )
    result = solve_scenarios(
        replace(inputs, capacity_model=capacity_model),
        scen,
        SolverSettings(*settings),
        risk=parsed,
        aggregate=aggregate,
        workers=workers,
        cluster=cluster,
        progress=progress,
    )
    plan = result.plan
    check_verified(plan)
    if out_dir is not None:
        save_scenario_plan(plan, out_dir)
    if json_out:
        emit_json(plan.data)
        return
    print_plan_summary(plan.data, out)
    _print_scenarios(result.summary)
    if out_dir is not None:
        out.print(
            f"Plan written to {out_dir}/ (plan.json, schedule.csv, buy.csv, summary.md, "
            "scenarios.csv, scenarios.png).",
            highlight=False,
        )


@app.command()
@handle_errors
def stress(
    plan: Annotated[Path, typer.Argument(help="plan.json or its folder.")],
    demand: Annotated[
        Path | None, typer.Option(help="Futures: a demand CSV with scenarios (or one future).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Draw this many futures from a forecast of --history.")
    ] = None,
    history: Annotated[
        Path | None, typer.Option(help="Hourly history to forecast futures from (--samples).")
    ] = None,
    growth: Annotated[str, typer.Option(help="Growth of sampled futures (1.4 or 1.1:1.8).")] = "1",
    seed: Annotated[int, typer.Option(help="Random seed of sampled futures.")] = 0,
    solver: SolverOpt = DEFAULT_SOLVER,
    time_limit: Annotated[
        float | None, typer.Option(help=f"Limit per future [s], {TIME_LIMIT_RANGE}.")
    ] = None,
    gap: GapOpt = 1e-3,
    aggregate: Annotated[str, typer.Option(help="auto, exact, or N.")] = "auto",
    workers: Annotated[int | None, typer.Option(help="Parallel solves (default: CPUs).")] = None,
    cluster: Annotated[
        str | None, typer.Option(help="'dask' (local cluster) or dask://host:port.")
    ] = None,
    out_csv: Annotated[Path | None, typer.Option("--out", help="Per-future CSV to write.")] = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-solve only the hourly recourse of a saved plan's reserved fleet on many futures."""
    from advisor.cli_base import parse_aggregate
    from advisor.demand import UNKNOWN_WORKLOAD_FIX
    from advisor.parallel import check_cluster
    from advisor.plan import Plan
    from advisor.scenarios import load_scenarios
    from advisor.solve import SolverSettings
    from advisor.stochastic import plan_inputs, stress_plan

    if (demand is None) == (samples is None):
        raise AdvisorError("Give either --demand FILE or --samples N (with --history FILE).")
    if demand is not None:
        _check_no_sampling_flags(growth, seed, history)
    check_seed(seed)
    if out_csv is not None:
        plan_json = plan / "plan.json" if plan.is_dir() else plan
        read = {"--demand file": demand, "--history file": history, "plan's plan.json": plan_json}
        check_out_file(
            out_csv, "--out", read | {"plan's schedule": plan_json.parent / "schedule.csv"}
        )
    if samples is not None and (samples < 1 or history is None):
        raise AdvisorError("--samples N needs N >= 1 and --history FILE to forecast from.")
    check_cluster(cluster)
    check_workers(workers)
    check_solver_limits(time_limit, gap)
    agg = parse_aggregate(aggregate)
    saved = Plan.load(plan)
    inputs = plan_inputs(saved, catalog_dirs=catalog)
    try:
        if demand is not None:
            futures = load_scenarios(demand, inputs.workloads)
        else:
            assert history is not None and samples is not None  # checked above
            futures = _sample_futures(saved, inputs, history, samples, growth, seed)
    except DemandError as exc:  # stress has no --workloads: the plan's are the ones
        what = "A future" if demand is not None else "The history"
        raise DemandError(
            str(exc).replace(
                UNKNOWN_WORKLOAD_FIX, f"{what} may name only the workloads the plan was solved for."
            )
        ) from None
    result = stress_plan(
        saved,
        inputs,
        futures,
        SolverSettings(solver, time_limit, gap, 1),
        aggregate=agg,
        workers=workers,
        cluster=cluster,
    )
    if out_csv is not None:
        _write_stress_csv(result["by_future"], out_csv)
    if json_out:
        emit_json(result)
    else:
        _print_stress(result)
    if result["unserved_futures"]:  # with --json too: scripts read the exit status
        raise typer.Exit(1)


def _check_no_sampling_flags(growth: str, seed: int, history: Path | None) -> None:
    """``--growth``, ``--seed`` and ``--history`` shape the futures ``--samples`` draws: with
    ``--demand`` the futures are the file's, and a flag that would change nothing is refused
    rather than ignored."""
    given = [
        flag
        for flag, unset in (
            (f"--growth {growth}", growth.strip() == "1"),
            (f"--seed {seed}", seed == 0),
            (f"--history {history}", history is None),
        )
        if not unset
    ]
    if given:
        verb = "apply" if len(given) > 1 else "applies"
        raise AdvisorError(
            f"{', '.join(given)} only {verb} to futures drawn with --samples N --history FILE; "
            "with --demand the futures are the file's as written. Leave it out, or scale the "
            "file (advisor forecast --growth writes grown futures)."
        )


def _sample_futures(
    saved: Plan, inputs: Inputs, history: Path, samples: int, growth: str, seed: int
) -> ScenarioSet:
    """``--samples`` futures over the saved plan's horizon, drawn from a forecast of
    ``history``, equally weighted."""
    from advisor.demand import load_demand
    from advisor.forecast import forecast_demand, parse_growth
    from advisor.scenarios import ScenarioSet

    past = load_demand(history, inputs.workloads)
    horizon = int(saved.data["horizon_hours"])
    fc = forecast_demand(
        past,
        inputs.workloads,
        horizon,
        growth=parse_growth(growth),
        scenarios=samples,
        seed=seed,
        backtest=False,
    )
    names = tuple(f"f{k + 1}" for k in range(samples))
    return ScenarioSet(names, [1.0] * samples, fc.paths, "forecast samples")


def _write_stress_csv(by_future: list[dict[str, Any]], out_csv: Path) -> None:
    """One row per future: its cost and outcome, the hours where availability caps and API
    rate limits bind summed over what binds."""
    import pandas as pd

    rows = [
        {
            **{k: v for k, v in f.items() if k not in ("cap_hours", "rate_limit_hours")},
            "cap_hours": sum(f["cap_hours"].values()),
            "rate_limit_hours": sum(f["rate_limit_hours"].values()),
        }
        for f in by_future
    ]
    write_atomically(out_csv, pd.DataFrame(rows).to_csv(index=False, float_format="%.12g"))


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.2f}"


def _print_stress(result: dict[str, Any]) -> None:
    """A stress test's cost distribution, where caps and rate limits bind, and (on stderr)
    each future the saved fleet cannot serve."""
    if result["plan_edited"]:
        err.print(f"[yellow]note:[/] {escape(result['plan_edited'])}", highlight=False)
    held = ", ".join(f"{f['count']} {f['pool']} {f['tier']}" for f in result["fleet"])
    existing = ", ".join(
        f"{c['count']} {c['gpu']} {c['tier']}"
        + (f" from {c['start']}" if c["start"] else "")
        + (f" to {c['end']}" if c["end"] else "")
        for c in result["existing"]
    )
    out.print(
        f"{result['served']} of {result['futures']} futures served by the saved fleet "
        f"({held or 'none'}"
        + (f"; existing commitments: {existing}" if existing else "")
        + f") in {result['seconds']:.1f} s",
        highlight=False,
    )
    out.print(
        f"cost: expected {_usd(result['expected_cost_usd'])}, "
        f"p10 {_usd(result['p10_cost_usd'])}, p50 {_usd(result['p50_cost_usd'])}, "
        f"p90 {_usd(result['p90_cost_usd'])}, worst {_usd(result['worst_cost_usd'])} "
        f"(the plan's own forecast: {_usd(result['plan_cost_usd'])})",
        highlight=False,
    )
    fh, ph = result["future_hours"], result["plan_hours"]
    if ph and fh != ph:
        err.print(
            f"[yellow]note:[/] the futures cover {fh} h and the plan {ph} h: the costs above "
            f"are of the futures' {fh} h (the plan's forecast prorated to {fh} h: "
            f"{_usd(result['plan_cost_usd'] * fh / ph)}).",
            highlight=False,
        )
    slo = result["slo_violating_hours"]
    out.print(
        "SLO-violating hours: "
        + ("none (what the pool lacks goes to on-demand, spot or the API)" if slo == 0 else "n/a")
        + f"; futures using the API: {result['futures_with_api']}",
        highlight=False,
    )
    for label, key in (("availability caps", "cap_hours"), ("API rate limits", "rate_limit_hours")):
        if result[key]:
            parts = ", ".join(f"{k}: {v} h" for k, v in sorted(result[key].items()))
            out.print(f"where it binds, {label}: {escape(parts)}", highlight=False)
    for f in result["by_future"]:
        if f["error"]:
            err.print(
                f"[yellow]future {escape(f['scenario'])} cannot be served:[/] "
                + escape(str(f["error"])),
                highlight=False,
            )
