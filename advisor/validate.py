"""Check the roofline model against published throughput, and calibrate its efficiency factors.

``catalogs/published_benchmarks.csv`` (a copy of ``shared/benchmarks/published.csv``) holds
measured LLM serving throughput from public runs, one row a run, each with its ``source``.
:func:`validate` predicts every row with :func:`advisor.roofline.replica_performance` and
reports the error ``predicted / measured − 1`` per row and in summary. :func:`calibrate` grid-
searches one set of efficiency factors per GPU family (MBU, MFU) that minimize the median
absolute error of the offline rows, the near-ties told apart by the latency of the online
Interactive rows, a family without offline rows fit on its static batches instead (and a
global ``max_batch`` where the grid offers several; the default grid holds the engine setting
alone); it never fits a per-row constant.

Prediction of one row: ``replicas = num_gpus / tp`` replicas, each
``replica_performance(model, gpu, quant, eff, tp, input, output, tpot_slo, ttft_slo)``; the
row's predicted output tokens/s is ``replicas × output_tokens_per_s``. Offline rows have no
SLO; MLPerf server and interactive rows use the scenario's latency limits.

Run ``python -m advisor.validate`` for the report, ``--calibrate`` for the fit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from advisor.catalog import Catalog, Efficiency, load_catalog, shipped_catalog_dir
from advisor.errors import AdvisorError
from advisor.files import jsonable
from advisor.roofline import replica_performance
from advisor.units import MS_PER_S

if TYPE_CHECKING:
    from advisor.serving import LoadResult, Replica, Traffic

#: File name of the shipped benchmark table inside the catalog folder.
PUBLISHED_FILE = "published_benchmarks.csv"

#: Benchmark model names that map onto a catalog architecture (Llama 3.3 70B has its own
#: catalog entry, with Llama 3.1 70B's shapes).
#: Llama 3 8B and 70B have the shapes of Llama 3.1 8B and 70B (the same layers, heads, KV heads,
#: hidden and FFN sizes and vocabulary; Llama 3.1 extends the context from 8,192 tokens to
#: 128K with a RoPE rescaling, which the roofline does not see).
MODEL_ALIASES: dict[str, str] = {
    "llama-3-8b": "llama-3.1-8b",
    "llama-3-70b": "llama-3.1-70b",
}

#: Latency limits per scenario [ms]: (TPOT, TTFT). Offline has none. Server and interactive are
#: the MLPerf llama2-70b limits (p99) stated in shared/benchmarks/README.md: "Server limits TTFT
#: p99 2 s and TPOT p99 200 ms; Interactive limits 450 ms and 40 ms".
SCENARIO_SLOS: dict[str, tuple[float | None, float | None]] = {
    "offline": (None, None),
    "server": (200.0, 2000.0),
    "interactive": (40.0, 450.0),
}

#: Mean input length of benchmark rows that do not state one, per (suite prefix, model).
#: Empty: no sourced mean prompt length was found for the MLPerf llama2-70b task (OpenOrca,
#: prompts capped at 1,024 tokens; the MLCommons reference README states only the output,
#: "Tokens per sample: 294.45") or for the llama3.1-8b task (CNN/DailyMail). Those rows are
#: skipped as "input length not stated" rather than predicted from a guessed length.
MEAN_INPUT_TOKENS: dict[tuple[str, str], float] = {}

#: Rows of a static-batch benchmark (a batch of ``concurrency`` requests sent at once and run
#: to the end) and of a closed-loop client (``concurrency`` requests always in flight): no
#: latency limits; the serving table's latency checks at a known load.
STATIC_SCENARIO = "static-batch"
CLOSED_LOOP_SCENARIO = "closed-loop"
KNOWN_LOAD_SCENARIOS = (STATIC_SCENARIO, CLOSED_LOOP_SCENARIO)

#: Seed defaults (seed 2 §30.4/§30.6) kept by families without usable rows.
SEED_MBU = 0.70
SEED_MFU = 0.40

#: The calibration grid: MBU and MFU in steps of 0.05, and the global max_batch.
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "mbu": tuple(round(0.50 + 0.05 * i, 2) for i in range(9)),
    "mfu": tuple(round(0.30 + 0.05 * i, 2) for i in range(9)),
    # max_batch is an engine setting, not fit: fitting it over (256, 512, 1024, 2048) raised
    # the out-of-sample error under either step form (benchmarks/calibration_cv.py)
    "max_batch": (256,),
}

ROW_COLUMNS = [
    "source",
    "suite",
    "model",
    "gpu",
    "family",
    "num_gpus",
    "tp",
    "precision",
    "scenario",
    "input_tokens",
    "output_tokens",
    "predicted_output_tokens_per_s",
    "measured_output_tokens_per_s",
    "error",
    "status",
    "note",
]


def load_published(path: Path | None = None) -> pd.DataFrame:
    """Read a benchmark table (default: the shipped ``published_benchmarks.csv``).

    Raises ``AdvisorError`` when the file is missing or lacks a required column.
    """
    path = Path(path) if path is not None else shipped_catalog_dir() / PUBLISHED_FILE
    if path.is_dir():
        raise AdvisorError(f"{path}: a folder; give a benchmark CSV file.")
    try:
        # only an empty cell is blank: a written 'nan' or 'NA' is a value to refuse
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise AdvisorError(f"Benchmark file '{path}' does not exist.") from None
    except pd.errors.EmptyDataError:
        raise AdvisorError(f"{path}: empty; give a header and one measured run per line.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise AdvisorError(f"{path}: cannot be read as CSV ({exc}).") from None
    required = [
        "source",
        "suite",
        "model",
        "gpu",
        "num_gpus",
        "tp",
        "precision",
        "scenario",
        "input_tokens",
        "output_tokens",
        "output_tokens_per_s",
    ]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise AdvisorError(f"{path}: missing column(s) {', '.join(missing)}.")
    if df.empty:
        raise AdvisorError(f"{path}: no measured run under the header; add one per line.")
    _check_numbers(df, path)
    return df


#: Columns of a benchmark table that hold numbers (blank where the source states none).
NUMERIC_COLUMNS = (
    "num_gpus",
    "tp",
    "pp",
    "input_tokens",
    "output_tokens",
    "output_tokens_per_s",
    "request_rate_per_s",
    "concurrency",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tpot_mean_ms",
    "tpot_p50_ms",
    "tpot_p90_ms",
    "tpot_p99_ms",
    "ttft_limit_ms",
    "tpot_limit_ms",
)


def _check_numbers(df: pd.DataFrame, path: Path) -> None:
    """Raise ``AdvisorError`` naming the file, line and column of the first cell of a numeric
    column that is neither blank nor a finite number."""
    for col in (c for c in NUMERIC_COLUMNS if c in df.columns):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = (values.isna() & df[col].notna()) | np.isinf(values.fillna(0.0))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            cell = str(df[col].iloc[i])
            raise AdvisorError(
                f"{path}, line {i + 2}: column '{col}' holds {cell!r}, not a number; "
                "give a finite number or leave the cell blank."
            )
        low = values.fillna(1.0) <= 0
        if low.any():
            i = int(np.flatnonzero(low.to_numpy())[0])
            raise AdvisorError(
                f"{path}, line {i + 2}: column '{col}' holds {df[col].iloc[i]}; a measured "
                "count, length, rate or latency is > 0: fix it or leave the cell blank."
            )


@dataclass(frozen=True)
class _Case:
    """One usable benchmark row, resolved against the catalog."""

    index: int
    family: str
    model: str
    gpu: str
    quant: str
    tp: int
    replicas: int
    prompt: float
    completion: float
    tpot: float | None
    ttft: float | None
    measured: float
    #: how the run's GPUs joined (the row's ``interconnect``; None: the catalog GPU's link)
    link: str | None = None


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _resolve(
    catalog: Catalog, i: int, row: Mapping[str, Any], *, known_load: bool = False
) -> _Case | str:
    """Turn a row into a case, or return the reason it is skipped. ``known_load`` also takes
    static-batch and closed-loop rows (a static batch's measured throughput may be blank: a
    first-token latency)."""
    if _blank(row.get("tp")):
        return "tp not stated"
    if _blank(row.get("precision")):
        return "precision not stated"
    model = MODEL_ALIASES.get(str(row["model"]), str(row["model"]))
    if model not in catalog.models:
        return f"model '{row['model']}' not in the catalog"
    gpu_name = str(row["gpu"])
    if gpu_name not in catalog.gpus:
        return f"GPU '{gpu_name}' not in the catalog"
    gpu = catalog.gpus[gpu_name]
    precision = str(row["precision"])
    if precision not in catalog.quantizations:
        return f"precision '{precision}' not in the catalog"
    quant = catalog.quantizations[precision]
    if quant.compute_dtype not in gpu.peak_tflops:
        return f"{gpu_name} has no {quant.compute_dtype} peak in the catalog"
    scenario = str(row["scenario"]).strip().lower()
    is_known = known_load and scenario in KNOWN_LOAD_SCENARIOS
    if scenario not in SCENARIO_SLOS and not is_known:
        return f"scenario '{row['scenario']}' has no latency limits defined"
    tp = int(row["tp"])
    num_gpus = int(row["num_gpus"])
    if tp < 1 or num_gpus % tp:
        return f"num_gpus {num_gpus} is not a multiple of tp {tp}"
    if _blank(row.get("input_tokens")):
        suite = str(row["suite"])
        key = next((k for k in MEAN_INPUT_TOKENS if suite.startswith(k[0]) and k[1] == model), None)
        if key is None:
            return "input length not stated"
        prompt = MEAN_INPUT_TOKENS[key]
    else:
        prompt = float(row["input_tokens"])
    if _blank(row.get("output_tokens")):
        return "output length not stated"
    measured = _num(row.get("output_tokens_per_s"))
    if scenario != STATIC_SCENARIO and not (measured is not None and measured > 0):
        return "measured throughput is not positive"
    tpot, ttft = SCENARIO_SLOS.get(scenario, (None, None))
    return _Case(
        index=i,
        family=gpu.family,
        model=model,
        gpu=gpu_name,
        quant=precision,
        tp=tp,
        replicas=num_gpus // tp,
        prompt=prompt,
        completion=float(row["output_tokens"]),
        tpot=tpot,
        ttft=ttft,
        measured=math.nan if measured is None else measured,
        link=None if _blank(row.get("interconnect")) else str(row["interconnect"]).lower(),
    )


def _predict(catalog: Catalog, case: _Case, eff: Efficiency) -> tuple[float, str]:
    """Predicted output tokens/s of the row's whole system, and a note when infeasible."""
    perf = replica_performance(
        catalog.models[case.model],
        catalog.gpu_in_group(case.gpu, case.tp, case.link),
        catalog.quantizations[case.quant],
        eff,
        case.tp,
        case.prompt,
        case.completion,
        case.tpot,
        case.ttft,
    )
    if not perf.feasible:
        # A measured run the model calls impossible is a model error: predicted 0 (error −100%).
        return 0.0, f"model predicts infeasible: {perf.reason}"
    return case.replicas * perf.output_tokens_per_s, ""


