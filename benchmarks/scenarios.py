"""Benchmark the two-stage (scenario) solve: a year of three workloads under many demand
scenarios, with one time budget for the whole run.

    python benchmarks/scenarios.py [--hours 8760] [--scenarios 20] [--time-limit 540]
        [--solver highs] [--workers 2] [--out benchmarks/SCENARIO_RESULTS.md] [--json FILE]

Demand: the grid's three workloads (``benchmarks/run.py``: llama-3.1-8b-interactive,
llama-3.1-70b-interactive, mixtral-8x7b-batch) with its synthetic shape and volumes, scaled
per scenario by a growth factor spread evenly over ×0.8 … ×1.6, each scenario with its own
noise seed; equal weights. Seed prices (as ``RESULTS.md``). It records the wall time of the
whole run, the peak memory of this process, the expected cost, the bound and gap of the
whole stochastic problem, VSS and EVPI, and appends one row to the results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import MEAN_REQUESTS, NOISE, PEAK_TO_TROUGH, SEED, WEEKLY_DIP, WORKLOAD_SETS  # noqa: E402

from advisor.catalog import load_catalog  # noqa: E402
from advisor.defaults import DEFAULT_SOLVER  # noqa: E402
from advisor.demand import synthetic_demand  # noqa: E402
from advisor.files import to_json  # noqa: E402
from advisor.pipeline import Inputs  # noqa: E402
from advisor.scenarios import ScenarioSet  # noqa: E402
from advisor.solve import SolverSettings  # noqa: E402
from advisor.stochastic import solve_scenarios  # noqa: E402

GROWTH = (0.8, 1.6)


def scenario_set(hours: int, n: int) -> tuple[Inputs, ScenarioSet]:
    catalog = load_catalog(prices="seeds")
    from advisor.workloads import load_workloads

    names = WORKLOAD_SETS[3]
    wls = {k: load_workloads(catalog)[k] for k in names}
    demands = tuple(
        synthetic_demand(
            wls,
            hours,
            mean_requests_per_hour=[MEAN_REQUESTS[k] * g for k in names],
            peak_to_trough=PEAK_TO_TROUGH,
            weekly_dip=WEEKLY_DIP,
            noise=NOISE,
            seed=SEED + i,
        )
        for i, g in enumerate(np.linspace(*GROWTH, n))
    )
    scen = ScenarioSet(tuple(f"g{i:02d}" for i in range(n)), np.full(n, 1.0 / n), demands)
    return Inputs(catalog, wls, scen.mean_demand()), scen


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, default=8760)
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=540.0)
    ap.add_argument("--solver", default=DEFAULT_SOLVER)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "SCENARIO_RESULTS.md"))
    ap.add_argument("--json", default=None, help="Also write the run's summary here (JSON).")
    args = ap.parse_args(argv)
    inputs, scen = scenario_set(args.hours, args.scenarios)
    settings = SolverSettings(args.solver, args.time_limit, 1e-3)
    t0 = time.perf_counter()
    result = solve_scenarios(
        inputs,
        scen,
        settings,
        workers=args.workers,
        progress=lambda m: print(f"[{time.perf_counter() - t0:7.1f} s] {m}", file=sys.stderr),
    )
    wall = time.perf_counter() - t0
    s = result.summary
    if args.json:
        Path(args.json).write_text(to_json({**s, "wall_s": wall}), encoding="utf-8")
    print(
        f"bounds: first stage {s['first_stage_bound_usd']}, wait-and-see "
        f"{s['wait_and_see_bound_usd']}",
        file=sys.stderr,
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gap = s.get("gap")
    row = (
        f"| {dt.date.today()} | {args.hours} h × 3 × {args.scenarios} | {args.solver} | "
        f"{args.workers} | {args.time_limit:g} | {wall:.1f} | {peak_mb:,.0f} | "
        f"{s['expected_cost_usd']:,.0f} | "
        + ("n/a" if s.get("bound_usd") is None else f"{s['bound_usd']:,.0f}")
        + " | "
        + ("n/a" if gap is None else f"{gap:.2%}")
        + f" | {s['vss_usd']:,.0f} | {s['evpi_usd']:,.0f} | {result.plan.verified} |"
    )
    out = Path(args.out)
    if not out.exists():
        out.write_text(
            "# Two-stage solve benchmark (`python benchmarks/scenarios.py`)\n\n"
            f"Machine: {_cpu()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; peak memory is the parent process's (workers "
            "not counted). Target (issue): 8,760 h × 3 × 20 within 10 minutes at a gap "
            "≤ 2%.\n\n"
            "| date | case | solver | workers | --time-limit [s] | wall [s] | peak MB | "
            "expected cost (USD) | bound (USD) | gap | VSS (USD) | EVPI (USD) | verified |\n"
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        )
    with out.open("a", encoding="utf-8") as f:
        f.write(row + "\n")
    print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
