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

Families with no offline row (Ampere) keep the seed factors; the script also prints the pair
their static batches would pick and what it does to their closed-loop rows.

Not a test: one offline fit, two passes of ``advisor validate`` and a grid over the static
batches of the families without offline rows, about 80 s on a 2-core machine.
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
    no_offline_rows(catalog, set(V.offline_ties(catalog, max_batch)))
    return 0


def no_offline_rows(catalog, fitted: set[str]) -> None:
    """Families with no offline row keep the seed factors; for those with static batches, the
    (MBU, MFU) of the grid that fits those batches' latency best, and what that does to their
    closed-loop rows (an independent check)."""
    from advisor import validate as V

    runs = V.load_serving_runs()
    for family in sorted(set(catalog.efficiency) - fitted):
        gpus = {g for g, spec in catalog.gpus.items() if spec.family == family}
        static = runs[(runs["scenario"] == "static-batch") & runs["gpu"].isin(gpus)]
        loop = runs[(runs["scenario"] == "closed-loop") & runs["gpu"].isin(gpus)]
        if static.empty:
            continue
        scored = []
        for mbu in V.DEFAULT_GRID["mbu"]:
            for mfu in V.DEFAULT_GRID["mfu"]:
                tuned = V.with_efficiency(catalog, {family: {"mbu": mbu, "mfu": mfu}})
                t = V.validate_serving(tuned, static)["rows"]
                err = t.loc[t["status"] == "ok", "latency_error"].astype(float)
                scored.append((float(np.median(np.abs(err))), mbu, mfu))
        _, mbu, mfu = min(scored)
        print(f"\n{family} (no offline row): static-batch fit MBU {mbu:.2f} MFU {mfu:.2f}")
        eff = catalog.efficiency[family]
        for label, m, f in (("seed", eff.mbu, eff.mfu), ("static fit", mbu, mfu)):
            tuned = V.with_efficiency(catalog, {family: {"mbu": m, "mfu": f}})
            cal = V.validate_serving(tuned, pd.concat([static, loop]))["summary"]["calibration"]
            cells = "  ".join(
                f"{k} {cal[k]['median']:.1%}"
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
