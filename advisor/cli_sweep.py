"""``advisor sweep``: solve one demand over a range of one parameter (see ``advisor.sweep``).

Registered on the main ``app`` when ``advisor.cli`` imports this module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from advisor.cli_base import (
    TIME_LIMIT_RANGE,
    AggregateOpt,
    CapacityOpt,
    CatalogOpt,
    FleetOpt,
    GapOpt,
    JsonOpt,
    PricesOpt,
    ProvidersOpt,
    SolverOpt,
    WorkloadsOpt,
    app,
    check_solver_limits,
    check_workers,
    emit_json,
    err,
    handle_errors,
    interrupted,
    out,
    parse_aggregate,
    parse_providers,
    progress_printer,
    safe,
)
from advisor.defaults import DEFAULT_SOLVER
from advisor.errors import AdvisorError
from advisor.parallel import usable_cores
from advisor.processes import Interrupted, solver_run

if TYPE_CHECKING:
    import pandas as pd

    from advisor.pipeline import Inputs

#: How the status of a case without a plan begins (see ``advisor.sweep.sweep``).
FAILED = ("infeasible:", "failed:", "unverified:")


def parse_vary(text: str) -> tuple[str, list[float]]:
    """Parse ``PARAM=v1,v2,...`` into the parameter and its values."""
    from advisor.sweep import PARAMS, check_sweep

    usage = (
        f"--vary takes PARAM=v1,v2,... (e.g. price.spot=0.5,1,2); got '{text}'. "
        f"PARAM is one of {', '.join(PARAMS)}."
    )
    param, sep, rest = text.partition("=")
    param = param.strip()
    if not sep or not param or not rest.strip():
        raise AdvisorError(usage)
    values: list[float] = []
    for item in rest.split(","):
        item = item.strip()
        try:
            values.append(float(item))
        except ValueError:
            raise AdvisorError(f"{usage} '{item}' is not a number.") from None
    return param, check_sweep(param, values)


@app.command()
@handle_errors
def sweep(
    demand: Annotated[Path, typer.Argument(help="Hourly demand CSV.")],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="PARAM=v1,v2,...: multipliers for price.on_demand, price.reserved, "
            "price.spot, price.owned, price.api, demand or slo (<1 tightens).",
        ),
    ],
    workloads: WorkloadsOpt = None,
    catalog: CatalogOpt = None,
    capacity_file: CapacityOpt = None,
    fleet: FleetOpt = None,
    prices: PricesOpt = None,
    providers: ProvidersOpt = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for sweep.csv, sweep.png and one plan per value.")
    ] = Path("out/sweep"),
    solver: SolverOpt = DEFAULT_SOLVER,
    time_limit: Annotated[
        float | None, typer.Option(help=f"Solver time limit per case [s], {TIME_LIMIT_RANGE}.")
    ] = None,
    gap: GapOpt = 1e-4,
    jobs: Annotated[
        int | None, typer.Option(help="Cases solved in parallel (default: CPU count).")
    ] = None,
    aggregate: AggregateOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Solve the demand once per value of one parameter, in parallel; tabulate and plot."""
    from advisor.pipeline import load_inputs
    from advisor.solve import SolverSettings
    from advisor.sweep import sweep as run_sweep

    if len(vary) != 1:
        raise AdvisorError(
            f"--vary is given {len(vary)} times; a sweep varies one parameter. Run one sweep "
            "per parameter."
        )
    param, values = parse_vary(vary[0])
    check_solver_limits(time_limit, gap)
    check_workers(jobs, "--jobs")
    agg = parse_aggregate(aggregate)
    if out_dir.exists() and not out_dir.is_dir():
        raise AdvisorError(f"--out '{out_dir}' is a file; give a folder path.")
    inputs = load_inputs(
        demand,
        workloads_files=workloads or [],
        catalog_dirs=catalog or [],
        capacity_file=capacity_file,
        fleet_file=fleet,
        prices=prices,
        providers=parse_providers(providers),
    )
    for w in inputs.catalog.warnings:
        err.print(f"[yellow]warning:[/] {safe(w)}", highlight=False)
    check_cases(inputs, param, values)
    try:
        with solver_run():  # a signal ends the workers and their solvers too
            table = run_sweep(
                inputs,
                param,
                values,
                SolverSettings(solver, time_limit, gap, 1),
                out_dir=out_dir,
                jobs=jobs or usable_cores(),
                aggregate=agg,
                progress=progress_printer(quiet=json_out),
            )
    except Interrupted as exc:
        interrupted(exc, None)
    report_sweep(table, param, values, out_dir, json_out)


