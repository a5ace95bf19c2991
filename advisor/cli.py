"""The ``advisor`` command line: a thin layer over the library.

Every command takes ``--json`` (one JSON object on stdout) and ``--catalog DIR`` where a
catalog is read. User errors (``AdvisorError``) print one paragraph to stderr and exit 2;
a plan that fails its independent verification exits 1 and is not written.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from rich.markup import escape
from rich.table import Table

from advisor.catalog import GPU, Catalog, load_catalog
from advisor.cli_base import (
    TIME_LIMIT_RANGE,
    AggregateOpt,
    CapacityOpt,
    CatalogOpt,
    FleetOpt,
    GapOpt,
    JsonOpt,
    MaxPriceAgeOpt,
    PricesOpt,
    ProvidersOpt,
    SolverOpt,
    WorkloadsOpt,
    and_list,
    app,
    check_bounded,
    check_capacity_model,
    check_lengths,
    check_solver_limits,
    check_verified,
    check_workers,
    cli_catalog,
    emit_json,
    err,
    given_flags,
    handle_errors,
    interrupted,
    out,
    parse_aggregate,
    parse_providers,
    progress_printer,
    safe,
)
from advisor.defaults import DEFAULT_SOLVER
from advisor.errors import AdvisorError, CatalogError
from advisor.files import PlanFolder, check_out_file
from advisor.parallel import usable_cores
from advisor.prices import DEFAULT_MAX_PRICE_AGE_DAYS
from advisor.processes import Interrupted, solver_run
from advisor.units import SECONDS_PER_HOUR, TOKENS_PER_M

if TYPE_CHECKING:
    from advisor.costmath import CapacityPlan
    from advisor.policy import Policy
    from advisor.serving import SLO, Capacity, Replica, Traffic


def _csv_list(text: str | None, flag: str) -> list[str] | None:
    """``a,b, c`` as a list; None when not given."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise AdvisorError(f"{flag}: expected a comma-separated list, got '{text}'.")
    return items


# --- the seeds' arithmetic ---------------------------------------------------------------