@dataclass(frozen=True)
class ValidationResult:
    """Per-row predictions against measurements, and the error summary of the used rows."""

    rows: pd.DataFrame
    median_abs_error: float
    p90_abs_error: float
    n_used: int
    by_family: dict[str, float]

    @property
    def n_skipped(self) -> int:
        return int(len(self.rows) - self.n_used)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (NaN becomes None)."""
        records = []
        for rec in self.rows.to_dict(orient="records"):
            records.append({k: jsonable(v) for k, v in rec.items()})
        return {
            "rows": records,
            "median_abs_error": jsonable(self.median_abs_error),
            "p90_abs_error": jsonable(self.p90_abs_error),
            "n_used": self.n_used,
            "n_skipped": self.n_skipped,
            "by_family": {k: jsonable(v) for k, v in self.by_family.items()},
        }


def _summary(abs_err: Sequence[float]) -> tuple[float, float]:
    if len(abs_err) == 0:
        return math.nan, math.nan
    a = np.asarray(abs_err, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 90))


def validate(catalog: Catalog, rows: pd.DataFrame | None = None) -> ValidationResult:
    """Predict every benchmark row with the catalog's efficiency factors and compare.

    Parameters
    ----------
    catalog
        The catalog whose GPUs, models, quantizations and efficiency factors are used.
    rows
        A benchmark table (columns as in ``published_benchmarks.csv``); the shipped one when
        omitted.
    """
    df = load_published() if rows is None else rows
    out = []
    for i, row in enumerate(df.to_dict(orient="records")):
        rec = {
            "source": row.get("source"),
            "suite": row.get("suite"),
            "model": row.get("model"),
            "gpu": row.get("gpu"),
            "family": catalog.gpus[row["gpu"]].family if row.get("gpu") in catalog.gpus else None,
            "num_gpus": row.get("num_gpus"),
            "tp": row.get("tp"),
            "precision": row.get("precision"),
            "scenario": row.get("scenario"),
            "input_tokens": row.get("input_tokens"),
            "output_tokens": row.get("output_tokens"),
            "predicted_output_tokens_per_s": math.nan,
            "measured_output_tokens_per_s": float(row.get("output_tokens_per_s", math.nan)),
            "error": math.nan,
            "status": "",
            "note": "",
        }
        case = _resolve(catalog, i, row)
        if isinstance(case, str):
            rec["status"] = f"skipped: {case}"
        else:
            pred, note = _predict(catalog, case, catalog.efficiency[case.family])
            rec["input_tokens"] = case.prompt
            rec["predicted_output_tokens_per_s"] = pred
            rec["error"] = pred / case.measured - 1.0
            rec["status"] = "ok"
            rec["note"] = note
        out.append(rec)
    table = pd.DataFrame(out, columns=ROW_COLUMNS)
    used = table[table["status"] == "ok"]
    med, p90 = _summary(used["error"].abs().tolist())
    by_family = {
        str(fam): float(np.median(g["error"].abs())) for fam, g in used.groupby("family", sort=True)
    }
    return ValidationResult(
        rows=table, median_abs_error=med, p90_abs_error=p90, n_used=len(used), by_family=by_family
    )


def with_efficiency(catalog: Catalog, updates: Mapping[str, Mapping[str, Any]]) -> Catalog:
    """A copy of ``catalog`` whose efficiency entries are updated per family."""
    eff = dict(catalog.efficiency)
    for family, fields in updates.items():
        eff[family] = eff[family].model_copy(update=dict(fields))
    return dataclasses.replace(catalog, efficiency=eff)


def calibrate(
    catalog: Catalog,
    rows: pd.DataFrame | None = None,
    grid: Mapping[str, Sequence[float]] = DEFAULT_GRID,
    online: pd.DataFrame | None = None,
    static: pd.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:
    """Grid-search MBU and MFU per GPU family and one global ``max_batch``.

    Stage 1 (offline rows): for each ``max_batch`` in the grid, each family gets the (MBU, MFU)
    pair minimizing the median absolute error of its own rows; the ``max_batch`` whose fitted
    families give the lowest overall median absolute error wins. Stage 2 (online rows): large
    offline batches are compute-bound, so the offline rows hardly tell MBU values apart; among
    the pairs whose offline median is within ``MBU_TIE_TOLERANCE`` of the family's best, the
    pair whose simulated mean TPOT at the measured rate of the family's Interactive runs
    (``online``, by default :func:`online_calibration_rows`: small batches, where the step is
    memory-bound) is closest to the measured one (median absolute error) wins. Ties in either
    stage go to the factors closest to the seed defaults. A family without offline rows is fit
    on its static batches instead (``static``, by default :func:`static_calibration_rows`: a
    batch sent at once, a known load): the (MBU, MFU) whose simulated time to finish each batch
    is closest to the measured one (median absolute error); its closed loops, a different
    engine, stay out of every fit. Families with neither keep the seed defaults (MBU 0.70,
    MFU 0.40); ``max_batch`` (an engine setting, not a hardware property) is global and applies
    to every family.

    Returns ``{family: {"mbu", "mfu", "max_batch", "calibrated", "fit_on", "n_rows",
    "n_online_rows", "median_abs_error", "p90_abs_error"}}``: ``fit_on`` is ``offline``,
    ``static-batch`` or ``seed``; the errors are those of the rows fit on (NaN for ``seed``).
    """
    cases = _family_cases(catalog, calibration_rows() if rows is None else rows)
    best_total: tuple[float, int, dict[str, list[_Fit]]] | None = None
    for max_batch in grid["max_batch"]:
        fits = {
            family: _offline_fits(catalog, fam_cases, grid, int(max_batch))
            for family, fam_cases in cases.items()
        }
        chosen = [min(f, key=_Fit.key).err for f in fits.values()]
        all_err = np.concatenate(chosen) if chosen else np.array([])
        total = float(np.median(np.abs(all_err))) if len(all_err) else math.inf
        if best_total is None or total < best_total[0]:
            best_total = (total, int(max_batch), fits)

    assert best_total is not None
    _, max_batch, fits = best_total
    online_rows = online_calibration_rows() if online is None else online
    static_rows = static_calibration_rows() if static is None else static
    result: dict[str, dict[str, Any]] = {}
    for family in sorted(catalog.efficiency):
        n_online, fit_on = 0, "offline"
        if family in fits:
            fit, n_online = _online_tie_break(catalog, family, fits[family], online_rows, max_batch)
        else:
            fit, fit_on = _static_fit(catalog, family, static_rows, grid, max_batch), "static-batch"
        if fit is None:
            result[family] = {
                "mbu": SEED_MBU,
                "mfu": SEED_MFU,
                "max_batch": max_batch,
                "calibrated": False,
                "fit_on": "seed",
                "n_rows": 0,
                "n_online_rows": 0,
                "median_abs_error": math.nan,
                "p90_abs_error": math.nan,
            }
            continue
        med, p90 = _summary(np.abs(fit.err).tolist())
        result[family] = {
            "mbu": fit.mbu,
            "mfu": fit.mfu,
            "max_batch": max_batch,
            "calibrated": True,
            "fit_on": fit_on,
            "n_rows": len(fit.err),
            "n_online_rows": n_online,
            "median_abs_error": med,
            "p90_abs_error": p90,
        }
    return result


def _static_fit(
    catalog: Catalog,
    family: str,
    static: pd.DataFrame,
    grid: Mapping[str, Sequence[float]],
    max_batch: int,
) -> _Fit | None:
    """The (MBU, MFU) of the grid whose simulated time to finish each of the family's static
    batches is closest to the measured one (median |error|; ties to the seed); None without
    such rows."""
    gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
    rows = static[static["gpu"].isin(gpus)]
    if rows.empty:
        return None
    fits = []
    for mbu in grid["mbu"]:
        for mfu in grid["mfu"]:
            update = {"mbu": float(mbu), "mfu": float(mfu), "max_batch": max_batch}
            table = validate_serving(with_efficiency(catalog, {family: update}), rows)["rows"]
            err = table.loc[table["status"] == "ok", "latency_error"].dropna().to_numpy(float)
            if len(err):
                fits.append(_Fit(float(np.median(np.abs(err))), float(mbu), float(mfu), err))
    return min(fits, key=_Fit.key) if fits else None


def _family_cases(catalog: Catalog, rows: pd.DataFrame) -> dict[str, list[_Case]]:
    """The usable rows of ``rows`` as cases, per GPU family."""
    cases: dict[str, list[_Case]] = {}
    for i, row in enumerate(rows.to_dict(orient="records")):
        case = _resolve(catalog, i, row)
        if not isinstance(case, str):
            cases.setdefault(case.family, []).append(case)
    return cases


def offline_ties(
    catalog: Catalog, max_batch: int, rows: pd.DataFrame | None = None
) -> dict[str, list[tuple[float, float, float]]]:
    """Stage 1 of :func:`calibrate` at one ``max_batch``: per family with offline rows, the
    (MBU, MFU, median |error|) grid points within ``MBU_TIE_TOLERANCE`` of its best, the pairs
    stage 2 chooses among (``benchmarks/low_load_mbu.py``)."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    cases = _family_cases(catalog, calibration_rows() if rows is None else rows)
    for family, fam_cases in sorted(cases.items()):
        fits = _offline_fits(catalog, fam_cases, DEFAULT_GRID, max_batch)
        out[family] = [(f.mbu, f.mfu, f.median) for f in _ties(fits)]
    return out


