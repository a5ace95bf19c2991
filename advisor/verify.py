"""Check a plan without trusting the solver.

From the plan's files, the demand and the catalog alone, recompute:

* **coverage** — every hour, every workload: requests served by replicas plus the API
  cover the demand;
* **capacity within SLO** — each replica's requests/hour re-derived from the roofline at the
  workload's TPOT/TTFT limits (or from the measured-capacity table the plan names), and no
  row serves more than its share of replicas can;
* **integrality and sharing** — whole replicas; workload shares of one deployment add up
  to at most its replicas; GPUs = replicas × TP;
* **the reserved pool** — pool replicas never use more GPUs than are reserved or committed,
  in every hour; availability caps hold;
* **rules** — spot only for workloads that allow it, the API only where allowed, only allowed
  GPUs and quantizations;
* **cost** — reserved, hourly, API, overhead and committed spend recomputed from catalog
  prices add up to the plan's total and per-tier figures.

This module reads the roofline and the catalog directly; it does not use the option
enumeration, the MILP or the solver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from advisor.buylist import check_buy_rows
from advisor.catalog import Catalog
from advisor.errors import PlanError
from advisor.policy import Policy, policy_violations
from advisor.serving import replica_capacity
from advisor.units import HOURS_PER_MONTH, SECONDS_PER_HOUR, TOKENS_PER_M

REL_TOL = 1e-6


@dataclass
class VerifyReport:
    """Outcome of every check; ``ok`` only when all pass."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks}

    def failures(self) -> list[str]:
        return [f"{c['check']}: {c['detail']}" for c in self.checks if not c["ok"]]


def _spot_aware_price(catalog: Catalog, gpu: str, tier: str) -> float:
    """Price per unit-hour of pool ``gpu`` (a GPU type or an instance pool) on ``tier``."""
    offer = catalog.offers.get((gpu, tier))
    if offer is None:
        raise PlanError(
            f"The plan buys {gpu} on {tier}, which the catalog does not offer. Verify with "
            "the price profile (--prices) and --catalog folders the plan was solved with."
        )
    price = offer.effective_usd_per_hour
    if tier == "spot":
        od = catalog.offers.get((gpu, "on_demand"))
        price += offer.interruption_rate_per_hour * (
            od.effective_usd_per_hour if od else offer.effective_usd_per_hour
        )
    return price


