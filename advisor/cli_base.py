"""What every ``advisor`` command shares: the app, its consoles, the common options, the
parsing of shared flags, error handling and output. The command modules (``cli``,
``cli_offers``, ``cli_scenarios``, ``cli_sweep``) import from here, never from each other."""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from advisor.catalog import DEFAULT_PRICES, Catalog, load_catalog
from advisor.defaults import MAX_TIME_LIMIT_S, TIME_LIMIT_RANGE
from advisor.errors import AdvisorError
from advisor.files import to_json
from advisor.processes import Interrupted

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    # plain help text: rich markup would eat the units in brackets ([s], [ms], [tokens])
    rich_markup_mode=None,
    help="Minimum-cost GPU fleets for LLM serving: roofline capacity, MILP planning, $/token.",
)
#: Table width where the output is not a terminal (a log, a pipe, CI) and COLUMNS is unset:
#: rich's 80 columns cut the plan's tables ("H100…", "(on-d…").
PIPE_COLUMNS = 160


def _width(stream: Any) -> int | None:
    tty = hasattr(stream, "isatty") and stream.isatty()
    return None if tty or "COLUMNS" in os.environ else PIPE_COLUMNS


out = Console(soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))

F = TypeVar("F", bound=Callable[..., Any])

CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="Folder of catalog YAML merged over the shipped one."),
]
SolverOpt = Annotated[str, typer.Option(help="highs or cbc.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
WorkloadsOpt = Annotated[
    list[Path] | None, typer.Option("--workloads", help="Workloads YAML (repeatable).")
]
CapacityOpt = Annotated[
    Path | None, typer.Option("--capacity", help="Measured capacity CSV (overrides roofline).")
]
FleetOpt = Annotated[Path | None, typer.Option("--fleet", help="Existing commitments YAML.")]
PricesOpt = Annotated[
    str | None,
    typer.Option(
        "--prices",
        help="Shipped price profile: snapshot (sourced list prices) or seeds (the seed "
        "documents' figures). Default: $ADVISOR_PRICES, else " + DEFAULT_PRICES + ".",
    ),
]
ProvidersOpt = Annotated[
    str | None,
    typer.Option(
        "--providers",
        help="Comma-separated providers the plan may buy from (GPU and API offers), "
        "e.g. aws,lambda. Default: all.",
    ),
]
MaxPriceAgeOpt = Annotated[
    float,
    typer.Option(help="Warn about each price the plan uses older than this [days]."),
]
GapOpt = Annotated[float, typer.Option(help="Relative MIP gap to stop at.")]
AggregateOpt = Annotated[str, typer.Option(help="auto, exact, or N representative hours.")]


def parse_providers(text: str | None) -> list[str] | None:
    """``--providers a,b`` as a list (None when not given)."""
    if text is None:
        return None
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise AdvisorError("--providers needs at least one provider name, e.g. aws,lambda.")
    return names


def check_solver_limits(time_limit: float | None, gap: float) -> None:
    """``--time-limit`` (seconds, finite, > 0 and at most :data:`MAX_TIME_LIMIT_S`, or not
    given) and ``--gap`` (in [0, 1); nan fails both comparisons, so it is refused too)."""
    if time_limit is not None and not 0 < time_limit <= MAX_TIME_LIMIT_S:
        raise AdvisorError(
            f"--time-limit must be a finite number of seconds {TIME_LIMIT_RANGE} (omit it "
            f"for the default); got {time_limit}."
        )
    if not 0 <= gap < 1:
        raise AdvisorError(f"--gap is a fraction in [0, 1); got {gap}.")


def check_workers(workers: int | None, flag: str = "--workers") -> None:
    """A number of parallel solves: not given (one per CPU) or ≥ 1."""
    if workers is not None and workers < 1:
        raise AdvisorError(f"{flag} must be ≥ 1 (omit it for one per CPU); got {workers}.")


def check_lengths(
    input_tokens: float,
    output_tokens: float,
    limits_ms: tuple[float | None, float | None] = (None, None),
) -> None:
    """``--input-tokens`` and ``--output-tokens`` (finite, > 0) and the SLOs ``limits_ms``,
    ``--tpot-ms`` and ``--ttft-ms`` (finite, > 0, or not given)."""
    for name, v in (("input-tokens", input_tokens), ("output-tokens", output_tokens)):
        if not (v > 0 and math.isfinite(v)):
            raise AdvisorError(f"--{name} must be a number > 0; got {v}.")
    for name, limit in zip(("tpot-ms", "ttft-ms"), limits_ms, strict=True):
        if limit is not None and not (limit > 0 and math.isfinite(limit)):
            raise AdvisorError(f"--{name} must be a number of milliseconds > 0; got {limit}.")


def and_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def field_bounds(model: type[BaseModel], field: str) -> tuple[float | None, float | None]:
    """The inclusive lower and upper bounds (``ge``, ``le``) a pydantic ``model`` puts on
    ``field``; None where it sets none. Flags that mirror a YAML field check with these,
    so the two never disagree."""
    from annotated_types import Ge, Le

    meta = model.model_fields[field].metadata
    low = next((float(m.ge) for m in meta if isinstance(m, Ge)), None)
    high = next((float(m.le) for m in meta if isinstance(m, Le)), None)
    return low, high


def check_bounded(flag: str, value: float, model: type[BaseModel], field: str, where: str) -> None:
    """``flag`` holds what ``model``'s ``field`` (``where``, e.g. "a workload's arrival_cv")
    holds: a finite number within the field's bounds."""
    low, high = field_bounds(model, field)
    ok = math.isfinite(value)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if ok:
        return
    if low is not None and high is not None:
        allowed = f"in [{low:g}, {high:g}]"
    else:
        allowed = f"≥ {low:g}" if low is not None else f"≤ {high:g}"
    raise AdvisorError(f"{flag} must be a finite number {allowed}, as {where} is; got {value}.")


def given_flags(ctx: typer.Context, names: dict[str, str]) -> list[str]:
    """The flags of ``names`` (parameter name: flag) given on the command line (or in the
    environment), not left at their defaults. (By the source's name: typer may bring its
    own copy of click, whose ``ParameterSource`` is not ``click.core``'s.)"""
    sources = {name: ctx.get_parameter_source(name) for name in names}
    return [
        flag
        for name, flag in names.items()
        if sources[name] is not None and sources[name].name not in ("DEFAULT", "DEFAULT_MAP")
    ]


def check_capacity_model(value: str) -> None:
    """``--capacity-model``: one of the serving model's capacity models."""
    from advisor.serving import CAPACITY_MODELS

    if value not in CAPACITY_MODELS:
        raise AdvisorError(
            f"--capacity-model must be {' or '.join(CAPACITY_MODELS)}; got '{value}'."
        )


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object) -> str:
    """``text`` fit for the terminal: control characters (escape sequences) shown as
    ``\\x1b`` and the like instead of run, and Rich markup shown instead of applied."""
    shown = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))
    return escape(shown)


