"""Benchmark: the calibration's error out of sample, and which step-time form to ship.

``python -m advisor.validate --calibrate`` fits MBU and MFU per GPU family on the offline rows
of ``catalogs/published_serving_runs.csv`` and reports the error on the same rows. This script
measures the error on rows the fit has not seen: leave-one-suite-out cross-validation. Each
suite (MLPerf v4.1, MLPerf v5.1, trtllm-bench v1.0, ...) is held out in turn; the factors are
fit on the other suites' offline rows (the online tie-break on the other suites' Interactive
rows) and the held-out suite's offline rows are predicted. The pooled errors over all folds
are the out-of-sample error. The same fold also predicts the held-out suite's online runs
(MLPerf Server and Interactive: the throughput at their measured latency, and their latency at
the measured rate), which no fold that predicts them has seen.

It does so for each step-time form (``step_combine``: ``max``, memory and compute overlap;
``sum``, they do not) and each ``max_batch`` grid given, then fits each form on all the rows
and runs the whole serving table (``advisor validate``'s checks: offline, online, static
batches, closed loops) with it.

    .venv/bin/python benchmarks/calibration_cv.py [--combine max,sum] [--max-batch 256]
        [--max-batch 256,512,1024,2048] [--out FILE.md]

Not a test: about 7 minutes on a 2-core machine with the defaults (427 s on 2026-12-02).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's advisor, not an installed one

#: advisor validate's summary keys, in the order printed
CHECKS = {
    "offline": "offline_throughput",
    "online thr@latency": "online_throughput_at_measured_latency",
    "online TPOT@rate": "online_tpot_at_measured_rate",
    "online p99 TTFT@rate": "online_ttft_p99_at_measured_rate",
    "online TPOT@load": "online_tpot_at_measured_concurrency",
    "online thr@load": "online_throughput_at_measured_concurrency",
    "static latency": "static_batch_latency",
    "static TTFT": "static_batch_ttft",
    "static TPOT": "static_batch_tpot",
    "loop thr": "closed_loop_throughput",
    "loop TTFT": "closed_loop_ttft",
    "loop TPOT": "closed_loop_tpot",
}


def with_combine(catalog: Any, combine: str) -> Any:
    from advisor.validate import with_efficiency

    return with_efficiency(catalog, {f: {"step_combine": combine} for f in catalog.efficiency})


#: the online checks taken out of sample, per held-out suite (their ``validate_serving`` columns)
ONLINE_CHECKS = {
    "online thr@latency": "throughput_error",
    "online TPOT@rate": "tpot_error",
    "online p99 TTFT@rate": "ttft_error",
    "online TPOT@load": "tpot_at_concurrency_error",
    "online thr@load": "throughput_at_concurrency_error",
}


def cross_validate(
    catalog: Any, grid: dict[str, tuple[float, ...]]
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Per held-out suite: rows, median and p90 |error|; the pooled absolute offline errors;
    and the pooled absolute errors of the held-out suites' online runs (MLPerf Server and
    Interactive: throughput at the measured latency, latency at the measured rate), each
    predicted by the fold that did not see its suite."""
    from advisor.validate import (
        apply_calibration,
        calibrate,
        calibration_rows,
        load_serving_runs,
        online_calibration_rows,
        online_rows,
        validate,
    )

    rows, online = calibration_rows(), online_calibration_rows()
    runs = online_rows(load_serving_runs())
    folds, pooled = [], []
    pooled_online: dict[str, list[np.ndarray]] = {k: [] for k in ONLINE_CHECKS}
    for suite in sorted(rows["suite"].unique()):
        train = rows[rows["suite"] != suite]
        values = calibrate(catalog, train, grid, online=online[online["suite"] != suite])
        fitted = apply_calibration(catalog, values)
        res = validate(fitted, rows[rows["suite"] == suite])
        err = res.rows["error"].dropna().abs().to_numpy(float)
        if len(err):
            pooled.append(err)
            folds.append((suite, len(err), np.median(err), np.percentile(err, 90)))
        for key, errs in held_out_online_errors(fitted, runs[runs["suite"] == suite]).items():
            pooled_online[key].append(errs)
    table = pd.DataFrame(folds, columns=["held-out suite", "rows", "median", "p90"])
    return (
        table,
        np.concatenate(pooled) if pooled else np.array([]),
        {k: np.concatenate(v) if v else np.array([]) for k, v in pooled_online.items()},
    )