#: Stage 2 of :func:`calibrate`: (MBU, MFU) pairs whose offline median |error| is within this
#: of the family's best are told apart by the online rows (0.005: half a percentage point).
MBU_TIE_TOLERANCE = 0.005


@dataclass(frozen=True)
class _Fit:
    """One grid point of a family's offline fit: its median |error| and its errors."""

    median: float
    mbu: float
    mfu: float
    err: np.ndarray

    def seed_distance(self) -> float:
        return abs(self.mbu - SEED_MBU) + abs(self.mfu - SEED_MFU)

    def key(self) -> tuple[float, float]:
        # Ties: the factors closest to the seed defaults win (stable, explainable).
        return (self.median, self.seed_distance())


def _offline_fits(
    catalog: Catalog, cases: Sequence[_Case], grid: Mapping[str, Sequence[float]], max_batch: int
) -> list[_Fit]:
    """Every (MBU, MFU) of the grid at ``max_batch``, with its errors on the family's rows."""
    base = catalog.efficiency[cases[0].family]
    fits = []
    for mbu in grid["mbu"]:
        for mfu in grid["mfu"]:
            eff = base.model_copy(
                update={"mbu": float(mbu), "mfu": float(mfu), "max_batch": max_batch}
            )
            err = np.array([_predict(catalog, c, eff)[0] / c.measured - 1.0 for c in cases])
            fits.append(_Fit(float(np.median(np.abs(err))), float(mbu), float(mfu), err))
    return fits