def verify_plan(
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    catalog: Catalog,
    workload_defs: Mapping[str, Any],
    measured: Sequence[Any] = (),
    existing_gpus: Mapping[str, np.ndarray] | None = None,
    *,
    providers: Sequence[str] | None = None,
    capacity_model: str = "simulated",
) -> VerifyReport:
    """Run every check on a plan against the demand arrays (``(H, W)``, ``workloads`` order).

    ``workload_defs`` maps a workload to its definition (``Workload`` or a dict of its fields);
    ``measured`` holds the rows of a measured-capacity table (model, gpu, quant, tp, lengths,
    SLOs, requests_per_s); a row counts for a workload of the same model and lengths (within
    1%) whose SLOs are no tighter than the row's. ``providers`` (``--providers``) limits
    where every workload may buy.
    """
    rep = VerifyReport()
    existing_gpus = existing_gpus or {}
    defs = {w: (d if isinstance(d, dict) else d.model_dump()) for w, d in workload_defs.items()}
    H = len(hours)
    from advisor.plan import with_units

    sched = with_units(schedule.copy())
    if len(sched):
        sched["hour"] = pd.to_datetime(sched["hour"], utc=True, format="ISO8601")
    hour_index = {h: i for i, h in enumerate(pd.DatetimeIndex(hours).tz_convert("UTC"))}
    widx = {w: i for i, w in enumerate(workloads)}

    # -- the schedule refers to this demand -------------------------------------------------
    unknown_w = sorted(set(sched["workload"]) - set(workloads)) if len(sched) else []
    unknown_h = int((~sched["hour"].isin(list(hour_index))).sum()) if len(sched) else 0
    rep.add(
        "demand_matches",
        not unknown_w and not unknown_h and plan_data.get("horizon_hours") == float(H),
        f"{H} hours, {len(workloads)} workloads"
        + (f"; unknown workloads {unknown_w}" if unknown_w else "")
        + (f"; {unknown_h} rows at hours not in the demand" if unknown_h else "")
        + (
            f"; plan horizon {plan_data.get('horizon_hours')} h"
            if plan_data.get("horizon_hours") != float(H)
            else ""
        ),
    )
    if unknown_w or unknown_h:
        return rep

    t_idx = sched["hour"].map(hour_index).to_numpy() if len(sched) else np.array([], dtype=int)
    w_idx = sched["workload"].map(widx).to_numpy() if len(sched) else np.array([], dtype=int)

    # -- coverage ---------------------------------------------------------------------------
    served = np.zeros((H, len(workloads)))
    np.add.at(served, (t_idx, w_idx), sched["requests"].to_numpy(dtype=float))
    short = served < requests * (1 - REL_TOL) - 1e-9
    if short.any():
        t, i = np.argwhere(short)[0]
        detail = (
            f"{int(short.sum())} hour×workload cells short; first {hours[t].isoformat()} "
            f"{workloads[i]}: served {served[t, i]:,.2f} of {requests[t, i]:,.2f} requests"
        )
    else:
        detail = f"all {H * len(workloads)} hour×workload cells covered"
    rep.add("coverage", not short.any(), detail)

    # -- capacity within SLO, rules ---------------------------------------------------------
    cap_cache: dict[tuple[str, str], float | None] = {}
    bad_cap, bad_rule = [], []
    self_rows = sched[sched["source"] != "api"] if len(sched) else sched
    for r in self_rows.itertuples(index=False):
        d = defs[r.workload]
        key = (r.workload, r.deployment)
        if key not in cap_cache:
            cap_cache[key] = _capacity(catalog, d, r, measured, capacity_model)
        cap = cap_cache[key]
        if cap is None:
            bad_cap.append(f"{r.workload} on {r.deployment}: no SLO-meeting operating point")
            continue
        limit = r.replica_share * cap / (1 + d["headroom"])
        if r.requests > limit * (1 + REL_TOL) + 1e-9:
            bad_cap.append(
                f"{r.hour.isoformat()} {r.workload} on {r.deployment}: {r.requests:,.2f} requests "
                f"> {limit:,.2f} the share can serve"
            )
        if r.source == "spot" and not d["allow_spot"]:
            bad_rule.append(f"{r.workload} uses spot but allow_spot is false")
        if d.get("gpus") and r.gpu not in d["gpus"]:
            bad_rule.append(f"{r.workload} uses {r.gpu}, not in its gpus")
        provider = getattr(r, "provider", "generic")
        if d.get("providers") and provider not in d["providers"]:
            bad_rule.append(f"{r.workload} buys from {provider}, not in its providers")
        if providers is not None and provider not in providers:
            bad_rule.append(f"{r.workload} buys from {provider}, not in --providers")
        per_unit = int(r.gpus_per_unit)
        if per_unit > 1 and (per_unit % int(r.tp) or int(r.tp) & (int(r.tp) - 1)):
            bad_rule.append(
                f"{r.workload} on {r.deployment}: a TP-{int(r.tp)} group does not fit a "
                f"{per_unit}-GPU instance"
            )
        if d.get("quantizations") and r.quant not in d["quantizations"]:
            bad_rule.append(f"{r.workload} uses {r.quant}, not in its quantizations")
        if r.model != d["model"]:
            bad_rule.append(f"{r.workload} is served by {r.model}, not {d['model']}")
    api_rows = sched[sched["source"] == "api"] if len(sched) else sched
    for w in sorted(set(api_rows["workload"])) if len(api_rows) else []:
        if not defs[w]["allow_api"]:
            bad_rule.append(f"{w} sends requests to the API but allow_api is false")
        if _api_offer(catalog, defs[w]["model"], _api_provider(api_rows, w)) is None:
            bad_rule.append(f"{w}: no API offer for {defs[w]['model']}")
        provider = _api_provider(api_rows, w)
        if defs[w].get("providers") and provider and provider not in defs[w]["providers"]:
            bad_rule.append(f"{w} sends requests to {provider}, not in its providers")
        if providers is not None and provider and provider not in providers:
            bad_rule.append(f"{w} sends requests to {provider}, not in --providers")
    rep.add(
        "capacity_within_slo",
        not bad_cap,
        bad_cap[0] + (f" (+{len(bad_cap) - 1} more)" if len(bad_cap) > 1 else "")
        if bad_cap
        else f"{len(self_rows)} self-hosted rows within roofline capacity at their SLOs",
    )
    rep.add(
        "rules",
        not bad_rule,
        "; ".join(sorted(set(bad_rule))[:3]) if bad_rule else "spot, API, GPU, quantization ok",
    )

    # -- replicas: integral, shares fit, GPUs = replicas × TP -------------------------------
    bad_rep = []
    if len(self_rows):
        grp = self_rows.groupby(["hour", "deployment", "source"])
        agg = grp.agg(
            replicas=("replicas", "first"),
            nrep=("replicas", "nunique"),
            share=("replica_share", "sum"),
            gpus=("gpus", "first"),
            tp=("tp", "first"),
        )
        if (agg["nrep"] > 1).any():
            bad_rep.append("rows of one deployment and hour disagree on replicas")
        if (agg["replicas"] != np.round(agg["replicas"])).any():
            bad_rep.append("fractional replicas")
        over = agg["share"] > agg["replicas"] + 1e-6
        if over.any():
            idx = over[over].index[0]
            bad_rep.append(f"{idx}: shares {agg.loc[idx, 'share']:.4f} > replicas")
        if (agg["gpus"] != agg["replicas"] * agg["tp"]).any():
            bad_rep.append("gpus ≠ replicas × tp")
        hourly = grp.agg(instances=("instances", "first"), source=("source", "first"))
        hourly = hourly[hourly["source"].isin(["on_demand", "spot"])]
        if (np.abs(hourly["instances"] - np.round(hourly["instances"])) > 1e-9).any():
            bad_rep.append("hourly capacity not in whole instances")
    rep.add("replicas", not bad_rep, "; ".join(bad_rep) or "integral replicas, shares fit")

    # -- reserved pool and availability ---------------------------------------------------
    # units of each pool: GPUs on a generic per-GPU pool, whole instances on an instance pool
    reserved_by_gpu: dict[str, int] = {}
    reserved_by_tier: dict[tuple[str, str], int] = {}
    for r in plan_data.get("reserved", []):
        g = r.get("pool", r["gpu"])
        reserved_by_gpu[g] = reserved_by_gpu.get(g, 0) + int(r["count"])
        reserved_by_tier[(g, r["tier"])] = int(r["count"])
    bad_pool = []
    for (g, s), n in sorted(reserved_by_tier.items()):
        if n != int(n) or n < 0:
            bad_pool.append(f"{g} {s}: {n} is not a whole number of instances")
    for r in plan_data.get("reserved", []):
        if providers is not None and r.get("provider", "generic") not in providers:
            bad_pool.append(
                f"reserves {r.get('pool', r['gpu'])} from {r.get('provider')}, not in --providers"
            )
    if len(self_rows):
        per = self_rows.drop_duplicates(["hour", "deployment", "source"])
        pool = per[per["source"] == "pool"].groupby(["hour", "pool"])["instances"].sum()
        for (h, g), used in pool.items():
            have = reserved_by_gpu.get(g, 0)
            if g in existing_gpus:
                have += float(existing_gpus[g][hour_index[h]])
            if used > have + 1e-9:
                bad_pool.append(f"{h.isoformat()} {g}: {used:g} pool units > {have} reserved")
        for (g, s), n in sorted(
            ((g, s), o.cap_instances)
            for (g, s), o in catalog.offers.items()
            if o.cap_instances is not None
        ):
            if s in ("on_demand", "spot"):
                use = (
                    per[(per["pool"] == g) & (per["source"] == s)]
                    .groupby("hour")["instances"]
                    .sum()
                )
                if len(use) and use.max() > n:
                    bad_pool.append(f"{g} {s}: {use.max():g} units > cap {n}")
            elif reserved_by_tier.get((g, s), 0) > n:
                bad_pool.append(f"{g} {s}: reserved beyond cap {n}")
    rep.add(
        "reserved_pool",
        not bad_pool,
        bad_pool[0] if bad_pool else "pool replicas within reserved/committed GPUs every hour",
    )

    # -- cost -------------------------------------------------------------------------------
    tiers = {"reserved": 0.0, "owned": 0.0, "on_demand": 0.0, "spot": 0.0, "api": 0.0}
    for r in plan_data.get("reserved", []):
        k = "owned" if r["tier"] == "owned" else "reserved"
        g = r.get("pool", r["gpu"])
        tiers[k] += int(r["count"]) * _spot_aware_price(catalog, g, r["tier"]) * H
    if len(self_rows):
        per = self_rows.drop_duplicates(["hour", "deployment", "source"])
        for r in per[per["source"].isin(["on_demand", "spot"])].itertuples(index=False):
            tiers[r.source] += r.instances * _spot_aware_price(catalog, r.pool, r.source)
    for r in api_rows.itertuples(index=False) if len(api_rows) else []:
        a = _api_offer(catalog, defs[r.workload]["model"], getattr(r, "provider", ""))
        if a is None:
            continue
        tiers["api"] += (
            r.input_tokens * a.usd_per_m_input_tokens + r.output_tokens * a.usd_per_m_output_tokens
        ) / TOKENS_PER_M
    existing = plan_data.get("existing") or []
    self_hosted = bool(reserved_by_gpu) or bool(existing) or len(self_rows) > 0
    tiers["overhead"] = (
        catalog.defaults.self_host_monthly_overhead_usd / HOURS_PER_MONTH * H if self_hosted else 0
    )
    tiers["existing"] = float(sum(e["cost_usd"] for e in existing))
    total = sum(tiers.values())
    reported = plan_data.get("cost_by_tier_usd", {})
    diffs = [
        f"{k}: recomputed {v:,.2f} vs reported {reported.get(k, 0.0):,.2f}"
        for k, v in tiers.items()
        if not math.isclose(v, reported.get(k, 0.0), rel_tol=REL_TOL, abs_tol=1e-6)
    ]
    ok_total = math.isclose(total, plan_data["total_cost_usd"], rel_tol=REL_TOL, abs_tol=1e-6)
    if not ok_total:
        diffs.append(
            f"total: recomputed {total:,.2f} vs reported {plan_data['total_cost_usd']:,.2f}"
        )
    rep.add("cost", not diffs, "; ".join(diffs) or f"total ${total:,.2f} recomputed from prices")
    bad_policy = check_policy_rules(plan_data, schedule, catalog)
    rep.add("policy", not bad_policy, "; ".join(bad_policy[:3]) or "within the plan's policy")
    if "buy" in plan_data:
        bad_buy = check_buy_list(plan_data, schedule, float(H))
        rep.add("buy_list", not bad_buy, "; ".join(bad_buy[:3]) or "buy list = schedule totals")
    return rep