def held_out_online_errors(fitted: Any, runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The absolute online errors of ``runs`` (one suite's runs at a measured rate) that
    ``advisor validate`` reports (no holdout, no pipeline parallelism), under ``fitted``."""
    from advisor.validate import validate_serving

    if runs.empty:
        return {k: np.array([]) for k in ONLINE_CHECKS}
    table = validate_serving(fitted, runs)["rows"]
    ok = table[(table["status"] == "ok") & ~table["holdout"]]
    return {k: ok[c].dropna().abs().to_numpy(float) for k, c in ONLINE_CHECKS.items()}


def whole_table(catalog: Any, grid: dict[str, tuple[float, ...]]) -> dict[str, Any]:
    """Fit on all offline rows, then ``advisor validate``'s calibration-row summary."""
    from advisor.validate import apply_calibration, calibrate, validate_serving

    values = calibrate(catalog, grid=grid)
    fitted = apply_calibration(catalog, values)
    summary = validate_serving(fitted)["summary"]["calibration"]
    factors = {
        f: (v["mbu"], v["mfu"], v["max_batch"]) for f, v in values.items() if v["calibrated"]
    }
    return {"summary": summary, "factors": factors}


def _pooled_cell(errors: np.ndarray) -> str:
    if not len(errors):
        return "–"
    return f"{np.median(errors):.1%} / {np.percentile(errors, 90):.1%} ({len(errors)})"


def _cell(stats: dict[str, Any]) -> str:
    if not stats["n"]:
        return "–"
    return f"{stats['median']:.1%} / {stats['p90']:.1%}"


def main(argv: list[str] | None = None) -> int:
    from advisor.catalog import load_catalog
    from advisor.validate import DEFAULT_GRID

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combine", default="max,sum", help="step_combine forms, comma-separated")
    ap.add_argument(
        "--max-batch",
        action="append",
        default=None,
        help="a max_batch grid (comma-separated; repeat for several); default: the shipped grid",
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the report here (md)")
    args = ap.parse_args(argv)
    grids = [tuple(int(x) for x in g.split(",")) for g in (args.max_batch or [])] or [
        tuple(int(x) for x in DEFAULT_GRID["max_batch"])
    ]
    base = load_catalog()
    lines = [_header()]
    t0 = time.perf_counter()
    cv_rows, online_rows, checks = [], [], []
    for combine in args.combine.split(","):
        catalog = with_combine(base, combine)
        for mb in grids:
            grid = {**DEFAULT_GRID, "max_batch": mb}
            label = f"{combine}, max_batch {'/'.join(map(str, mb))}"
            folds, pooled, online = cross_validate(catalog, grid)
            for r in folds.itertuples(index=False):
                cv_rows.append(f"| {label} | {r[0]} | {r[1]} | {r[2]:.1%} / {r[3]:.1%} |")
            cv_rows.append(
                f"| {label} | **pooled** | {len(pooled)} | "
                f"**{np.median(pooled):.1%} / {np.percentile(pooled, 90):.1%}** |"
            )
            online_rows.append(
                f"| {label} | " + " | ".join(_pooled_cell(e) for e in online.values()) + " |"
            )
            whole = whole_table(catalog, grid)
            cells = " | ".join(_cell(whole["summary"][k]) for k in CHECKS.values())
            checks.append(f"| {label} | {cells} |")
            fac = ", ".join(f"{f} {a:.2f}/{b:.2f}/{c}" for f, (a, b, c) in whole["factors"].items())
            checks.append(f"| ↳ factors (MBU/MFU/max_batch) | {fac} |" + " |" * (len(CHECKS) - 1))
            print(f"{label}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    lines += [
        "## Out of sample: leave one suite out (offline rows, median / p90 |error|)",
        "",
        "| form | held-out suite | rows | median / p90 |",
        "| --- | --- | --- | --- |",
        *cv_rows,
        "",
        "## Out of sample: the held-out suites' online runs (median / p90 |error|, rows)",
        "",
        "Each MLPerf Server and Interactive run predicted by the fold that did not see its "
        "suite (neither its offline rows nor its Interactive rows).",
        "",
        "| form | " + " | ".join(ONLINE_CHECKS) + " |",
        "| --- |" + " --- |" * len(ONLINE_CHECKS),
        *online_rows,
        "",
        "## In sample: fit on all offline rows, then every check of `advisor validate`",
        "",
        "median / p90 |error| of the calibration rows (not the holdout)",
        "",
        "| form | " + " | ".join(CHECKS) + " |",
        "| --- |" + " --- |" * len(CHECKS),
        *checks,
        "",
        f"Run time {time.perf_counter() - t0:.0f} s.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


def _header() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "?"
    cpu = platform.processor() or platform.machine()
    return (
        f"# Calibration out of sample ({time.strftime('%Y-%m-%d')}, commit {commit}, "
        f"{cpu}, Python {platform.python_version()})\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
