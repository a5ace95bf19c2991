"""How `advisor stress` scales with workers: N futures of a week re-solved on a saved plan's
fleet, with 1 and with 2 local workers (or those given).

    python benchmarks/stress_scaling.py [--futures 1000] [--workers 1,2] [--solver highs]

The plan: ``demand/spiky_diurnal.csv`` solved with the seed prices (it reserves GPUs there).
The futures: that week with a growth factor per future (lognormal, median ×1.1, log-sd
0.25) and 5% hourly noise, seed 0. Each run is ``advisor stress PLAN --demand FUTURES
--workers W`` in a fresh process (start-up included); prints the wall time per run and
the speed-up, and appends them to ``benchmarks/STRESS_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEMAND = ROOT / "demand" / "spiky_diurnal.csv"


def futures_csv(n: int, path: Path) -> Path:
    d = pd.read_csv(DEMAND)
    rng = np.random.default_rng(0)
    parts = []
    for i in range(n):
        g = float(np.exp(rng.normal(np.log(1.1), 0.25)))
        e = d.copy()
        for c in ("requests", "input_tokens", "output_tokens"):
            noise = np.exp(rng.normal(0.0, 0.05, len(e)))
            e[c] = (e[c] * g * noise).round().astype(int)
        e.insert(0, "scenario_weight", 1.0 / n)
        e.insert(0, "scenario", f"f{i:04d}")
        parts.append(e)
    pd.concat(parts).to_csv(path, index=False)
    return path


def advisor(*args: str) -> float:
    env = {**os.environ, "ADVISOR_PRICES": "seeds"}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from advisor.cli import main; main()", *args],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--futures", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "STRESS_RESULTS.md"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan"
        advisor("solve", str(DEMAND), "--out", str(plan), "--quiet")
        fut = futures_csv(args.futures, Path(tmp) / "futures.csv")
        times = {}
        for w in (int(x) for x in args.workers.split(",")):
            times[w] = advisor(
                "stress", str(plan), "--demand", str(fut), "--solver", args.solver,
                "--workers", str(w), "--json",
            )  # fmt: skip
            print(f"{args.futures} futures, {w} worker(s): {times[w]:.1f} s", flush=True)
    one = times.get(1)
    rows = [
        f"| {dt.date.today()} | {args.futures} | {args.solver} | {w} | {s:.1f} | "
        + ("—" if one is None else f"{one / s:.2f}")
        + " |"
        for w, s in times.items()
    ]
    out = Path(args.out)
    if not out.exists():
        out.write_text(
            "# `advisor stress` against workers (`python benchmarks/stress_scaling.py`)\n\n"
            f"Machine: {os.cpu_count()} cores. Wall time of the whole command (start-up, "
            "reading the futures, every recourse solve, the summary).\n\n"
            "| date | futures | solver | workers | wall [s] | speed-up vs 1 |\n"
            "|---|---:|---|---:|---:|---:|\n"
        )
    with out.open("a", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
