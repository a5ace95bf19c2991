"""The simple policies a planner would otherwise use, costed on the same demand and catalog.

* ``all_api``: every request to the workload's API (only where every workload allows one).
* ``on_demand_hourly``: on-demand replicas sized hour by hour, each workload on its cheapest
  on-demand option (API for a workload with no on-demand option, where allowed).
* ``reserved_peak``: reserved GPUs for each workload's peak hour, on its cheapest pool option.
* ``reserved_baseline_api_burst`` (the seeds' rule of thumb): reserved replicas for the
  demand every hour has (the trough), everything above it to the API (or on-demand where the
  API is not allowed).

Each self-hosting baseline pays the fixed monthly overhead. A baseline that cannot serve the
demand under the workloads' rules is reported as not applicable, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor.options import Option, OptionSet, api_usd_per_hour
from advisor.units import HOURS_PER_MONTH


@dataclass(frozen=True)
class Baseline:
    """One policy's cost on the demand, or why it does not apply."""

    name: str
    total_cost_usd: float | None
    note: str

    def as_dict(self) -> dict[str, object]:
        return {"total_cost_usd": self.total_cost_usd, "note": self.note}


def _replicas(demand: np.ndarray, opt: Option, headroom: float) -> np.ndarray:
    return np.ceil(demand * (1.0 + headroom) / opt.requests_per_hour - 1e-9)


def _level_replicas(level: float, opt: Option, headroom: float, level_of: str) -> int:
    """Replicas reserved for a demand level: enough for the peak; for the trough, the nearest
    whole number of replicas, at least one (a baseline that is busy nearly all the time)."""
    n = level * (1.0 + headroom) / opt.requests_per_hour
    if level_of == "peak":
        return math.ceil(n - 1e-9)
    return max(1, round(n))


def compute_baselines(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> dict[str, Baseline]:
    """Cost every baseline policy; hours are real hours (weight 1 each)."""
    H = requests.shape[0]
    overhead = opts.monthly_overhead_usd / HOURS_PER_MONTH * H
    api_cost = {
        w: api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[:, i], output_tokens[:, i])
        if w in opts.api_usd_per_m
        else None
        for i, w in enumerate(workloads)
    }
    out: dict[str, Baseline] = {}

    no_api = [w for w in workloads if api_cost[w] is None]
    if no_api:
        out["all_api"] = Baseline(
            "all_api", None, f"not applicable: no API allowed for {no_api[0]}"
        )
    else:
        total = float(sum(float(np.sum(api_cost[w])) for w in workloads))
        out["all_api"] = Baseline("all_api", total, "every request to the API")

    def hourly(tier: str) -> tuple[float | None, str]:
        total, used_gpus = 0.0, False
        for i, w in enumerate(workloads):
            d = requests[:, i]
            best = None
            for o in opts.options_for(w):
                price = opts.gpu_usd_per_hour.get((o.deployment.pool_key, tier))
                if price is None or not o.deployment.on_hourly:
                    continue
                n = _replicas(d, o, opts.workloads[w].headroom)
                c = float(np.sum(n * o.deployment.units * price))
                if best is None or c < best:
                    best = c
            if best is None:
                if api_cost[w] is None:
                    return None, f"not applicable: no {tier} option for {w} and no API"
                total += float(np.sum(api_cost[w]))
            else:
                total += best
                used_gpus = used_gpus or best > 0
        return total + (overhead if used_gpus else 0.0), "sized hour by hour"

    cost, note = hourly("on_demand")
    out["on_demand_hourly"] = Baseline("on_demand_hourly", cost, note)

    def pool_price(gpu: str) -> float | None:
        prices = [opts.gpu_usd_per_hour[(gpu, t)] for t in opts.pool_tiers(gpu)]
        return min(prices) if prices else None

    def reserved_for(level_of: str) -> tuple[float | None, str]:
        total, used_gpus = 0.0, False
        for i, w in enumerate(workloads):
            d = requests[:, i]
            wl = opts.workloads[w]
            level = float(d.max()) if level_of == "peak" else float(d.min())
            best: tuple[float, Option, float] | None = None
            for o in opts.options_for(w):
                price = pool_price(o.deployment.pool_key)
                if price is None or not o.deployment.on_pool:
                    continue
                n = _level_replicas(level, o, wl.headroom, level_of)
                # whole instances (units are GPUs on a per-GPU pool, instances otherwise)
                c = math.ceil(n * o.deployment.units - 1e-9) * price * H
                served = min(level, n * o.requests_per_hour / (1 + wl.headroom))
                rank = c / max(served, 1e-9) if level_of != "peak" else c
                if best is None or rank < best[0]:
                    best = (rank, o, c)
            if best is None:
                if api_cost[w] is None:
                    return None, f"not applicable: no reserved option for {w} and no API"
                total += float(np.sum(api_cost[w]))
                continue
            _, o, c = best
            total += c
            used_gpus = used_gpus or c > 0
            if level_of == "peak":
                continue
            n_res = _level_replicas(level, o, wl.headroom, level_of)
            covered = n_res * o.requests_per_hour / (1 + wl.headroom)
            rest = np.maximum(d - covered, 0.0)
            if api_cost[w] is not None:
                frac = np.divide(rest, d, out=np.zeros_like(d), where=d > 0)
                total += float(np.sum(frac * api_cost[w]))
            else:
                burst = None
                for ob in opts.options_for(w):
                    price = opts.gpu_usd_per_hour.get((ob.deployment.pool_key, "on_demand"))
                    if price is None or not ob.deployment.on_hourly:
                        continue
                    cb = float(
                        np.sum(_replicas(rest, ob, wl.headroom) * ob.deployment.units * price)
                    )
                    burst = cb if burst is None else min(burst, cb)
                if burst is None:
                    return None, f"not applicable: no burst capacity for {w}"
                total += burst
        return total + (overhead if used_gpus else 0.0), (
            "reserved for each workload's peak hour"
            if level_of == "peak"
            else "reserved for the trough, bursts to the API"
        )

    cost, note = reserved_for("peak")
    out["reserved_peak"] = Baseline("reserved_peak", cost, note)
    cost, note = reserved_for("trough")
    out["reserved_baseline_api_burst"] = Baseline("reserved_baseline_api_burst", cost, note)
    return out
