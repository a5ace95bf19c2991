"""Benchmark: SLO capacities for the full shipped catalog × the ten shipped workloads.

Runs ``advisor.options.build_options`` (every GPU × quantization × TP option each workload
allows, simulated capacity, roofline pre-pruning) three times, each in a fresh process: with
an empty on-disk cache in one process (``ADVISOR_CAPACITY_WORKERS=1``), with an empty cache and
the default worker processes (one per core: cold), and reading the cache the second run wrote
(warm). Appends the wall and CPU times (worker processes included), the ratio of the two cold
runs, the machine and the commit to ``benchmarks/CAPACITY_RESULTS.md``.

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
import json, resource, time
t0, c0 = time.perf_counter(), time.process_time()
from advisor.catalog import load_catalog
from advisor.options import build_options
from advisor.workloads import load_workloads
from advisor import serving
cat = load_catalog()
wl = load_workloads(cat)
opts = build_options(cat, wl, capacity_model="simulated")
serving.flush_cache()
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu_s = time.process_time() - c0 + kids.ru_utime + kids.ru_stime
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": cpu_s,
                  "workloads": len(wl), "options": len(opts.options),
                  "rejected": len(opts.rejected), "dominated": len(opts.dominated)}))
"""


#: the table of runs with worker processes (the rows before it ran in one process)
TABLE = (
    "## With worker processes (since 2026-12-02)\n\n"
    "`python benchmarks/capacity_speed.py`: simulated SLO capacities of every option of the "
    "full shipped catalog for the ten shipped workloads: cold in one process, cold with the "
    "default worker processes (one per core), and warm (a fresh process reading the cache). "
    "Targets (issue #14): cold <= 60 s, warm <= 2 s on the project's 2-core machine. CPU "
    "includes the worker processes.\n\n"
    "| when (UTC) | commit | machine | workloads | options kept | cold wall s, one process | "
    "cold wall s | ratio | cold CPU s | warm wall s | warm CPU s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _run(cache: str, workers: str = "") -> dict:
    env = {**os.environ, "ADVISOR_CACHE_DIR": cache, "ADVISOR_CAPACITY_WORKERS": workers}
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
    with tempfile.TemporaryDirectory() as one_cache, tempfile.TemporaryDirectory() as cache:
        one = _run(one_cache, "1")
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
        f"{cold['workloads']} | {cold['options']} | {one['wall_s']:.1f} | {cold['wall_s']:.1f} | "
        f"{cold['wall_s'] / one['wall_s']:.2f} | {cold['cpu_s']:.1f} | "
        f"{warm['wall_s']:.2f} | {warm['cpu_s']:.2f} |"
    )
    res = HERE / "CAPACITY_RESULTS.md"
    text = res.read_text(encoding="utf-8") if res.exists() else "# SLO capacity table speed\n"
    if TABLE not in text:
        text = text.rstrip("\n") + "\n\n" + TABLE
    res.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
