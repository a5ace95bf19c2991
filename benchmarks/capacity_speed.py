"""Benchmark: SLO capacities for the full shipped catalog × the ten shipped workloads.

Runs ``advisor.options.build_options`` (every GPU × quantization × TP option each workload
allows, simulated capacity, roofline pre-pruning) twice, each in a fresh process: once with an
empty on-disk cache (cold) and once reading the cache the first run wrote (warm). Appends the
wall and CPU times, the machine and the commit to ``benchmarks/CAPACITY_RESULTS.md``.

    .venv/bin/python benchmarks/capacity_speed.py

Not a test: the timing depends on the machine and its load.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from advisor.catalog import load_catalog
from advisor.options import build_options
from advisor.workloads import load_workloads
from advisor import serving
cat = load_catalog()
wl = load_workloads(cat)
opts = build_options(cat, wl, capacity_model="simulated")
serving.flush_cache()
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "workloads": len(wl), "options": len(opts.options),
                  "rejected": len(opts.rejected), "dominated": len(opts.dominated)}))
"""


def _run(cache: str) -> dict:
    env = {**os.environ, "ADVISOR_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,  # this checkout's package first (python -c puts the cwd on the path)
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    with tempfile.TemporaryDirectory() as cache:
        cold = _run(cache)
        warm = _run(cache)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = "?"
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load:.1f} at the start"
    )
    line = (
        f"| {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} | {commit} | {machine} | "
        f"{cold['workloads']} | {cold['options']} | {cold['wall_s']:.1f} | {cold['cpu_s']:.1f} | "
        f"{warm['wall_s']:.2f} | {warm['cpu_s']:.2f} |"
    )
    res = HERE / "CAPACITY_RESULTS.md"
    if not res.exists():
        res.write_text(
            "# SLO capacity table speed\n\n"
            "`python benchmarks/capacity_speed.py`: simulated SLO capacities of every option of "
            "the full shipped catalog for the ten shipped workloads, cold (empty on-disk cache) "
            "and warm (a fresh process reading the cache). Targets (issue #14): cold <= 60 s, "
            "warm <= 2 s on the project's 2-core machine.\n\n"
            "| when (UTC) | commit | machine | workloads | options kept | cold wall s | "
            "cold CPU s | warm wall s | warm CPU s |\n|---|---|---|---|---|---|---|---|---|\n"
        )
    with res.open("a") as fh:
        fh.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
