"""``advisor forecast``: demand scenarios from hourly history (see ``advisor.forecast``).

Registered on the main ``app`` when ``advisor.cli`` imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from advisor.cli import (
    CatalogOpt,
    JsonOpt,
    WorkloadsOpt,
    _emit_json,
    app,
    err,
    handle_errors,
    out,
)
from advisor.errors import AdvisorError


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
    from advisor.demand import load_demand, write_demand_csv, write_scenarios_csv
    from advisor.forecast import forecast_demand, parse_growth
    from advisor.workloads import load_workloads

    if horizon < 1:
        raise AdvisorError(f"--horizon must be a positive number of hours; got {horizon}.")
    if scenarios < 0:
        raise AdvisorError(f"--scenarios must be >= 0; got {scenarios}.")
    if out_path.exists() and out_path.is_dir():
        raise AdvisorError(f"--out '{out_path}' is a folder; give a CSV file path.")
    low_high = parse_growth(growth)
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
    if scenarios:
        names = [f"s{k + 1:0{len(str(scenarios))}d}" for k in range(scenarios)]
        write_scenarios_csv(fc.paths, names, [1.0 / scenarios] * scenarios, out_path)
    else:
        write_demand_csv(fc.point, out_path)
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
        _emit_json(
            {
                "out": str(out_path),
                "horizon_hours": horizon,
                "scenarios": scenarios,
                "growth": list(low_high),
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
    what = f"{scenarios} scenarios" if scenarios else "the point forecast"
    out.print(
        f"Wrote {what} for {horizon} h (seasons {', '.join(map(str, fc.seasons))} h) to "
        f"{out_path}.",
        highlight=False,
    )
