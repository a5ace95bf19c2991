"""Benchmark: how much the simulated latency at a measured request rate moves with the rate.

``advisor validate`` compares the mean TPOT the serving model simulates at each online run's
measured request rate with the measured mean TPOT (a median 59% low). The public online runs
(MLPerf Server and Interactive) are run just under their latency limits; this script asks
whether the error is the steepness of the latency curve there (a small throughput error
moving the model's latency a lot) by simulating every such run at 0.9x, 1.0x and 1.1x its
measured rate, and reports:

* the median |error| of the mean TPOT at each of the three rates;
* the share of runs whose measured mean TPOT lies between the model's at 0.9x and at 1.1x
  (a +-10% throughput error, about the model's offline median error, covers those);
* the median ratio TPOT(1.1x) / TPOT(0.9x): how steep the curve is where the runs sit;
* how far a step-time error moves the TPOT at each run's measured rate (``TPOT / a - 1``,
  ``a`` the model's batch-1 step; :func:`step_sensitivity`), and so how close the step time
  must be for a TPOT within 20%;
* each run under Poisson arrivals at the rate at which the simulated replica holds the
  run's measured load: its mean TPOT and p99 TTFT there;
* the same runs on an engine whose batch limit is sized to each run's TPOT limit, as MLPerf
  submitters size theirs, under the shipped ``max_batch`` and under 2,048 with the efficiency
  factors refit at that ceiling: the TPOT error, and what the refit does to the offline error
  and to the throughput at the measured latency;
* the same runs under other engine settings for every family, the efficiency factors as
  shipped (the step token budget ``max_num_batched_tokens`` and the batch limit
  ``max_batch``): the median |error| (signed) of the offline throughput, of the throughput at
  the measured latency, of the mean TPOT and of the p99 TTFT at the measured rate, per MLPerf
  scenario: which errors an engine setting moves, and which none of them does.

    .venv/bin/python benchmarks/online_latency_conditioning.py

Not a test: nine passes of the online validation, a bisection per run and one fit, about a
minute and a half on a 2-core machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's advisor, not an installed one

SCALES = (0.9, 1.0, 1.1)


def main() -> int:
    from advisor.catalog import load_catalog
    from advisor.validate import validate_serving

    t0 = time.perf_counter()
    catalog = load_catalog()
    rows = mlperf_rows()
    tables = {s: validate_serving(catalog, rows, rate_scale=s)["rows"] for s in SCALES}
    base = tables[1.0]
    keep = (base["status"] == "ok") & base["tpot_error"].notna() & ~base["holdout"]
    measured = base.loc[keep, "measured_tpot_mean_ms"].to_numpy(float)
    pred = {s: t.loc[keep, "predicted_tpot_mean_ms"].to_numpy(float) for s, t in tables.items()}
    print(f"online runs with a measured rate and mean TPOT: {int(keep.sum())}")
    for s in SCALES:
        err = np.abs(pred[s] / measured - 1.0)
        print(f"  at {s:.1f}x the measured rate: median |TPOT error| {np.median(err):.1%}")
    lo, hi = np.minimum(pred[0.9], pred[1.1]), np.maximum(pred[0.9], pred[1.1])
    inside = (measured >= lo) & (measured <= hi)
    print(f"  measured TPOT between the model's at 0.9x and 1.1x: {inside.mean():.1%}")
    print(f"  median TPOT(1.1x) / TPOT(0.9x): {np.median(pred[1.1] / pred[0.9]):.2f}")
    for fam in sorted(set(base.loc[keep, "family"])):
        f = (base.loc[keep, "family"] == fam).to_numpy()
        e = np.abs(pred[1.0][f] / measured[f] - 1.0)
        print(
            f"  {fam}: n={int(f.sum())}, median |error| {np.median(e):.1%}, "
            f"within the +-10% band {inside[f].mean():.1%}"
        )
    step_sensitivity(catalog, rows, base, keep)
    poisson_at_the_measured_load(catalog, rows, keep)
    batch_sized_to_the_limit(catalog, rows, keep, measured)
    engine_settings(catalog, rows, base)
    print(f"wall {time.perf_counter() - t0:.1f} s")
    return 0


def mlperf_rows():
    """The measured runs but the static batches and closed loops (whose latency is taken at a
    known load, not at a measured rate)."""
    from advisor.validate import KNOWN_LOAD_SCENARIOS, load_serving_runs

    runs = load_serving_runs()
    return runs[~runs["scenario"].str.lower().isin(KNOWN_LOAD_SCENARIOS)]


def step_sensitivity(catalog, rows, base, keep) -> None:
    """How far a step-time error moves the TPOT at a measured rate. With a decode step of
    ``a + b N`` at ``N`` sequences, a replica at ``lam`` requests/s of ``O`` output tokens holds
    ``N = lam O a / (1 - lam O b)`` of them, so ``TPOT = a / (1 - lam O b)`` and
    ``d ln TPOT / d ln b = TPOT / a - 1``: the measured TPOT over the model's batch-1 step
    (``a``, at the run's mean context), minus 1. A TPOT within 20% then needs the per-sequence
    step time within 20% over that."""
    from advisor.serving import StepModel
    from advisor.validate import run_replica

    gain, scen = [], []
    for i in np.flatnonzero(keep.to_numpy()):
        rep, traffic, _ = run_replica(catalog, rows.iloc[i].to_dict())
        ctx = traffic.prompt_tokens + traffic.completion_tokens / 2.0
        a_ms = StepModel(rep).time(1.0, ctx, ctx) * 1e3
        gain.append(base["measured_tpot_mean_ms"].iloc[i] / a_ms - 1.0)
        scen.append(str(base["scenario"].iloc[i]).lower())
    gain_a, scen_a = np.asarray(gain), np.asarray(scen)
    print("sensitivity of the TPOT at the measured rate to the step time (TPOT / a - 1):")
    for label, g in (("all", gain_a), *((s, gain_a[scen_a == s]) for s in sorted(set(scen)))):
        p10, p50, p90 = np.percentile(g, [10, 50, 90])
        print(
            f"  {label} (n={g.size}): median {p50:.1f} (p10 {p10:.1f}, p90 {p90:.1f}); a TPOT "
            f"within 20% at the median run needs the step within {0.2 / p50:.1%}"
        )


def poisson_at_the_measured_load(catalog, rows, keep) -> None:
    """Each run under Poisson arrivals at the rate at which the simulated replica holds the
    run's measured load (its requests in flight by Little's law; ``advisor validate`` checks
    it as a closed loop, whose clients send in waves): the rate by bisection on the
    simulated load, on an engine whose batch limit holds twice that load, so that it does
    not bind (with a limit at the load itself, the Poisson swings above it queue and that
    queue sets the TTFT: a p99 TTFT 91% off, signed +86%, on 2026-12-02; no run states its
    engine's limit). The median |error| (signed) of the mean TPOT and of the p99 TTFT there:
    whether the first tokens come right once the load is right."""
    from advisor.serving import simulate
    from advisor.validate import holding, in_flight, run_replica

    errs: dict[str, list[float]] = {"mean TPOT": [], "p99 TTFT": [], "rate": []}
    for i in np.flatnonzero(keep.to_numpy()):
        row = rows.iloc[i]
        rep, traffic, replicas = run_replica(catalog, row.to_dict())
        rate, o = row["request_rate_per_s"] / replicas, traffic.completion_tokens
        load = in_flight(rate, row["ttft_mean_ms"], row["tpot_mean_ms"], o)
        rep = holding(rep, 2 * round(load) + 8)
        lo, hi, best = 0.3 * rate, 3.0 * rate, None
        for _ in range(10):
            mid = (lo * hi) ** 0.5
            res = simulate(rep, traffic, mid)
            held = in_flight(mid, res.ttft_ms["mean"], res.tpot_ms["mean"], o)
            if res.stable and held <= load:
                lo, best = mid, res
            else:
                hi = mid
        if best is None:
            continue
        errs["mean TPOT"].append(best.tpot_ms["mean"] / row["tpot_mean_ms"] - 1.0)
        errs["p99 TTFT"].append(best.ttft_ms["p99"] / row["ttft_p99_ms"] - 1.0)
        errs["rate"].append(best.rate_rps / rate - 1.0)
    print(f"Poisson arrivals at the rate holding each run's measured load (n={len(errs['rate'])}):")
    for label, e in errs.items():
        a = np.asarray(e)
        print(f"  {label}: median |error| {np.median(np.abs(a)):.1%} (signed {np.median(a):+.1%})")


def batch_sized_to_the_limit(catalog, rows, keep, measured: np.ndarray) -> None:
    """The same runs on an engine whose batch limit is sized to each run's TPOT limit (the
    largest batch whose mean step meets it), under the shipped ``max_batch`` of 256 and under
    2,048 (TensorRT-LLM's default ``max_batch_size``) with MBU/MFU refit at that ceiling."""
    from advisor.validate import DEFAULT_GRID, apply_calibration, calibrate, validate_serving

    refit = apply_calibration(
        catalog, calibrate(catalog, grid={**DEFAULT_GRID, "max_batch": (2048,)})
    )
    print("batch limit sized to each run's TPOT limit:")
    for label, cat in (("shipped factors, at most 256", catalog), ("refit, at most 2,048", refit)):
        got = validate_serving(cat, rows, batch_at_tpot_limit=True)
        t, fit = got["rows"], got["summary"]["calibration"]
        err = t.loc[keep, "predicted_tpot_mean_ms"].to_numpy(float) / measured - 1.0
        off = fit["offline_throughput"]
        on = fit["online_throughput_at_measured_latency"]
        print(
            f"  {label}: median |TPOT error| {np.median(np.abs(err)):.1%} (signed "
            f"{np.median(err):+.1%}); offline {off['median']:.1%} / p90 {off['p90']:.1%}; "
            f"throughput at the measured latency {on['median']:.1%}"
        )


#: Engine settings tried for every family at once (the shipped ones first).
SETTINGS = (
    ("shipped (token budget 8,192, max_batch 256)", {}),
    ("token budget 2,048", {"max_num_batched_tokens": 2048}),
    ("token budget 512", {"max_num_batched_tokens": 512}),
    ("max_batch 1,024", {"max_batch": 1024}),
)


def engine_settings(catalog, rows, base) -> None:
    """Each of :data:`SETTINGS` for every family, the efficiency factors as shipped: the
    median |error| (signed median) per MLPerf scenario of the throughput (offline; online at
    the measured latency), the mean TPOT and the p99 TTFT at the measured rate."""
    from advisor.validate import validate_serving, with_efficiency

    cols = ("throughput_error", "tpot_error", "ttft_error")
    print("engine settings, every family (|error| median, signed median):")
    for label, update in SETTINGS:
        cat = (
            with_efficiency(catalog, {f: update for f in catalog.efficiency}) if update else catalog
        )
        t = validate_serving(cat, rows)["rows"] if update else base
        t = t[(t["status"] == "ok") & ~t["holdout"]]
        for scenario, g in t.groupby("scenario"):
            parts = []
            for c in cols:
                e = g[c].dropna().to_numpy(float)
                if e.size == 0:  # offline runs have no latency
                    continue
                parts.append(f"{c} {np.median(np.abs(e)):.1%} ({np.median(e):+.1%})")
            print(f"  {label}, {scenario} (n={len(g)}): " + ", ".join(parts))


if __name__ == "__main__":
    raise SystemExit(main())