def _api_provider(api_rows: pd.DataFrame, workload: str) -> str:
    """The API provider a plan's rows name for a workload ('' in plans without one)."""
    if "provider" not in api_rows.columns:
        return ""
    names = api_rows.loc[api_rows["workload"] == workload, "provider"].dropna().unique()
    return str(names[0]) if len(names) else ""


def _api_offer(catalog: Catalog, model: str, provider: str) -> Any:
    """The catalog's API offer for a model from ``provider`` (the cheapest without one)."""
    if provider:
        return catalog.api_offers.get((model, provider))
    return catalog.apis.get(model)


def check_policy_rules(
    plan_data: Mapping[str, Any], schedule: pd.DataFrame, catalog: Catalog
) -> list[str]:
    """Where the plan breaks the procurement policy it records (tiers, vendors, GPU types,
    at most K GPU types)."""
    policy = Policy.model_validate(plan_data.get("policy") or {})
    hours = None
    dem = plan_data.get("demand") or {}
    if dem.get("start") and dem.get("hours"):
        hours = pd.date_range(
            pd.Timestamp(dem["start"]).tz_convert("UTC"), periods=int(dem["hours"]), freq="h"
        )
    return policy_violations(policy, catalog, plan_data.get("reserved", []), schedule, hours)


def check_buy_list(
    plan_data: Mapping[str, Any], schedule: pd.DataFrame, horizon_hours: float
) -> list[str]:
    """Where the buy list disagrees with the schedule (GPU-hours and mean GPUs per hourly
    GPU × tier) and the new commitments (count per pool GPU × tier)."""
    return check_buy_rows(
        plan_data.get("buy", []), schedule, plan_data.get("reserved", []), horizon_hours
    )