@app.command()
@handle_errors
def cost(
    usd_per_hour: Annotated[float, typer.Option(help="Hardware price [USD/h].")],
    tokens_per_s: Annotated[float, typer.Option(help="Throughput at full load [tokens/s].")],
    utilization: Annotated[float, typer.Option(help="Fraction of throughput used, (0, 1].")] = 1.0,
    overhead: Annotated[float, typer.Option(help="Overhead multiplier, e.g. 1.4.")] = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Cost per million tokens: hourly price / (M tokens per hour × utilization) × overhead."""
    from advisor.catalog import Defaults
    from advisor.costmath import usd_per_m_tokens

    check_bounded(
        "--overhead", overhead, Defaults, "overhead_multiplier", "the catalog's overhead_multiplier"
    )
    v = usd_per_m_tokens(usd_per_hour, tokens_per_s, utilization, overhead)
    res = {
        "usd_per_hour": usd_per_hour,
        "tokens_per_s": tokens_per_s,
        "utilization": utilization,
        "overhead": overhead,
        "m_tokens_per_hour": tokens_per_s * SECONDS_PER_HOUR * utilization / TOKENS_PER_M,
        "usd_per_m_tokens": v,
    }
    if json_out:
        emit_json(res)
    else:
        out.print(f"${v:.4f} per million tokens ({res['m_tokens_per_hour']:.3f} M tokens/hour)")


@app.command()
@handle_errors
def breakeven(
    api_usd_per_m: Annotated[float, typer.Option(help="API price [USD/M tokens].")],
    self_usd_per_m: Annotated[float, typer.Option(help="Self-hosted price [USD/M tokens].")],
    monthly_overhead_usd: Annotated[float, typer.Option(help="Fixed self-hosting [USD/month].")],
    json_out: JsonOpt = False,
) -> None:
    """Monthly volume above which self-hosting beats the API."""
    from advisor.costmath import breakeven_m_tokens_per_month

    v = breakeven_m_tokens_per_month(api_usd_per_m, self_usd_per_m, monthly_overhead_usd)
    if json_out:
        emit_json(
            {
                "api_usd_per_m": api_usd_per_m,
                "self_usd_per_m": self_usd_per_m,
                "monthly_overhead_usd": monthly_overhead_usd,
                "breakeven_m_tokens_per_month": v if math.isfinite(v) else None,
                "never": not math.isfinite(v),
            }
        )
    elif math.isfinite(v):
        out.print(
            f"Self-hosting wins above {v:,.1f} M tokens/month ({v / 1000:,.2f} B tokens/month)."
        )
    else:
        out.print("Self-hosting never wins: it is not cheaper per token than the API.")


@app.command()
@handle_errors
def capacity(
    ctx: typer.Context,
    users: Annotated[float, typer.Option(help="Users.")],
    sessions_per_user: Annotated[float, typer.Option(help="Sessions per user per day.")],
    tokens_per_session: Annotated[float, typer.Option(help="Output tokens per session.")],
    peak_factor: Annotated[float, typer.Option(help="Peak over average.")] = 3.0,
    headroom: Annotated[
        float, typer.Option(help="Spare capacity fraction, 0 to 1: 0.3 means 30% spare.")
    ] = 0.3,
    usd_per_gpu_hour: Annotated[float, typer.Option(help="Price per GPU [USD/h].")] = 2.0,
    tokens_per_s_per_gpu: Annotated[
        float | None, typer.Option(help="Per-GPU throughput [tokens/s]; or give --model/--gpu.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Derive throughput from the roofline.")] = None,
    gpu: Annotated[str | None, typer.Option()] = None,
    quant: Annotated[
        str | None,
        typer.Option(help="Quantization; the cheapest per token that fits if omitted."),
    ] = None,
    tp: Annotated[
        int | None, typer.Option(help="TP degree; the cheapest per token if omitted.")
    ] = None,
    input_tokens: Annotated[float, typer.Option(help="Mean prompt length [tokens].")] = 1000,
    output_tokens: Annotated[float, typer.Option(help="Mean completion length.")] = 500,
    tpot_ms: Annotated[float | None, typer.Option(help="TPOT SLO [ms].")] = None,
    ttft_ms: Annotated[float | None, typer.Option(help="TTFT SLO [ms].")] = None,
    catalog: CatalogOpt = None,
    prices: PricesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Size a fleet: users → tokens/day → peak tokens/s → GPUs (+headroom) → $/month, $/M."""
    from advisor.costmath import capacity_plan

    _check_headroom(headroom)
    source, warning = "given", None
    if tokens_per_s_per_gpu is not None and (model or gpu):
        raise AdvisorError(
            "Give --tokens-per-s-per-gpu or --model and --gpu (to derive it), not both."
        )
    if tokens_per_s_per_gpu is not None:
        _check_measured_only(ctx)
    else:
        if not (model and gpu):
            raise AdvisorError(
                "Give --tokens-per-s-per-gpu, or --model and --gpu to derive it from the roofline."
            )
        check_lengths(input_tokens, output_tokens, (tpot_ms, ttft_ms))
        tokens_per_s_per_gpu, source, warning = _roofline_rate(
            cli_catalog(catalog, prices),
            model,
            gpu,
            quant,
            tp,
            input_tokens,
            output_tokens,
            tpot_ms,
            ttft_ms,
        )
        if warning:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    plan = capacity_plan(
        users,
        sessions_per_user,
        tokens_per_session,
        peak_factor,
        tokens_per_s_per_gpu,
        headroom,
        usd_per_gpu_hour,
    )
    res = {**plan.as_dict(), "tokens_per_s_per_gpu": tokens_per_s_per_gpu, "throughput": source}
    if model and gpu and tokens_per_s_per_gpu is not None and source != "given":
        res["warnings"] = [warning] if warning else []
    if json_out:
        emit_json(res)
        return
    out.print(_capacity_table(plan, tokens_per_s_per_gpu, source, headroom))


def _check_headroom(headroom: float) -> None:
    """``--headroom``: a fraction, as a workload's ``headroom`` is (one rule for both)."""
    from advisor.workloads import headroom_problem

    problem = headroom_problem(headroom)
    if problem:
        raise AdvisorError(f"--headroom: {problem}.")


def _capacity_table(
    plan: CapacityPlan, tokens_per_s_per_gpu: float, source: str, headroom: float
) -> Table:
    """``advisor capacity``'s table: the rubric's steps from tokens/day to $/M tokens."""
    t = Table(title="Capacity plan (30-day month)")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("tokens/day", f"{plan.tokens_per_day:,.0f}")
    t.add_row("average tokens/s", f"{plan.avg_tokens_per_s:,.0f}")
    t.add_row("peak tokens/s", f"{plan.peak_tokens_per_s:,.0f}")
    t.add_row(f"per-GPU tokens/s ({source})", f"{tokens_per_s_per_gpu:,.0f}")
    t.add_row("GPUs at peak", f"{plan.gpus_at_peak:,.1f}")
    t.add_row(f"GPUs with {headroom:.0%} headroom", f"{plan.gpus:,d}")
    t.add_row("USD/month", f"{plan.usd_per_month:,.0f}")
    t.add_row("USD/M tokens", f"{plan.usd_per_m_tokens:.3f}")
    return t


#: ``advisor capacity``'s flags that describe the roofline's operating point (parameter: flag).
_ROOFLINE_FLAGS = {
    "quant": "--quant",
    "tp": "--tp",
    "input_tokens": "--input-tokens",
    "output_tokens": "--output-tokens",
    "tpot_ms": "--tpot-ms",
    "ttft_ms": "--ttft-ms",
}


def _check_measured_only(ctx: typer.Context) -> None:
    """With ``--tokens-per-s-per-gpu``, no flag of the roofline's operating point: the
    measured figure replaces the model, so they would be silently ignored."""
    extra = given_flags(ctx, _ROOFLINE_FLAGS)
    if extra:
        one = len(extra) == 1
        raise AdvisorError(
            f"--tokens-per-s-per-gpu is a measured throughput that replaces the model, so "
            f"{and_list(extra)} {'does' if one else 'do'} not apply: leave "
            f"{'it' if one else 'them'} out, or give --model and --gpu instead of "
            "--tokens-per-s-per-gpu to derive the throughput from the roofline."
        )


def _roofline_rate(
    cat: Catalog,
    model: str,
    gpu: str,
    quant: str | None,
    tp: int | None,
    input_tokens: float,
    output_tokens: float,
    tpot_ms: float | None,
    ttft_ms: float | None,
) -> tuple[float, str, str | None]:
    """Per-GPU output tokens/s of the cheapest-per-token operating point (TP and, where not
    given, quantization), its label, and a warning when its batch is memory-starved."""
    from advisor.options import tp_degrees
    from advisor.roofline import replica_performance

    m, g = cat.model(model), cat.gpu(gpu)
    quants = [cat.quant(quant)] if quant else [cat.quant(q) for q in sorted(cat.quantizations)]
    if quant and not cat.supports(g, quants[0]):
        raise CatalogError(
            f"{gpu} cannot run {quant}: it has no {quants[0].compute_dtype} peak. "
            f"Choose a quantization among those its dtypes allow ({', '.join(g.peak_tflops)})."
        )
    if tp is not None and tp not in tp_degrees(g):
        raise AdvisorError(_tp_message(tp, g))
    eff = cat.efficiency_for(g)
    tps = [tp] if tp else tp_degrees(g)
    best, reasons = None, []
    for q in quants:
        if not cat.supports(g, q):
            continue
        for t in tps:
            p = replica_performance(m, g, q, eff, t, input_tokens, output_tokens, tpot_ms, ttft_ms)
            if not p.feasible:
                reasons.append(f"{q.name} tp{t}: {p.reason}")
                continue
            # one GPU-hour costs the same whatever the TP: the most tokens per GPU is cheapest
            if best is None or p.output_tokens_per_s / t > best.output_tokens_per_s / best.tp:
                best = p
    if best is None:
        what = f"{model} {quant or 'in any quantization'}" + (f" on {tp}× {gpu}" if tp else "")
        raise AdvisorError(f"{what} cannot serve this on {gpu}: " + "; ".join(reasons[:3]) + ".")
    label = f"roofline {model} {best.quant} tp{best.tp} {gpu}"
    return best.output_tokens_per_s / best.tp, label, _starved(best)


def _cheapest_per_gpu(rows: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """Per GPU type, the feasible (quantization, TP) with the most output tokens/s per GPU:
    every tier prices a GPU-hour the same whatever the TP, so it is the cheapest per token."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r["feasible"] or r["output_tokens_per_s"] <= 0:
            continue
        cur = best.get(r["gpu"])
        if (
            cur is None
            or r["output_tokens_per_s"] / r["tp"] > cur["output_tokens_per_s"] / cur["tp"]
        ):
            best[r["gpu"]] = r
    return {(r["gpu"], r["quant"], r["tp"]) for r in best.values()}


#: A memory-bound batch below this many sequences is reported as memory-starved.
STARVED_BATCH = 32


def _starved(p: Any) -> str | None:
    """A warning when memory, not the SLO, caps the batch at a handful of sequences."""
    if p.fits and p.batch >= p.max_batch_memory and p.batch < STARVED_BATCH:
        return (
            f"{p.gpu} {p.quant} tp{p.tp}: only {p.batch} sequences fit beside the weights, so "
            f"each decode step re-reads the weights for {p.batch} tokens (memory-starved). A "
            "larger TP degree or a smaller quantization usually serves far more per GPU."
        )
    return None


# --- roofline ------------------------------------------------------------------------------


@app.command()
@handle_errors
def roofline(
    model: Annotated[str, typer.Option(help="Catalog model name.")],
    gpu: Annotated[list[str] | None, typer.Option(help="GPU type(s); all when omitted.")] = None,
    quant: Annotated[list[str] | None, typer.Option(help="Quantization(s).")] = None,
    tp: Annotated[list[int] | None, typer.Option(help="Tensor-parallel degree(s).")] = None,
    input_tokens: Annotated[float, typer.Option(help="Mean prompt length [tokens].")] = 1000,
    output_tokens: Annotated[float, typer.Option(help="Mean completion length [tokens].")] = 300,
    tpot_ms: Annotated[float | None, typer.Option(help="TPOT SLO [ms].")] = None,
    ttft_ms: Annotated[float | None, typer.Option(help="TTFT SLO [ms].")] = None,
    slo_stat: Annotated[
        str, typer.Option(help="Statistic the SLOs bound: mean, p50, p90, p95 or p99.")
    ] = "mean",
    rate: Annotated[
        float | None, typer.Option(help="Report the latency statistics at this rate [req/s].")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Report the latency statistics with this many requests in flight per "
            "replica (a closed loop of as many clients) [requests]."
        ),
    ] = None,
    capacity_model: Annotated[
        str, typer.Option(help="simulated (serving simulation) or roofline (fast, mean-value).")
    ] = "simulated",
    kv_dtype: Annotated[str, typer.Option(help="KV-cache dtype: auto, fp8 or bf16.")] = "auto",
    prompt_cv: Annotated[float, typer.Option(help="Prompt length spread (CV).")] = 0.0,
    completion_cv: Annotated[float, typer.Option(help="Completion length spread (CV).")] = 0.0,
    arrival_cv: Annotated[float, typer.Option(help="Inter-arrival CV (1 = Poisson).")] = 1.0,
    plot: Annotated[
        Path | None, typer.Option(help="Write TTFT/TPOT against rate to this PNG.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list options that do not fit.")
    ] = False,
    catalog: CatalogOpt = None,
    prices: PricesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Throughput, latency and $/M output tokens of every GPU × quantization × TP option
    (at the cheapest offer per GPU-hour of each tier)."""
    from advisor.serving import SLO, Traffic

    cat = cli_catalog(catalog, prices)
    _check_roofline_args(
        cat, model, input_tokens, output_tokens, slo_stat, capacity_model, rate, (tpot_ms, ttft_ms)
    )
    _check_concurrency(concurrency, rate, capacity_model)
    _check_spreads(prompt_cv, completion_cv, arrival_cv, capacity_model)
    if plot is not None:
        from advisor.serving_plot import check_figure_path

        check_figure_path(plot, "--plot")
    traffic = Traffic(input_tokens, output_tokens, prompt_cv, completion_cv, arrival_cv)
    slo = SLO(ttft_ms, tpot_ms, slo_stat)
    load = Load(rate, concurrency)
    rows, replicas = _roofline_options(
        cat, model, gpu, quant, tp, kv_dtype, traffic, slo, capacity_model, load
    )
    best = _cheapest_per_gpu(rows)
    for r in rows:
        r["cheapest"] = (r["gpu"], r["quant"], r["tp"]) in best
    if plot is not None:
        _roofline_figure(replicas, traffic, slo, plot)
    if json_out:
        head = {"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens}
        limits = {"tpot_ms": tpot_ms, "ttft_ms": ttft_ms, "slo_stat": slo_stat, "rate": rate}
        limits["concurrency"] = concurrency
        cheapest = [{"gpu": g, "quant": q, "tp": t} for g, q, t in sorted(best)]
        emit_json(
            {**head, **limits, "capacity_model": capacity_model, "options": rows}
            | {"cheapest": cheapest}
        )
        return
    at = f" at {rate:g} req/s" if rate is not None else ""
    if concurrency is not None:
        at = f" with {concurrency} requests in flight"
    title = (
        f"{model}: prompt {input_tokens:g}, completion {output_tokens:g} tokens"
        f" ({capacity_model}{at})"
    )
    _print_roofline(rows, title, slo_stat, bool(gpu or quant or tp) or show_all, plot)


def _tp_message(tp: int, g: GPU) -> str:
    from advisor.options import tp_degrees

    *rest, last = [str(t) for t in tp_degrees(g)]
    if not rest:
        return f"--tp {tp} is not possible on {g.name}: it serves at --tp {last} only."
    degrees = f"{', '.join(rest)} or {last}"
    return f"--tp {tp} is not possible on {g.name}: a tensor-parallel group is {degrees} GPUs."


def _check_roofline_args(
    cat: Catalog,
    model: str,
    input_tokens: float,
    output_tokens: float,
    slo_stat: str,
    capacity_model: str,
    rate: float | None,
    limits_ms: tuple[float | None, float | None] = (None, None),
) -> None:
    """``advisor roofline``'s arguments, checked in the order their errors are reported
    (an unknown model first); ``limits_ms`` are --tpot-ms and --ttft-ms."""
    from advisor.serving import STATS

    cat.model(model)  # an unknown model is the first error
    check_lengths(input_tokens, output_tokens, limits_ms)
    if slo_stat not in STATS:
        raise AdvisorError(f"--slo-stat must be one of {', '.join(STATS)}; got '{slo_stat}'.")
    check_capacity_model(capacity_model)
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise AdvisorError(f"--rate must be a number > 0; got {rate}.")
    if rate is not None and capacity_model != "simulated":
        raise AdvisorError("--rate needs --capacity-model simulated (the default).")


class Load(NamedTuple):
    """The load ``advisor roofline`` reports the latency statistics at: a request rate, a
    number of requests in flight, or neither (then the capacity)."""

    rate_rps: float | None = None
    concurrency: int | None = None


#: the most requests in flight ``--concurrency`` simulates per replica (a closed loop runs
#: eight rounds of them)
MAX_CONCURRENCY = 100_000


def _check_concurrency(concurrency: int | None, rate: float | None, capacity_model: str) -> None:
    """``--concurrency``: a whole number of requests from 1 to :data:`MAX_CONCURRENCY`, not
    with ``--rate`` (a load is a rate or a number in flight), on the simulated model."""
    if concurrency is None:
        return
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise AdvisorError(
            f"--concurrency must be a whole number of requests from 1 to {MAX_CONCURRENCY:,}; "
            f"got {concurrency}."
        )
    if rate is not None:
        raise AdvisorError("give --rate or --concurrency, not both: a load is one or the other.")
    if capacity_model != "simulated":
        raise AdvisorError("--concurrency needs --capacity-model simulated (the default).")


def _check_spreads(
    prompt_cv: float, completion_cv: float, arrival_cv: float, capacity_model: str
) -> None:
    """``--prompt-cv``, ``--completion-cv`` and ``--arrival-cv``: within the bounds a
    workload's ``prompt_tokens_cv``, ``completion_tokens_cv`` and ``arrival_cv`` have, and
    only on the simulated model (the roofline model has no spreads: it would ignore them)."""
    from advisor.workloads import Workload

    for flag, value, field in (
        ("--prompt-cv", prompt_cv, "prompt_tokens_cv"),
        ("--completion-cv", completion_cv, "completion_tokens_cv"),
        ("--arrival-cv", arrival_cv, "arrival_cv"),
    ):
        check_bounded(flag, value, Workload, field, f"a workload's {field}")
        default = Workload.model_fields[field].default
        if capacity_model != "simulated" and value != default:
            raise AdvisorError(
                f"{flag} needs --capacity-model simulated (the default): the roofline model "
                "takes every request at the mean lengths and steady arrivals, and ignores "
                f"spreads. Leave {flag} out, or drop --capacity-model roofline."
            )


def _roofline_figure(
    replicas: list[tuple[Replica, Capacity]], traffic: Traffic, slo: SLO, plot: Path
) -> None:
    """``--plot``: TTFT/TPOT against rate of the first option that fits."""
    from advisor.serving_plot import load_figure

    chosen = next(((r, c) for r, c in replicas if c.fits), None)
    if chosen is None:
        raise AdvisorError("--plot needs an option that fits; none does.")
    load_figure(chosen[0], traffic, slo, chosen[1], plot)


def _print_roofline(
    rows: list[dict[str, Any]], title: str, slo_stat: str, show_all: bool, plot: Path | None
) -> None:
    """``advisor roofline``'s table, its footnote and where its figure went."""
    stat = "" if slo_stat == "mean" else f" {slo_stat}"
    out.print(_roofline_table(rows, title, stat, show_all))
    out.print(
        "* the cheapest per output token on its GPU (most output tokens/s per GPU); starved: "
        f"memory caps the batch below {STARVED_BATCH} sequences.",
        highlight=False,
    )
    for line in _roofline_reasons(rows, show_all):
        out.print(safe(line), highlight=False)
    if plot is not None:
        out.print(f"Figure written to {plot}")


def _listed(row: dict[str, Any], show_all: bool) -> bool:
    """Whether ``advisor roofline``'s table lists an option: one that fits, or any with
    ``--all``."""
    return bool(row["fits"]) or show_all


def _roofline_reasons(rows: list[dict[str, Any]], show_all: bool) -> list[str]:
    """Below the table, which has no room for them: why each listed option falls short (or
    what it notes, e.g. an overload at ``--rate``), or that none is listed and why not."""
    listed = [r for r in rows if _listed(r, show_all)]
    if rows and not listed:
        return ["No option fits; --all lists every option with the reason it does not."]
    return [f"{r['gpu']} {r['quant']} TP {r['tp']}: {r['reason']}" for r in listed if r["reason"]]


def _roofline_options(
    cat: Catalog,
    model: str,
    gpu: list[str] | None,
    quant: list[str] | None,
    tp: list[int] | None,
    kv_dtype: str,
    traffic: Traffic,
    slo: SLO,
    capacity_model: str,
    load: Load,
) -> tuple[list[dict[str, Any]], list[tuple[Replica, Capacity]]]:
    """Every GPU × quantization × TP option asked for (all where none is named), each once
    however often it is named: its row and its replica with its capacity. Raises where a
    named combination cannot run."""
    from advisor.options import tp_degrees
    from advisor.serving import Replica

    m = cat.model(model)
    named = bool(gpu and quant)
    gpus = {g.name: g for g in (cat.gpu(g) for g in (gpu or sorted(cat.gpus)))}
    quants = {q.name: q for q in (cat.quant(q) for q in (quant or sorted(cat.quantizations)))}
    rows, replicas = [], []
    for g in gpus.values():
        for q in quants.values():
            if not cat.supports(g, q):
                if named:
                    raise CatalogError(
                        f"{g.name} cannot run {q.name}: it has no {q.compute_dtype} peak "
                        f"(it has {', '.join(g.peak_tflops)}). Choose another --quant or --gpu."
                    )
                continue
            allowed = tp_degrees(g)
            for t in dict.fromkeys(tp) if tp else allowed:
                if t not in allowed:
                    raise AdvisorError(_tp_message(t, g))
                r = Replica(m, g, q, cat.efficiency_for(g), t, kv_dtype)
                row, c = _roofline_option(cat, r, traffic, slo, capacity_model, load)
                rows.append(row)
                replicas.append((r, c))
    return rows, replicas


def _roofline_option(
    cat: Catalog,
    r: Replica,
    traffic: Traffic,
    slo: SLO,
    capacity_model: str,
    load: Load,
) -> tuple[dict[str, Any], Capacity]:
    """One option's row of ``advisor roofline`` (mean-value operating point, capacity,
    $/M output tokens per tier) and its capacity."""
    from advisor.roofline import replica_performance
    from advisor.serving import evaluate

    prompt, completion = traffic.prompt_tokens, traffic.completion_tokens
    try:
        p = replica_performance(
            r.model,
            r.gpu,
            r.quant,
            r.eff,
            r.tp,
            prompt,
            completion,
            slo.tpot_ms,
            slo.ttft_ms,
            kv_dtype=r.kv_dtype,
        )
        c = evaluate(
            r,
            traffic,
            slo,
            capacity_model=capacity_model,
            rate_rps=load.rate_rps,
            concurrency=load.concurrency,
        )
    except ValueError as exc:
        raise AdvisorError(str(exc)) from None
    out_rate = c.output_tokens_per_s
    tier_prices = {
        tier: offer.usd_per_gpu_hour * r.tp / (out_rate * SECONDS_PER_HOUR) * TOKENS_PER_M
        if out_rate > 0
        else None
        for tier, offer in sorted(cat.offers_for(r.gpu.name, r.tp).items())
    }
    row = {
        **p.as_dict(),
        "fits": c.fits,
        "meets_slo": c.meets_slo,
        "reason": c.reason or p.reason,
        "feasible": c.fits and c.meets_slo and c.output_tokens_per_s > 0,
        # the largest batch memory and the SLOs allow (mean-value model)
        "max_batch": p.batch,
        "requests_per_s": c.requests_per_s,
        "output_tokens_per_s": c.output_tokens_per_s,
        "input_tokens_per_s": c.requests_per_s * prompt,
        "ttft_ms": c.ttft_ms,
        "tpot_ms": c.tpot_ms,
        "slo_stat": c.stat,
        "capacity_model": c.capacity_model,
        "rate_rps": load.rate_rps,
        "concurrency": load.concurrency,
        "upper_bound_requests_per_s": c.upper_bound_rps,
        "mean_batch": c.batch,
        "memory_starved": p.feasible and _starved(p) is not None,
        "usd_per_m_output_tokens": tier_prices,
        # how far this GPU type's capacities can be trusted (catalogs/capacity_error.yaml)
        "measured_error": (
            cat.capacity_error[r.gpu.name].summary() if r.gpu.name in cat.capacity_error else None
        ),
    }
    return row, c


def _roofline_table(rows: list[dict[str, Any]], title: str, stat: str, show_all: bool) -> Table:
    """``advisor roofline``'s table; options that do not fit only with ``show_all``."""
    t = Table(title=title)
    for col, just in (
        ("GPU", "left"),
        ("quant", "left"),
        ("TP", "right"),
        ("fits", "left"),
        ("mean batch", "right"),
        ("req/s", "right"),
        ("output tok/s", "right"),
        (f"TTFT{stat} ms", "right"),
        (f"TPOT{stat} ms", "right"),
        ("$/M out (on-demand / reserved_3y / spot)", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        if not _listed(r, show_all):
            continue
        pr = r["usd_per_m_output_tokens"]
        price = " / ".join(
            "-" if pr.get(k) is None else f"{pr[k]:.3f}"
            for k in ("on_demand", "reserved_3y", "spot")
        )
        fits = "yes" if r["fits"] else "no"
        if r["fits"] and not r["meets_slo"]:
            fits = "misses SLO"
        elif r["memory_starved"]:
            fits = "starved"
        if r["cheapest"]:
            fits += " *"
        t.add_row(
            safe(r["gpu"]),
            safe(r["quant"]),
            str(r["tp"]),
            fits,
            f"{r['mean_batch']:,.0f}" if r["fits"] else "-",
            f"{r['requests_per_s']:,.2f}" if r["feasible"] else "-",
            f"{r['output_tokens_per_s']:,.0f}" if r["feasible"] else "-",
            f"{r['ttft_ms']:,.0f}" if r["fits"] else "-",
            f"{r['tpot_ms']:,.1f}" if r["fits"] else "-",
            price if r["feasible"] else "-",
        )
    return t


# --- validation ------------------------------------------------------------------------------


@app.command()
@handle_errors
def validate(
    catalog: CatalogOpt = None,
    benchmarks: Annotated[
        Path | None, typer.Option(help="Measured runs CSV (default: the shipped serving runs).")
    ] = None,
    capacity_model: Annotated[
        str, typer.Option(help="simulated (default) or roofline (fast, mean-value).")
    ] = "simulated",
    error_table: Annotated[
        Path | None,
        typer.Option(
            help="Also write the error per GPU type as a catalog file "
            "(catalogs/capacity_error.yaml: what plans cite beside each capacity)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare the serving model with measured runs: offline and online error per GPU family."""
    import datetime as dt

    from advisor.files import write_atomically
    from advisor.validate import (
        SHIPPED_RUNS,
        capacity_error_entries,
        capacity_error_yaml,
        load_serving_runs,
        shipped_runs_path,
        validate_serving,
    )

    check_capacity_model(capacity_model)
    if error_table is not None:
        runs_file = benchmarks if benchmarks is not None else shipped_runs_path()
        check_out_file(error_table, "--error-table", {"benchmark file": runs_file})
    cat = cli_catalog(catalog)
    rows = load_serving_runs(benchmarks)
    res = validate_serving(cat, rows, capacity_model=capacity_model)
    table, summary = res["rows"], res["summary"]
    if error_table is not None:
        entries = capacity_error_entries(cat, table)
        runs = str(benchmarks) if benchmarks is not None else SHIPPED_RUNS
        today = dt.date.today().isoformat()
        write_atomically(error_table, capacity_error_yaml(entries, today, runs))
    cal = summary["calibration"]
    if json_out:
        off = cal["offline_throughput"]
        emit_json(
            {
                "capacity_model": capacity_model,
                "median_abs_error": off["median"],
                "p90_abs_error": off["p90"],
                "n_used": summary["n_used"],
                "summary": summary,
                "rows": table.to_dict(orient="records"),
            }
        )
        return
    _print_validation(summary, capacity_model)


def _print_validation(summary: dict, capacity_model: str) -> None:
    """``advisor validate``'s tables, each with what its columns compare."""
    cal = summary["calibration"]
    out.print(_validation_table(cal, capacity_model))
    out.print(
        "offline: predicted vs measured output tokens/s of offline runs; online throughput: "
        "the SLO capacity at the run's measured p99 TTFT/TPOT vs its measured tokens/s; online "
        "TPOT / p99 TTFT: mean TPOT / p99 TTFT simulated at the run's measured request rate vs "
        "measured."
    )
    if cal["online_tpot_at_measured_concurrency"]["n"]:  # simulated only, as at the rate
        out.print(_measured_load_table(cal))
        out.print(
            "the same online runs at their measured load: the requests in flight per replica "
            "by Little's law (measured requests/s x mean time to the last token), held as a "
            "closed loop on an engine whose batch limit holds them: mean TPOT and requests/s "
            "simulated vs measured. The latency at the measured rate sits at the knee of the "
            "curve; here the load is known."
        )
    out.print(_known_load_table(cal))
    out.print(
        "static batch: a batch sent at once and run to the end: the time to finish it, its "
        "first token (the batch's prefill) and its mean TPOT, simulated vs measured; closed "
        "loop: a fixed number of clients, each sending its next request when the last ends: "
        "output tokens/s, mean TTFT and mean TPOT, simulated vs measured. "
        f"{summary['n_used']} of {summary['n_rows']} rows used (--json lists every row and why "
        "a row was skipped)."
    )
    hold = summary["holdout"]["offline_throughput"]
    if hold["n"]:
        out.print(f"holdout (never fit): offline {_error_cell(hold)}")


def _error_cell(x: dict) -> str:
    if not x["n"]:
        return "-"
    return f"{x['median']:.1%} / {x['p90']:.1%} ({x['n']})"


def _error_table(title: str, columns: dict[str, str], cal: dict, by_scenario: bool) -> Table:
    """|error| median / p90 (n) of ``columns`` (header: summary key) per GPU family and in all;
    with ``by_scenario``, also per MLPerf scenario (the online keys)."""
    t = Table(title=title)
    t.add_column("GPU family")
    for header in columns:
        t.add_column(header)
    keys = list(columns.values())
    for fam, v in cal["by_family"].items():
        t.add_row(fam, *(_error_cell(v[k]) for k in keys))
    t.add_row("all", *(_error_cell(cal[k]) for k in keys))
    if by_scenario:
        for scen, v in cal["by_scenario"].items():
            t.add_row(f"all, {scen} runs", *(_error_cell(v[k]) if k in v else "-" for k in keys))
    return t


def _validation_table(cal: dict, capacity_model: str) -> Table:
    columns = {
        "offline throughput": "offline_throughput",
        "online throughput": "online_throughput_at_measured_latency",
        "online TPOT": "online_tpot_at_measured_rate",
        "online p99 TTFT": "online_ttft_p99_at_measured_rate",
    }
    title = f"Serving model ({capacity_model}) vs measured runs: |error| median / p90 (n)"
    return _error_table(title, columns, cal, by_scenario=True)


def _measured_load_table(cal: dict) -> Table:
    columns = {
        "online TPOT at measured load": "online_tpot_at_measured_concurrency",
        "online throughput at measured load": "online_throughput_at_measured_concurrency",
    }
    title = "Online runs at their measured load (requests in flight): |error| median / p90 (n)"
    return _error_table(title, columns, cal, by_scenario=True)


def _known_load_table(cal: dict) -> Table:
    columns = {
        "static batch latency": "static_batch_latency",
        "static first token": "static_batch_ttft",
        "static TPOT": "static_batch_tpot",
        "closed-loop throughput": "closed_loop_throughput",
        "closed-loop TTFT": "closed_loop_ttft",
        "closed-loop TPOT": "closed_loop_tpot",
    }
    title = "At a known load (static batches, closed-loop clients): |error| median / p90 (n)"
    return _error_table(title, columns, cal, by_scenario=False)


# --- solve and verify ------------------------------------------------------------------------


def _cap_threads(threads: int) -> int:
    """At most the cores this process may use: more only slows a solver down (HiGHS aborts
    when it cannot start them)."""
    cores = usable_cores()
    if threads > cores:
        err.print(
            f"[yellow]note:[/] --threads {threads} is more than the {cores} cores available; "
            f"using {cores}.",
            highlight=False,
        )
        return cores
    return threads


# ``advisor solve``'s own options
SolveTimeLimitOpt = Annotated[
    float | None,
    typer.Option(
        help="Time budget of the whole solve [s], the capacities under load included "
        "(the solver keeps at least half); default 15 where the distinct hours fit the "
        f"exact model (up to 400), else 240; {TIME_LIMIT_RANGE}."
    ),
]
PolicyFileOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="YAML file with a 'policy:' section (see README)."),
]
TiersOpt = Annotated[
    str | None,
    typer.Option(
        help="Allowed tiers, comma-separated: on_demand, spot, reserved_1y, reserved_3y, "
        "owned, api."
    ),
]
VendorsOpt = Annotated[
    str | None, typer.Option(help="Allowed GPU vendors, comma-separated (nvidia, amd).")
]
GpusOpt = Annotated[
    str | None, typer.Option(help="Allowed GPU types, comma-separated (H100-SXM,...).")
]
MaxGpuTypesOpt = Annotated[
    int | None, typer.Option(help="At most this many GPU types in the fleet.")
]
MinRentalHoursOpt = Annotated[
    int | None,
    typer.Option(help="Each on-demand/spot start runs at least this long [h]."),
]
SolveCapacityModelOpt = Annotated[
    str,
    typer.Option(help="simulated (serving simulation, default) or roofline (fast mode)."),
]
RiskOpt = Annotated[
    str,
    typer.Option(help="With scenarios: expected, minmax or cvar:ALPHA:LAMBDA."),
]
ScenarioWorkersOpt = Annotated[
    int | None, typer.Option(help="With scenarios: parallel solves (default: CPUs).")
]
ScenarioClusterOpt = Annotated[
    str | None, typer.Option(help="With scenarios: 'dask' or dask://host:port.")
]


@app.command()
@handle_errors
def solve(
    demand: Annotated[Path, typer.Argument(help="Hourly demand CSV.")],
    workloads: WorkloadsOpt = None,
    catalog: CatalogOpt = None,
    capacity_file: CapacityOpt = None,
    fleet: FleetOpt = None,
    prices: PricesOpt = None,
    providers: ProvidersOpt = None,
    max_price_age_days: MaxPriceAgeOpt = DEFAULT_MAX_PRICE_AGE_DAYS,
    out_dir: Annotated[str | None, typer.Option("--out", help="Write the plan here.")] = None,
    solver: SolverOpt = DEFAULT_SOLVER,
    time_limit: SolveTimeLimitOpt = None,
    gap: GapOpt = 1e-3,
    threads: Annotated[int, typer.Option(help="Solver threads.")] = 1,
    aggregate: AggregateOpt = "auto",
    policy_file: PolicyFileOpt = None,
    tiers: TiersOpt = None,
    vendors: VendorsOpt = None,
    gpus: GpusOpt = None,
    max_gpu_types: MaxGpuTypesOpt = None,
    min_rental_hours: MinRentalHoursOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
    capacity_model: SolveCapacityModelOpt = "simulated",
    risk: RiskOpt = "expected",
    workers: ScenarioWorkersOpt = None,
    cluster: ScenarioClusterOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Solve for the minimum-cost blended fleet that serves the demand within its SLOs.

    A demand file with scenario or quantile columns gets a two-stage plan: reserved GPUs
    decided once for all scenarios, the rest per scenario and hour.
    """
    from advisor.parallel import check_cluster
    from advisor.scenarios import has_scenarios

    check_solver_limits(time_limit, gap)
    check_workers(workers)  # checked whether or not the demand has scenarios to use them on
    check_cluster(cluster)
    if threads < 1:
        raise AdvisorError(f"--threads must be ≥ 1; got {threads}.")
    threads = _cap_threads(threads)
    agg = parse_aggregate(aggregate)
    flags = _policy_flags(tiers, vendors, gpus, max_gpu_types, min_rental_hours)
    check_capacity_model(capacity_model)
    if not max_price_age_days > 0:
        raise AdvisorError(f"--max-price-age-days must be > 0; got {max_price_age_days}.")
    two_stage = has_scenarios(demand) or risk != "expected"
    options = {
        "workloads_files": workloads or [],
        "catalog_dirs": catalog or [],
        "capacity_file": capacity_file,
        "fleet_file": fleet,
        "prices": prices,
        "providers": parse_providers(providers),
        "max_price_age_days": max_price_age_days,
        "policy_file": policy_file,
        "policy": flags,
        "solver": solver,
        "time_limit_s": time_limit,
        "gap": gap,
        "threads": threads,
        "aggregate": agg,
        "capacity_model": capacity_model,
    }
    if two_stage:
        _solve_two_stage(demand, options, out_dir, risk, workers, cluster, quiet, json_out)
        return
    try:
        with solver_run():
            _solve_locked(out_dir, demand, options, quiet, json_out)
    except Interrupted as exc:
        interrupted(exc, out_dir)


def _policy_flags(
    tiers: str | None,
    vendors: str | None,
    gpus: str | None,
    max_gpu_types: int | None,
    min_rental_hours: int | None,
) -> Policy:
    """The policy that ``--tiers``, ``--vendors``, ``--gpus``, ``--max-gpu-types`` and
    ``--min-rental-hours`` set (each None where not given)."""
    from advisor.policy import Policy

    if max_gpu_types is not None and max_gpu_types < 1:
        raise AdvisorError(f"--max-gpu-types must be ≥ 1; got {max_gpu_types}.")
    if min_rental_hours is not None and min_rental_hours < 1:
        raise AdvisorError(f"--min-rental-hours must be ≥ 1; got {min_rental_hours}.")
    return Policy(
        tiers=_csv_list(tiers, "--tiers"),
        vendors=_csv_list(vendors, "--vendors"),
        gpus=_csv_list(gpus, "--gpus"),
        max_gpu_types=max_gpu_types,
        min_rental_hours=min_rental_hours,
    )


def _solve_two_stage(
    demand: Path,
    options: dict[str, Any],
    out_dir: str | None,
    risk: str,
    workers: int | None,
    cluster: str | None,
    quiet: bool,
    json_out: bool,
) -> None:
    """``advisor solve`` on a demand file with scenarios (or with ``--risk``): the two-stage
    plan, from the same checked ``options`` as a single-demand solve."""
    from advisor.cli_scenarios import solve_scenarios_cli

    solve_scenarios_cli(
        demand,
        workloads=options["workloads_files"],
        catalog=options["catalog_dirs"],
        capacity_file=options["capacity_file"],
        fleet=options["fleet_file"],
        prices=options["prices"],
        providers=options["providers"],
        max_price_age_days=options["max_price_age_days"],
        policy_file=options["policy_file"],
        policy=options["policy"],
        capacity_model=options["capacity_model"],
        out_dir=out_dir,
        settings=(options["solver"], options["time_limit_s"], options["gap"], options["threads"]),
        aggregate=options["aggregate"],
        risk=risk,
        workers=workers,
        cluster=cluster,
        progress=progress_printer(quiet),
        json_out=json_out,
    )


def _solve_locked(out_dir: str | None, *args: Any) -> None:
    """Check, create and lock the output folder before any solving; release it (removing it
    again if this run created it and wrote nothing) however the run ends."""
    folder = PlanFolder(out_dir) if out_dir is not None else None
    if folder is not None:
        folder.open()
    try:
        _solve_into(folder, *args)
    finally:
        if folder is not None:
            folder.close()


def _solve_into(
    folder: PlanFolder | None,
    demand: Path,
    options: dict[str, Any],
    quiet: bool,
    json_out: bool,
) -> None:
    from advisor.pipeline import solve_plan
    from advisor.plan import PLAN_FILES
    from advisor.report import print_plan_summary

    if folder is not None:
        folder.claim(PLAN_FILES)
    plan = solve_plan(demand, **options, progress=progress_printer(quiet))
    check_verified(plan)
    if folder is not None:
        plan = plan.saved(folder.out, folder=folder)
    if json_out:
        emit_json(plan.data)
    else:
        print_plan_summary(plan.data, out)
        if folder is not None:
            out.print(
                f"Plan written to {safe(folder.out)}/ (plan.json, schedule.csv, buy.csv, "
                "summary.md).",
                highlight=False,
            )
    if folder is None:
        err.print(
            "Nothing written: pass --out DIR to save plan.json, schedule.csv, buy.csv and "
            "summary.md there (e.g. --out out/plan).",
            highlight=False,
        )


@app.command()
@handle_errors
def verify(
    plan: Annotated[Path, typer.Argument(help="plan.json or its folder.")],
    demand: Annotated[Path, typer.Argument(help="The demand CSV it was solved for.")],
    workloads: WorkloadsOpt = None,
    catalog: CatalogOpt = None,
    capacity_file: CapacityOpt = None,
    fleet: FleetOpt = None,
    prices: PricesOpt = None,
    providers: ProvidersOpt = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            help="A two-stage plan's demand file with scenarios: also checks its scenarios' "
            "names and weights, and that DEMAND is its most probable scenario."
        ),
    ] = None,
    policy_file: PolicyFileOpt = None,
    tiers: TiersOpt = None,
    vendors: VendorsOpt = None,
    gpus: GpusOpt = None,
    max_gpu_types: MaxGpuTypesOpt = None,
    min_rental_hours: MinRentalHoursOpt = None,
    sweep_case: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="A sweep's case, as its folder is named (e.g. slo=0.8): the change the sweep "
            "made to these inputs, applied before the check.",
        ),
    ] = None,
    capacity_model: Annotated[
        str | None,
        typer.Option(
            help="The capacity model the plan must have been sized with (simulated or "
            "roofline). Default: the one the plan records (the capacity_model check says so)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recompute a saved plan's capacity, SLOs, pool, cost and totals without the solver,
    from the inputs given here (as `solve` reads them), never from the plan's own copies.
    Give the procurement policy as `solve` was given it (--policy, --tiers, ...); without
    one, the policy the plan records is the rule checked (the policy_source check says so)."""
    from advisor.pipeline import verify_files
    from advisor.sweep import apply_param, parse_case

    flags = _policy_flags(tiers, vendors, gpus, max_gpu_types, min_rental_hours)
    if capacity_model is not None:
        check_capacity_model(capacity_model)
    adjust = None
    if sweep_case is not None:
        param, value = parse_case(sweep_case)
        adjust = functools.partial(apply_param, param=param, value=value)
    rep = verify_files(
        plan,
        demand,
        workloads_files=workloads or [],
        catalog_dirs=catalog or [],
        capacity_file=capacity_file,
        fleet_file=fleet,
        prices=prices,
        providers=parse_providers(providers),
        scenarios_file=scenarios,
        policy_file=policy_file,
        policy=flags,
        adjust=adjust,
        capacity_model=capacity_model,
    )
    if json_out:
        emit_json(rep.as_dict())
    else:
        for c in rep.checks:
            mark = "[green]ok[/]" if c["ok"] else "[red]FAIL[/]"
            out.print(f"{mark} {safe(c['check'])}: {safe(c['detail'])}", highlight=False)
        out.print("verified" if rep.ok else "NOT verified")
    if not rep.ok:
        raise typer.Exit(1)


# --- comparing and reporting saved plans -----------------------------------------------------

_VERDICT_STYLE = {"better": "green", "worse": "red", "changed": "yellow"}


@app.command()
@handle_errors
def compare(
    plans: Annotated[
        list[Path], typer.Argument(help="Two or more plan folders or plan.json files.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Compare saved plans side by side; differences against the first (green cheaper/better,
    red dearer/worse)."""
    from advisor.compare import compare_plans, format_delta, format_value
    from advisor.plan import Plan

    if len(plans) < 2:
        raise AdvisorError(f"compare needs at least two plans; got {len(plans)}.")
    res = compare_plans([Plan.load(p) for p in plans])
    if json_out:
        emit_json(res)
        return
    names = res["names"]
    t = Table(title=f"Plans compared with '{safe(names[0])}'")
    t.add_column("metric")
    t.add_column(safe(names[0]), justify="right")
    for n in names[1:]:
        t.add_column(safe(n), justify="right")
        t.add_column(f"Δ vs {safe(names[0])}", justify="right")
    group = None
    for r in res["rows"]:
        if r["group"] != group:
            if group is not None:
                t.add_section()
            group = r["group"]
        cells = [safe(r["label"]), safe(format_value(r["values"][0], r["unit"]))]
        for i in range(1, len(names)):
            style = _VERDICT_STYLE.get(r["highlight"][i] or "")
            value = safe(format_value(r["values"][i], r["unit"]))
            delta = safe(format_delta(r, i))
            cells += [
                f"[{style}]{value}[/]" if style else value,
                f"[bold {style}]{delta}[/]" if style else f"[dim]{delta}[/]",
            ]
        t.add_row(*cells)
    out.print(t)
    for n in res["notes"]:
        err.print(f"[yellow]note:[/] {safe(n)}", highlight=False)


@app.command()
@handle_errors
def report(
    plan: Annotated[Path, typer.Argument(help="plan.json or its folder.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default: the plan's).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write report.md and a self-contained report.html with figures for a saved plan."""
    from advisor.plan import Plan
    from advisor.report import write_report

    p = Plan.load(plan)
    assert p.path is not None
    named = p.data.get("inputs") or {}
    try:  # the catalog the plan names, for its deployments' load figures
        cat = load_catalog(
            [Path(d) for d in named.get("catalog_dirs") or []], prices=named.get("prices")
        )
    except AdvisorError as exc:
        cat = None
        err.print(f"note: no load figures: {safe(str(exc))}", highlight=False)

    def say(msg: str) -> None:
        if not json_out:
            err.print(f"[dim]{escape(msg)}[/]", highlight=False)

    paths = write_report(p, out_dir if out_dir is not None else p.path, cat, say)
    if json_out:
        emit_json({k: str(v) for k, v in paths.items()})
        return
    out.print(f"Report written: {paths['html']} and {paths['markdown']}", highlight=False)
    figs = [v.name for k, v in paths.items() if k not in ("html", "markdown")]
    out.print(f"Figures: {', '.join(figs)}", highlight=False)


import advisor.cli_offers  # noqa: E402  (registers `advisor offers`)
import advisor.cli_scenarios  # noqa: E402  (registers `advisor forecast`, `advisor stress`)
import advisor.cli_sweep  # noqa: E402, F401  (registers `advisor sweep`)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    # run as `python -m advisor.cli`, this file is `__main__`, and the command modules above
    # registered `offers`, `forecast`, `stress` and `sweep` on the app of `advisor.cli`, a
    # second copy: run that one ("No such command 'stress'" otherwise)
    from advisor.cli import main as _imported_main

    _imported_main()