def check_cases(inputs: Inputs, param: str, values: list[float]) -> None:
    """Apply each value to the inputs before any case is solved or anything is written: a
    value the inputs cannot take (demand scaled past the most a demand holds, 1e15 requests
    or tokens per hour) is an error naming it, not a sweep of failed cases."""
    from advisor.sweep import apply_param, case_label

    for v in values:
        try:
            apply_param(inputs, param, v)
        except AdvisorError as exc:
            raise AdvisorError(f"--vary {case_label(param, v)}: {exc}") from None


def report_sweep(
    table: pd.DataFrame, param: str, values: list[float], out_dir: Path, json_out: bool
) -> None:
    """Print a finished sweep (a JSON object with ``json_out``); exit 1 when a case's plan
    failed independent verification, or when no case solved."""
    from advisor.sweep import CSV_NAME, PNG_NAME, other_case_dirs

    unverified = table["status"].astype(str).str.startswith("unverified")
    solved = int((~table["status"].astype(str).str.startswith(FAILED)).sum())
    others = other_case_dirs(out_dir, table)
    if json_out:
        emit_json(
            {
                "param": param,
                "values": values,
                "out_dir": str(out_dir),
                "csv": str(out_dir / CSV_NAME),
                "figure": str(out_dir / PNG_NAME),
                "cases": table.astype(object).where(table.notna(), None).to_dict("records"),
                "other_plan_dirs": others,
            }
        )
    else:
        print_sweep_table(table, param)
        if solved:
            out.print(
                f"Wrote {out_dir / CSV_NAME}, {out_dir / PNG_NAME} and one plan folder per "
                f"solved value under {out_dir}/ ({solved} of {len(table)} values solved).",
                highlight=False,
            )
        if others:
            err.print(
                f"[yellow]note:[/] {safe(str(out_dir))} also holds plan folders this sweep "
                f"did not write (an earlier sweep's?), left as they are: "
                f"{safe(', '.join(others))}.",
                highlight=False,
            )
    if unverified.any():
        err.print(
            "[bold red]error:[/] some plans failed independent verification and were not "
            "written; see their status.",
            highlight=False,
        )
        raise typer.Exit(1)
    if not solved:
        err.print(
            f"[bold red]error:[/] no value of the sweep solved: all {len(table)} failed, each "
            f"for the reason its status gives ({safe(str(out_dir / CSV_NAME))} lists them); "
            "no plan was written.",
            highlight=False,
        )
        raise typer.Exit(1)


def print_sweep_table(table: pd.DataFrame, param: str) -> None:
    import pandas as pd

    from advisor.sweep import COST_TIERS

    # a tier no case solved has only None (object dtype): compare as numbers, NaN for None
    tiers = [
        t for t in COST_TIERS if (pd.to_numeric(table[f"cost_{t}_usd"], errors="coerce") > 0).any()
    ]
    t = Table(
        title=f"Sweep of {param}: cost [USD] by tier; GPUs reserved / peak on-demand / spot",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in (param, "total", *[_SHORT.get(k, k) for k in tiers], "GPUs", "API %"):
        t.add_column(col, justify="right", no_wrap=True)
    notes = []
    for r in table.to_dict("records"):
        label = f"{r['value']:g}"
        status = str(r["status"])
        if status not in ("optimal",):
            notes.append(f"{param}={label}: {status}")
        if r["total_cost_usd"] is None or _isnan(r["total_cost_usd"]):
            t.add_row(label, status.split(":")[0], *["-"] * (len(tiers) + 2))
            continue
        gpus = "/".join(
            str(int(r[c])) for c in ("reserved_gpus", "peak_on_demand_gpus", "peak_spot_gpus")
        )
        t.add_row(
            label,
            _usd(r["total_cost_usd"]),
            *[_usd(r[f"cost_{k}_usd"]) for k in tiers],
            gpus,
            f"{r['api_share']:.0%}",
        )
    out.print(t)
    for n in notes:
        out.print(safe(n), highlight=False)


_SHORT = {"on_demand": "on-dem", "overhead": "overhd", "existing": "exist"}


def _usd(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"


def _isnan(v: object) -> bool:
    return isinstance(v, float) and math.isnan(v)
