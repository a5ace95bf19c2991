"""Benchmark: how far the simulated SLO capacities are from those of long runs.

Computes every option's capacity of the full shipped catalog × the ten shipped workloads
twice, each in a fresh process without the on-disk cache: with the default (adaptive) run
length, and with every run 4,800 requests long (``N_REQUESTS = MAX_REQUESTS = 4800``; the
first sixth left out as warm-up). Prints the distribution of ``default / long − 1`` and the
cases furthest apart, and the wall time of each side.

    .venv/bin/python benchmarks/capacity_run_length.py

Not a test: the long side takes several minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import advisor.serving as serving
if sys.argv[1] == "long":
    serving.N_REQUESTS = serving.MAX_REQUESTS = 4800
from advisor.catalog import load_catalog
from advisor.options import build_options
from advisor.workloads import load_workloads
t0 = time.perf_counter()
cat = load_catalog()
opts = build_options(cat, load_workloads(cat), capacity_model="simulated")
caps = {" | ".join(k): o.requests_per_hour for k, o in opts.options.items()}
print(json.dumps({"wall_s": time.perf_counter() - t0, "caps": caps}))
"""


def _run(side: str) -> dict:
    env = {**os.environ, "ADVISOR_CACHE_DIR": "off"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,  # this checkout's package first (python -c puts the cwd on the path)
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    default, long = _run("default"), _run("long")
    keys = sorted(set(default["caps"]) & set(long["caps"]))
    diff = np.array([default["caps"][k] / long["caps"][k] - 1.0 for k in keys])
    walls = f"default {default['wall_s']:.1f}, long {long['wall_s']:.1f}"
    print(f"options: {len(keys)}; wall s: {walls}")
    stats = {
        "median": np.median(diff),
        "mean |.|": np.mean(np.abs(diff)),
        "p10": np.percentile(diff, 10),
        "p90": np.percentile(diff, 90),
        "min": diff.min(),
        "max": diff.max(),
    }
    print("default / long - 1: " + ", ".join(f"{k} {v:.2%}" for k, v in stats.items()))
    for i in np.argsort(-np.abs(diff))[:5]:
        print(f"  {diff[i]:+.1%}  {keys[i]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
