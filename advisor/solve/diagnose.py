"""Why no plan exists: which workload, which hours, which limit, what would fix it.

``find_infeasibilities`` returns structured causes (the solver decides on them);
``explain`` turns them into the one paragraph the CLI prints.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from advisor.options import OptionSet
from advisor.workloads import demand_covered


class Cause(enum.StrEnum):
    """Why a workload cannot be served."""

    #: no GPU option meets the SLOs within memory, and the API is not allowed or not offered
    NO_OPTION = "no_option"
    #: demand exceeds what the availability caps (max_gpus) allow, and the API is not allowed
    AVAILABILITY_CAPS = "availability_caps"


@dataclass(frozen=True)
class Infeasibility:
    """One workload that no plan can serve, and where."""

    cause: Cause
    workload: str
    #: hours that cannot be served, and the first of them (index into the demand)
    n_hours: int
    first_hour: int
    #: the demand at the first such hour, and the most the limits allow [requests/hour]
    demand_requests_per_hour: float = math.nan
    capacity_requests_per_hour: float = math.nan
    #: why each GPU option was rejected (a few), or why the API is out
    reasons: tuple[str, ...] = ()
    api_reason: str = ""

    def text(self, opts: OptionSet) -> str:
        """One sentence: what, where, which limit, the fix."""
        wl = opts.workloads[self.workload]
        if self.cause is Cause.NO_OPTION:
            why = "; ".join(self.reasons) if self.reasons else "no GPU option was evaluated"
            return (
                f"workload '{self.workload}' (all {self.n_hours} hours with demand): "
                f"no GPU option meets TPOT ≤ {wl.tpot_ms:g} ms and TTFT ≤ {wl.ttft_ms:g} ms "
                f"within memory ({why}), and {self.api_reason}. Fix: relax tpot_ms/ttft_ms, "
                f"allow more quantizations, GPUs or tiers, or allow the API."
            )
        if self.capacity_requests_per_hour <= 0:
            return (
                f"workload '{self.workload}': no tier it may use offers its GPU options "
                f"(spot only with allow_spot: true; a policy's tiers or a max_gpus of 0 leave "
                f"out others), and {NO_API}. Fix: allow more tiers in the policy, "
                f"allow_spot: true, or allow the API."
            )
        return (
            f"workload '{self.workload}': in {self.n_hours} hours (first: hour index "
            f"{self.first_hour}) demand {self.demand_requests_per_hour:,.0f} requests/h "
            f"exceeds the most the availability caps (max_gpus) allow, about "
            f"{self.capacity_requests_per_hour:,.0f} requests/h, and {NO_API}. "
            f"Fix: raise max_gpus in the catalog offers, or allow the API."
        )


#: Why a workload may not use the API: its own allow_api, or a policy without the tier.
NO_API = "the API is not allowed (allow_api: false, or a policy whose tiers leave out api)"


def find_infeasibilities(
    opts: OptionSet, workloads: tuple[str, ...], requests: np.ndarray
) -> list[Infeasibility]:
    """The workloads no plan can serve, each with its cause (empty where none is found)."""
    out: list[Infeasibility] = []
    for i, w in enumerate(workloads):
        wl = opts.workloads[w]
        own = opts.options_for(w)
        has_api = w in opts.api_usd_per_m
        busy = np.flatnonzero(requests[:, i] > 0)
        if not own and not has_api:
            rej = [r for r in opts.rejected if r.workload == w]
            api_why = NO_API if not wl.allow_api else f"the catalog has no API offer for {wl.model}"
            out.append(
                Infeasibility(
                    Cause.NO_OPTION,
                    w,
                    int(busy.size),
                    int(busy[0]) if busy.size else 0,
                    reasons=tuple(sorted({r.reason for r in rej})[:3]),
                    api_reason=api_why,
                )
            )
            continue
        if has_api:
            continue
        cap = _capacity_within_caps(opts, w)
        short = np.flatnonzero(requests[:, i] > cap)
        if short.size:
            out.append(
                Infeasibility(
                    Cause.AVAILABILITY_CAPS,
                    w,
                    int(short.size),
                    int(short[0]),
                    float(requests[short[0], i]),
                    cap,
                )
            )
    return out


def _capacity_within_caps(opts: OptionSet, w: str) -> float:
    """The most requests per hour the availability caps let workload ``w`` serve."""
    wl = opts.workloads[w]
    cap = 0.0
    for o in opts.options_for(w):
        dep = o.deployment
        limits = []
        for tier in [*opts.pool_tiers(dep.pool_key), *opts.hourly_tiers(dep.pool_key)]:
            if tier == "spot" and not wl.allow_spot:
                continue
            limits.append(opts.max_gpus.get((dep.pool_key, tier), math.inf))
        gpus = sum(limits)  # inf where a tier has no cap
        replicas = math.floor(gpus / dep.units) if math.isfinite(gpus) else math.inf
        cap = max(cap, demand_covered(replicas * o.requests_per_hour, wl.headroom))
    return cap


def explain(opts: OptionSet, causes: list[Infeasibility]) -> str:
    """The causes as one paragraph; where none was found, the limits that combine."""
    lines = [c.text(opts) for c in causes]
    if not lines:
        lines.append(
            "the combination of availability caps, API rate limits and SLOs admits no plan. "
            "Fix: raise max_gpus or max_tokens_per_minute in the catalog, or allow the API."
        )
    return "No feasible plan: " + " ".join(lines)


def diagnose_infeasible(opts: OptionSet, workloads: tuple[str, ...], requests: np.ndarray) -> str:
    """Explain why no plan exists: which workload, which hours, which limit, what would fix it."""
    return explain(opts, find_infeasibilities(opts, workloads, requests))
