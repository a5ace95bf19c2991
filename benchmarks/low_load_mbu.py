"""Benchmark: which MBU the low-load rows would pick, and what that would cost elsewhere.

Stage 1 of ``python -m advisor.validate --calibrate`` fits (MBU, MFU) per GPU family on the
offline runs, which are compute-bound and hardly tell MBU values apart; stage 2 breaks the
ties with MLPerf Interactive runs. The static-batch and closed-loop rows
(``catalogs/published_serving_runs.csv``) measure decode where it is memory-bound: static
batches of 1-8 and closed loops of 1-5 clients. For each family with such rows this script
lists the stage-1 ties (the global ``max_batch`` of the shipped fit) with the median |error|
of those rows' mean TPOT (the batch latency where a row states no TPOT), then validates
the whole table with each family at its low-load pick, next to the shipped factors:

    .venv/bin/python benchmarks/low_load_mbu.py

Families with no offline row (Ampere) are fit on their static batches; the script also prints
their static batches and closed loops (in no fit) under the seed factors and the shipped ones.

For families with both static batches and closed loops (Hopper) it also picks on one kind
and checks on the other, and on the MLPerf Interactive runs the shipped tie-break reads.

Not a test: one offline fit and a few passes of ``advisor validate``, about a minute on a
2-core machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's advisor, not an installed one

COLUMNS = {
    "offline": "offline_throughput",
    "online thr": "online_throughput_at_measured_latency",
    "static lat": "static_batch_latency",
    "static TPOT": "static_batch_tpot",
    "loop thr": "closed_loop_throughput",
    "loop TPOT": "closed_loop_tpot",
}


def low_load_rows(runs: pd.DataFrame) -> pd.DataFrame:
    static = (runs["scenario"] == "static-batch") & (runs["concurrency"] <= 8)
    loop = (runs["scenario"] == "closed-loop") & (runs["concurrency"] <= 5)
    return runs[static | loop]


def low_load_error(catalog, family: str, mbu: float, mfu: float, rows: pd.DataFrame) -> float:
    from advisor.validate import validate_serving, with_efficiency

    tuned = with_efficiency(catalog, {family: {"mbu": mbu, "mfu": mfu}})
    t = validate_serving(tuned, rows)["rows"]
    t = t[t["status"] == "ok"]
    err = t["tpot_error"].fillna(t["latency_error"]).dropna().astype(float)
    return float(np.median(np.abs(err))) if len(err) else float("nan")


def summary_line(name: str, cal: dict) -> str:
    cells = []
    for key in COLUMNS.values():
        v = cal[key]
        cells.append("-" if not v["n"] else f"{v['median']:.1%}/{v['p90']:.0%}")
    return f"{name:<22}" + "".join(f"{c:>14}" for c in cells)


def main() -> int:
    from advisor import validate as V
    from advisor.catalog import load_catalog

    catalog = load_catalog()
    low = low_load_rows(V.load_serving_runs())
    max_batch = catalog.efficiency["hopper"].max_batch  # one global value in the shipped fit
    picks: dict[str, dict[str, float]] = {}
    for family, ties in V.offline_ties(catalog, max_batch).items():
        shipped = catalog.efficiency[family]
        gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
        rows = low[low["gpu"].isin(gpus)]
        print(f"{family}: shipped MBU {shipped.mbu:.2f} MFU {shipped.mfu:.2f}; {len(rows)} rows")
        if rows.empty:
            continue
        scored = []
        for mbu, mfu, offline in ties:
            e = low_load_error(catalog, family, mbu, mfu, rows)
            scored.append((e, mbu, mfu))
            print(f"  MBU {mbu:.2f} MFU {mfu:.2f}: offline {offline:.1%}, low-load {e:.1%}")
        _, mbu, mfu = min(scored)
        picks[family] = {"mbu": mbu, "mfu": mfu}
    print(f"\n{'':<22}" + "".join(f"{h:>14}" for h in COLUMNS))
    shipped_cal = V.validate_serving(catalog)["summary"]["calibration"]
    tuned_cal = V.validate_serving(V.with_efficiency(catalog, picks))["summary"]["calibration"]
    for name, cal in (("shipped", shipped_cal), ("low-load picks", tuned_cal)):
        print(summary_line(f"{name}, all", cal))
        for family in sorted(cal["by_family"]):
            print(summary_line(f"  {family}", cal["by_family"][family]))
    print(f"\nlow-load picks: {picks}")
    cross_check(catalog, low, max_batch)
    no_offline_rows(catalog, set(V.offline_ties(catalog, max_batch)))
    return 0


def cross_check(catalog, low: pd.DataFrame, max_batch: int) -> None:
    """A held-out check of the low-load tie-break, for families with both kinds of low-load
    rows: pick among the ties on the static batches alone and check on every closed loop, and
    the other way round; each pick also on the family's MLPerf Interactive runs (the rows the
    shipped tie-break reads)."""
    from advisor import validate as V

    runs = V.load_serving_runs()
    interactive = V.online_calibration_rows()
    keys = {
        "static-batch": ("static_batch_latency", "static_batch_ttft", "static_batch_tpot"),
        "closed-loop": ("closed_loop_throughput", "closed_loop_ttft", "closed_loop_tpot"),
    }
    online = ("online_throughput_at_measured_latency", "online_tpot_at_measured_rate")
    for family, ties in V.offline_ties(catalog, max_batch).items():
        gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
        mine = low[low["gpu"].isin(gpus)]
        if set(mine["scenario"]) != set(keys) or len(ties) < 2:
            continue
        print(f"\n{family}: pick on one kind of low-load row, check on the other kind")
        for fit_on, check_on in (("static-batch", "closed-loop"), ("closed-loop", "static-batch")):
            rows = mine[mine["scenario"] == fit_on]
            _, mbu, mfu = min(
                (low_load_error(catalog, family, a, b, rows), a, b) for a, b, _ in ties
            )
            held = runs[(runs["scenario"] == check_on) & runs["gpu"].isin(gpus)]
            inter = interactive[interactive["gpu"].isin(gpus)]
            for label, m, f in (("shipped", None, None), (f"{fit_on} pick", mbu, mfu)):
                upd = {} if m is None else {family: {"mbu": m, "mfu": f}}
                tuned = V.with_efficiency(catalog, upd)
                cal = V.validate_serving(tuned, pd.concat([held, inter]))["summary"]["calibration"]
                e = catalog.efficiency[family]
                pair = (e.mbu, e.mfu) if m is None else (m, f)
                cells = "  ".join(
                    f"{k} {cal[k]['median']:.1%}" for k in (*keys[check_on], *online) if cal[k]["n"]
                )
                print(f"  {label} ({pair[0]:.2f}, {pair[1]:.2f}): {cells}")


def no_offline_rows(catalog, fitted: set[str]) -> None:
    """Families with no offline row are fit on their static batches (``advisor.validate.
    calibrate``); their closed loops, another engine, are in no fit: the shipped factors
    against the seed defaults on both."""
    from advisor import validate as V

    runs = V.load_serving_runs()
    for family in sorted(set(catalog.efficiency) - fitted):
        gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
        static = runs[(runs["scenario"] == "static-batch") & runs["gpu"].isin(gpus)]
        loop = runs[(runs["scenario"] == "closed-loop") & runs["gpu"].isin(gpus)]
        if static.empty:
            continue
        eff = catalog.efficiency[family]
        print(f"\n{family} (no offline row; static-batch rows {len(static)}, loops {len(loop)})")
        for label, m, f in (
            ("seed", V.SEED_MBU, V.SEED_MFU),
            ("shipped static fit", eff.mbu, eff.mfu),
        ):
            tuned = V.with_efficiency(catalog, {family: {"mbu": m, "mfu": f}})
            cal = V.validate_serving(tuned, pd.concat([static, loop]))["summary"]["calibration"]
            cells = "  ".join(
                f"{k} {cal[k]['median']:.1%}/{cal[k]['p90']:.1%}"
                for k in (
                    "static_batch_latency",
                    "static_batch_ttft",
                    "static_batch_tpot",
                    "closed_loop_throughput",
                    "closed_loop_ttft",
                    "closed_loop_tpot",
                )
                if cal[k]["n"]
            )
            print(f"  {label} (MBU {m:.2f} MFU {f:.2f}): {cells}")


if __name__ == "__main__":
    raise SystemExit(main())