def _ties(fits: Sequence[_Fit]) -> list[_Fit]:
    """The fits whose offline median is within ``MBU_TIE_TOLERANCE`` of the best one's."""
    best = min(f.median for f in fits)
    return [f for f in fits if f.median <= best + MBU_TIE_TOLERANCE]


def _online_tie_break(
    catalog: Catalog, family: str, fits: Sequence[_Fit], online: pd.DataFrame, max_batch: int
) -> tuple[_Fit, int]:
    """Stage 2 of :func:`calibrate`: the offline fit within ``MBU_TIE_TOLERANCE`` of the best
    whose TPOT at the measured rate of the family's online rows is closest; and their count."""
    best = min(fits, key=_Fit.key)
    gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
    rows = online[online["gpu"].isin(gpus)]
    ties = _ties(fits)
    if rows.empty or len(ties) < 2:
        return best, len(rows)
    base = catalog.efficiency[family]

    def online_error(fit: _Fit) -> tuple[float, float]:
        eff = base.model_copy(update={"mbu": fit.mbu, "mfu": fit.mfu, "max_batch": max_batch})
        errs = [_tpot_error_at_measured_rate(catalog, r, eff) for r in rows.to_dict("records")]
        used = [e for e in errs if e is not None]
        return (float(np.median(np.abs(used))) if used else math.inf, fit.seed_distance())

    return min(ties, key=online_error), len(rows)


def apply_calibration(catalog: Catalog, values: Mapping[str, Mapping[str, Any]]) -> Catalog:
    """A catalog whose efficiency table carries the calibrated MBU, MFU and max_batch."""
    return with_efficiency(
        catalog,
        {
            fam: {"mbu": v["mbu"], "mfu": v["mfu"], "max_batch": int(v["max_batch"])}
            for fam, v in values.items()
        },
    )