def _capacity(
    catalog: Catalog,
    d: Mapping[str, Any],
    r: Any,
    measured: Sequence[Any],
    capacity_model: str = "simulated",
) -> float | None:
    """Requests/hour one replica serves for workload definition ``d`` (measured, or the one
    capacity function :func:`advisor.serving.replica_capacity` the options use)."""

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 0.01 * max(abs(a), abs(b))

    rates = [
        m.requests_per_s
        for m in measured
        if (m.model, m.gpu, m.quant, m.tp) == (d["model"], r.gpu, r.quant, int(r.tp))
        and close(m.prompt_tokens, d["prompt_tokens"])
        and close(m.completion_tokens, d["completion_tokens"])
        and m.tpot_ms <= d["tpot_ms"]
        and m.ttft_ms <= d["ttft_ms"]
    ]
    if rates:
        return max(rates) * SECONDS_PER_HOUR
    pool = getattr(r, "pool", r.gpu)
    link = next((o.interconnect for (p, _), o in catalog.offers.items() if p == pool), None)
    gpu = catalog.gpu_on(r.gpu, link)
    cap = replica_capacity(
        catalog.model(d["model"]),
        gpu,
        catalog.quant(r.quant),
        catalog.efficiency_for(gpu),
        int(r.tp),
        d,
        capacity_model,
    )
    if not cap.feasible:
        return None
    return cap.requests_per_s * SECONDS_PER_HOUR
