"""Explain why no plan exists: which workload, which hours, which limit, what would fix it."""

from __future__ import annotations

import math

import numpy as np

from advisor.options import OptionSet


def diagnose_infeasible(opts: OptionSet, workloads: tuple[str, ...], requests: np.ndarray) -> str:
    """Explain why no plan exists: which workload, which hours, which limit, what would fix it."""
    lines = []
    for i, w in enumerate(workloads):
        wl = opts.workloads[w]
        own = opts.options_for(w)
        has_api = w in opts.api_usd_per_m
        if not own and not has_api:
            rej = [r for r in opts.rejected if r.workload == w]
            reasons = sorted({r.reason for r in rej})[:3]
            why = "; ".join(reasons) if reasons else "no GPU option was evaluated"
            api_why = (
                "the workload does not allow an API (allow_api: false)"
                if not wl.allow_api
                else f"the catalog has no API offer for {wl.model}"
            )
            lines.append(
                f"workload '{w}' (all {int((requests[:, i] > 0).sum())} hours with demand): "
                f"no GPU option meets TPOT ≤ {wl.tpot_ms:g} ms and TTFT ≤ {wl.ttft_ms:g} ms "
                f"within memory ({why}), and {api_why}. Fix: relax tpot_ms/ttft_ms, allow "
                f"more quantizations or GPUs, or set allow_api: true."
            )
            continue
        if has_api and w not in opts.api_usd_per_m:
            continue
        if not has_api:
            # capacity limited by availability caps?
            cap = 0.0
            for o in own:
                dep = o.deployment
                limits = []
                for tier in [*opts.pool_tiers(dep.pool_key), *opts.hourly_tiers(dep.pool_key)]:
                    if tier == "spot" and not wl.allow_spot:
                        continue
                    limits.append(opts.max_gpus.get((dep.pool_key, tier), math.inf))
                gpus = sum(limits)  # inf where a tier has no cap
                replicas = math.floor(gpus / dep.units) if math.isfinite(gpus) else math.inf
                cap = max(cap, replicas * o.requests_per_hour / (1 + wl.headroom))
            short = np.flatnonzero(requests[:, i] > cap)
            if short.size:
                lines.append(
                    f"workload '{w}': in {short.size} hours (first: hour index {short[0]}) demand "
                    f"{requests[short[0], i]:,.0f} requests/h exceeds the most the availability "
                    f"caps (max_gpus) allow, about {cap:,.0f} requests/h, and the API is not "
                    f"allowed. Fix: raise max_gpus in the catalog offers, or allow_api: true."
                )
    if not lines:
        lines.append(
            "the combination of availability caps, API rate limits and SLOs admits no plan. "
            "Fix: raise max_gpus or max_tokens_per_minute in the catalog, or allow the API."
        )
    return "No feasible plan: " + " ".join(lines)