def handle_errors(fn: F) -> F:
    """Turn library errors into one clear message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdvisorError as exc:
            err.print(f"[bold red]error:[/] {safe(exc)}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def emit_json(obj: Any) -> None:
    sys.stdout.write(to_json(obj))


def progress_printer(quiet: bool) -> Callable[[str], None] | None:
    """A solver's progress lines, dimmed on stderr; None when ``quiet``."""
    if quiet:
        return None
    return lambda msg: err.print(f"[dim]{safe(msg)}[/]", highlight=False)


def cli_catalog(dirs: list[Path] | None, prices: str | None = None) -> Catalog:
    cat = load_catalog(dirs or [], prices=prices)
    for w in cat.warnings:
        err.print(f"[yellow]warning:[/] {safe(w)}", highlight=False)
    return cat


def parse_aggregate(value: str) -> str | int:
    if value in ("auto", "exact"):
        return value
    try:
        n = int(value)
    except ValueError:
        raise AdvisorError(
            f"--aggregate must be auto, exact or a number of representative hours; got '{value}'."
        ) from None
    if n < 1:
        raise AdvisorError(f"--aggregate N needs N ≥ 1; got {n}.")
    return n


def interrupted(exc: Interrupted, out_dir: str | Path | None) -> None:
    """Say how a run stopped by a signal ended, and exit 128 + the signal's number."""
    kept = "" if out_dir is None else f"; '{out_dir}' holds what it held before"
    err.print(
        f"[bold red]interrupted:[/] {exc}: the solver stopped, its processes ended and its "
        f"temporary files removed; no plan was written{safe(kept)}.",
        highlight=False,
    )
    raise typer.Exit(exc.exit_code)


def check_verified(plan: Any) -> None:
    """Print a solved plan's warnings; refuse it (exit 1, nothing written) if it failed
    independent verification, naming the checks that failed."""
    for w in plan.data.get("warnings", []):
        err.print(f"[yellow]warning:[/] {safe(w)}", highlight=False)
    if plan.verified:
        return
    failures = [
        f"{c['check']}: {c['detail']}" for c in plan.data["verification"]["checks"] if not c["ok"]
    ]
    err.print(
        "[bold red]error:[/] the plan failed independent verification and was not written: "
        + safe("; ".join(failures)),
        highlight=False,
    )
    raise typer.Exit(1)