def _pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def _print_result(res: ValidationResult) -> None:
    cols = ["model", "gpu", "num_gpus", "tp", "precision", "scenario", "input_tokens"]
    cols += ["output_tokens", "predicted_output_tokens_per_s", "measured_output_tokens_per_s"]
    cols += ["error", "status"]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(res.rows[cols].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print()
    print(f"rows used {res.n_used}, skipped {res.n_skipped}")
    print(f"median |error| {_pct(res.median_abs_error)}, p90 |error| {_pct(res.p90_abs_error)}")
    for fam, v in res.by_family.items():
        print(f"  {fam}: median |error| {_pct(v)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m advisor.validate",
        description="Compare the roofline model with published throughput; optionally calibrate.",
    )
    parser.add_argument("--catalog", action="append", default=[], help="extra catalog folder")
    parser.add_argument("--benchmarks", type=Path, default=None, help="benchmark CSV")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help=(
            "grid-search MBU/MFU per family and max_batch on the offline rows (no pipeline "
            "parallelism, no holdout) of --benchmarks, by default of the measured serving runs "
            "(catalogs/published_serving_runs.csv), the near-ties told apart by the TPOT of "
            "its Interactive rows, a family without offline rows fit on its static batches: "
            "the fit the shipped factors come from"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.catalog)
        if args.calibrate:
            # the rows the shipped factors were fit on (``calibration_rows``), of the given
            # file or of the serving runs; never the older 62-row table by default
            given = None if args.benchmarks is None else load_published(args.benchmarks)
            rows = calibration_rows(given)
            before = validate(catalog, rows)
            online = None if given is None else online_calibration_rows(given)
            static = None if given is None else static_calibration_rows(given)
            values = calibrate(catalog, rows, online=online, static=static)
            after = validate(apply_calibration(catalog, values), rows)
            if args.json:
                print(
                    json.dumps(
                        {
                            "values": {
                                f: {k: jsonable(x) for k, x in v.items()} for f, v in values.items()
                            },
                            "before": {k: v for k, v in before.as_dict().items() if k != "rows"},
                            "after": after.as_dict(),
                        },
                        indent=2,
                    )
                )
                return 0
            print(
                f"before: median |error| {_pct(before.median_abs_error)}, "
                f"p90 {_pct(before.p90_abs_error)} over {before.n_used} rows"
            )
            print("chosen values (one set per GPU family):")
            for fam, v in values.items():
                tag = {
                    "offline": "fit on offline rows",
                    "static-batch": "no offline row; fit on its static batches",
                }.get(v["fit_on"], "no usable rows; seed defaults")
                print(
                    f"  {fam:10s} mbu {v['mbu']:.2f}  mfu {v['mfu']:.2f}  "
                    f"max_batch {v['max_batch']:5d}  rows {v['n_rows']:3d}  "
                    f"interactive rows {v['n_online_rows']:2d}  "
                    f"median |error| {_pct(v['median_abs_error'])}  "
                    f"p90 {_pct(v['p90_abs_error'])}  ({tag})"
                )
            print()
            _print_result(after)
        else:
            res = validate(catalog, load_published(args.benchmarks))
            if args.json:
                print(json.dumps(res.as_dict(), indent=2))
            else:
                _print_result(res)
    except AdvisorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


# --- the serving model against measured runs (issue #14) -------------------------------------

#: The measured serving runs: a superset of ``published_benchmarks.csv`` with pipeline degree,
#: request rates, latency statistics and KV dtype.
SERVING_RUNS_FILE = "published_serving_runs.csv"
#: NVIDIA TensorRT-LLM perf-overview tables of releases v0.14-v0.17 are kept out of every fit:
#: they are reserved for an independent check.
HOLDOUT_PATTERN = r"(?i)v0\.1[4-7]"

SERVING_COLUMNS = [
    "source",
    "suite",
    "model",
    "gpu",
    "family",
    "num_gpus",
    "tp",
    "precision",
    "scenario",
    "input_tokens",
    "output_tokens",
    "holdout",
    "measured_output_tokens_per_s",
    "predicted_output_tokens_per_s",
    "throughput_error",
    "measured_rate_per_replica",
    "measured_tpot_mean_ms",
    "predicted_tpot_mean_ms",
    "tpot_error",
    "measured_ttft_p99_ms",
    "predicted_ttft_p99_ms",
    "ttft_error",
    "measured_ttft_mean_ms",
    "predicted_ttft_mean_ms",
    "ttft_mean_error",
    "measured_concurrency_per_replica",
    "predicted_tpot_at_concurrency_ms",
    "tpot_at_concurrency_error",
    "throughput_at_concurrency_error",
    "batch",
    "measured_latency_ms",
    "predicted_latency_ms",
    "latency_error",
    "status",
]


def shipped_runs_path() -> Path:
    """The shipped measured serving runs (``advisor validate``'s default ``--benchmarks``)."""
    return shipped_catalog_dir() / SERVING_RUNS_FILE


def load_serving_runs(path: Path | None = None) -> pd.DataFrame:
    """The shipped measured serving runs (or ``path``), read like ``load_published``."""
    return load_published(path if path is not None else shipped_runs_path())


def _num(v: Any) -> float | None:
    return None if _blank(v) else float(v)


@dataclass(frozen=True)
class RateProbe:
    """How an online run's latency at its measured rate is simulated: at ``rate_scale`` times
    that rate; with ``batch_at_tpot_limit``, on an engine whose batch limit is the largest
    batch whose mean-value step meets the run's TPOT limit (``tpot_limit_ms``, else the
    scenario's), at most ``max_batch``, as an operator sizes it, instead of ``max_batch``."""

    rate_scale: float = 1.0
    batch_at_tpot_limit: bool = False


def validate_serving(
    catalog: Catalog,
    rows: pd.DataFrame | None = None,
    *,
    capacity_model: str = "simulated",
    rate_scale: float = 1.0,
    batch_at_tpot_limit: bool = False,
) -> dict[str, Any]:
    """Predict every measured run with the serving model and compare.

    Offline rows: the replicas' offline throughput (the saturation throughput of the step
    model in steady state) against the measured output tokens/s.

    Online rows (MLPerf Server / Interactive, Poisson arrivals): (1) throughput at the measured
    latency: the SLO capacity with the run's measured p99 TTFT and p99 TPOT as limits, against
    the measured output tokens/s; (2) latency at the measured rate: mean TPOT and p99 TTFT of a
    simulated run at the measured requests/s per replica, against the measured statistics.

    Rows at a known load (simulated with either capacity model): static batches (the time to
    finish the batch, its first token and its mean TPOT: :func:`advisor.serving.static_batch`)
    and closed-loop clients (output tokens/s, mean TTFT and mean TPOT at the measured
    concurrency: :func:`advisor.serving.closed_loop`).

    Returns ``{"rows": DataFrame, "summary": {...}}``; the summary gives median and p90 of the
    absolute errors overall and per GPU family, and the online ones per scenario (with the
    signed medians), for the calibration rows and the holdout.
    ``rate_scale`` simulates (2) at that multiple of the measured rate instead (how much the
    latency at a rate moves with the rate: ``benchmarks/online_latency_conditioning.py``);
    ``batch_at_tpot_limit`` simulates it on an engine with its batch sized to the run's TPOT
    limit (:class:`RateProbe`; the same script).
    """
    df = load_serving_runs() if rows is None else rows
    probe = RateProbe(rate_scale, batch_at_tpot_limit)
    out = [
        _serving_record(catalog, i, row, capacity_model, probe)
        for i, row in enumerate(df.to_dict(orient="records"))
    ]
    table = pd.DataFrame(out, columns=SERVING_COLUMNS)
    return {"rows": table, "summary": _serving_summary(table)}


def _serving_record(
    catalog: Catalog, i: int, row: Mapping[str, Any], capacity_model: str, probe: RateProbe
) -> dict[str, Any]:
    """Run ``i``'s row of the serving table: its prediction and errors, or why it is skipped."""
    from advisor.serving import Traffic

    gpu = catalog.gpus.get(str(row.get("gpu")))
    rec: dict[str, Any] = {c: row.get(c) for c in SERVING_COLUMNS if c in row}
    rec.update(
        family=gpu.family if gpu else None,
        holdout=bool(pd.Series([str(row.get("suite"))]).str.contains(HOLDOUT_PATTERN)[0]),
        measured_output_tokens_per_s=_num(row.get("output_tokens_per_s")),
        status="",
    )
    case = _resolve(catalog, i, row, known_load=True)
    pp = _num(row.get("pp"))
    if isinstance(case, str):
        rec["status"] = f"skipped: {case}"
        return rec
    if pp is not None and pp > 1:
        rec["status"] = "skipped: pipeline parallelism is not modelled"
        return rec
    rep = _replica(catalog, case, row, catalog.efficiency[case.family])
    traffic = Traffic(case.prompt, case.completion)
    scenario = str(row["scenario"]).strip().lower()
    if scenario in KNOWN_LOAD_SCENARIOS:
        rec["input_tokens"] = case.prompt
        known = _static_batch_latency if scenario == STATIC_SCENARIO else _closed_loop_latency
        rec.update(known(rep, traffic, case, row))
        return rec
    try:
        pred = _replica_output_tokens_per_s(
            rep, traffic, scenario, row, case.replicas, rec, capacity_model, probe
        )
    except ValueError as exc:
        rec["status"] = f"skipped: {exc}"
        return rec
    rec["input_tokens"] = case.prompt
    rec["predicted_output_tokens_per_s"] = case.replicas * pred
    rec["throughput_error"] = case.replicas * pred / case.measured - 1.0
    rec["status"] = "ok"
    return rec


def _static_batch_latency(
    rep: Replica, traffic: Traffic, case: _Case, row: Mapping[str, Any]
) -> dict[str, Any]:
    """A static-batch row: the simulated time to finish its whole batch against the measured
    one (batch × output tokens over the measured output tokens/s; for a one-token run, its
    measured TTFT), and its first-token and token-to-token latency where measured; or why it
    is skipped."""
    from advisor.serving import static_batch

    batch = _count(row)
    if batch is None:
        return {"status": "skipped: static batch size (concurrency) not a positive whole number"}
    if case.replicas != 1:
        return {"status": "skipped: a static batch spread over several replicas is not modelled"}
    tokens = batch * case.completion
    ttft = _num(row.get("ttft_mean_ms"))
    if case.measured > 0:
        measured_ms = tokens / case.measured * MS_PER_S
    elif case.completion == 1 and ttft:
        measured_ms = ttft
    else:
        return {"status": "skipped: no measured throughput or first-token latency"}
    try:
        res = static_batch(rep, traffic, batch)
    except ValueError as exc:
        return {"status": f"skipped: {exc}"}
    predicted_ms = tokens / res.output_tokens_per_s * MS_PER_S
    return {
        "batch": batch,
        "measured_latency_ms": measured_ms,
        "predicted_latency_ms": predicted_ms,
        "latency_error": predicted_ms / measured_ms - 1.0,
        **_mean_latency_errors(res, row),
        "status": "ok",
    }


def _closed_loop_latency(
    rep: Replica, traffic: Traffic, case: _Case, row: Mapping[str, Any]
) -> dict[str, Any]:
    """A closed-loop row (``concurrency`` clients, each sending its next request when the last
    ends): the simulated output tokens/s, mean TTFT and mean TPOT at that concurrency per
    replica against the measured ones; or why it is skipped."""
    from advisor.serving import closed_loop

    clients = _count(row)
    if clients is None:
        return {"status": "skipped: client concurrency not a positive whole number"}
    if clients % case.replicas:
        return {"status": "skipped: the clients do not split evenly over the replicas"}
    try:
        res = closed_loop(rep, traffic, clients // case.replicas)
    except ValueError as exc:
        return {"status": f"skipped: {exc}"}
    predicted = case.replicas * res.output_tokens_per_s
    return {
        "batch": clients,
        "predicted_output_tokens_per_s": predicted,
        "throughput_error": predicted / case.measured - 1.0,
        **_mean_latency_errors(res, row),
        "status": "ok",
    }


def _count(row: Mapping[str, Any]) -> int | None:
    """The row's ``concurrency`` (a static batch's size, a closed loop's clients) where it is a
    positive whole number, else None."""
    n = _num(row.get("concurrency"))
    return int(n) if n is not None and n >= 1 and n == int(n) else None


def _mean_latency_errors(res: LoadResult, row: Mapping[str, Any]) -> dict[str, Any]:
    """Simulated mean TTFT and mean TPOT of ``res`` against the row's measured ones (each
    where measured)."""
    out: dict[str, Any] = {
        "predicted_ttft_mean_ms": res.ttft_ms["mean"],
        "predicted_tpot_mean_ms": res.tpot_ms["mean"],
    }
    ttft, tpot = _num(row.get("ttft_mean_ms")), _num(row.get("tpot_mean_ms"))
    if ttft:
        out.update(measured_ttft_mean_ms=ttft, ttft_mean_error=res.ttft_ms["mean"] / ttft - 1)
    if tpot and not math.isnan(res.tpot_ms["mean"]):
        out.update(measured_tpot_mean_ms=tpot, tpot_error=res.tpot_ms["mean"] / tpot - 1)
    return out


def _replica(catalog: Catalog, case: _Case, row: Mapping[str, Any], eff: Efficiency) -> Replica:
    """The replica a run's row describes, with the efficiency factors ``eff``."""
    from advisor.serving import Replica

    gpu = catalog.gpu_in_group(case.gpu, case.tp, case.link)
    kv = "fp8" if str(row.get("kv_dtype")).lower() == "fp8" and gpu.has_fp8 else "auto"
    return Replica(
        catalog.models[case.model], gpu, catalog.quantizations[case.quant], eff, case.tp, kv
    )


def run_replica(catalog: Catalog, row: Mapping[str, Any]) -> tuple[Replica, Traffic, int] | None:
    """The replica (with its family's efficiency factors), the traffic (mean lengths) and the
    number of replicas a measured run's row describes; None where the row cannot be modelled
    (``advisor validate --json`` gives each such row's reason)."""
    from advisor.serving import Traffic

    case = _resolve(catalog, 0, row, known_load=True)
    if isinstance(case, str):
        return None
    rep = _replica(catalog, case, row, catalog.efficiency[case.family])
    return rep, Traffic(case.prompt, case.completion), case.replicas


def _tpot_error_at_measured_rate(
    catalog: Catalog, row: Mapping[str, Any], eff: Efficiency
) -> float | None:
    """Simulated mean TPOT at an online row's measured rate per replica over its measured mean
    TPOT, minus 1; None where the row has no rate or TPOT, or the replica does not fit."""
    from advisor.serving import Traffic

    case = _resolve(catalog, 0, row)
    tpot = _num(row.get("tpot_mean_ms"))
    if isinstance(case, str) or not tpot:
        return None
    rep, traffic = _replica(catalog, case, row, eff), Traffic(case.prompt, case.completion)
    try:
        got = _at_measured_rate(rep, traffic, row, case.replicas)
    except ValueError:
        return None
    return None if got is None else got[1].tpot_ms["mean"] / tpot - 1.0


def _at_measured_rate(
    rep: Replica, traffic: Traffic, row: Mapping[str, Any], replicas: int, scale: float = 1.0
) -> tuple[float, LoadResult] | None:
    """An online row's measured requests/s per replica and the replica simulated at ``scale``
    times it; None where the row states no rate."""
    from advisor.serving import simulate

    rate = _num(row.get("request_rate_per_s"))
    if not rate:
        return None
    per = rate / replicas
    return per, simulate(rep, traffic, per * scale)


def _replica_output_tokens_per_s(
    rep: Replica,
    traffic: Traffic,
    scenario: str,
    row: Mapping[str, Any],
    replicas: int,
    rec: dict[str, Any],
    capacity_model: str,
    probe: RateProbe = RateProbe(),
) -> float:
    """One replica's predicted output tokens/s for the run; for an online run the simulated
    model also records its predicted latency at the measured rate in ``rec``."""
    from advisor.serving import SLO, slo_capacity

    if scenario == "offline":
        # the saturation throughput of the simulated replica is the steady-state
        # maximum of the same step model (tests/test_serving.py checks it), so both
        # capacity models predict an offline run with it
        return slo_capacity(rep, traffic, SLO(), "roofline").output_tokens_per_s
    ttft, tpot = _num(row.get("ttft_p99_ms")), _num(row.get("tpot_p99_ms"))
    lim_tpot, lim_ttft = SCENARIO_SLOS.get(scenario, (None, None))
    slo = SLO(ttft or lim_ttft, tpot or lim_tpot, "p99")
    cap = slo_capacity(rep, traffic, slo, capacity_model)
    pred = cap.output_tokens_per_s if cap.feasible else 0.0
    if capacity_model != "simulated" or not cap.fits:
        return pred
    rec.update(_at_measured_concurrency(rep, traffic, row, replicas))
    if probe.batch_at_tpot_limit:
        rep = _batch_at_tpot_limit(rep, traffic, _num(row.get("tpot_limit_ms")) or lim_tpot)
    got = _at_measured_rate(rep, traffic, row, replicas, probe.rate_scale)
    if got is None:
        return pred
    per, res = got
    rec["measured_rate_per_replica"] = per
    rec["predicted_tpot_mean_ms"] = res.tpot_ms["mean"]
    rec["predicted_ttft_p99_ms"] = res.ttft_ms["p99"]
    rec["measured_tpot_mean_ms"] = _num(row.get("tpot_mean_ms"))
    rec["measured_ttft_p99_ms"] = ttft
    if rec["measured_tpot_mean_ms"]:
        rec["tpot_error"] = res.tpot_ms["mean"] / rec["measured_tpot_mean_ms"] - 1
    if ttft:
        rec["ttft_error"] = res.ttft_ms["p99"] / ttft - 1
    return pred


def _at_measured_concurrency(
    rep: Replica, traffic: Traffic, row: Mapping[str, Any], replicas: int
) -> dict[str, Any]:
    """An online run at its measured load: the requests in flight per replica, by Little's
    law from the run's own figures (requests/s per replica × mean time from arrival to the
    last token, ``mean TTFT + (completion − 1) × mean TPOT``), held as a closed loop of as
    many clients on an engine whose batch limit holds them all (the measured engine held
    them; the token budget grows by the same, so prefill keeps the room the shipped engine
    leaves it). The simulated mean TPOT and requests/s against the measured ones: latency
    and throughput where the load is known, which the latency at the measured rate (at the
    knee of the curve, where a few percent of capacity moves latency by tens of percent) is
    not. Empty where the row lacks a rate, a mean TTFT or a mean TPOT."""
    from advisor.serving import closed_loop

    rate, ttft, tpot = (
        _num(row.get(c)) for c in ("request_rate_per_s", "ttft_mean_ms", "tpot_mean_ms")
    )
    if not (rate and ttft and tpot):
        return {}
    per = rate / replicas
    load = in_flight(per, ttft, tpot, traffic.completion_tokens)
    clients = max(1, round(load))
    res = closed_loop(holding(rep, clients), traffic, clients)
    return {
        "measured_concurrency_per_replica": load,
        "predicted_tpot_at_concurrency_ms": res.tpot_ms["mean"],
        "tpot_at_concurrency_error": res.tpot_ms["mean"] / tpot - 1.0,
        "throughput_at_concurrency_error": res.requests_per_s / per - 1.0,
    }


def in_flight(rate_rps: float, ttft_ms: float, tpot_ms: float, completion_tokens: float) -> float:
    """Requests in flight at ``rate_rps`` by Little's law: the rate times the mean time from
    arrival to the last token, ``mean TTFT + (completion − 1) × mean TPOT``."""
    return rate_rps * (ttft_ms + (completion_tokens - 1.0) * tpot_ms) / MS_PER_S


def holding(rep: Replica, sequences: int) -> Replica:
    """``rep`` on an engine whose batch limit holds ``sequences`` (raised where it is lower;
    the token budget grows by as much, so prefill keeps the room the engine leaves it)."""
    eff = rep.eff
    grow = max(0, sequences - eff.max_batch)
    update = {
        "max_batch": eff.max_batch + grow,
        "max_num_batched_tokens": eff.max_num_batched_tokens + grow,
    }
    return dataclasses.replace(rep, eff=eff.model_copy(update=update))


def _batch_at_tpot_limit(rep: Replica, traffic: Traffic, tpot_limit_ms: float | None) -> Replica:
    """``rep`` with its batch limit the largest batch (at most its ``max_batch``) whose
    mean-value step meets ``tpot_limit_ms`` (unchanged without a limit or where none does)."""
    if tpot_limit_ms is None:
        return rep
    perf = replica_performance(
        rep.model, rep.gpu, rep.quant, rep.eff, rep.tp, traffic.prompt_tokens,
        traffic.completion_tokens, tpot_limit_ms, None, kv_dtype=rep.kv_dtype,
    )  # fmt: skip
    if not perf.meets_slo:
        return rep
    return dataclasses.replace(rep, eff=rep.eff.model_copy(update={"max_batch": perf.batch}))


def _stats(errors: pd.Series) -> dict[str, Any]:
    """Count, median and 90th percentile of the absolute errors, and the signed median (the
    direction of a bias)."""
    e = errors.dropna().astype(float)
    if e.empty:
        return {"n": 0, "median": None, "p90": None, "signed_median": None}
    a = e.abs()
    return {
        "n": len(a),
        "median": float(a.median()),
        "p90": float(np.percentile(a, 90)),
        "signed_median": float(e.median()),
    }


def _online_stats(rows: pd.DataFrame) -> dict[str, Any]:
    """The online errors of ``rows`` (online runs only)."""
    return {
        "online_throughput_at_measured_latency": _stats(rows["throughput_error"]),
        "online_tpot_at_measured_rate": _stats(rows["tpot_error"]),
        "online_ttft_p99_at_measured_rate": _stats(rows["ttft_error"]),
        "online_tpot_at_measured_concurrency": _stats(rows["tpot_at_concurrency_error"]),
        "online_throughput_at_measured_concurrency": _stats(
            rows["throughput_at_concurrency_error"]
        ),
    }


def online_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs at a measured rate (MLPerf Server/Interactive and the like): neither
    offline nor at a known load."""
    kind = rows["scenario"].str.lower()
    return rows[(kind != "offline") & ~kind.isin(KNOWN_LOAD_SCENARIOS)]


def _family_stats(rows: pd.DataFrame) -> dict[str, Any]:
    """The offline, online and known-load errors of ``rows`` (all of them, or a family's)."""
    kind = rows["scenario"].str.lower()
    static = rows[kind == STATIC_SCENARIO]
    closed = rows[kind == CLOSED_LOOP_SCENARIO]
    return {
        "offline_throughput": _stats(rows[kind == "offline"]["throughput_error"]),
        **_online_stats(online_rows(rows)),
        "static_batch_latency": _stats(static["latency_error"]),
        "static_batch_ttft": _stats(static["ttft_mean_error"]),
        "static_batch_tpot": _stats(static["tpot_error"]),
        "closed_loop_throughput": _stats(closed["throughput_error"]),
        "closed_loop_ttft": _stats(closed["ttft_mean_error"]),
        "closed_loop_tpot": _stats(closed["tpot_error"]),
    }


def _serving_summary(table: pd.DataFrame) -> dict[str, Any]:
    ok = table[table["status"] == "ok"]
    summary: dict[str, Any] = {"n_rows": len(table), "n_used": len(ok)}
    for part, sel in (("calibration", ~ok["holdout"]), ("holdout", ok["holdout"])):
        rows = ok[sel]
        online = online_rows(rows)
        summary[part] = {
            **_family_stats(rows),
            "by_family": {
                str(fam): _family_stats(g) for fam, g in rows.groupby("family", sort=True)
            },
            # the online errors per MLPerf scenario (Server: p99 TPOT 200 ms for llama2-70b;
            # Interactive: 40 ms), overall and per family
            "by_scenario": {
                str(scen): {
                    **_online_stats(g),
                    "by_family": {str(f): _online_stats(gf) for f, gf in g.groupby("family")},
                }
                for scen, g in online.groupby(online["scenario"].str.lower(), sort=True)
            },
        }
    return summary


#: what ``capacity_error_yaml`` writes as each entry's source ({runs}: the runs file)
ERROR_TABLE_SOURCE = (
    "advisor validate --error-table: the serving model and efficiency factors on {runs} "
    "(calibration rows, not the holdout)"
)
#: the runs file the shipped error table is computed on
SHIPPED_RUNS = "catalogs/published_serving_runs.csv"


def capacity_error_entries(catalog: Catalog, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per catalog GPU type, the serving model's |error| on the measured runs of that type
    (``validate_serving``'s ``rows``, calibration rows): offline throughput, throughput at
    the measured latency of the online runs and their mean TPOT at their measured load, and
    at a known load the static batches' latency and the closed loops' throughput. GPU types
    without a run get zero counts: what a plan cites beside each deployment's capacity
    (``Catalog.capacity_error``)."""
    ok = table[(table["status"] == "ok") & ~table["holdout"]]
    kind = ok["scenario"].str.lower()
    parts = (  # (prefix, rows, error column)
        ("offline", ok[kind == "offline"], "throughput_error"),
        ("online", online_rows(ok), "throughput_error"),
        ("online_tpot_at_load", online_rows(ok), "tpot_at_concurrency_error"),
        ("static_batch", ok[kind == STATIC_SCENARIO], "latency_error"),
        ("closed_loop", ok[kind == CLOSED_LOOP_SCENARIO], "throughput_error"),
    )

    def stats(rows: pd.DataFrame, prefix: str, column: str) -> dict[str, Any]:
        st = _stats(rows[column])
        return {
            f"{prefix}_runs": int(st["n"]),
            f"{prefix}_median_abs_error": None if st["n"] == 0 else round(st["median"], 4),
            f"{prefix}_p90_abs_error": None if st["n"] == 0 else round(st["p90"], 4),
        }

    entries = []
    for name, gpu in sorted(catalog.gpus.items()):
        entry: dict[str, Any] = {"gpu": name, "family": gpu.family}
        for prefix, rows, column in parts:
            entry |= stats(rows[rows["gpu"] == name], prefix, column)
        entries.append(entry)
    return entries


def capacity_error_yaml(
    entries: Sequence[Mapping[str, Any]], as_of: str, runs: str = SHIPPED_RUNS
) -> str:
    """``entries`` as the catalog section ``capacity_error`` (``catalogs/capacity_error.yaml``),
    computed on the measured runs of the file ``runs``. Raises ``AdvisorError`` when no entry
    counts a run: a table of nothing but "unvalidated" would read as a measurement."""
    if not any(v for e in entries for k, v in e.items() if k.endswith("_runs")):
        raise AdvisorError(
            f"{runs}: no usable measured run of a catalog GPU (see `advisor validate --json` "
            "for why each row is skipped); no error table written."
        )
    import yaml

    head = (
        "# The serving model's error per GPU type on the measured runs, cited by every plan\n"
        "# beside each deployment's capacity. Written by `advisor validate --error-table\n"
        "# catalogs/capacity_error.yaml`; a test fails when it no longer matches.\n"
    )
    source = ERROR_TABLE_SOURCE.format(runs=runs)
    body = [{**e, "source": source, "as_of": as_of} for e in entries]
    return head + yaml.safe_dump({"capacity_error": body}, sort_keys=False, width=100)


def online_calibration_rows(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The online rows stage 2 of :func:`calibrate` reads: MLPerf Interactive runs (a 40 ms
    p99 TPOT limit keeps their batches small) of the measured serving runs, without pipeline
    parallelism, outside the holdout."""
    return _fit_rows(df, "interactive")


def static_calibration_rows(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The static batches :func:`calibrate` fits a family on when it has no offline row (a
    known load: each batch's time to finish), without pipeline parallelism, outside the
    holdout."""
    return _fit_rows(df, STATIC_SCENARIO)


def calibration_rows(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows the efficiency factors are fit on: offline runs of the measured serving runs,
    without pipeline parallelism, outside the holdout (TensorRT-LLM perf-overview v0.14-v0.17)."""
    return _fit_rows(df, "offline")


def _fit_rows(df: pd.DataFrame | None, scenario: str) -> pd.DataFrame:
    """The runs of ``scenario`` (of ``df``, by default of the measured serving runs) that a fit
    may read: no pipeline parallelism, outside the holdout."""
    df = load_serving_runs() if df is None else df
    pp = pd.to_numeric(df["pp"], errors="coerce").fillna(1) if "pp" in df else 1
    keep = (df["scenario"].str.lower() == scenario) & (pp <= 1)
    keep &= ~df["suite"].astype(str).str.contains(HOLDOUT_PATTERN)
    return df[keep]


if __name__ == "__main__":
    raise SystemExit(main())
